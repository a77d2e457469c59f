"""Chapter 04, attribute and property inference: what an encoder reveals about its data.

The book's problem of inferring what was never meant to be shared: a *property* of the
victim's pre-training set (how much of one class it holds), read off the encoder itself, and a
sensitive *attribute* of a user's image, read off its embedding. The chapter decides the
property's levels and the shadow and victim populations, the attribute and its levels, and the
strengths of the two defences (adversarial training, nullspace projection); it builds both
worlds (:func:`property_setup`, :func:`attribute_setup`) and claims that both inferences work
and that an affordable defence removes at least half of the attribute attacker's advantage.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch

from sslsec.attacks.attribute_inference import AttributeSetup, image_attribute
from sslsec.attacks.property_inference import describe_population, property_sample
from sslsec.chapters._common import chapter_functions
from sslsec.claims import Claim
from sslsec.data import ImageSet, downstream_task, pools, pretrain_set, split_dataset
from sslsec.pretrain import PretrainConfig
from sslsec.profiles import Profile
from sslsec.zoo import EncoderSpec, profile_encoder

NAME = "04_attribute_and_property_inference"

SETTINGS: dict[str, dict] = {
    # property: class `target_class` makes up `fractions[0]` or `fractions[1]` of each
    # encoder's `n_images` pre-training images; attribute: within-class levels of an image
    # statistic; defences: adversary weights (Talos) and INLP rounds
    "smoke": {"target_class": 0, "fractions": [0.1, 0.5], "n_images": 128, "epochs": 2,
              "batch_size": 64, "n_shadows": 6, "n_victims": 4, "probe_target": 10,
              "probe_other": 30, "curve": [2, 4], "attribute": "thickness", "n_levels": 3,
              "talos_weights": [1.0], "inlp_iterations": [0, 2, 4]},
    "laptop": {"target_class": 0, "fractions": [0.1, 0.5], "n_images": 300, "epochs": 30,
               "batch_size": 150, "n_shadows": 24, "n_victims": 16, "probe_target": 50,
               "probe_other": 150, "curve": [2, 4, 8, 12, 16], "attribute": "thickness",
               "n_levels": 3, "talos_weights": [0.25, 0.5, 1.0, 2.0, 4.0],
               "inlp_iterations": [0, 5, 10, 15, 20, 25, 30]},
    "paper": {"target_class": 0, "fractions": [0.1, 0.5], "n_images": 4000, "epochs": 100,
              "batch_size": 256, "n_shadows": 24, "n_victims": 16, "probe_target": 50,
              "probe_other": 150, "curve": [2, 4, 8, 12, 16], "attribute": "brightness",
              "n_levels": 3, "talos_weights": [0.25, 0.5, 1.0, 2.0, 4.0],
              "inlp_iterations": [0, 20, 40, 80, 120, 160]},
    "papersmoke": {"target_class": 0, "fractions": [0.1, 0.5], "n_images": 64, "epochs": 1,
                   "batch_size": 32, "n_shadows": 4, "n_victims": 2, "probe_target": 10,
                   "probe_other": 30, "curve": [2, 4], "attribute": "brightness",
                   "n_levels": 3, "talos_weights": [1.0], "inlp_iterations": [0, 2, 4]},
}

CLAIMS: list[Claim] = [
    Claim("property_accuracy", ">=", 0.80, 0.80,
          "a meta-classifier on shadow encoders tells which property level held-out victim "
          "encoders were pre-trained with (chance: 0.5)"),
    Claim("attribute_advantage", ">=", 0.15, 0.15,
          "embeddings reveal an attribute the downstream task does not need, well above "
          "the majority-level prior"),
    Claim("kernel_minus_linear", ">=", -0.02, None,
          "without a defence the non-linear (RBF-kernel) attacker is as strong as the linear "
          "one, within 0.02 (about one standard error on 500 users): it is not under-fitted"),
    Claim("defence_gap_reduction", ">=", 0.5, None,
          "the best defence that costs at most 3 points of linear-probe accuracy removes "
          "at least half of the attacker's advantage"),
    Claim("defence_probe_cost", "<=", 0.03, None,
          "... at that cost in linear-probe accuracy"),
    Claim("talos_gap_reduction", ">=", None, None,
          "adversarial training's best reduction within the same cost (reported)"),
]


#: ``settings(profile)`` (a copy) and ``check(metrics, profile)``
settings, check = chapter_functions(NAME, SETTINGS, CLAIMS)


@dataclass
class PropertySetup:
    """Chapter 04's property world: descriptions of shadow and victim encoders."""

    settings: dict
    probe: ImageSet
    shadow_descriptions: np.ndarray
    shadow_levels: np.ndarray
    victim_descriptions: np.ndarray
    victim_levels: np.ndarray
    example_sets: dict[float, ImageSet]  # one pre-training set per level, to look at


