"""Early stopping against membership inference: the privacy–utility curve over training.

An encoder memorises its pre-training set the longer it trains (chapter 02). Stopping early
trades downstream accuracy for privacy. :func:`privacy_utility_curve` takes one pre-training
run's snapshots (:func:`sslsec.zoo.train_snapshots_or_load`) and, at each, measures the
membership AUC of the EncoderMI score (mean similarity of augmented views; threshold-free, so
no shadow encoder is needed to draw the curve) and the linear-probe accuracy of a downstream
task.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

from sslsec.attacks.encodermi import view_similarities
from sslsec.augment import check_images
from sslsec.data import ImageSet
from sslsec.downstream import evaluate_encoder
from sslsec.zoo import ZooEntry


@dataclass
class CurvePoint:
    """One snapshot's membership AUC and probe accuracy, with the membership scores (mean view
    similarity) of the members and non-members behind the AUC (empty for a point read off the
    curve between snapshots, whose epoch may be fractional)."""

    epoch: float
    membership_auc: float
    probe_accuracy: float
    member_scores: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)
    nonmember_scores: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)


@dataclass
class PrivacyUtilityCurve:
    """Membership AUC and linear-probe accuracy at each checkpoint epoch."""

    points: list[CurvePoint] = field(default_factory=list)

    def at_auc(self, auc: float) -> CurvePoint | None:
        """The operating point where training first reaches a membership AUC of ``auc``, read
        off the curve: epoch and probe accuracy interpolated linearly in the AUC between the
        last checkpoint at or under ``auc`` and the next one (in epoch order). The last
        checkpoint when the run never reaches ``auc``; None when its first checkpoint is already
        over it."""
        points = sorted(self.points, key=lambda p: p.epoch)
        if not points or points[0].membership_auc > auc:
            return None
        for before, after in itertools.pairwise(points):
            if after.membership_auc > auc:
                w = (auc - before.membership_auc) / (after.membership_auc - before.membership_auc)
                return CurvePoint(before.epoch + w * (after.epoch - before.epoch), auc,
                                  before.probe_accuracy
                                  + w * (after.probe_accuracy - before.probe_accuracy))
        return points[-1]


def privacy_utility_curve(snapshots: Mapping[int, ZooEntry], members: torch.Tensor,
                          nonmembers: torch.Tensor, task: dict[str, ImageSet],
                          n_views: int = 10, use_head: bool = True, probe_epochs: int = 50,
                          device: str | torch.device = "auto") -> PrivacyUtilityCurve:
    """One pre-training run on ``members`` measured at each of its ``snapshots`` (``{epoch:
    entry}``, from :func:`sslsec.zoo.train_snapshots_or_load`): the membership AUC (members vs
    ``nonmembers``, views drawn with the run's own augmentations) and the linear-probe accuracy
    on ``task`` (``{"train": ImageSet, "test": ImageSet}``)."""
    check_images(members, name="members")
    check_images(nonmembers, name="nonmembers")
    if not snapshots or any(not isinstance(e, int) or e <= 0 for e in snapshots):
        raise ValueError(f"snapshots must map positive epoch numbers to zoo entries; got epochs "
                         f"{list(snapshots)!r}")
    if not {"train", "test"} <= set(task):
        raise ValueError(f"task must hold 'train' and 'test' splits; got {sorted(task)}")
    labels = np.r_[np.ones(len(members)), np.zeros(len(nonmembers))]
    curve = PrivacyUtilityCurve()
    for epoch, entry in sorted(snapshots.items()):
        config = entry.spec.pretrain
        head = entry.projector if use_head else None
        scores = [view_similarities(entry.encoder, x, config.augment, n_views, head,
                                    device=device, seed=config.seed).mean(1)
                  for x in (members, nonmembers)]
        auc = float(roc_auc_score(labels, torch.cat(scores).numpy()))
        probe = evaluate_encoder(entry.encoder, task["train"], task["test"],
                                 epochs=probe_epochs, device=device, seed=config.seed)
        curve.points.append(CurvePoint(epoch, auc, probe.test_accuracy, scores[0].numpy(),
                                       scores[1].numpy()))
    return curve
