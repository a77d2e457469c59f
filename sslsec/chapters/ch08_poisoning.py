"""Chapter 08, poisoning: unlabelled images added to, or changed in, the pre-training data.

The book's data-poisoning problem, with two goals. *Targeted* poisoning wants one chosen input
put in a chosen class by every downstream classifier: PoisonedEncoder's collages and pair
poisons against an image-only encoder, and Carlini & Terzis's caption poisons against an
image–text (CLIP) model. *Availability* poisoning (Contrastive Poisoning) wants the encoder
useless. The chapter decides the attacker's (target, class) pairs and poisoning rates, the CLIP
victim's training length, the defences against targeted poisons (near-duplicate removal, a
milder crop, fine-tuning on clean images), the availability poison's budget and optimisation,
and the input filter. It builds those worlds (:func:`poisoning_setup`, :func:`victim_encoder`)
and claims that the image-only poisons stay stealthy and, at laptop scale, move no target, that
caption poisons move most targets at a few per cent, that duplicate removal catches both, and
that the availability poison takes little from MNIST pre-training but over half of what
pre-training adds on MNIST-M (the dataset lever, :func:`lever_profile`).
"""

from __future__ import annotations

import dataclasses

from sslsec.attacks import contrastive_poisoning
from sslsec.attacks.poisoned_encoder import PoisoningSetup, choose_pairs
from sslsec.chapters._common import chapter_functions, merged
from sslsec.claims import Claim
from sslsec.data import downstream_task, pretrain_set
from sslsec.profiles import Profile
from sslsec.zoo import DerivedEntry, ZooEntry, profile_encoder

NAME = "08_poisoning"

_TARGETED: dict[str, dict] = {
    # (target input, target class) pairs, attacked together in one pre-training run;
    # poisoning rates (poison images / clean images, shared by the pairs) of the collages
    # (per layout) and of the pair poisons; defences: outlier removal (share dropped, PCA
    # components), the in-processing recipe (crop scale), fine-tuning on clean images;
    # the image–text victim (CLIP): its epochs, the caption poisons' rates (all ≤ 10 %) and
    # the number of clean CLIPs (seeds SEED, SEED + 1, ...) whose spread the poisons' cost is
    # judged against
    "smoke": {"n_pairs": 2, "layouts": ["side", "corners"], "collage_rate": 0.05,
              "pair_rates": [0.05], "remove_share": 0.1, "components": 8,
              "defence_crop": [0.8, 1.0], "finetune_images": 256, "finetune_epochs": 1,
              "finetune_lr": 5e-4, "clip_epochs": 1, "clip_rates": [0.05],
              "n_clean_clips": 1},
    "laptop": {"n_pairs": 10, "layouts": ["side", "corners"], "collage_rate": 0.1,
               "pair_rates": [0.02, 0.1], "remove_share": 0.1, "components": 16,
               "defence_crop": [0.8, 1.0], "finetune_images": 4000, "finetune_epochs": 5,
               "finetune_lr": 5e-4, "clip_epochs": 50,
               "clip_rates": [0.0025, 0.01, 0.025, 0.1], "n_clean_clips": 3},
    "paper": {"n_pairs": 10, "layouts": ["side", "corners"], "collage_rate": 0.01,
              "pair_rates": [0.002, 0.01], "remove_share": 0.05, "components": 64,
              "defence_crop": [0.8, 1.0], "finetune_images": 10000, "finetune_epochs": 10,
              "finetune_lr": 1e-4, "clip_epochs": 100, "clip_rates": [0.0002, 0.001, 0.01],
              "n_clean_clips": 3},
    "papersmoke": {"n_pairs": 2, "layouts": ["side", "corners"], "collage_rate": 0.05,
                   "pair_rates": [0.05], "remove_share": 0.1, "components": 8,
                   "defence_crop": [0.8, 1.0], "finetune_images": 256, "finetune_epochs": 1,
                   "finetune_lr": 1e-4, "clip_epochs": 1,
                   "clip_rates": [0.05], "n_clean_clips": 1},
}

