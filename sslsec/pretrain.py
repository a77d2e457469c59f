"""Self-supervised pre-training: SimCLR and MoCo v2.

Losses are pure functions; methods live in a small registry (:data:`METHODS`); :func:`pretrain`
is one short loop: two augmented views → method loss → optimiser step. Under ``torchrun`` the
same loop runs data-parallel (:mod:`sslsec.distributed`).
"""

from __future__ import annotations

import copy
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm

from sslsec import distributed
from sslsec.augment import AugmentConfig, SimCLRAugment, check_images
from sslsec.checks import positive_ints
from sslsec.models import Encoder, ProjectionHead
from sslsec.profiles import Profile, resolve_device
from sslsec.seed import seed_everything

#: Bump when a change to the training code should invalidate cached encoders (see sslsec.zoo).
TRAINING_CODE_VERSION = "1"


# --- losses (pure functions) -----------------------------------------------------------------

def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.5) -> torch.Tensor:
    """SimCLR's NT-Xent loss: view ``i`` of ``z1`` must pick view ``i`` of ``z2`` (and back)
    among the other ``2N - 2`` projections of the batch."""
    if z1.shape != z2.shape or z1.ndim != 2:
        raise ValueError(f"z1 and z2 must be (N, D) of equal shape; got {tuple(z1.shape)} "
                         f"and {tuple(z2.shape)}")
    if temperature <= 0:
        raise ValueError(f"temperature={temperature!r} must be > 0")
    n = z1.shape[0]
    with torch.autocast(z1.device.type, enabled=False):  # the loss in float32, always
        z = F.normalize(torch.cat([z1, z2]).float(), dim=1)
        sim = z @ z.T / temperature
    sim = sim.masked_fill(torch.eye(2 * n, dtype=torch.bool, device=z.device), float("-inf"))
    targets = torch.cat([torch.arange(n, 2 * n), torch.arange(n)]).to(z.device)
    return F.cross_entropy(sim, targets)


def info_nce(q: torch.Tensor, k: torch.Tensor, queue: torch.Tensor,
             temperature: float = 0.2) -> torch.Tensor:
    """MoCo's InfoNCE: each query's positive is its key; negatives are the ``queue`` (K, D)."""
    if q.shape != k.shape or q.ndim != 2 or queue.ndim != 2 or queue.shape[1] != q.shape[1]:
        raise ValueError("q and k must be (N, D) and queue (K, D) with the same D")
    if temperature <= 0:
        raise ValueError(f"temperature={temperature!r} must be > 0")
    with torch.autocast(q.device.type, enabled=False):  # the loss in float32, always
        q, k = F.normalize(q.float(), dim=1), F.normalize(k.float(), dim=1)
        pos = (q * k).sum(dim=1, keepdim=True)
        neg = q @ F.normalize(queue.float(), dim=1).T
    logits = torch.cat([pos, neg], dim=1) / temperature
    return F.cross_entropy(logits, torch.zeros(len(q), dtype=torch.long, device=q.device))


# --- methods -----------------------------------------------------------------------------------

class SimCLR(nn.Module):
    """Encoder + projection head, trained with :func:`nt_xent`."""

    def __init__(self, encoder: Encoder, temperature: float, proj_dim: int = 64, **_) -> None:
        super().__init__()
        self.encoder, self.temperature = encoder, temperature
        self.projector = ProjectionHead(encoder.feature_dim, out_dim=proj_dim)

    def loss(self, v1: torch.Tensor, v2: torch.Tensor) -> torch.Tensor:
        """The loss of a batch of view pairs (under ``torchrun``: of every process's pairs)."""
        z = self.projector(self.encoder(torch.cat([v1, v2])))  # both views in one pass
        gather = distributed.gather  # the other processes' pairs are negatives too
        return nt_xent(gather(z[: len(v1)]), gather(z[len(v1):]), self.temperature)

    forward = loss  # DistributedDataParallel synchronises gradients of what forward computes

    def after_step(self) -> None:
        pass


