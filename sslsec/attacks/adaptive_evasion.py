"""Adaptive attacks on chapter 09's defences: checks for gradient masking, and an attack on the
smoothed classifier itself.

A defence against adversarial examples counts only against an attacker who knows it (Athalye,
Carlini & Wagner, ICML 2018; Tramèr et al., NeurIPS 2020). Against an encoder hardened with
pixel noise, three checks tell a robust encoder from one whose gradients merely mislead PGD:

* :func:`eot_feature_pgd`: PGD on the *expectation* of the feature distance over the noise the
  encoder was hardened with (Expectation over Transformation, Athalye et al., ICML 2018);
* :func:`transfer_pgd`: PGD crafted on another encoder (the standard one) and sent to the
  hardened one: it needs no gradient of the target at all;
* :func:`square_attack`: a gradient-free, score-based attack (Square Attack, Andriushchenko et
  al., ECCV 2020, its L∞ version), here raising the feature distance instead of a classifier's
  margin: random square patches of ±ε, kept when the distance grows.

If the hardened encoder merely masked its gradients, the transfer and gradient-free attacks
would fool it more than white-box PGD does.

Against randomised smoothing, :func:`smoothed_pgd` attacks the smoothed classifier the
certificate is about (SmoothAdv, Salman et al., NeurIPS 2019): L2 PGD on the cross-entropy of the
base classifier's softmax averaged over Gaussian noise. :func:`smoothed_predict` reads the
smoothed classifier's answer (majority over ``n`` noisy copies). The certificate promises that no
L2 perturbation below an input's certified radius changes that answer, so the smoothed
accuracy under attack at radius r can fall to, but not below, the certified accuracy at r.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from sslsec.attacks.adversarial_examples import (
    _check_budget,
    feature_distance,
    feature_pgd,
    signed_pgd,
)
from sslsec.augment import check_images
from sslsec.checks import positive_ints
from sslsec.defenses.randomized_smoothing import _counts
from sslsec.pretrain import show_progress
from sslsec.profiles import resolve_device


def eot_feature_pgd(encoder: nn.Module, x: torch.Tensor, epsilon: float, noise_std: float,
                    steps: int = 20, samples: int = 8, step_size: float | None = None,
                    center: torch.Tensor | None = None, batch_size: int = 256,
                    device: str | torch.device = "auto", seed: int = 0,
                    progress: bool = False) -> torch.Tensor:
    """Feature-space PGD (as :func:`~sslsec.attacks.adversarial_examples.feature_pgd`) whose
    objective is the mean feature distance over ``samples`` copies of the input, each with
    fresh Gaussian pixel noise of standard deviation ``noise_std`` (EOT). Returns CPU images
    within ``||delta||_∞ <= epsilon``."""
    check_images(x, name="x")
    _check_budget(epsilon, steps)
    positive_ints(samples=samples)
    if not noise_std >= 0:
        raise ValueError(f"noise_std={noise_std!r} must be >= 0")
    step = 2.5 * epsilon / steps if step_size is None else step_size
    dev = resolve_device(device)
    center = None if center is None else center.float().to(dev)
    gen = torch.Generator().manual_seed(seed + 1)

    def expected_distance(clean: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
        with torch.no_grad():
            reference = encoder.encode(clean).float()

        def objective(adv: torch.Tensor) -> torch.Tensor:
            total = 0
            for _ in range(samples):
                noise = noise_std * torch.randn(adv.shape, generator=gen).to(dev)
                total = total + feature_distance(encoder, adv + noise, reference, center)
            return total / samples

        return objective

    return signed_pgd(encoder, x, expected_distance, epsilon, steps, step, batch_size, dev, seed,
                      progress, desc="EOT PGD")


def transfer_pgd(source: nn.Module, x: torch.Tensor, epsilon: float, steps: int = 20,
                 center: torch.Tensor | None = None, device: str | torch.device = "auto",
                 seed: int = 0, progress: bool = False) -> torch.Tensor:
    """Adversarial inputs crafted by feature-space PGD on ``source`` (``center``: the mean
    feature of the attacker's images under ``source``), to be sent to another encoder: a
    transfer attack uses no gradient of its target."""
    return feature_pgd(source, x, epsilon, steps, center=center, device=device, seed=seed,
                       progress=progress)


@torch.no_grad()
def square_attack(encoder: nn.Module, x: torch.Tensor, epsilon: float, queries: int = 500,
                  p_init: float = 0.1, center: torch.Tensor | None = None,
                  batch_size: int = 512, device: str | torch.device = "auto", seed: int = 0,
                  progress: bool = False) -> torch.Tensor:
    """Square Attack (L∞), score-based and gradient-free: start from vertical stripes of ±ε,
    then, ``queries`` times, redraw one random square of the perturbation (±ε per channel) and
    keep it for the inputs whose feature distance from their clean features (seen from
    ``center``) grows. The square's side follows the paper's schedule, from ``p_init`` of the
    image's area down. Returns CPU images within ``||delta||_∞ <= epsilon``."""
    check_images(x, name="x")
    _check_budget(epsilon, queries)
    if not 0 < p_init <= 1:
        raise ValueError(f"p_init={p_init!r} must be in (0, 1]")
    positive_ints(batch_size=batch_size)
    dev = resolve_device(device)
    center = None if center is None else center.float().to(dev)
    gen = torch.Generator().manual_seed(seed)
    was_training = encoder.training
    encoder.eval()
    out = []
    try:
        for i in tqdm(range(0, len(x), batch_size), desc="square attack",
                      disable=not show_progress(progress)):
            clean = x[i:i + batch_size].to(dev)
            n, c, h, w = clean.shape
            reference = encoder.encode(clean).float()
            stripes = (torch.randint(0, 2, (n, c, 1, w), generator=gen).float() * 2 - 1)
            delta = (epsilon * stripes.expand(n, c, h, w)).to(dev)
            adv = (clean + delta).clamp(0, 1)
            best = feature_distance(encoder, adv, reference, center)
            rows, cols = torch.arange(h).view(1, h, 1), torch.arange(w).view(1, 1, w)
            for q in range(queries):
                p = p_init * _square_schedule(q, queries)
                side = max(1, min(h, w, int(round(np.sqrt(p * h * w)))))
                top = torch.randint(0, h - side + 1, (n,), generator=gen)
                left = torch.randint(0, w - side + 1, (n,), generator=gen)
                values = (torch.randint(0, 2, (n, c), generator=gen).float() * 2 - 1) * epsilon
                inside = ((rows >= top.view(n, 1, 1)) & (rows < (top + side).view(n, 1, 1))
                          & (cols >= left.view(n, 1, 1)) & (cols < (left + side).view(n, 1, 1)))
                inside = inside.unsqueeze(1).to(dev)
                candidate = torch.where(inside, values.view(n, c, 1, 1).to(dev), delta)
                trial = (clean + candidate).clamp(0, 1)
                score = feature_distance(encoder, trial, reference, center)
                better = score > best
                delta = torch.where(better.view(n, 1, 1, 1), candidate, delta)
                best = torch.where(better, score, best)
            out.append((clean + delta).clamp(0, 1).cpu())
    finally:
        encoder.train(was_training)
    return torch.cat(out)


def _square_schedule(query: int, queries: int) -> float:
    """Square Attack's schedule of the square's area (as a share of ``p_init``), rescaled to a
    budget of ``queries`` as the paper's reference code rescales it to 10,000 iterations."""
    it = int(query / queries * 10_000)
    for bound, share in ((10, 1), (50, 1 / 2), (200, 1 / 4), (500, 1 / 8), (1000, 1 / 16),
                         (2000, 1 / 32), (4000, 1 / 64), (6000, 1 / 128), (8000, 1 / 256)):
        if it <= bound:
            return share
    return 1 / 512


def smoothed_pgd(logits: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor,
                 y: torch.Tensor, sigma: float, radius: float, steps: int = 10,
                 samples: int = 16, batch_size: int = 100, device: str | torch.device = "auto",
                 seed: int = 0, progress: bool = False) -> torch.Tensor:
    """SmoothAdv's L2 PGD on the smoothed classifier (Salman et al., NeurIPS 2019): raise the
    cross-entropy of the base classifier's softmax averaged over ``samples`` Gaussian copies
    (standard deviation ``sigma``), with normalised gradient steps of ``2 * radius / steps``,
    each projected onto the L2 ball of ``radius`` and onto pixels in [0, 1]. ``logits`` maps
    images to the base classifier's logits and must be differentiable. Returns CPU images."""
    check_images(x, name="x")
    if len(y) != len(x):
        raise ValueError(f"y has {len(y)} labels for {len(x)} inputs")
    if not sigma > 0 or not radius >= 0:
        raise ValueError(f"sigma={sigma!r} must be > 0 and radius={radius!r} >= 0")
    positive_ints(steps=steps, samples=samples, batch_size=batch_size)
    if radius == 0:
        return x.clone().cpu()
    dev = resolve_device(device)
    gen = torch.Generator().manual_seed(seed)
    step = 2 * radius / steps
    out = []
    for i in tqdm(range(0, len(x), batch_size), desc="smoothed PGD",
                  disable=not show_progress(progress)):
        clean, labels = x[i:i + batch_size].to(dev), y[i:i + batch_size].to(dev)
        adv = clean.clone()
        for _ in range(steps):
            adv.requires_grad_(True)
            noisy = adv.unsqueeze(1) + sigma * torch.randn((len(adv), samples, *adv.shape[1:]),
                                                           generator=gen).to(dev)
            probs = F.softmax(logits(noisy.flatten(0, 1)), dim=1).view(len(adv), samples, -1)
            loss = F.nll_loss(torch.log(probs.mean(1).clamp_min(1e-12)), labels.long())
            (grad,) = torch.autograd.grad(loss, adv)
            with torch.no_grad():
                norm = grad.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1, 1)
                adv = adv + step * grad / norm
                delta = adv - clean
                scale = (radius / delta.flatten(1).norm(dim=1).clamp_min(1e-12)).clamp(max=1)
                adv = (clean + delta * scale.view(-1, 1, 1, 1)).clamp(0, 1)
        out.append(adv.detach().cpu())
    return torch.cat(out)


@torch.no_grad()
def smoothed_predict(predict: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor,
                     sigma: float, num_classes: int, n: int = 512, batch_size: int = 256,
                     seed: int = 0) -> torch.Tensor:
    """The smoothed classifier's answer for each input of ``x``: the class that ``predict``
    (images → labels) gives most often over ``n`` copies with Gaussian noise of ``sigma``."""
    check_images(x, name="x")
    if not sigma > 0:
        raise ValueError(f"sigma={sigma!r} must be > 0")
    positive_ints(n=n, num_classes=num_classes, batch_size=batch_size)
    gen = torch.Generator().manual_seed(seed)
    return torch.tensor([int(_counts(predict, image, sigma, n, num_classes, batch_size,
                                     gen).argmax()) for image in x])
