"""Cheap image filters: the defence against availability poisoning of pre-training data
(chapter 08), and what an attacker who knows it optimises through.

The victim runs its (possibly poisoned) pre-training images through a filter before
pre-training, hoping to erase small perturbations such as Contrastive Poisoning
(:mod:`sslsec.attacks.contrastive_poisoning`) at little cost to clean images. Both sides use
these functions, so they sit below the attacks and the defences.

* :func:`binarize`: every pixel to 0 or 1 at a threshold — natural for MNIST, whose strokes are
  nearly binary already: a perturbation smaller than a pixel's distance to the threshold
  cannot survive it;
* :func:`median_blur`: the median of each ``kernel``×``kernel`` window (kornia);
* :func:`filter_images`: one of them by name (:data:`FILTERS`).
"""

from __future__ import annotations

import kornia.filters
import torch

from sslsec.augment import check_images


def binarize(x: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """Pixels ``>= threshold`` to 1, the others to 0."""
    check_images(x, name="x")
    if not (isinstance(threshold, int | float) and 0 < threshold < 1):
        raise ValueError(f"threshold={threshold!r} must be in (0, 1)")
    return (x >= threshold).to(x.dtype)


def median_blur(x: torch.Tensor, kernel: int = 3) -> torch.Tensor:
    """The median of each ``kernel``×``kernel`` window, per channel."""
    check_images(x, name="x")
    if not isinstance(kernel, int) or isinstance(kernel, bool) or kernel < 1 or kernel % 2 == 0:
        raise ValueError(f"kernel={kernel!r} must be a positive odd integer")
    return kornia.filters.median_blur(x, (kernel, kernel))


FILTERS = {"binarize": binarize, "median": median_blur}


def filter_images(x: torch.Tensor, method: str = "binarize", **kwargs) -> torch.Tensor:
    """``x`` through the named filter (``binarize`` or ``median``) with ``kwargs``."""
    if method not in FILTERS:
        raise ValueError(f"method={method!r} is unknown; allowed: {', '.join(FILTERS)}")
    return FILTERS[method](x, **kwargs)
