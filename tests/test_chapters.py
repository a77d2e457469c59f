"""Chapter notebooks: structure of the committed files, and execution through the runner."""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from sslsec import run

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = run.chapter_paths()
SECTIONS = ["learning goals", "threat model", "opportunities and challenges",
            "what this chapter shows", "exercises", "references"]


def test_chapters_exist():
    assert [p.stem[:2] for p in CHAPTERS][:1] == ["00"]


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_committed_notebook_is_clean(path):
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert "parameters" in code[0].metadata.get("tags", []), "first code cell must be parameters"
    params = dict(re.findall(r"^(\w+) = (.+?)(?:\s+#.*)?$", code[0].source, re.M))
    assert params == {"PROFILE": '"laptop"', "SEED": "0", "DEVICE": '"auto"'}
    assert "papermill" not in nb.metadata
    assert not any("injected-parameters" in c.metadata.get("tags", []) for c in nb.cells)
    assert all("execution" not in c.metadata and "papermill" not in c.metadata for c in code)
    assert any(c.outputs for c in code), "stored outputs are missing (run `make chapters`)"
    outputs = json.dumps([c.outputs for c in code])
    assert not any(o.output_type == "error" for c in code for o in c.outputs)
    assert not re.search(r"/(work|root|tmp|home|Users)/", outputs), "an absolute path is stored"
    assert not re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d", json.dumps(nb)), "a timestamp is stored"
    assert sum("image/png" in o.get("data", {}) for c in code for o in c.outputs) >= 2
    checks = [c for c in code if "chapter.check(metrics, PROFILE)" in c.source]
    assert len(checks) == 1, "one cell checks the chapter's claims"
    claims_cell = checks[0]
    assert claims_cell.source.rstrip().splitlines()[-1] == "chapter.check(metrics, PROFILE)", \
        "the claims cell ends with chapter.check(metrics, PROFILE), which shows the table"
    assert {"hide-input", "nbval-check-output"} <= set(claims_cell.metadata.get("tags", []))
    assert any("text/markdown" in o.get("data", {}) for o in claims_cell.outputs)
    assert "NBVAL" not in json.dumps(nb), "mark checked cells with the nbval-check-output tag"
    text = " ".join(c.source.lower() for c in nb.cells if c.cell_type == "markdown")
    for section in SECTIONS:
        assert section in text, f"section {section!r} is missing"
    assert any("solution" in c.metadata.get("tags", []) for c in code), "no tagged solution"
    for c in code:  # solutions are collapsed on the site
        if "solution" in c.metadata.get("tags", []):
            assert "hide-cell" in c.metadata["tags"], f"solution not collapsed: {c.source[:40]}"
    for c in nb.cells:
        if c.cell_type == "markdown" and "*Solution to exercise" in c.source:
            assert c.source.startswith(":::{admonition}") and ":class: dropdown" in c.source, \
                f"written solution not collapsed: {c.source[:40]}"


def test_strip_removes_papermill_traces():
    nb = nbformat.v4.new_notebook()
    nb.metadata["papermill"] = {"duration": 1.0}
    params = nbformat.v4.new_code_cell("PROFILE = 'smoke'")
    params.metadata["tags"] = ["injected-parameters"]
    cell = nbformat.v4.new_code_cell("print(1)", execution_count=7)
    cell.metadata["papermill"] = {"start_time": "2026-01-01T00:00:00"}
    cell.metadata["execution"] = {"iopub.status.busy": "2026-01-01T00:00:00"}
    nb.cells = [params, cell]
    out = run.strip(nb)
    assert "papermill" not in out.metadata and len(out.cells) == 1
    assert out.cells[0].metadata == {} and out.cells[0].execution_count == 1


def test_select_chapters():
    assert run.select("0") == run.select("00") == run.select("00_foundations") == CHAPTERS[:1]
    assert run.select("all") == CHAPTERS
    with pytest.raises(ValueError, match="chapter='99'.*allowed: all"):
        run.select("99")


def _notebook(path: Path, *sources: str) -> Path:
    """A chapter-shaped notebook (a parameters cell, then ``sources``) written to ``path``."""
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('PROFILE = "laptop"\nSEED = 0\nDEVICE = "auto"')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, *map(nbformat.v4.new_code_cell, sources)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, path)
    return path


def test_failing_cell_names_chapter_and_cell(tmp_path):
    path = _notebook(tmp_path / "99_broken.ipynb", "x = 1",
                     "raise RuntimeError('the phenomenon vanished')")
    with pytest.raises(run.ChapterFailed, match=r"99_broken failed in cell \d.*vanished"):
        run.run_chapter(path, "smoke", build_dir=tmp_path / "_build")


