"""Chapter 01, data tracing and auditing: was my data used to pre-train this encoder?

The book's first confidentiality problem. A data owner released images (under a licence that
forbids training on them); later it meets an encoder behind an API and wants evidence, as a
hypothesis test with a p-value, that its images were in the encoder's pre-training set —
without ever accusing an encoder that did not see them. The chapter decides the owner's data
(its released images, a fraction of them marked before release within an L∞ budget, a
reference set and probe images it keeps back, a shadow encoder of its own), the suspects
(encoders pre-trained with the owner's images at several shares of their data under one
compute budget; encoders pre-trained independently, chapter 06's; stolen, pruned and
fine-tuned copies of a guilty encoder, made as chapter 06 makes them) and the trainer's
defences (deduplication, stronger augmentation, early stopping). It builds that world
(:func:`tracing_setup`) and claims that at least one test flags every guilty encoder whose
pre-training data hold at least 10 % of the owner's images, that no test flags an innocent
encoder, and that marking is invisible to people and to the downstream user.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch

from sslsec.attacks.encoder_stealing import stolen_copy
from sslsec.attacks.radioactive_marking import MarkingKey, make_marking_key, mark_images
from sslsec.attacks.watermark_removal import finetuned_copy, prune_encoder
from sslsec.chapters import ch06_parameter_stealing as stealing
from sslsec.chapters._common import chapter_functions
from sslsec.claims import Claim
from sslsec.data import pools
from sslsec.models import Encoder
from sslsec.pretrain import PretrainConfig
from sslsec.profiles import WEAK_AUGMENT, AugmentConfig, Profile
from sslsec.zoo import EncoderSpec, ZooEntry, profile_encoder, train_or_load

NAME = "01_data_tracing"

SETTINGS: dict[str, dict] = {
    # the owner's released images, reference images and probe images; the trainers' shares
    # of the owner's data and their compute budget (image passes per encoder); the mark (L∞
    # budget, share of the released images marked, decoy patterns); the tests' queries; the
    # copies of the guilty encoder at `copy_share`; the trainer's defences at `defence_share`
    "smoke": {"n_owner": 32, "n_reference": 32, "n_probe": 32,
              "shares": [1.0, 0.25], "budget": 1024, "epsilon": 8 / 255,
              "mark_fraction": 0.5, "n_decoys": 99, "smoothness": 7, "n_views": 4,
              "n_permutations": 999, "group_size": 8, "n_global": 2, "n_local": 4,
              "local_scale": [0.2, 0.5], "copy_share": 1.0, "copy_budget": 64,
              "prune": [0.5], "finetune_epochs": [1], "defence_share": 1.0,
              "noise_std": 0.1, "early_stop_fraction": 0.2, "alpha": 0.01,
              "weak_augment": True},
    "laptop": {"n_owner": 100, "n_reference": 100, "n_probe": 100,
               "shares": [1.0, 0.5, 0.25, 0.1, 0.05], "budget": 20000, "epsilon": 8 / 255,
               "mark_fraction": 0.5, "n_decoys": 199, "smoothness": 7, "n_views": 10,
               "n_permutations": 9999, "group_size": 10, "n_global": 2, "n_local": 6,
               "local_scale": [0.2, 0.5], "copy_share": 0.1, "copy_budget": 600,
               "prune": [0.3, 0.6], "finetune_epochs": [5], "defence_share": 0.1,
               "noise_std": 0.1, "early_stop_fraction": 0.2, "alpha": 0.01,
              "weak_augment": True},
    # CIFAR-10: the owner releases 5,000 images (a tenth of the pre-training set at the
    # profile's default); budgets of the profile's 200 epochs over 50,000 images
    "paper": {"n_owner": 2500, "n_reference": 2500, "n_probe": 1000,
              "shares": [1.0, 0.5, 0.25, 0.1, 0.05], "budget": 10_000_000,
              "epsilon": 8 / 255, "mark_fraction": 0.5, "n_decoys": 999, "smoothness": 8,
              "n_views": 10, "n_permutations": 9999, "group_size": 32, "n_global": 2,
              "n_local": 6, "local_scale": [0.05, 0.4], "copy_share": 0.1,
              "copy_budget": 5000, "prune": [0.3, 0.6], "finetune_epochs": [5, 20],
              "defence_share": 0.1, "noise_std": 0.1, "early_stop_fraction": 0.2,
              "alpha": 0.01, "weak_augment": False},
}

CLAIMS: list[Claim] = [
    Claim("guilty_flagged_share_ge_10pct", ">=", 1.0, 1.0,
          "at least one test flags (p < 0.01) every guilty encoder whose pre-training data "
          "hold ≥ 10 % of the owner's images (share of them flagged)"),
    Claim("innocent_flagged", "<=", 0, 0,
          "no test flags any encoder that never saw the owner's images (count of flags)"),
    Claim("innocent_p_uniformity_ks_p", ">=", 0.01, 0.01,
          "the p-values of the innocent encoders, all tests, look uniform (Kolmogorov–Smirnov "
          "p-value against the uniform)"),
    Claim("marking_min_psnr_db", ">=", 30.0, 30.0,
          "marking keeps every marked image at ≥ 30 dB PSNR"),
    Claim("marking_probe_accuracy_cost", "<=", 0.01, 0.01,
          "an encoder pre-trained on the marked release is within 1 point of one pre-trained "
          "on the clean release (linear probe, MNIST)"),
    Claim("guilty_flagged_all_shares", ">=", None, None,
          "share of all guilty encoders, 5 % included, flagged by at least one test "
          "(reported)"),
    Claim("copies_flagged", ">=", None, None,
          "share of the guilty encoder's stolen, pruned and fine-tuned copies flagged "
          "(reported)"),
    Claim("dedup_marked_removed", ">=", None, None,
          "share of the marked images that near-duplicate removal drops (reported)"),
    Claim("noise_augment_marking_log10p", ">=", None, None,
          "−log10 p of the marking test after the trainer adds pixel noise to its "
          "augmentations (reported; 2.0 = p of 0.01)"),
    Claim("early_stop_membership_log10p", ">=", None, None,
          "−log10 p of the membership audit on an early-stopped guilty encoder (reported)"),
]


#: ``settings(profile)`` (a copy) and ``check(metrics, profile)``
settings, check = chapter_functions(NAME, SETTINGS)


@dataclass
class TracingSetup:
    """Chapter 01's world: the owner's images (clean originals and the marked release), its
    marking key, reference and probe images it kept back, its shadow encoder, the other
    images a trainer mixes with the owner's, and the encoders pre-trained independently of
    the owner (chapter 06's)."""

    settings: dict
    original: torch.Tensor
    released: torch.Tensor
    marked: torch.Tensor  # boolean mask over the released images
    key: MarkingKey
    reference: torch.Tensor
    probe: torch.Tensor
    filler: torch.Tensor
    shadow: ZooEntry
    innocent: dict[str, ZooEntry]
    thief_images: torch.Tensor


def tracing_setup(profile: Profile, seed: int = 0, progress: bool = True) -> TracingSetup:
    """Draw the owner's images (the first ``n_owner`` of the pre-training pool) and mark a
    fraction of them; keep back reference and probe images from the held-out pool (the part
    that chapter 06's independent encoders and thief never use); pre-train the owner's shadow
    encoder on the held-out images the thief queries (its own public images); load chapter
    06's independent encoders. Sizes from :data:`SETTINGS`."""
    s = settings(profile.name)
    data = pools(profile.pretrain_dataset, seed)
    train, test = data["train"], data["test"]
    n_own, n_ref, n_probe = s["n_owner"], s["n_reference"], s["n_probe"]
    n_eval = stealing.settings(profile.name)["n_eval"]
    if n_ref + n_probe > n_eval:
        raise ValueError(f"n_reference={n_ref} plus n_probe={n_probe} exceed the {n_eval} "
                         "held-out images that no encoder of the chapter trains on")
    largest = round(n_own / min(s["shares"]))
    if largest > len(train):
        raise ValueError(f"the smallest share {min(s['shares'])} needs {largest} pre-training "
                         f"images; the pool holds {len(train)}")
    original = train.x[:n_own]
    key = make_marking_key(original.shape[1], original.shape[-1], s["epsilon"], s["n_decoys"],
                           s["smoothness"], seed=1000 + seed)
    released, marked = mark_images(original, key, s["mark_fraction"], seed)
    world = stealing.stealing_setup(profile, seed, progress)
    thief = world.query_pools[profile.pretrain_dataset]
    shadow = profile_encoder(profile, 100 + seed, progress, data=thief)
    innocent = stealing.others_encoders(profile, world, progress)
    return TracingSetup(s, original, released, marked, key, test.x[:n_ref],
                        test.x[n_ref:n_ref + n_probe], train.x[n_own:], shadow, innocent,
                        thief.x)


def pretraining_images(world: TracingSetup, share: float, clean: bool = False) -> torch.Tensor:
    """A trainer's pre-training set in which the owner's released images (or, with ``clean``,
    their unmarked originals) make up ``share`` of the images; the rest are other images of
    the same distribution."""
    if not 0 < share <= 1:
        raise ValueError(f"share={share!r} must be in (0, 1]")
    owner = world.original if clean else world.released
    total = round(len(owner) / share)
    if total - len(owner) > len(world.filler):
        raise ValueError(f"share={share} needs {total - len(owner)} other images; only "
                         f"{len(world.filler)} are available")
    return torch.cat([owner, world.filler[:total - len(owner)]])


def trainer_encoder(profile: Profile, world: TracingSetup, share: float, seed: int = 0,
                    progress: bool = True, clean: bool = False, epochs: int | None = None,
                    augment: AugmentConfig | None = None,
                    images: torch.Tensor | None = None) -> ZooEntry:
    """An encoder pre-trained with the profile's recipe on :func:`pretraining_images` (or on
    ``images``) for the chapter's compute ``budget`` (image passes; ``epochs`` overrides it),
    with chapter 02's weak augmentations where ``weak_augment`` is set, else the profile's
    (``augment`` overrides both)."""
    s = world.settings
    x = pretraining_images(world, share, clean) if images is None else images
    epochs = epochs or max(1, s["budget"] // len(x))
    default = WEAK_AUGMENT if s["weak_augment"] else profile.augment
    cfg = PretrainConfig.from_profile(profile, epochs=epochs,
                                      batch_size=min(profile.batch_size, len(x)), seed=seed,
                                      augment=augment or default)
    what = "clean" if clean else "released"
    spec = EncoderSpec(profile.arch, x.shape[1], x.shape[-1], cfg,
                       f"chapter 01 trainer: {profile.pretrain_dataset} {len(x)} images, "
                       f"owner's {what} images {share:g}")
    return train_or_load(spec, x, profile.device, progress=progress)


def guilty_copies(profile: Profile, world: TracingSetup, parent: ZooEntry, seed: int = 0,
                  progress: bool = True) -> dict[str, tuple[str, Encoder]]:
    """A thief's copies of ``parent``, made as chapter 06 makes them: stolen through the API
    (StolenEncoder and Cont-Steal, ``copy_budget`` queries of the thief's images, chapter 06's
    training), pruned, and fine-tuned on the thief's images. Name -> (kind, encoder)."""
    s, st = world.settings, stealing.settings(profile.name)
    x = world.thief_images[: s["copy_budget"]]
    copies: dict[str, tuple[str, Encoder]] = {}
    for method in ("stolenencoder", "contsteal"):
        stolen = stolen_copy(parent, x, method, epochs=st["epochs"],
                             batch_size=st["batch_size"], augment=profile.augment,
                             device=profile.device, seed=seed, progress=progress)
        copies[f"stolen ({method}, {len(x)} queries)"] = ("stolen", stolen.surrogate)
    for amount in s["prune"]:
        copies[f"pruned {amount:.0%}"] = ("pruned", prune_encoder(parent.encoder, amount))
    for epochs in s["finetune_epochs"]:
        config = PretrainConfig.from_profile(profile, epochs=epochs, lr=st["finetune_lr"],
                                             batch_size=min(st["finetune_batch_size"],
                                                            len(world.thief_images)),
                                             seed=seed)
        tuned = finetuned_copy(parent, world.thief_images, config, profile.device, progress)
        copies[f"fine-tuned {epochs} epochs"] = ("fine-tuned", tuned.encoder)
    return copies


def noisy_augment(profile: Profile, noise_std: float) -> AugmentConfig:
    """The profile's augmentations plus Gaussian pixel noise on half of the views."""
    return dataclasses.replace(profile.augment, noise_std=noise_std, noise_p=0.5)
