"""LiRA (Carlini et al., S&P 2022), applied to encoders: membership calibrated per example.

A global threshold on EncoderMI's score (:mod:`sslsec.attacks.encodermi`) confuses two things:
an image whose views any encoder maps close together (a plain, centred digit) and an image the
encoder has memorised. LiRA separates them with shadow models. Each shadow encoder is
pre-trained on a random half of a pool of candidate images (:func:`shadow_splits`: every
candidate is in exactly half of them), so for each candidate the attacker sees its score when
it was in a shadow's data and when it was out. A Gaussian fitted per candidate to each turns
the target encoder's score into a likelihood ratio (:func:`likelihood_ratio`):

* **online**: ``log N(s; μ_in, σ_in) − log N(s; μ_out, σ_out)``;
* **offline** (out-shadows only): how far ``s`` lies above the candidate's out-distribution,
  ``−log P_out(S ≥ s)``.

With few shadows the per-candidate variances are noisy; ``fixed_variance`` uses one variance
per side pooled over candidates, as the paper recommends for small shadow counts.

Variant: the paper scores a classifier's logit-scaled confidence on the true label; an encoder
has no label, so the per-example statistic here is EncoderMI's mean cosine similarity between
the features of augmented views (:func:`per_example_scores`), queried with the same views
(the same seed) on every encoder.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from scipy.stats import norm
from sklearn.metrics import roc_auc_score
from torch import nn

from sslsec.attacks.encodermi import tpr_at_fpr, view_similarities
from sslsec.checks import positive_ints
from sslsec.profiles import AugmentConfig

#: the smallest standard deviation a Gaussian fit may have (a candidate whose shadows all
#: score alike would otherwise give an infinite ratio)
MIN_STD = 1e-4


def shadow_splits(n_candidates: int, n_shadows: int, seed: int = 0) -> np.ndarray:
    """Which candidates each shadow trains on: a boolean ``(n_shadows, n_candidates)`` matrix
    in which every candidate is in exactly half of the shadows (Carlini et al.'s balanced
    design; ``n_shadows`` even) and each shadow holds half of the candidates, give or take
    one."""
    positive_ints(n_candidates=n_candidates, n_shadows=n_shadows)
    if n_shadows % 2:
        raise ValueError(f"n_shadows={n_shadows} must be even (each candidate in half of them)")
    rng = np.random.default_rng(seed)
    order = np.argsort(rng.random((n_shadows, n_candidates)), axis=0)
    return order < n_shadows // 2


def per_example_scores(encoder: nn.Module, x: torch.Tensor, augment: AugmentConfig,
                       n_views: int = 10, device: str | torch.device = "auto",
                       seed: int = 0) -> np.ndarray:
    """EncoderMI's per-image statistic: the mean cosine similarity of the features of
    ``n_views`` augmented views (the same views for every encoder queried with ``seed``)."""
    sims = view_similarities(encoder, x, augment, n_views, device=device, seed=seed)
    return sims.mean(dim=1).numpy().astype(np.float64)


def _fit(scores: np.ndarray, mask: np.ndarray, fixed_variance: bool) -> tuple[np.ndarray,
                                                                            np.ndarray]:
    """Per-candidate mean and standard deviation of ``scores`` over the shadows where ``mask``
    holds (``(n_shadows, n)`` both)."""
    counts = mask.sum(axis=0)
    if (counts == 0).any():
        raise ValueError("every candidate needs at least one shadow on this side; "
                         f"{int((counts == 0).sum())} have none")
    kept = np.where(mask, scores, np.nan)
    mean = np.nanmean(kept, axis=0)
    if fixed_variance:
        resid = kept - mean
        std = np.full(mean.shape, np.sqrt(np.nanmean(resid ** 2)))
    else:
        std = np.nanstd(kept, axis=0)
    return mean, np.maximum(std, MIN_STD)


def likelihood_ratio(target: np.ndarray, shadow_scores: np.ndarray, shadow_in: np.ndarray,
                     online: bool = True, fixed_variance: bool = True) -> np.ndarray:
    """LiRA's membership score of each candidate (higher = "member") from the target encoder's
    scores ``target`` (``(n,)``) and the shadows' ``shadow_scores`` (``(n_shadows, n)``), where
    ``shadow_in[k, i]`` says whether shadow ``k`` trained on candidate ``i``."""
    target = np.asarray(target, dtype=np.float64)
    scores = np.asarray(shadow_scores, dtype=np.float64)
    inside = np.asarray(shadow_in, dtype=bool)
    if target.ndim != 1 or scores.shape != inside.shape or scores.shape[1:] != target.shape:
        raise ValueError(f"target {target.shape}, shadow_scores {scores.shape} and shadow_in "
                         f"{inside.shape} do not match: expected (n,), (k, n), (k, n)")
    mu_out, sd_out = _fit(scores, ~inside, fixed_variance)
    if not online:
        return -norm.logsf(target, mu_out, sd_out)
    mu_in, sd_in = _fit(scores, inside, fixed_variance)
    return norm.logpdf(target, mu_in, sd_in) - norm.logpdf(target, mu_out, sd_out)


@dataclass
class LiRAResult:
    """LiRA against one encoder: each candidate's score (higher = "member") and the metrics,
    beside the uncalibrated score (the raw statistic, as a global threshold would use it)."""

    scores: np.ndarray
    raw_scores: np.ndarray
    is_member: np.ndarray
    online: bool
    auc: float
    raw_auc: float
    tpr_at_fpr: float
    raw_tpr_at_fpr: float
    fpr: float


def lira(victim: nn.Module, candidates: torch.Tensor, is_member: np.ndarray,
         shadows: Sequence[nn.Module], shadow_in: np.ndarray, augment: AugmentConfig,
         n_views: int = 10, online: bool = True, fixed_variance: bool = True, fpr: float = 0.01,
         device: str | torch.device = "auto", seed: int = 0) -> LiRAResult:
    """LiRA against ``victim``: ``candidates`` are the images whose membership is asked
    (``is_member`` is the truth, used only to score the attack); ``shadows[k]`` was pre-trained
    by the attacker on the candidates where ``shadow_in[k]`` holds (:func:`shadow_splits`),
    with the victim's recipe as far as the attacker knows it. TPR is read at ``fpr`` on the
    ROC curve's own points (:func:`~sslsec.attacks.encodermi.tpr_at_fpr`)."""
    truth = np.asarray(is_member, dtype=bool)
    if truth.shape != (len(candidates),) or truth.all() or not truth.any():
        raise ValueError("is_member must mark some, not all, of the candidates: "
                         f"{int(truth.sum())} of {len(candidates)}")
    inside = np.asarray(shadow_in, dtype=bool)
    if inside.shape != (len(shadows), len(candidates)):
        raise ValueError(f"shadow_in has shape {inside.shape}; expected "
                         f"({len(shadows)}, {len(candidates)})")

    def stat(encoder: nn.Module) -> np.ndarray:
        return per_example_scores(encoder, candidates, augment, n_views, device, seed)

    raw = stat(victim)
    shadow_scores = np.stack([stat(s) for s in shadows])
    scores = likelihood_ratio(raw, shadow_scores, inside, online, fixed_variance)

    def metrics(s: np.ndarray) -> tuple[float, float]:
        return (float(roc_auc_score(truth, s)), tpr_at_fpr(s[truth], s[~truth], fpr))

    (auc, tpr), (raw_auc, raw_tpr) = metrics(scores), metrics(raw)
    return LiRAResult(scores, raw, truth, online, auc, raw_auc, tpr, raw_tpr, fpr)