def test_a_results_file_of_another_seed_is_refused(tmp_path):
    """Two runs that shared one process's environment once swapped their results folders: the
    runner refuses results that name another seed than the one it ran."""
    path = _notebook(tmp_path / "96_swapped.ipynb", "from sslsec.claims import save_results\n"
                     "save_results('96_swapped', {'m': 1.0}, PROFILE, SEED + 1)")
    with pytest.raises(run.ChapterFailed, match="seed 1, not of this run .*seed 0"):
        run.run_chapter(path, "smoke", build_dir=tmp_path / "_build")


def test_the_runner_waits_for_replies_in_short_polls(tmp_path, monkeypatch):
    """The chapter runner's kernel client polls its sockets at most a second at a time, so a
    wake-up its event loop misses (jupyter/nbclient#312) costs a second, not the run."""
    from jupyter_client.channels import AsyncZMQSocketChannel

    waits: list[float | None] = []
    poll = AsyncZMQSocketChannel.get_msg

    async def recorded(self, timeout=None):
        waits.append(timeout)
        return await poll(self, timeout=timeout)

    monkeypatch.setattr(AsyncZMQSocketChannel, "get_msg", recorded)
    path = _notebook(tmp_path / "97_slow.ipynb", "import time\ntime.sleep(2.5)\nprint('done')")
    run.run_chapter(path, "smoke", build_dir=tmp_path / "_build")
    executed = nbformat.read(tmp_path / "_build" / "executed" / path.name, as_version=4)
    assert executed.cells[-1].outputs[0]["text"] == "done\n"
    assert waits and all(w is not None and w <= 1.0 for w in waits), waits
    assert sum(w == 1.0 for w in waits) >= 2  # the 2.5-second cell took several polls


def test_a_stuck_smoke_cell_fails_the_chapter_instead_of_hanging(tmp_path, monkeypatch):
    """A smoke cell that outlives the profile's cell limit fails its chapter, naming it; the
    kernel talks over its own Unix sockets, not TCP ports two kernels could both be handed."""
    monkeypatch.setitem(run.CELL_TIMEOUT_S, "smoke", 3)
    first, second = run._kernel_config().KernelManager, run._kernel_config().KernelManager
    assert first.transport == second.transport == "ipc" and first.ip != second.ip
    path = _notebook(tmp_path / "98_stuck.ipynb", "import time\ntime.sleep(60)")
    with pytest.raises(run.ChapterFailed, match="98_stuck timed out.*smoke"):
        run.run_chapter(path, "smoke", build_dir=tmp_path / "_build")
    assert "laptop" not in run.CELL_TIMEOUT_S  # a laptop cell may train for minutes


def test_nbval_kernels_talk_over_sockets_of_their_own(tmp_path):
    """nbval, run on a notebook of this repository (the root conftest.py applies), starts its
    kernel on Unix sockets of its own, not on TCP ports another worker's kernel may be handed."""
    probe = ROOT / "_build" / f"nbval-probe-{tmp_path.name}"
    probe.mkdir(parents=True, exist_ok=True)
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell(
        "import json, ipykernel\n"
        "print(json.load(open(ipykernel.get_connection_file()))['transport'])",
        execution_count=1, outputs=[nbformat.v4.new_output("stream", name="stdout",
                                                           text="ipc\n")])
    nb.cells = [cell]
    nbformat.write(nb, probe / "transport.ipynb")
    try:
        proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                               "--nbval", "--nbval-current-env", str(probe / "transport.ipynb")],
                              cwd=ROOT, capture_output=True, text=True, timeout=300)
    finally:
        shutil.rmtree(probe)
    assert proc.returncode == 0 and "1 passed" in proc.stdout, proc.stdout[-3000:]


def _run_all(profile: str, tmp_path: Path, minutes: int, **env: str) -> str:
    """``python -m sslsec run all --profile <profile> --jobs 2`` with a cache of its own: every
    chapter leaves an executed notebook and its results within ``minutes``; returns what it
    printed."""
    env = {**os.environ, "SSLSEC_CACHE": str(tmp_path / "cache"), **env}
    proc = subprocess.run([sys.executable, "-m", "sslsec", "run", "all", "--profile", profile,
                           "--jobs", "2"], cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=60 * minutes)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for path in CHAPTERS:
        result = json.loads((ROOT / "_build" / "results" / f"{path.stem}.json").read_text())
        assert result["profile"] == profile and result["metrics"]
        assert (ROOT / "_build" / "executed" / path.name).exists()
        assert path.stem in proc.stdout
    assert "peak MB" in proc.stdout
    return proc.stdout


