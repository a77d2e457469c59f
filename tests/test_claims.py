import json
import math

import pytest

from sslsec import claims

GOOD = {"linear_probe_mnist": 0.96, "linear_probe_digits": 0.95, "probe_gain_over_random": 0.04,
        "mlp_probe_mnist": 0.96, "knn_gain_over_random": 0.1}


def test_laptop_thresholds_hold_and_fail_readably():
    lines = claims.check("00_foundations", GOOD, "laptop")
    assert len(lines) == len(claims.CLAIMS["00_foundations"])
    with pytest.raises(claims.ClaimError, match=r"linear_probe_mnist = 0.5, expected >= 0.94"):
        claims.check("00_foundations", {**GOOD, "linear_probe_mnist": 0.5}, "laptop")


def test_smoke_only_needs_finite_metrics():
    weak = {k: 0.1 for k in GOOD}
    assert claims.check("00_foundations", weak, "smoke")
    with pytest.raises(claims.ClaimError, match="missing or not a finite number"):
        claims.check("00_foundations", {**weak, "mlp_probe_mnist": math.nan}, "smoke")
    with pytest.raises(claims.ClaimError, match="linear_probe_digits: missing"):
        claims.check("00_foundations", {"linear_probe_mnist": 0.1}, "smoke")


def test_unknown_chapter_or_profile():
    with pytest.raises(ValueError, match="chapter='99_x'"):
        claims.check("99_x", GOOD, "laptop")
    with pytest.raises(ValueError, match="profile='desktop'"):
        claims.check("00_foundations", GOOD, "desktop")


def test_save_results_writes_metrics_and_peak_memory(tmp_path):
    path = claims.save_results("00_foundations", {"a": 0.1234567891}, "smoke", 3, tmp_path)
    payload = json.loads(path.read_text())
    assert payload["metrics"] == {"a": 0.123457} and payload["seed"] == 3
    assert payload["peak_memory_mb"] > 10
