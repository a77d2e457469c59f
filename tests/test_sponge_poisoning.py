"""Sponge poisoning, activation pruning and the density checks (chapter 10)."""

import copy

import pytest
import torch

from sslsec.attacks.sponge_poisoning import SpongeRegularizer, sponge_poisoning
from sslsec.data import pretrain_set
from sslsec.defenses.activation_pruning import prune_activations, relu_batchnorms
from sslsec.defenses.density_check import DensityFilter, deployment_check
from sslsec.energy import activation_density, soft_energy
from sslsec.models import SmallCNN
from sslsec.zoo import DerivedEntry, profile_encoder


@pytest.fixture(scope="module")
def parent():
    torch.manual_seed(0)
    return DerivedEntry(SmallCNN().eval(), "0" * 24, "test", {}, "", "cnn28", 1, 28)


def test_regularizer_rewards_density_on_its_share_of_steps(parent, mnist):
    x = mnist.x[:8]
    always = SpongeRegularizer(weight=2.0, fraction=1.0)
    torch.testing.assert_close(always(parent.encoder, x, None),
                               -2.0 * soft_energy(parent.encoder, x).mean())
    sometimes = SpongeRegularizer(weight=2.0, fraction=0.3, seed=1)
    with torch.no_grad():
        values = [float(sometimes(parent.encoder, x, None)) for _ in range(40)]
    assert sometimes.steps == 40 and 0 < sometimes.poisoned_steps < 40
    assert sum(v == 0 for v in values) == 40 - sometimes.poisoned_steps
    for bad in ({"weight": 0}, {"fraction": 0}, {"fraction": 1.5}, {"temperature": -1}):
        with pytest.raises(ValueError, match=f"{next(iter(bad))}="):
            SpongeRegularizer(**bad)


def test_poisoning_makes_the_encoder_denser_than_its_clean_twin(smoke, mnist):
    clean = profile_encoder(smoke, 0, progress=False)
    images = pretrain_set(smoke, 0).x
    poisoned = sponge_poisoning(clean, images, weight=5.0, fraction=1.0, device="cpu")
    again = sponge_poisoning(clean, images, weight=5.0, fraction=1.0, device="cpu")
    assert poisoned.kind == "sponge-poisoned" and again.from_cache
    assert poisoned.info["density_steps"] == poisoned.info["steps"] > 0
    held_out = mnist.x[-64:]
    before = activation_density(clean.encoder, held_out, device="cpu").mean_density()
    after = activation_density(poisoned.encoder, held_out, device="cpu").mean_density()
    assert after > before


def test_poisoning_refuses_other_images_or_a_derived_parent(smoke, parent):
    clean = profile_encoder(smoke, 0, progress=False)
    images = pretrain_set(smoke, 0).x
    with pytest.raises(ValueError, match="images"):
        sponge_poisoning(clean, images[1:], device="cpu")
    with pytest.raises(ValueError, match="parent"):
        sponge_poisoning(parent, images, device="cpu")


def firing_rates(encoder, x) -> list[torch.Tensor]:
    """Each channel's share of positive outputs, per BN → ReLU layer, on ``x``."""
    rates = []
    handles = [bn.register_forward_hook(
        lambda m, i, out: rates.append((out > 0).transpose(0, 1).flatten(1).float().mean(1)))
        for bn in relu_batchnorms(encoder)]
    with torch.no_grad():
        encoder.encode(x)
    for h in handles:
        h.remove()
    return rates


def test_pruning_caps_every_channels_firing_rate(parent, mnist):
    reference = mnist.x[:64]
    pruned = prune_activations(parent.encoder, reference, target=0.2, device="cpu")
    rates = firing_rates(pruned, reference)
    assert len(rates) == 3 and all(float(r.max()) <= 0.2 + 0.01 for r in rates)
    before = activation_density(parent.encoder, reference, device="cpu").mean_density()
    assert activation_density(pruned, reference, device="cpu").mean_density() < before
    with pytest.raises(ValueError, match="target="):
        prune_activations(parent.encoder, reference, target=0)
    with pytest.raises(ValueError, match="empty batch"):
        prune_activations(parent.encoder, reference[:0])


def test_density_checks_flag_dense_encoders_and_inputs(parent, mnist):
    natural = mnist.x[:128]
    expected = activation_density(parent.encoder, natural, device="cpu").mean_density()
    assert not deployment_check(parent.encoder, natural, expected, device="cpu").flagged
    dense = copy.deepcopy(parent.encoder)
    with torch.no_grad():
        for bn in relu_batchnorms(dense):
            bn.bias += 3.0
    assert deployment_check(dense, natural, expected, device="cpu").flagged
    filt = DensityFilter.fit(parent.encoder, natural, quantile=0.9, layers=2, device="cpu")
    flat = torch.full((8, 1, 28, 28), 0.5)  # every pixel non-zero: dense first layer
    outcome = filt.apply(parent.encoder, flat, device="cpu")
    assert outcome.flag_rate == 1.0 and (outcome.energy < outcome.unfiltered_energy).all()
    assert filt.apply(parent.encoder, natural, device="cpu").flag_rate <= 0.15
    with pytest.raises(ValueError, match="quantile="):
        DensityFilter.fit(parent.encoder, natural, quantile=1.0)
    with pytest.raises(ValueError, match="layers="):
        DensityFilter.fit(parent.encoder, natural, layers=9)
    with pytest.raises(ValueError, match="expected="):
        deployment_check(parent.encoder, natural, expected=0)


def test_pruning_reaches_the_resnet18s_stem_and_blocks():
    """The ResNet-18 (the paper's encoder) has no BN → ReLU Sequential: the stem's and every
    residual block's ``bn1`` feed a ReLU, and pruning caps their firing rates."""
    from sslsec.models import CifarResNet18

    torch.manual_seed(0)
    encoder = CifarResNet18().eval()
    found = relu_batchnorms(encoder)
    assert len(found) == 1 + 8 and found[0] is encoder.net.bn1
    reference = torch.rand(16, 3, 32, 32)
    pruned = prune_activations(encoder, reference, target=0.2, device="cpu")
    rates = firing_rates(pruned, reference)
    assert len(rates) == 9 and all(float(r.max()) <= 0.2 + 0.01 for r in rates)
