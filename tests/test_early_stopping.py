import pytest

from sslsec.defenses.early_stopping import CurvePoint, PrivacyUtilityCurve, privacy_utility_curve
from sslsec.pretrain import PretrainConfig
from sslsec.profiles import AugmentConfig

WEAK = AugmentConfig(crop_scale=(0.85, 1.0), flip_p=0.0, jitter_strength=0.0, jitter_p=0.0,
                     grayscale_p=0.0, rotation_degrees=5.0)


def test_curve_has_a_point_per_checkpoint(digits):
    cfg = PretrainConfig(epochs=1, batch_size=32, augment=WEAK)
    task = {"train": digits[:200], "test": digits[200:300]}
    curve = privacy_utility_curve(digits.x[300:364], digits.x[364:428], task, cfg, [3, 1],
                                  n_views=3, probe_epochs=5, device="cpu", progress=False)
    assert [p.epoch for p in curve.points] == [1, 3]
    for p in curve.points:
        assert 0 <= p.membership_auc <= 1 and 0 <= p.probe_accuracy <= 1


def test_best_under_picks_the_most_accurate_private_point():
    curve = PrivacyUtilityCurve([CurvePoint(10, 0.55, 0.90), CurvePoint(50, 0.59, 0.93),
                                 CurvePoint(300, 0.80, 0.96)])
    assert curve.best_under(0.60).epoch == 50
    assert curve.best_under(0.5) is None


@pytest.mark.parametrize("checkpoints", [[], [0], [-5, 10]])
def test_bad_checkpoints(checkpoints, digits):
    with pytest.raises(ValueError, match="checkpoints="):
        privacy_utility_curve(digits.x[:8], digits.x[8:16], {"train": digits, "test": digits},
                              PretrainConfig(batch_size=4), checkpoints, device="cpu")


def test_task_needs_train_and_test(digits):
    with pytest.raises(ValueError, match="'train' and 'test'"):
        privacy_utility_curve(digits.x[:8], digits.x[8:16], {"train": digits},
                              PretrainConfig(batch_size=4), [1], device="cpu")
