"""What a chapter's page is made of: numbers glued from the run, never typed.

A measured number that the prose names comes from the run through myst-nb's ``glue``
(:func:`glue_values` in a code cell, ``{glue:text}`name:.3f``` in the text), so that the page
changes when a run does. :func:`typed_numbers` finds the decimals and percentages a chapter's
markdown types instead: outside equations, inline code and glue references, and outside
sentences that cite a paper (a year, as in "Carlini & Terzis, 2022", in the same sentence).
The test suite runs it over every chapter.

Glued values are written by cells that the stored-output comparison does not check (a test
holds every ``glue_values`` call out of the cells tagged ``nbval-check-output``): a measured
value moves in its last digits between processors.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

#: significant digits a glued float keeps (the stored notebook holds no more than this)
GLUE_DIGITS = 4


def glue_values(**values: float | int | str) -> None:
    """Glue each ``name=value`` for the chapter's text; nothing is displayed. Numbers are read
    with ``{glue:text}`name:.3f``` (floats keep :data:`GLUE_DIGITS` significant digits),
    strings with ``{glue:md}`name```; anything else (a table) with ``{glue}`name```."""
    from IPython.display import Markdown
    from myst_nb import glue

    for name, value in values.items():
        if isinstance(value, str):
            glue(name, Markdown(value), display=False)
            continue
        if hasattr(value, "to_html"):  # a pandas table
            glue(name, value, display=False)
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            try:
                value = float(value)  # a numpy or torch scalar
            except (TypeError, ValueError):
                raise ValueError(f"{name}={value!r}: glue a number or a string") from None
        if isinstance(value, float):
            value = float(f"{value:.{GLUE_DIGITS}g}")
        glue(name, value, display=False)


@dataclass(frozen=True)
class TypedNumber:
    """A number typed into a chapter's markdown: where it is and the sentence around it."""

    chapter: str
    cell: int
    number: str
    sentence: str

    def __str__(self) -> str:
        return f"{self.chapter} cell {self.cell}: {self.number!r} in {self.sentence!r}"


_REMOVED = [
    re.compile(r"```(?!\{)[^\n]*\n.*?```", re.S),        # code blocks (not directives)
    re.compile(r"\$\$.*?\$\$", re.S),                    # display maths
    re.compile(r"\$[^$\n]+\$"),                          # inline maths
    re.compile(r"\{glue(?::\w*)?\}`[^`]*`"),             # glue references
    re.compile(r"```\{glue(?::\w*)?\}[^\n]*"),           # glue directives
    re.compile(r"\{(?:math|eq)\}`[^`]*`"),              # maths roles
    re.compile(r"`[^`\n]*`"),                            # inline code
    re.compile(r"\]\([^)]*\)"),                          # link targets
    re.compile(r"arXiv:\S+"),                            # arXiv identifiers
    re.compile(r"<[^>\n]+>"),                            # HTML tags
    re.compile(r"(?m)^\s*:[\w-]+:.*$"),                  # directive options (:class: dropdown)
]
_NUMBER = re.compile(r"(?<![\w.,])(?:\d+(?:\.\d+)?\s?(?:%|per ?cent)|\d*\.\d+)(?![\w.]*\d)")
_CITES = re.compile(r"\b(?:19|20)\d\d\b")
_SENTENCE_END = re.compile(r"(?<=[.!?:;])\s+(?=[*_(\[A-Z])|\n\s*\n|\n\s*[-*+|] |\n\s*\d+\. ")


def prose(markdown: str) -> str:
    """``markdown`` without what may hold numbers: equations, code, glue references, links'
    targets, HTML tags and directive options."""
    for pattern in _REMOVED:
        markdown = pattern.sub(" ", markdown)
    return markdown


def typed_numbers_in(markdown: str, chapter: str = "", cell: int = 0) -> list[TypedNumber]:
    """The decimals and percentages typed into ``markdown`` outside equations, code and glue
    references, in sentences that cite no paper (no year in the same sentence)."""
    found = []
    for sentence in _SENTENCE_END.split(prose(markdown)):
        if _CITES.search(sentence):
            continue
        for match in _NUMBER.finditer(sentence):
            found.append(TypedNumber(chapter, cell, match.group(0),
                                     " ".join(sentence.split())[:200]))
    return found


def typed_numbers(notebook: str | Path) -> list[TypedNumber]:
    """Every typed number in the markdown cells of ``notebook`` (cells counted from 0)."""
    path = Path(notebook)
    cells = json.loads(path.read_text())["cells"]
    found = []
    for index, cell in enumerate(cells):
        if cell["cell_type"] == "markdown":
            found += typed_numbers_in("".join(cell["source"]), path.stem, index)
    return found
