"""Batched, differentiable SimCLR augmentations on image tensors (kornia).

Every op works on a whole ``(N, C, H, W)`` batch in one call, on CPU or GPU, and gradients flow
to the input pixels: the poisoning chapters optimise perturbations *through* these views.
"""

from __future__ import annotations

import kornia.augmentation as K
import torch
from torch import nn

from sslsec.checks import positive_ints
from sslsec.profiles import AugmentConfig

__all__ = ["AugmentConfig", "SimCLRAugment", "check_images"]


def check_images(x: torch.Tensor, channels: int | None = None, name: str = "x") -> None:
    """Raise ``ValueError`` unless ``x`` is a float ``(N, C, H, W)`` batch (with ``channels``)."""
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.ndim != 4:
        raise ValueError(f"{name} must have shape (N, C, H, W); got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise ValueError(f"{name} must be a float tensor in [0, 1]; got dtype {x.dtype}")
    if channels is not None and x.shape[1] != channels:
        raise ValueError(f"{name} must have {channels} channel(s); got {x.shape[1]}")


class SimCLRAugment(nn.Module):
    """The SimCLR view distribution for ``size``×``size`` images with ``channels`` channels.

    Random resized crop → (rotation) → horizontal flip → colour jitter (brightness and contrast
    for grey images, plus saturation and hue for colour) → random grayscale (colour only) →
    Gaussian blur → (additive Gaussian noise). Each view of a batch draws its own parameters.
    """

    def __init__(self, size: int, channels: int, config: AugmentConfig | None = None) -> None:
        super().__init__()
        positive_ints(size=size)
        if channels not in (1, 3):
            raise ValueError(f"channels={channels!r} is not supported; allowed: 1, 3")
        self.size, self.channels = size, channels
        self.config = cfg = config or AugmentConfig()
        ops: list[nn.Module] = [K.RandomResizedCrop((size, size), scale=cfg.crop_scale)]
        if cfg.rotation_degrees > 0:
            ops.append(K.RandomRotation(cfg.rotation_degrees, p=1.0))
        if cfg.flip_p > 0:
            ops.append(K.RandomHorizontalFlip(p=cfg.flip_p))
        s = cfg.jitter_strength
        if s > 0 and cfg.jitter_p > 0:
            if channels == 3:
                ops.append(K.ColorJitter(0.8 * s, 0.8 * s, 0.8 * s, min(0.2 * s, 0.5),
                                         p=cfg.jitter_p))
            else:
                ops.append(K.ColorJitter(0.8 * s, 0.8 * s, p=cfg.jitter_p))
        if channels == 3 and cfg.grayscale_p > 0:
            ops.append(K.RandomGrayscale(p=cfg.grayscale_p))
        if cfg.blur_p > 0:
            kernel = max(3, (size // 10) | 1)
            ops.append(K.RandomGaussianBlur((kernel, kernel), (0.1, 2.0), p=cfg.blur_p))
        if cfg.noise_std > 0 and cfg.noise_p > 0:
            ops.append(K.RandomGaussianNoise(std=cfg.noise_std, p=cfg.noise_p))
        self.ops = nn.Sequential(*ops)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """One random view of every image in ``x`` (float, in [0, 1])."""
        check_images(x, self.channels)
        if x.shape[-2:] != (self.size, self.size):
            raise ValueError(
                f"x must be {self.size}x{self.size} images; got {tuple(x.shape[-2:])}"
            )
        return self.ops(x).clamp(0.0, 1.0)

    def views(self, x: torch.Tensor, n: int = 2) -> list[torch.Tensor]:
        """``n`` independent views of the batch."""
        positive_ints(n=n)
        return [self(x) for _ in range(n)]
