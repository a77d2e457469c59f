import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from sslsec import zoo
from sslsec.defenses.early_stopping import CurvePoint, PrivacyUtilityCurve, privacy_utility_curve
from sslsec.models import build_encoder
from sslsec.pretrain import PretrainConfig
from sslsec.profiles import AugmentConfig

WEAK = AugmentConfig(crop_scale=(0.85, 1.0), flip_p=0.0, jitter_strength=0.0, jitter_p=0.0,
                     grayscale_p=0.0, rotation_degrees=5.0)


@pytest.fixture
def run(digits):
    """A 3-epoch run on 64 digits, as a spec and its images."""
    images = digits.x[300:364]
    spec = zoo.EncoderSpec("cnn28", 1, images.shape[-1],
                           PretrainConfig(epochs=3, batch_size=32, augment=WEAK), "digits n=64")
    return spec, images


def test_curve_has_a_point_per_snapshot(run, digits, isolated_cache):
    spec, images = run
    snapshots = zoo.train_snapshots_or_load(spec, images, [3, 1], device="cpu", progress=False)
    task = {"train": digits[:200], "test": digits[200:300]}
    curve = privacy_utility_curve(snapshots, images, digits.x[364:428], task, n_views=3,
                                  probe_epochs=5, device="cpu")
    assert [p.epoch for p in curve.points] == [1, 3]
    for p in curve.points:
        assert 0 <= p.membership_auc <= 1 and 0 <= p.probe_accuracy <= 1
        assert p.member_scores.shape == (64,) and p.nonmember_scores.shape == (64,)
        y = np.r_[np.ones(64), np.zeros(64)]
        assert np.isclose(roc_auc_score(y, np.r_[p.member_scores, p.nonmember_scores]),
                          p.membership_auc)


def test_at_auc_reads_the_curve_where_training_first_reaches_the_auc():
    curve = PrivacyUtilityCurve([CurvePoint(300, 0.80, 0.96), CurvePoint(10, 0.55, 0.90),
                                 CurvePoint(50, 0.59, 0.93), CurvePoint(100, 0.63, 0.95),
                                 CurvePoint(200, 0.58, 0.97)])
    point = curve.at_auc(0.60)  # between epochs 50 and 100, a quarter of the way in AUC
    assert np.isclose(point.epoch, 62.5) and point.membership_auc == 0.60
    assert np.isclose(point.probe_accuracy, 0.935)
    assert curve.at_auc(0.55).epoch == 10  # exactly at a checkpoint, before the next rises
    assert curve.at_auc(0.5) is None  # the first checkpoint already leaks more
    assert curve.at_auc(0.9).epoch == 300  # never reached: the fully trained encoder


@pytest.mark.parametrize("epochs", [[], [0], [-5, 10]])
def test_bad_snapshots(epochs, digits):
    entry = zoo.ZooEntry(build_encoder("cnn28", 1, digits.size), None, "k", None, None, False, None)
    with pytest.raises(ValueError, match="snapshots must map positive epoch numbers"):
        privacy_utility_curve({e: entry for e in epochs}, digits.x[:8], digits.x[8:16],
                              {"train": digits, "test": digits}, device="cpu")


def test_task_needs_train_and_test(digits):
    entry = zoo.ZooEntry(build_encoder("cnn28", 1, digits.size), None, "k", None, None, False, None)
    with pytest.raises(ValueError, match="'train' and 'test'"):
        privacy_utility_curve({1: entry}, digits.x[:8], digits.x[8:16], {"train": digits},
                              device="cpu")
