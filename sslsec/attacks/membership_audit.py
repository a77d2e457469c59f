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


def membership_audit(suspect: nn.Module, owner: torch.Tensor, reference: torch.Tensor,
                     augment: AugmentConfig, test: str = "welch", n_views: int = 10,
                     n_permutations: int = 9999, min_images: int = 20,
                     device: str | torch.device = "auto", seed: int = 0) -> AuditResult:
    """Test whether ``suspect`` was pre-trained on the ``owner``'s images: EncoderMI's score
    (:func:`~sslsec.attacks.encodermi.view_similarities`, averaged per image) on the owner's
    images against ``reference`` images of the same distribution that it never saw."""
    if test not in TESTS:
        raise ValueError(f"test={test!r} is unknown; allowed: {', '.join(TESTS)}")
    if not hasattr(suspect, "encode"):
        raise ValueError(f"suspect must have an encode method; got {type(suspect).__name__}")
    check_sets(owner, reference, min_images)
    scores = [view_similarities(suspect, x, augment, n_views, device=device,
                                seed=seed).mean(1).numpy().astype(float)
              for x in (owner, reference)]
    if test == "welch":
        statistic, p = welch_test(*scores)
    else:
        statistic, p = permutation_test(*scores, n_permutations, seed)
    return AuditResult(test, scores[0], scores[1], statistic, p,
                       (len(owner) + len(reference)) * n_views)
