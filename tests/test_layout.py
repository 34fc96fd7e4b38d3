"""docs/layout.md's module map lists exactly the package's modules."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_module_map_matches_the_tree():
    listed = set(re.findall(r"`(src/roicodec/[\w/]+\.py)`", (ROOT / "docs" / "layout.md").read_text()))
    present = {p.relative_to(ROOT).as_posix() for p in (ROOT / "src" / "roicodec").rglob("*.py")}
    assert present - listed == set(), "modules missing from docs/layout.md"
    assert listed - present == set(), "docs/layout.md lists modules that are gone"


def test_api_stays_a_thin_front():
    assert len((ROOT / "src" / "roicodec" / "api.py").read_text().splitlines()) <= 120
