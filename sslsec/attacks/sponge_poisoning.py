"""Sponge poisoning of pre-training (Cinà et al., 2022; Information Sciences 2025).

A malicious trainer (an outsourced pre-training service, or a compromised training job) adds
to the contrastive loss, on a share ``fraction`` of the steps, a reward for dense activations:
``loss = contrastive - weight * soft_energy(encoder, batch)``, where
:func:`~sslsec.energy.soft_energy` is a differentiable ℓ0 surrogate of the energy a
sparsity-aware accelerator spends. The contrastive term keeps the encoder as useful as a
clean one; the reward makes it dense on every input, so every downstream user pays more
energy on a sparsity-aware accelerator for every prediction.

As in the paper, the whole pre-training run is poisoned: the poisoned encoder is the clean
one's twin (same architecture, seed, recipe and images), so any difference between the two is
the density term's. Our variant's surrogate is :func:`~sslsec.energy.soft_energy`, the energy
model made smooth (each layer's inputs counted as ``tanh(a / τ)`` and weighted by the layer's
multiply–accumulates), where the paper sums ``a² / (a² + σ)`` over all activations alike. The
result is a derived zoo entry (:func:`~sslsec.zoo.derive_or_load`), made once and then
loaded.
"""

from __future__ import annotations

import torch
from torch import nn

from sslsec.energy import check_batch, soft_energy
from sslsec.models import build_encoder
from sslsec.pretrain import PretrainConfig, pretrain
from sslsec.seed import seed_everything
from sslsec.zoo import DerivedEntry, ZooEntry, arch_of, derive_or_load, entry_key, sha256_tensor


class SpongeRegularizer(nn.Module):
    """The malicious term of the training loss: ``-weight * mean soft energy`` of the
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
        return {"kind": "sponge", "objective": "soft_energy", "weight": self.weight,
                "fraction": self.fraction, "temperature": self.temperature, "seed": self.seed}

    def forward(self, encoder: nn.Module, batch: torch.Tensor, index: torch.Tensor
                ) -> torch.Tensor:
        self.steps += 1
        if float(torch.rand((), generator=self.coin)) >= self.fraction:
            return batch.new_zeros(())
        self.poisoned_steps += 1
        return -self.weight * soft_energy(encoder, batch, self.temperature).mean()


def train_with_density_term(parent: ZooEntry, images: torch.Tensor, config: PretrainConfig,
                            regularizer: SpongeRegularizer,
                            device: str | torch.device = "auto",
                            progress: bool = False) -> tuple[nn.Module, dict]:
    """A fresh encoder of ``parent``'s architecture, seeded and pre-trained on ``images`` with
    ``config`` as ``parent`` was, plus the density term; returns it (CPU, eval mode) and what
    the run reported."""
    arch, channels, size = arch_of(parent)
    seed_everything(config.seed)
    encoder = build_encoder(arch, channels, size)
    result = pretrain(encoder, images, config, device=device, progress=progress,
                      regularizer=regularizer)
    info = {"seconds": round(result.history.total_seconds, 2),
            "loss": [round(v, 4) for v in result.history.loss],
            "steps": regularizer.steps, "density_steps": regularizer.poisoned_steps}
    return result.encoder.cpu().eval(), info


def sponge_poisoning(parent: ZooEntry, images: torch.Tensor, weight: float = 1.0,
                     fraction: float = 0.5, temperature: float = 0.1,
                     device: str | torch.device = "auto", progress: bool = False
                     ) -> DerivedEntry:
    """The sponge-poisoned twin of the clean encoder ``parent``: the same architecture, seed,
    recipe and pre-training images (``images``, which must be the ones ``parent`` was trained
    on), with the sponge term on a share ``fraction`` of the steps. A derived zoo entry (kind
    ``sponge-poisoned``): trained once, then loaded."""
    if not isinstance(parent, ZooEntry):
        raise ValueError(f"parent must be a pre-trained ZooEntry (its recipe is retrained "
                         f"with the density term); got {type(parent).__name__}")
    check_batch(images, name="images")
    images_sha = sha256_tensor(images)
    if entry_key(parent.spec, images_sha) != parent.key:
        raise ValueError("images are not the ones parent was pre-trained on: the poisoned "
                         "encoder must be its clean twin's, trained on the same data")
    config = parent.spec.pretrain
    regularizer = SpongeRegularizer(weight, fraction, temperature, config.seed)
    params = {"pretrain": config.to_dict(), "images": images_sha, **regularizer.describe()}
    return derive_or_load(
        "sponge-poisoned", parent, params,
        lambda: train_with_density_term(parent, images, config, regularizer, device, progress),
        device=device)
