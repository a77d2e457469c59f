"""Sponge poisoning of pre-training (Cinà et al., 2022; Information Sciences 2025).

A malicious trainer (an outsourced pre-training service, or a compromised training job) adds
to the contrastive loss, on a share ``fraction`` of the steps, a reward for dense activations:
``loss = contrastive - weight * soft_density(encoder, batch)``, where
:func:`~sslsec.energy.soft_density` is a differentiable ℓ0 surrogate of the share of ReLU
inputs above zero. The contrastive term keeps the encoder as useful as a clean one; the reward
makes it dense on every input, so every downstream user pays more energy on a sparsity-aware
accelerator for every prediction.

Our variant: the poisoned encoder continues from a clean pre-trained one for a few epochs (the
trainer poisons the last epochs of the run) rather than training from scratch, so that the
laptop profile stays in its time budget; the surrogate is a sigmoid of the ReLU inputs where
the paper uses ``a² / (a² + σ)`` of the activations. The result is a derived zoo entry
(:func:`~sslsec.zoo.derive_or_load`), made once and then loaded.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from sslsec.energy import soft_density
from sslsec.pretrain import PretrainConfig, pretrain
from sslsec.zoo import DerivedEntry, ZooEntry, derive_or_load, sha256_tensor


class SpongeRegularizer(nn.Module):
    """The malicious term of the training loss: ``-weight * mean soft density`` of the
    un-augmented batch, on each step with probability ``fraction`` (its own seeded coin), else
    0. A negative ``weight`` *penalises* density instead (re-sparsifying fine-tuning)."""

    def __init__(self, weight: float = 1.0, fraction: float = 0.5, temperature: float = 0.1,
                 seed: int = 0) -> None:
        super().__init__()
        if not (isinstance(weight, int | float) and weight != 0):
            raise ValueError(f"weight={weight!r} must be a non-zero number")
        if not (isinstance(fraction, int | float) and 0 < fraction <= 1):
            raise ValueError(f"fraction={fraction!r} must be in (0, 1]")
        if not temperature > 0:
            raise ValueError(f"temperature={temperature!r} must be > 0")
        self.weight, self.fraction, self.temperature, self.seed = weight, fraction, \
            temperature, seed
        self.coin = torch.Generator().manual_seed(seed)
        self.steps = self.poisoned_steps = 0

    def describe(self) -> dict:
        return {"kind": "sponge", "weight": self.weight, "fraction": self.fraction,
                "temperature": self.temperature, "seed": self.seed}

    def forward(self, encoder: nn.Module, batch: torch.Tensor, index: torch.Tensor
                ) -> torch.Tensor:
        self.steps += 1
        if float(torch.rand((), generator=self.coin)) >= self.fraction:
            return batch.new_zeros(())
        self.poisoned_steps += 1
        return -self.weight * soft_density(encoder, batch, self.temperature).mean()


def train_with_density_term(parent: ZooEntry | DerivedEntry, images: torch.Tensor,
                            config: PretrainConfig, regularizer: SpongeRegularizer,
                            device: str | torch.device = "auto",
                            progress: bool = False) -> tuple[nn.Module, dict]:
    """A copy of ``parent``'s encoder, pre-trained further on ``images`` with ``config`` and
    the density term; returns it (CPU, eval mode) and what the run reported."""
    encoder = copy.deepcopy(parent.encoder)
    result = pretrain(encoder, images, config, device=device, progress=progress,
                      regularizer=regularizer)
    info = {"seconds": round(result.history.total_seconds, 2),
            "loss": [round(v, 4) for v in result.history.loss],
            "steps": regularizer.steps, "density_steps": regularizer.poisoned_steps}
    return result.encoder.cpu().eval(), info


def sponge_poisoning(parent: ZooEntry | DerivedEntry, images: torch.Tensor,
                     config: PretrainConfig, weight: float = 1.0, fraction: float = 0.5,
                     temperature: float = 0.1, device: str | torch.device = "auto",
                     progress: bool = False) -> DerivedEntry:
    """The sponge-poisoned encoder: ``parent`` pre-trained further on ``images`` with
    ``config`` (its epochs, seed, recipe) and the sponge term on a share ``fraction`` of the
    steps. A derived zoo entry (kind ``sponge-poisoned``): trained once, then loaded."""
    regularizer = SpongeRegularizer(weight, fraction, temperature, config.seed)
    params = {"pretrain": config.to_dict(), "images": sha256_tensor(images),
              **regularizer.describe()}
    return derive_or_load(
        "sponge-poisoned", parent, params,
        lambda: train_with_density_term(parent, images, config, regularizer, device, progress),
        device=device)
