import numpy as np
import pytest
import torch

from sslsec.attacks.property_inference import (
    fit_meta_classifier,
    probe_gram,
    property_inference,
    property_sample,
)
from sslsec.chapters.ch04_attribute_and_property_inference import property_setup
from sslsec.models import SmallCNN


def test_probe_gram_is_invariant_to_rotating_the_feature_space(mnist):
    torch.manual_seed(0)
    encoder = SmallCNN().eval()
    rotation, _ = torch.linalg.qr(torch.randn(encoder.feature_dim, encoder.feature_dim))

    class Rotated(torch.nn.Module):
        def encode(self, x):
            return encoder.encode(x) @ rotation

    probe = mnist.x[:12]
    gram = probe_gram(encoder, probe, "cpu")
    assert gram.shape == (12 * 11 // 2,)
    assert np.allclose(gram, probe_gram(Rotated(), probe, "cpu"), atol=1e-5)
    assert not np.allclose(gram, probe_gram(SmallCNN().eval(), probe, "cpu"), atol=1e-3)


def test_property_sample_has_the_asked_share(mnist):
    s = property_sample(mnist, target_class=3, fraction=0.25, n=80, seed=0)
    assert len(s) == 80 and int((s.y == 3).sum()) == 20
    again = property_sample(mnist, 3, 0.25, 80, seed=0)
    assert torch.equal(s.x, again.x)


def test_meta_classifier_separates_separable_descriptions():
    rng = np.random.default_rng(0)
    levels = np.tile([0, 1], 12)
    desc = rng.normal(size=(24, 30)) + 2.0 * levels[:, None]
    victims = np.tile([0, 1], 5)
    vdesc = rng.normal(size=(10, 30)) + 2.0 * victims[:, None]
    result = property_inference(desc, levels, vdesc, victims, n_shadows=[2, 8], n_draws=3)
    assert result.accuracy == 1.0
    assert result.n_shadows == [2, 8, 24]
    assert result.curve_mean[-1] == 1.0 and len(result.curve_std) == 3
    # labels carried by nothing: chance, not better
    shuffled = property_inference(rng.normal(size=(24, 30)), levels,
                                  rng.normal(size=(10, 30)), victims)
    assert shuffled.accuracy < 1.0


def test_property_setup_smoke(smoke):
    setup = property_setup(smoke, seed=0, progress=False)
    s = setup.settings
    assert setup.shadow_descriptions.shape[0] == s["n_shadows"]
    assert setup.victim_descriptions.shape[0] == s["n_victims"]
    n_probe = s["probe_target"] + s["probe_other"]
    assert setup.shadow_descriptions.shape[1] == n_probe * (n_probe - 1) // 2
    assert sorted(setup.example_sets) == s["fractions"]
    assert set(setup.shadow_levels) == {0, 1}


@pytest.mark.parametrize("kwargs, match", [
    ({"fraction": 1.5}, "fraction="),
    ({"n": 10_000}, "the pool has"),
])
def test_property_sample_bad_input(mnist, kwargs, match):
    args = {"target_class": 0, "fraction": 0.5, "n": 10, "seed": 0} | kwargs
    with pytest.raises(ValueError, match=match):
        property_sample(mnist, **args)


def test_meta_classifier_bad_input():
    with pytest.raises(ValueError, match="at least two property levels"):
        fit_meta_classifier(np.zeros((4, 3)), np.zeros(4))
    with pytest.raises(ValueError, match="one level each"):
        fit_meta_classifier(np.zeros((4, 3)), np.zeros(3))
    with pytest.raises(ValueError, match="same probe set"):
        property_inference(np.zeros((4, 3)), np.array([0, 1, 0, 1]), np.zeros((2, 5)),
                           np.array([0, 1]))
    with pytest.raises(ValueError, match="n_shadows=3"):
        property_inference(np.random.rand(4, 3), np.array([0, 1, 0, 1]), np.random.rand(2, 3),
                           np.array([0, 1]), n_shadows=[3])


def test_probe_gram_needs_two_images(mnist):
    with pytest.raises(ValueError, match="at least 2"):
        probe_gram(SmallCNN(), mnist.x[:1], "cpu")
