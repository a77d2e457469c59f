import json
import math

import pytest

from sslsec import claims
from sslsec.chapters import CHAPTERS, ch00_foundations

STEALING = CHAPTERS["06_parameter_stealing"]

#: chapter 06's ownership and text-API metrics (its stealing metrics vary in the tests below):
#: eight checked claims, none stable
OWNERSHIP = {"watermark_derived_flagged": 1.0, "watermark_independent_flagged": 0,
             "watermark_utility_cost_max_task": 0.005, "watermark_unmarked_p": 0.5,
             "fingerprint_standard_owner_p": 0.3, "fingerprint_standard_derived_flagged": 0.25,
             "fingerprint_leaky_owner_p": 0.001, "fingerprint_leaky_whitebox_flagged": 0.75,
             "fingerprint_leaky_stolen_flagged": 0.125, "fingerprint_independent_flagged": 0.0625,
             "dataset_inference_standard_owner_p": 0.4, "dataset_inference_leaky_owner_p": 0.002,
             "dataset_inference_leaky_derived_flagged": 0.5,
             "dataset_inference_independent_flagged": 0, "surrogate_over_baselines_max_task": 0.04,
             "text_stolen_over_ssl": 0.12, "text_stolen_share_of_victim": 0.9,
             "embmarker_copy_p": 1e-06, "embmarker_independent_flagged": 0,
             "embmarker_utility_cost": 0.002, "embmarker_victim_ks_p": 0.3}

GOOD = {"linear_probe_first_task": 0.96, "linear_probe_second_task": 0.95,
        "probe_gain_over_random": 0.04, "mlp_probe_first_task": 0.96, "knn_gain_over_random": 0.1}


def test_laptop_thresholds_hold_and_fail_readably():
    report = ch00_foundations.check(GOOD, "laptop")
    assert len(report) == len(ch00_foundations.CLAIMS)
    assert ch00_foundations.check(GOOD, "laptop") == report
    assert report.lines()[0].startswith("ok  linear_probe_first_task = 0.96 >= 0.94")
    with pytest.raises(claims.ClaimError,
                       match=r"linear_probe_first_task = 0.5, expected >= 0.94"):
        ch00_foundations.check({**GOOD, "linear_probe_first_task": 0.5}, "laptop")


def test_smoke_only_needs_finite_metrics():
    weak = {k: 0.1 for k in GOOD}
    assert ch00_foundations.check(weak, "smoke")
    with pytest.raises(claims.ClaimError, match="missing or not a finite number"):
        ch00_foundations.check({**weak, "mlp_probe_first_task": math.nan}, "smoke")
    with pytest.raises(claims.ClaimError, match="linear_probe_second_task: missing"):
        ch00_foundations.check({"linear_probe_first_task": 0.1}, "smoke")


def test_unknown_chapter_or_profile():
    with pytest.raises(ValueError, match="chapter='99_x' has no claims to check"):
        claims.check("99_x", [], GOOD, "laptop")
    with pytest.raises(ValueError, match="profile='desktop'"):
        ch00_foundations.check(GOOD, "desktop")


def test_save_results_writes_metrics_and_peak_memory(tmp_path):
    path = claims.save_results("00_foundations", {"a": 0.1234567891}, "smoke", 3, tmp_path)
    payload = json.loads(path.read_text())
    assert payload["metrics"] == {"a": 0.123457} and payload["seed"] == 3
    assert payload["peak_memory_mb"] > 10


def test_report_table_masks_measured_values_but_not_stable_ones():
    """The stored-output comparison masks measured values (they move with the processor),
    never thresholds, holds/reported marks or values the settings fix — which are listed apart
    from the findings, as the chapter's settings."""
    import re
    from pathlib import Path

    metrics = {"budget_fraction": 0.15, "surrogate_gap_max_task": 0.004, "compute_fraction": 0.1,
               "contsteal_gap_max_task": 0.01, "other_distribution_gap_max_task": -0.002,
               "strongest_defence_users_minus_attacker": 0.2,
               "affordable_defence_attacker_cost": 1e-05, **OWNERSHIP}
    report = STEALING.check(metrics, "laptop")
    table = report._repr_markdown_()
    masked = re.sub(claims.MEASURED_PATTERN, "| X |", table)
    findings, settings = masked.split("†")
    assert "budget_fraction" not in findings and "compute_fraction" not in findings
    assert "`budget_fraction` = 0.15 (≤ 0.2)" in settings  # stable: compared
    assert "`compute_fraction` = 0.1 (≤ 0.333)" in settings
    for value in ("0.004", "0.01 ", "-0.002", "0.2 ", "1e-05"):
        assert f"| {value.strip()} |" in table and f"| {value.strip()} |" not in masked
    findings_claims = [c for c in STEALING.CLAIMS if not c.stable]
    n_checked = sum(c.laptop is not None for c in findings_claims)
    assert masked.count("| X |") == len(findings_claims)
    assert "≤ 0.03" in masked and "| ✓ |" in masked
    assert "| · |" in masked and "reported" in masked
    assert "0.004" not in repr(report) and f"{n_checked} claims checked" in repr(report)
    assert "2 settings checked" in repr(report)
    # tests/nbval_sanitize.cfg holds the same pattern
    cfg = (Path(__file__).parent / "nbval_sanitize.cfg").read_text()
    assert f"regex: {claims.MEASURED_PATTERN}\n" in cfg


def test_a_changed_stable_value_or_verdict_shows_after_masking():
    import re

    good = {"budget_fraction": 0.15, "surrogate_gap_max_task": 0.004, "compute_fraction": 0.1,
            "contsteal_gap_max_task": 0.01, "other_distribution_gap_max_task": 0.0,
            "strongest_defence_users_minus_attacker": 0.2,
            "affordable_defence_attacker_cost": 0.0, **OWNERSHIP}
    def masked(m):
        return re.sub(claims.MEASURED_PATTERN, "| X |",
                      STEALING.check(m, "laptop")._repr_markdown_())
    assert masked(good) == masked({**good, "surrogate_gap_max_task": 0.021})
    assert masked(good) != masked({**good, "budget_fraction": 0.1})
    assert masked(good) != masked(good).replace("≤ 0.03", "≤ 0.05")
