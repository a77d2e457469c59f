import random

import numpy as np
import torch

from sslsec.seed import seed_everything


def draws():
    return random.random(), float(np.random.rand()), float(torch.rand(1))


def test_same_seed_same_draws_other_seed_other_draws():
    seed_everything(3)
    a = draws()
    seed_everything(3)
    b = draws()
    seed_everything(4)
    c = draws()
    assert a == b
    assert a != c


def test_returns_a_seeded_generator():
    g1, g2 = seed_everything(7), seed_everything(7)
    assert torch.equal(torch.randperm(50, generator=g1), torch.randperm(50, generator=g2))
