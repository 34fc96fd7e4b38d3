"""The latent codec's one interface: forward (training, refinement), compress and decompress (files)."""

from __future__ import annotations

import torch

from roicodec.images import prepare, to_padded_tensor


def _latent(model, card, level: float = 3.0):
    with torch.inference_mode():
        y = model.analyse(to_padded_tensor(prepare(card).rgb))
        q = torch.full((1, 1, *y.shape[-2:]), level)
        return y * model.gain(q)


def test_decompress_inverts_compress_exactly(model, card):
    y_s = _latent(model, card)
    codec = model.latent_codec
    with torch.inference_mode():
        code = codec.compress(y_s)
        assert len(code.y_strings) == codec.groups
        assert code.latent_shape == tuple(y_s.shape[-2:])
        assert torch.equal(codec.decompress(code.z_string, code.y_strings, code.latent_shape), code.y_hat_int)


def test_forward_rate_predicts_the_coded_size(model, card):
    """The float path's rounded likelihoods are the rate the exact coder writes, within a few per cent."""
    y_s = _latent(model, card)
    codec = model.latent_codec
    with torch.inference_mode():
        out = codec(y_s, noise=False)
        code = codec.compress(y_s)
    predicted = sum(float((-torch.log2(lik)).sum()) for lik in out.likelihoods.values()) / 8
    written = len(code.z_string) + sum(len(s) for s in code.y_strings)
    assert abs(written - predicted) < 0.05 * predicted + 16
    # the same rounding around nearly the same means (the exact path rounds weights to 12 bits and
    # activations to 1/256): a value near a rounding boundary may land one step apart, never more
    diff = (out.y_hat - code.y_hat_int / 256).abs()
    assert float((diff < 0.5).double().mean()) > 0.95 and float(diff.max()) < 1.05


def test_refinement_mode_keeps_the_hyperprior_fixed(model, card):
    y_s = _latent(model, card).clone().requires_grad_(True)
    codec = model.latent_codec
    params = [p.requires_grad for p in codec.parameters()]
    try:
        for p in codec.parameters():
            p.requires_grad_(True)
        out = codec(y_s, noise=True, rounded_rate=True, hyper_grad=False)
        (-torch.log2(out.likelihoods["y"])).sum().backward()
        assert out.y_rounded_likelihoods is not None and out.likelihoods["z"].grad_fn is None
        assert all(p.grad is None for p in codec.h_a.parameters())  # nothing flowed through the hyperprior
        assert y_s.grad is not None and y_s.grad.abs().sum() > 0
    finally:
        for p, flag in zip(codec.parameters(), params):
            p.requires_grad_(flag)
            p.grad = None


def test_the_spatial_context_at_coded_positions_equals_the_convolution(model):
    """``_spatial_points`` (12 taps gathered at one pass's positions) gives the integers of the 5x5 masked
    convolution over the whole band at those positions, for every group and for a band below the top."""
    from roicodec.model.entropy import checkerboard_mask

    context = model.latent_codec.context
    gen = torch.Generator().manual_seed(3)
    h, w, top = 11, 9, 2
    anchors = checkerboard_mask(h, w).bool()[0, 0]
    sel = ~anchors[top:h - 2]  # the non-anchor positions of rows top..h-3
    for k, c in enumerate(context.groups):
        x = torch.round(torch.randn((1, c, h, w), generator=gen, dtype=torch.float64) * 2000) * anchors
        whole = context.spatial_ctx[k].forward_exact(x)[0, :, top:h - 2][:, sel]
        assert torch.equal(context._spatial_points(k, x, sel, top), whole)
