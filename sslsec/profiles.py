"""Profiles: one object decides data sizes, architecture, epochs, batch size and device.

``smoke`` runs every chapter in seconds (the automated tests), ``laptop`` (the default) is the
offline MNIST setting on two CPU cores, ``paper`` is CIFAR-10 pre-training with a ResNet-18 on
a GPU, and ``papersmoke`` the paper profile's datasets and architecture at smoke sizes. A
chapter's own sizes per profile live in its module (:mod:`sslsec.chapters`).
"""

from __future__ import annotations

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
    #: a dataset of another distribution than the pre-training one, for attackers' queries
    #: and other parties' encoders (chapters 01, 05-08): UCI digits beside MNIST; STL-10
    #: beside CIFAR-10, as StolenEncoder's surrogate data
    other_dataset: str = "digits"

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
        other_dataset="stl10",
    ),
    # the paper profile's datasets, on-disk formats and architecture at smoke sizes: its code
    # paths, run on a CPU with stand-in files (sslsec.standin) named by $SSLSEC_DATA. The
    # ResNet-18 at an eighth of its width (the same layers and blocks: the code paths are the
    # full network's; ~40× less compute on a CPU core, 2.8× less than at a quarter)
    "papersmoke": Profile(
        name="papersmoke", pretrain_dataset="cifar10",
        downstream_datasets=("stl10", "svhn", "gtsrb"), arch="resnet18-w8", n_pretrain=256,
        n_downstream_train=256, n_test=128, epochs=1, batch_size=128, lr=1e-3,
        temperature=0.5, augment=AugmentConfig(), probe_epochs=20, other_dataset="stl10",
    ),
}


#: Weak augmentations (small crops and rotations only): the views of an image stay close, and
#: an encoder trained long with them memorises its training images (chapter 02).
WEAK_AUGMENT = AugmentConfig(crop_scale=(0.85, 1.0), flip_p=0.0, jitter_strength=0.0,
                             jitter_p=0.0, grayscale_p=0.0, blur_p=0.0, rotation_degrees=5.0)


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
