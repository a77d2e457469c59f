"""BadEncoder (Jia, Liu, Gong, IEEE S&P 2022): a backdoor planted in a pre-trained encoder.

The attacker holds a clean encoder ``f``, some unlabelled *shadow* images, a patch *trigger*
and a few *reference* images of the target class of a downstream task. It fine-tunes a copy
``f'`` with three cosine terms:

* effectiveness: triggered shadow images get the features of the references,
  ``-cos(f'(x ⊕ e), f'(x_ref))``;
* effectiveness, the references stay themselves: ``-cos(f'(x_ref), f(x_ref))``;
* utility: clean shadow images keep their clean features, ``-cos(f'(x), f(x))``.

A downstream classifier trained later on clean data with ``f'`` inherits the backdoor: any
input carrying the trigger lands next to the references, in the target class. Cosines are taken
on features standardised with the clean encoder's statistics on the shadow images (our small
encoders' raw features share a large common component, which would make every cosine ≈ 1).
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from sslsec.augment import check_images
from sslsec.checks import positive_ints
from sslsec.data import ImageSet, Splits
from sslsec.downstream import evaluate_encoder, extract_features
from sslsec.models import Encoder
from sslsec.pretrain import show_progress
from sslsec.profiles import resolve_device
from sslsec.seed import seed_everything
from sslsec.zoo import (
    DerivedEntry,
    ZooEntry,
    derive_or_load,
    sha256_tensor,
)

CORNERS = ("bottom-right", "bottom-left", "top-right", "top-left")
PATTERNS = ("white", "checkerboard")


@dataclass(frozen=True)
class Trigger:
    """A patch trigger: ``size``×``size`` pixels of ``pattern`` at ``corner`` (``margin``
    pixels from the edges) of ``image_size``×``image_size`` images with ``channels``."""

    size: int = 4
    corner: str = "bottom-right"
    pattern: str = "white"
    margin: int = 1
    image_size: int = 28
    channels: int = 1

    def __post_init__(self) -> None:
        if self.corner not in CORNERS:
            raise ValueError(f"corner={self.corner!r} is unknown; allowed: {', '.join(CORNERS)}")
        if self.pattern not in PATTERNS:
            raise ValueError(f"pattern={self.pattern!r} is unknown; allowed: "
                             f"{', '.join(PATTERNS)}")
        if self.size <= 0 or self.margin < 0 or self.size + self.margin > self.image_size:
            raise ValueError(f"size={self.size}, margin={self.margin} do not fit "
                             f"{self.image_size}-pixel images")

    def mask_and_pattern(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``mask`` (1, H, W) in {0, 1} and ``pattern`` (C, H, W) in [0, 1]."""
        n, s, m = self.image_size, self.size, self.margin
        row = n - m - s if self.corner.startswith("bottom") else m
        col = n - m - s if self.corner.endswith("right") else m
        mask = torch.zeros(1, n, n)
        mask[:, row:row + s, col:col + s] = 1.0
        if self.pattern == "white":
            pattern = torch.ones(self.channels, n, n)
        else:
            grid = (torch.arange(n)[:, None] + torch.arange(n)[None, :]) % 2
            pattern = grid.float().expand(self.channels, n, n).clone()
        return mask, pattern

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        """Stamp the trigger on every image of ``x``."""
        check_images(x, self.channels)
        mask, pattern = (t.to(x.device) for t in self.mask_and_pattern())
        return x * (1 - mask) + pattern * mask

    @property
    def area(self) -> float:
        """The share of the image the trigger covers."""
        return self.size ** 2 / self.image_size ** 2


