"""The early-exit encoder, its latency, the slowdown attack and the compute cap (chapter 10)."""

import pytest
import torch

from sslsec.attacks.early_exit_slowdown import slowdown_attack, slowdown_loss, slowdown_pgd
from sslsec.data import ImageSet
from sslsec.defenses.compute_cap import cap_tradeoff
from sslsec.early_exit import (
    EarlyExitEncoder,
    encoder_stages,
    exit_accuracy,
    exit_flops,
    query_latency,
    train_early_exit,
)
from sslsec.energy import activation_density
from sslsec.models import SmallCNN


@pytest.fixture(scope="module")
def model(mnist):
    torch.manual_seed(0)
    encoder = SmallCNN().eval()
    train = ImageSet(mnist.x[:256], mnist.y[:256], "mnist", mnist.classes)
    return train_early_exit(encoder, train, epochs=3, device="cpu")


def test_stages_compose_to_the_encoder(mnist):
    torch.manual_seed(0)
    encoder = SmallCNN().eval()
    h = mnist.x[:4]
    for stage in encoder_stages(encoder):
        h = stage(h)
    torch.testing.assert_close(h, encoder(mnist.x[:4]))


def test_training_the_heads_leaves_the_encoder_trainable(model):
    assert all(p.requires_grad for p in model.encoder.parameters())


def test_threshold_one_agrees_with_the_full_encoder(model, mnist):
    x = mnist.x[:32]
    with torch.no_grad():
        logits, exits = model(x, threshold=1.0)
        full = model.heads[-1](model.encoder(x))
    torch.testing.assert_close(logits, full)
    assert (exits == model.n_exits - 1).all()


def test_low_threshold_exits_early_and_the_cap_bounds_depth(model, mnist):
    x = mnist.x[:64]
    with torch.no_grad():
        _, early = model(x, threshold=0.01)
        _, capped = model(x, threshold=1.0, max_exit=1)
        every = model.exit_logits(x)
        logits, exits = model(x, threshold=0.5)
    assert (early == 0).all() and (capped == 1).all()
    for i, k in enumerate(exits.tolist()):  # each input's logits are those of its exit
        torch.testing.assert_close(logits[i], every[k][i])
    acc, taken = exit_accuracy(model, x, mnist.y[:64], 0.5)
    assert 0 <= acc <= 1 and torch.equal(taken, exits)


def test_latency_is_measured_per_query(model, mnist):
    result = query_latency(model, mnist.x[:3], threshold=0.9, repeats=2)
    assert result.seconds.shape == (3,) and (result.seconds > 0).all()
    assert result.median > 0 and result.iqr >= 0 and result.threads == 1


def test_exit_flops_count_every_stage_and_head_up_to_the_exit(model, mnist):
    flops = exit_flops(model)
    assert flops.shape == (model.n_exits,) and (flops.diff() > 0).all()
    # at the last exit: the encoder's convolutions and linear layers (their MACs, as the
    # energy model counts them) plus every head's linear layer, two operations per MAC
    encoder_macs = activation_density(model.encoder, mnist.x[:1]).macs.sum().item()
    heads_macs = sum(head[-1].in_features * head[-1].out_features for head in model.heads)
    assert flops[-1].item() == 2 * (encoder_macs + heads_macs)


def test_slowdown_pushes_queries_to_the_full_depth(model, mnist):
    x = mnist.x[:32]
    with torch.no_grad():  # a threshold that half of the natural queries pass at exit 0
        threshold = model.exit_logits(x)[0].softmax(1).amax(1).median().item()
    result = slowdown_attack(model, x, epsilon=0.2, steps=10, threshold=threshold)
    assert (result.adversarial - x).abs().max() <= 0.2 + 1e-6
    assert result.full_depth_share("attacked") > result.full_depth_share("natural")
    flops = exit_flops(model)
    assert result.mean_flops(flops, "attacked") > result.mean_flops(flops, "natural")
    with pytest.raises(ValueError, match="one cost per exit"):
        result.mean_flops(flops[:2])
    with pytest.raises(ValueError, match="kind="):
        result.mean_flops(flops, "clean")
    with torch.no_grad():
        assert slowdown_loss(model, result.adversarial).mean() < slowdown_loss(model, x).mean()
    outcomes = cap_tradeoff(model, x, mnist.y[:32], result.adversarial, threshold)
    assert [o.max_exit for o in outcomes] == [0, 1, 2]
    assert outcomes[0].attacked_depth == 1 and outcomes[-1].attacked_depth >= 2


def test_early_exit_bad_input(model, mnist):
    x = mnist.x[:2]
    for bad in (0.0, -0.5, 1.5):
        with pytest.raises(ValueError, match="threshold="):
            model(x, threshold=bad)
    with pytest.raises(ValueError, match="threshold="):
        query_latency(model, x, threshold=2.0)
    with pytest.raises(ValueError, match="empty batch"):
        model(x[:0])
    with pytest.raises(ValueError, match="empty batch"):
        query_latency(model, x[:0], 0.9)
    with pytest.raises(ValueError, match="max_exit="):
        model(x, 0.9, max_exit=3)
    with pytest.raises(ValueError, match="epsilon="):
        slowdown_pgd(model, x, epsilon=-0.1)
    with pytest.raises(ValueError, match="threshold="):
        slowdown_attack(model, x, threshold=0)
    with pytest.raises(ValueError, match="encoder="):
        EarlyExitEncoder(torch.nn.Linear(2, 2), 10)


def test_the_deployed_copy_answers_as_the_model_does(model, mnist):
    x = mnist.x[:32]
    served = model.deployed(x)
    assert all(isinstance(s, torch.jit.ScriptModule) for s in served.stages)
    for threshold in (0.5, 0.9, 1.0):
        logits, exits = model(x, threshold)
        served_logits, served_exits = served(x, threshold)
        assert (served_exits == exits).float().mean() >= 0.95
        same = served_exits == exits
        torch.testing.assert_close(served_logits[same], logits[same], atol=1e-4, rtol=1e-4)
    with pytest.raises(ValueError, match="channel"):
        model.deployed(torch.zeros(2, 3, 28, 28))
