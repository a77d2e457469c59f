"""Classroom assignments: otter-grader masters, their student versions and the autograder."""

from __future__ import annotations

import ast
import json
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import pytest

from sslsec import run

MASTERS = run.master_paths()


def test_every_chapter_has_a_master():
    """Each chapter has its assignment (``NN_name``); a chapter of two halves has one per half
    (``NN_name_<half>``), and no master belongs to no chapter."""
    chapters = [p.stem for p in run.chapter_paths()]
    owner = {m.stem: [c for c in chapters if m.stem == c or m.stem.startswith(c + "_")]
             for m in MASTERS}
    assert all(len(found) == 1 for found in owner.values()), owner
    assert sorted({found[0] for found in owner.values()}) == sorted(chapters)
    assert all(c in owner for c in chapters), "a chapter's main assignment has its name"


def questions(master: Path) -> dict[str, dict]:
    """Each question's config, whether it uses sslsec, and its public/hidden test counts."""
    nb = nbformat.read(master, as_version=4)
    out, current, in_tests = {}, None, False
    for cell in nb.cells:
        src = cell.source.strip()
        if cell.cell_type == "raw" and src.startswith("# BEGIN QUESTION"):
            name = re.search(r"name: (\w+)", src).group(1)
            points = re.search(r"points: ([\d.]+)", src)
            current = out[name] = {"points": float(points.group(1)) if points else 0,
                                   "public": 0, "hidden": 0, "code": "",
                                   "manual": bool(re.search(r"manual: true", src))}
        elif cell.cell_type == "raw" and src == "# BEGIN TESTS":
            in_tests = True
        elif cell.cell_type == "raw" and src == "# END TESTS":
            in_tests = False
        elif current is not None and cell.cell_type == "code":
            if in_tests:
                current["hidden" if src.startswith("# HIDDEN") else "public"] += 1
            else:
                current["code"] += src
    return out


@pytest.mark.parametrize("master", MASTERS, ids=lambda p: p.stem)
def test_master_has_graded_coding_and_conceptual_questions(master):
    qs = questions(master)
    assert len(qs) >= 2 and all(q["points"] > 0 for q in qs.values())
    for q in qs.values():
        if q["manual"]:  # graded by hand: no tests
            assert q["public"] == q["hidden"] == 0
            continue
        assert q["public"] >= 1 and q["hidden"] >= 1
    nb_text = master.read_text()
    assert "from sslsec" in nb_text
    coding = [n for n, q in qs.items() if "extract_features" in q["code"] or "sslsec" in q["code"]
              or "def " in q["code"]]
    conceptual = [n for n, q in qs.items() if re.fullmatch(r"q\d+ = .*# SOLUTION", q["code"])]
    assert coding and conceptual


def solution_lines(master: Path) -> set[str]:
    """Lines that only the master may hold: solution blocks and ``# SOLUTION`` lines."""
    nb = nbformat.read(master, as_version=4)
    lines, inside_cell = set(), False
    for cell in nb.cells:
        src = cell.source.strip()
        if cell.cell_type == "raw":
            inside_cell = {"# BEGIN SOLUTION": True, "# END SOLUTION": False}.get(src, inside_cell)
            continue
        if cell.cell_type != "code" or not inside_cell:
            continue
        block = False
        for line in cell.source.splitlines():
            stripped = line.strip()
            if stripped.startswith("# BEGIN SOLUTION"):
                block = True
            elif stripped.startswith("# END SOLUTION"):
                block = False
            elif block or stripped.endswith("# SOLUTION"):
                code = stripped.removesuffix("# SOLUTION").strip()
                if len(code) > 6 and "= ..." not in code:
                    lines.add(code)
    return lines


def with_profile(path: Path, profile: str) -> Path:
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code" and re.search(r'^PROFILE = "\w+"', cell.source, re.M):
            cell.source = re.sub(r'^PROFILE = "\w+"', f'PROFILE = "{profile}"', cell.source,
                                 flags=re.M)
            break
    else:
        raise AssertionError(f"{path.name} has no PROFILE line")
    nbformat.write(nb, path)
    return path


def test_each_assignment_is_named_after_its_file():
    """otter names the autograder bundle after the config's name: two assignments of one
    chapter must not hand out bundles of the same name."""
    for master in MASTERS:
        config = next(c.source for c in nbformat.read(master, as_version=4).cells
                      if re.search(r"^name: ", c.source, re.M))
        assert re.search(rf"^name: {master.stem}$", config, re.M), master.name


def answer_cells(notebook: Path) -> list[str]:
    """The sources of ``notebook``'s answer cells (otter tags them ``otter_answer_cell``)."""
    return [c.source for c in nbformat.read(notebook, as_version=4).cells
            if c.cell_type == "code" and "otter_answer_cell" in c.metadata.get("tags", [])]


#: the assignment whose student version is graded as handed out (one is enough: the stubs are
#: otter's, the same in every assignment, and each assignment's are checked to be there)
GRADED_AS_HANDED_OUT = "10_resource_depletion"


