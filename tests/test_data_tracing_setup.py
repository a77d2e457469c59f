"""Chapter 01's set-up helpers: a trainer's pre-training set and its bad input."""

import dataclasses
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from scipy import stats
from torch import nn

from sslsec.attacks.membership_audit import membership_audit
from sslsec.attacks.radioactive_marking import detect_marking, make_marking_key
from sslsec.chapters import ch01_data_tracing as chapter
from sslsec.pretrain import PretrainConfig


def fake_world(n_owner=8, n_filler=40):
    original = torch.rand(n_owner, 1, 28, 28)
    return chapter.TracingSetup(
        chapter.settings("smoke"), original, original + 0.0, torch.zeros(n_owner, dtype=bool),
        make_marking_key(1, 28, 0.1, 9), torch.rand(8, 1, 28, 28), torch.rand(4, 1, 28, 28),
        torch.rand(n_filler, 1, 28, 28), None, None, PretrainConfig(), None, 0.0, {},
        torch.rand(4, 1, 28, 28))


def test_the_owner_makes_up_its_share_of_the_pretraining_set():
    world = fake_world()
    assert len(chapter.pretraining_images(world, 1.0)) == 8
    x = chapter.pretraining_images(world, 0.25)
    assert len(x) == 32 and torch.equal(x[:8], world.released)
    assert torch.equal(chapter.pretraining_images(world, 0.5, clean=True)[:8], world.original)


@pytest.mark.parametrize("share", [0, -0.1, 1.5])
def test_a_share_outside_the_unit_interval_is_refused(share):
    with pytest.raises(ValueError, match=f"share={share!r} must be in"):
        chapter.pretraining_images(fake_world(), share)


def test_a_share_that_needs_more_images_than_the_pool_is_refused():
    with pytest.raises(ValueError, match="needs 72 other images; only 40"):
        chapter.pretraining_images(fake_world(), 0.1)


class Conv(nn.Module):
    """A small random convolutional encoder: an innocent that saw none of the images."""

    def __init__(self, seed):
        super().__init__()
        torch.manual_seed(seed)
        self.net = nn.Sequential(nn.Conv2d(1, 4, 5, stride=2), nn.ReLU(), nn.AdaptiveAvgPool2d(4),
                                 nn.Flatten())

    def encode(self, x):
        return self.net(x)


def audit_world(n_owner=32):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2 * n_owner + 8, 1, 28, 28, generator=g)
    world = fake_world()
    return dataclasses.replace(world, original=x[:n_owner], reference=x[n_owner:2 * n_owner],
                               probe=x[2 * n_owner:], shadow=SimpleNamespace(encoder=Conv(1)))


def test_innocent_p_values_over_fresh_owners_are_uniform():
    world = audit_world()
    both = chapter.null_p_values(world, {"a": Conv(2), "b": Conv(3)}, PretrainConfig().augment,
                                 80, "cpu", seed=0)
    assert set(both) == {"a", "b"}
    p = both["a"]
    assert set(p) == {"membership audit", "DOV4CL", "marking"}
    for method, values in p.items():
        assert values.shape == (80,) and np.all((values > 0) & (values <= 1)), method
        assert abs(values.mean() - 0.5) < 0.12, method
        assert stats.kstest(values, "uniform").pvalue > 0.001, method
    assert np.allclose(p["marking"] * 10, np.round(p["marking"] * 10))  # 10 patterns: k / 10


def test_null_draws_need_a_positive_count_and_an_encoder():
    with pytest.raises(ValueError, match="n_draws"):
        chapter.null_p_values(audit_world(), {"a": Conv(2)}, PretrainConfig().augment, 0, "cpu")
    with pytest.raises(ValueError, match="suspect 'x' must have an encode method"):
        chapter.null_p_values(audit_world(), {"x": nn.Linear(2, 2)}, PretrainConfig().augment, 3,
                              "cpu")


def test_null_draws_reuse_the_audits_scores_and_responses_exactly():
    world, suspect, aug = audit_world(), Conv(2), PretrainConfig().augment
    audits = {"a": {
        "membership audit": membership_audit(suspect, world.original, world.reference, aug,
                                             n_views=world.settings["n_views"], device="cpu",
                                             calibration=world.shadow.encoder),
        "marking": detect_marking(suspect, world.probe, world.key, "cpu")}}
    fresh = chapter.null_p_values(world, {"a": suspect}, aug, 20, "cpu")
    reused = chapter.null_p_values(world, {"a": suspect}, aug, 20, "cpu", audits=audits)
    for method in fresh["a"]:
        np.testing.assert_allclose(reused["a"][method], fresh["a"][method], rtol=1e-6)


def test_the_wider_trainers_keep_the_recipe_and_budget_with_more_channels(tmp_path, monkeypatch):
    monkeypatch.setenv("SSLSEC_CACHE", str(tmp_path))
    from sslsec.profiles import get_profile

    profile = get_profile("smoke", device="cpu")
    world = dataclasses.replace(fake_world(n_owner=8, n_filler=40),
                                leaky_recipe=PretrainConfig(epochs=1, batch_size=8))
    world.settings.update(budget=64, widths=[8, 24], wide_shares=[0.5, 0.25])
    wider = chapter.wider_trainers(profile, world, progress=False)
    assert sorted(wider) == [(8, 0.25), (8, 0.5), (24, 0.25), (24, 0.5)]
    for (width, share), entry in wider.items():
        assert chapter.channels(entry.encoder) == width
        assert entry.spec.arch == f"cnn28-w{width}"
        assert entry.spec.pretrain.epochs == 64 // round(8 / share)  # the same image passes
    assert chapter.channels(chapter.trainer_encoder(profile, world, 0.5, progress=False)
                            .encoder) == 16


def test_channels_needs_a_convolution():
    with pytest.raises(ValueError, match="no convolution"):
        chapter.channels(nn.Linear(4, 4))
