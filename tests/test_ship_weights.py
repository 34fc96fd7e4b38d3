"""tools/ship_weights.py: a run's weights are shipped only when they win, as the next version of their family."""

import importlib.util
import shutil
from pathlib import Path

import pytest

from roicodec.models import RoiCodecWeights
from roicodec.weights import read_metadata

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def ship_tool(monkeypatch, tmp_path):
    spec = importlib.util.spec_from_file_location("ship_weights", ROOT / "tools" / "ship_weights.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    monkeypatch.setattr(tool, "WEIGHTS_DIR", tmp_path / "weights")
    (tmp_path / "weights").mkdir()
    tool.annotated = []
    monkeypatch.setattr(tool, "annotate", lambda path, kodak: tool.annotated.append(path))  # the rate curve: minutes
    return tool


def _fake_comparison(bd):
    curve = {"results": {"bpp": [0.1, 0.2, 0.4, 0.8], "psnr-rgb": [25.0, 27.0, 29.0, 31.0]}}
    return lambda candidate, anchor, folders, limit, levels: {
        f: {"bd_rate": bd, "anchor": curve, "candidate": curve} for f in folders}


def _run_with_fidelity_copy(tmp_path) -> Path:
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(RoiCodecWeights.FIDELITY_V1.value.path, run / "fidelity.safetensors")
    return run


def test_a_winner_is_shipped_as_the_next_version_in_the_anchors_storage(ship_tool, tmp_path, monkeypatch, capsys):
    run = _run_with_fidelity_copy(tmp_path)
    monkeypatch.setattr(ship_tool, "compare", _fake_comparison(-5.0))
    assert ship_tool.main([str(run), "--images", "kodak", "coco"]) == 0
    dest = tmp_path / "weights" / "roicodec-fidelity-v2.safetensors"
    assert ship_tool.annotated == [dest]
    info, anchor = read_metadata(dest), read_metadata(RoiCodecWeights.FIDELITY_V1.value.path)
    assert (info["model_id"], info["storage"], info["format"]) == (anchor["model_id"], anchor["storage"], anchor["format"])
    printed = capsys.readouterr().out
    assert 'FIDELITY_V2 = Weights("roicodec-fidelity-v2.safetensors"' in printed and "DEFAULT = FIDELITY_V2" in printed
    assert "tools/ship_weights.py --figures" in printed
    with pytest.raises(SystemExit, match="exists already"):  # never over a shipped file
        ship_tool.main([str(run), "--images", "kodak"])


@pytest.mark.parametrize("bd", [+1.0, -0.3, None])
def test_a_loser_a_near_tie_or_no_overlap_is_not_shipped(ship_tool, tmp_path, monkeypatch, capsys, bd):
    run = _run_with_fidelity_copy(tmp_path)
    monkeypatch.setattr(ship_tool, "compare", _fake_comparison(bd))
    assert ship_tool.main([str(run), "--images", "kodak", "coco"]) == 0
    assert "nothing shipped" in capsys.readouterr().out
    assert not list((tmp_path / "weights").iterdir()) and ship_tool.annotated == []
    assert (run / "ship.json").exists()


def test_winning_on_one_folder_only_is_not_enough(ship_tool):
    assert not ship_tool.wins({"kodak": {"bd_rate": -3.0}, "coco": {"bd_rate": 0.2}}, 0.5)
    assert ship_tool.wins({"kodak": {"bd_rate": -3.0}, "coco": {"bd_rate": -0.5}}, 0.5)
