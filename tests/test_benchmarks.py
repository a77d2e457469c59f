"""The benchmark scripts run (at tiny sizes here; their numbers are measured, not tested)."""

from __future__ import annotations

import importlib.util
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
