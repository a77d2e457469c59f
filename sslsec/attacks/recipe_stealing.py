"""Black-box recipe stealing: which pre-training recipe made this encoder?

The method (SimCLR or MoCo v2), the temperature and the augmentation strength are part of a
provider's know-how. As in property inference (:mod:`sslsec.attacks.property_inference`), the
attacker pre-trains shadow encoders with each candidate recipe on its own data, describes every
encoder by the similarity structure of its features on a fixed probe set, and trains a
meta-classifier from descriptions to recipes; then it describes the victim through the API and
asks the meta-classifier.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
from scipy.stats import beta
from sklearn.metrics import confusion_matrix

from sslsec.attacks.property_inference import fit_meta_classifier
from sslsec.pretrain import PretrainConfig

RECIPE_KEYS = ("method", "temperature", "augment_strength", "queue_size")


def recipe_config(base: PretrainConfig, augment_base, recipe: dict) -> PretrainConfig:
    """``base`` with a recipe's changes: ``method``, ``temperature``, ``queue_size`` and
    ``augment_strength`` (a multiple of ``augment_base``, see ``AugmentConfig.scaled``)."""
    unknown = set(recipe) - set(RECIPE_KEYS)
    if unknown:
        raise ValueError(f"recipe keys {sorted(unknown)} are unknown; allowed: "
                         f"{', '.join(RECIPE_KEYS)}")
    changes = {k: v for k, v in recipe.items() if k != "augment_strength"}
    augment = augment_base.scaled(recipe.get("augment_strength", 1.0))
    return dataclasses.replace(base, augment=augment, **changes)


@dataclass
class RecipeResult:
    """The meta-classifier's verdicts on the victims."""

    accuracy: float
    chance: float
    predicted: np.ndarray
    confusion: np.ndarray  # rows: true recipe, columns: predicted recipe


def recipe_inference(shadow_descriptions: np.ndarray, shadow_labels: np.ndarray,
                     victim_descriptions: np.ndarray, victim_labels: np.ndarray,
                     regularization: float = 0.1) -> RecipeResult:
    """Fit the meta-classifier on the shadows and predict the victims' recipes."""
    victim_descriptions, victim_labels = (np.asarray(victim_descriptions),
                                          np.asarray(victim_labels))
    if len(victim_descriptions) == 0 or len(victim_descriptions) != len(victim_labels):
        raise ValueError("victim_descriptions must be non-empty, with one label each")
    meta = fit_meta_classifier(shadow_descriptions, shadow_labels, regularization)
    predicted = meta.predict(victim_descriptions)
    n_recipes = len(np.unique(shadow_labels))
    return RecipeResult(float((predicted == victim_labels).mean()), 1.0 / n_recipes, predicted,
                        confusion_matrix(victim_labels, predicted, labels=range(n_recipes)))


def leave_one_out_recipe_inference(descriptions: np.ndarray, labels: np.ndarray,
                                   regularization: float = 0.1) -> RecipeResult:
    """Every encoder in turn is the victim, the meta-classifier is fit on all the others: a
    verdict per encoder, so per-recipe accuracies rest on every encoder the attacker has."""
    descriptions, labels = np.asarray(descriptions), np.asarray(labels)
    if descriptions.ndim != 2 or len(descriptions) != len(labels) or len(labels) < 3:
        raise ValueError(f"descriptions must be (encoders >= 3, D) with one label each; got "
                         f"{descriptions.shape} and {labels.shape}")
    predicted = np.empty_like(labels)
    for i in range(len(labels)):
        rest = np.arange(len(labels)) != i
        predicted[i] = fit_meta_classifier(descriptions[rest], labels[rest],
                                           regularization).predict(descriptions[i:i + 1])[0]
    n_recipes = len(np.unique(labels))
    return RecipeResult(float((predicted == labels).mean()), 1.0 / n_recipes, predicted,
                        confusion_matrix(labels, predicted, labels=range(n_recipes)))


def accuracy_interval(correct: int, total: int, confidence: float = 0.95) -> tuple[float, float]:
    """The exact (Clopper–Pearson) two-sided interval for an accuracy of ``correct/total``."""
    if not 0 <= correct <= total or total < 1:
        raise ValueError(f"correct={correct!r} and total={total!r} need 0 <= correct <= total, "
                         f"total >= 1")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence={confidence!r} must be in (0, 1)")
    alpha = 1 - confidence
    low = beta.ppf(alpha / 2, correct, total - correct + 1) if correct > 0 else 0.0
    high = beta.ppf(1 - alpha / 2, correct + 1, total - correct) if correct < total else 1.0
    return float(low), float(high)


def per_recipe_accuracy(confusion: np.ndarray, confidence: float = 0.95) -> np.ndarray:
    """Rows of (accuracy, low, high, encoders) per true recipe, from a confusion matrix, with
    :func:`accuracy_interval`."""
    confusion = np.asarray(confusion)
    rows = []
    for k, row in enumerate(confusion):
        total = int(row.sum())
        low, high = accuracy_interval(int(row[k]), total, confidence) if total else (0.0, 1.0)
        rows.append((row[k] / total if total else np.nan, low, high, total))
    return np.array(rows, dtype=float)
