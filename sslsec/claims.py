"""What each chapter claims, checked on its own results, per profile.

A chapter's results cell calls :func:`check`: if the phenomenon it teaches vanishes (a change
in the code, another seed), the notebook fails with a readable message. ``smoke`` only checks
that every claimed metric exists and is a finite number; ``laptop`` and ``paper`` check
thresholds. All thresholds live in :data:`CLAIMS`.

:func:`check` returns a :class:`ClaimReport`, shown in the notebook as the table "What this
chapter shows". Its stored output must not depend on the processor: a measured value moves in
its third decimal between CPUs (AVX2 or AVX-512 kernels sum in another order) and thread
counts, so the stored-output comparison masks the "measured" column
(``tests/nbval_sanitize.cfg``, :data:`MEASURED_PATTERN`) and compares the rest: which claims
hold, their thresholds, and the values of claims marked ``stable`` (fixed by the chapter's
settings, printed with a dagger and never masked).
"""

from __future__ import annotations

import json
import math
import os
import resource
import sys
from dataclasses import dataclass
from pathlib import Path

from sslsec.profiles import PROFILES


@dataclass(frozen=True)
class Claim:
    """``metric op threshold`` per profile (``None``: reported, not checked, in that profile)."""

    metric: str
    op: str
    laptop: float | None
    paper: float | None
    why: str
    stable: bool = False  # the value is fixed by the settings, not by floating-point results

    def threshold(self, profile: str) -> float | None:
        return {"laptop": self.laptop, "paper": self.paper}.get(profile)


OPS = {">=": lambda a, b: a >= b, "<=": lambda a, b: a <= b}

