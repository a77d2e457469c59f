"""Downstream classifiers on frozen encoder features: linear probe, MLP (two hidden layers), kNN."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from sslsec.augment import check_images
from sslsec.checks import positive_ints
from sslsec.data import ImageSet
from sslsec.models import MLPHead
from sslsec.profiles import resolve_device


@torch.no_grad()
def extract_features(encoder: nn.Module, x: torch.Tensor, batch_size: int = 512,
                     device: str | torch.device = "auto") -> torch.Tensor:
    """``encoder.encode`` over ``x`` in batches, in eval mode; returns CPU features."""
    check_images(x)
    positive_ints(batch_size=batch_size)
    dev = resolve_device(device)
    was_training = encoder.training
    encoder.eval()
    try:
        feats = [encoder.encode(x[i:i + batch_size].to(dev)).cpu()
                 for i in range(0, len(x), batch_size)]
    finally:
        encoder.train(was_training)
    return torch.cat(feats)


def accuracy(logits_or_pred: torch.Tensor, y: torch.Tensor) -> float:
    """Top-1 accuracy in [0, 1] from logits ``(N, K)`` or predicted labels ``(N,)``."""
    pred = logits_or_pred.argmax(1) if logits_or_pred.ndim == 2 else logits_or_pred
    if pred.shape != y.shape:
        raise ValueError(f"predictions {tuple(pred.shape)} and labels {tuple(y.shape)} differ")
    if len(y) == 0:
        raise ValueError("accuracy of an empty set is undefined")
    return (pred.cpu() == y.cpu()).float().mean().item()


@dataclass
class Classifier:
    """A trained downstream head over frozen features, with its standardisation."""

    head: nn.Module
    mean: torch.Tensor
    std: torch.Tensor

    @torch.no_grad()
    def logits(self, features: torch.Tensor) -> torch.Tensor:
        self.head.eval()
        return self.head((features - self.mean) / self.std)

    def predict(self, features: torch.Tensor) -> torch.Tensor:
        return self.logits(features).argmax(1)


@dataclass
class ProbeResult:
    """A downstream classifier and its train/test accuracy."""

    classifier: Classifier
    train_accuracy: float
    test_accuracy: float


def _check_xy(features: torch.Tensor, y: torch.Tensor, name: str) -> None:
    if features.ndim != 2 or y.ndim != 1 or len(features) != len(y) or len(y) == 0:
        raise ValueError(f"{name}: features must be (N, D) and labels (N,) with N > 0; got "
                         f"{tuple(features.shape)} and {tuple(y.shape)}")


@torch.enable_grad()
def train_head(head: nn.Module, features: torch.Tensor, y: torch.Tensor, epochs: int = 100,
               lr: float = 1e-2, weight_decay: float = 1e-4, batch_size: int = 512,
               seed: int = 0) -> Classifier:
    """Train ``head`` on standardised features with Adam and cross-entropy (mini-batches)."""
    _check_xy(features, y, "train")
    positive_ints(epochs=epochs)
    mean, std = features.mean(0), features.std(0) + 1e-6
    z = (features - mean) / std
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(head.parameters(), lr=lr, weight_decay=weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, epochs)
    head.train()
    for _ in range(epochs):
        order = torch.randperm(len(z), generator=generator)
        for i in range(0, len(z), batch_size):
            idx = order[i:i + batch_size]
            loss = F.cross_entropy(head(z[idx]), y[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        scheduler.step()
    head.eval()
    return Classifier(head, mean, std)


def _probe(kind: str, train_f: torch.Tensor, train_y: torch.Tensor, test_f: torch.Tensor,
           test_y: torch.Tensor, num_classes: int | None, epochs: int, seed: int) -> ProbeResult:
    _check_xy(train_f, train_y, "train")
    _check_xy(test_f, test_y, "test")
    if train_f.shape[1] != test_f.shape[1]:
        raise ValueError("train and test features have different dimensions")
    k = num_classes or int(max(train_y.max(), test_y.max())) + 1
    d = train_f.shape[1]
    with torch.random.fork_rng():  # seed the head's initialisation without touching the caller
        torch.manual_seed(seed)
        head = nn.Linear(d, k) if kind == "linear" else MLPHead(d, k)
    clf = train_head(head, train_f, train_y, epochs=epochs, seed=seed,
                     lr=1e-2 if kind == "linear" else 1e-3)
    return ProbeResult(clf, accuracy(clf.logits(train_f), train_y),
                       accuracy(clf.logits(test_f), test_y))


def linear_probe(train_f: torch.Tensor, train_y: torch.Tensor, test_f: torch.Tensor,
                 test_y: torch.Tensor, num_classes: int | None = None, epochs: int = 100,
                 seed: int = 0) -> ProbeResult:
    """Logistic regression on frozen features (the standard SSL linear evaluation)."""
    return _probe("linear", train_f, train_y, test_f, test_y, num_classes, epochs, seed)


def mlp_probe(train_f: torch.Tensor, train_y: torch.Tensor, test_f: torch.Tensor,
              test_y: torch.Tensor, num_classes: int | None = None, epochs: int = 100,
              seed: int = 0) -> ProbeResult:
    """An MLP with two hidden layers (512, 256) on frozen features: BadEncoder's downstream
    classifier."""
    return _probe("mlp", train_f, train_y, test_f, test_y, num_classes, epochs, seed)


def knn_accuracy(train_f: torch.Tensor, train_y: torch.Tensor, test_f: torch.Tensor,
                 test_y: torch.Tensor, k: int = 20) -> float:
    """Cosine-similarity kNN (majority vote of ``k`` neighbours): the usual SSL monitor."""
    _check_xy(train_f, train_y, "train")
    _check_xy(test_f, test_y, "test")
    if not isinstance(k, int) or not 0 < k <= len(train_f):
        raise ValueError(f"k={k!r} must be an integer in 1..{len(train_f)}")
    sim = F.normalize(test_f, dim=1) @ F.normalize(train_f, dim=1).T
    neighbours = train_y[sim.topk(k, dim=1).indices]
    votes = F.one_hot(neighbours, int(train_y.max()) + 1).sum(1)
    return accuracy(votes.argmax(1), test_y)


def evaluate_encoder(encoder: nn.Module, train: ImageSet, test: ImageSet, probe: str = "linear",
                     epochs: int = 100, device: str | torch.device = "auto",
                     seed: int = 0) -> ProbeResult:
    """Features of ``train``/``test`` from ``encoder`` → a ``linear`` or ``mlp`` probe."""
    probes = {"linear": linear_probe, "mlp": mlp_probe}
    if probe not in probes:
        raise ValueError(f"probe={probe!r} is unknown; allowed: {', '.join(probes)}")
    train_f = extract_features(encoder, train.x, device=device)
    test_f = extract_features(encoder, test.x, device=device)
    return probes[probe](train_f, train.y, test_f, test.y, train.num_classes,
                         epochs=epochs, seed=seed)
