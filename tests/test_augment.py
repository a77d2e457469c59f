import pytest
import torch

from sslsec.augment import SimCLRAugment
from sslsec.profiles import AugmentConfig, get_profile
from sslsec.seed import seed_everything


def test_views_keep_shape_and_range_and_differ(mnist):
    aug = SimCLRAugment(28, 1, get_profile("laptop").augment)
    x = mnist.x[:64]
    v1, v2 = aug.views(x, 2)
    assert v1.shape == x.shape and v1.min() >= 0 and v1.max() <= 1
    assert not torch.allclose(v1, v2)
    # every image draws its own parameters: views of one image repeated differ
    same = aug(x[:1].repeat(8, 1, 1, 1))
    assert (same[0] - same[1:]).abs().amax(dim=(1, 2, 3)).min() > 0


def test_identity_strength_returns_the_input(mnist):
    aug = SimCLRAugment(28, 1, AugmentConfig().scaled(0.0))
    x = mnist.x[:16]
    assert torch.allclose(aug(x), x, atol=1e-5)


def test_colour_pipeline_and_seeded_repeatability():
    aug = SimCLRAugment(32, 3, AugmentConfig(blur_p=0.5))
    x = torch.rand(8, 3, 32, 32)
    seed_everything(1)
    a = aug(x)
    seed_everything(1)
    b = aug(x)
    assert a.shape == x.shape and torch.equal(a, b)


def test_gradients_flow_to_the_input(mnist):
    aug = SimCLRAugment(28, 1, get_profile("laptop").augment)
    x = mnist.x[:8].clone().requires_grad_(True)
    aug(x).square().sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_pixel_noise_augmentation_adds_noise_and_scales(mnist):
    import dataclasses

    base = AugmentConfig(crop_scale=(1.0, 1.0), flip_p=0.0, jitter_strength=0.0, jitter_p=0.0,
                         grayscale_p=0.0)
    x = mnist.x[:64]
    torch.manual_seed(0)
    assert torch.allclose(SimCLRAugment(28, 1, base)(x), x, atol=1e-5)
    noisy = SimCLRAugment(28, 1, dataclasses.replace(base, noise_std=0.1, noise_p=1.0))(x)
    background = x == 0  # noise shows on the black background (clipped below at 0)
    assert 0.02 < noisy[background].mean() < 0.08
    assert dataclasses.replace(base, noise_std=0.1).scaled(0.5).noise_std == pytest.approx(0.05)
    with pytest.raises(ValueError, match="noise_std"):
        AugmentConfig(noise_std=-0.1)
    with pytest.raises(ValueError, match="noise_p"):
        AugmentConfig(noise_p=1.5)