class MoCoV2(nn.Module):
    """Query encoder + momentum key encoder + a queue of negatives (:func:`info_nce`)."""

    def __init__(self, encoder: Encoder, temperature: float, proj_dim: int = 64,
                 queue_size: int = 4096, momentum: float = 0.99) -> None:
        super().__init__()
        self.encoder, self.temperature, self.momentum = encoder, temperature, momentum
        self.projector = ProjectionHead(encoder.feature_dim, out_dim=proj_dim)
        self.key_encoder = copy.deepcopy(encoder).requires_grad_(False)
        self.key_projector = copy.deepcopy(self.projector).requires_grad_(False)
        self.register_buffer("queue", F.normalize(torch.randn(queue_size, proj_dim), dim=1))
        self.register_buffer("queue_ptr", torch.zeros((), dtype=torch.long))

    def loss(self, v1: torch.Tensor, v2: torch.Tensor) -> torch.Tensor:
        """The loss of a batch of view pairs (under ``torchrun``: of every process's pairs,
        whose keys all enter the queue)."""
        n, both, gather = len(v1), torch.cat([v1, v2]), distributed.gather
        q1, q2 = (gather(q) for q in self.projector(self.encoder(both)).split(n))
        with torch.no_grad():
            k1, k2 = (gather(k) for k in self.key_projector(self.key_encoder(both)).split(n))
        loss = 0.5 * (info_nce(q1, k2, self.queue, self.temperature)
                      + info_nce(q2, k1, self.queue, self.temperature))
        self._enqueue(torch.cat([k1, k2]))
        return loss

    forward = loss  # DistributedDataParallel synchronises gradients of what forward computes

    @torch.no_grad()
    def _enqueue(self, keys: torch.Tensor) -> None:
        keys = F.normalize(keys.float(), dim=1)[: len(self.queue)]
        idx = (self.queue_ptr + torch.arange(len(keys), device=keys.device)) % len(self.queue)
        self.queue[idx] = keys
        self.queue_ptr.copy_((self.queue_ptr + len(keys)) % len(self.queue))

    @torch.no_grad()
    def after_step(self) -> None:
        pairs = [(self.encoder, self.key_encoder), (self.projector, self.key_projector)]
        for online, key in pairs:
            for p, pk in zip(online.parameters(), key.parameters(), strict=True):
                pk.mul_(self.momentum).add_(p.detach(), alpha=1 - self.momentum)
            for b, bk in zip(online.buffers(), key.buffers(), strict=True):
                bk.copy_(b)


METHODS: dict[str, type[nn.Module]] = {"simclr": SimCLR, "mocov2": MoCoV2}


# --- the loop ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class PretrainConfig:
    """Everything that decides a pre-training run (the encoder zoo hashes it)."""

    method: str = "simclr"
    epochs: int = 15
    batch_size: int = 256
    lr: float = 2e-3
    weight_decay: float = 1e-6
    temperature: float = 0.2
    proj_dim: int = 64
    queue_size: int = 4096
    momentum: float = 0.99
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    seed: int = 0
    mixed_precision: bool = True  # bfloat16 autocast where the device computes it natively

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"method={self.method!r} is unknown; allowed: {', '.join(METHODS)}")
        positive_ints(**{name: getattr(self, name)
                         for name in ("epochs", "batch_size", "proj_dim", "queue_size")})
        for name in ("lr", "temperature"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name}={getattr(self, name)!r} must be > 0")
        if not 0 <= self.momentum < 1:
            raise ValueError(f"momentum={self.momentum!r} must be in [0, 1)")

    @classmethod
    def from_profile(cls, profile: Profile, **changes) -> PretrainConfig:
        """The profile's recipe (epochs, batch size, lr, temperature, augmentation)."""
        base = dict(epochs=profile.epochs, batch_size=profile.batch_size, lr=profile.lr,
                    temperature=profile.temperature, augment=profile.augment)
        return cls(**{**base, **changes})

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class History:
    """Per-epoch mean loss and wall-clock seconds of a pre-training run."""

    loss: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)

    @property
    def total_seconds(self) -> float:
        return float(sum(self.seconds))


@dataclass
class PretrainResult:
    """The pre-trained encoder (trained in place), its projection head and the history."""

    encoder: Encoder
    projector: nn.Module
    history: History


def show_progress(progress: bool = True) -> bool:
    """Whether to draw a progress bar: ``progress``, unless ``$SSLSEC_PROGRESS`` is ``0`` (the
    chapter runner sets it, so that stored outputs hold no bars)."""
    return progress and os.environ.get("SSLSEC_PROGRESS") != "0"


def bf16_native(device: torch.device) -> bool:
    """Whether ``device`` computes bfloat16 natively (CUDA with bf16, or an AVX512-BF16 CPU).
    ``$SSLSEC_BF16=0`` says no everywhere: float32 throughout, as on a CPU without bf16."""
    if os.environ.get("SSLSEC_BF16") == "0":
        return False
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return bool(getattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)())
    return False


