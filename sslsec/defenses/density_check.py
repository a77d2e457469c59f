"""Activation-density checks (chapter 10): before deployment, and as an input filter.

* :func:`deployment_check`: measure a candidate encoder's estimated energy on reference inputs
  and refuse it when it exceeds what a clean encoder of the same architecture spends, by more
  than a tolerance — the check that catches a sponge-poisoned encoder.
* :class:`DensityFilter`: an input filter on a deployed encoder. The accelerator watches the
  density of the first ``layers`` counted layers of each query; a query denser there than the
  natural inputs' ``quantile`` is aborted before the remaining layers run (and refused). Its
  costs: natural queries refused (the false-positive rate) and the energy the aborted queries
  still spent.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from sslsec.energy import activation_density, energy_ratio


@dataclass
class DeploymentCheck:
    """A candidate encoder's mean energy ratio on reference inputs against the expected one."""

    energy: float
    expected: float
    tolerance: float

    @property
    def flagged(self) -> bool:
        return self.energy > self.expected * self.tolerance


def deployment_check(encoder: nn.Module, reference_x: torch.Tensor, expected: float,
                     tolerance: float = 1.1, device: str | torch.device = "auto"
                     ) -> DeploymentCheck:
    """Flag ``encoder`` when its mean estimated energy ratio on ``reference_x`` exceeds
    ``expected`` (a clean encoder's) times ``tolerance``."""
    if not (isinstance(expected, int | float) and 0 < expected <= 1):
        raise ValueError(f"expected={expected!r} must be an energy ratio in (0, 1]")
    if not (isinstance(tolerance, int | float) and tolerance >= 1):
        raise ValueError(f"tolerance={tolerance!r} must be a number >= 1")
    energy = activation_density(encoder, reference_x, device=device).mean_density()
    return DeploymentCheck(energy, float(expected), float(tolerance))


@dataclass
class FilterOutcome:
    """What the filter did to a batch of queries."""

    flagged: torch.Tensor  # (N,) bool: aborted and refused
    energy: torch.Tensor  # (N,) energy ratio actually spent (aborted queries: first layers)
    unfiltered_energy: torch.Tensor  # (N,) without the filter

    @property
    def flag_rate(self) -> float:
        return float(self.flagged.float().mean())


@dataclass
class DensityFilter:
    """Abort a query whose density over the first ``layers`` counted layers exceeds
    ``threshold`` (fit it with :meth:`fit`)."""

    threshold: float
    layers: int

    @classmethod
    def fit(cls, encoder: nn.Module, natural_x: torch.Tensor, quantile: float = 0.99,
            layers: int = 2, device: str | torch.device = "auto") -> DensityFilter:
        """The ``quantile`` of the early-layer energy of natural inputs as the threshold."""
        if not (isinstance(quantile, int | float) and 0 < quantile < 1):
            raise ValueError(f"quantile={quantile!r} must be in (0, 1)")
        report = activation_density(encoder, natural_x, device=device)
        if not (isinstance(layers, int) and 1 <= layers <= len(report.layers)):
            raise ValueError(f"layers={layers!r} must be an integer in 1..{len(report.layers)}")
        early = energy_ratio(report.densities[:, :layers], report.macs[:layers])
        return cls(float(torch.quantile(early, quantile)), layers)

    def apply(self, encoder: nn.Module, x: torch.Tensor,
              device: str | torch.device = "auto") -> FilterOutcome:
        """Run the queries ``x`` through the filter."""
        report = activation_density(encoder, x, device=device)
        k, macs = self.layers, report.macs
        early = energy_ratio(report.densities[:, :k], macs[:k])
        flagged = early > self.threshold
        spent_if_aborted = (report.densities[:, :k].double() @ macs[:k]) / macs.sum()
        full = report.energy.double()
        return FilterOutcome(flagged, torch.where(flagged, spent_if_aborted, full).float(),
                             full.float())
