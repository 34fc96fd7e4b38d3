import math
import warnings

import pytest

import roicodec
from roicodec.errors import BudgetError, RateControlWarning
from roicodec.levels import LevelRange
from roicodec.ratecontrol import RateCurve, parse_size, search_base_level

from .conftest import synthetic_image

TRAINED = LevelRange(0.0, 7.0)  # levels 0..7, none below 0


def test_parse_size_units():
    assert parse_size("30000") == 30000
    assert parse_size("30KB") == 30000
    assert parse_size("30kb") == 30000
    assert parse_size("30KiB") == 30720
    assert parse_size("1.5MB") == 1_500_000
    assert parse_size(1234) == 1234
    for bad in ("", "abc", "-3KB", "0", "12 parsecs"):
        with pytest.raises(BudgetError):
            parse_size(bad)


def fake_encoder(a=400.0, rate=0.4):
    calls = []

    def encode(level):
        calls.append(level)
        return b"x" * int(a * math.exp(rate * level * 1.7) + 37 * math.sin(level * 50) ** 2)

    return encode, calls


@pytest.mark.parametrize("budget", [450, 1000, 3000, 7000])
def test_search_lands_within_one_percent_below(budget):
    encode, calls = fake_encoder()
    res = search_base_level(encode, budget, TRAINED)
    assert res.in_range
    assert budget * 0.99 <= len(res.data) <= budget
    assert len(calls) <= 12


def test_rate_curve_inverts_and_is_monotone():
    curve = RateCurve([0.1, 0.16, 0.15, 0.3, 0.38, 0.49, 0.63, 0.81], pixels=768 * 512, min_level=0.0)  # one dip is ironed out
    assert all(b > a for a, b in zip(curve.logs, curve.logs[1:]))
    for level in (0.0, 0.4, 2.5, 6.99, 7.0):
        assert curve.inverse(curve.at(level)) == pytest.approx(level, abs=1e-9)
    assert curve.inverse(-1e9) == 0.0 and curve.inverse(1e9) == 7.0


@pytest.mark.parametrize("offset", [0.5, 1.0, 2.0])
@pytest.mark.parametrize("position", [0.7, 3.3, 6.2])
def test_a_measured_curve_needs_fewer_trials(offset, position):
    """Images differ from the model's typical curve by an offset; the curve search absorbs it."""
    bpp = [0.1 * math.exp(0.45 * k - 0.02 * k * k) for k in range(8)]
    pixels = 40000
    curve = RateCurve(bpp, pixels, min_level=0.0)

    def encode(level):
        calls.append(level)
        return b"x" * int(offset * math.exp(curve.at(level)) + 3 * math.sin(level * 50) ** 2)

    calls: list[float] = []
    budget = int(offset * math.exp(curve.at(position)))
    res = search_base_level(encode, budget, TRAINED, curve)
    with_curve = len(calls)
    assert res.in_range and budget * 0.99 <= len(res.data) <= budget
    calls = []
    search_base_level(encode, budget, TRAINED)
    assert with_curve <= 4
    assert with_curve <= len(calls)


def test_search_over_a_range_shorter_than_one_level():
    encode, _ = fake_encoder()
    res = search_base_level(encode, 10**9, LevelRange(0.0, 0.25))  # e.g. lowering an ROI strength of 0.25
    assert not res.in_range and res.base == 0.25


def test_search_stops_at_a_level_that_fits():
    encode, calls = fake_encoder()
    budget = len(encode(6.0))  # the full search would land near level 6
    stopped = search_base_level(encode, budget, TRAINED, stop_level=4.0)
    assert stopped.stopped and stopped.base >= 4.0 and len(stopped.data) <= budget
    full = search_base_level(encode, budget, TRAINED, stop_level=6.5)
    assert not full.stopped and len(full.data) >= budget * 0.99


