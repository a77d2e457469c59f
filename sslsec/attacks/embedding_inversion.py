"""Embedding inversion: reconstructing users' inputs from their embeddings (chapter 03).

In Encoder-as-a-Service a downstream user sends embeddings, not images, to whoever runs the
downstream classifier or stores the vectors. An attacker who sees those embeddings and can query
the encoder with images of its own (auxiliary images, disjoint from the users') trains a decoder
from embedding to image (after Mahendran & Vedaldi, CVPR 2015; Dosovitskiy & Brox, CVPR 2016;
He, Zhang & Lee, ACSAC 2019 for the black-box split-learning setting) and applies it to the
users' embeddings.

Two numbers say how much the reconstructions reveal: their structural similarity (SSIM) to the
users' images, and the fraction of them that a separate classifier (the *recogniser*, a small
supervised CNN the attacker trains on labelled images it owns) reads as the right digit.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import kornia.metrics
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from sslsec.augment import check_images
from sslsec.checks import positive_ints
from sslsec.data import ImageSet, Splits
from sslsec.downstream import extract_features
from sslsec.pretrain import show_progress
from sslsec.profiles import resolve_device

LOSSES = ("bce", "mse")


def _positive_float(value, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"{name}={value!r} must be a number > 0")


def _check_seed(seed) -> None:
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed={seed!r} must be a non-negative integer")


def _check_labels(y, n: int, name: str) -> torch.Tensor:
    y = torch.as_tensor(y)
    if y.shape != (n,) or y.is_floating_point():
        raise ValueError(f"{name} must hold one integer label per image: got shape "
                         f"{tuple(y.shape)} and dtype {y.dtype} for {n} images")
    return y.long()


def _check_embeddings(z, name: str = "embeddings", dim: int | None = None) -> None:
    if not isinstance(z, torch.Tensor) or z.ndim != 2 or not z.is_floating_point():
        shape = tuple(z.shape) if isinstance(z, torch.Tensor) else type(z).__name__
        raise ValueError(f"{name} must be a float tensor of shape (N, D); got {shape}")
    if len(z) == 0:
        raise ValueError(f"{name} is empty")
    if dim is not None and z.shape[1] != dim:
        raise ValueError(f"{name} have {z.shape[1]} dimensions; the decoder expects {dim}")


# --------------------------------------------------------------------------------------------
# Similarity


def ssim(a: torch.Tensor, b: torch.Tensor, window_size: int = 11) -> torch.Tensor:
    """Structural similarity of each pair of images ``a[i]``, ``b[i]`` (``(N, C, H, W)`` in
    [0, 1]; Wang et al., 2004): the mean of kornia's local SSIM map (Gaussian window of
    ``window_size`` pixels, sigma 1.5, no padding) over channels and pixels, one value per
    image; 1 for identical images."""
    check_images(a, name="a")
    check_images(b, name="b")
    if a.shape != b.shape:
        raise ValueError(f"a {tuple(a.shape)} and b {tuple(b.shape)} must have the same shape")
    if not isinstance(window_size, int) or window_size < 3 or window_size % 2 == 0:
        raise ValueError(f"window_size={window_size!r} must be an odd integer >= 3")
    if window_size > min(a.shape[-2:]):
        raise ValueError(f"window_size={window_size} is larger than the images "
                         f"{tuple(a.shape[-2:])}")
    a, b = a.detach().float().cpu(), b.detach().float().cpu()
    return kornia.metrics.ssim(a, b, window_size, max_val=1.0, padding="valid").mean((1, 2, 3))


def mean_image_ssim(aux_x: torch.Tensor, target_x: torch.Tensor,
                    aux_y: torch.Tensor | None = None, target_y: torch.Tensor | None = None,
                    window_size: int = 11) -> float:
    """The SSIM of a guess that uses no embedding: every target "reconstructed" as the mean
    auxiliary image, the floor a reconstruction has to beat to reveal anything. With labels
    (``aux_y`` and ``target_y``) each target is guessed as the mean auxiliary image of its own
    class: what knowing only the label gives, so a reconstruction above it reveals more than
    the class."""
    check_images(aux_x, name="aux_x")
    check_images(target_x, aux_x.shape[1], name="target_x")
    if aux_x.shape[-2:] != target_x.shape[-2:]:
        raise ValueError(f"aux_x {tuple(aux_x.shape[-2:])} and target_x "
                         f"{tuple(target_x.shape[-2:])} images differ in size")
    if len(aux_x) == 0 or len(target_x) == 0:
        raise ValueError("aux_x and target_x must not be empty")
    if (aux_y is None) != (target_y is None):
        raise ValueError("give both aux_y and target_y, or neither")
    if aux_y is None:
        guess = aux_x.float().mean(0, keepdim=True).expand_as(target_x)
    else:
        aux_y = _check_labels(aux_y, len(aux_x), "aux_y")
        target_y = _check_labels(target_y, len(target_x), "target_y")
        missing = set(target_y.tolist()) - set(aux_y.tolist())
        if missing:
            raise ValueError(f"aux_y has no image of class(es) {sorted(missing)} in target_y")
        means = {int(c): aux_x[aux_y == c].float().mean(0) for c in aux_y.unique()}
        guess = torch.stack([means[int(c)] for c in target_y])
    return float(ssim(guess, target_x.float(), window_size).mean())


# --------------------------------------------------------------------------------------------
# The inversion decoder


class InversionDecoder(nn.Module):
    """Embedding ``(N, D)`` → image ``(N, C, H, W)`` in [0, 1].

    The embedding is standardised with the auxiliary features' ``mean``/``std`` (buffers), then
    an MLP maps it to ``2·width`` feature maps of a quarter of the image's size, and two
    stride-2 transposed convolutions up-sample them to the image; a sigmoid gives pixels."""

    def __init__(self, feature_dim: int, channels: int = 1, image_size: int = 28,
                 width: int = 16, hidden: int = 256) -> None:
        super().__init__()
        positive_ints(feature_dim=feature_dim, channels=channels, image_size=image_size,
                      width=width, hidden=hidden)
        self.feature_dim, self.channels, self.image_size = feature_dim, channels, image_size
        self.register_buffer("mean", torch.zeros(feature_dim))
        self.register_buffer("std", torch.ones(feature_dim))
        self.start = math.ceil(image_size / 4)
        self.mlp = nn.Sequential(
            nn.Linear(feature_dim, hidden), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True),
            nn.Linear(hidden, 2 * width * self.start ** 2), nn.ReLU(inplace=True),
            nn.Unflatten(1, (2 * width, self.start, self.start)),
        )
        self.deconv = nn.Sequential(
            nn.ConvTranspose2d(2 * width, width, 4, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(width), nn.ReLU(inplace=True),
            nn.ConvTranspose2d(width, channels, 4, stride=2, padding=1),
        )

    def logits(self, z: torch.Tensor) -> torch.Tensor:
        """Pre-sigmoid pixels (what the BCE loss trains on)."""
        out = self.deconv(self.mlp((z.float() - self.mean) / self.std))
        if out.shape[-1] != self.image_size:
            out = F.interpolate(out, size=(self.image_size, self.image_size), mode="bilinear",
                                align_corners=False)
        return out

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.logits(z))


@torch.enable_grad()
def train_inversion(encoder: nn.Module, aux_x: torch.Tensor, epochs: int = 30,
                    batch_size: int = 64, lr: float = 2e-3, device: str | torch.device = "auto",
                    seed: int = 0, progress: bool = True,
                    noise_fn: Callable[[torch.Tensor], torch.Tensor] | None = None,
                    loss: str = "bce", width: int = 16, hidden: int = 256,
                    weight_decay: float = 1e-5) -> InversionDecoder:
    """Train an :class:`InversionDecoder` on the attacker's auxiliary images ``aux_x``: it learns
    to give back each image from ``encoder.encode(image)`` (Adam, cosine schedule, ``loss``
    ``"bce"`` on the pixels or ``"mse"``). On MNIST-sized data, 500 auxiliary images need
    about 60 epochs, 4,000 about 10 (``width=16``, ``hidden=256``: ~6-9 s on one CPU core).

    ``encoder`` is whatever the attacker can query: the clean encoder, or a defended one (e.g.
    :class:`sslsec.defenses.embedding_perturbation.PerturbedEncoder`), whose embeddings are then
    drawn once per image. ``noise_fn``, when given, is applied to every mini-batch of
    embeddings (a fresh draw each step): an attacker who knows the users' perturbation trains on
    perturbed embeddings, e.g. ``noise_fn=defended.perturb`` with the clean encoder.
    The decoder comes back in eval mode, on CPU."""
    check_images(aux_x, name="aux_x")
    positive_ints(epochs=epochs)
    positive_ints(batch_size=batch_size)
    _positive_float(lr, "lr")
    _check_seed(seed)
    if weight_decay < 0:
        raise ValueError(f"weight_decay={weight_decay!r} must be >= 0")
    if loss not in LOSSES:
        raise ValueError(f"loss={loss!r} is unknown; allowed: {', '.join(LOSSES)}")
    if len(aux_x) < 2:
        raise ValueError(f"aux_x holds {len(aux_x)} image(s); the decoder needs at least 2")
    if noise_fn is not None and not callable(noise_fn):
        raise ValueError(f"noise_fn must be callable or None; got {type(noise_fn).__name__}")
    if aux_x.shape[-1] != aux_x.shape[-2]:
        raise ValueError(f"aux_x must hold square images; got {tuple(aux_x.shape[-2:])}")
    batch_size = min(batch_size, len(aux_x))
    dev = resolve_device(device)
    features = extract_features(encoder, aux_x, device=dev).float()
    with torch.random.fork_rng(devices=[]):  # seed the initialisation, leave the caller's RNG
        torch.manual_seed(seed)
        decoder = InversionDecoder(features.shape[1], aux_x.shape[1], aux_x.shape[-1], width,
                                   hidden)
    decoder.mean.copy_(features.mean(0))
    decoder.std.copy_(features.std(0) + 1e-6)
    decoder.to(dev)
    z_all, x_all = features.to(dev), aux_x.float().to(dev)
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(decoder.parameters(), lr=lr, weight_decay=weight_decay)
    steps = len(x_all) // batch_size  # drop the last, partial batch (BatchNorm)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, epochs * steps)
    decoder.train()
    bar = tqdm(range(epochs), desc="inversion decoder", disable=not show_progress(progress))
    for _ in bar:
        order = torch.randperm(len(x_all), generator=generator).to(dev)
        total = 0.0
        for step in range(steps):
            idx = order[step * batch_size:(step + 1) * batch_size]
            z, x = z_all[idx], x_all[idx]
            if noise_fn is not None:
                z = noise_fn(z)
            out = decoder.logits(z)
            if loss == "bce":
                batch_loss = F.binary_cross_entropy_with_logits(out, x)
            else:
                batch_loss = F.mse_loss(torch.sigmoid(out), x)
            optimizer.zero_grad(set_to_none=True)
            batch_loss.backward()
            optimizer.step()
            scheduler.step()
            total += batch_loss.item()
        bar.set_postfix(loss=f"{total / steps:.4f}")
    return decoder.cpu().eval()


@torch.no_grad()
def invert(decoder: InversionDecoder, embeddings: torch.Tensor, batch_size: int = 512,
           device: str | torch.device = "auto") -> torch.Tensor:
    """The decoder's reconstructions ``(N, C, H, W)`` of ``embeddings`` ``(N, D)``, on CPU."""
    _check_embeddings(embeddings, dim=decoder.feature_dim)
    positive_ints(batch_size=batch_size)
    dev = resolve_device(device)
    was_training = decoder.training
    decoder.eval().to(dev)
    try:
        out = [decoder(embeddings[i:i + batch_size].to(dev)).cpu()
               for i in range(0, len(embeddings), batch_size)]
    finally:
        decoder.train(was_training).cpu()
    return torch.cat(out)