@pytest.mark.smokerun
def test_every_chapter_runs_in_the_smoke_profile(tmp_path):
    """``python -m sslsec run all --profile smoke --jobs 2``: executed notebooks, results, a
    table (two chapters at a time, one thread each)."""
    _run_all("smoke", tmp_path, 15)


@pytest.mark.serial
@pytest.mark.papersmoke
@pytest.mark.timeout(25 * 60)
def test_every_chapter_runs_in_the_papersmoke_profile(tmp_path):
    """The same in the papersmoke profile, on stand-in files written in each dataset's own
    on-disk format: the paper profile's datasets, ResNet-18 (at an eighth of its width) and colour
    32×32 images, at smoke sizes."""
    from sslsec.standin import write_standins

    _run_all("papersmoke", tmp_path, 20, SSLSEC_DATA=str(write_standins(tmp_path / "data")))


def test_parallel_runs_cannot_store_and_need_a_positive_count():
    with pytest.raises(ValueError, match="store=True needs jobs=1"):
        run.run_chapters(CHAPTERS[:1], "laptop", jobs=2, store=True)
    with pytest.raises(ValueError, match="jobs=0"):
        run.run_chapters(CHAPTERS[:1], "smoke", jobs=0)
    with pytest.raises(SystemExit):
        run.main(["run", "00", "--jobs", "2", "--store"])


READER_WORDS = re.compile(r"\bissues?\b|\bCI\b|NBVAL|\bthe bar\b|'s bar\b", re.IGNORECASE)


@pytest.mark.parametrize("path", CHAPTERS + sorted((ROOT / "assignments").glob("*.ipynb"))
                         + sorted((ROOT / "chapters").glob("*.md")), ids=lambda p: p.name)