_AVAILABILITY: dict[str, dict] = {
    # the L∞ budget (pixels in [0, 1]); the poison's alternation: rounds of (surrogate
    # training steps, then a pass of PGD steps per mini-batch on delta); the perturbation
    # grid (upsampled; None: per pixel); seeds of the untrained-encoder floor; the filter;
    # the dataset lever (a harder offline dataset, where pre-training adds more, and the
    # victim's epochs on it; None: the profile's own data already is that, e.g. CIFAR-10)
    "smoke": {"epsilon": 0.3, "rounds": 1, "train_steps": 2, "pgd_steps": 1, "grid": 4,
              "floor_seeds": [0], "filter": "binarize", "lever": "mnistm", "lever_epochs": 1},
    "laptop": {"epsilon": 0.3, "rounds": 10, "train_steps": 10, "pgd_steps": 3, "grid": 4,
               "floor_seeds": [0, 1, 2], "filter": "binarize", "lever": "mnistm",
               "lever_epochs": 50},
    "paper": {"epsilon": 8 / 255, "rounds": 200, "train_steps": 20, "pgd_steps": 5,
              "grid": None, "floor_seeds": [0, 1, 2], "filter": "median", "lever": None,
              "lever_epochs": None},
    "papersmoke": {"epsilon": 8 / 255, "rounds": 1, "train_steps": 2, "pgd_steps": 1,
                   "grid": None, "floor_seeds": [0], "filter": "median", "lever": None,
                   "lever_epochs": None},
}

#: targeted, then availability poisoning: one flat table per profile
SETTINGS: dict[str, dict] = merged(_TARGETED, _AVAILABILITY)

CLAIMS: list[Claim] = [
    # targeted poisoning
    Claim("accuracy_drop_max", "<=", 0.02, 0.02,
          "every poisoned encoder keeps clean linear-probe accuracy within 2 points of the "
          "clean encoder's: the poisons are stealthy"),
    Claim("collage_success_max", "<=", 0.2, None,
          "at laptop scale PoisonedEncoder's collages put (almost) no target in its target "
          "class (the papers' scale, where ≥ 80 % of the pairs move, is out of reach here; "
          "see the chapter)"),
    Claim("pair_success_max", "<=", 0.2, None,
          "nor do pair poisons, which control both views of a positive pair outright"),
    Claim("best_success", ">=", None, 0.8,
          "the best image-only attack's share of targets in their target class (the papers' "
          "scale)"),
    Claim("target_probability_max", "<=", None, None,
          "the largest mean target-class probability of any image-only attack (reported)"),
    Claim("caption_zero_shot_success_max", ">=", 0.5, 0.8,
          "caption poisons (Carlini & Terzis) at a rate of at most 10 % put at least half of "
          "the targets in their target class for the victim CLIP's zero-shot classifier"),
    Claim("caption_probe_success_max", ">=", 0.5, 0.8,
          "and for a linear probe on its image features"),
    Claim("caption_probe_accuracy_drop_max", "<=", 0.03, 0.02,
          "while the probe's clean accuracy stays within 3 points of the clean CLIP's"),
    Claim("caption_zero_shot_accuracy_drop_max", "<=", None, None,
          "the largest zero-shot clean-accuracy drop of a caption-poisoned CLIP (reported)"),
    Claim("clean_clip_zero_shot_spread", "<=", None, None,
          "how far the zero-shot clean accuracy of clean CLIPs trained with different seeds "
          "spreads (max − min; reported)"),
    Claim("clean_clip_probe_spread", "<=", None, None,
          "the same spread for the linear probe on their image features (reported)"),
    Claim("caption_zero_shot_below_clean_min", ">=", None, None,
          "how far the worst caption-poisoned CLIP's zero-shot clean accuracy falls below the "
          "worst clean CLIP's (reported; > 0: outside the clean runs' spread)"),
    Claim("caption_dedup_success", "<=", 0.1, 0.1,
          "near-duplicate removal before training undoes the strongest caption poison"),
    Claim("poisons_removed_min", ">=", 0.95, 0.9,
          "near-duplicate removal drops (nearly) every poison, collage or pair"),
    Claim("clean_removed_max", "<=", 0.01, 0.02,
          "and at most 1 % of the clean images"),
    Claim("defence_accuracy_cost_max", "<=", None, None,
          "the largest clean-accuracy cost of a defence (reported)"),
    # availability poisoning
    Claim("clean_accuracy", ">=", 0.94, 0.85,
          "the clean encoder's linear probe (the reference)"),
    Claim("pretraining_gain", ">=", 0.03, 0.3,
          "pre-training beats untrained encoders: the most a poison can take away"),
    Claim("max_drop", "<=", 0.05, None,
          "at laptop scale no poison costs the victim more than 5 points (the paper's "
          "25-point drop is out of reach here; see the chapter)"),
    Claim("max_drop_share_of_gap", ">=", None, 0.5,
          "the strongest poison takes at least half of what pre-training adds over an "
          "untrained encoder (the paper's scale; reported at laptop scale)"),
    Claim("loss_gap_vs_random_min", ">=", 0.05, None,
          "the shortcut forms: contrastively poisoned images end pre-training with a lower "
          "SimCLR loss than randomly perturbed ones (both kinds)"),
    Claim("poisoned_above_floor_min", ">=", 0.02, None,
          "every poisoned encoder stays above the best untrained encoder: not useless"),
    Claim("classwise_drop", ">=", None, None,
          "class-wise contrastive poison: points lost (reported)"),
    Claim("samplewise_drop", ">=", None, None,
          "sample-wise contrastive poison: points lost (reported)"),
    Claim("filter_cost", "<=", 0.02, 0.05,
          "filtering the pre-training images costs clean pre-training little"),
    Claim("filter_recovery_classwise", ">=", None, None,
          "points the filter gives back to the class-wise victim (reported)"),
    Claim("lever_pretraining_gain", ">=", 0.15, None,
          "on MNIST-M (the dataset lever) pre-training adds at least 15 points over untrained "
          "encoders: room for a poison to take"),
    Claim("lever_max_drop_share_of_gap", ">=", 0.4, 0.5,
          "there, the strongest contrastive poison takes at least two-fifths of what "
          "pre-training adds (half or more on most seeds)"),
    Claim("lever_max_drop", ">=", None, None,
          "its drop in points on MNIST-M (reported; 15 is the mark it aims at)"),
    Claim("lever_beyond_random", ">=", None, None,
          "how many more points the strongest contrastive poison takes than random noise of "
          "the same budget and kind (reported)"),
    Claim("labelled_poison_pipeline_drop", ">=", 0.25, None,
          "when the probe's labelled images carry the class-wise pattern too, the poisoned "
          "pipeline loses more than 25 points..."),
    Claim("labelled_poison_untrained_drop", ">=", 0.25, None,
          "...and so does an untrained encoder: the probe's shortcut does the damage"),
]


