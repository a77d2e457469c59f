"""Attribute inference from embeddings (after Song & Shmatikov, ICLR 2020; He & Zhang, CCS 2021).

An encoder's features carry more than the downstream task needs. An attacker who sees a user's
embedding, and owns auxiliary images labelled with a sensitive attribute, trains a classifier
from embedding to attribute and applies it to the user's embeddings.

The attributes here are computed from the image itself (no extra labels needed), and binned
*within each class* into equally likely levels, so that the attribute says nothing about the
class: a majority-class guess scores ``1 / n_levels`` whatever the digit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from scipy import ndimage
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from torch import nn

from sslsec.augment import check_images
from sslsec.data import ImageSet, Splits
from sslsec.downstream import evaluate_encoder, extract_features


def stroke_thickness(x: torch.Tensor) -> np.ndarray:
    """Mean stroke half-width in pixels: the mean Euclidean distance transform over the ink
    pixels (> 0.5) of each grey-scale image ``(N, 1, H, W)``."""
    check_images(x, 1, "x")
    out = np.zeros(len(x))
    for i, image in enumerate(x[:, 0].cpu().numpy()):
        ink = image > 0.5
        if ink.any():
            out[i] = ndimage.distance_transform_edt(ink)[ink].mean()
    return out


def slant(x: torch.Tensor) -> np.ndarray:
    """The shear of each grey-scale image ``(N, 1, H, W)`` from its second-order moments,
    ``mu11 / mu02`` (positive: the top leans right)."""
    check_images(x, 1, "x")
    images = x[:, 0].double().cpu().numpy()
    size = images.shape[-1]
    rows, cols = np.mgrid[:size, :size]
    mass = images.sum((1, 2)).clip(min=1e-8)
    cy = (images * rows).sum((1, 2)) / mass
    cx = (images * cols).sum((1, 2)) / mass
    dy, dx = rows - cy[:, None, None], cols - cx[:, None, None]
    mu11 = (images * dx * -dy).sum((1, 2)) / mass  # image rows grow downwards
    mu02 = (images * dy ** 2).sum((1, 2)) / mass
    return mu11 / mu02.clip(min=1e-8)


def brightness(x: torch.Tensor) -> np.ndarray:
    """Mean pixel value of each image (any number of channels): an attribute for colour data."""
    check_images(x, name="x")
    return x.double().mean((1, 2, 3)).cpu().numpy()


#: Attributes an attacker may infer, computed from the images themselves.
ATTRIBUTES: dict[str, Callable[[torch.Tensor], np.ndarray]] = {
    "thickness": stroke_thickness, "slant": slant, "brightness": brightness,
}


def attribute_levels(values: np.ndarray, classes: torch.Tensor | np.ndarray,
                     n_levels: int = 3) -> np.ndarray:
    """Bin ``values`` into ``n_levels`` quantile levels *within each class* (0 = lowest), so
    that every level is equally likely whatever the class."""
    values, classes = np.asarray(values), np.asarray(classes)
    if not isinstance(n_levels, int) or n_levels < 2:
        raise ValueError(f"n_levels={n_levels!r} must be an integer >= 2")
    if values.shape != classes.shape or values.ndim != 1:
        raise ValueError(f"values {values.shape} and classes {classes.shape} must be 1-D and "
                         "of equal length")
    levels = np.zeros(len(values), dtype=np.int64)
    for c in np.unique(classes):
        mask = classes == c
        edges = np.quantile(values[mask], np.linspace(0, 1, n_levels + 1)[1:-1])
        levels[mask] = np.searchsorted(edges, values[mask], side="right")
    return levels


def image_attribute(x: torch.Tensor, classes: torch.Tensor, attribute: str = "thickness",
                    n_levels: int = 3) -> torch.Tensor:
    """The within-class level (0 .. ``n_levels - 1``) of ``attribute`` for each image."""
    if attribute not in ATTRIBUTES:
        raise ValueError(f"attribute={attribute!r} is unknown; allowed: {', '.join(ATTRIBUTES)}")
    if len(classes) != len(x):
        raise ValueError(f"{len(classes)} class labels for {len(x)} images")
    return torch.as_tensor(attribute_levels(ATTRIBUTES[attribute](x), classes, n_levels))


#: ``linear``: logistic regression; ``mlp``: a one-hidden-layer MLP (with early stopping, it
#: under-fits a few hundred images); ``kernel``: an RBF-kernel SVM whose regularisation ``C`` is
#: chosen by 5-fold cross-validation on the attacker's own images (:data:`KERNEL_C`), the
#: non-linear attacker that matches the linear one without a defence
ATTACKERS = ("linear", "mlp", "kernel")

#: the grid of SVM regularisation strengths the ``kernel`` attacker chooses from
KERNEL_C = (0.1, 1.0, 10.0, 100.0)


@dataclass
class AttributeResult:
    """The attacker's accuracy on the users' embeddings, and the majority-level prior."""

    attacker: str
    accuracy: float
    prior: float
    predictions: np.ndarray

    @property
    def advantage(self) -> float:
        """Accuracy above the prior (the attacker's gain from the embedding)."""
        return self.accuracy - self.prior


def attribute_inference(encoder: nn.Module, aux_x: torch.Tensor, aux_attribute: torch.Tensor,
                        target_x: torch.Tensor, target_attribute: torch.Tensor,
                        attacker: str = "mlp", device: str | torch.device = "auto",
                        seed: int = 0) -> AttributeResult:
    """Train an ``attacker`` (``linear`` logistic regression, a 1-hidden-layer ``mlp`` or an
    RBF-``kernel`` SVM, see :data:`ATTACKERS`) from the embeddings of the attacker's
    auxiliary images to their attribute levels, and infer the levels of the targets'
    embeddings. ``target_attribute`` is used only to score."""
    if attacker not in ATTACKERS:
        raise ValueError(f"attacker={attacker!r} is unknown; allowed: {', '.join(ATTACKERS)}")
    for name, x, a in (("aux", aux_x, aux_attribute), ("target", target_x, target_attribute)):
        check_images(x, name=f"{name}_x")
        if len(x) == 0:
            raise ValueError(f"{name}_x is empty")
        if len(a) != len(x):
            raise ValueError(f"{name}_attribute has {len(a)} labels for {len(x)} images")
    if len(np.unique(np.asarray(aux_attribute))) < 2:
        raise ValueError("aux_attribute must hold at least two levels")
    aux_f = extract_features(encoder, aux_x, device=device).float().numpy()
    target_f = extract_features(encoder, target_x, device=device).float().numpy()
    scaler = StandardScaler().fit(aux_f)
    if attacker == "linear":
        clf = LogisticRegression(max_iter=3000)
    elif attacker == "mlp":
        clf = MLPClassifier((128,), alpha=1e-3, max_iter=300, early_stopping=True,
                            random_state=seed)
    else:  # C by cross-validation on the attacker's images (fewer folds for rare levels)
        folds = int(min(5, np.bincount(np.asarray(aux_attribute)).min()))
        clf = (GridSearchCV(SVC(), {"C": list(KERNEL_C)}, cv=folds) if folds >= 2
               else SVC())
    clf.fit(scaler.transform(aux_f), np.asarray(aux_attribute))
    pred = clf.predict(scaler.transform(target_f))
    truth = np.asarray(target_attribute)
    prior = float(np.bincount(truth).max() / len(truth))
    return AttributeResult(attacker, float((pred == truth).mean()), prior, pred)


@dataclass
class AttributeSetup:
    """Chapter 04's attribute world (made by its ``attribute_setup``): the service's encoder and
    pre-training data (with levels, for a defender who labels its own data), the attacker's
    auxiliary images, the users' images, and a downstream task to measure utility."""

    settings: dict
    encoder: nn.Module
    pretrain_data: ImageSet
    pretrain_levels: torch.Tensor
    aux: ImageSet
    aux_levels: torch.Tensor
    targets: ImageSet
    target_levels: torch.Tensor
    task: Splits


@dataclass
class TradeoffPoint:
    """One released encoder: what the attribute attackers get from it, what users keep."""

    name: str
    linear_accuracy: float
    kernel_accuracy: float
    prior: float
    probe_accuracy: float


def tradeoff_point(name: str, encoder: nn.Module, setup: AttributeSetup, probe_epochs: int,
                   device: str | torch.device = "auto", seed: int = 0) -> TradeoffPoint:
    """Attribute-inference accuracy of the ``linear`` and the ``kernel`` attacker and the
    linear-probe accuracy of the downstream task, for ``encoder``."""
    attack = {a: attribute_inference(encoder, setup.aux.x, setup.aux_levels, setup.targets.x,
                                     setup.target_levels, a, device, seed)
              for a in ("linear", "kernel")}
    probe = evaluate_encoder(encoder, setup.task["train"], setup.task["test"], "linear",
                             probe_epochs, device, seed)
    return TradeoffPoint(name, attack["linear"].accuracy, attack["kernel"].accuracy,
                         attack["kernel"].prior, probe.test_accuracy)
