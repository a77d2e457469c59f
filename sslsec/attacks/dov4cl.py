"""DOV4CL (Xie et al., ICLR 2025): dataset ownership verification for contrastive encoders.

A contrastive encoder treats its training images differently in two ways, which DOV4CL calls
the *unary* and the *binary* instance relationships:

* unary: the features of augmented views of one training image agree more — at several scales:
  global views (large crops), local views (small crops) and global against local;
* binary: the similarity graph of a group of training images (who resembles whom) changes less
  from one augmentation to the next.

The *contrastive relationship gap* of an encoder is each relationship on the owner's published
images minus the same on images of the same distribution that were never published. A suspect
that trained on the published images shows a larger gap than a *shadow* encoder that the owner
pre-trains on other data of its own (which saw neither set). The owner computes both gaps on
the same groups of images, with the same augmented views, and tests whether the suspect's gap
exceeds the shadow's.

Our variant differs from the paper's code in the test: the paper draws its groups with
replacement, so its repetitions overlap and its t-test is optimistic; we split both sets into
*disjoint* groups, so that the paired differences are independent and the one-sided t-test
(normal differences, independent groups) holds its level on encoders that never saw the data.
The scales are adapted to 28×28 digits (local crops of 20–50 % of the area).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch
from scipy import stats
from torch import nn

from sslsec.attacks.encodermi import view_features
from sslsec.attacks.membership_audit import check_sets
from sslsec.checks import positive_ints
from sslsec.profiles import AugmentConfig


@dataclass
class DOV4CLResult:
    """Per group: the suspect's and the shadow's relationship gaps, and the paired test."""

    suspect_gaps: np.ndarray
    shadow_gaps: np.ndarray
    unary_gap: float  # the suspect's mean unary gap minus the shadow's
    binary_gap: float  # the same for the binary relationship
    t_statistic: float
    p_value: float
    queries: int  # images sent to the suspect's API

    @property
    def gap(self) -> float:
        """Mean of the suspect's gap minus the shadow's."""
        return float((self.suspect_gaps - self.shadow_gaps).mean())

    def flagged(self, alpha: float = 0.01) -> bool:
        return self.p_value < alpha


@torch.no_grad()
def unary_relations(g: torch.Tensor, loc: torch.Tensor) -> torch.Tensor:
    """Per image, the mean cosine of its global views with each other, of its local views
    with each other, and of global with local views: ``(N, 3)``."""

    def mean_pairs(z: torch.Tensor) -> torch.Tensor:
        m = z.shape[1]
        sims = z @ z.transpose(1, 2)
        return (sims.sum((1, 2)) - m) / (m * (m - 1))

    gl = (g @ loc.transpose(1, 2)).mean((1, 2))
    return torch.stack([mean_pairs(g), mean_pairs(loc), gl], dim=1)


def binary_instability(z: torch.Tensor) -> float:
    """How much the similarity graph of a group of images changes between views: the mean
    absolute difference of the off-diagonal cosines of view ``v`` and view ``w`` over all pairs
    ``v < w`` (``z``: ``(k, n_views, D)``; lower = more stable)."""
    k, m = z.shape[:2]
    graphs = torch.einsum("ivd,jvd->vij", z, z)  # one k×k graph per view
    off = ~torch.eye(k, dtype=torch.bool)
    diffs = [(graphs[v] - graphs[w]).abs()[off].mean() for v in range(m) for w in range(v + 1, m)]
    return float(torch.stack(diffs).mean())


def relationship_gaps(owner_views: tuple[torch.Tensor, torch.Tensor],
                      reference_views: tuple[torch.Tensor, torch.Tensor], group_size: int,
                      lam: float = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per disjoint group of ``group_size`` owner and reference images: the unary gap (owner
    minus reference, mean of the three scales), the binary gap (reference instability minus
    owner instability) and their sum ``lam * unary + binary``."""
    (og, ol), (rg, rl) = owner_views, reference_views
    n_groups = min(len(og), len(rg)) // group_size
    uo, ur = unary_relations(og, ol), unary_relations(rg, rl)
    unary, binary = [], []
    for k in range(n_groups):
        s = slice(k * group_size, (k + 1) * group_size)
        unary.append(float((uo[s].mean(0) - ur[s].mean(0)).mean()))
        binary.append(np.mean([binary_instability(r[s]) - binary_instability(o[s])
                               for o, r in ((og, rg), (ol, rl))]))
    unary_a, binary_a = np.array(unary), np.array(binary)
    return unary_a, binary_a, lam * unary_a + binary_a


