import numpy as np
import pytest
import torch

from sslsec.attacks.lira import likelihood_ratio, lira, shadow_splits
from tests.test_encodermi import AUG, Flatten, noise, smooth


def test_shadow_splits_put_each_candidate_in_half_of_the_shadows():
    split = shadow_splits(101, 8, seed=3)
    assert split.shape == (8, 101) and split.dtype == bool
    assert (split.sum(axis=0) == 4).all()
    assert np.abs(split.sum(axis=1) - 50.5).max() < 15
    assert (split != shadow_splits(101, 8, seed=4)).any()
    with pytest.raises(ValueError, match="must be even"):
        shadow_splits(10, 3)


def _world(seed=0, n=400, shadows=16, shift=0.3, spread=0.1):
    """Candidates of very different difficulty (a per-candidate offset, std 1) whose score
    rises by ``shift`` when they are trained on."""
    rng = np.random.default_rng(seed)
    difficulty = rng.normal(0, 1, n)
    inside = shadow_splits(n, shadows, seed)
    shadow_scores = difficulty + shift * inside + rng.normal(0, spread, inside.shape)
    member = rng.random(n) < 0.5
    target = difficulty + shift * member + rng.normal(0, spread, n)
    return target, shadow_scores, inside, member


@pytest.mark.parametrize("online", [True, False])
@pytest.mark.parametrize("fixed_variance", [True, False])
def test_per_example_calibration_finds_members_a_global_threshold_misses(online,
                                                                       fixed_variance):
    from sklearn.metrics import roc_auc_score

    target, shadow_scores, inside, member = _world()
    raw_auc = roc_auc_score(member, target)
    calibrated = likelihood_ratio(target, shadow_scores, inside, online, fixed_variance)
    assert raw_auc < 0.7  # the candidates' difficulty drowns the membership shift
    assert roc_auc_score(member, calibrated) > 0.93


def test_nothing_to_find_gives_chance():
    from sklearn.metrics import roc_auc_score

    target, shadow_scores, inside, member = _world(shift=0.0)
    auc = roc_auc_score(member, likelihood_ratio(target, shadow_scores, inside))
    assert 0.4 < auc < 0.6


def test_lira_is_not_fooled_by_easy_images():
    """Smooth images have stable views on any encoder: a global threshold on EncoderMI's score
    "finds" them as members. An encoder that memorised nothing (every shadow the same as the
    victim) gives LiRA nothing: chance."""
    x = torch.cat([smooth(20, 0), noise(20, 1)])
    truth = np.r_[np.ones(20, bool), np.zeros(20, bool)]
    split = shadow_splits(40, 4)
    result = lira(Flatten(), x, truth, [Flatten() for _ in range(4)], split, AUG, n_views=4,
                  fpr=0.1, device="cpu")
    assert result.raw_auc > 0.95
    assert result.auc == pytest.approx(0.5) and result.tpr_at_fpr < 0.2
    assert result.scores.shape == (40,) and result.online


@pytest.mark.parametrize("kwargs, message", [
    ({"is_member": np.ones(8, bool)}, "some, not all"),
    ({"shadow_in": np.ones((3, 8), bool)}, "expected"),
])
def test_bad_input(kwargs, message):
    x = noise(8, 0)
    args = {"victim": Flatten(), "candidates": x, "is_member": np.r_[np.ones(4), np.zeros(4)],
            "shadows": [Flatten(), Flatten()], "shadow_in": shadow_splits(8, 2),
            "augment": AUG, "n_views": 2, "fpr": 0.25, "device": "cpu"} | kwargs
    with pytest.raises(ValueError, match=message):
        lira(**args)
    with pytest.raises(ValueError, match="do not match"):
        likelihood_ratio(np.zeros(3), np.zeros((2, 4)), np.zeros((2, 4), bool))
