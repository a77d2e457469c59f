"""Early stopping against membership inference: the privacy–utility curve over training.

An encoder memorises its pre-training set the longer it trains (chapter 02). Stopping early
trades downstream accuracy for privacy. :func:`privacy_utility_curve` pre-trains once and, at
each checkpoint epoch, measures the membership AUC of the EncoderMI score (mean similarity of
augmented views; threshold-free, so no shadow encoder is needed to draw the curve) and the
linear-probe accuracy of a downstream task.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from sklearn.metrics import roc_auc_score
from torch import nn

from sslsec.attacks.encodermi import view_similarities
from sslsec.augment import check_images
from sslsec.data import ImageSet
from sslsec.downstream import evaluate_encoder
from sslsec.models import Encoder, build_encoder
from sslsec.pretrain import PretrainConfig, pretrain
from sslsec.seed import seed_everything


@dataclass
class CurvePoint:
    epoch: int
    membership_auc: float
    probe_accuracy: float


@dataclass
class PrivacyUtilityCurve:
    """Membership AUC and linear-probe accuracy at each checkpoint epoch."""

    points: list[CurvePoint] = field(default_factory=list)

    def best_under(self, max_auc: float) -> CurvePoint | None:
        """The most accurate checkpoint whose membership AUC is at most ``max_auc``."""
        ok = [p for p in self.points if p.membership_auc <= max_auc]
        return max(ok, key=lambda p: p.probe_accuracy) if ok else None


def privacy_utility_curve(members: torch.Tensor, nonmembers: torch.Tensor,
                          task: dict[str, ImageSet], config: PretrainConfig,
                          checkpoints: Sequence[int], arch: str = "cnn28",
                          n_views: int = 10, use_head: bool = True, probe_epochs: int = 50,
                          device: str | torch.device = "auto",
                          progress: bool = True) -> PrivacyUtilityCurve:
    """Pre-train an encoder on ``members`` for ``max(checkpoints)`` epochs; at each checkpoint,
    record the membership AUC (members vs ``nonmembers``) and the linear-probe accuracy on
    ``task`` (``{"train": ImageSet, "test": ImageSet}``)."""
    check_images(members, name="members")
    check_images(nonmembers, name="nonmembers")
    wanted = sorted(set(checkpoints))
    if not wanted or any(not isinstance(e, int) or e <= 0 for e in wanted):
        raise ValueError(f"checkpoints={list(checkpoints)!r} must be positive epoch numbers")
    if not {"train", "test"} <= set(task):
        raise ValueError(f"task must hold 'train' and 'test' splits; got {sorted(task)}")
    seed_everything(config.seed)
    encoder = build_encoder(arch, members.shape[1], members.shape[-1])
    curve = PrivacyUtilityCurve()
    labels = np.r_[np.ones(len(members)), np.zeros(len(nonmembers))]

    def checkpoint(epoch: int, enc: Encoder, projector: nn.Module) -> None:
        if epoch not in wanted:
            return
        head = projector if use_head else None
        scores = [view_similarities(enc, x, config.augment, n_views, head, device=device,
                                    seed=config.seed).mean(1) for x in (members, nonmembers)]
        auc = float(roc_auc_score(labels, torch.cat(scores).numpy()))
        probe = evaluate_encoder(enc, task["train"], task["test"], epochs=probe_epochs,
                                 device=device, seed=config.seed)
        curve.points.append(CurvePoint(epoch, auc, probe.test_accuracy))

    pretrain(encoder, members, dataclasses.replace(config, epochs=wanted[-1]), device=device,
             progress=progress, on_epoch_end=checkpoint)
    return curve
