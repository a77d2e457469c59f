"""A watermark for pre-trained encoders (SSLGuard-style, Cong et al., CCS 2022), chapter 06.

The owner draws a secret **key**: ``bits`` random signs, a random **decoder** (a ``bits × D``
projection of the encoder's normalised features), a smooth random **pixel pattern** whose dot
product with an image is the image's secret *signal*, and a **verification set** of its own
images. Embedding fine-tunes the encoder so that, on in-distribution images, every decoded
coordinate correlates with the signal with the key's sign, while a distillation term keeps the
features close to the original ones (utility).

The watermark lives where a thief queries — natural images — and in the *relations* between
images (a correlation across images, not a constant offset), so copies that imitate the
encoder's features on natural images, by regression or contrastively, inherit it.

Verification decodes one bit per decoder row: the sign of the correlation, over the
verification set, between the decoded coordinate and the signal. For an encoder that did not
come from the watermarked one, the key is independent of everything it computes, so the number
of matching bits is exactly Binomial(bits, 1/2): the p-value needs no model of "independent
encoders".
"""

from __future__ import annotations

import copy
import time
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from scipy import stats
from torch import nn
from tqdm.auto import tqdm

from sslsec.augment import AugmentConfig, SimCLRAugment, check_images
from sslsec.checks import positive_ints
from sslsec.downstream import extract_features
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

#: bump when :func:`embed_watermark` changes what it computes (part of the zoo key)
EMBED_VERSION = 2
#: mixed into the key's seed (see :func:`make_watermark_key`)
KEY_STREAM = 0x5EC2E7


@dataclass
class WatermarkKey:
    """The owner's secret: key bits (±1), decoder rows, pixel pattern, verification images."""

    bits: torch.Tensor  # (k,) of ±1
    decoder: torch.Tensor  # (k, feature_dim)
    pattern: torch.Tensor  # (C, H, W)
    verification: torch.Tensor  # (n, C, H, W)
    seed: int

    def signal(self, x: torch.Tensor) -> torch.Tensor:
        """The secret signal of each image: its dot product with the pixel pattern."""
        return (x * self.pattern.to(x.device)).flatten(1).sum(1)

    def params(self) -> dict:
        """What identifies the key (for the zoo)."""
        secret = torch.cat([self.bits, self.decoder.flatten(), self.pattern.flatten()])
        return {"bits": len(self.bits), "seed": self.seed, "secret_sha256": sha256_tensor(secret),
                "verification_sha256": sha256_tensor(self.verification)}


def make_watermark_key(feature_dim: int, private: torch.Tensor, bits: int = 64,
                       n_verification: int = 1000, seed: int = 0) -> WatermarkKey:
    """Draw a key for an encoder with ``feature_dim`` features; the verification set is
    ``n_verification`` random images of the owner's ``private`` images. The pixel pattern is
    4×4 Gaussian noise upsampled to the image size (smooth, so copies can learn it)."""
    check_images(private, name="private")
    positive_ints(feature_dim=feature_dim, bits=bits, n_verification=n_verification)
    if not 3 <= n_verification <= len(private):
        raise ValueError(f"n_verification={n_verification} must be in 3..{len(private)} "
                         f"(the number of private images)")
    # a stream of its own: the key must not share random numbers with models seeded ``seed``
    g = torch.Generator().manual_seed(int(np.random.SeedSequence([seed, KEY_STREAM])
                                          .generate_state(1)[0]))
    key = torch.randint(0, 2, (bits,), generator=g).float() * 2 - 1
    decoder = torch.randn(bits, feature_dim, generator=g)
    c, h, w = private.shape[1:]
    coarse = torch.randn(1, c, 4, 4, generator=g)
    pattern = F.interpolate(coarse, size=(h, w), mode="bilinear", align_corners=False)[0]
    pick = torch.randperm(len(private), generator=g)[:n_verification]
    return WatermarkKey(key, decoder, pattern, private[pick].clone(), seed)


def correlations(decoded: torch.Tensor, signal: torch.Tensor) -> torch.Tensor:
    """Pearson correlation over the batch between each decoded coordinate ``(N, k)`` and the
    signal ``(N,)``: ``(k,)``."""
    d = decoded - decoded.mean(0)
    s = signal - signal.mean()
    return (d * s[:, None]).mean(0) / (d.std(0, unbiased=False) * s.std(unbiased=False) + 1e-8)


def watermark_loss(features: torch.Tensor, signal: torch.Tensor, key: WatermarkKey,
                   margin: float = 0.5) -> torch.Tensor:
    """Hinge on the key-signed correlations: ``mean_j relu(margin - bit_j · corr_j)``."""
    decoded = F.normalize(features, dim=1) @ key.decoder.to(features.device).T
    corr = correlations(decoded, signal)
    return F.relu(margin - key.bits.to(features.device) * corr).mean()


@dataclass
class WatermarkVerdict:
    """What verification found in a suspect encoder."""

    matches: int
    bits: int
    p_value: float
    #: the per-bit correlations, signed by the key (positive: the bit matches)
    signed_correlations: torch.Tensor = field(repr=False)

    @property
    def bit_accuracy(self) -> float:
        return self.matches / self.bits

    def flagged(self, alpha: float = 0.01) -> bool:
        return self.p_value < alpha


