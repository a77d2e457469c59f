import numpy as np
import pytest
import torch
from torch import nn

from sslsec.attacks.dov4cl import (
    binary_instability,
    dov4cl,
    gap_test,
    relation_views,
    unary_relations,
)
from sslsec.attacks.encodermi import view_features
from sslsec.profiles import AugmentConfig

AUG = AugmentConfig(crop_scale=(0.6, 1.0), flip_p=0.0, jitter_strength=0.0, jitter_p=0.0,
                    grayscale_p=0.0, rotation_degrees=10.0)


class Flatten(nn.Module):
    def encode(self, x):
        return x.flatten(1)


class Memoriser(nn.Module):
    """Maps the 'member' images (mean pixel above 0.6) to a fixed feature whatever the view:
    perfect unary and binary stability on them, pixels elsewhere."""

    def encode(self, x):
        flat = x.flatten(1)
        member = (x.mean((1, 2, 3)) > 0.6).float()[:, None]
        fixed = torch.ones_like(flat) + torch.arange(len(flat))[:, None] * 0.0
        return member * fixed + (1 - member) * (flat - flat.mean(1, keepdim=True))


def members(n, seed):
    g = torch.Generator().manual_seed(seed)
    return (0.7 + 0.3 * torch.rand(n, 1, 28, 28, generator=g)).clamp(0, 1)


def noise(n, seed):
    return 0.5 * torch.rand(n, 1, 28, 28, generator=torch.Generator().manual_seed(seed))


def test_relations_shapes_and_identity():
    x = noise(6, 0)
    g = view_features(Flatten(), x, AUG.scaled(0.0), 3, device="cpu")
    assert g.shape == (6, 3, 784)
    u = unary_relations(g, g)
    assert u.shape == (6, 3) and torch.allclose(u, torch.ones_like(u), atol=1e-5)
    assert binary_instability(g) == pytest.approx(0.0, abs=1e-6)


def test_a_suspect_that_memorised_the_owner_set_is_flagged():
    r = dov4cl(Memoriser(), Flatten(), members(64, 1), noise(64, 2), AUG, group_size=8,
               n_global=2, n_local=3, device="cpu")
    assert r.flagged(0.01) and r.gap > 0 and r.unary_gap > 0
    assert len(r.suspect_gaps) == len(r.shadow_gaps) == 8
    assert r.queries == 8 * 8 * 2 * 5


def test_the_shadow_itself_is_not_flagged_and_innocents_look_uniform():
    same = dov4cl(Flatten(), Flatten(), noise(32, 1), noise(32, 2), AUG, group_size=8,
                  device="cpu")
    assert same.p_value == 0.5 and same.gap == 0
    ps = [dov4cl(Flatten(), Memoriser(), noise(48, 3 + s), noise(48, 100 + s), AUG,
                 group_size=8, n_global=2, n_local=2, device="cpu", seed=s).p_value
          for s in range(5)]
    assert min(ps) > 0.01


def test_bad_input_names_the_parameter():
    with pytest.raises(ValueError, match="owner holds 10 images; the test needs at least 32"):
        dov4cl(Flatten(), Flatten(), noise(10, 1), noise(40, 2), AUG, group_size=16,
               device="cpu")
    with pytest.raises(ValueError, match=r"owner images are \(1, 28, 28\) but reference"):
        dov4cl(Flatten(), Flatten(), noise(40, 1), torch.rand(40, 3, 28, 28), AUG,
               device="cpu")
    with pytest.raises(ValueError, match="group_size=1 must be at least 2"):
        dov4cl(Flatten(), Flatten(), noise(40, 1), noise(40, 2), AUG, group_size=1)
    with pytest.raises(ValueError, match="local_scale"):
        dov4cl(Flatten(), Flatten(), noise(40, 1), noise(40, 2), AUG, local_scale=(0.5, 0.2))
    with pytest.raises(ValueError, match="shadow must have an encode method"):
        dov4cl(Flatten(), None, noise(40, 1), noise(40, 2), AUG)
    assert np.isfinite(dov4cl(Flatten(), Memoriser(), noise(32, 1), noise(32, 2), AUG,
                              group_size=16, device="cpu").t_statistic)


def test_the_gap_test_is_one_sided_and_handles_constant_differences():
    assert gap_test(np.array([1.0, 1.2, 1.1, 1.3]), np.zeros(4))[1] < 0.01
    assert gap_test(np.zeros(4), np.array([1.0, 1.2, 1.1, 1.3]))[1] > 0.99
    assert gap_test(np.ones(3), np.ones(3)) == (0.0, 0.5)
    assert gap_test(np.ones(3), np.zeros(3))[1] == 0.0


def test_relation_views_shapes():
    g, loc = relation_views(Flatten(), noise(5, 0), AUG, 2, 3, (0.2, 0.5), device="cpu")
    assert g.shape == (5, 2, 784) and loc.shape == (5, 3, 784)