def badencoder_loss(triggered: torch.Tensor, reference: torch.Tensor,
                    reference_clean: torch.Tensor, shadow: torch.Tensor,
                    shadow_clean: torch.Tensor, lam1: float = 1.0,
                    lam2: float = 1.0) -> torch.Tensor:
    """BadEncoder's loss from features: ``triggered`` (B, D) and ``shadow`` (B, D) are the
    backdoored encoder's on triggered and clean shadow images, ``shadow_clean`` the clean
    encoder's; ``reference`` (R, D) and ``reference_clean`` (R, D) likewise for the references.
    Effectiveness: every triggered image against every reference."""
    t, r = F.normalize(triggered, dim=1), F.normalize(reference, dim=1)
    effectiveness = -(t @ r.T).mean()
    keep_references = -F.cosine_similarity(reference, reference_clean, dim=1).mean()
    utility = -F.cosine_similarity(shadow, shadow_clean, dim=1).mean()
    return effectiveness + lam1 * keep_references + lam2 * utility


@dataclass
class BadEncoderResult:
    """The backdoored encoder and its training run."""

    encoder: Encoder
    loss: list[float] = field(default_factory=list)
    seconds: float = 0.0


def badencoder(clean: Encoder, shadow: torch.Tensor, references: torch.Tensor,
               trigger: Trigger, epochs: int = 20, lr: float = 1e-3, batch_size: int = 128,
               lam1: float = 1.0, lam2: float = 1.0, device: str | torch.device = "auto",
               seed: int = 0, progress: bool = True) -> BadEncoderResult:
    """Fine-tune a copy of ``clean`` into a backdoored encoder (the original is untouched)."""
    check_images(shadow, clean.in_channels, "shadow")
    check_images(references, clean.in_channels, "references")
    positive_ints(epochs=epochs, batch_size=batch_size)
    if not 2 <= batch_size <= len(shadow):
        raise ValueError(f"batch_size={batch_size} must be in 2..{len(shadow)} (shadow images)")
    if len(references) == 0:
        raise ValueError("references is empty: give at least one image of the target class")
    dev = resolve_device(device)
    gen = seed_everything(seed)
    frozen = copy.deepcopy(clean).to(dev).eval()
    model = copy.deepcopy(clean).to(dev).train()
    refs = references.to(dev)
    with torch.no_grad():
        # cosines are taken around the clean features' mean, per-feature standardised: the
        # raw features share a large common component (and downstream heads standardise too)
        clean_features = extract_features(frozen, shadow, device=dev).to(dev)
        mean, std = clean_features.mean(0), clean_features.std(0) + 1e-6
        refs_clean = (frozen.encode(refs) - mean) / std
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    history, start = [], time.perf_counter()
    for _ in tqdm(range(epochs), desc="BadEncoder", disable=not show_progress(progress)):
        order, total, steps = torch.randperm(len(shadow), generator=gen), 0.0, 0
        for i in range(0, len(shadow) - batch_size + 1, batch_size):
            batch = shadow[order[i:i + batch_size]].to(dev)
            with torch.no_grad():
                batch_clean = (frozen.encode(batch) - mean) / std
            out = (model.encode(torch.cat([trigger.apply(batch), batch, refs])) - mean) / std
            b = len(batch)
            loss = badencoder_loss(out[:b], out[2 * b:], refs_clean, out[b:2 * b], batch_clean,
                                   lam1, lam2)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total, steps = total + loss.item(), steps + 1
        history.append(total / steps)
    return BadEncoderResult(model.eval(), history, time.perf_counter() - start)


def backdoored_copy(clean: ZooEntry | DerivedEntry, shadow: torch.Tensor,
                    references: torch.Tensor, trigger: Trigger,
                    device: str | torch.device = "auto", progress: bool = True,
                    **options) -> DerivedEntry:
    """:func:`badencoder` on a zoo encoder, kept in the zoo (``options``: its keyword
    arguments ``epochs``, ``lr``, ``batch_size``, ``lam1``, ``lam2``, ``seed``)."""
    check_images(shadow, name="shadow")
    check_images(references, name="references")
    params = {"trigger": vars(trigger), "shadow_sha256": sha256_tensor(shadow),
              "references_sha256": sha256_tensor(references), **options}

    def make() -> tuple[Encoder, dict]:
        result = badencoder(clean.encoder, shadow, references, trigger, device=device,
                            progress=progress, **options)
        return result.encoder, {"loss": result.loss, "seconds": result.seconds}

    return derive_or_load("badencoder", clean, params, make, device)


