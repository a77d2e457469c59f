"""Chapter 09, evasion: adversarial examples that fool every classifier built on an encoder.

The book's evasion problem: an attacker who knows the encoder but none of its downstream
classifiers perturbs inputs, within a small L∞ budget, so that their features move away from
the clean ones (per-input PGD, one universal perturbation); pre-training with pixel noise and
randomized smoothing are the defences. The chapter decides the budgets, the attack's steps and
images, the hardened encoder's pixel noise, and the smoothing's noise levels and sample sizes;
it builds that world (:func:`adversarial_setup`) and claims that the attacks fool most inputs on
every task, and that a noise-hardened encoder resists random noise but not the attack.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn

from sslsec.attacks.adaptive_evasion import eot_feature_pgd, square_attack, transfer_pgd
from sslsec.attacks.adversarial_examples import feature_center, fooling_rate
from sslsec.chapters._common import chapter_functions
from sslsec.claims import Claim
from sslsec.data import Splits, downstream_task, pools
from sslsec.downstream import ProbeResult, evaluate_encoder, extract_features
from sslsec.profiles import Profile
from sslsec.zoo import profile_encoder

NAME = "09_evasion"

SETTINGS: dict[str, dict] = {
    # L∞ budgets on pixels in [0, 1] (all; the chapter's; the one the hardened encoder's PGD
    # claim is read at, the UAP's: at the chapter's, how far PGD gets varies by seed); the
    # pixel-noise std of the hardened encoder's
    # pre-training; PGD steps; the universal perturbation's training; the smoothing noise
    # levels and Monte-Carlo sizes of the certification (n_sweep: exercise 3's sample
    # counts); the adaptive attacks: noise samples
    # per EOT step, Square Attack's queries, and the attack on the smoothed classifier (radii,
    # steps, noise samples per step)
    "smoke": {"epsilons": [0.05, 0.1], "epsilon": 0.1, "hardened_epsilon": 0.1,
              "hardened_noise_std": 0.05,
              "n_test": 32, "pgd_steps": 5, "n_attacker": 128, "universal_epochs": 1,
              "uap_epsilon": 0.15,
              "sigmas": [0.1], "n_certify": 8, "n0": 16, "n": 32, "n_sweep": [8, 16, 32],
              "radii": [0.0, 0.1, 0.2],
              "eot_samples": 2, "square_queries": 20,
              "smoothed_radii": [0.1], "smoothed_steps": 2, "smoothed_samples": 4},
    "laptop": {"epsilons": [0.02, 0.05, 0.1, 0.15, 0.2], "epsilon": 0.1, "hardened_epsilon": 0.15,
               "hardened_noise_std": 0.05, "n_test": 300, "pgd_steps": 20,
               "n_attacker": 1000, "universal_epochs": 10, "uap_epsilon": 0.15,
               "sigmas": [0.05, 0.1, 0.2],
               "n_certify": 100, "n0": 32, "n": 512, "n_sweep": [32, 256, 2048],
               "radii": [0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4],
               "eot_samples": 8, "square_queries": 500,
               "smoothed_radii": [0.1, 0.2, 0.3], "smoothed_steps": 10, "smoothed_samples": 16},
    "paper": {"epsilons": [2 / 255, 4 / 255, 8 / 255, 16 / 255], "epsilon": 8 / 255,
              "hardened_epsilon": 16 / 255,
              "hardened_noise_std": 0.05, "n_test": 1000, "pgd_steps": 20,
              "n_attacker": 5000, "universal_epochs": 20, "uap_epsilon": 10 / 255,
              "sigmas": [0.12, 0.25, 0.5],
              "n_certify": 500, "n0": 100, "n": 10000, "n_sweep": [32, 256, 2048],
              "radii": [0.0, 0.1, 0.25, 0.5, 0.75, 1.0],
              "eot_samples": 16, "square_queries": 2000,
              "smoothed_radii": [0.25, 0.5], "smoothed_steps": 20, "smoothed_samples": 32},
    "papersmoke": {"epsilons": [4 / 255, 8 / 255], "epsilon": 8 / 255, "hardened_epsilon": 8 / 255,
                   "hardened_noise_std": 0.05, "n_test": 32, "pgd_steps": 5, "n_attacker": 128,
                   "universal_epochs": 1, "uap_epsilon": 10 / 255, "sigmas": [0.25],
                   "n_certify": 8, "n0": 16, "n": 32, "n_sweep": [8, 16, 32],
                   "radii": [0.0, 0.1, 0.25],
                   "eot_samples": 2, "square_queries": 20,
                   "smoothed_radii": [0.1], "smoothed_steps": 2, "smoothed_samples": 4},
}

CLAIMS: list[Claim] = [
    Claim("pgd_fooling_min_task", ">=", None, None,
          "feature-space PGD misclassifies most correct inputs on every downstream task it "
          "never saw (reported: on an encoder that noise already breaks, this measures the "
          "encoder as much as the attack)"),
    Claim("noise_fooling_max_task", "<=", None, None,
          "random noise of the same L∞ size on the same encoder (reported: an MNIST encoder "
          "that never saw noise is fragile to it, by how much depends on its pre-training run)"),
    Claim("pgd_advantage_min_task", ">=", None, None,
          "PGD minus noise fooling rate on the standard encoder, weakest task (reported: it "
          "moves with the pre-training run; the claims read the attack on the hardened encoder)"),
    Claim("hardened_noise_fooling_max_task", "<=", 0.15, None,
          "an encoder pre-trained with pixel noise shrugs off random noise of the budget "
          "(the standard encoder loses half or more of its inputs to it)"),
    Claim("hardened_pgd_advantage_min_task", ">=", 0.2, None,
          "yet at the UAP's budget feature-space PGD fools it at least 20 points more often "
          "than random noise of that budget does, on every task"),
    Claim("no_gradient_excess_max", "<=", 0.0, None,
          "attacks that use no gradient of the hardened encoder (transfer from the standard "
          "encoder, Square Attack) fool it less often than gradient attacks (PGD, EOT PGD), on "
          "every task at the larger budget: no sign of gradient masking (Athalye et al.)"),
    Claim("eot_gain_max", ">=", None, None,
          "what averaging the gradient over the hardening noise (EOT) adds to PGD's fooling "
          "rate, largest over tasks at the larger budget (reported)"),
    Claim("uap_advantage_min_task", ">=", 0.05, None,
          "one universal adversarial perturbation (UAP) fools the hardened encoder's tasks more "
          "often than one random pattern of the same size, on every task (by 20 points or more "
          "on some seeds, by less on others: see the chapter)"),
    Claim("uap_fooling_min_task", ">=", None, None,
          "the UAP's fooling rate on the hardened encoder, weakest task (reported)"),
    Claim("standard_uap_advantage_min_task", ">=", None, None,
          "the UAP's advantage over a random pattern on the standard encoder, which random "
          "patterns already fool (reported)"),
    Claim("clean_accuracy_min_task", ">=", 0.85, None,
          "the downstream classifiers are accurate on clean inputs"),
    Claim("certified_accuracy_radius_0", ">=", None, None,
          "the hardened encoder's smoothed classifier's accuracy, best σ (abstentions count "
          "as errors; reported)"),
    Claim("certified_accuracy_radius_0.1", ">=", None, None,
          "its certified accuracy at L2 radius 0.1 (reported)"),
    Claim("smoothed_attack_above_certified_min", ">=", -0.02, None,
          "an attack on the smoothed classifier itself (SmoothAdv's PGD) never takes its "
          "accuracy below the certified accuracy at the attack's L2 radius, beyond the "
          "Monte-Carlo error of the smoothed answers (2 points): the certificate holds against "
          "an attacker who knows it"),
    Claim("standard_certified_accuracy_radius_0.1", ">=", None, None,
          "the same for the standard encoder, which never saw noise (reported)"),
]


#: ``settings(profile)`` (a copy) and ``check(metrics, profile)``
settings, check = chapter_functions(NAME, SETTINGS, CLAIMS)


@dataclass
class AdversarialSetup:
    """Chapter 09's world: the encoder, downstream tasks the attacker never sees (each with a
    linear probe), the attacker's own images (for the universal perturbation) and their mean
    feature (the attack's ``center``)."""

    settings: dict
    encoder: nn.Module
    tasks: dict[str, Splits]
    probes: dict[str, ProbeResult]
    attacker_x: torch.Tensor
    center: torch.Tensor

    def predictor(self, task: str) -> Callable[[torch.Tensor], torch.Tensor]:
        """Images → labels through the encoder and ``task``'s downstream classifier."""
        if task not in self.probes:
            raise ValueError(f"task={task!r} is unknown; allowed: {', '.join(self.probes)}")
        classifier = self.probes[task].classifier

        def predict(x: torch.Tensor) -> torch.Tensor:
            return classifier.predict(extract_features(self.encoder, x).to(classifier.mean))

        return predict

    def logits(self, task: str) -> Callable[[torch.Tensor], torch.Tensor]:
        """Images → ``task``'s logits, differentiable through the encoder and the head (the
        base classifier that an attacker on the smoothed classifier differentiates)."""
        if task not in self.probes:
            raise ValueError(f"task={task!r} is unknown; allowed: {', '.join(self.probes)}")
        classifier = self.probes[task].classifier
        self.encoder.eval()
        classifier.head.eval()

        def logits(x: torch.Tensor) -> torch.Tensor:
            features = self.encoder.encode(x).float()
            return classifier.head((features - classifier.mean.to(features.device))
                                   / classifier.std.to(features.device))

        return logits


def adversarial_setup(profile: Profile, seed: int = 0, noise_std: float = 0.0,
                      progress: bool = True) -> AdversarialSetup:
    """The profile's encoder (zoo) — pre-trained with additive Gaussian pixel noise of
    ``noise_std`` on half of the views when > 0, a hardening against random corruptions — a
    linear probe per downstream dataset of the profile, and ``n_attacker`` images of the
    pre-training pool for the attacker. Sizes come from :data:`SETTINGS`."""
    s = settings(profile.name)
    changes = {}
    if noise_std:
        changes["augment"] = dataclasses.replace(profile.augment, noise_std=noise_std)
    encoder = profile_encoder(profile, seed, progress, **changes).encoder
    tasks = {name: downstream_task(profile, name, seed=seed)
             for name in profile.downstream_datasets}
    probes = {name: evaluate_encoder(encoder, t["train"], t["test"], "linear",
                                     profile.probe_epochs, profile.device, seed)
              for name, t in tasks.items()}
    attacker_x = pools(profile.pretrain_dataset, seed=seed)["train"].x[: s["n_attacker"]]
    center = feature_center(encoder, attacker_x, device=profile.device)
    return AdversarialSetup(s, encoder, tasks, probes, attacker_x, center)


def adaptive_attacks(hardened: AdversarialSetup, standard: AdversarialSetup,
                     white_box: pd.DataFrame, device: str | torch.device = "auto",
                     seed: int = 0) -> pd.DataFrame:
    """The hardened encoder against attackers who know it, at the budget its PGD claim is read
    at (``hardened_epsilon``), on each task's first ``n_test`` test inputs: white-box PGD (read
    from ``white_box``, the chapter's table with columns ``task``, ``ε``, ``feature PGD``), EOT
    PGD over the hardening noise, transfer from ``standard``'s encoder and Square Attack. A long
    table: ``task``, ``ε``, ``attack``, ``fooling rate``."""
    s = hardened.settings
    eps = s["hardened_epsilon"]
    rows = []
    for task, splits in hardened.tasks.items():
        x, y = splits["test"].x[: s["n_test"]], splits["test"].y[: s["n_test"]]
        predict = hardened.predictor(task)
        here = white_box[(white_box["task"] == task) & np.isclose(white_box["ε"], eps)]
        crafted = {
            "EOT PGD": eot_feature_pgd(hardened.encoder, x, eps, s["hardened_noise_std"],
                                       s["pgd_steps"], s["eot_samples"], center=hardened.center,
                                       device=device, seed=seed),
            "transfer from the standard encoder": transfer_pgd(
                standard.encoder, x, eps, s["pgd_steps"], center=standard.center,
                device=device, seed=seed),
            "Square Attack (no gradient)": square_attack(
                hardened.encoder, x, eps, s["square_queries"], center=hardened.center,
                device=device, seed=seed)}
        rows.append({"task": task, "ε": eps, "attack": "white-box PGD",
                     "fooling rate": here["feature PGD"].item()})
        rows += [{"task": task, "ε": eps, "attack": name,
                  "fooling rate": fooling_rate(predict, x, adv, y)}
                 for name, adv in crafted.items()]
    return pd.DataFrame(rows)

