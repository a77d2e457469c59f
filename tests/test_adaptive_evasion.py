"""The adaptive attacks of chapter 09: budgets hold, each beats its control, and the smoothed
classifier's answer never changes within a certified radius."""

import pytest
import torch
from torch import nn

from sslsec.attacks.adaptive_evasion import (
    eot_feature_pgd,
    smoothed_pgd,
    smoothed_predict,
    square_attack,
    transfer_pgd,
)
from sslsec.attacks.adversarial_examples import feature_distance, feature_pgd, random_sign_noise
from sslsec.defenses.randomized_smoothing import certify
from sslsec.models import SmallCNN


@pytest.fixture(scope="module")
def encoder():
    torch.manual_seed(0)
    return SmallCNN().eval()


def moved(encoder, x, adv):
    with torch.no_grad():
        return feature_distance(encoder, adv, encoder.encode(x)).mean().item()


def test_eot_pgd_stays_in_budget_and_beats_noise(encoder, mnist):
    x = mnist.x[:8]
    adv = eot_feature_pgd(encoder, x, epsilon=0.1, noise_std=0.05, steps=4, samples=2,
                          device="cpu")
    assert (adv - x).abs().max() <= 0.1 + 1e-6 and adv.min() >= 0 and adv.max() <= 1
    assert moved(encoder, x, adv) > 2 * moved(encoder, x, random_sign_noise(x, 0.1))


def test_transfer_crafts_on_the_source_alone(encoder, mnist):
    x = mnist.x[:8]
    adv = transfer_pgd(encoder, x, epsilon=0.1, steps=3, device="cpu")
    assert torch.equal(adv, feature_pgd(encoder, x, 0.1, 3, device="cpu"))


def test_square_attack_is_gradient_free_in_budget_and_beats_its_start(encoder, mnist):
    x = mnist.x[:8]
    few = square_attack(encoder, x, epsilon=0.1, queries=1, device="cpu")
    more = square_attack(encoder, x, epsilon=0.1, queries=40, device="cpu")
    for adv in (few, more):
        assert (adv - x).abs().max() <= 0.1 + 1e-6 and adv.min() >= 0 and adv.max() <= 1
    assert moved(encoder, x, more) > moved(encoder, x, few)  # its queries push the features
    with pytest.raises(ValueError, match="p_init"):
        square_attack(encoder, x, epsilon=0.1, p_init=0)


class Linear2(nn.Module):
    """Logits of a 2-class rule on the mean pixel: class 1 when the image is bright."""

    def forward(self, x):
        m = x.flatten(1).mean(1, keepdim=True)
        return torch.cat([-(m - 0.5) * 40, (m - 0.5) * 40], dim=1)


def test_smoothed_pgd_stays_in_the_l2_ball_and_lowers_the_true_class():
    logits = Linear2()
    x = torch.full((8, 1, 4, 4), 0.6)
    y = torch.ones(8, dtype=torch.long)
    adv = smoothed_pgd(logits, x, y, sigma=0.1, radius=0.5, steps=5, samples=4, device="cpu")
    assert ((adv - x).flatten(1).norm(dim=1) <= 0.5 + 1e-5).all()
    assert (adv.flatten(1).mean(1) < 0.6).all()  # pushed towards the other class
    assert torch.equal(smoothed_pgd(logits, x, y, 0.1, 0.0), x)
    with pytest.raises(ValueError, match="labels"):
        smoothed_pgd(logits, x, y[:3], 0.1, 0.5)


def test_no_attack_within_the_certified_radius_changes_the_smoothed_answer():
    logits = Linear2()

    def predict(images):
        return logits(images).argmax(1)

    x = torch.full((6, 1, 4, 4), 0.8)
    y = torch.ones(6, dtype=torch.long)
    cert = certify(predict, x, sigma=0.25, num_classes=2, n0=16, n=256)
    assert (cert.prediction == 1).all() and (cert.radius > 0).all()
    radius = float(cert.radius.min())
    adv = smoothed_pgd(logits, x, y, sigma=0.25, radius=radius * 0.99, steps=10, samples=8)
    assert (smoothed_predict(predict, adv, 0.25, 2, n=256) == 1).all()
    far = smoothed_pgd(logits, x, y, sigma=0.25, radius=4 * (0.8 - 0.5) * 4 + 1, steps=20,
                       samples=8)
    assert (smoothed_predict(predict, far, 0.25, 2, n=256) == 0).all()  # beyond it, it can