@pytest.mark.parametrize("landing", [1.0, 2.5])
def test_search_gives_up_where_its_file_would_land_below_a_level(landing):
    """A search that will end below ``give_up_below`` stops after one or two trials instead of closing in."""
    bpp = [0.1 * math.exp(0.45 * k) for k in range(8)]
    curve = RateCurve(bpp, 40000, min_level=0.0)

    def encode(level):
        calls.append(level)
        return b"x" * int(0.2 * math.exp(1.3 * curve.at(level)) + 3 * math.sin(level * 50) ** 2)  # off the curve

    calls: list[float] = []
    budget = len(encode(landing))
    calls = []
    full = search_base_level(encode, budget, TRAINED, curve)
    full_trials = len(calls)
    calls = []
    gave_up = search_base_level(encode, budget, TRAINED, curve, give_up_below=4.0)
    assert gave_up.stopped and not full.stopped
    assert len(calls) <= 2 < full_trials and full.base < 4.0
    calls = []
    finished = search_base_level(encode, budget, TRAINED, curve, give_up_below=full.base - 0.5)
    assert not finished.stopped and finished.data == full.data  # lands above: searched to the end


def test_search_reports_out_of_range():
    encode, _ = fake_encoder()
    low = search_base_level(encode, 100, TRAINED)
    assert not low.in_range and low.base == 0 and "below" in low.message
    high = search_base_level(encode, 10**9, TRAINED)
    assert not high.in_range and high.base == 7.0 and "above" in high.message


@pytest.mark.parametrize("position", [0.15, 0.5, 0.85])
def test_real_budgets_are_respected(model, position):
    im = synthetic_image(160, 96, seed=2)
    smallest = len(roicodec.compress(im, quality=0, model=model))
    largest = len(roicodec.compress(im, quality=model.config.levels - 1, model=model))
    budget = int(smallest * (largest / smallest) ** position)  # inside the model's range for this image
    bpp = 8 * budget / (160 * 96)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RateControlWarning)
        res = roicodec.compress_detailed(im, bpp=(budget + 0.5) * 8 / (160 * 96), model=model)
    assert budget * 0.99 <= len(res.data) <= budget, (bpp, len(res.data))
    assert roicodec.decompress(res.data, model=model).size == (160, 96)


def test_size_budget_is_respected(model, card):
    smallest = len(roicodec.compress(card, quality=0, model=model))
    largest = len(roicodec.compress(card, quality=model.config.levels - 1, model=model))
    spec = f"{(smallest * largest) ** 0.5 / 1024:.2f}KiB"
    budget = parse_size(spec)
    res = roicodec.compress_detailed(card, size=spec, model=model)
    assert budget * 0.99 <= len(res.data) <= budget


def test_budget_below_range_warns_and_gives_smallest_file(model, card):
    with pytest.warns(RateControlWarning, match="below"):
        res = roicodec.compress_detailed(card, size=20, model=model, scale=1)  # the default would code smaller
    assert res.base_level == model.config.min_level and not res.in_range
    assert len(res.data) == len(roicodec.compress(card, quality=model.config.min_level, model=model))


def test_exactly_one_target_is_required(model, card):
    with pytest.raises(BudgetError):
        roicodec.compress(card, model=model)
    with pytest.raises(BudgetError):
        roicodec.compress(card, bpp=0.5, quality=3, model=model)
    with pytest.raises(BudgetError):
        roicodec.compress(card, quality=99, model=model)


def test_search_goes_below_level_zero_when_the_model_allows_it():
    encode, calls = fake_encoder()
    smallest_at_zero = len(encode(0.0))
    budget = int(smallest_at_zero * 0.6)
    old = search_base_level(encode, budget, TRAINED)
    assert not old.in_range and old.base == 0.0
    new = search_base_level(encode, budget, LevelRange(-2.0, 7.0))
    assert new.in_range and -2.0 <= new.base < 0 and budget * 0.99 <= len(new.data) <= budget
    floor = search_base_level(encode, 10, LevelRange(-2.0, 7.0))
    assert not floor.in_range and floor.base == -2.0 and "below" in floor.message


def test_rate_curve_with_levels_below_zero():
    curve = RateCurve([0.03, 0.05, 0.08, 0.12, 0.2], pixels=10000, min_level=-2.0)
    assert (curve.min_level, curve.max_level) == (-2.0, 2.0)
    for level in (-2.0, -1.3, 0.0, 1.5, 2.0):
        assert curve.inverse(curve.at(level)) == pytest.approx(level, abs=1e-9)
    assert curve.at(-1.0) == pytest.approx(math.log(0.05 * 10000 / 8))
    assert curve.inverse(-1e9) == -2.0


