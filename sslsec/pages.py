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
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

#: significant digits a glued float keeps (the stored notebook holds no more than this)
GLUE_DIGITS = 4


def listed(items: Iterable[object], last: str = "and") -> str:
    """Items as the text lists them: ``'a'``, ``'a and b'``, ``'a, b and c'``."""
    words = [str(i) for i in items]
    if not words:
        raise ValueError("nothing to list")
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} {last} {words[-1]}"


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


# --- the glossary: each chapter links a term the first time it uses it ------------------------

_GLOSSARY_BLOCK = re.compile(r"```\{glossary\}[^\n]*\n(.*?)```", re.S)
_TERM_ROLE = re.compile(r"\{term\}`([^`]*)`")
_MASKED = [
    re.compile(r"```(?!\{)[^\n]*\n.*?```", re.S),            # code blocks (not directives)
    re.compile(r"\$\$.*?\$\$", re.S),                        # display maths
    re.compile(r"\{[\w:.-]+\}`[^`]*`"),                      # roles ({term} ones are read first)
    re.compile(r"`[^`\n]*`"),                                # inline code
    re.compile(r"\$[^$\n]+\$"),                              # inline maths
    re.compile(r"\[[^\]\n]*\]\([^)\n]*\)"),                  # links, text and target
    re.compile(r"<[^>\n]+>"),                                # HTML tags
    re.compile(r"(?m)^[ \t]*(?:```|:::).*$"),                # directive fences ({glue}, dropdowns)
    re.compile(r"(?m)^[ \t]*:[\w-]+:.*$"),                   # directive options (:class: dropdown)
    re.compile(r"(?m)^[ \t]{0,3}#{1,6}(?:[ \t].*)?$"),       # headings
]


_REFERENCES = re.compile(r"\s*#{1,6}[ \t]+References\b")


def _skipped_cell(markdown: str) -> bool:
    """A chapter's reference list: the papers' titles are quoted, not the chapter's words."""
    return bool(_REFERENCES.match(markdown))


@dataclass(frozen=True)
class TermUse:
    """A chapter's use of a glossary term that breaks the rule: the first use of a term in a
    chapter's text links it (``{term}`...```), later uses do not, and every link names a term
    of the glossary."""

    chapter: str
    cell: int
    term: str
    problem: str
    context: str

    def __str__(self) -> str:
        return f"{self.chapter} cell {self.cell}: {self.term!r} {self.problem}: {self.context!r}"


def glossary_terms(page: str | Path) -> list[str]:
    """The terms that the ``{glossary}`` directives of the MyST page ``page`` define, in the
    page's order: the unindented lines of the directive's body (options like ``:sorted:``
    skipped); the indented lines below a term are its definition."""
    terms = []
    for block in _GLOSSARY_BLOCK.findall(Path(page).read_text()):
        for line in block.splitlines():
            if line.strip() and not line[0].isspace() and not re.match(r":[\w-]+:", line):
                terms.append(line.strip())
    return terms


def term_pattern(term: str) -> re.Pattern[str]:
    """A case-insensitive pattern for ``term`` in running text: its plural or singular too,
    a hyphen or a line break wherever the term has a space or a hyphen ("linear-probe accuracy"
    is a use of "linear probe"), and emphasis marks around its words."""
    words = re.split(r"[\s-]+", term.strip())
    last = words[-1]
    if re.search(r"(?:s|x|ch|sh)es$", last, re.I):
        last = re.escape(last[:-2]) + "(?:es)?"
    elif last.lower().endswith("s") and not last.lower().endswith("ss"):
        last = re.escape(last[:-1]) + "s?"
    else:
        last = re.escape(last) + "(?:s|es)?"
    emphasis = r"\*{0,3}"
    body = (emphasis + r"[\s-]+" + emphasis).join([re.escape(w) for w in words[:-1]] + [last])
    return re.compile(r"(?<![\w-])" + emphasis + body + emphasis + r"(?![\w-])", re.I)


