"""Proactive marking of a data set before release, on the model of radioactive data
(Sablayrolles et al., ICML 2020), adapted to self-supervised encoders (chapter 01).

The owner adds, before release, a faint *carrier* to a fraction of its images: a smooth pattern
drawn from a secret key, scaled to an L∞ budget ε (pixels in [0, 1]). An encoder pre-trained on
the marked images treats the carrier as a feature: the carrier is present in both views of a
marked image and absent from the other images, so it helps the contrastive task, and the
encoder learns to respond to it. The owner's test: add each of ``n_decoys + 1`` key-drawn
patterns — the secret carrier and decoys drawn the same way — to clean probe images, and
measure how far each moves the suspect's features. An encoder that never saw the carrier has
no reason to prefer it to the decoys: the rank of the secret carrier among the patterns is
uniform, and the p-value ``(1 + #{decoys that move the features at least as far}) /
(n_decoys + 1)`` is exact (never below ``1 / (n_decoys + 1)``).

How this variant differs from radioactive data: Sablayrolles et al. shift the *features* of
marked images along a random carrier direction through a marking network, and test the cosine
between that direction and a suspect *classifier's* weights against its exact Beta null. A
self-supervised encoder has no class weights to test, so the carrier here lives in pixel space
(one key-seeded pattern, no marking network) and the test reads the suspect's *response* to the
carrier through its API; the exact null comes from the key (a rank among decoys) instead of the
geometry of random directions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from sslsec.augment import check_images
from sslsec.checks import positive_ints
from sslsec.profiles import resolve_device


def _check_epsilon(epsilon: float) -> None:
    if not isinstance(epsilon, int | float) or isinstance(epsilon, bool) or not 0 < epsilon <= 1:
        raise ValueError(f"epsilon={epsilon!r} must be in (0, 1] (an L∞ budget on pixels in "
                         "[0, 1])")


def _check_fraction(fraction: float) -> None:
    if not isinstance(fraction, int | float) or isinstance(fraction, bool) \
            or not 0 < fraction <= 1:
        raise ValueError(f"fraction={fraction!r} must be in (0, 1] (the share of images "
                         "marked)")


def carrier_patterns(n: int, channels: int, size: int, smoothness: int = 7,
                     seed: int = 0) -> torch.Tensor:
    """``n`` key-seeded smooth patterns with values in (-1, 1): Gaussian noise on a
    ``smoothness``×``smoothness`` grid, upsampled and squashed (a low-frequency carrier
    survives crops and rotations better than pixel noise)."""
    positive_ints(n=n, channels=channels, size=size, smoothness=smoothness)
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, channels, smoothness, smoothness, generator=g)
    z = F.interpolate(z, size=(size, size), mode="bilinear", align_corners=False)
    z = z / z.flatten(1).std(1).clamp_min(1e-8).view(-1, 1, 1, 1)
    return torch.tanh(2 * z)


@dataclass(frozen=True)
class MarkingKey:
    """The owner's secret: the candidate patterns, which one is the carrier, and ε."""

    patterns: torch.Tensor  # (n_decoys + 1, C, H, W), values in (-1, 1)
    secret: int
    epsilon: float

    @property
    def carrier(self) -> torch.Tensor:
        return self.patterns[self.secret]

    @property
    def n_decoys(self) -> int:
        return len(self.patterns) - 1


def make_marking_key(channels: int, size: int, epsilon: float, n_decoys: int = 199,
                     smoothness: int = 7, seed: int = 0) -> MarkingKey:
    """Draw ``n_decoys + 1`` patterns from the key ``seed`` and pick the secret carrier among
    them uniformly at random (the draw the exact null rests on)."""
    _check_epsilon(epsilon)
    positive_ints(n_decoys=n_decoys)
    patterns = carrier_patterns(n_decoys + 1, channels, size, smoothness, seed)
    secret = int(torch.randint(n_decoys + 1, (1,),
                               generator=torch.Generator().manual_seed(seed + 1)))
    return MarkingKey(patterns, secret, float(epsilon))


def add_pattern(x: torch.Tensor, pattern: torch.Tensor, epsilon: float) -> torch.Tensor:
    """``clip(x + epsilon * pattern, 0, 1)``: an L∞ change of at most ``epsilon``."""
    _check_epsilon(epsilon)
    check_images(x)
    if pattern.shape != x.shape[1:]:
        raise ValueError(f"pattern has shape {tuple(pattern.shape)} but the images are "
                         f"{tuple(x.shape[1:])}")
    return (x + epsilon * pattern.to(x)).clamp(0, 1)


