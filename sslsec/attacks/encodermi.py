"""EncoderMI (Liu et al., CCS 2021): membership inference against a pre-trained encoder.

A contrastive encoder is trained to map augmented views of its *training* images to similar
features; it does this better on members than on unseen inputs. The attacker queries the
encoder with ``n_views`` augmented views of an input, and turns the pairwise cosine similarities
of their features into a membership score. A shadow encoder, pre-trained by the attacker on its
own data whose membership it knows, calibrates the inference:

* ``threshold``: the mean similarity, thresholded at the best-accuracy point on shadow data;
* ``vector``: a classifier on the sorted similarity vector;
* ``set``: a permutation-invariant (DeepSets) classifier on the set of similarities.

:func:`naive_baseline` is the single-pair version (two views), the weakest use of the same
signal.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score, roc_curve
from sklearn.preprocessing import StandardScaler
from torch import nn

from sslsec.augment import SimCLRAugment, check_images
from sslsec.checks import positive_ints
from sslsec.profiles import AugmentConfig, resolve_device

VARIANTS = ("threshold", "vector", "set")


@torch.no_grad()
def view_features(encoder: nn.Module, x: torch.Tensor, augment: AugmentConfig,
                  n_views: int = 10, head: nn.Module | None = None, batch_size: int = 256,
                  device: str | torch.device = "auto", seed: int = 0) -> torch.Tensor:
    """Unit-norm features of ``n_views`` augmented views of each input: ``(N, n_views, D)``,
    on the CPU. The views come from a private RNG stream seeded by ``seed`` (querying does not
    disturb the caller's, e.g. a training loop's), so two encoders queried with the same seed
    see the very same views. ``head`` (e.g. the projection head) is applied to the encoder's
    features when given; the modules run in eval mode."""
    check_images(x)
    if not isinstance(n_views, int) or n_views < 2:
        raise ValueError(f"n_views={n_views!r} must be an integer >= 2")
    positive_ints(batch_size=batch_size)
    dev = resolve_device(device)
    aug = SimCLRAugment(x.shape[-1], x.shape[1], augment)
    modules = [m for m in (encoder, head) if m is not None]
    modes = [m.training for m in modules]
    for m in modules:
        m.eval()
    out = []
    with torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []):
        torch.manual_seed(seed)
        try:
            for i in range(0, len(x), batch_size):
                batch = x[i:i + batch_size].to(dev)
                views = []
                for _ in range(n_views):
                    f = encoder.encode(aug(batch))
                    f = head(f) if head is not None else f
                    views.append(F.normalize(f.float(), dim=1))
                out.append(torch.stack(views, dim=1).cpu())
        finally:
            for m, mode in zip(modules, modes, strict=True):
                m.train(mode)
    return torch.cat(out)


def view_similarities(encoder: nn.Module, x: torch.Tensor, augment: AugmentConfig,
                      n_views: int = 10, head: nn.Module | None = None, batch_size: int = 256,
                      device: str | torch.device = "auto", seed: int = 0) -> torch.Tensor:
    """Pairwise cosine similarities of the features of ``n_views`` augmented views of each
    input (:func:`view_features`): ``(N, n_views * (n_views - 1) / 2)``, sorted in decreasing
    order per input."""
    z = view_features(encoder, x, augment, n_views, head, batch_size, device, seed)
    rows = torch.triu_indices(n_views, n_views, 1)
    out = []
    for i in range(0, len(z), batch_size):
        batch = z[i:i + batch_size]
        sims = (batch @ batch.transpose(1, 2))[:, rows[0], rows[1]]
        out.append(sims.sort(dim=1, descending=True).values)
    return torch.cat(out)


@dataclass
class MembershipResult:
    """Scores of members and non-members (higher = "member") and the attack's metrics."""

    variant: str
    member_scores: np.ndarray
    nonmember_scores: np.ndarray
    auc: float
    tpr_at_1pct_fpr: float
    accuracy: float  # balanced accuracy at the decision threshold chosen on shadow data
    fpr: np.ndarray
    tpr: np.ndarray


def _metrics(variant: str, member: np.ndarray, nonmember: np.ndarray,
             threshold: float) -> MembershipResult:
    y = np.r_[np.ones(len(member)), np.zeros(len(nonmember))]
    scores = np.r_[member, nonmember]
    fpr, tpr, _ = roc_curve(y, scores)
    tpr_at = float(np.interp(0.01, fpr, tpr))
    acc = 0.5 * (float((member >= threshold).mean()) + float((nonmember < threshold).mean()))
    return MembershipResult(variant, member, nonmember, float(roc_auc_score(y, scores)), tpr_at,
                            acc, fpr, tpr)


