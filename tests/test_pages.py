"""Every measured number on a chapter's page is glued from the run, never typed."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import nbformat
import pytest

from sslsec.pages import glue_values, typed_numbers, typed_numbers_in

CHAPTERS = sorted((Path(__file__).resolve().parents[1] / "chapters").glob("[0-9][0-9]_*.ipynb"))
GLUE_REFERENCE = re.compile(r"\{glue(?::\w*)?\}`([\w.-]+)(?::[^`]*)?`|```\{glue(?::\w*)?\}\s+(\S+)")


def _cells(path: Path) -> list[dict]:
    return json.loads(path.read_text())["cells"]


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_no_measured_number_is_typed(path):
    found = typed_numbers(path)
    assert not found, ("typed numbers (glue them from the run, cite the paper they come from, "
                       "or write them as maths):\n" + "\n".join(map(str, found)))


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_every_glue_reference_is_glued_by_the_stored_run(path):
    cells = _cells(path)
    glued = {out.get("metadata", {}).get("scrapbook", {}).get("name")
             for cell in cells if cell["cell_type"] == "code" for out in cell.get("outputs", [])}
    used = {a or b for cell in cells if cell["cell_type"] == "markdown"
            for a, b in GLUE_REFERENCE.findall("".join(cell["source"]))}
    assert not used - glued, f"{path.stem}: referenced but never glued: {sorted(used - glued)}"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_glued_values_are_not_compared_between_processors(path):
    """nbval compares the cells tagged nbval-check-output; a glued value moves in its last
    digits between processors, so it is glued elsewhere."""
    for index, cell in enumerate(_cells(path)):
        if "nbval-check-output" in cell["metadata"].get("tags", []):
            assert "glue" not in "".join(cell["source"]), f"{path.stem} cell {index}"


def test_the_scan_catches_a_number_typed_into_a_chapter(tmp_path):
    source = CHAPTERS[0]
    copy = tmp_path / source.name
    shutil.copy(source, copy)
    assert typed_numbers(copy) == typed_numbers(source)
    nb = json.loads(copy.read_text())
    index = max(i for i, c in enumerate(nb["cells"]) if c["cell_type"] == "markdown")
    nb["cells"][index]["source"] = ["The attack fooled 0.853 of the inputs, and 14 % at most.\n"]
    copy.write_text(json.dumps(nb))
    found = typed_numbers(copy)
    assert [(t.cell, t.number) for t in found][-2:] == [(index, "0.853"), (index, "14 %")]
    assert found[-1].chapter == source.stem and "fooled" in found[-1].sentence


@pytest.mark.parametrize("text", [
    "Carlini & Terzis (2022) poison 0.01 % of the captions.",       # a paper, with its year
    "The budget is $\\varepsilon = 0.1$ and $$p = 0.05$$.",         # maths
    "It fooled {glue:text}`fooled:.3f` of them ({glue:text}`pct:.0f` % of the tasks).",
    "Run `feature_pgd(x, 0.1)` and read arXiv:2110.15444.",         # code, an identifier
    "```python\nx = 0.5\n```",
    "Chapter 02 uses 64 members and 2,400 epochs.",                 # integers: not flagged
])
def test_what_the_scan_lets_pass(text):
    assert typed_numbers_in(text) == []


@pytest.mark.parametrize("text,number", [
    ("AUC of about 0.77, found by EncoderMI.", "0.77"),
    ("It flags 14 % of the members.", "14 %"),
    ("A speed-up of 1.8× over the natural inputs.", "1.8"),
    ("The victim (0.961) loses little. In 2022 others saw less.", "0.961"),  # year elsewhere
])
def test_what_the_scan_flags(text, number):
    assert [t.number for t in typed_numbers_in(text)] == [number]


def test_glue_values_refuses_what_is_not_a_number():
    with pytest.raises(ValueError, match="glue a number or a string"):
        glue_values(thing=object())


def test_prose_words_leaves_out_what_is_collapsed_equations_and_code(tmp_path):
    from sslsec.pages import prose_words

    text = ("# Title\none two three $x + y$ `code`\n\n:::{dropdown} Across seeds\nhidden words "
            "here\n```{glue} table\n```\n:::\n\n:::{admonition} Solutions\n:class: dropdown\n"
            "also hidden\n:::\n\n:::{note}\nfour five\n:::\n\n::::{dropdown} Outer\n"
            ":::{note}\nnested hidden\n:::\n::::\nsix")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(text), nbformat.v4.new_code_cell("a b c d")]
    path = tmp_path / "x.ipynb"
    nbformat.write(nb, path)
    # "# Title one two three" + "four five" + "six": the dropdowns, maths, code are left out
    assert prose_words(path) == 8


def test_listed_joins_items_as_the_text_writes_them():
    from sslsec.pages import listed

    assert listed([32]) == "32"
    assert listed(["a", "b"], "or") == "a or b"
    assert listed(f"{n:,}" for n in (32, 256, 2048)) == "32, 256 and 2,048"
    with pytest.raises(ValueError, match="nothing to list"):
        listed([])