#: ``settings(profile)`` (a copy) and ``check(metrics, profile)``
settings, check = chapter_functions(NAME, SETTINGS, CLAIMS)


def poisoning_setup(profile: Profile, seed: int = 0, progress: bool = True) -> PoisoningSetup:
    """The targeted-poisoning world. Sizes from :data:`SETTINGS`; the task is the profile's
    first downstream dataset (its labelled training images are the attacker's references)."""
    s = settings(profile.name)
    task = downstream_task(profile, seed=seed)
    pairs = choose_pairs(task["test"], s["n_pairs"], seed)
    clean = pretrain_set(profile, seed)
    return PoisoningSetup(s, profile, clean.x, task, pairs,
                          profile_encoder(profile, seed, progress), seed, clean)


def lever_profile(profile: Profile) -> Profile:
    """The profile on the dataset lever (:data:`SETTINGS` ``lever``: MNIST-M for the MNIST
    profiles, pre-trained ``lever_epochs``); the profile itself where its data needs no lever."""
    s = settings(profile.name)
    if s["lever"] is None:
        return profile
    return dataclasses.replace(profile, pretrain_dataset=s["lever"],
                               downstream_datasets=(s["lever"],), epochs=s["lever_epochs"])


def victim_encoder(profile: Profile, poison: str | None = None, kind: str = "classwise",
                   image_filter: str | None = None, seed: int = 0,
                   progress: bool = True) -> ZooEntry | DerivedEntry:
    """The availability victim of :func:`sslsec.attacks.contrastive_poisoning.victim_encoder`,
    with this chapter's poison settings in ``profile`` (``epsilon``, ``rounds``,
    ``train_steps``, ``pgd_steps``, ``grid`` of :data:`SETTINGS`)."""
    return contrastive_poisoning.victim_encoder(profile, settings(profile.name), poison, kind,
                                                image_filter, seed, progress)
