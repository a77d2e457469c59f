"""A worst-case compute cap for an early-exit encoder (chapter 10).

The slowdown attack makes every query run the full depth. The service can bound the damage by
answering every query at exit ``max_exit`` at the latest (0-based): no query then costs more
than the stages up to that exit, whatever the input. The price is accuracy — inputs that
needed the deeper stages are answered by a shallower, weaker exit. :func:`cap_tradeoff` measures
both sides for every possible cap.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from sslsec.early_exit import EarlyExitEncoder, check_threshold, exit_accuracy
from sslsec.energy import check_batch


@dataclass
class CapOutcome:
    """One cap: accuracy on natural inputs, and the mean depth (exits passed, 1-based) of
    natural and attacked queries."""

    max_exit: int
    accuracy: float
    natural_depth: float
    attacked_depth: float


@torch.no_grad()
def cap_tradeoff(model: EarlyExitEncoder, x: torch.Tensor, y: torch.Tensor,
                 attacked_x: torch.Tensor, threshold: float) -> list[CapOutcome]:
    """For every cap (``max_exit`` = 0 … last): the early-exit classifier's accuracy on the
    natural inputs ``x`` and the mean number of stages that natural and attacked queries run."""
    check_batch(x, model.in_channels)
    check_batch(attacked_x, model.in_channels, "attacked_x")
    check_threshold(threshold)
    if len(y) != len(x):
        raise ValueError(f"y has {len(y)} labels for {len(x)} inputs")
    out = []
    for cap in range(model.n_exits):
        acc, exits = exit_accuracy(model, x, y, threshold, cap)
        attacked = model(attacked_x, threshold, cap)[1].cpu()
        out.append(CapOutcome(cap, acc, float(exits.float().mean() + 1),
                              float(attacked.float().mean() + 1)))
    return out
