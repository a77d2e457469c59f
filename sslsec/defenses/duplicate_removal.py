"""Pre-processing against poisoned pre-training data: near-duplicate removal (chapter 08).

Before pre-training, the victim drops groups of images that share a near-identical *part*: a
half or a quadrant of the frame, compared by cosine similarity of its pixels. Web-scale
pipelines deduplicate on perceptual hashes of crops for the same reason. PoisonedEncoder's
collages repeat one target input in many poisons, so their target parts coincide; clean images
almost never share a part exactly. The price is the clean images that happen to be flagged.

* :func:`tile_duplicates`: for each image, how many other images share one of its tiles
  (halves and quadrants with enough ink) at cosine similarity ``>= threshold``;
* :func:`remove_duplicates`: the boolean mask of the images kept when every image with at least
  ``min_group - 1`` such duplicates is dropped.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from sslsec.augment import check_images
from sslsec.checks import positive_ints


def _tiles(images: torch.Tensor) -> list[torch.Tensor]:
    """The left, right, top and bottom halves and the four quadrants of every image."""
    h, w = images.shape[-2:]
    hh, hw = h // 2, w // 2
    boxes = [(0, h, 0, hw), (0, h, hw, w), (0, hh, 0, w), (hh, h, 0, w),
             (0, hh, 0, hw), (0, hh, hw, w), (hh, h, 0, hw), (hh, h, hw, w)]
    return [images[:, :, r0:r1, c0:c1].reshape(len(images), -1) for r0, r1, c0, c1 in boxes]


def tile_duplicates(images: torch.Tensor, threshold: float = 0.995, min_ink: float = 0.05,
                    batch_size: int = 1024) -> torch.Tensor:
    """Per image, the largest number of *other* images that share one of its tiles: both tiles
    hold at least ``min_ink`` of the tile's area in ink (mean pixel value) and their cosine
    similarity is ``>= threshold``."""
    check_images(images, name="images")
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold={threshold!r} must be in (0, 1]")
    if not 0 <= min_ink < 1:
        raise ValueError(f"min_ink={min_ink!r} must be in [0, 1)")
    positive_ints(batch_size=batch_size)
    counts = torch.zeros(len(images), dtype=torch.long)
    for tile in _tiles(images.float()):
        inked = tile.mean(1) >= min_ink
        unit = F.normalize(tile, dim=1)
        for start in range(0, len(images), batch_size):
            block = unit[start:start + batch_size]
            close = (block @ unit.T >= threshold) & inked[None] & inked[
                start:start + batch_size, None]
            close[torch.arange(len(block)), torch.arange(start, start + len(block))] = False
            counts[start:start + batch_size] = torch.maximum(
                counts[start:start + batch_size], close.sum(1))
    return counts


def remove_duplicates(images: torch.Tensor, threshold: float = 0.995, min_group: int = 3,
                      min_ink: float = 0.05) -> torch.Tensor:
    """A boolean mask over ``images``: ``False`` for every image that shares a tile with at
    least ``min_group - 1`` others (:func:`tile_duplicates`), ``True`` for the kept ones."""
    positive_ints(min_group=min_group)
    if min_group < 2:
        raise ValueError(f"min_group={min_group} must be at least 2 (a group of one is no "
                         "duplicate)")
    return tile_duplicates(images, threshold, min_ink) < min_group - 1