def pretrain(encoder: Encoder, images: torch.Tensor, config: PretrainConfig | None = None,
             device: str | torch.device = "auto", progress: bool = True,
             on_epoch_end: Callable[[int, Encoder, nn.Module], None] | None = None,
             regularizer: nn.Module | None = None,
             partners: torch.Tensor | None = None) -> PretrainResult:
    """Pre-train ``encoder`` in place on unlabelled ``images`` (N, C, H, W in [0, 1]).

    A tqdm bar shows progress unless ``progress=False`` or ``$SSLSEC_PROGRESS`` is ``0`` (the
    chapter runner sets it, so that stored outputs hold no bars).
    ``on_epoch_end(epoch, encoder, projector)`` runs after every epoch (both in eval mode),
    e.g. to record a probe accuracy and a membership AUC for an early-stopping curve.
    ``regularizer(encoder, batch, index)``, when given, returns a scalar added to every step's
    loss (``batch`` holds the un-augmented images ``images[index]``); its parameters are
    trained by the same optimiser, e.g. an adversary behind a gradient-reversal layer
    (:mod:`sslsec.defenses.adversarial_training`).
    ``partners``, when given (same shape as ``images``), is a multi-view data set: the second
    view of ``images[i]`` is drawn from ``partners[i]`` instead (two frames of one video, an
    image and its caption in CLIP), the data that pair poisoning controls (chapter 08).

    Under ``torchrun`` (:mod:`sslsec.distributed`) the loop runs data-parallel: every process
    draws the same global batch of ``batch_size`` images and the views of all of it (the same
    random draws as one process would make; views are cheap next to the encoder), keeps its
    own contiguous slice, and computes the loss on the projections gathered from all
    processes, so the negatives are the whole global batch. DistributedDataParallel averages
    the gradients. Batch norm is synchronised across GPUs (SyncBatchNorm: SimCLR's global BN,
    which also keeps a process from telling its own positives by their local batch
    statistics); on CPUs (gloo) PyTorch has no SyncBatchNorm, so each process normalises its
    own slice, the one difference from a single-process run.
    """
    config = config or PretrainConfig()
    world, me = distributed.world_size(), distributed.rank()
    if world > 1 and regularizer is not None:
        raise ValueError("regularizer is not supported in a data-parallel run (torchrun); "
                         "train it in one process")
    if config.batch_size % world:
        raise ValueError(f"batch_size={config.batch_size} must be divisible by the {world} "
                         "processes of the data-parallel run")
    check_images(images, encoder.in_channels, "images")
    if config.batch_size > len(images):
        raise ValueError(f"batch_size={config.batch_size} is larger than the {len(images)} "
                         f"images; allowed: 2..{len(images)}")
    if partners is not None and (not isinstance(partners, torch.Tensor)
                                 or partners.shape != images.shape):
        got = tuple(partners.shape) if isinstance(partners, torch.Tensor) else repr(partners)
        raise ValueError(f"partners must be a tensor shaped like images {tuple(images.shape)}; "
                         f"got {got}")
    dev = resolve_device(device)
    generator = seed_everything(config.seed)
    augment = SimCLRAugment(images.shape[-1], images.shape[1], config.augment)
    # channels_last: oneDNN (CPU) and cuDNN (GPU) convolutions run faster on NHWC tensors.
    fmt = torch.channels_last
    model = METHODS[config.method](
        encoder, temperature=config.temperature, proj_dim=config.proj_dim,
        queue_size=config.queue_size, momentum=config.momentum,
    ).to(dev, memory_format=fmt)
    if regularizer is not None:
        regularizer.to(dev)
        model.add_module("regularizer", regularizer)  # trained, moved and switched with it
    step_model: nn.Module = model
    if world > 1:
        if dev.type == "cuda":
            step_model = model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        step_model = DistributedDataParallel(
            model, device_ids=[dev.index] if dev.type == "cuda" else None)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    data = images.to(dev)
    second = data if partners is None else partners.to(dev)
    steps = len(data) // config.batch_size  # drop the last, partial batch (BatchNorm)
    use_bf16 = config.mixed_precision and bf16_native(dev)
    history = History()
    bar = tqdm(range(config.epochs), desc=f"{config.method} pre-training",
               disable=not show_progress(progress) or not distributed.is_main())
    mine = slice(me * config.batch_size // world, (me + 1) * config.batch_size // world)
    for epoch in bar:
        start, total = time.perf_counter(), 0.0
        model.train()
        order = torch.randperm(len(data), generator=generator).to(dev)
        for step in range(steps):
            index = order[step * config.batch_size:(step + 1) * config.batch_size]
            batch = data[index]
            v1 = augment(batch)[mine].contiguous(memory_format=fmt)
            v2 = augment(second[index])[mine].contiguous(memory_format=fmt)
            with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=use_bf16):
                loss = step_model(v1, v2)
                if regularizer is not None:
                    loss = loss + regularizer(encoder, batch.contiguous(memory_format=fmt),
                                              index)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            model.after_step()
            total += loss.item()
        history.loss.append(total / steps)
        history.seconds.append(time.perf_counter() - start)
        bar.set_postfix(loss=f"{history.loss[-1]:.3f}")
        model.eval()
        if on_epoch_end is not None:
            on_epoch_end(epoch + 1, encoder, model.projector)
    distributed.check_in_sync(model)
    model.to(memory_format=torch.contiguous_format)
    if regularizer is not None:
        del model.regularizer
        regularizer.eval()
    encoder.eval()
    return PretrainResult(encoder, model.projector.eval(), history)
