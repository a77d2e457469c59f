"""Stored chapter outputs hold on other hardware.

The stored outputs come from a 2-thread run on an AVX512-BF16 CPU. Here nbval re-runs chapters
whose checked cells carry numbers in a configuration that differs from that run in every way
that changed numbers before: one thread, bf16 autocast off, an empty encoder cache (the shipped
encoders still load, as on a reader's fresh clone; the rest are trained here) and kernels
restricted to AVX2, as on a CPU without AVX-512.

Chapter 00 checks counts, shapes and a claims table of measured values; chapter 05 trains its
encoders afresh and checks values fixed by its settings (marked †) and digit counts.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SANITIZE = ROOT / "tests" / "nbval_sanitize.cfg"
CHAPTERS = ["00_foundations", "05_hyperparameter_stealing"]
ELSEWHERE = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "SSLSEC_BF16": "0",
             "ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2",
             "MKL_ENABLE_INSTRUCTIONS": "AVX2", "SSLSEC_PROGRESS": "0"}


def other_hardware_env(cache: Path) -> dict[str, str]:
    return {**os.environ, **ELSEWHERE, "SSLSEC_CACHE": str(cache)}


def test_the_configuration_really_differs(tmp_path):
    """Threads, kernels and bf16 all differ from what made the stored outputs (on a machine
    without AVX-512 the kernels already do)."""
    probe = ("from sslsec import zoo; h = zoo.hardware(); "
             "print(h['cpu_capability'], h['bf16'], h['threads'])")
    out = subprocess.run([sys.executable, "-c", probe], env=other_hardware_env(tmp_path),
                         capture_output=True, text=True, check=True).stdout.split()
    assert out == ["AVX2", "False", "1"] or out[0] == "DEFAULT"
    from sslsec import zoo

    made_on = zoo.read_made_on(zoo.SHIPPED_DIR)
    assert made_on is not None
    assert (made_on["threads"], made_on["bf16"]) != (out[2], out[1])


@pytest.mark.slow
def test_stored_outputs_hold_on_other_hardware(tmp_path):
    paths = [str(ROOT / "chapters" / f"{name}.ipynb") for name in CHAPTERS]
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval-lax",
           "--nbval-current-env", f"--nbval-sanitize-with={SANITIZE}", *paths]
    proc = subprocess.run(cmd, cwd=ROOT, env=other_hardware_env(tmp_path / "cache"),
                          capture_output=True, text=True, timeout=60 * 15)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout and "failed" not in proc.stdout


def test_make_test_leaves_out_only_the_chapters_run_here():
    """`make test`'s own nbval pass skips exactly the chapters this module re-runs, so every
    chapter is compared once."""
    line = next(line for line in (ROOT / "Makefile").read_text().splitlines()
                if line.startswith("CROSS_HARDWARE :="))
    left_out = sorted(Path(p).stem for p in line.split(":=", 1)[1].split())
    assert left_out == sorted(CHAPTERS)
