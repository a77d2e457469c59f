"""The benchmark scripts run (at tiny sizes here; their numbers are measured, not tested), and
``benchmarks/README.md`` holds their measurements in one table that ``benchmarks/table.py``
reads and regenerates."""

from __future__ import annotations

import datetime
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


def _module(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_paper_throughput_measures_resnet18_on_cifar_shaped_images():
    result = _module("paper_throughput").measure("cpu", batch_size=4, steps=1, repeats=1)
    assert result["images_per_s"] > 0 and result["peak_memory_gib"] > 0
    assert result["batch_size"] == 4 and len(result["repeats_s"]) == 1


@pytest.mark.skipif(torch.cuda.is_available(), reason="on a GPU the script runs for minutes")
def test_paper_gpu_script_parses_and_says_when_there_is_no_gpu(tmp_path):
    script = ROOT / "benchmarks" / "paper_gpu.sh"
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
    done = subprocess.run(["bash", str(script), str(tmp_path / "out")], capture_output=True,
                          text=True, env={"PY": sys.executable, "PATH": "/usr/bin:/bin"})
    assert done.returncode == 2 and "no CUDA GPU" in done.stderr


def test_tracing_levers_trains_one_trainer_and_audits_it(tmp_path, monkeypatch):
    monkeypatch.setenv("SSLSEC_CACHE", str(tmp_path))
    result = _module("tracing_levers").measure(share=1.0, epochs=1, arch="cnn28-w24")
    assert result["image_passes"] == 256 and result["train_s"] > 0
    assert result["arch"] == "cnn28-w24"
    for key in ("membership_calibrated_p", "membership_raw_p", "dov4cl_p", "marking_p"):
        assert 0 < result[key] <= 1, key


def test_membership_levers_trains_a_victim_and_a_shadow_and_attacks_both_outputs(
        tmp_path, monkeypatch):
    monkeypatch.setenv("SSLSEC_CACHE", str(tmp_path))
    result = _module("membership_levers").measure(members=16, epochs=1, views=3)
    assert result["members"] == 16 and result["epochs"] == 1
    for key in ("features_auc", "head_auc", "features_tpr_at_1pct_fpr"):
        assert 0 <= result[key] <= 1, key


def test_caption_poisoning_sweeps_the_rates_on_a_seed(tmp_path, monkeypatch):
    monkeypatch.setenv("SSLSEC_CACHE", str(tmp_path))
    rows = _module("caption_poisoning").measure(1, [0.05], epochs=1, profile_name="smoke")
    assert [row["rate"] for row in rows] == [0.0, 0.05] and rows[1]["per_target"] > 0
    for row in rows:
        for key in ("zero_shot_success", "probe_success", "zero_shot_accuracy", "probe_accuracy"):
            assert 0 <= row[key] <= 1, key


def test_every_script_is_described_and_the_shell_script_is_executable():
    text = (ROOT / "benchmarks" / "README.md").read_text()
    scripts = sorted(p.name for p in (ROOT / "benchmarks").iterdir() if p.suffix in (".py", ".sh"))
    assert scripts and all(f"**`{name}`**" in text for name in scripts), scripts
    for script in (ROOT / "benchmarks").glob("*.sh"):
        assert os.access(script, os.X_OK), f"{script.name} is not executable"


def test_the_measurements_table_has_one_latest_row_per_figure():
    table = _module("table")
    text = (ROOT / "benchmarks" / "README.md").read_text()
    rows = table.read_table(text)  # the five columns, every cell filled
    names = [row[0] for row in rows]
    assert len(names) == len(set(names)), "a figure measured twice: keep the latest only"
    assert all(row[4].startswith("`") for row in rows), "each row names its command"
    (make_test,) = [row for row in rows if row[4] == "`make test`"]
    assert " min " in make_test[1] and make_test[3][:4].isdigit()
    # what `table.py` prints is the table as it stands in the README
    assert table.format_table(rows) in text


def _write(path: Path, content, day: datetime.datetime) -> Path:
    path.write_text(json.dumps(content))
    os.utime(path, (day.timestamp(), day.timestamp()))
    return path


def test_table_rows_come_from_the_result_files_the_scripts_write(tmp_path, capsys):
    """Result files holding the recorded values give back the recorded rows, with the file's
    date and the processor; a GPU file adds its row; the rest of the README is untouched."""
    table = _module("table")
    readme = tmp_path / "README.md"
    original = (ROOT / "benchmarks" / "README.md").read_text()
    readme.write_text(original)
    before = table.read_table(original)
    day = datetime.datetime(2027, 1, 5, 12)
    laptop = _write(tmp_path / "laptop.json", [
        {"seed": seed, "pretrain_wall_s": wall, "pretrain_train_s": wall - 1, "cache_load_s": load,
         "linear_probe_mnist5k": mnist, "linear_probe_digits": digits}
        for seed, wall, load, mnist, digits in ((0, 27.2, 0.091, 0.963, 0.975),
                                                (1, 29.8, 0.1, 0.961, 0.964),
                                                (2, 28.4, 0.095, 0.963, 0.983))], day)
    rates = {"sslsec": 3778.2, "tutorial": 1144.1}
    throughput = _write(tmp_path / "w0.json", {
        "num_workers": 0, "images_per_s": rates, "ratio": rates["sslsec"] / rates["tutorial"],
        "views_only": {"images_per_s": {"sslsec": 9e4, "tutorial": 1.25e4}, "ratio": 7.2}}, day)
    gpu = _write(tmp_path / "throughput.json", {
        "device": "NVIDIA H100 80GB HBM3", "batch_size": 512, "steps": 20,
        "images_per_s": 12345.6, "seconds_per_epoch_50k": 4.1, "peak_memory_gib": 3.21,
        "repeats_s": [0.83]}, day)
    assert table.main([str(laptop), str(throughput), str(gpu), "--processor", "Test CPU",
                       "--readme", str(readme), "--write"]) == 0
    after = table.read_table(readme.read_text())
    assert [row[0] for row in after[:len(before)]] == [row[0] for row in before]
    changed = [(old, new) for old, new in zip(before, after, strict=False) if old != new]
    assert len(changed) == 6  # four laptop-encoder rows, two throughput rows (0 workers)
    for old, new in changed:
        assert new[1] == old[1] and new[4] == old[4], (old, new)  # same figure, same command
        assert new[2:4] == ("Test CPU", "2027-01-05")
    (added,) = after[len(before):]
    assert added[1:4] == ("12,346 images/s, peak memory 3.21 GiB", "NVIDIA H100 80GB HBM3",
                          "2027-01-05")
    assert "--device cuda --batch-size 512" in added[4]
    outside = original.split(table.BEGIN)[0], original.split(table.END)[1]
    assert readme.read_text().startswith(outside[0]) and readme.read_text().endswith(outside[1])
    # a file that no script writes is refused, and the README is left as it is
    stray = _write(tmp_path / "stray.json", {"loss": [1.0]}, day)
    written = readme.read_text()
    assert table.main([str(stray), "--readme", str(readme), "--write"]) == 1
    assert readme.read_text() == written and "not a result file" in capsys.readouterr().err