def term_uses(markdown: str, terms: list[str]) -> list[tuple[int, int, str, bool]]:
    """Every use of a glossary term in ``markdown``, in order, as ``(start, end, term,
    linked)``: ``{term}`` roles (``linked``; their target as written, defined or not) and plain
    uses of the ``terms`` in running text, that is outside code, maths, other roles, links,
    HTML, directive lines and headings."""
    def blank(match: re.Match[str]) -> str:
        return re.sub(r"[^\n]", " ", match.group(0))

    masked = _MASKED[1].sub(blank, _MASKED[0].sub(blank, markdown))  # code blocks, maths
    uses = []
    for match in _TERM_ROLE.finditer(masked):
        target = re.sub(r"^.*<([^<>]*)>\s*$", r"\1", match.group(1), flags=re.S).strip()
        uses.append((match.start(), match.end(), target, True))
    for pattern in _MASKED[2:]:
        masked = pattern.sub(blank, masked)
    for term in terms:
        uses += [(m.start(), m.end(), term, False) for m in term_pattern(term).finditer(masked)]
    return sorted(uses)


def unlinked_terms(notebook: str | Path, terms: list[str]) -> list[TermUse]:
    """Where the markdown cells of ``notebook`` break the glossary's rule: a term used before
    it is linked (or never linked), linked more than once, or a ``{term}`` link to a word the
    glossary (``terms``) does not define. Cells are counted from 0; no output is read, and a
    cell that starts with a "References" heading is skipped (its titles are quotations)."""
    path = Path(notebook)
    cells = json.loads(path.read_text())["cells"]
    found, seen = [], set()
    for index, cell in enumerate(cells):
        text = "".join(cell["source"])
        if cell["cell_type"] != "markdown" or _skipped_cell(text):
            continue
        for start, end, term, linked in term_uses(text, terms):
            context = " ".join(text[max(0, start - 40):end + 40].split())
            if linked and term not in terms:
                found.append(TermUse(path.stem, index, term, "is linked but not defined",
                                     context))
            elif term in seen and linked:
                found.append(TermUse(path.stem, index, term, "is linked again", context))
            elif term not in seen and not linked:
                found.append(TermUse(path.stem, index, term, "is first used unlinked", context))
            seen.add(term)
    return found


_FENCE = re.compile(r"^\s*(?P<fence>:{3,}|`{3,})\s*(?:\{(?P<name>[\w:-]+)\})?")
_COLLAPSED = {"dropdown", "toggle"}


def _open_prose(markdown: str) -> str:
    """``markdown`` without its collapsed blocks (``{dropdown}``, ``{toggle}``, and directives
    with ``:class: dropdown``), fences nested or not."""
    lines, kept, stack = markdown.splitlines(), [], []  # stack: (fence, collapsed)
    for i, line in enumerate(lines):
        m = _FENCE.match(line)
        if m and stack and m.group("name") is None and m.group("fence") == stack[-1][0]:
            stack.pop()  # a closing fence
            continue
        if m and m.group("name"):
            name = m.group("name")
            options = []
            for later in lines[i + 1:]:
                if not later.strip().startswith(":") or _FENCE.match(later):
                    break
                options.append(later)
            collapsed = name in _COLLAPSED or any(
                o.strip().startswith(":class:") and "dropdown" in o for o in options)
            stack.append((m.group("fence"), collapsed or any(c for _, c in stack)))
            continue
        if not any(c for _, c in stack):
            kept.append(line)
    return "\n".join(kept)


def prose_words(notebook: str | Path) -> int:
    """The words of a chapter's markdown a reader meets without opening anything: outside
    collapsed blocks, equations and code (whitespace-separated tokens of :func:`prose`)."""
    cells = json.loads(Path(notebook).read_text())["cells"]
    return sum(len(prose(_open_prose("".join(c["source"]))).split())
               for c in cells if c["cell_type"] == "markdown")
