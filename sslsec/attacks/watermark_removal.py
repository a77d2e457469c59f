"""What a thief does to a copy to hide where it came from (chapter 06): prune it, or fine-tune
it on its own data. Both keep the copy useful; the question is whether the owner's watermark or
fingerprint survives."""

from __future__ import annotations

import copy

import torch
import torch.nn.utils.prune as torch_prune
from torch import nn

from sslsec.augment import check_images
from sslsec.models import Encoder
from sslsec.pretrain import PretrainConfig, pretrain
from sslsec.zoo import DerivedEntry, ZooEntry, derive_or_load, sha256_tensor


def prune_encoder(encoder: Encoder, amount: float) -> Encoder:
    """A copy of ``encoder`` with the ``amount`` share of its conv and linear weights of
    smallest magnitude set to zero (global L1 pruning, made permanent)."""
    if not 0 <= amount < 1:
        raise ValueError(f"amount={amount!r} must be in [0, 1)")
    pruned = copy.deepcopy(encoder).eval()
    params = [(m, "weight") for m in pruned.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    if not params:
        raise ValueError(f"{type(encoder).__name__} has no conv or linear weights to prune")
    if amount > 0:
        torch_prune.global_unstructured(params, pruning_method=torch_prune.L1Unstructured,
                                        amount=amount)
        for module, name in params:
            torch_prune.remove(module, name)
    return pruned


def sparsity(encoder: nn.Module) -> float:
    """The share of zero weights among the conv and linear weights."""
    weights = [m.weight for m in encoder.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    return float(sum((w == 0).sum() for w in weights) / sum(w.numel() for w in weights))


def finetuned_copy(source: ZooEntry | DerivedEntry, images: torch.Tensor,
                   config: PretrainConfig, device: str | torch.device = "auto",
                   progress: bool = True) -> DerivedEntry:
    """Continue contrastive pre-training of a copy of ``source`` on the thief's ``images`` with
    ``config`` (a fresh projection head), kept in the encoder zoo."""
    check_images(images, source.encoder.in_channels, "images")
    params = {"images_sha256": sha256_tensor(images), "config": config.to_dict()}

    def make() -> tuple[Encoder, dict]:
        result = pretrain(copy.deepcopy(source.encoder), images, config, device, progress)
        return result.encoder, {"loss": result.history.loss,
                                "seconds": result.history.total_seconds}

    return derive_or_load("finetuned", source, params, make, device)