CLAIMS: dict[str, list[Claim]] = {
    "00_foundations": [
        Claim("linear_probe_mnist", ">=", 0.94, 0.85,
              "SimCLR features make held-out MNIST linearly separable"),
        Claim("linear_probe_digits", ">=", 0.90, None,
              "the encoder transfers to another dataset (UCI digits) it never saw"),
        Claim("probe_gain_over_random", ">=", 0.02, 0.3,
              "pre-training beats a random encoder of the same architecture"),
        Claim("mlp_probe_mnist", ">=", 0.94, None,
              "a 2-layer MLP head on the same features does as well"),
        Claim("knn_gain_over_random", ">=", 0.05, None,
              "pre-training puts images of one digit close together (kNN, no training)"),
    ],
    "01_membership_inference": [
        Claim("encodermi_auc", ">=", 0.75, 0.75,
              "EncoderMI tells members from non-members of the victim's pre-training set"),
        Claim("auc_gain_over_naive", ">=", 0.05, None,
              "many augmented views beat a single pair (the naive baseline)"),
        Claim("early_stop_auc", "<=", 0.60, 0.60,
              "stopping early brings membership inference close to chance"),
        Claim("early_stop_accuracy_cost", "<=", 0.05, None,
              "early stopping costs the downstream user little accuracy"),
        Claim("tpr_at_1pct_fpr", ">=", None, None, "TPR at 1 % FPR (reported)"),
    ],
    "02_property_and_attribute_inference": [
        Claim("property_accuracy", ">=", 0.80, 0.80,
              "a meta-classifier on shadow encoders tells which property level held-out victim "
              "encoders were pre-trained with (chance: 0.5)"),
        Claim("attribute_advantage", ">=", 0.15, 0.15,
              "embeddings reveal an attribute the downstream task does not need, well above "
              "the majority-level prior"),
        Claim("defence_gap_reduction", ">=", 0.5, None,
              "the best defence that costs at most 3 points of linear-probe accuracy removes "
              "at least half of the attacker's advantage"),
        Claim("defence_probe_cost", "<=", 0.03, None,
              "... at that cost in linear-probe accuracy"),
        Claim("talos_gap_reduction", ">=", None, None,
              "adversarial training's best reduction within the same cost (reported)"),
    ],
    "04_hyperparameter_stealing": [
        Claim("exact_correct_digits", ">=", 3, 3,
              "solving the optimality condition recovers every regularisation weight to at "
              "least three digits (relative error <= 1e-3)"),
        Claim("exact_lambda_orders_spanned", ">=", 4, 4,
              "... over at least four orders of magnitude", stable=True),
        Claim("exact_n_lambdas", ">=", 5, 5, "... and at least five weights", stable=True),
        Claim("rounded_2_decimals_correct_digits", "<=", 4, None,
              "rounding the release to two decimals costs the attacker digits"),
        Claim("recipe_accuracy_over_chance", ">=", 2.0, 2.0,
              "a meta-classifier names held-out victims' pre-training recipes at least twice "
              "as often as chance"),
        Claim("recipe_accuracy", ">=", None, None, "recipe accuracy (reported)"),
    ],
    "06_embedding_inversion": [
        Claim("inversion_ssim", ">=", 0.5, None,
              "reconstructions of held-out users' images from their embeddings are close (SSIM)"),
        Claim("inversion_recognised", ">=", 0.8, None,
              "a separate digit classifier recognises most reconstructions as the right digit"),
        Claim("ssim_gain_over_class_mean", ">=", 0.2, None,
              "embeddings reveal the handwriting's style, not only the digit"),
        Claim("recogniser_on_real_images", ">=", 0.9, 0.7,
              "the recogniser that judges reconstructions reads real images correctly"),
        Claim("thickness_advantage", ">=", 0.15, None,
              "an attribute the user never shared (stroke thickness) is read from embeddings"),
        Claim("affordable_defence_recognised_ratio", ">=", None, None,
              "the lowest share of recognisable reconstructions (adaptive attacker, relative to "
              "no defence) among settings costing at most 3 points (reported: none halves it)"),
        Claim("strongest_defence_recognised_ratio", ">=", None, None,
              "the same for the strongest setting, whatever its cost (reported)"),
    ],
    "03_encoder_stealing": [
        Claim("budget_fraction", "<=", 0.2, None,
              "the attacker queries at most a fifth as many images as the victim was "
              "pre-trained on", stable=True),
        Claim("surrogate_gap_max_task", "<=", 0.03, None,
              "the StolenEncoder surrogate is within 3 points of the victim on every task"),
        Claim("compute_fraction", "<=", 0.333, None,
              "for at most a third of the victim's pre-training compute (image passes)",
              stable=True),
        Claim("contsteal_gap_max_task", "<=", None, None,
              "Cont-Steal's gap with the same budget (reported)"),
        Claim("other_distribution_gap_max_task", "<=", None, None,
              "StolenEncoder's gap with queries from another distribution, UCI digits "
              "(reported)"),
        Claim("strongest_defence_users_minus_attacker", ">=", 0.05, None,
              "the strongest output perturbation costs the paying users far more than the "
              "attacker (points / 100, mean over tasks)"),
        Claim("affordable_defence_attacker_cost", ">=", None, None,
              "the largest cost to the attacker among settings costing users ≤ 2 points "
              "(0 when none is that cheap; reported: the target of 10 points is not reached)"),
    ],
    "05_watermarks_and_fingerprints": [
        Claim("watermark_derived_flagged", ">=", 0.9, 0.9,
              "the watermark flags (p < 0.01) nearly every copy derived from the marked "
              "release: stolen, pruned or fine-tuned"),
        Claim("watermark_independent_flagged", "<=", 0, 0,
              "and no encoder pre-trained independently of it"),
        Claim("watermark_utility_cost_max_task", "<=", 0.01, 0.01,
              "embedding the watermark costs at most 1 point of linear-probe accuracy on any "
              "task"),
        Claim("watermark_unmarked_p", ">=", None, None,
              "the p-value of the owner's own encoder before marking (reported: the test "
              "does not flag it)"),
        Claim("fingerprint_standard_owner_p", ">=", None, None,
              "dataset inference on the standard encoder itself (reported: it generalises, "
              "so its private data leave no trace to test)"),
        Claim("fingerprint_standard_derived_flagged", ">=", None, None,
              "share of the standard encoder's copies that dataset inference flags (reported)"),
        Claim("fingerprint_leaky_owner_p", "<=", 0.01, None,
              "dataset inference recognises the private data of an encoder that memorised "
              "them (chapter 01's)"),
        Claim("fingerprint_leaky_whitebox_flagged", ">=", None, None,
              "share of its pruned and fine-tuned copies flagged (reported)"),
        Claim("fingerprint_leaky_stolen_flagged", ">=", None, None,
              "share of its stolen copies flagged (reported: stealing does not copy "
              "memorisation here)"),
        Claim("fingerprint_independent_flagged", "<=", None, None,
              "independent encoders flagged by dataset inference, both tests (reported)"),
    ],
    "07_targeted_poisoning": [
        Claim("accuracy_drop_max", "<=", 0.02, 0.02,
              "every poisoned encoder keeps clean linear-probe accuracy within 2 points of the "
              "clean encoder's: the poisons are stealthy"),
        Claim("collage_success_max", "<=", 0.2, None,
              "at laptop scale PoisonedEncoder's collages put (almost) no target in its target "
              "class: the issue's bar (>= 0.8 of the pairs) is out of reach, see the chapter"),
        Claim("pair_success_max", "<=", 0.2, None,
              "nor do pair poisons, which control both views of a positive pair outright"),
        Claim("best_success", ">=", None, 0.8,
              "the best attack's share of targets in their target class (the papers' scale)"),
        Claim("target_probability_max", "<=", None, None,
              "the largest mean target-class probability of any attack (reported)"),
        Claim("poisons_removed_min", ">=", 0.95, 0.9,
              "near-duplicate removal drops (nearly) every poison, collage or pair"),
        Claim("clean_removed_max", "<=", 0.01, 0.02,
              "and at most 1 % of the clean images"),
        Claim("defence_accuracy_cost_max", "<=", None, None,
              "the largest clean-accuracy cost of a defence (reported)"),
    ],
    "08_backdoors": [
        Claim("asr_min_task", ">=", 0.95, 0.95,
              "triggered inputs land in the attacker's class on every targeted downstream task"),
        Claim("ca_minus_ba_max_task", "<=", 0.02, 0.02,
              "while clean accuracy with the backdoored encoder stays within 2 points of the "
              "clean encoder's"),
        Claim("asr_baseline_max_task", "<=", None, None,
              "the same triggers with the clean encoder (reported: the baseline)"),
        Claim("detection_auroc", ">=", 0.9, 0.9,
              "the recovered trigger's size tells backdoored from clean encoders, without "
              "labels or downstream tasks"),
        Claim("population_size", ">=", 12, None,
              "over at least 6 clean and 6 backdoored encoders", stable=True),
        Claim("median_pl1_clean", ">=", None, None,
              "median share of the image of a clean encoder's collapsing mask (reported)"),
        Claim("median_pl1_backdoored", "<=", None, None,
              "the same for backdoored encoders (reported)"),
    ],
    "09_adversarial_examples": [
        Claim("pgd_fooling_min_task", ">=", 0.8, None,
              "feature-space PGD misclassifies most correct inputs on every downstream task it "
              "never saw"),
        Claim("noise_fooling_max_task", "<=", None, None,
              "random noise of the same L∞ size on the same encoder (reported: an MNIST encoder "
              "that never saw noise is fragile to it; the hardened encoder below is not)"),
        Claim("universal_fooling_min_task", ">=", 0.5, None,
              "one universal perturbation, learnt on the encoder alone, fools at least half"),
        Claim("hardened_noise_fooling_max_task", "<=", 0.05, None,
              "an encoder pre-trained with pixel noise shrugs off random noise of the budget"),
        Claim("hardened_pgd_advantage_min_task", ">=", 0.1, None,
              "yet feature-space PGD still fools it far more than random noise does (PGD minus "
              "noise fooling rate, every task)"),
        Claim("clean_accuracy_min_task", ">=", 0.85, None,
              "the downstream classifiers are accurate on clean inputs"),
        Claim("certified_accuracy_radius_0", ">=", None, None,
              "the hardened encoder's smoothed classifier's accuracy, best σ (abstentions count "
              "as errors; reported)"),
        Claim("certified_accuracy_radius_0.1", ">=", None, None,
              "its certified accuracy at L2 radius 0.1 (reported)"),
        Claim("standard_certified_accuracy_radius_0.1", ">=", None, None,
              "the same for the standard encoder, which never saw noise (reported)"),
    ],
    "10_availability_poisoning": [
        Claim("clean_accuracy", ">=", 0.94, 0.85,
              "the clean encoder's linear probe (the reference)"),
        Claim("pretraining_gain", ">=", 0.03, 0.3,
              "pre-training beats untrained encoders: the most a poison can take away"),
        Claim("max_drop", "<=", 0.05, None,
              "at laptop scale no poison costs the victim more than 5 points: the issue's bar "
              "(a 25-point drop) is out of reach, see the chapter"),
        Claim("max_drop_share_of_gap", ">=", None, 0.5,
              "the strongest poison takes at least half of what pre-training adds over an "
              "untrained encoder (the paper's scale; reported at laptop scale)"),
        Claim("loss_gap_vs_random_min", ">=", 0.05, None,
              "the shortcut forms: contrastively poisoned images end pre-training with a lower "
              "SimCLR loss than randomly perturbed ones (both kinds)"),
        Claim("poisoned_above_floor_min", ">=", 0.02, None,
              "every poisoned encoder stays above the best untrained encoder: not useless"),
        Claim("classwise_drop", ">=", None, None,
              "class-wise contrastive poison: points lost (reported)"),
        Claim("samplewise_drop", ">=", None, None,
              "sample-wise contrastive poison: points lost (reported)"),
        Claim("filter_cost", "<=", 0.02, 0.05,
              "filtering the pre-training images costs clean pre-training little"),
        Claim("filter_recovery_classwise", ">=", None, None,
              "points the filter gives back to the class-wise victim (reported)"),
        Claim("labelled_poison_pipeline_drop", ">=", 0.25, None,
              "when the probe's labelled images carry the class-wise pattern too, the poisoned "
              "pipeline loses more than 25 points..."),
        Claim("labelled_poison_untrained_drop", ">=", 0.25, None,
              "...and so does an untrained encoder: the probe's shortcut does the damage"),
    ],
}


