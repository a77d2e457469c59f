"""Slowdown attack on an early-exit encoder (Hong et al., DeepSloth, ICLR 2021).

An early-exit classifier (:class:`~sslsec.early_exit.EarlyExitEncoder`) answers easy inputs
after one stage. The attacker perturbs an input, within an L∞ budget, so that no early exit
is confident: every exit's softmax is pushed towards the uniform distribution (the paper's
loss, summed over the early exits), so the query runs the full depth and pays its full
latency. The final exit is left alone, so the prediction mostly stays what it was.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from sslsec.attacks.sponge_examples import check_epsilon
from sslsec.checks import positive_ints
from sslsec.early_exit import EarlyExitEncoder, check_threshold
from sslsec.energy import check_batch
from sslsec.pretrain import show_progress


def slowdown_loss(model: EarlyExitEncoder, x: torch.Tensor) -> torch.Tensor:
    """Per input, the cross-entropy between the uniform distribution and each early exit's
    softmax, summed over the early exits (all but the last): 0 when none is confident."""
    logits = model.exit_logits(x)[:-1]
    return sum(-F.log_softmax(z, 1).mean(1) - torch.log(torch.tensor(float(z.shape[1])))
               for z in logits)


def slowdown_pgd(model: EarlyExitEncoder, x: torch.Tensor, epsilon: float = 0.1,
                 steps: int = 30, step_size: float | None = None, batch_size: int = 256,
                 random_start: bool = False, seed: int = 0,
                 progress: bool = False) -> torch.Tensor:
    """Signed gradient descent on :func:`slowdown_loss` from the natural input (or a random
    start in the budget),
    projected onto ``||delta||_∞ <= epsilon`` and [0, 1] (CPU). ``step_size`` defaults to
    ``epsilon / steps`` (larger steps overshoot: the loss is flat near uniform)."""
    check_batch(x, model.in_channels)
    check_epsilon(epsilon)
    positive_ints(steps=steps, batch_size=batch_size)
    step = epsilon / steps if step_size is None else step_size
    if not step > 0:
        raise ValueError(f"step_size={step_size!r} must be > 0")
    model = model.cpu().eval()
    gen = torch.Generator().manual_seed(seed)
    out = []
    for i in tqdm(range(0, len(x), batch_size), desc="slowdown PGD",
                  disable=not show_progress(progress)):
        clean = x[i:i + batch_size].cpu()
        adv = clean.clone()
        if random_start:
            adv = (adv + (torch.rand(clean.shape, generator=gen) * 2 - 1) * epsilon).clamp(0, 1)
        for _ in range(steps):
            adv.requires_grad_(True)
            (grad,) = torch.autograd.grad(slowdown_loss(model, adv).sum(), adv)
            with torch.no_grad():
                adv = adv - step * grad.sign()
                adv = (clean + (adv - clean).clamp(-epsilon, epsilon)).clamp(0, 1)
        out.append(adv.detach())
    return torch.cat(out)


@dataclass
class SlowdownResult:
    """Which exit each query took, natural and attacked, and the attacked inputs."""

    epsilon: float
    threshold: float
    adversarial: torch.Tensor
    natural_exits: torch.Tensor
    attacked_exits: torch.Tensor
    n_exits: int

    def full_depth_share(self, kind: str = "attacked") -> float:
        """The share of queries that ran every stage (``natural`` or ``attacked``)."""
        return float((self._exits(kind) == self.n_exits - 1).float().mean())

    def mean_flops(self, flops: torch.Tensor, kind: str = "attacked") -> float:
        """The mean cost of the queries (``natural`` or ``attacked``), given each exit's cost
        ``flops`` (:func:`~sslsec.early_exit.exit_flops`)."""
        if flops.shape != (self.n_exits,):
            raise ValueError(f"flops has shape {tuple(flops.shape)}; expected one cost per "
                             f"exit, ({self.n_exits},)")
        return float(flops[self._exits(kind)].mean())

    def _exits(self, kind: str) -> torch.Tensor:
        exits = {"natural": self.natural_exits, "attacked": self.attacked_exits}
        if kind not in exits:
            raise ValueError(f"kind={kind!r} is unknown; allowed: natural, attacked")
        return exits[kind]


@torch.no_grad()
def _exits(model: EarlyExitEncoder, x: torch.Tensor, threshold: float) -> torch.Tensor:
    return model(x, threshold)[1].cpu()


def slowdown_attack(model: EarlyExitEncoder, x: torch.Tensor, epsilon: float = 0.1,
                    steps: int = 30, threshold: float = 0.9, seed: int = 0,
                    progress: bool = False) -> SlowdownResult:
    """Slowdown inputs for the natural inputs ``x``, and the exit every query takes at
    ``threshold`` before and after."""
    check_threshold(threshold)
    adv = slowdown_pgd(model, x, epsilon, steps, seed=seed, progress=progress)
    return SlowdownResult(epsilon, threshold, adv, _exits(model, x, threshold),
                          _exits(model, adv, threshold), model.n_exits)
