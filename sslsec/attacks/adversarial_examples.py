"""Downstream-agnostic adversarial examples against a pre-trained encoder (chapter 09).

The attacker knows the encoder but none of the downstream classifiers built on it. It perturbs
an input, within an L∞ budget ``epsilon`` on pixels in [0, 1], so that the encoder's features
move as far as possible from the clean input's features: every classifier that reads those
features then sees a different input.

* :func:`feature_pgd`: per-input projected gradient ascent on the feature distance (random
  start, signed steps, projection onto the budget and the pixel range); the distance is the
  cosine distance of the features *centred* on the mean feature of the attacker's own images
  (:func:`feature_center`), which fools downstream heads more than the raw cosine because
  heads standardise the features they read;
* :func:`universal_perturbation`: a universal adversarial perturbation (UAP, Moosavi-Dezfooli
  et al., CVPR 2017): one pattern for all inputs, optimised directly on the attacker's own images,
  that transfers to unseen inputs and tasks (AdvEncoder, ICCV 2023, reaches the same goal with a
  generator network that outputs such patterns);
* :func:`random_sign_noise`: the control, random noise of the same L∞ size, new for every input;
  :func:`random_universal_pattern`: the UAP's control, one random pattern of the same size;
* :func:`fooling_rate`: the share of correctly classified inputs that a downstream classifier
  gets wrong after the attack.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from sslsec.augment import check_images
from sslsec.checks import positive_ints
from sslsec.downstream import extract_features
from sslsec.pretrain import show_progress
from sslsec.profiles import resolve_device

#: given a batch of clean inputs, the per-input objective that PGD raises on its perturbations
Objective = Callable[[torch.Tensor], Callable[[torch.Tensor], torch.Tensor]]


def _check_budget(epsilon: float, steps: int | None = None) -> None:
    if not (isinstance(epsilon, int | float) and 0 <= epsilon <= 1):
        raise ValueError(f"epsilon={epsilon!r} must be a number in [0, 1] (L∞ on pixels in "
                         "[0, 1])")
    if steps is not None:
        positive_ints(steps=steps)


def feature_center(encoder: nn.Module, x: torch.Tensor, batch_size: int = 512,
                   device: str | torch.device = "auto") -> torch.Tensor:
    """The mean feature of images ``x`` (the attacker's own): the origin from which
    :func:`feature_distance` measures angles."""
    check_images(x, name="x")
    return extract_features(encoder, x, batch_size, device).detach().float().mean(0)


def feature_distance(encoder: nn.Module, x: torch.Tensor, reference: torch.Tensor,
                     center: torch.Tensor | None = None) -> torch.Tensor:
    """Per-input ``1 - cos(f(x) - center, reference - center)``: how far the features of
    ``x`` moved from ``reference`` (the clean features), as seen from ``center`` (0 when
    ``None``)."""
    features = encoder.encode(x).float()
    if center is None:
        return 1 - F.cosine_similarity(features, reference, dim=1)
    return 1 - F.cosine_similarity(features - center, reference - center, dim=1)


def signed_pgd(encoder: nn.Module, x: torch.Tensor, objective_for: Objective,
               epsilon: float, steps: int, step_size: float, batch_size: int = 256,
               device: str | torch.device = "auto", seed: int = 0, progress: bool = False,
               desc: str = "PGD") -> torch.Tensor:
    """The PGD loop that the attacks share: per batch of ``x``, a random start in the L∞ ball
    of radius ``epsilon`` (drawn from a generator seeded with ``seed``), then ``steps`` signed
    gradient steps of size ``step_size`` that *raise* ``objective_for(clean)(adv)`` (one value
    per input, summed), each projected back onto the ball and onto pixels in [0, 1]. The
    encoder runs in eval mode. Returns CPU images."""
    dev = resolve_device(device)
    was_training = encoder.training
    encoder.eval()
    gen = torch.Generator().manual_seed(seed)
    out = []
    try:
        for i in tqdm(range(0, len(x), batch_size), desc=desc,
                      disable=not show_progress(progress)):
            clean = x[i:i + batch_size].to(dev)
            objective = objective_for(clean)
            noise = (torch.rand(clean.shape, generator=gen) * 2 - 1) * epsilon
            adv = (clean + noise.to(dev)).clamp(0, 1)
            for _ in range(steps):
                adv.requires_grad_(True)
                (grad,) = torch.autograd.grad(objective(adv).sum(), adv)
                with torch.no_grad():
                    adv = adv + step_size * grad.sign()
                    adv = (clean + (adv - clean).clamp(-epsilon, epsilon)).clamp(0, 1)
            out.append(adv.detach().cpu())
    finally:
        encoder.train(was_training)
    return torch.cat(out)


def feature_pgd(encoder: nn.Module, x: torch.Tensor, epsilon: float = 0.1, steps: int = 20,
                step_size: float | None = None, center: torch.Tensor | None = None,
                batch_size: int = 256, device: str | torch.device = "auto", seed: int = 0,
                progress: bool = False) -> torch.Tensor:
    """Per-input PGD that pushes each input's features away from its clean features
    (:func:`feature_distance` from ``center``), within ``||delta||_∞ <= epsilon`` and pixels in
    [0, 1]. Returns the adversarial inputs (CPU). ``step_size`` defaults to
    ``2.5 * epsilon / steps``."""
    check_images(x, name="x")
    _check_budget(epsilon, steps)
    step = 2.5 * epsilon / steps if step_size is None else step_size
    if not step > 0:
        raise ValueError(f"step_size={step_size!r} must be > 0")
    dev = resolve_device(device)
    center = None if center is None else center.float().to(dev)

    def away_from(clean: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
        with torch.no_grad():
            reference = encoder.encode(clean).float()
        return lambda adv: feature_distance(encoder, adv, reference, center)

    return signed_pgd(encoder, x, away_from, epsilon, steps, step, batch_size, dev, seed,
                      progress, desc="feature PGD")


def universal_perturbation(encoder: nn.Module, x: torch.Tensor, epsilon: float = 0.1,
                           epochs: int = 10, batch_size: int = 128, lr: float | None = None,
                           center: torch.Tensor | None = None,
                           device: str | torch.device = "auto", seed: int = 0,
                           progress: bool = False) -> torch.Tensor:
    """One perturbation ``delta`` (1, C, H, W), ``||delta||_∞ <= epsilon``, that moves the
    features of the attacker's images ``x`` as far as possible on average
    (:func:`feature_distance` from ``center``; signed gradient ascent over mini-batches).
    Apply it with :func:`apply_perturbation`."""
    check_images(x, name="x")
    _check_budget(epsilon, epochs)
    positive_ints(batch_size=batch_size)
    step = epsilon / 10 if lr is None else lr
    dev = resolve_device(device)
    center = None if center is None else center.float().to(dev)
    gen = torch.Generator().manual_seed(seed)
    delta = ((torch.rand((1, *x.shape[1:]), generator=gen) * 2 - 1) * epsilon).to(dev)
    was_training = encoder.training
    encoder.eval()
    try:
        with torch.no_grad():
            references = torch.cat([encoder.encode(x[i:i + 512].to(dev)).float()
                                    for i in range(0, len(x), 512)])
        for _ in tqdm(range(epochs), desc="universal perturbation",
                      disable=not show_progress(progress)):
            order = torch.randperm(len(x), generator=gen)
            for i in range(0, len(x), batch_size):
                idx = order[i:i + batch_size]
                delta.requires_grad_(True)
                adv = (x[idx].to(dev) + delta).clamp(0, 1)
                loss = feature_distance(encoder, adv, references[idx.to(dev)], center).mean()
                (grad,) = torch.autograd.grad(loss, delta)
                with torch.no_grad():
                    delta = (delta + step * grad.sign()).clamp(-epsilon, epsilon)
    finally:
        encoder.train(was_training)
    return delta.detach().cpu()


def apply_perturbation(x: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
    """``x + delta``, clipped to [0, 1]."""
    check_images(x, name="x")
    if delta.shape[1:] != x.shape[1:]:
        raise ValueError(f"delta {tuple(delta.shape)} does not fit images {tuple(x.shape)}")
    return (x + delta.to(x.device)).clamp(0, 1)


def random_sign_noise(x: torch.Tensor, epsilon: float, seed: int = 0) -> torch.Tensor:
    """The control: every pixel moved by ``±epsilon`` at random (the largest random
    perturbation of that L∞ size), clipped to [0, 1]."""
    check_images(x, name="x")
    _check_budget(epsilon)
    gen = torch.Generator().manual_seed(seed)
    signs = torch.randint(0, 2, x.shape, generator=gen).float() * 2 - 1
    return (x + epsilon * signs.to(x.device)).clamp(0, 1)


def random_universal_pattern(shape: tuple[int, ...], epsilon: float,
                             seed: int = 0) -> torch.Tensor:
    """The UAP's control: one random ``±epsilon`` pattern (1, C, H, W) for every input, to apply
    with :func:`apply_perturbation` like a UAP."""
    _check_budget(epsilon)
    if len(shape) != 3:
        raise ValueError(f"shape={shape!r} must be (C, H, W)")
    gen = torch.Generator().manual_seed(seed)
    return (torch.randint(0, 2, (1, *shape), generator=gen).float() * 2 - 1) * epsilon


def fooling_rate(predict, clean_x: torch.Tensor, adversarial_x: torch.Tensor,
                 y: torch.Tensor) -> float:
    """Among the inputs that ``predict`` (images → labels) classifies correctly when clean, the
    share it misclassifies after the attack."""
    if clean_x.shape != adversarial_x.shape or len(y) != len(clean_x):
        raise ValueError("clean_x, adversarial_x and y must describe the same inputs")
    correct = predict(clean_x).cpu() == y.cpu()
    if not correct.any():
        raise ValueError("the classifier gets no clean input right: the rate is undefined")
    return float((predict(adversarial_x[correct]).cpu() != y.cpu()[correct]).float().mean())
