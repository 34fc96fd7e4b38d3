"""The entropy-parameter path must be exact: same integers in any summation order."""

import torch
import torch.nn.functional as F

from roicodec.model.exact import ExactConv2d, ExactConvTranspose2d, ExactSequential, to_fixed

from .conftest import on_one_and_two_threads


def _net() -> ExactSequential:
    torch.manual_seed(3)
    return ExactSequential(ExactConv2d(24, 48, 3, padding=1), torch.nn.ReLU(), ExactConv2d(48, 16, 1))


def test_exact_path_tracks_float_path():
    net = _net()
    x = torch.randn(1, 24, 9, 11) * 4
    with torch.no_grad():
        ref = net(x)
        got = net.forward_exact(to_fixed(x)) / 256
    assert torch.allclose(got.float(), ref, atol=0.05)
    assert torch.equal(got * 256, torch.round(got * 256))  # fixed-point grid


def test_exact_path_is_independent_of_summation_order():
    net = _net()
    x = to_fixed(torch.randn(1, 24, 9, 11) * 50)
    a = net.forward_exact(x)
    # same convolution computed as an explicit matrix product with reversed reduction order
    conv = net[0]
    w_int, b_int, scale = conv._quantised()
    cols = F.unfold(x, 3, padding=1).flip(1)  # (1, 24*9, L) reversed
    w = w_int.reshape(48, -1).flip(1)
    y = torch.round(w @ cols[0]).reshape(1, 48, 9, 11) + b_int.view(1, -1, 1, 1)
    first = torch.floor(y / scale).clamp(min=0)
    b = net[2].forward_exact(first)
    assert torch.equal(a, b)


def test_exact_path_is_independent_of_thread_count():
    net = _net()
    x = to_fixed(torch.randn(2, 24, 33, 17) * 20)
    a, b = on_one_and_two_threads(lambda: net.forward_exact(x))
    assert torch.equal(a, b)


def test_transposed_exact_conv_tracks_float():
    torch.manual_seed(0)
    conv = ExactConvTranspose2d(8, 4, 5, stride=2, padding=2, output_padding=1)
    x = torch.randn(1, 8, 4, 4)
    with torch.no_grad():
        ref = conv(x)
    got = conv.forward_exact(to_fixed(x)) / 256
    assert got.shape == ref.shape
    assert torch.allclose(got.float(), ref, atol=0.05)


def test_weight_cache_follows_weight_changes():
    conv = ExactConv2d(2, 2, 1)
    x = to_fixed(torch.ones(1, 2, 1, 1))
    before = conv.forward_exact(x)
    with torch.no_grad():
        conv.weight.mul_(-1)
    conv.invalidate()
    assert not torch.equal(before, conv.forward_exact(x))


def test_points_give_the_whole_tensor_values_at_those_positions():
    torch.manual_seed(5)
    net = ExactSequential(ExactConv2d(24, 40, 1), torch.nn.ReLU(), ExactConv2d(40, 8, 1))
    x = to_fixed(torch.randn(1, 24, 7, 9) * 30)
    sel = (torch.arange(7)[:, None] + torch.arange(9)[None, :]) % 2 == 1  # one checkerboard colour
    whole = net.forward_exact(x)
    points = net.forward_exact(x[0][:, sel], points=True)
    assert torch.equal(points, whole[0][:, sel])
    part = net[0].accumulate_points(x[0][:10, sel], slice(0, 10), bias=False)
    assert torch.equal(part, net[0].accumulate(x[:, :10], slice(0, 10), bias=False)[0][:, sel])
