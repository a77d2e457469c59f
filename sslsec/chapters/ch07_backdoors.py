"""Chapter 07, backdoors: a malicious provider plants a trigger in the encoder it releases.

The book's backdoor problem: BadEncoder fine-tunes a clean encoder so that any input carrying a
small patch lands in the attacker's class of a downstream task, while clean accuracy stays; the
defender, with no labels and no downstream task, recovers a trigger per encoder (DECREE) and
flags the encoders whose trigger is small. The chapter decides the attacker's shadow images and
references, BadEncoder's training, the downstream classifier, the backdoors of its main table
and of its detection population, and DECREE's search; it builds that world
(:func:`backdoor_setup`, on chapter 06's victim and independent encoders) and claims that the
backdoors work, stay stealthy, and are detected.
"""

from __future__ import annotations

import torch

from sslsec.attacks.badencoder import BackdoorSetup
from sslsec.chapters._common import chapter_functions
from sslsec.chapters.ch06_parameter_stealing import others_encoders, stealing_setup
from sslsec.claims import Claim
from sslsec.data import downstream_task
from sslsec.profiles import Profile

NAME = "07_backdoors"

SETTINGS: dict[str, dict] = {
    # shadow images per query pool; BadEncoder's training; the downstream classifier;
    # the backdoors of the main table (task, target, corner, pattern) and of the detection
    # population (clean encoder, task, target, corner, pattern); DECREE's search
    "smoke": {"n_shadow": 64, "n_references": 2, "trigger_size": 4, "epochs": 1,
              "lr": 1e-3, "batch_size": 64, "probe": "mlp", "probe_epochs": 10,
              "main": [["mnist5k", 0, "bottom-right", "white"],
                       ["digits", 1, "top-left", "checkerboard"]],
              "population": [["mnist5k, seed 1", "mnist5k", 3, "top-right", "white"]],
              "decree": {"steps": 10, "batch_size": 32, "threshold": 0.95, "lr": 0.1}},
    "laptop": {"n_shadow": 600, "n_references": 3, "trigger_size": 4, "epochs": 40,
               "lr": 1e-3, "batch_size": 128, "probe": "mlp", "probe_epochs": 100,
               "main": [["mnist5k", 0, "bottom-right", "white"],
                        ["digits", 1, "top-left", "checkerboard"]],
               "population": [["mnist5k, seed 1", "mnist5k", 3, "top-right", "white"],
                              ["mnist5k, seed 2", "digits", 7, "bottom-left",
                               "checkerboard"],
                              ["digits, seed 0", "mnist5k", 5, "bottom-left", "white"],
                              ["digits, seed 1", "digits", 9, "top-right",
                               "checkerboard"]],
               "decree": {"steps": 200, "batch_size": 64, "threshold": 0.95, "lr": 0.1}},
    "paper": {"n_shadow": 5000, "n_references": 3, "trigger_size": 10, "epochs": 200,
              "lr": 1e-4, "batch_size": 256, "probe": "mlp", "probe_epochs": 100,
              "main": [["stl10", 9, "bottom-right", "white"],
                       ["svhn", 1, "bottom-right", "white"],
                       ["gtsrb", 12, "bottom-right", "white"]],
              "population": [["cifar10, seed 1", "stl10", 3, "top-right", "white"],
                             ["cifar10, seed 2", "svhn", 7, "bottom-left", "checkerboard"],
                             ["stl10, seed 0", "gtsrb", 5, "bottom-left", "white"],
                             ["stl10, seed 1", "stl10", 9, "top-right", "checkerboard"]],
              "decree": {"steps": 1000, "batch_size": 128, "threshold": 0.95,
                         "lr": 0.1}},
    # the paper's tasks, targets and 10-pixel triggers at smoke sizes; the independent
    # encoders are chapter 06's papersmoke ones (CIFAR-10 seed 1, STL-10 seed 0)
    "papersmoke": {"n_shadow": 64, "n_references": 2, "trigger_size": 10, "epochs": 1,
                   "lr": 1e-4, "batch_size": 64, "probe": "mlp", "probe_epochs": 10,
                   "main": [["stl10", 9, "bottom-right", "white"],
                            ["svhn", 1, "bottom-right", "white"],
                            ["gtsrb", 12, "bottom-right", "white"]],
                   "population": [["cifar10, seed 1", "stl10", 3, "top-right", "white"],
                                  ["stl10, seed 0", "gtsrb", 5, "bottom-left",
                                   "checkerboard"]],
                   "decree": {"steps": 10, "batch_size": 32, "threshold": 0.95, "lr": 0.1}},
}

CLAIMS: list[Claim] = [
    Claim("asr_min_task", ">=", 0.95, 0.95,
          "triggered inputs land in the attacker's class on every targeted downstream task"),
    Claim("ca_minus_ba_max_task", "<=", 0.02, 0.02,
          "while clean accuracy with the backdoored encoder stays within 2 points of the "
          "clean encoder's"),
    Claim("asr_baseline_max_task", "<=", None, None,
          "the same triggers with the clean encoder (reported: the baseline)"),
    Claim("detection_auroc", ">=", 0.9, 0.9,
          "the recovered trigger's size tells backdoored from clean encoders, without "
          "labels or downstream tasks"),
    Claim("population_size", ">=", 12, None,
          "over at least 6 clean and 6 backdoored encoders", stable=True),
    Claim("median_pl1_clean", ">=", None, None,
          "median share of the image of a clean encoder's collapsing mask (reported)"),
    Claim("median_pl1_backdoored", "<=", None, None,
          "the same for backdoored encoders (reported)"),
]


#: ``settings(profile)`` (a copy) and ``check(metrics, profile)``
settings, check = chapter_functions(NAME, SETTINGS, CLAIMS)


def backdoor_setup(profile: Profile, seed: int = 0, progress: bool = True) -> BackdoorSetup:
    """Shadow images: held-out images of the pre-training distribution and unlabelled images of
    the profile's other distribution (chapter 06's query pools, ``n_shadow`` of each); clean
    encoders: ``"standard"`` plus chapter 06's independent encoders; the defender's images: the
    held-out images of the pre-training distribution no one trained on (chapter 06's
    ``held_out``). Sizes from :data:`SETTINGS`."""
    s = settings(profile.name)
    world = stealing_setup(profile, seed, progress)
    pools = world.query_pools
    shadow = torch.cat([pool.x[: s["n_shadow"]] for pool in pools.values()])
    clean = {"standard": world.victim} | others_encoders(profile, world, progress)
    tasks = {name: downstream_task(profile, name, seed=seed)
             for name in profile.downstream_datasets}
    return BackdoorSetup(s, tasks, shadow, clean, world.held_out.x)
