"""Contrastive Poisoning: availability poisoning of contrastive pre-training (He, Zha & Katabi,
"Indiscriminate Poisoning Attacks on Unsupervised Contrastive Learning", ICLR 2023), chapter 08.

The attacker publishes the pre-training images with a small perturbation ``delta`` added,
``||delta||_∞ <= epsilon`` on pixels in [0, 1]. The perturbation is *error-minimising*: it makes
the SimCLR loss of the poisoned images easy to drive down, so that an encoder pre-trained on them
may learn the perturbation (a shortcut) instead of the images' content.

:func:`contrastive_poison` alternates (a) a few SimCLR steps of a surrogate encoder and
projection head on the poisoned images ``x + delta`` and (b) signed gradient steps on ``delta``
that *decrease* the surrogate's NT-Xent loss of two views of ``x + delta`` drawn through the
differentiable augmentations (:class:`~sslsec.augment.SimCLRAugment`), each followed by the
projection onto the budget. Two variants (:data:`KINDS`):

* ``"classwise"`` (CP-C): one ``delta`` per class (the attacker knows its images' classes);
* ``"samplewise"`` (CP-S): one ``delta`` per image.

:func:`random_poison` is the control: random signs of the same L∞ size and shape.
:func:`victim_encoder` is the victim's side: the profile's recipe pre-trained on the clean,
randomly perturbed or poisoned images, optionally filtered first
(:mod:`sslsec.image_filters`), kept in the zoo.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from sslsec.augment import SimCLRAugment, check_images
from sslsec.checks import positive_ints
from sslsec.data import ImageSet, Splits, pretrain_set
from sslsec.downstream import evaluate_encoder
from sslsec.image_filters import FILTERS, filter_images
from sslsec.models import Encoder, build_encoder
from sslsec.pretrain import PretrainConfig, SimCLR, pretrain, show_progress
from sslsec.profiles import Profile, resolve_device
from sslsec.seed import seed_everything
from sslsec.zoo import DerivedEntry, ZooEntry, derive_or_load, profile_encoder

KINDS = ("classwise", "samplewise")
POISONS = ("contrastive", "random")
#: the settings that decide a poison (``epsilon`` alone for a random one)
POISON_SETTINGS = ("epsilon", "rounds", "train_steps", "pgd_steps", "grid")


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"kind={kind!r} is unknown; allowed: {', '.join(KINDS)}")


def _check_epsilon(epsilon: float) -> None:
    if not (isinstance(epsilon, int | float) and not isinstance(epsilon, bool)
            and 0 < epsilon <= 1):
        raise ValueError(f"epsilon={epsilon!r} must be a number in (0, 1] (L∞ on pixels in "
                         "[0, 1])")


def _check_data(data: ImageSet, kind: str) -> None:
    if not isinstance(data, ImageSet):
        raise ValueError(f"data must be an ImageSet, got {type(data).__name__}")
    check_images(data.x, name="data.x")
    if kind == "classwise" and (int(data.y.min()) < 0 or int(data.y.max()) >= data.num_classes):
        raise ValueError(f"data.y must hold labels in 0..{data.num_classes - 1} for the "
                         "classwise poison")


def upsample(pattern: torch.Tensor, size: int) -> torch.Tensor:
    """A (N, C, g, g) perturbation pattern at the image size (bilinear; unchanged if g = size)."""
    if pattern.shape[-1] == size:
        return pattern
    return F.interpolate(pattern, size=(size, size), mode="bilinear", align_corners=False)


def apply_poison(data: ImageSet, delta: torch.Tensor, kind: str) -> ImageSet:
    """``data`` with ``delta`` added (``delta[y]`` per class for ``classwise``, ``delta[i]`` per
    image for ``samplewise``; at the image size or a coarser grid, see :func:`upsample`),
    clipped to [0, 1]."""
    _check_kind(kind)
    _check_data(data, kind)
    rows = data.num_classes if kind == "classwise" else len(data)
    if delta.dim() != 4 or delta.shape[:2] != (rows, data.channels) or (
            delta.shape[2] != delta.shape[3]) or not 1 <= delta.shape[2] <= data.size:
        raise ValueError(f"a {kind} delta for these images has shape ({rows}, {data.channels}, "
                         f"g, g) with g in 1..{data.size}; got {tuple(delta.shape)}")
    d = upsample(delta.to(data.x.device, data.x.dtype), data.size)
    added = d[data.y.to(d.device)] if kind == "classwise" else d
    return ImageSet((data.x + added).clamp(0, 1), data.y.clone(),
                    f"{data.name} + {kind} poison", data.classes)


@dataclass
class PoisonResult:
    """The poisoned images, the perturbation pattern and how the generation went."""

    poisoned: ImageSet
    #: (num_classes or N, C, g, g) on the CPU: the pattern added (upsampled to the image size)
    delta: torch.Tensor
    kind: str
    epsilon: float
    #: mean NT-Xent loss of the poisoned views during each round's perturbation steps
    loss: list[float] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def linf(self) -> float:
        """The largest pixel change of the pattern (``<= epsilon``)."""
        return float(self.delta.abs().max())


def contrastive_poison(data: ImageSet, epsilon: float = 0.3, kind: str = "classwise",
                       config: PretrainConfig | None = None, rounds: int = 10,
                       train_steps: int = 10, pgd_steps: int = 3,
                       step_size: float | None = None, grid: int | None = None,
                       arch: str = "cnn28", device: str | torch.device = "auto", seed: int = 0,
                       progress: bool = False) -> PoisonResult:
    """Error-minimising perturbations of ``data`` against contrastive (SimCLR) pre-training.

    Each of ``rounds`` rounds trains the surrogate (``arch`` + projection head, with the batch
    size, learning rate, temperature and augmentations of ``config``) for ``train_steps`` steps
    on the poisoned images, then makes one pass over the images in mini-batches with
    ``pgd_steps`` signed steps of size ``step_size`` (default ``epsilon / 4``) on ``delta`` per
    mini-batch, each decreasing the NT-Xent loss of two fresh views. ``delta`` starts uniform in
    ``[-epsilon, epsilon]``. With ``grid``, ``delta`` is a ``grid``×``grid`` pattern upsampled
    to the image size: smooth perturbations that survive crops and rotations.
    """
    _check_kind(kind)
    _check_data(data, kind)
    _check_epsilon(epsilon)
    positive_ints(rounds=rounds, train_steps=train_steps, pgd_steps=pgd_steps)
    step = epsilon / 4 if step_size is None else step_size
    if not (isinstance(step, int | float) and not isinstance(step, bool) and step > 0):
        raise ValueError(f"step_size={step_size!r} must be > 0")
    if grid is not None and (not isinstance(grid, int) or isinstance(grid, bool)
                             or not 1 <= grid <= data.size):
        raise ValueError(f"grid={grid!r} must be an integer in 1..{data.size}")
    config = config or PretrainConfig()
    if config.batch_size > len(data):
        raise ValueError(f"config.batch_size={config.batch_size} is larger than the "
                         f"{len(data)} images")
    dev = resolve_device(device)
    start = time.perf_counter()
    gen = seed_everything(seed)
    x, y = data.x.to(dev), data.y.to(dev)
    rows = data.num_classes if kind == "classwise" else len(data)
    side = grid or data.size
    delta = ((torch.rand((rows, data.channels, side, side), generator=gen) * 2 - 1)
             * epsilon).to(dev)
    model = SimCLR(build_encoder(arch, data.channels, data.size),
                   temperature=config.temperature, proj_dim=config.proj_dim).to(dev)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr,
                                 weight_decay=config.weight_decay)
    augment = SimCLRAugment(data.size, data.channels, config.augment)
    bs = config.batch_size

    def poisoned(index: torch.Tensor) -> torch.Tensor:
        d = delta[y[index]] if kind == "classwise" else delta[index]
        return (x[index] + upsample(d, data.size)).clamp(0, 1)

    history: list[float] = []
    model.train()
    for _ in tqdm(range(rounds), desc=f"{kind} contrastive poisoning",
                  disable=not show_progress(progress)):
        for _ in range(train_steps):  # (a) the surrogate learns the poisoned images
            index = torch.randperm(len(x), generator=gen)[:bs].to(dev)
            with torch.no_grad():
                batch = poisoned(index)
            loss = model.loss(augment(batch), augment(batch))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        model.requires_grad_(False)
        order, total, batches = torch.randperm(len(x), generator=gen).to(dev), 0.0, len(x) // bs
        for i in range(batches):  # (b) delta makes the loss smaller (full batches: BatchNorm)
            index = order[i * bs:(i + 1) * bs]
            for _ in range(pgd_steps):
                delta.requires_grad_(True)
                batch = poisoned(index)
                loss = model.loss(augment(batch), augment(batch))
                (grad,) = torch.autograd.grad(loss, delta)
                with torch.no_grad():
                    delta = (delta - step * grad.sign()).clamp(-epsilon, epsilon)
            total += loss.item()
        model.requires_grad_(True)
        history.append(total / batches)
    delta = delta.detach().cpu()
    return PoisonResult(apply_poison(data.to("cpu"), delta, kind), delta, kind, float(epsilon),
                        history, time.perf_counter() - start)


def random_poison(data: ImageSet, epsilon: float, kind: str = "classwise",
                  seed: int = 0) -> PoisonResult:
    """The control: ``±epsilon`` random signs per pixel, one pattern per class
    (``classwise``) or per image (``samplewise``), clipped to [0, 1]."""
    _check_kind(kind)
    _check_data(data, kind)
    _check_epsilon(epsilon)
    gen = torch.Generator().manual_seed(seed)
    rows = data.num_classes if kind == "classwise" else len(data)
    signs = torch.randint(0, 2, (rows, *data.x.shape[1:]), generator=gen).float() * 2 - 1
    delta = epsilon * signs
    return PoisonResult(apply_poison(data.to("cpu"), delta, kind), delta, kind, float(epsilon))


# --- the victim's side: pre-training on the published images ------------------------------

#: poisons made in this process, by their parameters: the filtered victim reuses its poison
_MADE: dict[str, PoisonResult] = {}


def poison_parameters(settings: dict, poison: str, kind: str, seed: int = 0) -> dict:
    """What decides a poison of the profile's pre-training images: ``settings``' ``epsilon``
    (and, for a contrastive poison, its ``rounds``, ``train_steps``, ``pgd_steps`` and
    ``grid``: chapter 08's settings; other keys are ignored), ``poison``, ``kind`` and
    ``seed``."""
    if not isinstance(settings, dict):
        raise ValueError(f"settings must be a dict of {', '.join(POISON_SETTINGS)}; got "
                         f"{type(settings).__name__}")
    if poison not in POISONS:
        raise ValueError(f"poison={poison!r} is unknown; allowed: {', '.join(POISONS)}")
    _check_kind(kind)
    needed = ("epsilon",) + (POISON_SETTINGS[1:] if poison == "contrastive" else ())
    missing = [k for k in needed if k not in settings]
    if missing:
        raise ValueError(f"settings lack {', '.join(missing)}; needed: {', '.join(needed)}")
    params = {"poison": poison, "kind": kind, "epsilon": settings["epsilon"], "seed": seed}
    if poison == "contrastive":
        params.update({k: settings[k] for k in ("rounds", "train_steps", "pgd_steps", "grid")})
    return params


def make_poison(profile: Profile, settings: dict, poison: str, kind: str, seed: int = 0,
                progress: bool = True) -> PoisonResult:
    """The poison of :func:`poison_parameters` applied to the profile's pre-training images
    (made once per process and profile: the whole profile, not its name, since a profile
    changed with ``dataclasses.replace`` — chapter 08's dataset lever — keeps the name)."""
    params = poison_parameters(settings, poison, kind, seed)
    key = json.dumps({"profile": repr(profile), **params}, sort_keys=True)
    if key not in _MADE:
        data = pretrain_set(profile, seed)
        if poison == "random":
            _MADE[key] = random_poison(data, params["epsilon"], kind, seed)
        else:
            config = PretrainConfig.from_profile(profile, seed=seed)
            _MADE[key] = contrastive_poison(
                data, params["epsilon"], kind, config, params["rounds"], params["train_steps"],
                params["pgd_steps"], grid=params["grid"], arch=profile.arch,
                device=profile.device, seed=seed, progress=progress)
    return _MADE[key]


def victim_encoder(profile: Profile, settings: dict, poison: str | None = None,
                   kind: str = "classwise", image_filter: str | None = None, seed: int = 0,
                   progress: bool = True) -> ZooEntry | DerivedEntry:
    """The victim's encoder: the profile's recipe pre-trained on its pre-training images —
    clean (``poison=None``), or with a ``"random"`` or ``"contrastive"`` poison of ``kind``
    made with ``settings`` (see :func:`poison_parameters`) — after the named ``image_filter``
    (see :data:`~sslsec.image_filters.FILTERS`), if any.

    The clean, unfiltered victim is the profile's standard encoder. The others are zoo entries
    derived from it; their ``info`` holds the pre-training ``loss`` per epoch and, for a
    poison, its generation ``poison_loss`` and ``poison_seconds`` (and, for a contrastive
    poison, the ``pattern`` of the :func:`preview_rows`)."""
    if image_filter is not None and image_filter not in FILTERS:
        raise ValueError(f"image_filter={image_filter!r} is unknown; allowed: None, "
                         f"{', '.join(FILTERS)}")
    clean = profile_encoder(profile, seed, progress)
    if poison is None and image_filter is None:
        return clean
    params = {"filter": image_filter, "poison": None if poison is None
              else poison_parameters(settings, poison, kind, seed)}

    def make() -> tuple[Encoder, dict]:
        info: dict = {}
        images = pretrain_set(profile, seed)
        if poison is not None:
            made = make_poison(profile, settings, poison, kind, seed, progress)
            images = made.poisoned
            info.update(poison_loss=made.loss, poison_seconds=made.seconds)
            if poison == "contrastive":
                info["pattern"] = made.delta[preview_rows(images, kind)].tolist()
        x = images.x if image_filter is None else filter_images(images.x, image_filter)
        config = clean.spec.pretrain
        seed_everything(config.seed)
        encoder = build_encoder(clean.spec.arch, clean.spec.in_channels, clean.spec.image_size)
        result = pretrain(encoder, x, config, profile.device, progress)
        info.update(loss=result.history.loss, seconds=result.history.total_seconds)
        return result.encoder, info

    return derive_or_load("availability-victim", clean, params, make, profile.device)


def preview_rows(data: ImageSet, kind: str) -> list[int]:
    """Rows of a ``kind`` delta to show, one per class: the class's pattern (``classwise``) or
    the pattern of the class's first image (``samplewise``)."""
    _check_kind(kind)
    if kind == "classwise":
        return list(range(data.num_classes))
    return [int(torch.nonzero(data.y == c)[0]) for c in range(data.num_classes)
            if bool((data.y == c).any())]


def preview(entry: DerivedEntry, data: ImageSet) -> tuple[torch.Tensor, torch.Tensor,
                                                          torch.Tensor]:
    """``(clean, delta, poisoned)`` images, one per class, of a poisoned victim's training data
    (``data``: the clean pre-training images), rebuilt from the pattern kept in its ``info``."""
    pattern = entry.info.get("pattern") if isinstance(entry, DerivedEntry) else None
    if pattern is None:
        raise ValueError("entry must be a victim_encoder(...) of a contrastive poison (its "
                         "info keeps the pattern)")
    clean = data.x[preview_rows(data, "samplewise")]
    delta = upsample(torch.tensor(pattern, dtype=clean.dtype), data.size)
    poisoned = (clean + delta).clamp(0, 1)
    return clean, poisoned - clean, poisoned


def untrained_encoder(profile: Profile, data: ImageSet, seed: int = 0) -> Encoder:
    """An encoder of the profile's architecture for ``data``'s images, freshly initialised
    with ``seed`` (never trained)."""
    seed_everything(seed)
    return build_encoder(profile.arch, data.channels, data.size).eval()


def random_init_accuracy(profile: Profile, task: Splits, seeds: list[int]) -> list[float]:
    """Linear-probe test accuracy on ``task`` of :func:`untrained_encoder` s, one per seed: the
    floor a useless pre-training falls to."""
    if not seeds:
        raise ValueError("seeds must name at least one seed")
    return [evaluate_encoder(untrained_encoder(profile, task["train"], s), task["train"],
                             task["test"], "linear", profile.probe_epochs, profile.device, s)
            .test_accuracy for s in seeds]
