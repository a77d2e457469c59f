"""Targeted poisoning of the pre-training data: PoisonedEncoder (Liu, Jia & Gong, USENIX
Security 2022), chapter 08.

The attacker wants every downstream classifier built on the encoder to put one *target input*
in a *target class* of its choice. It labels nothing: it only adds unlabelled images to the
pre-training set. A PoisonedEncoder poison combines the target input with a *reference input* of
the target class in one image, so that the two random crops of a poison (a positive pair of
contrastive learning) sometimes show the target in one view and the reference in the other; the
loss then pulls their features together.

* :func:`choose_pairs`: ``n`` (target input, target class) pairs;
* :func:`collage`: one poison, ``"side"`` (PoisonedEncoder's side-by-side combination) or
  ``"corners"`` (the reference and the target in opposite corners, CorruptEncoder-style, so that
  one crop holds one of them more often);
* :func:`targets_and_references`: what the poisons of every pair combine;
* :func:`collage_poisons`: ``per_pair`` poisons for each pair;
* :class:`PoisoningSetup`: the clean pre-training set, the downstream task, the pairs and the
  clean encoder (the profile's standard encoder, from the zoo), made by the chapter's
  ``poisoning_setup``;
* :func:`poisoned_encoder`: the clean recipe retrained from scratch on clean + poison images
  (optionally with pair data, :mod:`sslsec.attacks.pair_poisoning`), kept in the zoo;
* :func:`evaluate_targets`: a linear probe on the clean downstream data; the share of targets in
  their target class (success), each target's target-class probability, clean accuracy.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from sslsec.augment import check_images
from sslsec.checks import positive_ints
from sslsec.data import ImageSet, Splits
from sslsec.downstream import evaluate_encoder, extract_features
from sslsec.models import Encoder, build_encoder
from sslsec.pretrain import PretrainConfig, pretrain
from sslsec.profiles import AugmentConfig, Profile
from sslsec.seed import seed_everything
from sslsec.zoo import DerivedEntry, ZooEntry, derive_or_load, sha256_tensor

LAYOUTS = ("side", "corners")


@dataclass(frozen=True)
class TargetPair:
    """A target input (its index in the downstream test split) and the attacker's class."""

    index: int
    true_class: int
    target_class: int


def choose_pairs(test: ImageSet, n: int, seed: int = 0) -> list[TargetPair]:
    """``n`` distinct test inputs, each with a target class drawn from the other classes."""
    positive_ints(n=n)
    if n > len(test):
        raise ValueError(f"n={n} is larger than the {len(test)} test inputs; allowed: "
                         f"1..{len(test)}")
    g = torch.Generator().manual_seed(seed)
    pairs = []
    for i in torch.randperm(len(test), generator=g)[:n].tolist():
        true = int(test.y[i])
        other = int(torch.randint(test.num_classes - 1, (1,), generator=g))
        pairs.append(TargetPair(i, true, other + (other >= true)))
    return pairs


def _fit(x: torch.Tensor, size: int) -> torch.Tensor:
    """The digit's centre box (the inner 5/7 of the frame, where MNIST places strokes),
    resized to ``size``×``size``."""
    h = x.shape[-1]
    m = round(h / 7)
    box = x[None, :, m:h - m, m:h - m]
    return F.interpolate(box, size=(size, size), mode="bilinear", align_corners=False,
                         antialias=True)[0].clamp(0, 1)


def collage(target: torch.Tensor, reference: torch.Tensor, layout: str = "side",
            flip: bool = False) -> torch.Tensor:
    """One poison: ``target`` and ``reference`` (``(C, H, W)`` images) in one frame, each
    digit's box (the inner 5/7 of its frame) fitted into a tile of half the frame's side, so a
    digit keeps 70 % of its size. ``"side"``: side by side, vertically centred; ``"corners"``:
    opposite corners (``flip`` picks the other diagonal)."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout={layout!r} is unknown; allowed: {', '.join(LAYOUTS)}")
    check_images(target[None], name="target")
    check_images(reference[None], name="reference")
    if reference.shape != target.shape:
        raise ValueError(f"target {tuple(target.shape)} and reference {tuple(reference.shape)} "
                         "must have the same shape")
    c, h, w = target.shape
    half = h // 2
    a, b = _fit(target, half), _fit(reference, half)
    out = torch.zeros(c, h, w, dtype=target.dtype)
    if layout == "side":
        top = (h - half) // 2
        out[:, top:top + half, :half], out[:, top:top + half, w - half:] = a, b
    else:
        (ra, ca), (rb, cb) = ((0, w - half), (h - half, 0)) if flip else ((0, 0),
                                                                           (h - half, w - half))
        out[:, ra:ra + half, ca:ca + half], out[:, rb:rb + half, cb:cb + half] = a, b
    return out


def references_of(train: ImageSet, target_class: int, n: int, seed: int) -> torch.Tensor:
    """``n`` reference inputs of ``target_class`` (with repetition when the class has fewer),
    drawn from the labelled images the attacker holds."""
    pool = train.x[train.y == target_class]
    if len(pool) == 0:
        raise ValueError(f"no reference inputs of class {target_class} in {train.name}")
    g = torch.Generator().manual_seed(seed)
    return pool[torch.randint(len(pool), (n,), generator=g)]


def targets_and_references(test: ImageSet, train: ImageSet, pairs: list[TargetPair],
                           per_pair: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """What every poison combines, ``per_pair`` of them for each of ``pairs`` in order: the
    target input (repeated) and one reference input of the target class from ``train``."""
    positive_ints(per_pair=per_pair)
    if not pairs:
        raise ValueError("pairs is empty: give at least one (target, class) pair")
    targets, references = [], []
    for k, pair in enumerate(pairs):
        targets.append(test.x[pair.index][None].expand(per_pair, -1, -1, -1))
        references.append(references_of(train, pair.target_class, per_pair, seed * 1000 + k))
    return torch.cat(targets).contiguous(), torch.cat(references)


def collage_poisons(test: ImageSet, train: ImageSet, pairs: list[TargetPair], per_pair: int,
                    layout: str = "side", seed: int = 0) -> torch.Tensor:
    """``per_pair`` collages for each pair (``len(pairs) * per_pair`` images), each with its own
    reference input of the target class from ``train`` (:func:`targets_and_references`);
    ``"corners"`` alternates the diagonal within each pair."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout={layout!r} is unknown; allowed: {', '.join(LAYOUTS)}")
    targets, references = targets_and_references(test, train, pairs, per_pair, seed)
    return torch.stack([collage(t, r, layout, flip=bool(i % per_pair % 2))
                        for i, (t, r) in enumerate(zip(targets, references, strict=True))])


