"""Set-level membership audit (chapter 01): was the owner's *set* in the pre-training data?

EncoderMI (chapter 02) scores one image: the mean cosine similarity of the features of augmented
views of it, higher on training images. Per image the signal is weak; over a whole set it adds
up. The owner scores each of its images and each image of a *reference* set that the encoder
cannot have seen, drawn from the same distribution (a random split of one pool), and tests
whether its images score higher:

* ``welch``: one-sided Welch t-test of the two means. Assumes independent images and means
  close to normal (the central limit theorem, with tens of images or more); unequal variances
  are allowed.
* ``permutation``: the share of random relabellings of the pooled scores whose mean difference
  is at least the observed one. Exact (up to Monte-Carlo error, and never below
  ``1 / (n_permutations + 1)``) when the scores are exchangeable under the null: the owner's and
  the reference images are i.i.d. draws of one distribution, and the suspect saw neither.

Both tests are valid only if the reference set is a fair sample: an owner who picks its
reference from another source (other scanners, other years) tests the difference of sources,
not membership.

**Difficulty calibration** (``calibration=``, after Watson et al., *On the Importance of
Difficulty Calibration in Membership Inference Attacks*, ICLR 2022). Most of the spread of the
score is the image's, not the encoder's: a thick, centred digit keeps similar views under any
encoder, a thin slanted one does not. The owner scores every image with the same views under its
own *shadow* encoder (pre-trained on other images of its own), fits ``suspect score ≈ a + b ·
shadow score`` by least squares on the pooled owner and reference images, and tests the
residuals instead of the raw scores. The fit ignores which image is whose, so both tests keep
their level; the residuals' spread is smaller, so the same gap gives a smaller p-value. This
variant is ours: EncoderMI scores single images against a threshold, not a set against a set.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy import stats
from torch import nn

from sslsec.attacks.encodermi import view_similarities
from sslsec.augment import check_images
from sslsec.checks import positive_ints
from sslsec.profiles import AugmentConfig

TESTS = ("welch", "permutation")


@dataclass
class AuditResult:
    """The suspect's scores on the owner's and the reference images, and the test."""

    test: str
    owner_scores: np.ndarray
    reference_scores: np.ndarray
    statistic: float  # Welch: t; permutation: the mean difference
    p_value: float
    queries: int  # images sent to the suspect's API
    calibrated: bool = False  # scores are residuals after the shadow's (difficulty calibration)

    @property
    def gap(self) -> float:
        """Owner minus reference mean score."""
        return float(self.owner_scores.mean() - self.reference_scores.mean())

    def flagged(self, alpha: float = 0.01) -> bool:
        return self.p_value < alpha


def check_sets(owner: torch.Tensor, reference: torch.Tensor, min_images: int = 2,
               owner_name: str = "owner", reference_name: str = "reference") -> None:
    """Raise ``ValueError`` unless both are image batches of one shape with at least
    ``min_images`` images each."""
    positive_ints(min_images=min_images)
    for name, x in ((owner_name, owner), (reference_name, reference)):
        check_images(x, name=name)
        if len(x) < min_images:
            raise ValueError(f"{name} holds {len(x)} images; the test needs at least "
                             f"{min_images}")
    if owner.shape[1:] != reference.shape[1:]:
        raise ValueError(f"{owner_name} images are {tuple(owner.shape[1:])} but "
                         f"{reference_name} images are {tuple(reference.shape[1:])}; "
                         "both sets must hold images of one shape")


def welch_test(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """One-sided Welch t-test of ``mean(a) > mean(b)``: ``(t, p)``."""
    test = stats.ttest_ind(a, b, equal_var=False, alternative="greater")
    return float(test.statistic), float(test.pvalue)


def permutation_test(a: np.ndarray, b: np.ndarray, n_permutations: int = 9999,
                     seed: int = 0) -> tuple[float, float]:
    """One-sided permutation test of ``mean(a) > mean(b)``: ``(mean difference, p)`` with
    ``p = (1 + #{relabellings at least as extreme}) / (n_permutations + 1)``."""
    positive_ints(n_permutations=n_permutations)
    a, b = np.asarray(a, float), np.asarray(b, float)
    pooled, n = np.r_[a, b], len(a)
    observed = a.mean() - b.mean()
    rng = np.random.default_rng(seed)
    idx = np.argsort(rng.random((n_permutations, len(pooled))), axis=1)
    perm = pooled[idx]
    diffs = perm[:, :n].mean(1) - perm[:, n:].mean(1)
    return float(observed), float((1 + np.sum(diffs >= observed - 1e-12)) / (n_permutations + 1))


def calibrate(scores: tuple[np.ndarray, np.ndarray],
              shadow_scores: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Difficulty calibration: the residuals of the suspect's scores after a least-squares line
    on the shadow's scores of the same images, fitted on both sets pooled (label-blind)."""
    y, x = np.r_[scores[0], scores[1]], np.r_[shadow_scores[0], shadow_scores[1]]
    if len(y) != len(x):
        raise ValueError(f"{len(y)} suspect scores but {len(x)} shadow scores; both must score "
                         "the same images")
    slope, intercept = np.polyfit(x, y, 1) if np.ptp(x) > 0 else (0.0, y.mean())
    residual = y - (intercept + slope * x)
    return residual[: len(scores[0])], residual[len(scores[0]):]


def audit_scores(encoder: nn.Module, owner: torch.Tensor, reference: torch.Tensor,
                 augment: AugmentConfig, n_views: int = 10,
                 device: str | torch.device = "auto",
                 seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """EncoderMI's score (mean view similarity) of every owner and reference image."""
    return tuple(view_similarities(encoder, x, augment, n_views, device=device,
                                   seed=seed).mean(1).numpy().astype(float)
                 for x in (owner, reference))


def membership_audit(suspect: nn.Module, owner: torch.Tensor, reference: torch.Tensor,
                     augment: AugmentConfig, test: str = "welch", n_views: int = 10,
                     n_permutations: int = 9999, min_images: int = 20,
                     device: str | torch.device = "auto", seed: int = 0,
                     calibration: nn.Module | tuple[np.ndarray, np.ndarray] | None = None
                     ) -> AuditResult:
    """Test whether ``suspect`` was pre-trained on the ``owner``'s images: EncoderMI's score
    (:func:`~sslsec.attacks.encodermi.view_similarities`, averaged per image) on the owner's
    images against ``reference`` images of the same distribution that it never saw. With
    ``calibration`` — the owner's shadow encoder, or its :func:`audit_scores` on the same images
    computed once for many suspects — the scores are first difficulty-calibrated
    (:func:`calibrate`)."""
    if test not in TESTS:
        raise ValueError(f"test={test!r} is unknown; allowed: {', '.join(TESTS)}")
    if not hasattr(suspect, "encode"):
        raise ValueError(f"suspect must have an encode method; got {type(suspect).__name__}")
    if isinstance(calibration, nn.Module) and not hasattr(calibration, "encode"):
        raise ValueError("calibration must have an encode method; got "
                         f"{type(calibration).__name__}")
    check_sets(owner, reference, min_images)
    scores = audit_scores(suspect, owner, reference, augment, n_views, device, seed)
    if isinstance(calibration, nn.Module):
        calibration = audit_scores(calibration, owner, reference, augment, n_views, device, seed)
    if calibration is not None:
        if len(calibration) != 2 or [len(c) for c in calibration] != [len(owner), len(reference)]:
            raise ValueError("calibration must be an encoder or the shadow's scores of the "
                             f"{len(owner)} owner and {len(reference)} reference images")
        scores = calibrate(scores, calibration)
    if test == "welch":
        statistic, p = welch_test(*scores)
    else:
        statistic, p = permutation_test(*scores, n_permutations, seed)
    return AuditResult(test, scores[0], scores[1], statistic, p,
                       (len(owner) + len(reference)) * n_views, calibration is not None)
