"""``make book`` builds the site of the reader's own run and leaves ``chapters/`` untouched."""

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
