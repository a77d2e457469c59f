"""Exact hyperparameter stealing (Wang & Gong, IEEE S&P 2018) for heads on encoder features.

A downstream head trained by minimising a regularised loss ends at a point where the gradient is
zero. For an L2 penalty ``(lam / 2) * ||W||^2`` (ridge: ``lam * ||W||^2``) that condition reads

    G(W) + lam * W = 0,        G = gradient of the data loss at the released W,

which is linear in the one unknown, ``lam``. An attacker who knows the training data (here: the
features of the downstream training set) and the released parameters computes ``G`` and solves
the over-determined system by least squares: ``lam = -<W, G> / <W, W>``. Nothing is estimated or
learnt; the answer is exact up to how well the victim's optimiser converged (and to what the
release rounds away: the defence).

Heads here are trained by :func:`train_head_exactly` with a documented objective (closed form
for ridge, Newton's method to a tight tolerance for logistic regression), so that the optimality
condition the attack solves is the one the victim's training met.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch
from scipy.optimize import minimize
from scipy.special import log_softmax, softmax

KINDS = ("ridge", "logistic")


@dataclass(frozen=True)
class ReleasedHead:
    """A released linear head ``logits = X @ weight + bias`` and how it was trained."""

    kind: str
    weight: np.ndarray  # (D, K)
    bias: np.ndarray  # (K,)

    def rounded(self, decimals: int) -> ReleasedHead:
        """The defence: release the parameters rounded to ``decimals`` decimal places."""
        if not isinstance(decimals, int) or isinstance(decimals, bool):
            raise ValueError(f"decimals={decimals!r} must be an integer")
        return replace(self, weight=np.round(self.weight, decimals),
                       bias=np.round(self.bias, decimals))


def _as_arrays(features, labels) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(features.detach().cpu() if isinstance(features, torch.Tensor) else features,
                   dtype=np.float64)
    y = np.asarray(labels.detach().cpu() if isinstance(labels, torch.Tensor) else labels)
    if x.ndim != 2 or len(x) == 0:
        raise ValueError(f"features must be a non-empty (N, D) array; got shape {x.shape}")
    if y.shape != (len(x),) or not np.issubdtype(y.dtype, np.integer) or y.min() < 0:
        raise ValueError(f"labels must hold one non-negative integer class per row; got shape "
                         f"{y.shape} and dtype {y.dtype}")
    if len(np.unique(y)) < 2:
        raise ValueError("labels must hold at least two classes")
    return x, y


def _one_hot(y: np.ndarray) -> np.ndarray:
    return np.eye(int(y.max()) + 1)[y]


def _data_gradient(kind: str, x: np.ndarray, y: np.ndarray, weight: np.ndarray,
                   bias: np.ndarray) -> np.ndarray:
    """Gradient of the un-regularised data loss with respect to ``weight`` (D, K)."""
    target = _one_hot(y)[:, :weight.shape[1]]
    logits = x @ weight + bias
    if kind == "ridge":  # ||XW + b - Y||^2 + lam ||W||^2: 2 X^T R + 2 lam W = 0, halved
        return x.T @ (logits - target)
    return x.T @ (softmax(logits, axis=1) - target)  # cross-entropy, summed over examples


def train_head_exactly(features, labels, kind: str = "logistic",
                       regularization: float = 1.0) -> ReleasedHead:
    """Train a linear head on ``features`` (N, D) by minimising, with an unpenalised bias,

    * ``ridge``: ``||X W + b - Y||^2 + lam * ||W||^2`` (Y one-hot), in closed form;
    * ``logistic``: ``sum_i CE_i + (lam / 2) * ||W||^2`` (softmax cross-entropy), by a
      trust-region Newton-CG method with exact Hessian-vector products, until the gradient's
      norm is below 1e-10 (a second or so for 1,000 × 128 features);

    with ``lam = regularization``."""
    if kind not in KINDS:
        raise ValueError(f"kind={kind!r} is unknown; allowed: {', '.join(KINDS)}")
    if not (isinstance(regularization, int | float) and regularization > 0):
        raise ValueError(f"regularization={regularization!r} must be a number > 0")
    x, y = _as_arrays(features, labels)
    n, d = x.shape
    target = _one_hot(y)
    if kind == "ridge":
        mean_x, mean_t = x.mean(0), target.mean(0)
        xc = x - mean_x
        weight = np.linalg.solve(xc.T @ xc + regularization * np.eye(d), xc.T @ (target - mean_t))
        return ReleasedHead(kind, weight, mean_t - mean_x @ weight)
    k = target.shape[1]

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        weight, bias = theta[:d * k].reshape(d, k), theta[d * k:]
        logits = x @ weight + bias
        loss = -(target * log_softmax(logits, axis=1)).sum() + 0.5 * regularization * (
            weight ** 2).sum()
        residual = softmax(logits, axis=1) - target
        grad_w = x.T @ residual + regularization * weight
        return float(loss), np.concatenate([grad_w.ravel(), residual.sum(0)])

    def hessp(theta: np.ndarray, v: np.ndarray) -> np.ndarray:
        weight, bias = theta[:d * k].reshape(d, k), theta[d * k:]
        prob = softmax(x @ weight + bias, axis=1)
        vw, vb = v[:d * k].reshape(d, k), v[d * k:]
        a = x @ vw + vb
        m = prob * a - prob * (prob * a).sum(1, keepdims=True)
        return np.concatenate([(x.T @ m + regularization * vw).ravel(), m.sum(0)])

    solution = minimize(objective, np.zeros(d * k + k), jac=True, hessp=hessp,
                        method="trust-ncg", options={"maxiter": 1000, "gtol": 1e-10})
    theta = solution.x
    return ReleasedHead(kind, theta[:d * k].reshape(d, k), theta[d * k:])


@dataclass
class StolenHyperparameter:
    """The stolen regularisation weight and, when the truth is known, its relative error."""

    kind: str
    stolen: float
    true: float | None = None

    @property
    def relative_error(self) -> float:
        if self.true is None:
            raise ValueError("the true value is unknown: pass true= to steal_regularization")
        return abs(self.stolen - self.true) / self.true


def steal_regularization(features, labels, head: ReleasedHead,
                         true: float | None = None) -> StolenHyperparameter:
    """Solve the released head's optimality condition for its L2 regularisation weight."""
    if head.kind not in KINDS:
        raise ValueError(f"head.kind={head.kind!r} is unknown; allowed: {', '.join(KINDS)}")
    x, y = _as_arrays(features, labels)
    if head.weight.shape[0] != x.shape[1]:
        raise ValueError(f"the head takes {head.weight.shape[0]} features; got {x.shape[1]}")
    if not np.any(head.weight):
        raise ValueError("the released weights are all zero: the condition says nothing")
    grad = _data_gradient(head.kind, x, y, head.weight, head.bias)
    stolen = -float((head.weight * grad).sum() / (head.weight ** 2).sum())
    return StolenHyperparameter(head.kind, stolen, true)
