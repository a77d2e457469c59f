"""DECREE-style backdoor detection for encoders (Feng et al., CVPR 2023).

No labels and no downstream task: only the encoder and some clean images. A backdoored encoder
maps every input that carries its trigger to (nearly) the same features, and its trigger is
small. DECREE searches for the *smallest* mask (and a pattern) that makes the features of
stamped clean images collapse — their mean pairwise cosine similarity above ``threshold`` —
with an L1 penalty whose weight adapts: up while the similarity holds, down while it does not.
Similarities are taken on features standardised with their statistics on the clean images (a
collapse means "all alike", not "all sharing the encoder's common offset"). The statistic is
the found mask's L1 norm as a share of the image (PL1): small for
backdoored encoders, large for clean ones, where only covering most of the image makes every
input look alike.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from sklearn.metrics import roc_auc_score, roc_curve
from torch import nn
from tqdm.auto import tqdm

from sslsec.augment import check_images
from sslsec.checks import positive_ints
from sslsec.downstream import extract_features
from sslsec.pretrain import show_progress
from sslsec.profiles import resolve_device
from sslsec.seed import seed_everything


def self_similarity(features: torch.Tensor) -> torch.Tensor:
    """Mean pairwise cosine similarity of a batch of features (off-diagonal pairs)."""
    z = F.normalize(features, dim=1)
    n = len(z)
    return ((z.sum(0) ** 2).sum() - n) / (n * (n - 1))


@dataclass
class InvertedTrigger:
    """The smallest collapsing trigger found: mask (1, H, W), pattern (C, H, W), its
    similarity, and PL1 = mask L1 norm / (H·W) (1.0 when none reached the threshold)."""

    mask: torch.Tensor
    pattern: torch.Tensor
    similarity: float
    pl1: float
    found: bool


def invert_trigger(encoder: nn.Module, images: torch.Tensor, steps: int = 300,
                   batch_size: int = 128, lr: float = 0.1, threshold: float = 0.9,
                   init_lambda: float = 1e-3, adapt: float = 1.5, patience: int = 5,
                   device: str | torch.device = "auto", seed: int = 0,
                   progress: bool = True) -> InvertedTrigger:
    """Search the smallest mask + pattern that collapses ``encoder``'s features of stamped
    ``images`` (mean pairwise cosine ≥ ``threshold``). The encoder is frozen."""
    check_images(images, name="images")
    if not hasattr(encoder, "encode"):
        raise ValueError(f"encoder must have an encode method; got {type(encoder).__name__}")
    positive_ints(steps=steps, batch_size=batch_size, patience=patience)
    if not 0 < threshold < 1:
        raise ValueError(f"threshold={threshold!r} must be in (0, 1)")
    if not 2 <= batch_size <= len(images):
        raise ValueError(f"batch_size={batch_size} must be in 2..{len(images)} (the images)")
    dev = resolve_device(device)
    gen = seed_everything(seed)
    _, c, h, w = images.shape
    mask_logit = (torch.rand(1, 1, h, w, generator=gen) * 4 - 2).to(dev)
    pattern_logit = torch.randn(1, c, h, w, generator=gen).to(dev)
    mask_logit.requires_grad_(True)
    pattern_logit.requires_grad_(True)
    optimizer = torch.optim.Adam([mask_logit, pattern_logit], lr=lr, betas=(0.5, 0.9))
    modes = encoder.training
    encoder.eval()
    for p in encoder.parameters():
        p.requires_grad_(False)
    with torch.no_grad():  # similarity around the clean features' mean, standardised
        clean = extract_features(encoder, images, device=dev).to(dev)
        mean, std = clean.mean(0), clean.std(0) + 1e-6
    lam, up, down = init_lambda, 0, 0
    best = InvertedTrigger(torch.ones(1, h, w), torch.zeros(c, h, w), 0.0, 1.0, False)
    try:
        for _ in tqdm(range(steps), desc="trigger inversion", disable=not show_progress(progress)):
            idx = torch.randint(len(images), (batch_size,), generator=gen)
            x = images[idx].to(dev)
            mask, pattern = torch.sigmoid(mask_logit), torch.sigmoid(pattern_logit)
            stamped = x * (1 - mask) + pattern * mask
            similarity = self_similarity((encoder.encode(stamped) - mean) / std)
            size = mask.sum()
            loss = -similarity + lam * size
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            sim, pl1 = similarity.item(), size.item() / (h * w)
            if sim >= threshold:
                if pl1 < best.pl1:
                    best = InvertedTrigger(mask[0].detach().cpu(), pattern[0].detach().cpu(),
                                           sim, pl1, True)
                up, down = up + 1, 0
            else:
                up, down = 0, down + 1
            if up > patience:
                lam, up = lam * adapt, 0
            elif down > patience:
                lam, down = lam / adapt, 0
    finally:
        for p in encoder.parameters():
            p.requires_grad_(True)
        encoder.train(modes)
    return best


@dataclass
class DetectionResult:
    """A detector's scores (higher: more suspicious) on a labelled population."""

    scores: list[float]
    backdoored: list[bool]

    @property
    def auroc(self) -> float:
        return float(roc_auc_score(self.backdoored, self.scores))

    def roc(self) -> tuple[list[float], list[float]]:
        fpr, tpr, _ = roc_curve(self.backdoored, self.scores)
        return fpr.tolist(), tpr.tolist()


def detect(triggers: list[InvertedTrigger], backdoored: list[bool]) -> DetectionResult:
    """Score each encoder by ``1 - PL1`` of its inverted trigger (a smaller trigger is more
    suspicious); the population needs both clean and backdoored encoders."""
    if len(triggers) != len(backdoored) or len(set(backdoored)) != 2:
        raise ValueError("need one label per trigger, and both clean and backdoored encoders")
    return DetectionResult([1.0 - t.pl1 for t in triggers], list(backdoored))
