import numpy as np
import pytest
import torch

from sslsec.attacks.attribute_inference import (
    attribute_inference,
    attribute_levels,
    image_attribute,
    slant,
    stroke_thickness,
    tradeoff_point,
)
from sslsec.chapters.ch04_attribute_and_property_inference import attribute_setup
from sslsec.models import SmallCNN


def bar(width: int, lean: int = 0) -> torch.Tensor:
    """A vertical stroke of ``width`` pixels whose top is shifted right by ``lean`` pixels."""
    img = torch.zeros(1, 28, 28)
    for row in range(4, 24):
        shift = round(lean * (24 - row) / 20)
        img[0, row, 12 + shift:12 + shift + width] = 1.0
    return img


def test_thickness_grows_with_the_stroke():
    t = stroke_thickness(torch.stack([bar(1), bar(3), bar(5)]))
    assert t[0] < t[1] < t[2]
    assert stroke_thickness(torch.zeros(1, 1, 28, 28))[0] == 0


def test_slant_sign_follows_the_lean():
    s = slant(torch.stack([bar(3, -6), bar(3), bar(3, 6)]))
    assert s[0] < -0.1 and abs(s[1]) < 1e-6 and s[2] > 0.1


def test_levels_are_balanced_within_every_class():
    rng = np.random.default_rng(0)
    classes = np.repeat([0, 1], 300)
    values = rng.normal(size=600) + 5 * classes  # the raw value says the class ...
    levels = attribute_levels(values, classes, 3)
    for c in (0, 1):  # ... its within-class level does not
        assert np.bincount(levels[classes == c]).tolist() == [100, 100, 100]


def test_an_informative_embedding_beats_the_prior(mnist):
    x, y = mnist.x[:600], mnist.y[:600]
    levels = image_attribute(x, y, "thickness", 2)

    class Thickness(torch.nn.Module):  # an "encoder" whose feature is the attribute itself
        def encode(self, images):
            return torch.as_tensor(stroke_thickness(images), dtype=torch.float32)[:, None]

    res = attribute_inference(Thickness(), x[:400], levels[:400], x[400:], levels[400:],
                              "linear", "cpu")
    assert res.accuracy > 0.85 and 0.45 < res.prior < 0.6
    kernel = attribute_inference(Thickness(), x[:400], levels[:400], x[400:], levels[400:],
                                 "kernel", "cpu")  # an RBF-SVM reads it as well
    assert kernel.accuracy > 0.85 and kernel.prior == res.prior
    assert res.advantage == pytest.approx(res.accuracy - res.prior)
    blind = attribute_inference(SmallCNN(), x[:400], levels[:400], torch.zeros_like(x[400:]),
                                levels[400:], "linear", "cpu")
    assert blind.accuracy < 0.6  # constant embeddings: a constant guess at best


def test_setup_and_tradeoff_smoke(smoke):
    setup = attribute_setup(smoke, seed=0, progress=False)
    assert len(setup.pretrain_levels) == len(setup.pretrain_data)
    assert len(setup.aux) + len(setup.targets) == 1000
    point = tradeoff_point("none", setup.encoder, setup, probe_epochs=5, device="cpu")
    for value in (point.linear_accuracy, point.kernel_accuracy, point.probe_accuracy):
        assert 0 <= value <= 1


def test_bad_input(mnist):
    x, levels = mnist.x[:20], torch.arange(20) % 2
    with pytest.raises(ValueError, match="attacker="):
        attribute_inference(SmallCNN(), x, levels, x, levels, "forest")
    with pytest.raises(ValueError, match="aux_attribute has 19"):
        attribute_inference(SmallCNN(), x, levels[:19], x, levels, device="cpu")
    with pytest.raises(ValueError, match="target_x is empty"):
        attribute_inference(SmallCNN(), x, levels, x[:0], levels[:0], device="cpu")
    with pytest.raises(ValueError, match="at least two levels"):
        attribute_inference(SmallCNN(), x, levels * 0, x, levels, device="cpu")
    with pytest.raises(ValueError, match="attribute='age'"):
        image_attribute(x, mnist.y[:20], "age")
    with pytest.raises(ValueError, match="n_levels=1"):
        attribute_levels(np.zeros(5), np.zeros(5), 1)
    with pytest.raises(ValueError, match=r"1 channel\(s\)"):
        stroke_thickness(torch.zeros(2, 3, 28, 28))