class ClaimError(AssertionError):
    """A chapter's claim does not hold for its results."""


SYMBOLS = {">=": "≥", "<=": "≤"}
STABLE_MARK = "†"
# A measured (not stable) value: the last cell of a row of the report's table. The
# stored-output comparison replaces it (tests/nbval_sanitize.cfg holds the same pattern).
MEASURED_PATTERN = r"(?m)\| -?[0-9][0-9.]*(?:e[-+]?[0-9]+)? \|$"


@dataclass(frozen=True)
class ClaimRow:
    """One claim of a report: ``limit`` is ``None`` where the profile only reports it."""

    claim: Claim
    value: float
    limit: float | None

    @property
    def status(self) -> str:
        return "reported" if self.limit is None else "holds"

    def measured(self) -> str:
        return f"{self.value:.4g}" + (f" {STABLE_MARK}" if self.claim.stable else "")

    def line(self) -> str:
        if self.limit is None:
            return f"{self.claim.metric} = {self.value:.4g} (reported, not checked)"
        return (f"ok  {self.claim.metric} = {self.value:.4g} {self.claim.op} {self.limit}: "
                f"{self.claim.why}")


@dataclass(frozen=True)
class ClaimReport:
    """The checked claims of one chapter: a table in a notebook, lines in a terminal."""

    chapter: str
    profile: str
    rows: tuple[ClaimRow, ...]

    def __len__(self) -> int:
        return len(self.rows)

    def lines(self) -> list[str]:
        return [row.line() for row in self.rows]

    def __repr__(self) -> str:  # text/plain: what holds, never a measured value
        held = sum(row.status == "holds" for row in self.rows)
        return (f"What this chapter shows ({self.profile} profile): {held} claims checked, "
                f"all hold; {len(self.rows) - held} reported")

    def _repr_markdown_(self) -> str:
        head = ["| | claim | metric | threshold | measured |", "|---|---|---|---|---|"]
        body = []
        for row in self.rows:
            mark = "✓" if row.status == "holds" else "·"
            limit = ("reported" if row.limit is None
                     else f"{SYMBOLS[row.claim.op]} {row.limit:g}")
            why = row.claim.why.replace("|", "\\|")
            body.append(f"| {mark} | {why} | `{row.claim.metric}` | {limit} | {row.measured()} |")
        notes = ["", "✓ checked and holds; · reported, not checked in this profile"]
        if any(row.claim.stable for row in self.rows):
            notes[-1] += f"; {STABLE_MARK} fixed by the chapter's settings"
        return "\n".join(head + body + notes)


