"""Perturbing embeddings before they leave the user: Gaussian noise, quantisation, top-k.

The users' side of chapter 03: before an embedding is sent (to a downstream classifier's host,
a vector store, a partner), the user adds Gaussian noise whose standard deviation is a multiple
``noise`` of each feature's own spread, and/or quantises every feature, either to a grid of
``step`` feature standard deviations or to ``2**bits`` levels between the feature's calibrated
minimum and maximum; and/or keeps only its ``topk`` largest-magnitude features, zeroing the
rest. The same mechanisms are the output defence of an encoder-as-a-service provider against
stealing (chapter 06). The less the embedding says about the pixels, the worse an inversion
decoder reconstructs them; the price is the downstream accuracy the noisy features still give.

:class:`PerturbedEncoder` is an encoder like any other (``.encode``), so the downstream probe
(:func:`sslsec.downstream.evaluate_encoder`) and the inversion attack
(:mod:`sslsec.attacks.embedding_inversion`) run on the perturbed features unchanged. Its
:meth:`PerturbedEncoder.perturb` applies the same mechanism to features already computed: an
attacker who knows the mechanism trains its decoder on perturbed embeddings with it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
from torch import nn

from sslsec.attacks.embedding_inversion import (
    InversionDecoder,
    InversionResult,
    InversionSetup,
    inversion_attack,
    train_inversion,
)
from sslsec.augment import check_images
from sslsec.downstream import evaluate_encoder, extract_features
from sslsec.zoo import sha256_tensor


def _check_options(noise, step, bits, topk=None) -> None:
    if isinstance(noise, bool) or not isinstance(noise, (int, float)) or not noise >= 0:
        raise ValueError(f"noise={noise!r} must be a number >= 0 (a multiple of the features' "
                         "standard deviation)")
    if step is not None and bits is not None:
        raise ValueError(f"give step={step!r} or bits={bits!r}, not both")
    if step is not None and (isinstance(step, bool) or not isinstance(step, (int, float))
                             or not step > 0):
        raise ValueError(f"step={step!r} must be a number > 0 (in feature standard deviations) "
                         "or None")
    if bits is not None and (not isinstance(bits, int) or isinstance(bits, bool)
                             or not 1 <= bits <= 16):
        raise ValueError(f"bits={bits!r} must be an integer in 1..16 or None")
    if topk is not None and (not isinstance(topk, int) or isinstance(topk, bool) or topk <= 0):
        raise ValueError(f"topk={topk!r} must be a positive integer or None")


class PerturbedEncoder(nn.Module):
    """``encoder``'s features with Gaussian noise of ``noise × scale`` (per feature) added and
    then, optionally, quantised to a grid of ``step × scale`` or to ``2**bits`` levels in
    ``[low, high]`` (per feature), and optionally sparsified to its ``topk`` largest-magnitude
    features (the others set to 0). Every call draws fresh noise from the module's own generator
    (seeded with ``seed``), so runs repeat exactly when the calls do."""

    def __init__(self, encoder: nn.Module, scale: torch.Tensor, low: torch.Tensor,
                 high: torch.Tensor, noise: float = 0.0, step: float | None = None,
                 bits: int | None = None, seed: int = 0, topk: int | None = None) -> None:
        super().__init__()
        _check_options(noise, step, bits, topk)
        if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
            raise ValueError(f"seed={seed!r} must be a non-negative integer")
        scale, low, high = (torch.as_tensor(t).float().flatten() for t in (scale, low, high))
        if not scale.shape == low.shape == high.shape:
            raise ValueError(f"scale {tuple(scale.shape)}, low {tuple(low.shape)} and high "
                             f"{tuple(high.shape)} must be (D,) vectors of one length")
        if not (scale > 0).all() or not (high >= low).all():
            raise ValueError("scale must be > 0 and high >= low in every feature")
        self.encoder = encoder
        self.noise, self.step, self.bits, self.topk = float(noise), step, bits, topk
        self.register_buffer("scale", scale)
        self.register_buffer("low", low)
        self.register_buffer("high", high)
        self.in_channels = getattr(encoder, "in_channels", None)
        self.image_size = getattr(encoder, "image_size", None)
        self.feature_dim = len(scale)
        self.seed = seed
        self.generator = torch.Generator().manual_seed(seed)
        self.calibration_sha256: str | None = None  # set by embedding_perturbation

    def describe(self) -> dict:
        """What decides this API's next answers, beside the encoder (JSON, processor-free):
        its options, the calibration images' SHA-256 and the state of its noise generator
        (how many draws earlier calls took) — the key of a copy stolen through it."""
        return {"noise": self.noise, "step": self.step, "bits": self.bits, "topk": self.topk,
                "seed": self.seed, "calibration_sha256": self.calibration_sha256,
                "noise_state_sha256": sha256_tensor(self.generator.get_state())}

    def perturb(self, z: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """The perturbed copy of features ``z`` ``(N, D)`` (noise from ``generator``, default the
        module's own, drawn on CPU)."""
        if not isinstance(z, torch.Tensor) or z.ndim != 2 or z.shape[1] != self.feature_dim:
            shape = tuple(z.shape) if isinstance(z, torch.Tensor) else type(z).__name__
            raise ValueError(f"z must be (N, {self.feature_dim}) features; got {shape}")
        z = z.float()
        scale, low, high = (t.to(z.device) for t in (self.scale, self.low, self.high))
        if self.noise > 0:
            gen = generator or self.generator
            z = z + self.noise * scale * torch.randn(z.shape, generator=gen).to(z.device)
        if self.step is not None:
            grid = self.step * scale
            z = torch.round(z / grid) * grid
        elif self.bits is not None:
            levels = 2 ** self.bits - 1
            width = (high - low).clamp(min=1e-12)
            z = low + torch.round((z.clamp(low, high) - low) / width * levels) / levels * width
        if self.topk is not None and self.topk < self.feature_dim:
            keep = z.abs().topk(self.topk, dim=1).indices
            z = torch.zeros_like(z).scatter(1, keep, z.gather(1, keep))
        return z

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.perturb(self.encoder.encode(x))

    forward = encode

    def relative_error(self, z: torch.Tensor) -> float:
        """How far the perturbation moves features ``z``: the RMS change over the RMS spread of
        the features (``scale``), e.g. ≈ ``noise`` for noise alone."""
        delta = self.perturb(z) - z.float()
        return float((delta.pow(2).mean(0) / self.scale.to(z.device).pow(2)).mean().sqrt())


def embedding_perturbation(encoder: nn.Module, x: torch.Tensor, noise: float = 0.0,
                           step: float | None = None, bits: int | None = None, seed: int = 0,
                           device: str | torch.device = "auto",
                           topk: int | None = None) -> PerturbedEncoder:
    """A :class:`PerturbedEncoder` calibrated on the features of ``x`` (images the users own):
    each feature's standard deviation sets the noise and the quantisation step, its minimum and
    maximum the range of the ``bits`` levels. ``noise=0`` with none of ``step``, ``bits`` and
    ``topk`` gives the features unchanged."""
    check_images(x, name="x")
    if len(x) < 2:
        raise ValueError(f"x holds {len(x)} image(s); calibration needs at least 2")
    _check_options(noise, step, bits, topk)
    features = extract_features(encoder, x, device=device).float()
    api = PerturbedEncoder(encoder, features.std(0).clamp(min=1e-6), features.min(0).values,
                           features.max(0).values, noise, step, bits, seed, topk).eval()
    api.calibration_sha256 = sha256_tensor(x)
    return api


@dataclass
class DefencePoint:
    """One perturbation setting: the users' downstream accuracy and what two attackers get —
    ``naive`` (decoder trained on clean embeddings) and ``adaptive`` (decoder trained on
    embeddings perturbed by the same mechanism)."""

    name: str
    options: dict
    probe_accuracy: float
    naive: InversionResult
    adaptive: InversionResult


def defence_point(setup: InversionSetup, clean_decoder: InversionDecoder, options: dict,
                  probe_epochs: int = 100, decoder_epochs: int = 10,
                  device: str | torch.device = "auto", seed: int = 0) -> DefencePoint:
    """Calibrate :func:`embedding_perturbation` with ``options`` (``noise``, ``step``,
    ``bits``) on the users' downstream training images, and measure utility (linear probe)
    and both attackers on the users' images."""
    s = setup.settings
    defended = embedding_perturbation(setup.encoder, setup.task["train"].x[: s["n_calibration"]],
                                      seed=seed, device=device, **options)
    probe = evaluate_encoder(defended, setup.task["train"], setup.task["test"], "linear",
                             probe_epochs, device, seed).test_accuracy
    naive = inversion_attack(defended, clean_decoder, setup.users.x, setup.users.y,
                             setup.recogniser, device)
    noise_fn = functools.partial(defended.perturb,
                                 generator=torch.Generator().manual_seed(seed + 1000))
    decoder = train_inversion(setup.encoder, setup.aux.x, decoder_epochs, device=device,
                              seed=seed, progress=False, noise_fn=noise_fn,
                              width=s["decoder_width"], hidden=s["decoder_hidden"])
    adaptive = inversion_attack(defended, decoder, setup.users.x, setup.users.y,
                                setup.recogniser, device)
    name = " + ".join(f"{k} {v:g}" for k, v in options.items())
    return DefencePoint(name, dict(options), probe, naive, adaptive)