@dataclass
class PoisoningSetup:
    """The victim's clean pre-training images and recipe, the downstream task, the attacker's
    pairs and the clean encoder (the profile's standard encoder)."""

    settings: dict
    profile: Profile
    clean_images: torch.Tensor
    task: Splits
    pairs: list[TargetPair]
    clean: ZooEntry
    seed: int
    #: the clean images with their labels and class names (only captions use them: the
    #: victim never sees a label)
    clean_labelled: ImageSet | None = None

    @property
    def targets(self) -> torch.Tensor:
        return self.task["test"].x[[p.index for p in self.pairs]]

    def per_pair(self, rate: float) -> int:
        """Poisons for each pair, so that all pairs together make ``rate`` of the clean data
        (at least one each)."""
        if not (isinstance(rate, int | float) and rate > 0):
            raise ValueError(f"rate={rate!r} must be > 0")
        return max(1, round(rate * len(self.clean_images) / len(self.pairs)))


def poisoned_encoder(setup: PoisoningSetup, poisons: torch.Tensor,
                     partners: torch.Tensor | None = None, augment: AugmentConfig | None = None,
                     progress: bool = True) -> DerivedEntry:
    """The clean encoder's recipe (optionally with another ``augment``ation) retrained from
    scratch on the clean images plus ``poisons`` — with pair data when ``partners`` (the second
    view of each poison) is given; kept in the zoo, keyed by the clean encoder and the data."""
    check_images(poisons, setup.clean_images.shape[1], "poisons")
    if partners is not None and partners.shape != poisons.shape:
        raise ValueError(f"partners must be shaped like poisons {tuple(poisons.shape)}; got "
                         f"{tuple(partners.shape)}")
    spec = setup.clean.spec
    config: PretrainConfig = spec.pretrain if augment is None else dataclasses.replace(
        spec.pretrain, augment=augment)
    images = torch.cat([setup.clean_images, poisons])
    second = None if partners is None else torch.cat([setup.clean_images, partners])
    params = {"images_sha256": sha256_tensor(images), "config": config.to_dict(),
              "partners_sha256": None if second is None else sha256_tensor(second)}

    def make() -> tuple[Encoder, dict]:
        seed_everything(config.seed)
        encoder = build_encoder(spec.arch, spec.in_channels, spec.image_size)
        result = pretrain(encoder, images, config, setup.profile.device, progress,
                          partners=second)
        return result.encoder, {"loss": result.history.loss,
                                "seconds": result.history.total_seconds,
                                "poisons": len(poisons), "clean": len(setup.clean_images)}

    return derive_or_load("poisoned", setup.clean, params, make, setup.profile.device)


@dataclass
class TargetResult:
    """What the downstream classifier makes of the targets, and of clean test data."""

    success: float  # share of pairs whose target lands in its target class
    predicted: list[int]
    target_probability: list[float]  # the target class's softmax probability, per pair
    accuracy: float  # clean test accuracy of the same linear probe

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def evaluate_targets(encoder: Encoder, setup: PoisoningSetup, seed: int | None = None
                     ) -> TargetResult:
    """A linear probe on the encoder's features of the clean downstream training data (the
    user's classifier); its verdict on each target input and its clean test accuracy."""
    p = setup.profile
    probe = evaluate_encoder(encoder, setup.task["train"], setup.task["test"], "linear",
                             p.probe_epochs, p.device, setup.seed if seed is None else seed)
    features = extract_features(encoder, setup.targets, device=p.device)
    probs = probe.classifier.logits(features.to(probe.classifier.mean.device)).softmax(1).cpu()
    predicted = probs.argmax(1).tolist()
    hits = [pred == pair.target_class for pred, pair in zip(predicted, setup.pairs, strict=True)]
    return TargetResult(sum(hits) / len(hits), predicted,
                        [round(float(probs[k, pair.target_class]), 4)
                         for k, pair in enumerate(setup.pairs)], probe.test_accuracy)
