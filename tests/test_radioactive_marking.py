import numpy as np
import pytest
import torch
from torch import nn

from sslsec.attacks.radioactive_marking import (
    add_pattern,
    carrier_patterns,
    detect_marking,
    make_marking_key,
    mark_images,
    pattern_responses,
    psnr,
    rank_p_value,
)


class Flatten(nn.Module):
    def encode(self, x):
        return x.flatten(1)


class Tuned(nn.Module):
    """An encoder that learnt the carrier: one feature reads it, amplified."""

    def __init__(self, carrier):
        super().__init__()
        self.carrier = carrier.flatten()

    def encode(self, x):
        flat = x.flatten(1)
        return torch.cat([flat, 50 * (flat @ self.carrier)[:, None]], dim=1)


def digits(n, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.zeros(n, 1, 28, 28)
    x[:, :, 8:20, 10:18] = torch.rand(n, 1, 12, 8, generator=g)
    return x


def test_marks_stay_within_the_budget_and_psnr_is_right():
    key = make_marking_key(1, 28, 8 / 255, n_decoys=9, seed=3)
    x = digits(20)
    out, mask = mark_images(x, key, fraction=0.5, seed=1)
    assert mask.sum() == 10 and torch.equal(out[~mask], x[~mask])
    assert (out - x).abs().max() <= 8 / 255 + 1e-6 and out.min() >= 0 and out.max() <= 1
    db = psnr(x[mask], out[mask])
    assert torch.all(db >= 20 * np.log10(255 / 8) - 1e-4)
    assert torch.isinf(psnr(x, x)).all()
    assert carrier_patterns(4, 1, 28, seed=0).abs().max() < 1
    assert 0 <= key.secret <= 9 and key.n_decoys == 9


def test_an_encoder_that_learnt_the_carrier_is_flagged_and_an_innocent_is_not():
    key = make_marking_key(1, 28, 8 / 255, n_decoys=199, seed=0)
    probe = digits(16, 1)
    guilty = detect_marking(Tuned(key.carrier), probe, key, device="cpu")
    assert guilty.p_value == pytest.approx(1 / 200) and guilty.flagged(0.01)
    assert guilty.z_score > 3 and guilty.queries == 16 * 201
    # an encoder tuned to another pattern: the secret's rank is arbitrary, p is not small
    ps = [detect_marking(Tuned(key.patterns[(key.secret + k) % 200]), probe, key,
                         device="cpu").p_value for k in range(1, 6)]
    assert min(ps) > 0.01
    r = pattern_responses(Flatten(), probe, key.patterns[:3], key.epsilon, device="cpu")
    assert r.shape == (3,) and np.all(r >= -1e-6)


def test_bad_input_names_the_parameter():
    key = make_marking_key(1, 28, 8 / 255, n_decoys=9)
    for eps in (0, -0.1, 1.5):
        with pytest.raises(ValueError, match=f"epsilon={eps!r} must be in"):
            make_marking_key(1, 28, eps)
    for fraction in (0, -0.5, 1.01):
        with pytest.raises(ValueError, match=f"fraction={fraction!r} must be in"):
            mark_images(digits(4), key, fraction=fraction)
    with pytest.raises(ValueError, match=r"the key's patterns are \(1, 28, 28\) but the images "
                       r"are \(3, 28, 28\)"):
        mark_images(torch.rand(4, 3, 28, 28), key)
    with pytest.raises(ValueError, match="pattern has shape"):
        add_pattern(torch.rand(2, 1, 32, 32), key.carrier, 0.1)
    with pytest.raises(ValueError, match="probe holds 1 images"):
        detect_marking(Flatten(), digits(1), key)
    with pytest.raises(ValueError, match="original .* and changed .* must have one shape"):
        psnr(digits(2), torch.rand(2, 1, 32, 32))
    with pytest.raises(ValueError, match="n_decoys=0"):
        make_marking_key(1, 28, 0.1, n_decoys=0)


def test_the_rank_p_value_counts_the_patterns_at_least_as_responsive():
    r = np.array([0.1, 0.5, 0.3, 0.5])
    assert rank_p_value(r, 1) == pytest.approx(2 / 4)  # itself and the tie
    assert rank_p_value(r, 0) == 1.0 and rank_p_value(np.array([0.0, 9.0]), 1) == 0.5
    with pytest.raises(ValueError, match="secret=4 is not an index of the 4 responses"):
        rank_p_value(r, 4)
