"""A chapter's claims across seeds: the committed files and how they are read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sslsec import seeds
from sslsec.chapters import CHAPTERS, ch00_foundations
from sslsec.run import main

GOOD = {"linear_probe_first_task": 0.96, "linear_probe_second_task": 0.95,
        "probe_gain_over_random": 0.04, "mlp_probe_first_task": 0.96, "knn_gain_over_random": 0.1}
ROOT = Path(__file__).resolve().parents[1]


def test_record_then_read_gives_each_claims_spread_and_worst_margin(tmp_path):
    for seed, first in ((0, 0.96), (1, 0.945), (2, 0.97)):
        seeds.record("00_foundations", seed, {**GOOD, "linear_probe_first_task": first}, 10.0,
                     "python -m sslsec seeds 00 --seeds 0 1 2", folder=tmp_path)
    over = seeds.across_seeds("00_foundations", tmp_path)
    assert over.seeds == (0, 1, 2) and len(over.claims) == len(ch00_foundations.CLAIMS)
    first = over.get("linear_probe_first_task")
    assert first.worst_seed == 1 and first.margin == pytest.approx(0.945 - 0.94)
    assert first.holds
    table = over.table()
    assert table.loc["linear_probe_first_task", "min"] == 0.945
    assert table.loc["linear_probe_first_task", "median"] == 0.96
    assert table.loc["linear_probe_first_task", "worst seed"] == 1
    run = json.loads(seeds.seeds_path("00_foundations", tmp_path).read_text())["runs"][0]
    assert {"command", "date", "processor", "seconds", "metrics"} <= set(run)
    assert run["processor"]["cpu_capability"]


def test_a_seed_run_again_replaces_its_record_and_a_failure_shows(tmp_path):
    seeds.record("00_foundations", 3, GOOD, 1.0, "c", folder=tmp_path)
    over = seeds.across_seeds("00_foundations", tmp_path)
    assert over.verdict() == "every checked claim holds at every seed"
    seeds.record("00_foundations", 3, {**GOOD, "linear_probe_first_task": 0.9}, 1.0, "c",
                 folder=tmp_path)
    over = seeds.across_seeds("00_foundations", tmp_path)
    first = over.get("linear_probe_first_task")
    assert first.values == {3: 0.9} and first.margin < 0 and first.holds is False
    assert over.verdict() == ("these claims fail at their worst seed: "
                              "`linear_probe_first_task` (worst at seed 3, margin -0.040)")


def test_the_dropdown_glues_the_table_the_verdict_and_each_spread(tmp_path, monkeypatch):
    for seed, gain in ((0, 0.04), (1, 0.07)):
        seeds.record("00_foundations", seed, {**GOOD, "probe_gain_over_random": gain}, 1.0,
                     folder=tmp_path)
    over = seeds.across_seeds("00_foundations", tmp_path)
    assert over.spread("probe_gain_over_random", 100) == pytest.approx((4.0, 7.0))
    glued = {}
    monkeypatch.setattr("sslsec.pages.glue_values", lambda **values: glued.update(values))
    over.glue(gain_pct=("probe_gain_over_random", 100), first="linear_probe_first_task")
    assert glued["across_seeds_list"] == "0, 1" and glued["gain_pct_hi"] == pytest.approx(7.0)
    assert glued["first_lo"] == glued["first_hi"] == 0.96
    assert glued["across_seeds_table"].shape[0] == len(ch00_foundations.CLAIMS)


def test_bad_input_is_refused_with_a_clear_message(tmp_path):
    with pytest.raises(ValueError, match="no metrics to record"):
        seeds.record("00_foundations", 0, {}, 1.0, folder=tmp_path)
    seeds.record("00_foundations", 0, GOOD, 1.0, folder=tmp_path)
    with pytest.raises(ValueError, match="holds the laptop profile, not paper"):
        seeds.record("00_foundations", 1, GOOD, 1.0, profile="paper", folder=tmp_path)
    with pytest.raises(FileNotFoundError, match="python -m sslsec seeds 01 --seeds"):
        seeds.across_seeds("01_data_tracing", tmp_path)
    with pytest.raises(ValueError, match="chapter='99_x' is unknown"):
        seeds.across_seeds("99_x", tmp_path)
    with pytest.raises(SystemExit):
        main(["seeds", "99", "--seeds", "0"])


SEEDS_FILES = sorted(seeds.SEEDS_DIR.glob("*.json"))


@pytest.mark.parametrize("path", SEEDS_FILES, ids=lambda p: p.stem)
def test_each_committed_seeds_file_has_three_seeds_and_says_how_it_was_made(path):
    data = json.loads(path.read_text())
    assert path.stem in CHAPTERS and data["profile"] == "laptop"
    assert len({run["seed"] for run in data["runs"]}) >= 3
    for run in data["runs"]:
        assert run["command"].startswith("python -m sslsec seeds ")
        assert run["date"] and run["processor"]["cpu"] and run["metrics"]


def test_a_chapter_shows_its_seeds_file_exactly_when_it_has_one():
    for notebook in sorted((ROOT / "chapters").glob("[0-9][0-9]_*.ipynb")):
        text = "".join("".join(c["source"]) for c in json.loads(notebook.read_text())["cells"]
                       if c["cell_type"] == "markdown")
        shows = ":::{dropdown} Across seeds" in text
        has = seeds.seeds_path(notebook.stem).exists()
        assert shows == has, (f"{notebook.stem}: " + ("has a seeds file but no 'Across seeds' "
                              "dropdown" if has else "an 'Across seeds' dropdown, no seeds file"))
