import numpy as np
import pytest
import torch
from torch import nn

from sslsec.attacks.encodermi import encodermi, naive_baseline, tpr_at_fpr, view_similarities
from sslsec.profiles import AugmentConfig

AUG = AugmentConfig(crop_scale=(0.6, 1.0), flip_p=0.0, jitter_strength=0.0, jitter_p=0.0,
                    grayscale_p=0.0, rotation_degrees=10.0)


class Flatten(nn.Module):
    """An 'encoder' whose features are the pixels: smooth images give stable views."""

    in_channels = 1

    def encode(self, x):
        return x.flatten(1)

    def forward(self, x):
        return self.encode(x)


def smooth(n, seed):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, 1, 1, 1, generator=g) * 0.5 + 0.5).expand(n, 1, 28, 28).clone()


def noise(n, seed):
    return torch.rand(n, 1, 28, 28, generator=torch.Generator().manual_seed(seed))


def test_view_similarities_shape_order_and_identity():
    x = noise(6, 0)
    s = view_similarities(Flatten(), x, AUG, n_views=5, device="cpu")
    assert s.shape == (6, 10)
    assert torch.all(s[:, :-1] >= s[:, 1:]) and s.abs().max() <= 1 + 1e-5
    same = view_similarities(Flatten(), x, AUG.scaled(0.0), n_views=3, device="cpu")
    assert torch.allclose(same, torch.ones_like(same), atol=1e-5)


@pytest.mark.parametrize("variant", ["threshold", "vector", "set"])
def test_members_with_stable_views_are_found(variant):
    # "members": images whose views the encoder maps to similar features; "non-members": not.
    result = encodermi(Flatten(), smooth(40, 1), noise(40, 2), Flatten(), smooth(40, 3),
                       noise(40, 4), AUG, variant=variant, n_views=4, device="cpu")
    assert result.auc > 0.95 and result.accuracy > 0.9
    assert 0 <= result.tpr_at_1pct_fpr <= 1 and len(result.fpr) == len(result.tpr)
    assert len(result.member_scores) == 40


def test_indistinguishable_sets_give_chance_auc():
    result = encodermi(Flatten(), noise(60, 1), noise(60, 2), Flatten(), noise(60, 3),
                       noise(60, 4), AUG, n_views=4, device="cpu")
    assert 0.3 < result.auc < 0.7


def test_naive_baseline_is_labelled():
    r = naive_baseline(Flatten(), smooth(10, 1), noise(10, 2), Flatten(), smooth(10, 3),
                       noise(10, 4), AUG, device="cpu")
    assert r.variant.startswith("naive") and np.isfinite(r.auc)


@pytest.mark.parametrize("kwargs, message", [
    ({"variant": "likelihood"}, r"variant='likelihood'.*allowed: threshold, vector, set"),
    ({"n_views": 1}, r"n_views=1"),
])
def test_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        encodermi(Flatten(), smooth(4, 1), noise(4, 2), Flatten(), smooth(4, 3), noise(4, 4),
                  AUG, device="cpu", **kwargs)


def test_empty_members_rejected():
    with pytest.raises(ValueError, match="members is empty"):
        encodermi(Flatten(), smooth(0, 1), noise(4, 2), Flatten(), smooth(4, 3), noise(4, 4),
                  AUG, device="cpu")


def test_queries_do_not_disturb_the_callers_random_stream():
    import torch as t

    t.manual_seed(5)
    expected = t.rand(3)
    t.manual_seed(5)
    view_similarities(Flatten(), noise(4, 0), AUG, n_views=3, device="cpu", seed=1)
    assert t.equal(t.rand(3), expected)


def test_membership_setup_draws_disjoint_pools_and_both_encoders():
    from sslsec.chapters.ch02_membership_inference import membership_setup
    from sslsec.profiles import get_profile

    setup = membership_setup(get_profile("smoke", device="cpu"), seed=0, progress=False)
    rows = {name: {r.numpy().tobytes() for r in part.x} for name, part in setup.parts.items()}
    names = list(rows)
    assert all(not rows[a] & rows[b] for a in names for b in names if a < b)
    assert setup.victim.key != setup.shadow.key
    assert setup.shadow.spec.pretrain.seed == setup.victim.spec.pretrain.seed + 1


def test_tpr_at_fpr_reads_the_roc_without_interpolating():
    nonmembers = np.arange(100, dtype=float)  # scores 0 .. 99
    members = np.array([99.5, 98.5, 97.5, 50.0])
    # FPR <= 1 %: only the threshold above 98 flags at most one non-member -> 2 of 4 members
    assert tpr_at_fpr(members, nonmembers, 0.01) == pytest.approx(0.5)
    assert tpr_at_fpr(members, nonmembers, 0.02) == pytest.approx(0.75)
    assert tpr_at_fpr(members, nonmembers, 0.5) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="cannot resolve"):
        tpr_at_fpr(members, nonmembers[:64], 0.01)  # 1/64 > 1 %
    with pytest.raises(ValueError, match="fpr="):
        tpr_at_fpr(members, nonmembers, 0.0)