@pytest.mark.parametrize("master", MASTERS, ids=lambda p: p.stem)
def test_assign_grade_solutions_and_student_version(master, tmp_path):
    """The solutions earn full marks (smoke profile); the student version holds no solution
    text and stubs (``...``) every answer the autograder grades; one assignment's student
    version, graded as handed out, earns nothing."""
    made = run.assign(master, tmp_path / "assignments", publish=False)
    assert made.student.exists() and made.autograder.exists()

    student_text = made.student.read_text()
    leaked = [line for line in solution_lines(master) if line in student_text]
    assert not leaked, f"solution text in the student notebook: {leaked}"
    assert "# HIDDEN" not in student_text
    qs = questions(master)
    answers = answer_cells(made.student)
    assert len(answers) >= sum(not q["manual"] for q in qs.values())
    assert all("..." in a for a in answers), [a for a in answers if "..." not in a]

    notebooks = [(made.solution, "sol")]
    if master.stem == GRADED_AS_HANDED_OUT:  # side by side, one thread each
        notebooks.append((made.student, "stu"))
    with ThreadPoolExecutor(len(notebooks)) as pool:
        graded = [pool.submit(run.grade, with_profile(nb, "smoke"), made.autograder,
                              tmp_path / name, threads=1)
                  for nb, name in notebooks]
        solution_scores, *student = (g.result() for g in graded)
    assert solution_scores and all(s == m for s, m in solution_scores.values()), solution_scores
    assert {n for n, q in qs.items() if not q["manual"]} <= set(solution_scores) <= set(qs)
    if student:
        scores = student[0]
        assert {n for n, q in qs.items() if not q["manual"]} <= set(scores) <= set(qs)
        assert all(s == 0 for s, _ in scores.values()), scores
        results = json.loads((tmp_path / "stu" / "results.json").read_text())
        assert any("❌" in (t.get("output") or "") for t in results["tests"])


def test_one_student_version_is_graded_as_handed_out():
    assert GRADED_AS_HANDED_OUT in {m.stem for m in MASTERS}


def multiple_choice(master: Path) -> list[tuple[str, dict[str, str], str | None]]:
    """Each multiple-choice question of ``master`` (a markdown cell that asks to set ``qN`` to a
    letter, its options as ``- (x) text`` items): its name, options and the answer its solution
    cell sets."""
    cells = nbformat.read(master, as_version=4).cells
    found = []
    for i, cell in enumerate(cells):
        asked = re.search(r"Set `(q\w+)` to", cell.source) if cell.cell_type == "markdown" else None
        if not asked:
            continue
        name, options, current = asked.group(1), {}, None
        for line in cell.source.splitlines():
            item = re.match(r"- \((\w)\) (.*)", line)
            if item:
                current = item.group(1)
                options[current] = item.group(2).strip()
            elif current and line.startswith("  "):
                options[current] += " " + line.strip()
            else:
                current = None
        answer = next((m.group(1) for later in cells[i + 1:i + 6] if later.cell_type == "code"
                       for m in [re.search(rf"^{name}\s*=\s*[\"'](\w)[\"']", later.source,
                                           re.M)] if m), None)
        found.append((name, options, answer))
    return found


def test_the_right_option_is_not_a_giveaway():
    """In each chapter the correct option is the longest in at most half of its multiple-choice
    questions (a student who picks the longest option must not pass)."""
    by_chapter: dict[str, list[bool]] = {}
    for master in MASTERS:
        chapter = master.stem[:2]
        for name, options, answer in multiple_choice(master):
            assert len(options) >= 3 and answer in options, (master.stem, name, answer)
            longest = len(options[answer]) == max(len(o) for o in options.values())
            by_chapter.setdefault(chapter, []).append(longest)
    assert sum(len(v) for v in by_chapter.values()) >= 10  # the parser finds the questions
    giveaways = {c: f"{sum(v)} of {len(v)}" for c, v in by_chapter.items() if sum(v) > len(v) / 2}
    assert not giveaways, giveaways


def test_every_chapter_has_a_written_question():
    """Each chapter's assignments hold at least one question graded by hand (a threat model or
    an argument about an adaptive attacker), worth points."""
    written: dict[str, int] = {}
    for master in MASTERS:
        for name, q in questions(master).items():
            if q["manual"]:
                assert q["points"] > 0, (master.stem, name)
                written[master.stem[:2]] = written.get(master.stem[:2], 0) + 1
    assert sorted(written) == sorted({m.stem[:2] for m in MASTERS})


def library_methods(master: Path) -> set[str]:
    """The names ``master`` imports from ``sslsec.attacks`` or ``sslsec.defenses``."""
    code = "\n".join(c.source for c in nbformat.read(master, as_version=4).cells
                     if c.cell_type == "code")
    names = set()
    for found in re.finditer(r"from sslsec\.(?:attacks|defenses)[\w.]* import \(?([^\n)]+)",
                             code):
        names |= {n.split(" as ")[-1].strip() for n in found.group(1).split(",")}
    return names


def solution_functions(master: Path) -> dict[str, set[str]]:
    """Each function defined in a solution cell of ``master``: the plain lower-case names it
    calls (functions; a class it builds, such as the decoder it trains, is a building block)."""
    found = {}
    for cell in nbformat.read(master, as_version=4).cells:
        if cell.cell_type != "code" or "# BEGIN SOLUTION" not in cell.source:
            continue
        for node in ast.parse(cell.source).body:  # the markers are comments
            if isinstance(node, ast.FunctionDef):
                found[node.name] = {n.func.id for n in ast.walk(node)
                                    if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
                                    and n.func.id[:1].islower()}
    return found


@pytest.mark.parametrize("master", MASTERS, ids=lambda p: p.stem)
def test_the_student_writes_the_core_instead_of_calling_it(master):
    """Each assignment has the student write at least one function, and none of the functions
    the student writes calls the library's attacks or defences: the core is the student's."""
    functions, library = solution_functions(master), library_methods(master)
    assert functions, f"{master.stem}: no function for the student to write"
    calls = {name: sorted(called & library) for name, called in functions.items()
             if called & library}
    assert not calls, f"{master.stem}: the student's functions call the library: {calls}"
