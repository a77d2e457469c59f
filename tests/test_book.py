"""``make book`` builds the site of the reader's own run and leaves ``chapters/`` untouched."""

from pathlib import Path

import nbformat

from sslsec import run


def test_stage_book_takes_the_run_and_leaves_chapters_alone(tmp_path):
    chapter = run.chapter_paths()[0]
    stored = chapter.read_bytes()
    executed = tmp_path / "executed"
    executed.mkdir()
    nb = nbformat.read(chapter, as_version=4)
    nb.metadata["papermill"] = {"start_time": "2026-12-01"}
    nb.cells[0].source = "# a reader's run"
    nbformat.write(nb, executed / chapter.name)
    fresh = run.stage_book(tmp_path / "reader", executed)
    assert fresh == [chapter.stem]
    staged = nbformat.read(tmp_path / "reader" / "chapters" / chapter.name, as_version=4)
    assert staged.cells[0].source == "# a reader's run" and "papermill" not in staged.metadata
    assert chapter.read_bytes() == stored  # the committed notebook is untouched
    others = [p.name for p in run.chapter_paths()[1:]]
    assert all((tmp_path / "reader" / "chapters" / name).exists() for name in others)
    for name in ("_toc.yml", "jupyter-book.yml", "chapters/intro.md"):
        assert (tmp_path / "reader" / name).exists()


def test_pages_workflow_builds_what_make_site_builds():
    """The GitHub Pages workflow runs `make site` (stored outputs, nothing executed) and
    publishes the folder that target writes."""
    import re

    import yaml

    root = Path(__file__).resolve().parents[1]
    workflow = yaml.safe_load((root / ".github" / "workflows" / "pages.yml").read_text())
    steps = [s for job in workflow["jobs"].values() for s in job.get("steps", [])]
    runs = [s["run"].strip() for s in steps if "run" in s]
    assert runs == ["make site"]
    uploads = [s for s in steps if s.get("uses", "").startswith("actions/upload-pages-artifact")]
    assert [s["with"]["path"] for s in uploads] == ["_build/html"]
    assert any(s.get("uses", "").startswith("actions/deploy-pages") for s in steps)
    makefile = (root / "Makefile").read_text()
    recipe = re.search(r"^site:.*\n\t(.+)$", makefile, re.M).group(1)
    assert recipe.startswith("$(JB)")
    jb = re.search(r"^JB\s*:=\s*(.+)$", makefile, re.M).group(1)
    assert "build ." in jb and "sslsec run" not in makefile.split("\nsite:")[1].split("\n\n")[0]
    config = yaml.safe_load((root / "jupyter-book.yml").read_text())
    assert config["execute"]["execute_notebooks"] == "off"
