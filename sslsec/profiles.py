"""Profiles: one object decides data sizes, architecture, epochs, batch size and device.

``smoke`` runs every chapter in seconds (CI), ``laptop`` (the default) is the offline MNIST
setting on two CPU cores, ``paper`` is CIFAR-10 pre-training with a ResNet-18 on a GPU.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field

import torch

from sslsec.checks import positive_ints

DEVICES = ("auto", "cpu", "cuda", "mps")


@dataclass(frozen=True)
class AugmentConfig:
    """SimCLR-style augmentation recipe (see :mod:`sslsec.augment`). Probabilities in [0, 1]."""

    crop_scale: tuple[float, float] = (0.2, 1.0)
    flip_p: float = 0.5
    jitter_strength: float = 0.5
    jitter_p: float = 0.8
    grayscale_p: float = 0.2
    blur_p: float = 0.0
    rotation_degrees: float = 0.0
    #: additive Gaussian pixel noise (standard deviation, and the share of views it hits):
    #: a common hardening against random corruptions (chapter 09)
    noise_std: float = 0.0
    noise_p: float = 0.5

    def __post_init__(self) -> None:
        lo, hi = self.crop_scale
        if not 0 < lo <= hi <= 1:
            raise ValueError(f"crop_scale={self.crop_scale!r} must satisfy 0 < low <= high <= 1")
        for name in ("flip_p", "jitter_p", "grayscale_p", "blur_p", "noise_p"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name}={getattr(self, name)!r} must be a probability in [0, 1]")
        if self.jitter_strength < 0 or self.rotation_degrees < 0 or self.noise_std < 0:
            raise ValueError("jitter_strength, rotation_degrees and noise_std must be >= 0")

    def scaled(self, strength: float) -> AugmentConfig:
        """The same recipe at another strength: 0 = identity, 1 = this recipe."""
        if not 0 <= strength <= 2:
            raise ValueError(f"strength={strength!r} must be in [0, 2]")
        lo = round(max(1.0 - strength * (1.0 - self.crop_scale[0]), 0.05), 6)
        return dataclasses.replace(
            self,
            crop_scale=(min(lo, 1.0), 1.0),
            flip_p=min(self.flip_p * strength, 1.0),
            jitter_strength=self.jitter_strength * strength,
            grayscale_p=min(self.grayscale_p * strength, 1.0),
            blur_p=min(self.blur_p * strength, 1.0),
            rotation_degrees=self.rotation_degrees * strength,
            noise_std=self.noise_std * strength,
        )


@dataclass(frozen=True)
class Profile:
    """Everything a chapter needs to size itself. Chapters never hard-code these."""

    name: str
    pretrain_dataset: str
    downstream_datasets: tuple[str, ...]
    arch: str
    n_pretrain: int
    n_downstream_train: int
    n_test: int
    epochs: int
    batch_size: int
    lr: float
    temperature: float
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    probe_epochs: int = 100
    device: str = "auto"

    def torch_device(self) -> torch.device:
        """The resolved device (``auto`` picks CUDA when present)."""
        return resolve_device(self.device)

    def replace(self, **changes) -> Profile:
        """A copy with some fields changed (validated like :func:`get_profile`)."""
        return _validated(dataclasses.replace(self, **changes))


_MNIST_AUG = AugmentConfig(
    crop_scale=(0.4, 1.0), flip_p=0.0, jitter_strength=0.4, jitter_p=0.8, grayscale_p=0.0,
    blur_p=0.0, rotation_degrees=10.0,
)

PROFILES: dict[str, Profile] = {
    "smoke": Profile(
        name="smoke", pretrain_dataset="mnist5k", downstream_datasets=("mnist5k", "digits"),
        arch="cnn28", n_pretrain=256, n_downstream_train=256, n_test=128, epochs=1,
        batch_size=128, lr=1e-3, temperature=0.5, augment=_MNIST_AUG, probe_epochs=20,
    ),
    "laptop": Profile(
        name="laptop", pretrain_dataset="mnist5k", downstream_datasets=("mnist5k", "digits"),
        arch="cnn28", n_pretrain=4000, n_downstream_train=4000, n_test=1000, epochs=25,
        batch_size=256, lr=2e-3, temperature=0.2, augment=_MNIST_AUG, probe_epochs=100,
    ),
    "paper": Profile(
        name="paper", pretrain_dataset="cifar10", downstream_datasets=("stl10", "svhn", "gtsrb"),
        arch="resnet18", n_pretrain=50000, n_downstream_train=50000, n_test=10000, epochs=200,
        batch_size=512, lr=1e-3, temperature=0.5, augment=AugmentConfig(), probe_epochs=100,
    ),
}


#: Weak augmentations (small crops and rotations only): the views of an image stay close, and
#: an encoder trained long with them memorises its training images (chapter 01).
WEAK_AUGMENT = AugmentConfig(crop_scale=(0.85, 1.0), flip_p=0.0, jitter_strength=0.0,
                             jitter_p=0.0, grayscale_p=0.0, blur_p=0.0, rotation_degrees=5.0)

#: Chapter 04's candidate pre-training recipes (changes to the profile's recipe).
_RECIPES = {
    "SimCLR, τ=0.1": {"method": "simclr", "temperature": 0.1},
    "SimCLR, τ=0.5": {"method": "simclr", "temperature": 0.5},
    "SimCLR, weak augmentations": {"method": "simclr", "augment_strength": 0.4},
    "MoCo v2": {"method": "mocov2", "queue_size": 1024},
}

#: Chapter-specific sizes, per profile (a chapter reads them with :func:`chapter_settings`).
CHAPTER_SETTINGS: dict[str, dict[str, dict]] = {
    "01_membership_inference": {
        # a small member pool trained long with weak augmentations generalises less
        "smoke": {"n_members": 32, "epochs": 6, "checkpoints": [2, 4, 6], "n_views": 4},
        "laptop": {"n_members": 256, "epochs": 600,
                   "checkpoints": [10, 25, 50, 100, 200, 400, 600], "n_views": 10},
        "paper": {"n_members": 5000, "epochs": 800,
                  "checkpoints": [50, 100, 200, 400, 800], "n_views": 10},
    },
    "02_property_and_attribute_inference": {
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
                   "n_levels": 3, "talos_weights": [0.5, 2.0],
                   "inlp_iterations": [0, 5, 10, 15, 20, 25, 30]},
        "paper": {"target_class": 0, "fractions": [0.1, 0.5], "n_images": 4000, "epochs": 100,
                  "batch_size": 256, "n_shadows": 24, "n_victims": 16, "probe_target": 50,
                  "probe_other": 150, "curve": [2, 4, 8, 12, 16], "attribute": "brightness",
                  "n_levels": 3, "talos_weights": [0.5, 2.0],
                  "inlp_iterations": [0, 20, 40, 80, 120, 160]},
    },
    "04_hyperparameter_stealing": {
        # exact stealing: L2 weights of heads on `n_head_train` images' features, and the
        # rounding defence; recipe stealing: shadow/victim encoders per recipe
        "smoke": {"n_head_train": 200, "lambdas": [1e-2, 1.0, 100.0], "decimals": [6, 3, 1],
                  "n_images": 128, "epochs": 2, "batch_size": 64, "shadows_per_recipe": 2,
                  "victims_per_recipe": 1, "n_probe": 40, "recipes": _RECIPES},
        "laptop": {"n_head_train": 1000, "lambdas": [1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0],
                   "decimals": [8, 6, 5, 4, 3, 2, 1], "n_images": 300, "epochs": 30,
                   "batch_size": 150, "shadows_per_recipe": 6, "victims_per_recipe": 3,
                   "n_probe": 200, "recipes": _RECIPES},
        "paper": {"n_head_train": 5000, "lambdas": [1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0],
                  "decimals": [8, 6, 5, 4, 3, 2, 1], "n_images": 5000, "epochs": 100,
                  "batch_size": 256, "shadows_per_recipe": 6, "victims_per_recipe": 3,
                  "n_probe": 200, "recipes": _RECIPES},
    },
    "06_embedding_inversion": {
        # the attacker's auxiliary images (from the pre-training pool), the users' images (test
        # pool), decoder and recogniser sizes, and the users' perturbation settings
        "smoke": {"n_aux": 256, "n_users": 64, "decoder_epochs": 3, "decoder_width": 8,
                  "decoder_hidden": 128, "recogniser_epochs": 1, "recogniser_width": 16,
                  "n_calibration": 200, "defences": [{"noise": 1.0}, {"bits": 1}]},
        "laptop": {"n_aux": 4000, "n_users": 500, "decoder_epochs": 10, "decoder_width": 16,
                   "decoder_hidden": 256, "recogniser_epochs": 3, "recogniser_width": 32,
                   "n_calibration": 1000,
                   "defences": [{"noise": 0.25}, {"noise": 0.5}, {"noise": 1.0}, {"noise": 2.0},
                                {"noise": 3.0}, {"step": 1.0}, {"bits": 2}, {"bits": 1}]},
        "paper": {"n_aux": 25000, "n_users": 1000, "decoder_epochs": 30, "decoder_width": 64,
                  "decoder_hidden": 1024, "recogniser_epochs": 20, "recogniser_width": 64,
                  "n_calibration": 5000,
                  "defences": [{"noise": 0.25}, {"noise": 0.5}, {"noise": 1.0}, {"noise": 2.0},
                               {"noise": 3.0}, {"step": 1.0}, {"bits": 2}, {"bits": 1}]},
    },
    "03_encoder_stealing": {
        # MNIST test-pool images kept for evaluation (the rest are the attacker's queries); query
        # budgets; the surrogate's training; the output defences of the API
        "smoke": {"n_eval": 64, "budgets": [64, 128], "budget": 128, "epochs": 2,
                  "batch_size": 32, "defences": [{"noise": 1.0}]},
        "laptop": {"n_eval": 400, "budgets": [50, 200, 600], "budget": 600, "epochs": 20,
                   "batch_size": 64,
                   "defences": [{"noise": 0.25}, {"noise": 0.5}, {"noise": 1.0}, {"step": 0.5},
                                {"step": 1.0}, {"step": 2.0}, {"topk": 16}]},
        "paper": {"n_eval": 5000, "budgets": [500, 1000, 2500, 5000], "budget": 5000,
                  "epochs": 100, "batch_size": 256,
                  "defences": [{"noise": 0.5}, {"noise": 1.0}, {"step": 1.0}, {"topk": 64}]},
    },
    "05_watermarks_and_fingerprints": {
        # the watermark key and its embedding; the thief's copies of the marked release
        # ((method, query pool, budget) with chapter 03's training; pruned shares; fine-tuning
        # epochs); independent encoders ((pool role, seed)); dataset inference
        "smoke": {"bits": 16, "n_verification": 64,
                  "embed": {"epochs": 1, "lam": 1.0, "margin": 0.3, "lr": 5e-4,
                            "batch_size": 64},
                  "stolen": [["stolenencoder", "same", 128], ["contsteal", "other", 128]],
                  "prune": [0.5], "finetune_epochs": [1], "finetune_lr": 2e-4,
                  "finetune_batch_size": 64, "independent": [["same", 1], ["other", 0]],
                  "n_views": 4, "n_private": 64},
        "laptop": {"bits": 64, "n_verification": 1000,
                   "embed": {"epochs": 10, "lam": 1.0, "margin": 0.3, "lr": 5e-4,
                             "batch_size": 256},
                   "stolen": [["stolenencoder", "same", 50], ["stolenencoder", "same", 200],
                              ["stolenencoder", "same", 600], ["stolenencoder", "other", 600],
                              ["contsteal", "same", 200], ["contsteal", "same", 600]],
                   "prune": [0.3, 0.6], "finetune_epochs": [5, 20], "finetune_lr": 2e-4,
                   "finetune_batch_size": 128,
                   "independent": [["same", 0], ["same", 1], ["same", 2], ["other", 0],
                                   ["other", 1]],
                   "n_views": 10, "n_private": 400},
        "paper": {"bits": 64, "n_verification": 2000,
                  "embed": {"epochs": 20, "lam": 1.0, "margin": 0.3, "lr": 1e-4,
                            "batch_size": 256},
                  "stolen": [["stolenencoder", "same", 1000], ["stolenencoder", "same", 5000],
                             ["stolenencoder", "other", 5000], ["contsteal", "same", 5000]],
                  "prune": [0.3, 0.6], "finetune_epochs": [5, 20], "finetune_lr": 1e-4,
                  "finetune_batch_size": 256,
                  "independent": [["same", 0], ["same", 1], ["same", 2], ["other", 0],
                                  ["other", 1]],
                  "n_views": 10, "n_private": 2000},
    },
    "07_targeted_poisoning": {
        # (target input, target class) pairs, attacked together in one pre-training run;
        # poisoning rates (poison images / clean images, shared by the pairs) of the collages
        # (per layout) and of the pair poisons; defences: outlier removal (share dropped, PCA
        # components), the in-processing recipe (crop scale), fine-tuning on clean images
        "smoke": {"n_pairs": 2, "layouts": ["side", "corners"], "collage_rate": 0.05,
                  "pair_rates": [0.05], "remove_share": 0.1, "components": 8,
                  "defence_crop": [0.8, 1.0], "finetune_images": 256, "finetune_epochs": 1,
                  "finetune_lr": 5e-4},
        "laptop": {"n_pairs": 10, "layouts": ["side", "corners"], "collage_rate": 0.1,
                   "pair_rates": [0.02, 0.1], "remove_share": 0.1, "components": 16,
                   "defence_crop": [0.8, 1.0], "finetune_images": 4000, "finetune_epochs": 5,
                   "finetune_lr": 5e-4},
        "paper": {"n_pairs": 10, "layouts": ["side", "corners"], "collage_rate": 0.01,
                  "pair_rates": [0.002, 0.01], "remove_share": 0.05, "components": 64,
                  "defence_crop": [0.8, 1.0], "finetune_images": 10000, "finetune_epochs": 10,
                  "finetune_lr": 1e-4},
    },
    "08_backdoors": {
        # shadow images per query pool; BadEncoder's training; the downstream classifier;
        # the backdoors of the main table (task, target, corner, pattern) and of the detection
        # population (clean encoder, task, target, corner, pattern); DECREE's search
        "smoke": {"n_shadow": 64, "n_references": 2, "trigger_size": 4, "epochs": 1,
                  "lr": 1e-3, "batch_size": 64, "probe": "mlp", "probe_epochs": 10,
                  "main": [["mnist5k", 0, "bottom-right", "white"],
                           ["digits", 1, "top-left", "checkerboard"]],
                  "population": [["mnist5k, seed 1", "mnist5k", 3, "top-right", "white"]],
                  "decree": {"steps": 10, "batch_size": 32, "threshold": 0.95, "lr": 0.1}},
        "laptop": {"n_shadow": 600, "n_references": 3, "trigger_size": 4, "epochs": 40,
                   "lr": 1e-3, "batch_size": 128, "probe": "mlp", "probe_epochs": 100,
                   "main": [["mnist5k", 0, "bottom-right", "white"],
                            ["digits", 1, "top-left", "checkerboard"]],
                   "population": [["mnist5k, seed 1", "mnist5k", 3, "top-right", "white"],
                                  ["mnist5k, seed 2", "digits", 7, "bottom-left",
                                   "checkerboard"],
                                  ["digits, seed 0", "mnist5k", 5, "bottom-left", "white"],
                                  ["digits, seed 1", "digits", 9, "top-right",
                                   "checkerboard"]],
                   "decree": {"steps": 200, "batch_size": 64, "threshold": 0.95, "lr": 0.1}},
        "paper": {"n_shadow": 5000, "n_references": 3, "trigger_size": 10, "epochs": 200,
                  "lr": 1e-4, "batch_size": 256, "probe": "mlp", "probe_epochs": 100,
                  "main": [["stl10", 9, "bottom-right", "white"],
                           ["svhn", 1, "bottom-right", "white"],
                           ["gtsrb", 12, "bottom-right", "white"]],
                  "population": [["cifar10, seed 1", "stl10", 3, "top-right", "white"],
                                 ["cifar10, seed 2", "svhn", 7, "bottom-left", "checkerboard"],
                                 ["digits, seed 0", "gtsrb", 5, "bottom-left", "white"],
                                 ["digits, seed 1", "stl10", 9, "top-right", "checkerboard"]],
                  "decree": {"steps": 1000, "batch_size": 128, "threshold": 0.95,
                             "lr": 0.1}},
    },
    "09_adversarial_examples": {
        # L∞ budgets on pixels in [0, 1]; the pixel-noise std of the hardened encoder's
        # pre-training; PGD steps; the universal perturbation's training; the smoothing noise
        # levels and Monte-Carlo sizes of the certification
        "smoke": {"epsilons": [0.05, 0.1], "epsilon": 0.1, "hardened_noise_std": 0.05,
                  "n_test": 32, "pgd_steps": 5, "n_attacker": 128, "universal_epochs": 1,
                  "sigmas": [0.1], "n_certify": 8, "n0": 16, "n": 32,
                  "radii": [0.0, 0.1, 0.2]},
        "laptop": {"epsilons": [0.02, 0.05, 0.1, 0.15, 0.2], "epsilon": 0.1,
                   "hardened_noise_std": 0.05, "n_test": 300, "pgd_steps": 20,
                   "n_attacker": 1000, "universal_epochs": 10, "sigmas": [0.05, 0.1, 0.2],
                   "n_certify": 100, "n0": 32, "n": 512,
                   "radii": [0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4]},
        "paper": {"epsilons": [2 / 255, 4 / 255, 8 / 255, 16 / 255], "epsilon": 8 / 255,
                  "hardened_noise_std": 0.05, "n_test": 1000, "pgd_steps": 20,
                  "n_attacker": 5000, "universal_epochs": 20, "sigmas": [0.12, 0.25, 0.5],
                  "n_certify": 500, "n0": 100, "n": 10000,
                  "radii": [0.0, 0.1, 0.25, 0.5, 0.75, 1.0]},
    },
    "10_availability_poisoning": {
        # the L∞ budget (pixels in [0, 1]); the poison's alternation: rounds of (surrogate
        # training steps, then a pass of PGD steps per mini-batch on delta); the perturbation
        # grid (upsampled; None: per pixel); seeds of the untrained-encoder floor; the filter
        "smoke": {"epsilon": 0.3, "rounds": 1, "train_steps": 2, "pgd_steps": 1, "grid": 4,
                  "floor_seeds": [0], "filter": "binarize"},
        "laptop": {"epsilon": 0.3, "rounds": 10, "train_steps": 10, "pgd_steps": 3, "grid": 4,
                   "floor_seeds": [0, 1, 2], "filter": "binarize"},
        "paper": {"epsilon": 8 / 255, "rounds": 200, "train_steps": 20, "pgd_steps": 5,
                  "grid": None, "floor_seeds": [0, 1, 2], "filter": "median"},
    },
}


def chapter_settings(chapter: str, profile: str) -> dict:
    """The chapter's sizes in ``profile`` (a copy)."""
    if chapter not in CHAPTER_SETTINGS:
        raise ValueError(f"chapter={chapter!r} has no settings; allowed: "
                         f"{', '.join(CHAPTER_SETTINGS)}")
    if profile not in CHAPTER_SETTINGS[chapter]:
        raise ValueError(f"profile={profile!r} is unknown; allowed: "
                         f"{', '.join(CHAPTER_SETTINGS[chapter])}")
    return copy.deepcopy(CHAPTER_SETTINGS[chapter][profile])


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """Turn ``auto``/``cpu``/``cuda``/``mps`` into a :class:`torch.device`.

    ``auto`` picks CUDA, then MPS, then CPU. Asking for an accelerator that is absent raises.
    """
    if isinstance(device, torch.device):
        return device
    if not isinstance(device, str) or device.split(":")[0] not in DEVICES:
        raise ValueError(f"device={device!r} is not supported; allowed: {', '.join(DEVICES)}")
    kind = device.split(":")[0]
    if kind == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if kind == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' was requested but no CUDA GPU is available; use 'auto'")
    if kind == "mps" and not torch.backends.mps.is_available():
        raise ValueError("device='mps' was requested but MPS is not available; use 'auto'")
    return torch.device(device)


def _validated(p: Profile) -> Profile:
    # Dataset and architecture names are checked where they are used (sslsec.data, sslsec.models),
    # which sit on floors above this module.
    positive_ints(**{attr: getattr(p, attr) for attr in (
        "n_pretrain", "n_downstream_train", "n_test", "epochs", "batch_size", "probe_epochs")})
    for attr in ("lr", "temperature"):
        if not getattr(p, attr) > 0:
            raise ValueError(f"{attr}={getattr(p, attr)!r} must be > 0")
    resolve_device(p.device)
    return p


def get_profile(name: str = "laptop", device: str = "auto", **overrides) -> Profile:
    """The named profile, with ``device`` and any field overridden.

    >>> get_profile("smoke").epochs
    1
    """
    if name not in PROFILES:
        raise ValueError(f"profile={name!r} is unknown; allowed: {', '.join(PROFILES)}")
    unknown = set(overrides) - {f.name for f in dataclasses.fields(Profile)}
    if unknown:
        raise ValueError(
            f"unknown profile field(s) {sorted(unknown)}; allowed: "
            f"{', '.join(f.name for f in dataclasses.fields(Profile))}"
        )
    return _validated(dataclasses.replace(PROFILES[name], device=device, **overrides))
