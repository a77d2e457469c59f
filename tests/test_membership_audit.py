import numpy as np
import pytest
import torch
from torch import nn

from sslsec.attacks.membership_audit import (
    audit_scores,
    calibrate,
    membership_audit,
    permutation_test,
    welch_test,
)
from sslsec.profiles import AugmentConfig

AUG = AugmentConfig(crop_scale=(0.6, 1.0), flip_p=0.0, jitter_strength=0.0, jitter_p=0.0,
                    grayscale_p=0.0, rotation_degrees=10.0)


class Flatten(nn.Module):
    """An 'encoder' whose features are the pixels: smooth images give stable views."""

    def encode(self, x):
        return x.flatten(1)


def smooth(n, seed):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, 1, 1, 1, generator=g) * 0.5 + 0.5).expand(n, 1, 28, 28).clone()


def noise(n, seed):
    return torch.rand(n, 1, 28, 28, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("test", ["welch", "permutation"])
def test_a_set_with_stable_views_is_flagged(test):
    r = membership_audit(Flatten(), smooth(30, 1), noise(30, 2), AUG, test=test, n_views=4,
                         n_permutations=999, device="cpu")
    assert r.flagged(0.01) and r.gap > 0 and r.test == test
    assert r.queries == 60 * 4 and len(r.owner_scores) == 30


def test_exchangeable_sets_are_not_flagged_and_p_is_uniform():
    ps = []
    rng = np.random.default_rng(0)
    for _ in range(120):
        a, b = rng.normal(size=30), rng.normal(size=30)
        ps.append((welch_test(a, b)[1], permutation_test(a, b, 199, seed=1)[1]))
    ps = np.array(ps)
    assert np.all((ps > 0) & (ps <= 1))
    assert np.all(np.abs(ps.mean(0) - 0.5) < 0.08)  # uniform p-values have mean 1/2
    assert np.all((ps < 0.05).mean(0) < 0.12)
    r = membership_audit(Flatten(), noise(30, 1), noise(30, 2), AUG, n_views=4, device="cpu")
    assert not r.flagged(0.01)


def test_permutation_p_never_below_its_resolution():
    a, b = np.ones(10) * 5, np.zeros(10)
    diff, p = permutation_test(a, b, 99, seed=0)
    assert diff == 5 and p == pytest.approx(1 / 100)


def test_bad_input_names_the_parameter():
    with pytest.raises(ValueError, match="owner holds 5 images; the test needs at least 20"):
        membership_audit(Flatten(), noise(5, 1), noise(30, 2), AUG, device="cpu")
    with pytest.raises(ValueError, match="reference holds 3 images"):
        membership_audit(Flatten(), noise(30, 1), noise(3, 2), AUG, device="cpu")
    with pytest.raises(ValueError, match=r"owner images are \(1, 28, 28\) but reference "
                       r"images are \(1, 32, 32\)"):
        membership_audit(Flatten(), noise(30, 1), torch.rand(30, 1, 32, 32), AUG, device="cpu")
    with pytest.raises(ValueError, match="test='ks' is unknown"):
        membership_audit(Flatten(), noise(30, 1), noise(30, 2), AUG, test="ks", device="cpu")
    with pytest.raises(ValueError, match="n_permutations=0"):
        permutation_test(np.ones(3), np.ones(3), 0)
    with pytest.raises(ValueError, match="suspect must have an encode method"):
        membership_audit(object(), noise(30, 1), noise(30, 2), AUG, device="cpu")


def test_calibration_removes_what_the_shadow_sees_and_keeps_the_gap():
    rng = np.random.default_rng(0)
    difficulty = rng.normal(size=200)  # the images' own spread, seen by both encoders
    member = np.r_[np.full(100, 0.2), np.zeros(100)]
    suspect = 2.0 * difficulty + member + 0.05 * rng.normal(size=200)
    shadow = difficulty + 0.05 * rng.normal(size=200)
    raw_p = welch_test(suspect[:100], suspect[100:])[1]
    owner, reference = calibrate((suspect[:100], suspect[100:]), (shadow[:100], shadow[100:]))
    assert owner.shape == reference.shape == (100,)
    assert owner.mean() - reference.mean() == pytest.approx(0.2, abs=0.05)
    assert welch_test(owner, reference)[1] < 1e-6 < raw_p


def test_calibration_keeps_the_level_on_exchangeable_sets():
    rng = np.random.default_rng(1)
    ps = []
    for _ in range(200):
        difficulty = rng.normal(size=60)
        suspect, shadow = difficulty + rng.normal(size=60), difficulty + rng.normal(size=60)
        ps.append(welch_test(*calibrate((suspect[:30], suspect[30:]),
                                        (shadow[:30], shadow[30:])))[1])
    assert abs(np.mean(ps) - 0.5) < 0.06 and np.mean(np.array(ps) < 0.05) < 0.1


def test_calibration_needs_scores_of_the_same_images():
    with pytest.raises(ValueError, match="3 suspect scores but 4 shadow scores"):
        calibrate((np.zeros(2), np.zeros(1)), (np.zeros(2), np.zeros(2)))


class Blurred(nn.Module):
    """A shadow that sees the images blurred: it agrees with ``Flatten`` on what is hard."""

    def encode(self, x):
        return torch.nn.functional.avg_pool2d(x, 3).flatten(1)


def test_a_calibrated_audit_says_so_and_a_shadow_without_encode_is_refused():
    r = membership_audit(Flatten(), smooth(30, 1), noise(30, 2), AUG, n_views=4, device="cpu",
                         calibration=Blurred())
    assert r.calibrated and len(r.owner_scores) == 30
    assert not membership_audit(Flatten(), smooth(30, 1), noise(30, 2), AUG, n_views=4,
                                device="cpu").calibrated
    with pytest.raises(ValueError, match="calibration must have an encode method"):
        membership_audit(Flatten(), smooth(30, 1), noise(30, 2), AUG, calibration=nn.Linear(2, 2))
    with pytest.raises(ValueError, match="shadow's scores of the 30 owner and 30 reference"):
        membership_audit(Flatten(), smooth(30, 1), noise(30, 2), AUG,
                         calibration=(np.zeros(30), np.zeros(29)))


def test_precomputed_shadow_scores_calibrate_like_the_shadow_itself():
    owner, reference = smooth(30, 1), noise(30, 2)
    scores = audit_scores(Blurred(), owner, reference, AUG, 4, device="cpu")
    by_model = membership_audit(Flatten(), owner, reference, AUG, n_views=4, device="cpu",
                                calibration=Blurred())
    by_scores = membership_audit(Flatten(), owner, reference, AUG, n_views=4, device="cpu",
                                 calibration=scores)
    assert by_model.p_value == by_scores.p_value and by_scores.calibrated
