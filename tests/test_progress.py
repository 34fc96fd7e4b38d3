"""Progress reports of an encode and a decode (progress.py), and the bar the command line draws."""

import io

import numpy as np
from PIL import Image

import roicodec
from roicodec import progress


def _record(run):
    seen: list[tuple[str, int, int]] = []
    with progress.reporting(lambda stage, done, total: seen.append((stage, done, total))):
        result = run()
    return result, seen


def _stages(seen, word):
    return [(done, total) for stage, done, total in seen if stage.endswith(word)]


def test_a_tiled_picture_reports_every_tile_and_every_pass(model):
    # 1664 px wide: 104 latent columns, two synthesis and two analysis tiles of 52
    rng = np.random.default_rng(3)
    picture = Image.fromarray((rng.random((32, 1664, 3)) * 255).astype(np.uint8))
    data, seen = _record(lambda: roicodec.compress(picture, bpp=0.5, model=model, scale=1))
    assert [(d, t) for stage, d, t in seen if stage == "1x: analysis"] == [(0, 2), (1, 2), (2, 2)]
    trials = sorted({stage.split(":")[0] for stage, _, _ in seen if stage.endswith("entropy coding")})
    assert trials and all("trial" in t and "at level" in t for t in trials)
    for trial in trials:  # each real encode codes the ten checkerboard passes of the five groups in order
        passes = [(d, t) for stage, d, t in seen if stage == f"{trial}: entropy coding"]
        assert passes == [(k, 10) for k in range(1, 11)]
    assert any("size estimate" in stage for stage, _, _ in seen)

    decoded, seen = _record(lambda: roicodec.decompress(data, model=model))
    assert decoded.size == picture.size
    assert _stages(seen, "entropy decoding") == [(k, 10) for k in range(1, 11)]
    assert _stages(seen, "synthesis") == [(0, 2), (1, 2), (2, 2)]
    order = [stage for stage, _, _ in seen]
    assert order.index("synthesis") > max(i for i, s in enumerate(order) if s == "entropy decoding")


def test_big_pictures_report_every_band_of_every_pass(model, monkeypatch):
    from roicodec.model import entropy

    rng = np.random.default_rng(4)
    picture = Image.fromarray((rng.random((64, 256, 3)) * 255).astype(np.uint8))  # 4 x 16 latent positions
    data = roicodec.compress(picture, quality=3, model=model, scale=1)
    monkeypatch.setattr(entropy, "BAND_POSITIONS", 32)  # two rows a band: two bands
    banded, seen = _record(lambda: roicodec.decompress(data, model=model))
    assert _stages(seen, "entropy decoding") == [(k, 20) for k in range(1, 21)]
    monkeypatch.undo()
    assert banded.tobytes() == roicodec.decompress(data, model=model).tobytes()  # bands change no pixel


def test_a_listener_hears_its_own_context_only(model, card):
    """Reports go to the listener of the thread doing the work: another thread's decode is not heard."""
    import threading

    data = roicodec.compress(card, quality=3, model=model)
    seen = []
    with progress.reporting(lambda *a: seen.append(a)):
        worker = threading.Thread(target=roicodec.decompress, args=(data,), kwargs={"model": model})
        worker.start()
        worker.join()
        assert seen == []
        roicodec.decompress(data, model=model)
    assert _stages(seen, "synthesis") == [(0, 1), (1, 1)]  # one tile: untiled
    progress.report("synthesis", 1, 1)  # nobody listening now: nothing happens
    assert len([s for s in seen if s[0] == "synthesis"]) == 2


def test_phases_nest_into_the_stage_name():
    seen = []
    with progress.reporting(lambda *a: seen.append(a)), progress.phase("1.5x, trial 2 at level 3.00"):
        progress.report("entropy coding", 4, 10)
    progress.report("nobody hears this", 1, 1)
    assert seen == [("1.5x, trial 2 at level 3.00: entropy coding", 4, 10)]


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_bar_waits_for_its_delay_and_draws_only_on_a_terminal():
    out = _Terminal()
    with progress.bar(delay=0.0, file=out):
        progress.report("synthesis", 1, 3)
        progress.report("synthesis", 3, 3)
    text = out.getvalue()
    assert "synthesis" in text and "3/3" in text

    quick = _Terminal()
    with progress.bar(delay=60.0, file=quick):
        progress.report("synthesis", 1, 3)
    assert quick.getvalue() == ""

    redirected = io.StringIO()  # not a terminal: a log or a pipe gets no redraws
    with progress.bar(delay=0.0, file=redirected):
        progress.report("synthesis", 1, 3)
    assert redirected.getvalue() == ""

    off = _Terminal()
    with progress.bar(enabled=False, delay=0.0, file=off):
        progress.report("synthesis", 1, 3)
    assert off.getvalue() == ""