def test_words_are_for_readers(path):
    """Readers never meet our tracker's words: no "issue", "bar", "CI" or nbval markers in
    the text, the code or the printed outputs of a chapter, an assignment or a site page."""
    if path.suffix == ".md":
        texts = [path.read_text()]
    else:
        nb = nbformat.read(path, as_version=4)
        texts = [c.source for c in nb.cells]
        texts += [o.get("text", "") + o.get("data", {}).get("text/markdown", "")
                  + o.get("data", {}).get("text/plain", "")
                  for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    found = [m.group(0) for t in texts for m in READER_WORDS.finditer(t)]
    assert not found, f"{path.name}: {found}"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_the_opening_is_short_and_shows_no_result_yet(path):
    """The first markdown cell, under the title, is at most 150 words (whitespace-separated
    tokens) and quotes no result of the run: no glued value, since nothing has run yet."""
    first = nbformat.read(path, as_version=4).cells[0]
    title, _, opening = first.source.partition("\n")
    assert first.cell_type == "markdown" and title.startswith("# ")
    assert len(opening.split()) <= 150, f"{path.stem}: the opening has {len(opening.split())} words"
    assert "{glue" not in opening


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_the_main_path_fits_the_prose_budget(path):
    """At most 3,000 words of markdown prose a reader meets without opening a collapsed block
    (equations and code not counted): what a student can skip sits in dropdowns."""
    from sslsec.pages import prose_words

    assert prose_words(path) <= 3000, f"{path.stem}: {prose_words(path)} words of open prose"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_the_chapter_shows_its_schematic_before_any_result(path):
    """Each chapter shows its drawn schematic (chapters/figures/, tools/draw_schematics.py) as a
    figure, before the first code cell that computes anything (after the imports)."""
    cells = nbformat.read(path, as_version=4).cells
    shown = [i for i, c in enumerate(cells) if c.cell_type == "markdown"
             and f"```{{figure}} figures/{path.stem}.svg" in c.source]
    assert len(shown) == 1, f"{path.stem} does not show figures/{path.stem}.svg once"
    assert (ROOT / "chapters" / "figures" / f"{path.stem}.svg").exists()
    code = [i for i, c in enumerate(cells) if c.cell_type == "code"
            and "parameters" not in c.metadata.get("tags", [])]
    assert shown[0] < code[1], "the schematic comes before the chapter computes anything"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_nbval_leaves_the_solutions_to_the_other_runs(path):
    """`make test`'s nbval does not re-run the exercise solutions in the laptop profile (their
    values are never compared): every code cell from the first solution on is tagged
    nbval-skip. The papersmoke run executes them, and `make book` shows them."""
    code = [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
    first = next(i for i, c in enumerate(code) if "solution" in c.metadata.get("tags", []))
    assert not any("nbval-skip" in c.metadata.get("tags", []) for c in code[:first])
    unskipped = [i for i, c in enumerate(code[first:], first)
                 if "nbval-skip" not in c.metadata.get("tags", [])]
    assert not unskipped, f"code cells {unskipped} would be re-run by nbval"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_exercises_ask_for_more_than_running_code(path):
    """At least four exercises per chapter, one of them about an adaptive attacker, defender
    or trainer, and the written solutions in a collapsed dropdown."""
    cells = nbformat.read(path, as_version=4).cells
    text = "\n".join(c.source for c in cells if c.cell_type == "markdown")
    kinds = re.findall(r"\*\*Exercise \d+ \(([^)]+)\)\.\*\*", text)
    assert len(kinds) >= 4, kinds
    assert any("adaptive" in k for k in kinds), kinds
    solutions = [c.source for c in cells if c.source.startswith(
        ":::{admonition} Solutions, written out")]
    assert solutions and all(":class: dropdown" in s for s in solutions)


PROBLEM_CHAPTERS = [p for p in CHAPTERS if not p.stem.startswith("00")]


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_the_idea_is_on_the_page_and_checked_against_the_library(path):
    """Every chapter writes its method's core in the notebook (a function of at most 15 lines
    after an equation; chapter 00: kNN on cosine similarity), and a checked cell asserts it
    equals the library's."""
    cells = nbformat.read(path, as_version=4).cells
    cores = [i for i, c in enumerate(cells) if c.cell_type == "code"
             and re.match(r"def page_\w+\(", c.source)]
    assert cores, f"{path.name}: no page_… function (the method's core on the page)"
    for i in cores:
        for node in ast.parse(cells[i].source).body:
            if isinstance(node, ast.FunctionDef):
                lines = node.end_lineno - node.lineno  # the body, without the def line
                assert lines <= 15, f"{path.name}: {node.name} runs over 15 lines ({lines})"
    before = "\n".join(c.source for c in cells[:cores[0]] if c.cell_type == "markdown")
    assert "$$" in before, f"{path.name}: no displayed equation before the core"
    checks = [c for c in cells[cores[0]:] if c.cell_type == "code"
              and "torch.testing.assert_close" in c.source and "page_" in c.source]
    assert checks and all("nbval-check-output" in c.metadata.get("tags", []) for c in checks)


@pytest.mark.parametrize("path", PROBLEM_CHAPTERS, ids=lambda p: p.stem)
def test_every_problem_chapter_has_a_dial_with_a_static_figure(path):
    """One ipywidgets explorer over results computed earlier (never a training call in it),
    under a "dial" heading whose text points at the static figure of the same sweep."""
    cells = nbformat.read(path, as_version=4).cells
    dials = [i for i, c in enumerate(cells) if c.cell_type == "code"
             and re.search(r"\bviz\.\w*dial\(", c.source)]
    assert dials, f"{path.name}: no viz.dial explorer"
    i = dials[0]
    heading = next(c.source for c in reversed(cells[:i]) if c.cell_type == "markdown")
    assert "dial" in heading.lower() and "figure" in heading, heading[:200]
    assert not re.search(r"\b(pretrain|train_or_load|steal_encoder|badencoder)\(",
                         cells[i].source), "the dial must not train"


def _code_lines(source: str) -> int:
    """The lines of a cell that are neither blank nor comment-only."""
    return sum(1 for line in source.splitlines()
               if line.strip() and not line.strip().startswith("#"))


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_long_figure_code_lives_in_viz(path):
    """A figure cell (a code cell whose stored outputs hold a PNG) runs at most 15 lines that
    are neither blank nor comments: longer plotting code goes into ``sslsec.viz``. Exercise
    solutions (tagged ``solution``) are exempt."""
    cells = nbformat.read(path, as_version=4).cells
    long = [f"cell {i} ({_code_lines(c.source)} lines)" for i, c in enumerate(cells)
            if c.cell_type == "code" and "solution" not in c.metadata.get("tags", [])
            and any("image/png" in o.get("data", {}) for o in c.outputs)
            and _code_lines(c.source) > 15]
    assert not long, (f"{path.name}: figure cells over 15 lines (move the plotting into "
                      f"sslsec.viz): {', '.join(long)}")