# --------------------------------------------------------------------------------------------
# The recogniser: a judge of whether a reconstruction shows the right digit


class Recogniser(nn.Module):
    """A small supervised CNN classifier (two conv blocks, then an MLP) for any image size."""

    def __init__(self, channels: int = 1, num_classes: int = 10, width: int = 32) -> None:
        super().__init__()
        self.channels, self.num_classes = channels, num_classes
        self.net = nn.Sequential(
            nn.Conv2d(channels, width, 3, padding=1, bias=False), nn.BatchNorm2d(width),
            nn.ReLU(inplace=True), nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1, bias=False), nn.BatchNorm2d(2 * width),
            nn.ReLU(inplace=True), nn.MaxPool2d(2),
            nn.AdaptiveAvgPool2d(4), nn.Flatten(), nn.Dropout(0.25),
            nn.Linear(2 * width * 16, 128), nn.ReLU(inplace=True), nn.Linear(128, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


@torch.enable_grad()
def train_recogniser(x: torch.Tensor, y: torch.Tensor, epochs: int = 3,
                     device: str | torch.device = "auto", seed: int = 0,
                     batch_size: int = 64, lr: float = 5e-3, width: int = 32,
                     progress: bool = False) -> Recogniser:
    """Train a :class:`Recogniser` of ``width`` channels on labelled images ``x``, ``y`` (Adam,
    one-cycle schedule, cross-entropy): 3 epochs on 4,000 MNIST digits reach ~96 % on held-out
    digits. Comes back in eval mode, on CPU."""
    check_images(x, name="x")
    y = _check_labels(y, len(x), "y")
    if len(x) == 0:
        raise ValueError("x is empty")
    positive_ints(epochs=epochs)
    positive_ints(batch_size=batch_size)
    _positive_float(lr, "lr")
    positive_ints(width=width)
    _check_seed(seed)
    if y.min() < 0:
        raise ValueError("y must hold labels >= 0")
    dev = resolve_device(device)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Recogniser(x.shape[1], int(y.max()) + 1, width).to(dev)
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    steps = math.ceil(len(x) / batch_size)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, lr, total_steps=epochs * steps)
    x_all, y_all = x.float().to(dev), y.to(dev)
    model.train()
    bar = tqdm(range(epochs), desc="recogniser", disable=not show_progress(progress))
    for _ in bar:
        order = torch.randperm(len(x_all), generator=generator).to(dev)
        for i in range(0, len(x_all), batch_size):
            idx = order[i:i + batch_size]
            with torch.random.fork_rng(devices=[]):  # dropout, seeded per step
                torch.manual_seed(int(torch.randint(2**31, (1,), generator=generator)))
                loss = F.cross_entropy(model(x_all[idx]), y_all[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
    return model.cpu().eval()


@torch.no_grad()
def recognise(recogniser: nn.Module, x: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    """The recogniser's predicted class of each image (CPU, eval mode)."""
    check_images(x, name="x")
    was_training = recogniser.training
    recogniser.eval()
    try:
        dev = next(recogniser.parameters()).device
        pred = [recogniser(x[i:i + batch_size].float().to(dev)).argmax(1).cpu()
                for i in range(0, len(x), batch_size)]
    finally:
        recogniser.train(was_training)
    return torch.cat(pred) if pred else torch.zeros(0, dtype=torch.long)


def recognised_fraction(recogniser: nn.Module, reconstructions: torch.Tensor,
                        labels: torch.Tensor) -> float:
    """The fraction of ``reconstructions`` that ``recogniser`` classifies as ``labels`` (the
    true classes of the images they reconstruct)."""
    check_images(reconstructions, name="reconstructions")
    if len(reconstructions) == 0:
        raise ValueError("reconstructions is empty")
    labels = _check_labels(labels, len(reconstructions), "labels")
    return float((recognise(recogniser, reconstructions) == labels).float().mean())


# --------------------------------------------------------------------------------------------
# The attack, end to end


@dataclass
class InversionResult:
    """What the decoder makes of the users' embeddings: the reconstructions, their SSIM to the
    users' images (per image and mean) and the share the recogniser reads as the right class
    (``nan`` without a recogniser or labels)."""

    reconstructions: torch.Tensor
    ssim: np.ndarray
    mean_ssim: float
    recognised: np.ndarray | None
    recognised_fraction: float


def evaluate_inversion(decoder: InversionDecoder, embeddings: torch.Tensor,
                       target_x: torch.Tensor, target_y: torch.Tensor | None = None,
                       recogniser: nn.Module | None = None,
                       device: str | torch.device = "auto") -> InversionResult:
    """Invert the users' ``embeddings`` and score the reconstructions against the users' images
    ``target_x`` (and, with ``recogniser`` and ``target_y``, their classes)."""
    check_images(target_x, decoder.channels, "target_x")
    _check_embeddings(embeddings, dim=decoder.feature_dim)
    if len(embeddings) != len(target_x):
        raise ValueError(f"{len(embeddings)} embeddings for {len(target_x)} target images")
    if target_x.shape[-1] != decoder.image_size or target_x.shape[-2] != decoder.image_size:
        raise ValueError(f"target_x holds {tuple(target_x.shape[-2:])} images; the decoder "
                         f"makes {decoder.image_size}×{decoder.image_size}")
    recon = invert(decoder, embeddings, device=device)
    per_image = ssim(recon, target_x).numpy()
    recognised, fraction = None, float("nan")
    if recogniser is not None and target_y is not None:
        labels = _check_labels(target_y, len(target_x), "target_y")
        recognised = (recognise(recogniser, recon) == labels).numpy()
        fraction = float(recognised.mean())
    return InversionResult(recon, per_image, float(per_image.mean()), recognised, fraction)


def inversion_attack(encoder: nn.Module, decoder: InversionDecoder, target_x: torch.Tensor,
                     target_y: torch.Tensor | None = None, recogniser: nn.Module | None = None,
                     device: str | torch.device = "auto") -> InversionResult:
    """The users encode ``target_x`` with ``encoder`` (clean, or their defended wrapper) and
    send the embeddings; the attacker inverts them with ``decoder``."""
    check_images(target_x, name="target_x")
    if len(target_x) == 0:
        raise ValueError("target_x is empty")
    embeddings = extract_features(encoder, target_x, device=device).float()
    return evaluate_inversion(decoder, embeddings, target_x, target_y, recogniser, device)


@dataclass
class InversionSetup:
    """Chapter 03's world (made by its ``inversion_setup``): the service's encoder, the
    attacker's auxiliary images and its recogniser, the users' images, and the users'
    downstream task (to measure utility)."""

    settings: dict
    encoder: nn.Module
    aux: ImageSet
    users: ImageSet
    task: Splits
    recogniser: Recogniser
