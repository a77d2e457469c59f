"""Adversarial training against an attribute adversary (Talos-style, after Song & Shmatikov's
"censoring" baseline, ICLR 2020).

During pre-training, an adversary head learns to predict a sensitive attribute from the
encoder's features of the clean image, while the encoder is pushed to make it fail: its gradient
reaches the encoder through a gradient-reversal layer, scaled by ``weight``. The contrastive
loss keeps the features useful; the adversary's loss, reversed, strips the attribute out, at
least as far as *this* adversary can see it.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from sslsec.checks import positive_ints
from sslsec.data import ImageSet
from sslsec.downstream import extract_features
from sslsec.models import Encoder, build_encoder
from sslsec.pretrain import PretrainConfig
from sslsec.profiles import Profile
from sslsec.zoo import EncoderSpec, ZooEntry, sha256_tensor, train_or_load


class GradientReversal(torch.autograd.Function):
    """Identity on the way forward; ``-weight`` times the gradient on the way back."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: float) -> torch.Tensor:  # noqa: D102
        ctx.weight = weight
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:  # noqa: D102
        return -ctx.weight * grad, None


def reverse_gradient(x: torch.Tensor, weight: float = 1.0) -> torch.Tensor:
    """``x`` unchanged, but the gradient flowing back through it is multiplied by ``-weight``."""
    return GradientReversal.apply(x, weight)


class AttributeAdversary(nn.Module):
    """A pre-training regulariser (see :func:`sslsec.pretrain.pretrain`): an MLP adversary that
    predicts ``attribute[index]`` from the features of the clean batch, behind a
    gradient-reversal layer of strength ``weight``."""

    def __init__(self, attribute: torch.Tensor, feature_dim: int, weight: float = 1.0,
                 hidden: int = 128) -> None:
        super().__init__()
        attribute = torch.as_tensor(attribute)
        if attribute.ndim != 1 or attribute.dtype.is_floating_point or len(attribute) == 0:
            raise ValueError("attribute must be a non-empty 1-D integer tensor of levels")
        if attribute.min() < 0:
            raise ValueError("attribute levels must be >= 0")
        if not weight > 0:
            raise ValueError(f"weight={weight!r} must be > 0")
        positive_ints(hidden=hidden)
        self.weight = float(weight)
        self.register_buffer("attribute", attribute.long())
        n_levels = int(attribute.max()) + 1
        self.head = nn.Sequential(nn.BatchNorm1d(feature_dim, affine=False),
                                  nn.Linear(feature_dim, hidden), nn.ReLU(),
                                  nn.Linear(hidden, n_levels))

    def forward(self, encoder: Encoder, batch: torch.Tensor,
                index: torch.Tensor) -> torch.Tensor:
        features = reverse_gradient(encoder.encode(batch).float(), self.weight)
        return F.cross_entropy(self.head(features).float(), self.attribute[index])

    def describe(self) -> dict:
        """The settings that, with the training images, decide what this adversary does."""
        return {"kind": "attribute_adversary", "weight": self.weight,
                "hidden": self.head[1].out_features, "n_levels": self.head[-1].out_features}


def adversarially_trained_encoder(profile: Profile, data: ImageSet, attribute: torch.Tensor,
                                  weight: float, seed: int = 0, progress: bool = True,
                                  attribute_name: str = "attribute",
                                  **pretrain_changes) -> ZooEntry:
    """The profile's encoder pre-trained on ``data`` with an :class:`AttributeAdversary` for
    ``attribute`` (one level per image) at strength ``weight``, through the encoder zoo; the
    trained adversary comes back as the entry's ``regularizer`` (:func:`adversary_accuracy`)."""
    if len(attribute) != len(data):
        raise ValueError(f"attribute has {len(attribute)} levels for {len(data)} images")
    config = PretrainConfig.from_profile(profile, seed=seed, **pretrain_changes)
    feature_dim = build_encoder(profile.arch, data.channels, data.size).feature_dim
    with torch.random.fork_rng():  # the adversary's initial weights follow the spec's seed,
        torch.manual_seed(config.seed)  # not whatever ran before in this process
        adversary = AttributeAdversary(attribute, feature_dim, weight)
    spec = EncoderSpec(profile.arch, data.channels, data.size, config,
                       f"{data.name} n={len(data)}",
                       {**adversary.describe(), "attribute": attribute_name,
                        "attribute_sha256": sha256_tensor(adversary.attribute)})
    return train_or_load(spec, data.x, profile.device, progress=progress, regularizer=adversary)


@torch.no_grad()
def adversary_accuracy(entry: ZooEntry, x: torch.Tensor, levels: torch.Tensor,
                       device: str | torch.device = "auto") -> float:
    """Accuracy of the adversary that trained alongside ``entry``'s encoder (its
    ``regularizer``, as training left it) at reading ``levels`` from the encoder's features of
    ``x``: what the defence itself sees of the attribute, to set beside a fresh attacker's."""
    if not isinstance(entry.regularizer, AttributeAdversary):
        raise ValueError("entry has no AttributeAdversary: make it with "
                         "adversarially_trained_encoder")
    levels = torch.as_tensor(levels)
    if len(levels) != len(x):
        raise ValueError(f"levels has {len(levels)} entries for {len(x)} images")
    features = extract_features(entry.encoder, x, device=device).float()
    head = copy.deepcopy(entry.regularizer.head).cpu().eval()
    return float((head(features).argmax(1) == levels).float().mean())