def check(chapter: str, metrics: dict[str, float], profile: str) -> ClaimReport:
    """Check ``chapter``'s claims on ``metrics``; return the report, raise on failure."""
    if chapter not in CLAIMS:
        raise ValueError(f"chapter={chapter!r} has no claims; allowed: {', '.join(CLAIMS)}")
    if profile not in PROFILES:
        raise ValueError(f"profile={profile!r} is unknown; allowed: {', '.join(PROFILES)}")
    rows, failures = [], []
    for claim in CLAIMS[chapter]:
        value = metrics.get(claim.metric)
        if not isinstance(value, int | float) or not math.isfinite(value):
            failures.append(f"{claim.metric}: missing or not a finite number ({value!r})")
            continue
        limit = claim.threshold(profile)
        if limit is None or OPS[claim.op](value, limit):
            rows.append(ClaimRow(claim, value, limit))
        else:
            failures.append(f"{claim.metric} = {value:.4g}, expected {claim.op} {limit}: "
                            f"{claim.why}")
    if failures:
        raise ClaimError(f"{chapter} ({profile} profile): claim(s) failed:\n  "
                         + "\n  ".join(failures))
    return ClaimReport(chapter, profile, tuple(rows))


def peak_memory_mb() -> float:
    """Peak resident memory of this process (MB)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024**2 if sys.platform == "darwin" else peak / 1024


def save_results(chapter: str, metrics: dict[str, float], profile: str, seed: int,
                 folder: str | Path | None = None) -> Path:
    """Write ``<folder>/<chapter>.json`` (default ``$SSLSEC_RESULTS`` or ``_build/results``)
    with the metrics, the profile, the seed and the kernel's peak memory."""
    folder = Path(folder or os.environ.get("SSLSEC_RESULTS", "_build/results"))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{chapter}.json"
    payload = {"chapter": chapter, "profile": profile, "seed": seed,
               "peak_memory_mb": round(peak_memory_mb(), 1),
               "metrics": {k: (float(f"{v:.6g}") if isinstance(v, float) else v)
                           for k, v in metrics.items()}}
    path.write_text(json.dumps(payload, indent=2))
    return path
