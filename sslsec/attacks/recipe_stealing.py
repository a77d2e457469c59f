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
import torch
from sklearn.metrics import confusion_matrix

from sslsec.attacks.property_inference import describe_population, fit_meta_classifier
from sslsec.data import ImageSet, pools
from sslsec.pretrain import PretrainConfig
from sslsec.profiles import Profile, chapter_settings
from sslsec.zoo import EncoderSpec

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
class RecipeSetup:
    """Chapter 04's recipe world: described shadow and victim encoders, labelled by recipe."""

    settings: dict
    recipes: list[str]
    probe: ImageSet
    shadow_descriptions: np.ndarray
    shadow_labels: np.ndarray
    victim_descriptions: np.ndarray
    victim_labels: np.ndarray


def recipe_setup(profile: Profile, seed: int = 0, progress: bool = True) -> RecipeSetup:
    """Pre-train (through the zoo) ``shadows_per_recipe`` shadow encoders per recipe on random
    draws from the attacker's half of the pre-training pool and ``victims_per_recipe`` victims
    from the other half, and describe each on a probe set from the test pool. Sizes and recipes
    come from ``chapter_settings("04_hyperparameter_stealing", …)``."""
    s = chapter_settings("04_hyperparameter_stealing", profile.name)
    p = pools(profile.pretrain_dataset, seed=seed)
    train, probe = p["train"], p["test"][: s["n_probe"]]
    half = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed))
    halves = {"shadow": train[half[: len(train) // 2]], "victim": train[half[len(train) // 2:]]}
    base = PretrainConfig(epochs=s["epochs"], batch_size=s["batch_size"], lr=profile.lr,
                          temperature=profile.temperature, augment=profile.augment)
    names = list(s["recipes"])
    jobs, labels = {"shadow": [], "victim": []}, {"shadow": [], "victim": []}
    for who in ("shadow", "victim"):
        for i in range(s[f"{who}s_per_recipe"]):
            for label, name in enumerate(names):
                model_seed = seed * 1000 + (0 if who == "shadow" else 500) + 10 * i + label
                g = torch.Generator().manual_seed(model_seed)
                pool = halves[who]
                data = pool[torch.randperm(len(pool), generator=g)[: s["n_images"]]]
                config = recipe_config(dataclasses.replace(base, seed=model_seed),
                                       profile.augment, s["recipes"][name])
                spec = EncoderSpec(profile.arch, data.channels, data.size, config,
                                   f"chapter 04 {who} {i}: {name}")
                jobs[who].append((spec, data.x))
                labels[who].append(label)
    described = {who: describe_population(jobs[who], probe.x, profile.device, progress,
                                          f"{who} encoders") for who in jobs}
    return RecipeSetup(s, names, probe, described["shadow"], np.array(labels["shadow"]),
                       described["victim"], np.array(labels["victim"]))


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