def property_setup(profile: Profile, seed: int = 0, progress: bool = True) -> PropertySetup:
    """Split the profile's pre-training pool into an attacker half and a victim half; pre-train
    shadow encoders on the attacker's half and victim encoders on the victim's half, half of
    them at each level of the property (the share of ``target_class``), through the zoo; and
    describe each by :func:`~sslsec.attacks.property_inference.probe_gram` on a probe set from
    the test pool. Sizes come from :data:`SETTINGS`."""
    s = settings(profile.name)
    p = pools(profile.pretrain_dataset, seed=seed)
    train, test = p["train"], p["test"]
    half = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed))
    halves = {"shadow": train[half[: len(train) // 2]], "victim": train[half[len(train) // 2:]]}
    c = s["target_class"]
    probe = test[torch.cat([torch.nonzero(test.y == c).flatten()[: s["probe_target"]],
                            torch.nonzero(test.y != c).flatten()[: s["probe_other"]]])]
    recipe = PretrainConfig(epochs=s["epochs"], batch_size=s["batch_size"], lr=profile.lr,
                            temperature=profile.temperature, augment=profile.augment)
    jobs, levels, examples = {"shadow": [], "victim": []}, {"shadow": [], "victim": []}, {}
    for who in ("shadow", "victim"):
        for i in range(s[f"n_{who}s"]):
            level = i % 2
            fraction = s["fractions"][level]
            model_seed = seed * 1000 + (0 if who == "shadow" else 500) + i
            data = property_sample(halves[who], c, fraction, s["n_images"], model_seed)
            examples.setdefault(fraction, data)
            # the description is part of the encoder's zoo key: it keeps the chapter's old number
            spec = EncoderSpec(profile.arch, data.channels, data.size,
                               dataclasses.replace(recipe, seed=model_seed),
                               f"chapter 02 {who} {i}: class {c} at {fraction:.0%}")
            jobs[who].append((spec, data.x))
            levels[who].append(level)
    described = {who: describe_population(jobs[who], probe.x, profile.device, progress,
                                          f"{who} encoders") for who in jobs}
    return PropertySetup(s, probe, described["shadow"], np.array(levels["shadow"]),
                         described["victim"], np.array(levels["victim"]), examples)


def attribute_setup(profile: Profile, seed: int = 0, progress: bool = True) -> AttributeSetup:
    """The profile's encoder (from the zoo) and the data around it: the test pool, which the
    encoder never saw, is split in halves for the attacker (auxiliary) and the users (targets).
    Sizes come from :data:`SETTINGS`."""
    s = settings(profile.name)
    data = pretrain_set(profile, seed)
    test = pools(profile.pretrain_dataset, seed=seed)["test"]
    halves = split_dataset(test, {"aux": len(test) // 2, "targets": len(test) - len(test) // 2},
                           seed=seed)

    def levels(d: ImageSet) -> torch.Tensor:
        return image_attribute(d.x, d.y, s["attribute"], s["n_levels"])

    return AttributeSetup(s, profile_encoder(profile, seed, progress).encoder, data,
                          levels(data), halves["aux"], levels(halves["aux"]), halves["targets"],
                          levels(halves["targets"]), downstream_task(profile, seed=seed))
