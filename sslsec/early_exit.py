"""An input-adaptive (early-exit, multi-exit) variant of an encoder, and its latency (chapter 10).

The encoder is cut into stages (:func:`encoder_stages`); a downstream user trains a small
classifier head after each stage (:func:`train_early_exit`), the last one on the encoder's
features. A query runs stage after stage and stops at the first exit whose confidence (largest
softmax probability) is above a threshold: easy inputs pay for one stage, hard ones for all.
:func:`query_latency` times queries one by one on this CPU with ``torch.utils.benchmark``;
:func:`exit_flops` counts what a query costs at each exit, the same on every processor.
"""

from __future__ import annotations

import copy
import logging
import statistics
import warnings
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from sslsec.checks import positive_ints
from sslsec.data import ImageSet
from sslsec.energy import check_batch
from sslsec.models import CifarResNet18, Encoder, SmallCNN
from sslsec.pretrain import show_progress
from sslsec.profiles import resolve_device


def check_threshold(threshold: float) -> None:
    """A confidence threshold must lie in (0, 1]."""
    if not (isinstance(threshold, int | float) and 0 < threshold <= 1):
        raise ValueError(f"threshold={threshold!r} must be a number in (0, 1]")


def encoder_stages(encoder: Encoder) -> list[nn.Module]:
    """The encoder cut into consecutive stages whose composition is ``encoder(x)``: the
    small CNN after each max-pool (3 stages), the ResNet-18 after layer1, layer2, layer3
    (4 stages). The modules are shared with ``encoder``, not copied."""
    if isinstance(encoder, SmallCNN):
        parts, current = [], []
        for m in encoder.net:
            current.append(m)
            if isinstance(m, nn.MaxPool2d):
                parts.append(nn.Sequential(*current))
                current = []
        return [*parts, nn.Sequential(*current)]
    if isinstance(encoder, CifarResNet18):
        n = encoder.net
        return [nn.Sequential(n.conv1, n.bn1, n.relu, n.maxpool, n.layer1), n.layer2, n.layer3,
                nn.Sequential(n.layer4, n.avgpool, nn.Flatten())]
    raise ValueError(f"encoder={type(encoder).__name__} has no known stages; allowed: "
                     "SmallCNN, CifarResNet18")