def reference_images(task: Splits, target: int, n: int, seed: int = 0) -> torch.Tensor:
    """``n`` training images of class ``target`` of a downstream task (the attacker's
    references), drawn with ``seed``."""
    train = task["train"]
    if not 0 <= target < train.num_classes:
        raise ValueError(f"target={target!r} must be a class in 0..{train.num_classes - 1}")
    index = (train.y == target).nonzero().flatten()
    if len(index) < n:
        raise ValueError(f"class {target} has {len(index)} training images; asked for {n}")
    pick = torch.randperm(len(index), generator=torch.Generator().manual_seed(seed))[:n]
    return train.x[index[pick]].clone()


@dataclass
class BackdoorEvaluation:
    """One downstream task, one target class: clean accuracy with the clean encoder (CA) and
    the backdoored one (BA), attack success rate with the backdoored encoder (ASR) and, as a
    baseline, with the clean one (ASR-B): the share of triggered test images *not* of the
    target class that the downstream classifier puts in the target class."""

    task: str
    target: int
    clean_accuracy: float
    backdoored_accuracy: float
    attack_success_rate: float
    baseline_success_rate: float


def _success_rate(probe, encoder, test: ImageSet, trigger: Trigger, target: int,
                  device) -> float:
    keep = test.y != target
    features = extract_features(encoder, trigger.apply(test.x[keep]), device=device)
    return float((probe.classifier.predict(features).cpu() == target).float().mean())


def evaluate_backdoor(clean: Encoder, backdoored: Encoder, task: Splits, name: str,
                      trigger: Trigger, target: int, probe: str = "mlp", epochs: int = 100,
                      device: str | torch.device = "auto", seed: int = 0) -> BackdoorEvaluation:
    """Train the downstream classifier (``probe``, on clean training data) on each encoder's
    features and measure CA, BA, ASR-B and ASR on the task's test set."""
    if not 0 <= target < task["train"].num_classes:
        raise ValueError(f"target={target!r} is not a class of {name}")
    results = {}
    for label, encoder in (("clean", clean), ("backdoored", backdoored)):
        fitted = evaluate_encoder(encoder, task["train"], task["test"], probe, epochs, device,
                                  seed)
        results[label] = (fitted.test_accuracy,
                          _success_rate(fitted, encoder, task["test"], trigger, target, device))
    return BackdoorEvaluation(name, target, results["clean"][0], results["backdoored"][0],
                              results["backdoored"][1], results["clean"][1])


@dataclass
class BackdoorSetup:
    """Chapter 07's world (made by its ``backdoor_setup``): the downstream tasks, the
    attacker's shadow images, the clean encoders (the profile's standard encoder and encoders
    pre-trained by others on their own data), and the defender's clean images for detection."""

    settings: dict
    tasks: dict[str, Splits]
    shadow: torch.Tensor
    clean: dict[str, ZooEntry]
    defender_images: torch.Tensor


def plant_backdoor(setup: BackdoorSetup, clean: str, task: str, target: int, corner: str,
                   pattern: str, device: str | torch.device = "auto", seed: int = 0,
                   progress: bool = True) -> tuple[Trigger, DerivedEntry]:
    """BadEncoder on ``setup.clean[clean]`` for (``task``, ``target``) with a patch trigger at
    ``corner``; the chapter's training settings; kept in the zoo."""
    s = setup.settings
    if clean not in setup.clean or task not in setup.tasks:
        raise ValueError(f"clean={clean!r} or task={task!r} is unknown; allowed: "
                         f"{', '.join(setup.clean)} / {', '.join(setup.tasks)}")
    size = setup.shadow.shape[-1]
    trigger = Trigger(s["trigger_size"], corner, pattern, 1, size, setup.shadow.shape[1])
    refs = reference_images(setup.tasks[task], target, s["n_references"], seed)
    entry = backdoored_copy(setup.clean[clean], setup.shadow, refs, trigger, device, progress,
                            epochs=s["epochs"], lr=s["lr"], batch_size=s["batch_size"],
                            seed=seed)
    return trigger, entry
