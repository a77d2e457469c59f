import numpy as np
import pytest
import torch

from sslsec.defenses.adversarial_training import (
    AttributeAdversary,
    adversarially_trained_encoder,
    adversary_accuracy,
    reverse_gradient,
)
from sslsec.defenses.nullspace_projection import ProjectedEncoder, nullspace_projection
from sslsec.models import SmallCNN
from sslsec.pretrain import PretrainConfig, pretrain


def test_gradient_reversal_flips_and_scales():
    x = torch.ones(3, requires_grad=True)
    reverse_gradient(x * 2, 0.5).sum().backward()
    assert torch.equal(x.grad, torch.full((3,), -1.0))


def test_adversary_trains_its_head_and_pushes_the_encoder_away(mnist):
    torch.manual_seed(0)
    encoder, levels = SmallCNN(), torch.arange(64) % 3
    adversary = AttributeAdversary(levels, encoder.feature_dim, weight=1.0)
    loss = adversary(encoder, mnist.x[:16], torch.arange(16))
    loss.backward()
    head_w, enc_w = adversary.head[1].weight, encoder.parameters().__next__()
    assert head_w.grad is not None and enc_w.grad is not None
    # the encoder's gradient is the reversed one: a step along it raises the adversary's loss
    with torch.no_grad():
        for p in encoder.parameters():
            p -= 1e-2 * p.grad
    assert adversary(encoder, mnist.x[:16], torch.arange(16)).item() > loss.item()


def test_pretrain_with_a_regulariser_trains_it_and_gives_it_back(mnist):
    encoder, levels = SmallCNN(), torch.arange(128) % 3
    adversary = AttributeAdversary(levels, encoder.feature_dim, weight=0.5)
    before = adversary.head[1].weight.detach().clone()
    pretrain(encoder, mnist.x[:128], PretrainConfig(epochs=1, batch_size=64), "cpu",
             progress=False, regularizer=adversary)
    assert not torch.equal(before, adversary.head[1].weight)
    assert not adversary.training


def test_adversarially_trained_encoder_is_cached_by_its_settings(smoke, mnist):
    data = mnist[:128]
    levels = torch.arange(128) % 3
    prof = smoke.replace(batch_size=64)
    a = adversarially_trained_encoder(prof, data, levels, 1.0, progress=False)
    again = adversarially_trained_encoder(prof, data, levels, 1.0, progress=False)
    other = adversarially_trained_encoder(prof, data, levels, 2.0, progress=False)
    relabelled = adversarially_trained_encoder(prof, data, levels.flip(0), 1.0, progress=False)
    assert again.from_cache and again.key == a.key
    assert len({a.key, other.key, relabelled.key}) == 3
    assert a.spec.regularizer["weight"] == 1.0
    # the adversary trained alongside comes back with the encoder, as training left it
    for k, v in a.regularizer.state_dict().items():
        assert torch.equal(v, again.regularizer.state_dict()[k]), k
    seen = adversary_accuracy(again, data.x, levels, device="cpu")
    assert seen == adversary_accuracy(a, data.x, levels, device="cpu") and 0 <= seen <= 1
    with pytest.raises(ValueError, match="levels has 3 entries for 128 images"):
        adversary_accuracy(a, data.x, levels[:3], device="cpu")


class FirstPixels(torch.nn.Module):
    """An "encoder" whose features are the first 30 pixels: lets a test choose the features."""

    def encode(self, x):
        return x.flatten(1)[:, :30]


def test_nullspace_projection_removes_a_linear_attribute():
    from sklearn.linear_model import LogisticRegression

    gen = torch.Generator().manual_seed(0)
    feats = torch.randn(600, 30, generator=gen)
    levels = (feats @ torch.randn(30, generator=gen) > 0).long()  # linear in the features
    x = torch.zeros(600, 1, 28, 28)
    x.view(600, -1)[:, :30] = feats
    encoder = FirstPixels()
    projected = nullspace_projection(encoder, x[:400], levels[:400], n_iterations=1,
                                     device="cpu")
    identity = nullspace_projection(encoder, x[:400], levels[:400], n_iterations=0,
                                    device="cpu")
    assert isinstance(projected, ProjectedEncoder)
    assert projected.removed_dims == 1 and identity.removed_dims == 0

    def linear_acc(e):
        z = e.encode(x).numpy()
        return LogisticRegression(max_iter=2000).fit(z[:400], levels[:400]).score(z[400:],
                                                                                  levels[400:])

    assert linear_acc(identity) > 0.95
    assert linear_acc(projected) < 0.75  # one direction removed: close to a coin flip


def test_bad_input(mnist):
    with pytest.raises(ValueError, match="integer tensor"):
        AttributeAdversary(torch.rand(5), 128)
    with pytest.raises(ValueError, match="weight="):
        AttributeAdversary(torch.arange(5), 128, weight=0)
    with pytest.raises(ValueError, match="one level per image"):
        nullspace_projection(SmallCNN(), mnist.x[:10], np.zeros(9), device="cpu")
    with pytest.raises(ValueError, match="n_iterations="):
        nullspace_projection(SmallCNN(), mnist.x[:10], np.arange(10) % 2, -1, device="cpu")
    with pytest.raises(ValueError, match="at least two levels"):
        nullspace_projection(SmallCNN(), mnist.x[:10], np.zeros(10), device="cpu")


def test_adversary_initialisation_does_not_depend_on_the_global_rng(smoke, mnist, tmp_path,
                                                                    monkeypatch):
    data, levels = mnist[:128], torch.arange(128) % 3
    prof = smoke.replace(batch_size=64)
    monkeypatch.setenv("SSLSEC_CACHE", str(tmp_path / "a"))
    torch.manual_seed(1)
    a = adversarially_trained_encoder(prof, data, levels, 1.0, progress=False)
    monkeypatch.setenv("SSLSEC_CACHE", str(tmp_path / "b"))
    torch.manual_seed(2)
    b = adversarially_trained_encoder(prof, data, levels, 1.0, progress=False)
    assert not a.from_cache and not b.from_cache
    for (k, v), (_, w) in zip(a.encoder.state_dict().items(), b.encoder.state_dict().items(),
                              strict=True):
        assert torch.equal(v, w), k
