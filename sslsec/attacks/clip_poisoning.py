"""Targeted poisoning of an image–text model: Carlini & Terzis (ICLR 2022), chapter 08.

Where CLIP-style models learn from (image, caption) pairs scraped from the web, the attacker
publishes the target input with a caption of the target class — a few such pairs. The caption
names the class outright, so no crop has to cooperate and no reference image is needed; the
loss pulls the target's image embedding towards the class's captions. The victim's zero-shot
classifier (and a linear probe on its image features) then puts the target in the target class.

* :func:`poison_pairs`: ``per_pair`` (target input, caption of the target class) pairs for each
  (target, class) pair of a :class:`~sslsec.attacks.poisoned_encoder.PoisoningSetup`;
* :func:`clip_encoder`: the victim's CLIP model trained on the clean pairs plus any poisons
  (the profile's image encoder as its image tower), kept in the zoo;
* :func:`evaluate_clip_targets`: zero-shot and linear-probe verdicts on the targets, and clean
  accuracy of both.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch

from sslsec.attacks.poisoned_encoder import PoisoningSetup, TargetResult, evaluate_targets
from sslsec.augment import check_images
from sslsec.checks import positive_ints
from sslsec.downstream import accuracy
from sslsec.multimodal import (
    TEMPLATES_PER_CLASS,
    CLIPConfig,
    CLIPModel,
    build_model,
    caption,
    captions,
    pretrain_clip,
    tokenize,
)
from sslsec.seed import seed_everything
from sslsec.zoo import DerivedEntry, derive_or_load, sha256_tensor


def poison_pairs(setup: PoisoningSetup, per_pair: int, seed: int = 0
                 ) -> tuple[torch.Tensor, list[str]]:
    """``per_pair`` poisons for each of ``setup.pairs``: the target input (repeated, exact) and
    a caption of its target class, each in a randomly drawn wording."""
    positive_ints(per_pair=per_pair)
    g = torch.Generator().manual_seed(seed)
    test = setup.task["test"]
    images, texts = [], []
    for pair in setup.pairs:
        images.append(test.x[pair.index][None].expand(per_pair, -1, -1, -1))
        wording = torch.randint(TEMPLATES_PER_CLASS, (per_pair,), generator=g).tolist()
        texts += [caption(test.classes[pair.target_class], t) for t in wording]
    return torch.cat(images).contiguous(), texts


def clean_pairs(setup: PoisoningSetup) -> tuple[torch.Tensor, list[str]]:
    """The victim's clean (image, caption) pairs: the pre-training images, each described by a
    caption of its digit (the labels stand in for the web's alt-texts)."""
    labelled = setup.clean_labelled
    if labelled is None or len(labelled) != len(setup.clean_images):
        raise ValueError("setup.clean_labelled must hold the clean images with their labels")
    return setup.clean_images, captions(labelled.y, labelled.classes, setup.seed)


def clip_encoder(setup: PoisoningSetup, config: CLIPConfig, images: torch.Tensor | None = None,
                 texts: list[str] | None = None, progress: bool = True) -> DerivedEntry:
    """The victim's CLIP model (image tower: the profile's encoder architecture) trained on
    ``images`` with captions ``texts`` (default: :func:`clean_pairs`; add poisons with
    ``torch.cat``/``+``); kept in the zoo, keyed by the standard encoder, the data and
    ``config``. ``entry.encoder`` is the :class:`~sslsec.multimodal.CLIPModel`."""
    if (images is None) != (texts is None):
        raise ValueError("give both images and texts, or neither (the clean pairs)")
    if images is None:
        images, texts = clean_pairs(setup)
    check_images(images, setup.clean_images.shape[1], "images")
    if len(texts) != len(images):
        raise ValueError(f"{len(texts)} captions for {len(images)} images: give one each")
    tokens = tokenize(texts)
    spec = setup.clean.spec
    arch = f"clip-{spec.arch}"
    params = {"images_sha256": sha256_tensor(images), "tokens_sha256": sha256_tensor(tokens),
              "config": config.to_dict()}

    def make() -> tuple[CLIPModel, dict]:
        seed_everything(config.seed)
        model = build_model(arch, spec.in_channels, spec.image_size)
        history = pretrain_clip(model, images, tokens, config, setup.profile.device, progress)
        return model, {"loss": history.loss, "seconds": history.total_seconds,
                       "pairs": len(images)}

    return derive_or_load("clip", setup.clean, params, make, setup.profile.device, arch=arch)


@dataclass
class CLIPTargetResult:
    """What the victim's zero-shot classifier, and a linear probe on its image features, make
    of the targets and of clean test data."""

    zero_shot_success: float  # share of pairs whose target the zero-shot classifier moves
    zero_shot_predicted: list[int]
    zero_shot_accuracy: float  # on the clean test split
    probe: TargetResult  # the linear probe's verdicts (chapter 08's downstream user)

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def evaluate_clip_targets(model: CLIPModel, setup: PoisoningSetup) -> CLIPTargetResult:
    """Zero-shot predictions for the targets and the test split, and a linear probe on the
    image features (:func:`~sslsec.attacks.poisoned_encoder.evaluate_targets`)."""
    if not isinstance(model, CLIPModel):
        raise ValueError(f"model must be a CLIPModel; got {type(model).__name__}")
    test = setup.task["test"]
    predicted = model.zero_shot_logits(setup.targets, test.classes).argmax(1).tolist()
    hits = [p == pair.target_class for p, pair in zip(predicted, setup.pairs, strict=True)]
    return CLIPTargetResult(sum(hits) / len(hits), predicted,
                            accuracy(model.zero_shot_logits(test.x, test.classes), test.y),
                            evaluate_targets(model, setup))
