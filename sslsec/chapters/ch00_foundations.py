"""Chapter 00, foundations: contrastive pre-training (SimCLR) and how its features are used.

No attack yet: the chapter pre-trains the profile's standard encoder, the one most later
chapters attack, and decides what that encoder must show before anything else is built on it —
linearly separable features, transfer to a dataset it never saw, a clear gain over a random
encoder. It has no sizes of its own: the profile decides them.
"""

from __future__ import annotations

from sslsec.chapters._common import chapter_functions
from sslsec.claims import Claim

NAME = "00_foundations"

#: no sizes of its own: the profile's
SETTINGS: dict[str, dict] = {"smoke": {}, "laptop": {}, "paper": {}, "papersmoke": {}}

CLAIMS: list[Claim] = [
    Claim("linear_probe_first_task", ">=", 0.94, 0.85,
          "SimCLR features make the first downstream task's held-out images linearly "
          "separable (MNIST on a laptop, STL-10 in the paper setting)"),
    Claim("linear_probe_second_task", ">=", 0.90, None,
          "the encoder transfers to a second dataset it never saw (UCI digits; SVHN)"),
    Claim("probe_gain_over_random", ">=", 0.02, 0.3,
          "pre-training beats a random encoder of the same architecture"),
    Claim("mlp_probe_first_task", ">=", 0.94, None,
          "an MLP head (two hidden layers) on the same features does as well"),
    Claim("knn_gain_over_random", ">=", 0.05, None,
          "pre-training puts images of one class close together (kNN, no training)"),
]


#: ``settings(profile)`` (a copy) and ``check(metrics, profile)``
settings, check = chapter_functions(NAME, SETTINGS, CLAIMS)
