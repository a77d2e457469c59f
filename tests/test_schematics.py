"""The chapters' intuition schematics: one drawn SVG per chapter in ``chapters/figures/``, each
the output of ``tools/draw_schematics.py`` (run it again after changing a drawing), small, and a
picture of an idea, not of a result: no measured numbers in its text."""

from __future__ import annotations

import importlib.util
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import matplotlib
import pytest

ROOT = Path(__file__).resolve().parents[1]
FIGURES = ROOT / "chapters" / "figures"
STEMS = sorted(p.stem for p in (ROOT / "chapters").glob("[0-9][0-9]_*.ipynb"))
SVG = "{http://www.w3.org/2000/svg}"
#: what a measured number looks like: a decimal (0.93, 0,93) or a percentage
MEASURED = re.compile(r"\d[.,]\d|\d\s*%")

spec = importlib.util.spec_from_file_location("draw_schematics",
                                              ROOT / "tools" / "draw_schematics.py")
draw_schematics = importlib.util.module_from_spec(spec)
spec.loader.exec_module(draw_schematics)


@pytest.fixture(scope="module")
def drawn(tmp_path_factory):
    out = tmp_path_factory.mktemp("schematics")
    return {path.stem: path for path in draw_schematics.draw_all(out)}


def test_one_schematic_per_chapter(drawn):
    assert len(STEMS) == 11
    assert sorted(drawn) == STEMS
    assert sorted(p.stem for p in FIGURES.glob("*.svg")) == STEMS


@pytest.mark.parametrize("stem", STEMS)
def test_schematic(drawn, stem):
    data = drawn[stem].read_bytes()
    assert len(data) < 60 * 1024, f"{stem}.svg is {len(data)} bytes"
    root = ET.fromstring(data)
    assert root.tag == f"{SVG}svg"
    texts = ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]
    assert texts, "the labels should stay text (svg.fonttype none)"
    assert not [t for t in texts if MEASURED.search(t)], "a schematic shows no measured numbers"
    committed = FIGURES / f"{stem}.svg"
    assert committed.exists(), f"chapters/figures/{stem}.svg is missing"
    made_by = re.search(rb"Matplotlib v([\w.]+)", committed.read_bytes())
    if made_by and made_by.group(1).decode() == matplotlib.__version__:
        assert committed.read_bytes() == data, (
            f"chapters/figures/{stem}.svg is not the script's output: run "
            "python tools/draw_schematics.py")
    else:  # another matplotlib writes other bytes: the same labels, at least
        labels = ["".join(t.itertext()) for t in ET.fromstring(committed.read_bytes()).iter(
            f"{SVG}text")]
        assert labels == texts, f"chapters/figures/{stem}.svg has other labels than the script's"
