import numpy as np
import pytest
import torch

from sslsec.attacks.adversarial_examples import (
    apply_perturbation,
    feature_distance,
    feature_pgd,
    fooling_rate,
    random_sign_noise,
    universal_perturbation,
)
from sslsec.defenses.randomized_smoothing import ABSTAIN, Certificate, certify
from sslsec.models import SmallCNN


@pytest.fixture(scope="module")
def encoder():
    torch.manual_seed(0)
    return SmallCNN().eval()


def test_pgd_stays_in_budget_and_moves_features_more_than_noise(encoder, mnist):
    x = mnist.x[:32]
    adv = feature_pgd(encoder, x, epsilon=0.1, steps=10, device="cpu")
    noisy = random_sign_noise(x, 0.1)
    assert (adv - x).abs().max() <= 0.1 + 1e-6 and adv.min() >= 0 and adv.max() <= 1
    assert (noisy - x).abs().max() <= 0.1 + 1e-6
    with torch.no_grad():
        ref = encoder.encode(x)
        moved_adv = feature_distance(encoder, adv, ref).mean()
        moved_noise = feature_distance(encoder, noisy, ref).mean()
    assert moved_adv > 2 * moved_noise


def test_universal_perturbation_is_one_bounded_pattern(encoder, mnist):
    delta = universal_perturbation(encoder, mnist.x[:64], epsilon=0.05, epochs=2,
                                   batch_size=32, device="cpu")
    assert delta.shape == (1, 1, 28, 28) and delta.abs().max() <= 0.05 + 1e-6
    held_out = mnist.x[100:132]
    with torch.no_grad():
        ref = encoder.encode(held_out)
        moved = feature_distance(encoder, apply_perturbation(held_out, delta), ref).mean()
        control = feature_distance(encoder, random_sign_noise(held_out, 0.05), ref).mean()
    assert moved > control


def test_fooling_rate_counts_only_correct_inputs():
    x = torch.zeros(4, 1, 2, 2)
    x_adv = x.clone()
    x_adv[0] = 1.0

    def predict(images):  # "class 1" if the first pixel is lit, else class 0
        return (images[:, 0, 0, 0] > 0.5).long()

    y = torch.tensor([0, 0, 0, 1])  # the last input is misclassified when clean: ignored
    assert fooling_rate(predict, x, x_adv, y) == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="no clean input right"):
        fooling_rate(predict, x, x_adv, torch.ones(4, dtype=torch.long))


def test_certify_a_constant_classifier_and_a_coin():
    x = torch.rand(3, 1, 4, 4)

    def always_two(images):
        return torch.full((len(images),), 2)

    cert = certify(always_two, x, sigma=0.5, num_classes=3, n0=10, n=200)
    assert (cert.prediction == 2).all() and (cert.radius > 0.5).all()
    assert cert.certified_accuracy(np.array([2, 2, 0]), [0.0, 0.5, 10.0]).tolist() == [
        pytest.approx(2 / 3), pytest.approx(2 / 3), 0.0]

    def coin(images):
        return torch.randint(0, 2, (len(images),))

    torch.manual_seed(0)
    assert (certify(coin, x, 0.5, 2, n0=10, n=200).prediction == ABSTAIN).all()


def test_bad_input(encoder, mnist):
    x = mnist.x[:4]
    with pytest.raises(ValueError, match="epsilon="):
        feature_pgd(encoder, x, epsilon=2.0)
    with pytest.raises(ValueError, match="steps="):
        feature_pgd(encoder, x, steps=0)
    with pytest.raises(ValueError, match="epsilon="):
        random_sign_noise(x, -0.1)
    with pytest.raises(ValueError, match="does not fit"):
        apply_perturbation(x, torch.zeros(1, 3, 28, 28))
    with pytest.raises(ValueError, match="sigma="):
        certify(lambda i: i, x, 0.0, 10)
    with pytest.raises(ValueError, match="alpha="):
        certify(lambda i: i, x, 0.5, 10, alpha=1.5)
    with pytest.raises(ValueError, match="y has shape"):
        Certificate(np.zeros(3), np.zeros(3)).certified_accuracy(np.zeros(2), [0.0])


def test_centred_distance_measures_angles_from_the_center(encoder, mnist):
    from sslsec.attacks.adversarial_examples import feature_center

    x = mnist.x[:16]
    center = feature_center(encoder, mnist.x[:64], device="cpu")
    assert center.shape == (encoder.feature_dim,) and not center.requires_grad
    with torch.no_grad():
        ref = encoder.encode(x)
        # the clean input is at distance 0 from itself, whatever the center
        assert feature_distance(encoder, x, ref, center).abs().max() < 1e-5
        # from the center, a feature and its mirror image through it are opposite
        mirrored = 2 * center - ref
        assert torch.allclose(1 - torch.nn.functional.cosine_similarity(
            mirrored - center, ref - center), torch.full((16,), 2.0), atol=1e-5)
    adv = feature_pgd(encoder, x, 0.1, 5, center=center, device="cpu")
    assert (adv - x).abs().max() <= 0.1 + 1e-6
    with torch.no_grad():
        assert feature_distance(encoder, adv, ref, center).mean() > feature_distance(
            encoder, random_sign_noise(x, 0.1), ref, center).mean()


def test_random_universal_pattern_is_one_signed_pattern():
    from sslsec.attacks.adversarial_examples import random_universal_pattern
    pattern = random_universal_pattern((1, 28, 28), 0.1, seed=3)
    assert pattern.shape == (1, 1, 28, 28)
    assert torch.allclose(pattern.abs(), torch.full_like(pattern, 0.1))
    assert 0.3 < (pattern > 0).float().mean() < 0.7
    assert torch.equal(pattern, random_universal_pattern((1, 28, 28), 0.1, seed=3))
    with pytest.raises(ValueError, match="shape"):
        random_universal_pattern((28, 28), 0.1)
    with pytest.raises(ValueError, match="epsilon"):
        random_universal_pattern((1, 28, 28), -0.1)
