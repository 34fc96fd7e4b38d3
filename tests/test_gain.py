"""Gain units: exact at integer levels, log-linear between them, and continued below level 0."""

import torch

from roicodec.model.gain import GainUnits


def _units(min_level: float) -> GainUnits:
    g = GainUnits(8, 4, inverse=False, min_level=min_level)
    with torch.no_grad():
        g.log_gain.copy_(torch.randn(8, 4))
    return g


def q(v: float) -> torch.Tensor:
    return torch.full((1, 1, 2, 2), v)


def test_integer_levels_and_interpolation():
    g = _units(-2.0)
    for k in range(8):
        assert torch.allclose(g(q(k))[0, :, 0, 0], g.log_gain[k].exp())
    mid = g(q(2.25))[0, :, 0, 0].log()
    assert torch.allclose(mid, 0.75 * g.log_gain[2] + 0.25 * g.log_gain[3], atol=1e-6)


def test_below_zero_continues_the_first_segment():
    g = _units(-2.0)
    slope = g.log_gain[1] - g.log_gain[0]
    for v in (-0.5, -1.0, -2.0):
        assert torch.allclose(g(q(v))[0, :, 0, 0].log(), g.log_gain[0] + v * slope, atol=1e-5)
    assert torch.allclose(g(q(-5.0)), g(q(-2.0)))  # clamped at min_level
    assert torch.allclose(g(q(9.0)), g(q(7.0)))


def test_without_min_level_nothing_goes_below_zero():
    g = _units(0.0)
    assert torch.allclose(g(q(-1.0)), g(q(0.0)))


def test_configs_from_before_min_level_load_without_levels_below_zero():
    from roicodec.model import ModelConfig

    old = {k: v for k, v in ModelConfig().to_dict().items() if k != "min_level"}
    assert ModelConfig.from_dict(old).min_level == 0.0
    assert ModelConfig.from_dict(ModelConfig().to_dict()) == ModelConfig()