class Standardize(nn.Module):
    """``(x - mean) / std`` with fixed statistics (set from training features)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("std", torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class EarlyExitEncoder(nn.Module):
    """The encoder's stages, each followed by a classifier head (an *exit*).

    Heads after inner stages pool the feature map to ``pool``×``pool``, standardise and apply
    a linear layer; the last head is a standardised linear classifier on ``encoder(x)``."""

    def __init__(self, encoder: Encoder, num_classes: int, pool: int = 4) -> None:
        super().__init__()
        positive_ints(num_classes=num_classes, pool=pool)
        self.stages = nn.ModuleList(encoder_stages(encoder))
        self.encoder, self.in_channels = encoder, encoder.in_channels
        self.num_classes = num_classes
        with torch.no_grad():
            probe = torch.zeros(1, encoder.in_channels, encoder.image_size, encoder.image_size)
            widths = []
            for stage in self.stages[:-1]:
                probe = stage(probe)
                widths.append(probe.shape[1])
        self.heads = nn.ModuleList(
            [nn.Sequential(nn.AdaptiveAvgPool2d(pool), nn.Flatten(), Standardize(w * pool ** 2),
                           nn.Linear(w * pool ** 2, num_classes)) for w in widths]
            + [nn.Sequential(Standardize(encoder.feature_dim),
                             nn.Linear(encoder.feature_dim, num_classes))])

    @property
    def n_exits(self) -> int:
        return len(self.heads)

    def exit_logits(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The logits of every exit (the whole depth is computed)."""
        check_batch(x, self.in_channels)
        out, h = [], x
        for stage, head in zip(self.stages, self.heads, strict=True):
            h = stage(h)
            out.append(head(h))
        return out

    def forward(self, x: torch.Tensor, threshold: float = 0.9,
                max_exit: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Run stage after stage; an input leaves at the first exit whose largest softmax
        probability is *above* ``threshold`` (so ``threshold=1`` never leaves early), or at
        exit ``max_exit`` (0-based, a compute cap) at the latest. Inputs that left are not
        computed further. Returns the logits at each input's exit and the exit's index."""
        check_batch(x, self.in_channels)
        check_threshold(threshold)
        last = self.n_exits - 1 if max_exit is None else max_exit
        if not (isinstance(last, int) and 0 <= last < self.n_exits):
            raise ValueError(f"max_exit={max_exit!r} must be an exit index in "
                             f"0..{self.n_exits - 1}")
        logits = x.new_zeros(len(x), self.num_classes)
        exits = torch.full((len(x),), last, dtype=torch.long, device=x.device)
        alive = torch.arange(len(x), device=x.device)
        h = x
        for k in range(last + 1):
            h = self.stages[k](h)
            out = self.heads[k](h)
            if k == last:
                logits[alive] = out
                break
            done = F.softmax(out, 1).amax(1) > threshold
            if bool(done.any()):
                logits[alive[done]], exits[alive[done]] = out[done], k
                alive, h = alive[~done], h[~done]
                if len(alive) == 0:
                    break
        return logits, exits

    def deployed(self, example: torch.Tensor) -> EarlyExitEncoder:
        """A copy for serving on the CPU: every stage and head traced and frozen with
        TorchScript (batch norm folded into the convolutions, no Python per layer), as a
        deployment would run it. ``example`` is a batch of inputs of the right shape. Its
        logits equal this model's up to float rounding."""
        check_batch(example, self.in_channels)
        served = copy.deepcopy(self).cpu().eval()
        h = example[:1].cpu()
        stages, heads = [], []
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer notes on shape arithmetic
            for stage, head in zip(served.stages, served.heads, strict=True):
                stages.append(torch.jit.freeze(torch.jit.trace(stage, h)))
                h = stage(h)
                heads.append(torch.jit.freeze(torch.jit.trace(head, h)))
        served.stages, served.heads = nn.ModuleList(stages), nn.ModuleList(heads)
        return served


@torch.no_grad()
def _fit_standardizers(model: EarlyExitEncoder, x: torch.Tensor) -> None:
    h = x
    for stage, head in zip(model.stages, model.heads, strict=True):
        h = stage(h)
        z = h
        for m in head:
            if isinstance(m, Standardize):
                m.mean.copy_(z.mean(0))
                std = z.std(0)  # floored: near-constant pooled cells must not explode
                m.std.copy_(std.clamp_min(0.05 * float(std.mean()) + 1e-6))
                break
            z = m(z)


def train_early_exit(encoder: Encoder, train: ImageSet, epochs: int = 20, lr: float = 1e-2,
                     batch_size: int = 256, pool: int = 4, seed: int = 0,
                     device: str | torch.device = "auto",
                     progress: bool = False) -> EarlyExitEncoder:
    """A downstream user's early-exit classifier on a frozen ``encoder``: every exit head is
    trained with cross-entropy on ``train`` (their losses summed); the encoder is not changed.
    Returned in eval mode on the CPU."""
    check_batch(train.x, encoder.in_channels, "train.x")
    positive_ints(epochs=epochs, batch_size=batch_size)
    dev = resolve_device(device)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = EarlyExitEncoder(encoder, train.num_classes, pool).to(dev)
    model.eval()  # the encoder's BatchNorm stays in eval mode; only the heads train
    x, y = train.x.to(dev), train.y.to(dev)
    _fit_standardizers(model, x[:2048])
    with torch.no_grad():  # what the frozen stages (and the heads' pooling) give, once
        feats, h = [], x
        for stage, head in zip(model.stages, model.heads, strict=True):
            h = torch.cat([stage(h[i:i + 1024]) for i in range(0, len(h), 1024)])
            feats.append(head[:-2](h))
    tails = [head[-2:] for head in model.heads]  # standardisation + linear layer
    params = [p for tail in tails for p in tail.parameters()]
    optimizer = torch.optim.Adam(params, lr=lr, weight_decay=1e-4)
    generator = torch.Generator().manual_seed(seed)
    with torch.enable_grad():
        for _ in tqdm(range(epochs), desc="exit heads", disable=not show_progress(progress)):
            order = torch.randperm(len(x), generator=generator).to(dev)
            for i in range(0, len(x), batch_size):
                idx = order[i:i + batch_size]
                loss = sum(F.cross_entropy(tail(f[idx]), y[idx])
                           for tail, f in zip(tails, feats, strict=True))
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
    return model.cpu().eval()


@torch.no_grad()
def exit_accuracy(model: EarlyExitEncoder, x: torch.Tensor, y: torch.Tensor,
                  threshold: float, max_exit: int | None = None) -> tuple[float, torch.Tensor]:
    """Accuracy of the early-exit classifier at ``threshold`` (and cap ``max_exit``), and the
    exit each input took."""
    logits, exits = model(x, threshold, max_exit)
    return float((logits.argmax(1).cpu() == y.cpu()).float().mean()), exits.cpu()


@torch.no_grad()
def exit_flops(model: EarlyExitEncoder) -> torch.Tensor:
    """The floating-point operations of one query that leaves at each exit: every stage and
    head up to it, counted by ``torch.utils.flop_counter`` on one input (convolutions and
    linear layers; a multiply–accumulate is two). Unlike a latency, it is the same on every
    processor and under any load."""
    from torch.utils.flop_counter import FlopCounterMode

    model = copy.deepcopy(model).cpu().eval()
    h = torch.zeros(1, model.in_channels, model.encoder.image_size, model.encoder.image_size)
    per_exit = []
    for stage, head in zip(model.stages, model.heads, strict=True):
        with FlopCounterMode(display=False) as counter:
            h = stage(h)
            head(h)
        per_exit.append(counter.get_total_flops())
    return torch.tensor(per_exit, dtype=torch.float64).cumsum(0)


@dataclass
class LatencyResult:
    """Per-query latencies (seconds, each the median of its repeats) and their summary."""

    seconds: np.ndarray
    threads: int

    @property
    def median(self) -> float:
        return float(np.median(self.seconds))

    @property
    def iqr(self) -> float:
        q1, q3 = np.percentile(self.seconds, [25, 75])
        return float(q3 - q1)


@torch.no_grad()
def query_latency(model: EarlyExitEncoder, x: torch.Tensor, threshold: float,
                  max_exit: int | None = None, repeats: int = 20, threads: int = 1,
                  progress: bool = False) -> LatencyResult:
    """Wall-clock latency of each input of ``x`` sent as its own query (batch of one) on the
    CPU, timed with ``torch.utils.benchmark.Timer`` (``repeats`` runs each, after a warm-up;
    the median kept) with ``threads`` intra-op threads. The model is served as a deployment
    would serve it (:meth:`EarlyExitEncoder.deployed`): in eager mode the fixed Python cost of
    each layer call, not the layer's arithmetic, would decide the latency of a network this
    small."""
    check_batch(x, model.in_channels)
    check_threshold(threshold)
    positive_ints(repeats=repeats, threads=threads)
    # imported here: importing torch.utils.benchmark logs a CUDA notice (silenced) on stderr
    logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)
    from torch.utils import benchmark

    x = x.cpu()
    model = model.deployed(x)
    model(x[:1], threshold, max_exit)  # warm-up: first-call allocations
    times = []
    for i in tqdm(range(len(x)), desc="latency", disable=not show_progress(progress)):
        timer = benchmark.Timer("model(q, threshold, max_exit)", num_threads=threads,
                                globals={"model": model, "q": x[i:i + 1],
                                         "threshold": threshold, "max_exit": max_exit})
        times.append(statistics.median(timer.timeit(1).raw_times[0] for _ in range(repeats)))
    return LatencyResult(np.array(times), threads)