def _sized(size_at):
    calls: list[float] = []

    def encode(level):
        calls.append(level)
        return b"x" * int(size_at(level))

    return encode, calls


def test_an_estimate_leads_the_search_to_the_budget_in_one_or_two_encodes():
    """An estimate a few per cent off, by a ratio that drifts slowly with the level (as the float entropy
    model's does), and a wrong curve: the guide lands within the window in at most two encodes."""
    real = lambda level: 400.0 * math.exp(0.68 * level) + 37 * math.sin(level * 3) ** 2  # noqa: E731
    estimate = lambda level: real(level) * (0.97 + 0.004 * level)  # noqa: E731
    curve = RateCurve([0.1 * math.exp(0.3 * k) for k in range(8)], 40000, min_level=0.0)
    guided, unguided = 0, 0
    for budget in (450, 1000, 3000, 7000, 20000, 40000):
        encode, calls = _sized(real)
        res = search_base_level(encode, budget, TRAINED, curve, estimate=estimate)
        assert res.in_range and budget * 0.99 <= len(res.data) <= budget
        assert len(calls) <= 2
        guided += len(calls)
        encode, calls = _sized(real)
        assert search_base_level(encode, budget, TRAINED, curve).in_range
        unguided += len(calls)
    assert guided < unguided


@pytest.mark.parametrize("estimate", [lambda level: 1000.0, lambda level: 5000.0 * math.exp(-level),
                                      lambda level: 300.0 * (1 + math.sin(7 * level) ** 2) * math.exp(0.7 * level)])
def test_a_wrong_estimate_costs_trials_never_the_budget(estimate):
    """Flat, falling or bumpy: the guide leads only GUIDED_TRIALS encodes, inside the bracket, and the
    search still ends within 1 % below the budget."""
    encode, calls = _sized(lambda level: 400.0 * math.exp(0.68 * level) + 5 * math.sin(level * 50) ** 2)
    for budget in (700, 2500, 9000):
        res = search_base_level(encode, budget, TRAINED, estimate=estimate)
        assert res.in_range and budget * 0.99 <= len(res.data) <= budget


def test_an_estimate_gives_up_early_where_the_file_would_land_below_a_level():
    real = lambda level: 400.0 * math.exp(0.68 * level)  # noqa: E731
    encode, calls = _sized(real)
    budget = int(real(1.0))
    off = lambda level: 0.9 * real(level)  # noqa: E731
    curve = RateCurve([real(k) for k in range(8)], pixels=8, min_level=0.0)
    res = search_base_level(encode, budget, TRAINED, curve, estimate=off, give_up_below=4.0)
    assert res.stopped and not calls and not res.data  # the estimate alone says it would land near 1
    calls.clear()
    full = search_base_level(encode, budget, TRAINED, curve, estimate=off)
    assert not full.stopped and len(calls) == 2 and abs(full.base - 1.0) < 0.02


def test_a_budget_well_above_the_range_is_passed_on_without_an_encode():
    """With pass_above, a budget the estimate puts over PASS_ABOVE_MARGIN above the largest file ends the
    search before any real encode (the caller codes a larger scale); nearer the top it searches as before."""
    real = lambda level: 400.0 * math.exp(0.68 * level)  # noqa: E731
    estimate = lambda level: 0.995 * real(level)  # noqa: E731
    curve = RateCurve([real(k) for k in range(8)], pixels=8, min_level=0.0)
    encode, calls = _sized(real)
    budget = int(real(7.0) * 1.1)
    res = search_base_level(encode, budget, TRAINED, curve, estimate=estimate, pass_above=True)
    assert res.stopped and not res.in_range and not res.data and not calls
    searched = search_base_level(encode, budget, TRAINED, curve, estimate=estimate)
    assert not searched.in_range and len(searched.data) == int(real(7.0)) and calls == [7.0]
    calls.clear()
    near = int(real(7.0) * 1.005)  # the largest file is within the margin: its real size decides
    res = search_base_level(encode, near, TRAINED, curve, estimate=estimate, pass_above=True)
    assert not res.stopped and len(res.data) == int(real(7.0)) and calls == [7.0]
