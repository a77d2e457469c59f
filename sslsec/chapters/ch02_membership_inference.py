"""Chapter 02, membership inference: was this image in the encoder's pre-training set?

The book's first privacy problem of a pre-trained encoder. The chapter decides the leaky
setting it studies — a small member pool, weak augmentations, long pre-training — with the
checkpoints of the early-stopping defence and the number of augmented views EncoderMI sends,
builds the victim and the attacker's shadow encoder from them (:func:`membership_setup`) and
the snapshots of the victim's run that early stopping chooses from
(:func:`early_stopping_snapshots`), and claims that EncoderMI tells members apart while early
stopping removes at least half of its advantage over chance, at little cost in accuracy.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch

from sslsec.chapters._common import chapter_functions
from sslsec.claims import Claim
from sslsec.data import ImageSet, pools, split_dataset
from sslsec.pretrain import PretrainConfig
from sslsec.profiles import WEAK_AUGMENT, AugmentConfig, Profile
from sslsec.zoo import EncoderSpec, ZooEntry, train_or_load, train_snapshots_or_load

NAME = "02_membership_inference"

SETTINGS: dict[str, dict] = {
    # a small member pool trained long with weak augmentations generalises less; the API
    # returns the encoder's features. ``long_trained``: the larger, shorter-trained pool that
    # chapters 01, 03 and 06 build on (the owner's 256 images in chapter 01)
    # ``n_low_fpr``: more images of the pool that the victim never saw, so that a false-positive
    # rate of ``low_fpr`` is resolved (64 non-members resolve only 1/64)
    "smoke": {"n_members": 32, "epochs": 6, "checkpoints": [2, 4, 6], "n_views": 4,
              "n_low_fpr": 200, "low_fpr": 0.01,
              "long_trained": {"n_members": 32, "epochs": 6}},
    # 64 members for 2,400 epochs (153,600 image passes, as many as 256 members for 600
    # epochs): the encoder's own features leak, not only the projection head's
    "laptop": {"n_members": 64, "epochs": 2400,
               "checkpoints": [25, 50, 100, 200, 400, 800, 1600, 2400], "n_views": 10,
               "n_low_fpr": 2000, "low_fpr": 0.01,
               "long_trained": {"n_members": 256, "epochs": 600}},
    "paper": {"n_members": 5000, "epochs": 800,
              "checkpoints": [50, 100, 200, 400, 800], "n_views": 10,
              "n_low_fpr": 2000, "low_fpr": 0.01,
              "long_trained": {"n_members": 5000, "epochs": 800}},
    "papersmoke": {"n_members": 32, "epochs": 4, "checkpoints": [2, 4], "n_views": 4,
                   "n_low_fpr": 200, "low_fpr": 0.01,
                   "long_trained": {"n_members": 32, "epochs": 4}},
}

CLAIMS: list[Claim] = [
    Claim("encodermi_auc", ">=", 0.75, 0.75,
          "EncoderMI tells members from non-members of the victim's pre-training set, from "
          "the encoder's features"),
    Claim("auc_gain_over_naive", ">=", 0.05, None,
          "many augmented views beat a single pair (the naive baseline)"),
    Claim("early_stop_advantage_removed", ">=", 0.5, 0.5,
          "stopping early removes at least half of the attack's advantage over chance: (AUC "
          "fully trained − AUC at the stop) ÷ (AUC fully trained − 0.5), weak augmentations"),
    Claim("early_stop_accuracy_cost", "<=", 0.05, None,
          "stopped where its membership AUC first reaches 0.60 (read off the curve between "
          "checkpoints), the encoder costs the downstream user little accuracy"),
    Claim("early_stop_auc", "<=", None, None,
          "the membership AUC at the stop: 0.60, or the first checkpoint's when the run is "
          "already past it (reported: with 64 members a checkpoint's AUC moves by about 0.05 "
          "between pre-training runs)"),
    Claim("tpr_at_1pct_fpr", ">=", None, None,
          "members found at a 1 % false-positive rate, measured against the victim's members "
          "and many more images of its pool that it never saw (TPR at 1 % FPR, encoder "
          "features; reported)"),
    Claim("auc_projection_head", ">=", None, None,
          "the same attack when the API returns the projection head's output (reported)"),
]


#: ``settings(profile)`` (a copy) and ``check(metrics, profile)``
settings, check = chapter_functions(NAME, SETTINGS, CLAIMS)


@dataclass
class MembershipSetup:
    """Chapter 02's world: four disjoint pools, the victim and the attacker's shadow encoder."""

    parts: dict[str, ImageSet]
    recipe: PretrainConfig
    victim: ZooEntry
    shadow: ZooEntry


def membership_setup(profile: Profile, seed: int = 0, progress: bool = True,
                     long_trained: bool = False) -> MembershipSetup:
    """Draw member/non-member pools for a victim and a shadow from the profile's pre-training
    data, and pre-train both (weak augmentations, long training: the leaky setting) through
    the encoder zoo. Sizes come from :data:`SETTINGS`: the chapter's own victim, or with
    ``long_trained`` the larger pool that chapters 01, 03 and 06 build on."""
    s = settings(profile.name)
    sizes = s["long_trained"] if long_trained else s
    return leaky_pair(profile, sizes["n_members"], sizes["epochs"], seed, progress)


def leaky_pair(profile: Profile, n_members: int, epochs: int, seed: int = 0,
               progress: bool = True, **recipe: object) -> MembershipSetup:
    """:func:`membership_setup` at any size: four disjoint pools of ``n_members`` images, and a
    victim and a shadow pre-trained for ``epochs`` with weak augmentations (``recipe``: other
    :class:`PretrainConfig` fields, e.g. ``temperature``, instead of the profile's)."""
    parts = split_dataset(pools(profile.pretrain_dataset, seed=seed)["train"],
                          {"member": n_members, "nonmember": n_members,
                           "shadow_member": n_members, "shadow_nonmember": n_members}, seed=seed)
    config = PretrainConfig(**{"epochs": epochs, "batch_size": min(n_members, 256),
                               "lr": profile.lr, "temperature": profile.temperature,
                               "augment": WEAK_AUGMENT, "seed": seed, **recipe})

    def pretrain_on(images: torch.Tensor, model_seed: int, description: str) -> ZooEntry:
        spec = _spec(profile, images, dataclasses.replace(config, seed=model_seed), description)
        return train_or_load(spec, images, profile.device, progress=progress)

    return MembershipSetup(parts, config,
                           pretrain_on(parts["member"].x, seed, VICTIM),
                           pretrain_on(parts["shadow_member"].x, seed + 1, "chapter 01 shadow"))


#: the victim's data description (part of its zoo key: it keeps the chapter's old number)
VICTIM = "chapter 01 victim"


def held_out_nonmembers(profile: Profile, seed: int = 0) -> ImageSet:
    """``n_low_fpr`` more non-members (:data:`SETTINGS`): images of the victim's pool that none
    of :func:`membership_setup`'s four parts holds (the same seeded permutation, read further),
    so that the attack's true-positive rate can be read at a false-positive rate of
    ``low_fpr``, which the chapter's ``n_members`` non-members cannot resolve."""
    s = settings(profile.name)
    n = s["n_members"]
    train = pools(profile.pretrain_dataset, seed=seed)["train"]
    sizes = {"member": n, "nonmember": n, "shadow_member": n, "shadow_nonmember": n}
    spare = len(train) - 4 * n
    if spare < 1:
        raise ValueError(f"{profile.pretrain_dataset}'s pool has no images beyond the four parts")
    return split_dataset(train, {**sizes, "held_out": min(s["n_low_fpr"], spare)},
                         seed=seed)["held_out"]


def _spec(profile: Profile, images: torch.Tensor, recipe: PretrainConfig,
          description: str) -> EncoderSpec:
    return EncoderSpec(profile.arch, images.shape[1], images.shape[-1], recipe, description)


def early_stopping_snapshots(profile: Profile, setup: MembershipSetup,
                             augment: AugmentConfig | None = None,
                             progress: bool = True) -> dict[int, ZooEntry]:
    """The victim's pre-training run, with ``augment`` instead of its own weak augmentations
    when given, as it stood at each checkpoint of the early-stopping defence (``{epoch:
    entry}``, :data:`SETTINGS`' ``checkpoints``). Without ``augment`` the last snapshot is the
    victim itself."""
    recipe = setup.recipe if augment is None else dataclasses.replace(setup.recipe,
                                                                      augment=augment)
    members = setup.parts["member"].x
    return train_snapshots_or_load(_spec(profile, members, recipe, VICTIM), members,
                                   settings(profile.name)["checkpoints"], profile.device,
                                   progress=progress)
