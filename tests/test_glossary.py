"""The glossary page defines the book's terms, and every chapter links each term where it first
uses it (and only there), to a term the glossary defines. Nothing is executed."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import yaml

from sslsec.pages import glossary_terms, term_pattern, term_uses, typed_numbers_in, unlinked_terms

ROOT = Path(__file__).resolve().parents[1]
GLOSSARY = ROOT / "chapters" / "glossary.md"
CHAPTERS = sorted((ROOT / "chapters").glob("[0-9][0-9]_*.ipynb"))
TERMS = glossary_terms(GLOSSARY)


def test_the_table_of_contents_lists_the_glossary():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [ch["file"] for part in toc["parts"] for ch in part["chapters"]]
    assert "chapters/glossary" in files


def test_the_glossary_defines_each_term_once_in_words():
    text = GLOSSARY.read_text()
    assert text.startswith("# Glossary\n")
    assert 15 <= len(TERMS) <= 30, TERMS
    assert len({t.lower() for t in TERMS}) == len(TERMS), "a term is defined twice"
    block = re.search(r"```\{glossary\}[^\n]*\n(.*?)```", text, re.S).group(1)
    for term in TERMS:  # the indented definition follows the term's line
        assert re.search(rf"(?m)^{re.escape(term)}\n  \S", block), f"{term!r} has no definition"
    assert typed_numbers_in(text) == [], "a definition types a measured number"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_each_term_is_linked_where_the_chapter_first_uses_it(path):
    found = unlinked_terms(path, TERMS)
    assert not found, ("link a glossary term's first use in the chapter ({term}`word` or "
                       "{term}`words <word>`), and only that one:\n" + "\n".join(map(str, found)))


@pytest.mark.parametrize("text", [
    "a linear probe", "linear probes", "the linear-probe accuracy", "a *linear* probe",
    "**linear\nprobe**", "Linear Probe",
])
def test_what_counts_as_a_use_of_a_term(text):
    assert term_pattern("linear probe").search(text)


@pytest.mark.parametrize("text", [
    "a nonlinear probe", "`linear_probe` or `linear probe`", "$linear probe$",
    "## A linear probe\n", "{glue:text}`linear probe`", "[a linear probe](api.md)",
    "```python\nlinear probe\n```", ":::{dropdown} linear probe\n:::",
])
def test_what_is_not_running_text(text):
    assert term_uses(text, ["linear probe"]) == []


def test_singular_and_plural_forms():
    assert term_pattern("image passes").search("one image pass")
    assert term_pattern("p-value").search("their p-values")
    assert term_pattern("Encoder-as-a-Service").search("an encoder-as-a-service API")
    assert not term_pattern("backdoor").search("a backdoored encoder")


def _markdown(nb: dict) -> list[int]:
    return [i for i, cell in enumerate(nb["cells"]) if cell["cell_type"] == "markdown"]


def test_the_check_catches_a_term_used_before_its_link(tmp_path):
    source = CHAPTERS[0]
    nb = json.loads(source.read_text())
    # the chapter's first link, and the term it links
    index, start, end, term = next((i, s, e, t) for i in _markdown(nb)
                                   for s, e, t, linked in term_uses(
                                       "".join(nb["cells"][i]["source"]), TERMS) if linked)
    copy = tmp_path / source.name
    shutil.copy(source, copy)
    assert unlinked_terms(copy, TERMS) == []

    # 1. the link undone: its first use is now plain
    unlinked = json.loads(source.read_text())
    text = "".join(unlinked["cells"][index]["source"])
    role = text[start:end]
    plain = re.sub(r"\{term\}`([^`<]*?)\s*(?:<[^>]*>)?`", r"\1", role)
    unlinked["cells"][index]["source"] = text[:start] + plain + text[end:]
    copy.write_text(json.dumps(unlinked))
    found = [(u.cell, u.term, u.problem) for u in unlinked_terms(copy, TERMS)]
    assert found == [(index, term, "is first used unlinked")]

    # 2. an earlier plain use, in a cell of its own before the chapter's first
    earlier = json.loads(source.read_text())
    earlier["cells"].insert(0, {"cell_type": "markdown", "metadata": {},
                                "source": [f"A word on the {term} first.\n"]})
    copy.write_text(json.dumps(earlier))
    found = [(u.cell, u.term, u.problem) for u in unlinked_terms(copy, TERMS)]
    assert found == [(0, term, "is first used unlinked"), (index + 1, term, "is linked again")]

    # 3. a second link, and a link to a word the glossary does not define
    twice = json.loads(source.read_text())
    last = [i for i in _markdown(twice)
            if not "".join(twice["cells"][i]["source"]).startswith("## References")][-1]
    twice["cells"][last]["source"] = ("".join(twice["cells"][last]["source"])
                                      + f"\n\nAgain: {role}, and {{term}}`no such term`.\n")
    copy.write_text(json.dumps(twice))
    found = [(u.cell, u.term, u.problem) for u in unlinked_terms(copy, TERMS)]
    assert (last, term, "is linked again") in found
    assert (last, "no such term", "is linked but not defined") in found