@torch.no_grad()
def verify_watermark(suspect: nn.Module, key: WatermarkKey,
                     device: str | torch.device = "auto") -> WatermarkVerdict:
    """Decode the key from ``suspect`` on the verification set and test it: the p-value is
    ``P[Binomial(bits, 1/2) ≥ matches]``, exact for encoders not derived from the marked one."""
    if not hasattr(suspect, "encode"):
        raise ValueError(f"suspect must have an encode method; got {type(suspect).__name__}")
    features = extract_features(suspect, key.verification, device=device).float().cpu()
    if features.shape[1] != key.decoder.shape[1]:
        raise ValueError(f"the suspect has {features.shape[1]} features but the key's decoder "
                         f"expects {key.decoder.shape[1]}")
    decoded = F.normalize(features, dim=1) @ key.decoder.T
    signed = key.bits * correlations(decoded, key.signal(key.verification))
    matches = int((signed > 0).sum())
    p_value = float(stats.binom.sf(matches - 1, len(key.bits), 0.5))
    return WatermarkVerdict(matches, len(key.bits), p_value, signed)


@dataclass
class EmbeddingResult:
    """The watermarked encoder and its embedding run."""

    encoder: Encoder
    utility_loss: list[float]
    watermark_loss: list[float]
    seconds: float


def embed_watermark(encoder: Encoder, images: torch.Tensor, key: WatermarkKey,
                    epochs: int = 10, lam: float = 1.0, margin: float = 0.5, lr: float = 5e-4,
                    batch_size: int = 256, augment: AugmentConfig | None = None,
                    device: str | torch.device = "auto", seed: int = 0,
                    progress: bool = True) -> EmbeddingResult:
    """Fine-tune a copy of ``encoder`` on the owner's ``images`` and one augmented view of each:
    ``(1 - cos(f(v), f₀(v))) + lam · watermark_loss`` where ``f₀`` is the original encoder.
    The original is left untouched."""
    check_images(images, encoder.in_channels, "images")
    positive_ints(epochs=epochs, batch_size=batch_size)
    if batch_size > len(images) or batch_size < 3:
        raise ValueError(f"batch_size={batch_size} must be in 3..{len(images)} (the images)")
    if not lam >= 0 or not margin > 0:
        raise ValueError(f"lam={lam!r} must be >= 0 and margin={margin!r} > 0")
    dev = resolve_device(device)
    gen = seed_everything(seed)
    original = copy.deepcopy(encoder).to(dev).eval()
    marked = copy.deepcopy(encoder).to(dev).train()
    view = SimCLRAugment(images.shape[-1], images.shape[1], augment)
    optimizer = torch.optim.Adam(marked.parameters(), lr=lr)
    utility_history, mark_history, start = [], [], time.perf_counter()
    for _ in tqdm(range(epochs), desc="embedding the watermark",
                  disable=not show_progress(progress)):
        order, util_sum, mark_sum, steps = torch.randperm(len(images), generator=gen), 0.0, 0.0, 0
        for i in range(0, len(images) - batch_size + 1, batch_size):
            batch = images[order[i:i + batch_size]].to(dev)
            both = torch.cat([batch, view(batch)])  # the images and one view of each
            with torch.no_grad():
                target = original.encode(both)
            features = marked.encode(both)
            utility = (1 - F.cosine_similarity(features, target, dim=1)).mean()
            mark = watermark_loss(features, key.signal(both), key, margin)
            optimizer.zero_grad(set_to_none=True)
            (utility + lam * mark).backward()
            optimizer.step()
            util_sum, mark_sum, steps = util_sum + utility.item(), mark_sum + mark.item(), steps + 1
        utility_history.append(util_sum / steps)
        mark_history.append(mark_sum / steps)
    return EmbeddingResult(marked.eval(), utility_history, mark_history,
                           time.perf_counter() - start)


def watermarked_encoder(owner: ZooEntry | DerivedEntry, images: torch.Tensor,
                        key: WatermarkKey, device: str | torch.device = "auto",
                        progress: bool = True, **options) -> DerivedEntry:
    """:func:`embed_watermark` of a zoo encoder, kept in the zoo (``options`` are
    :func:`embed_watermark`'s keyword arguments)."""
    check_images(images, name="images")
    augment = options.get("augment")
    params = {"version": EMBED_VERSION, "key": key.params(),
              "images_sha256": sha256_tensor(images),
              **{k: v for k, v in options.items() if k != "augment"},
              "augment": None if augment is None else asdict(augment)}

    def make() -> tuple[Encoder, dict]:
        result = embed_watermark(owner.encoder, images, key, device=device, progress=progress,
                                 **options)
        return result.encoder, {"utility_loss": result.utility_loss,
                                "watermark_loss": result.watermark_loss,
                                "seconds": result.seconds}

    return derive_or_load("watermark", owner, params, make, device)