def mark_images(x: torch.Tensor, key: MarkingKey, fraction: float = 1.0,
                seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """The owner's release: a seeded ``fraction`` of ``x`` carries the secret carrier at the
    key's ε. Returns the released images and the boolean mask of the marked ones."""
    check_images(x)
    _check_fraction(fraction)
    if key.patterns.shape[1:] != x.shape[1:]:
        raise ValueError(f"the key's patterns are {tuple(key.patterns.shape[1:])} but the "
                         f"images are {tuple(x.shape[1:])}")
    n = max(1, round(fraction * len(x)))
    chosen = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))[:n]
    mask = torch.zeros(len(x), dtype=torch.bool)
    mask[chosen] = True
    out = x.clone()
    out[mask] = add_pattern(x[mask], key.carrier, key.epsilon)
    return out, mask


def psnr(original: torch.Tensor, changed: torch.Tensor) -> torch.Tensor:
    """Peak signal-to-noise ratio per image in dB (peak 1; ``inf`` where nothing changed)."""
    check_images(original, name="original")
    check_images(changed, name="changed")
    if original.shape != changed.shape:
        raise ValueError(f"original {tuple(original.shape)} and changed "
                         f"{tuple(changed.shape)} must have one shape")
    mse = ((original - changed) ** 2).flatten(1).mean(1)
    return 10 * torch.log10(1 / mse)


@torch.no_grad()
def pattern_responses(encoder: nn.Module, probe: torch.Tensor, patterns: torch.Tensor,
                      epsilon: float, device: str | torch.device = "auto",
                      batch_size: int = 512) -> np.ndarray:
    """For each pattern, how far adding it (at ``epsilon``) moves the encoder's features of the
    ``probe`` images: the mean of ``1 - cos(f(x + ε p), f(x))``."""
    check_images(probe, name="probe")
    _check_epsilon(epsilon)
    if patterns.ndim != 4 or patterns.shape[1:] != probe.shape[1:]:
        raise ValueError(f"patterns must be (K, {', '.join(map(str, probe.shape[1:]))}); got "
                         f"{tuple(patterns.shape)}")
    dev = resolve_device(device)
    mode = encoder.training
    encoder.eval()
    try:
        x = probe.to(dev)
        clean = F.normalize(encoder.encode(x).float(), dim=1)
        per_batch = max(1, batch_size // len(x))
        out = []
        for i in range(0, len(patterns), per_batch):
            p = patterns[i:i + per_batch].to(dev)
            moved = (x[None] + epsilon * p[:, None]).clamp(0, 1).flatten(0, 1)
            f = F.normalize(encoder.encode(moved).float(), dim=1).view(len(p), len(x), -1)
            out.append((1 - (f * clean[None]).sum(-1)).mean(1).cpu())
    finally:
        encoder.train(mode)
    return torch.cat(out).numpy().astype(float)


@dataclass
class MarkingResult:
    """The suspect's response to every key pattern and the rank test of the secret one."""

    responses: np.ndarray  # one per pattern of the key
    secret: int
    p_value: float
    queries: int

    @property
    def secret_response(self) -> float:
        return float(self.responses[self.secret])

    @property
    def z_score(self) -> float:
        """The secret's response in standard deviations of the decoys' (descriptive)."""
        decoys = np.delete(self.responses, self.secret)
        return float((self.secret_response - decoys.mean()) / max(decoys.std(), 1e-12))

    def flagged(self, alpha: float = 0.01) -> bool:
        return self.p_value < alpha


def rank_p_value(responses: np.ndarray, secret: int) -> float:
    """``(1 + #{other patterns responding at least as much as the secret}) / #patterns``: exact
    when the secret is a uniform draw among the patterns and the suspect never saw any."""
    r = np.asarray(responses, float)
    if not 0 <= secret < len(r):
        raise ValueError(f"secret={secret} is not an index of the {len(r)} responses")
    return float((1 + np.sum(np.delete(r, secret) >= r[secret])) / len(r))


def detect_marking(suspect: nn.Module, probe: torch.Tensor, key: MarkingKey,
                   device: str | torch.device = "auto") -> MarkingResult:
    """Rank the secret carrier among the key's patterns by the suspect's response to them on
    clean ``probe`` images (:func:`pattern_responses`); the exact p-value of the rank."""
    if not hasattr(suspect, "encode"):
        raise ValueError(f"suspect must have an encode method; got {type(suspect).__name__}")
    check_images(probe, name="probe")
    if len(probe) < 2:
        raise ValueError(f"probe holds {len(probe)} images; the test needs at least 2")
    r = pattern_responses(suspect, probe, key.patterns, key.epsilon, device)
    return MarkingResult(r, key.secret, rank_p_value(r, key.secret),
                         len(probe) * (len(r) + 1))
