"""Property inference against pre-trained encoders (after Ateniese et al. 2015 and Ganju et al.,
CCS 2018, applied to encoders).

Does the victim's pre-training set hold much of some class (or of some kind of image)? The
attacker pre-trains *shadow* encoders on its own data at two known levels of the property, and
describes every encoder by how it arranges a fixed probe set: the centred cosine-similarity
(Gram) matrix of the probe set's features. Unlike the raw features, this description does not
change when an encoder's feature space is rotated, so it compares across independently trained
encoders. A meta-classifier learns from the shadows' descriptions which level they were trained
with, and is applied to the victim's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from torch import nn
from tqdm.auto import tqdm

from sslsec.augment import check_images
from sslsec.data import ImageSet
from sslsec.downstream import extract_features
from sslsec.pretrain import show_progress
from sslsec.zoo import EncoderSpec, train_or_load


def probe_gram(encoder: nn.Module, probe: torch.Tensor,
               device: str | torch.device = "auto") -> np.ndarray:
    """The upper triangle of the cosine-similarity matrix of the probe set's *centred*
    features: a description of an encoder that is invariant to rotations of its feature
    space. Shape ``(P * (P - 1) / 2,)`` for ``P`` probe images."""
    check_images(probe, name="probe")
    if len(probe) < 2:
        raise ValueError(f"probe must hold at least 2 images; got {len(probe)}")
    f = extract_features(encoder, probe, device=device).double()
    f = F.normalize(f - f.mean(0, keepdim=True), dim=1)
    rows, cols = torch.triu_indices(len(f), len(f), 1)
    return (f @ f.T)[rows, cols].numpy()


def fit_meta_classifier(descriptions: np.ndarray, levels: np.ndarray,
                        regularization: float = 0.1) -> Pipeline:
    """Logistic regression on standardised encoder descriptions → property level."""
    descriptions, levels = np.asarray(descriptions), np.asarray(levels)
    if descriptions.ndim != 2 or len(descriptions) != len(levels):
        raise ValueError(f"descriptions must be (encoders, D) with one level each; got "
                         f"{descriptions.shape} and {levels.shape}")
    if len(np.unique(levels)) < 2:
        raise ValueError("the shadow encoders must cover at least two property levels")
    if not regularization > 0:
        raise ValueError(f"regularization={regularization!r} must be > 0")
    return make_pipeline(StandardScaler(), LogisticRegression(C=regularization,
                                                              max_iter=5000)).fit(descriptions,
                                                                                  levels)


def describe_population(jobs: Sequence[tuple[EncoderSpec, torch.Tensor]], probe: torch.Tensor,
                        device: str | torch.device = "auto", progress: bool = True,
                        desc: str = "encoders") -> np.ndarray:
    """Pre-train (or load from the zoo) one encoder per ``(spec, images)`` job and describe
    each by :func:`probe_gram` on ``probe``: ``(len(jobs), P * (P - 1) / 2)``."""
    if not jobs:
        raise ValueError("jobs is empty: describe at least one encoder")
    out = []
    for spec, images in tqdm(jobs, desc=desc, disable=not show_progress(progress)):
        entry = train_or_load(spec, images, device, progress=False)
        out.append(probe_gram(entry.encoder, probe, device))
    return np.array(out)


@dataclass
class PropertyResult:
    """The meta-classifier's verdicts on the victims, and how it learns with more shadows."""

    accuracy: float  # on the held-out victim encoders
    victim_levels: np.ndarray
    predicted_levels: np.ndarray
    victim_scores: np.ndarray  # the meta-classifier's probability of the higher level
    n_shadows: list[int]  # the learning curve: shadows used ...
    curve_mean: list[float]  # ... mean victim accuracy over random draws of that many ...
    curve_std: list[float]  # ... and its spread


def property_inference(shadow_descriptions: np.ndarray, shadow_levels: np.ndarray,
                       victim_descriptions: np.ndarray, victim_levels: np.ndarray,
                       n_shadows: list[int] | None = None, n_draws: int = 10,
                       seed: int = 0) -> PropertyResult:
    """Fit the meta-classifier on all shadows and score it on the victims; then refit it on
    random, level-balanced subsets of ``n_shadows`` shadows (``n_draws`` each) for the
    learning curve."""
    shadow_descriptions, victim_descriptions = (np.asarray(shadow_descriptions),
                                                np.asarray(victim_descriptions))
    shadow_levels, victim_levels = np.asarray(shadow_levels), np.asarray(victim_levels)
    if len(victim_descriptions) == 0 or len(victim_descriptions) != len(victim_levels):
        raise ValueError("victim_descriptions must be non-empty, with one level each")
    if victim_descriptions.shape[1:] != shadow_descriptions.shape[1:]:
        raise ValueError("victims and shadows must be described with the same probe set")
    meta = fit_meta_classifier(shadow_descriptions, shadow_levels)
    predicted = meta.predict(victim_descriptions)
    scores = meta.predict_proba(victim_descriptions)[:, -1]
    rng = np.random.default_rng(seed)
    levels = np.unique(shadow_levels)
    per_level = min(int((shadow_levels == lv).sum()) for lv in levels)
    sizes = sorted({k for k in (n_shadows or []) if k >= len(levels)}
                   | {per_level * len(levels)})
    means, stds = [], []
    for k in sizes:
        if k > per_level * len(levels) or k % len(levels):
            raise ValueError(f"n_shadows={k} must be a multiple of {len(levels)} and at most "
                             f"{per_level * len(levels)}")
        accs = []
        for _ in range(n_draws if k < per_level * len(levels) else 1):
            pick = np.concatenate([rng.choice(np.flatnonzero(shadow_levels == lv),
                                              k // len(levels), replace=False)
                                   for lv in levels])
            m = fit_meta_classifier(shadow_descriptions[pick], shadow_levels[pick])
            accs.append(float((m.predict(victim_descriptions) == victim_levels).mean()))
        means.append(float(np.mean(accs)))
        stds.append(float(np.std(accs)))
    return PropertyResult(float((predicted == victim_levels).mean()), victim_levels, predicted,
                          scores, sizes, means, stds)


def property_sample(pool: ImageSet, target_class: int, fraction: float, n: int,
                    seed: int) -> ImageSet:
    """``n`` images of ``pool`` of which ``round(fraction * n)`` are of ``target_class``."""
    if not 0 <= fraction <= 1:
        raise ValueError(f"fraction={fraction!r} must be in [0, 1]")
    n_target = round(fraction * n)
    inside = torch.nonzero(pool.y == target_class).flatten()
    outside = torch.nonzero(pool.y != target_class).flatten()
    if n_target > len(inside) or n - n_target > len(outside):
        raise ValueError(f"the pool has {len(inside)} images of class {target_class} and "
                         f"{len(outside)} others; {n_target} and {n - n_target} were asked")
    g = torch.Generator().manual_seed(seed)
    pick = torch.cat([inside[torch.randperm(len(inside), generator=g)[:n_target]],
                      outside[torch.randperm(len(outside), generator=g)[:n - n_target]]])
    return pool[pick[torch.randperm(len(pick), generator=g)]]
