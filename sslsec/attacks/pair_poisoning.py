"""Pair poisoning: Carlini & Terzis's targeted poisoning (ICLR 2022) carried over to image-only
contrastive learning, chapter 08.

Carlini & Terzis poison CLIP's image–caption pairs: a few pairs (target image, a caption of the
target class) suffice there. An image-only contrastive learner has no captions, but it may learn
from *pairs of images* whose two views come from two files (frames of one video, two photos of
one object). The attacker then controls both views of a positive pair outright: each poison
pairs the target input with one reference input of the target class. This is the strongest form
of the pull that :mod:`sslsec.attacks.poisoned_encoder`'s collages hope their random crops make,
so it bounds what any collage layout can do.

* :func:`pair_poisons`: ``(targets, references)``, ``per_pair`` pairs for each (target input,
  target class) pair; pass them to :func:`~sslsec.attacks.poisoned_encoder.poisoned_encoder` as
  ``poisons`` and ``partners``.
"""

from __future__ import annotations

import torch

from sslsec.attacks.poisoned_encoder import TargetPair, targets_and_references
from sslsec.data import ImageSet


def pair_poisons(test: ImageSet, train: ImageSet, pairs: list[TargetPair], per_pair: int,
                 seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``per_pair`` (target input, reference input) pairs for each of ``pairs``: the first
    views (the target, repeated) and the second views (references of the target class from
    ``train``, one each) — the very targets and references that
    :func:`~sslsec.attacks.poisoned_encoder.collage_poisons` combines in one frame."""
    return targets_and_references(test, train, pairs, per_pair, seed)