def relation_views(model: nn.Module, x: torch.Tensor, augment: AugmentConfig, n_global: int,
                   n_local: int, local_scale: tuple[float, float],
                   device: str | torch.device = "auto",
                   seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Normalised features of ``n_global`` global views (``augment``) and ``n_local`` local
    views (the same recipe with crops of ``local_scale`` of the area) of every image of ``x``:
    ``(N, n_global, D)`` and ``(N, n_local, D)``."""
    local = dataclasses.replace(augment, crop_scale=tuple(local_scale))
    return (view_features(model, x, augment, n_global, batch_size=512, device=device, seed=seed),
            view_features(model, x, local, n_local, batch_size=512, device=device,
                          seed=seed + 10))


def gap_test(suspect_gaps: np.ndarray, shadow_gaps: np.ndarray) -> tuple[float, float]:
    """One-sided paired t-test of ``suspect_gaps > shadow_gaps`` over the groups: ``(t, p)``
    (a constant difference gives ``p`` 0, 0.5 or 1)."""
    diff = np.asarray(suspect_gaps) - np.asarray(shadow_gaps)
    if np.allclose(diff, diff[0]):
        if abs(diff[0]) < 1e-12:
            return 0.0, 0.5
        return float("inf") * float(np.sign(diff[0])), float(diff[0] <= 0)
    test = stats.ttest_1samp(diff, 0.0, alternative="greater")
    return float(test.statistic), float(test.pvalue)


def check_scales(group_size: int, n_global: int, n_local: int,
                 local_scale: tuple[float, float]) -> None:
    """Raise ``ValueError`` unless DOV4CL's group size, view counts and local scale are
    usable."""
    positive_ints(group_size=group_size, n_global=n_global, n_local=n_local)
    if group_size < 2:
        raise ValueError(f"group_size={group_size} must be at least 2 (a graph needs a pair)")
    if n_global < 2 or n_local < 2:
        raise ValueError(f"n_global={n_global} and n_local={n_local} must be at least 2")
    lo, hi = local_scale
    if not 0 < lo <= hi <= 1:
        raise ValueError(f"local_scale={local_scale!r} must satisfy 0 < low <= high <= 1")


def dov4cl(suspect: nn.Module, shadow: nn.Module, owner: torch.Tensor, reference: torch.Tensor,
           augment: AugmentConfig, group_size: int = 16, n_global: int = 2, n_local: int = 6,
           local_scale: tuple[float, float] = (0.2, 0.5), lam: float = 1.0,
           device: str | torch.device = "auto", seed: int = 0) -> DOV4CLResult:
    """Test whether ``suspect`` was pre-trained on the ``owner``'s images: its contrastive
    relationship gap (owner's images against ``reference`` images of the same distribution)
    against the gap of the owner's ``shadow`` encoder, over disjoint groups of ``group_size``
    images; a one-sided paired t-test. ``augment`` gives the global views; the local views are
    the same recipe with crops of ``local_scale`` of the area."""
    for name, model in (("suspect", suspect), ("shadow", shadow)):
        if not hasattr(model, "encode"):
            raise ValueError(f"{name} must have an encode method; got {type(model).__name__}")
    check_scales(group_size, n_global, n_local, local_scale)
    check_sets(owner, reference, 2 * group_size)

    def views(model: nn.Module) -> list[tuple[torch.Tensor, torch.Tensor]]:
        return [relation_views(model, x, augment, n_global, n_local, local_scale, device,
                               seed + i) for i, x in enumerate((owner, reference))]

    s_unary, s_binary, s_gap = relationship_gaps(*views(suspect), group_size, lam)
    h_unary, h_binary, h_gap = relationship_gaps(*views(shadow), group_size, lam)
    t, p = gap_test(s_gap, h_gap)
    used = len(s_gap) * group_size * 2
    return DOV4CLResult(s_gap, h_gap, float((s_unary - h_unary).mean()),
                        float((s_binary - h_binary).mean()), t, p,
                        used * (n_global + n_local))
