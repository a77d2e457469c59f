"""Sponge examples (Shumailov et al., EuroS&P 2021): inputs that make an encoder cost more.

The attacker wants every query to burn more energy on a sparsity-aware accelerator, without
caring what the encoder outputs. White-box variant: projected gradient *ascent* on the smooth
energy model :func:`~sslsec.energy.soft_energy` (each layer's non-zero inputs, counted smoothly
and weighted by the layer's multiply–accumulates), within an L∞ budget ``epsilon`` around a
natural input and pixels in [0, 1] (the paper's
white-box attack ascends the activations' L2 norm, and its black-box attack runs a genetic
search without a budget; ours keeps the input close to a natural one, so the predictions it
serves look normal). The energy is measured with :func:`~sslsec.energy.activation_density`
against three baselines: the natural inputs, random noise of the same budget, and uniform
(flat) images, which Müller et al. (2024) report to be dense.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from sslsec.attacks.adversarial_examples import random_sign_noise, signed_pgd
from sslsec.checks import positive_ints
from sslsec.energy import (
    activation_density,
    check_batch,
    energy_ratio,
    soft_energy,
    soft_layer_energy,
)
from sslsec.profiles import resolve_device


def check_epsilon(epsilon: float) -> None:
    """An L∞ budget on pixels in [0, 1] lies in [0, 1]."""
    if not (isinstance(epsilon, int | float) and 0 <= epsilon <= 1):
        raise ValueError(f"epsilon={epsilon!r} must be a number in [0, 1] (L∞ on pixels in "
                         "[0, 1])")


def sponge_pgd(encoder: nn.Module, x: torch.Tensor, epsilon: float = 0.1, steps: int = 30,
               step_size: float | None = None, temperature: float = 0.1,
               batch_size: int = 256, device: str | torch.device = "auto", seed: int = 0,
               progress: bool = False) -> torch.Tensor:
    """Sponge examples: from a random start in the budget, signed gradient steps that raise
    :func:`~sslsec.energy.soft_energy`, each projected onto ``||delta||_∞ <= epsilon`` and
    [0, 1]. ``step_size`` defaults to ``2.5 * epsilon / steps``. Returns CPU images."""
    check_batch(x)
    check_epsilon(epsilon)
    positive_ints(steps=steps, batch_size=batch_size)
    step = 2.5 * epsilon / steps if step_size is None else step_size
    if not step > 0:
        raise ValueError(f"step_size={step_size!r} must be > 0")
    return signed_pgd(encoder, x, lambda clean: lambda adv: soft_energy(encoder, adv, temperature),
                      epsilon, steps, step, batch_size, device, seed, progress,
                      desc="sponge PGD")


def uniform_images(n: int, like: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """``n`` flat images shaped like ``like``'s, each one grey level drawn uniformly in
    [0, 1]."""
    positive_ints(n=n)
    check_batch(like, name="like")
    levels = torch.rand(n, generator=torch.Generator().manual_seed(seed))
    return levels.view(n, 1, 1, 1).expand(n, *like.shape[1:]).contiguous()


@dataclass
class SpongeResult:
    """Per-input estimated energy ratios (sparsity-aware / dense) of each kind of input, and
    the sponge examples themselves."""

    epsilon: float
    sponges: torch.Tensor
    energy: dict[str, torch.Tensor]  # "natural", "noise", "uniform", "sponge" → (N,)
    layer_density: dict[str, torch.Tensor]  # the same kinds → mean density per layer (L,)
    layers: list[str]

    def mean(self, kind: str) -> float:
        if kind not in self.energy:
            raise ValueError(f"kind={kind!r} is unknown; allowed: {', '.join(self.energy)}")
        return float(self.energy[kind].mean())

    @property
    def gain_over_natural(self) -> float:
        """Mean energy of the sponges ÷ mean energy of the natural inputs."""
        return self.mean("sponge") / self.mean("natural")

    @property
    def headroom_taken(self) -> float:
        """The share of the room above the natural inputs' mean energy (up to 1, the dense
        accelerator's) that the sponges fill: a ratio that, unlike the gain, does not depend on
        how dense the encoder already is on natural inputs."""
        natural = self.mean("natural")
        return (self.mean("sponge") - natural) / (1 - natural) if natural < 1 else 0.0

    @property
    def noise_gain_over_natural(self) -> float:
        """The same for random noise of the same budget (the control)."""
        return self.mean("noise") / self.mean("natural")


def sponge_attack(encoder: nn.Module, x: torch.Tensor, epsilon: float = 0.1, steps: int = 30,
                  temperature: float = 0.1, device: str | torch.device = "auto", seed: int = 0,
                  progress: bool = False) -> SpongeResult:
    """Sponge examples from the natural inputs ``x``, and the estimated energy of natural
    inputs, random ±ε noise on them, uniform images and the sponges."""
    sponges = sponge_pgd(encoder, x, epsilon, steps, temperature=temperature, device=device,
                         seed=seed, progress=progress)
    inputs = {"natural": x, "noise": random_sign_noise(x, epsilon, seed=seed),
              "uniform": uniform_images(len(x), x, seed=seed), "sponge": sponges}
    reports = {k: activation_density(encoder, v, device=device) for k, v in inputs.items()}
    return SpongeResult(epsilon, sponges, {k: r.energy for k, r in reports.items()},
                        {k: r.densities.mean(0) for k, r in reports.items()},
                        reports["natural"].layers)


def filter_aware_sponge_pgd(encoder: nn.Module, x: torch.Tensor, threshold: float, layers: int,
                            epsilon: float = 0.1, steps: int = 30, penalty: float = 10.0,
                            margin: float = 0.97, keep_zeros: bool = True,
                            temperature: float = 0.1, batch_size: int = 256,
                            device: str | torch.device = "auto", seed: int = 0,
                            progress: bool = False) -> torch.Tensor:
    """Sponge examples made against a :class:`~sslsec.defenses.density_check.DensityFilter`
    whose ``threshold`` and watched ``layers`` the attacker knows (an adaptive attacker in the
    sense of Tramèr et al., NeurIPS 2020; our variant). Signed gradient steps raise the smooth
    energy of every layer minus ``penalty`` times how far the watched layers' smooth energy
    exceeds ``margin * threshold``; after each step the attacker runs the filter's own exact
    test and keeps, per input, the most energetic iterate that passes it (the natural input
    when none does). With ``keep_zeros``, pixels that are 0 stay 0 (on MNIST the first
    counted layer's density is the share of lit pixels, which any change to the black
    background would raise). Returns CPU images within ``||delta||_∞ <= epsilon``."""
    check_batch(x)
    check_epsilon(epsilon)
    positive_ints(steps=steps, batch_size=batch_size, layers=layers)
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold={threshold!r} must be an energy ratio in (0, 1]")
    if not (penalty >= 0 and 0 < margin <= 1):
        raise ValueError(f"penalty={penalty!r} must be >= 0 and margin={margin!r} in (0, 1]")
    dev = resolve_device(device)
    step = 2.5 * epsilon / steps
    gen = torch.Generator().manual_seed(seed)
    was_training = encoder.training
    encoder.eval()

    def exact(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        report = activation_density(encoder, images, device=dev)
        early = energy_ratio(report.densities[:, :layers], report.macs[:layers]).float()
        return report.energy, early

    out = []
    try:
        for i in range(0, len(x), batch_size):
            clean = x[i:i + batch_size].to(dev)
            best = clean.clone()
            best_energy, early = exact(clean)
            best_energy = torch.where(early <= threshold, best_energy,
                                      torch.zeros_like(best_energy))
            # zero pixels stay zero: a counted first layer reads the image's own density
            free = (clean > 0).float() if keep_zeros else torch.ones_like(clean)
            noise = (torch.rand(clean.shape, generator=gen) * 2 - 1).to(dev) * epsilon / 4
            adv = (clean + noise * free).clamp(0, 1)
            for _ in range(steps):
                adv.requires_grad_(True)
                terms, macs = soft_layer_energy(encoder, adv, temperature)
                weights = macs / macs.sum()
                watched = terms[:, :layers] @ (macs[:layers] / macs[:layers].sum())
                objective = terms @ weights - penalty * torch.relu(watched - margin * threshold)
                (grad,) = torch.autograd.grad(objective.sum(), adv)
                with torch.no_grad():
                    adv = adv + step * grad.sign() * free
                    adv = (clean + (adv - clean).clamp(-epsilon, epsilon)).clamp(0, 1)
                    energy, early = exact(adv)
                    better = (early <= threshold) & (energy.to(best_energy.device) > best_energy)
                    best = torch.where(better.view(-1, 1, 1, 1).to(dev), adv, best)
                    best_energy = torch.where(better.to(best_energy.device), energy, best_energy)
            out.append(best.detach().cpu())
    finally:
        encoder.train(was_training)
    return torch.cat(out)