def tpr_at_fpr(member_scores: np.ndarray, nonmember_scores: np.ndarray,
               fpr: float = 0.01) -> float:
    """The highest true-positive rate of a threshold that flags at most a share ``fpr`` of the
    non-members (higher score = "member"), read off the ROC curve's own points: no
    interpolation below the test's resolution, ``1 / len(nonmember_scores)``, so at least
    ``1 / fpr`` non-members are needed."""
    member, nonmember = np.asarray(member_scores, float), np.asarray(nonmember_scores, float)
    if not 0 < fpr < 1:
        raise ValueError(f"fpr={fpr!r} must be in (0, 1)")
    if len(member) == 0 or fpr * len(nonmember) < 1:
        raise ValueError(f"{len(nonmember)} non-members cannot resolve fpr={fpr!r}: "
                         f"use at least {int(np.ceil(1 / fpr))} (and at least one member)")
    y = np.r_[np.ones(len(member)), np.zeros(len(nonmember))]
    fprs, tprs, _ = roc_curve(y, np.r_[member, nonmember])
    return float(tprs[fprs <= fpr + 1e-12].max())


def _best_threshold(member: np.ndarray, nonmember: np.ndarray) -> float:
    candidates = np.unique(np.r_[member, nonmember])
    acc = [(member >= t).mean() + (nonmember < t).mean() for t in candidates]
    return float(candidates[int(np.argmax(acc))])


class DeepSets(nn.Module):
    """rho(mean(phi(s))) over a set of scalar similarities: order does not matter."""

    def __init__(self, hidden: int = 32) -> None:
        super().__init__()
        self.phi = nn.Sequential(nn.Linear(1, hidden), nn.ReLU(), nn.Linear(hidden, hidden),
                                 nn.ReLU())
        self.rho = nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, sims: torch.Tensor) -> torch.Tensor:
        return self.rho(self.phi(sims.unsqueeze(-1)).mean(dim=1)).squeeze(-1)


def _fit_set_classifier(sims: torch.Tensor, y: torch.Tensor, seed: int,
                        epochs: int = 300) -> DeepSets:
    torch.manual_seed(seed)
    model = DeepSets()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    with torch.enable_grad():
        for _ in range(epochs):
            loss = F.binary_cross_entropy_with_logits(model(sims), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model.eval()


def encodermi(victim: nn.Module, members: torch.Tensor, nonmembers: torch.Tensor,
              shadow: nn.Module, shadow_members: torch.Tensor, shadow_nonmembers: torch.Tensor,
              augment: AugmentConfig, variant: str = "threshold", n_views: int = 10,
              victim_head: nn.Module | None = None, shadow_head: nn.Module | None = None,
              device: str | torch.device = "auto", seed: int = 0) -> MembershipResult:
    """Infer the membership of ``members`` and ``nonmembers`` (images) in ``victim``'s
    pre-training set, calibrated on a ``shadow`` encoder whose members the attacker knows.

    ``augment`` is the attacker's guess of the victim's augmentations; the heads are applied to
    the features when the API returns projection-head outputs.
    """
    if variant not in VARIANTS:
        raise ValueError(f"variant={variant!r} is unknown; allowed: {', '.join(VARIANTS)}")
    for name, x in (("members", members), ("nonmembers", nonmembers),
                    ("shadow_members", shadow_members),
                    ("shadow_nonmembers", shadow_nonmembers)):
        check_images(x, name=name)
        if len(x) == 0:
            raise ValueError(f"{name} is empty")

    def sims(model, head, x):
        return view_similarities(model, x, augment, n_views, head, device=device, seed=seed)

    s_m, s_n = sims(shadow, shadow_head, shadow_members), sims(shadow, shadow_head,
                                                               shadow_nonmembers)
    v_m, v_n = sims(victim, victim_head, members), sims(victim, victim_head, nonmembers)
    if variant == "threshold":
        train_m, train_n = s_m.mean(1).numpy(), s_n.mean(1).numpy()
        score_m, score_n = v_m.mean(1).numpy(), v_n.mean(1).numpy()
    elif variant == "vector":
        scaler = StandardScaler().fit(torch.cat([s_m, s_n]).numpy())
        clf = LogisticRegression(max_iter=2000, C=1.0).fit(
            scaler.transform(torch.cat([s_m, s_n]).numpy()),
            np.r_[np.ones(len(s_m)), np.zeros(len(s_n))])

        def score(s):
            return clf.decision_function(scaler.transform(s.numpy()))

        train_m, train_n, score_m, score_n = score(s_m), score(s_n), score(v_m), score(v_n)
    else:
        y = torch.cat([torch.ones(len(s_m)), torch.zeros(len(s_n))])
        model = _fit_set_classifier(torch.cat([s_m, s_n]), y, seed)
        with torch.no_grad():
            train_m, train_n, score_m, score_n = (model(s).numpy() for s in (s_m, s_n, v_m, v_n))
    return _metrics(variant, score_m, score_n, _best_threshold(train_m, train_n))


def naive_baseline(victim: nn.Module, members: torch.Tensor, nonmembers: torch.Tensor,
                   shadow: nn.Module, shadow_members: torch.Tensor,
                   shadow_nonmembers: torch.Tensor, augment: AugmentConfig,
                   victim_head: nn.Module | None = None, shadow_head: nn.Module | None = None,
                   device: str | torch.device = "auto", seed: int = 0) -> MembershipResult:
    """The single-pair score: the similarity of just two augmented views, thresholded."""
    result = encodermi(victim, members, nonmembers, shadow, shadow_members, shadow_nonmembers,
                       augment, "threshold", 2, victim_head, shadow_head, device, seed)
    result.variant = "naive (one pair)"
    return result
