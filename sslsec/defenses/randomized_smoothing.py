"""Certified robustness by randomised smoothing (Cohen, Rosenfeld & Kolter, ICML 2019), applied
to a downstream classifier built on an encoder (after REaaS, NDSS 2023).

The smoothed classifier answers with the class the base classifier (encoder + head) predicts
most often under Gaussian pixel noise of standard deviation ``sigma``. If that class wins with
probability at least ``p_a > 1/2``, no L2 perturbation of norm below ``sigma * Φ⁻¹(p_a)`` can
change the answer. :func:`certify` estimates ``p_a`` by Monte Carlo with a one-sided
Clopper–Pearson bound (``CERTIFY`` in the paper), abstaining when it cannot certify.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from scipy.stats import beta, norm
from tqdm.auto import tqdm

from sslsec.augment import check_images
from sslsec.checks import positive_ints
from sslsec.pretrain import show_progress

ABSTAIN = -1


@dataclass
class Certificate:
    """Per input: the smoothed prediction (``ABSTAIN`` = -1) and its certified L2 radius."""

    prediction: np.ndarray
    radius: np.ndarray

    def certified_accuracy(self, y: torch.Tensor | np.ndarray,
                           radii: Sequence[float]) -> np.ndarray:
        """For each radius r: the share of inputs predicted correctly with radius >= r."""
        y = np.asarray(y)
        if y.shape != self.prediction.shape:
            raise ValueError(f"y has shape {y.shape}; expected {self.prediction.shape}")
        correct = self.prediction == y
        return np.array([float((correct & (self.radius >= r)).mean()) for r in radii])


def _counts(predict: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, sigma: float,
            n: int, num_classes: int, batch_size: int, gen: torch.Generator) -> np.ndarray:
    counts = np.zeros(num_classes, dtype=np.int64)
    remaining = n
    while remaining > 0:
        b = min(batch_size, remaining)
        noisy = x.unsqueeze(0).expand(b, *x.shape) + sigma * torch.randn(
            (b, *x.shape), generator=gen)
        counts += np.bincount(predict(noisy).cpu().numpy(), minlength=num_classes)
        remaining -= b
    return counts


def certify(predict: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, sigma: float,
            num_classes: int, n0: int = 64, n: int = 512, alpha: float = 0.001,
            batch_size: int = 256, seed: int = 0, progress: bool = False) -> Certificate:
    """Certify each input of ``x`` for the smoothed version of ``predict`` (images → labels):
    select the top class on ``n0`` noisy copies, then bound its probability from below with
    ``n`` fresh copies at confidence ``1 - alpha``."""
    check_images(x, name="x")
    if not sigma > 0:
        raise ValueError(f"sigma={sigma!r} must be > 0")
    positive_ints(n0=n0, n=n, batch_size=batch_size, num_classes=num_classes)
    if not 0 < alpha < 1:
        raise ValueError(f"alpha={alpha!r} must be in (0, 1)")
    gen = torch.Generator().manual_seed(seed)
    prediction = np.full(len(x), ABSTAIN)
    radius = np.zeros(len(x))
    with torch.no_grad():
        for i in tqdm(range(len(x)), desc="certifying", disable=not show_progress(progress)):
            top = int(_counts(predict, x[i], sigma, n0, num_classes, batch_size, gen).argmax())
            count = _counts(predict, x[i], sigma, n, num_classes, batch_size, gen)[top]
            p_lower = beta.ppf(alpha, count, n - count + 1) if count > 0 else 0.0
            if p_lower > 0.5:
                prediction[i], radius[i] = top, sigma * norm.ppf(p_lower)
    return Certificate(prediction, radius)
