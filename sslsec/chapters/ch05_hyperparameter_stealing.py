"""Chapter 05, hyperparameter stealing: recovering how a model was trained.

The book's problem of stealing training choices rather than data or weights: the exact
regularisation weight of a released head, solved from its optimality condition, and the
pre-training recipe of a black-box encoder, named by a meta-classifier on shadow encoders. The
chapter decides the weights and rounding levels to try, the candidate recipes and the shadow and
victim populations; it builds the recipe world (:func:`recipe_setup`) and claims exact recovery
over several orders of magnitude and recipe inference well above chance.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch

from sslsec.attacks.property_inference import describe_population
from sslsec.attacks.recipe_stealing import recipe_config
from sslsec.chapters._common import chapter_functions
from sslsec.claims import Claim
from sslsec.data import ImageSet, pools
from sslsec.pretrain import PretrainConfig
from sslsec.profiles import Profile
from sslsec.zoo import EncoderSpec

NAME = "05_hyperparameter_stealing"

#: the candidate pre-training recipes (changes to the profile's recipe)
RECIPES = {
    "SimCLR, τ=0.1": {"method": "simclr", "temperature": 0.1},
    "SimCLR, τ=0.5": {"method": "simclr", "temperature": 0.5},
    "SimCLR, weak augmentations": {"method": "simclr", "augment_strength": 0.4},
    "MoCo v2": {"method": "mocov2", "queue_size": 1024},
}

SETTINGS: dict[str, dict] = {
    # exact stealing: L2 weights of heads on `n_head_train` images' features, and the
    # rounding defence; recipe stealing: shadow/victim encoders per recipe
    "smoke": {"n_head_train": 200, "lambdas": [1e-2, 1.0, 100.0], "decimals": [6, 3, 1],
              "n_images": 128, "epochs": 2, "batch_size": 64, "shadows_per_recipe": 2,
              "victims_per_recipe": 1, "n_probe": 40, "recipes": RECIPES},
    "laptop": {"n_head_train": 1000, "lambdas": [1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0],
               "decimals": [8, 6, 5, 4, 3, 2, 1], "n_images": 300, "epochs": 30,
               "batch_size": 150, "shadows_per_recipe": 6, "victims_per_recipe": 3,
               "n_probe": 200, "recipes": RECIPES},
    "paper": {"n_head_train": 5000, "lambdas": [1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0],
              "decimals": [8, 6, 5, 4, 3, 2, 1], "n_images": 5000, "epochs": 100,
              "batch_size": 256, "shadows_per_recipe": 6, "victims_per_recipe": 3,
              "n_probe": 200, "recipes": RECIPES},
    "papersmoke": {"n_head_train": 200, "lambdas": [1e-2, 1.0, 100.0], "decimals": [6, 3, 1],
                   "n_images": 64, "epochs": 1, "batch_size": 64, "shadows_per_recipe": 1,
                   "victims_per_recipe": 1, "n_probe": 40, "recipes": RECIPES},
}

CLAIMS: list[Claim] = [
    Claim("exact_correct_digits", ">=", 3, 3,
          "solving the optimality condition recovers every regularisation weight to at "
          "least three digits (relative error <= 1e-3)"),
    Claim("exact_lambda_orders_spanned", ">=", 4, 4,
          "... over at least four orders of magnitude", stable=True),
    Claim("exact_n_lambdas", ">=", 5, 5, "... and at least five weights", stable=True),
    Claim("rounded_2_decimals_correct_digits", "<=", 4, None,
          "rounding the release to two decimals costs the attacker digits"),
    Claim("recipe_accuracy_over_chance", ">=", 2.0, 2.0,
          "a meta-classifier names held-out victims' pre-training recipes at least twice "
          "as often as chance"),
    Claim("recipe_accuracy", ">=", None, None, "recipe accuracy (reported)"),
    Claim("recipe_leave_one_out_accuracy", ">=", None, None,
          "recipe accuracy, every encoder the victim in turn (reported)"),
    Claim("recipe_worst_accuracy", ">=", None, None,
          "... for the recipe named right least often (reported)"),
]


#: ``settings(profile)`` (a copy) and ``check(metrics, profile)``
settings, check = chapter_functions(NAME, SETTINGS, CLAIMS)


@dataclass
class RecipeSetup:
    """Chapter 05's recipe world: described shadow and victim encoders, labelled by recipe."""

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
    come from :data:`SETTINGS`."""
    s = settings(profile.name)
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
                # the description is part of the encoder's zoo key: it keeps the chapter's
                # old number
                spec = EncoderSpec(profile.arch, data.channels, data.size, config,
                                   f"chapter 04 {who} {i}: {name}")
                jobs[who].append((spec, data.x))
                labels[who].append(label)
    described = {who: describe_population(jobs[who], probe.x, profile.device, progress,
                                          f"{who} encoders") for who in jobs}
    return RecipeSetup(s, names, probe, described["shadow"], np.array(labels["shadow"]),
                       described["victim"], np.array(labels["victim"]))
