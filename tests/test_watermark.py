import pytest
import torch
from scipy import stats

from sslsec.attacks.watermark_removal import finetuned_copy, prune_encoder, sparsity
from sslsec.chapters.ch06_parameter_stealing import ownership_setup
from sslsec.defenses.dataset_inference import dataset_inference, fit_private_density
from sslsec.defenses.watermark import (
    correlations,
    embed_watermark,
    make_watermark_key,
    verify_watermark,
    watermark_loss,
    watermarked_encoder,
)
from sslsec.models import SmallCNN
from sslsec.pretrain import PretrainConfig
from sslsec.profiles import AugmentConfig
from sslsec.zoo import profile_encoder

WEAK = AugmentConfig(crop_scale=(0.8, 1.0), flip_p=0.0, jitter_strength=0.0, jitter_p=0.0,
                     grayscale_p=0.0)


@pytest.fixture(scope="module")
def encoder():
    torch.manual_seed(0)
    return SmallCNN().eval()


def test_key_is_reproducible_and_seeded(mnist):
    a = make_watermark_key(128, mnist.x[:300], bits=32, n_verification=100, seed=0)
    b = make_watermark_key(128, mnist.x[:300], bits=32, n_verification=100, seed=0)
    c = make_watermark_key(128, mnist.x[:300], bits=32, n_verification=100, seed=1)
    assert torch.equal(a.bits, b.bits) and torch.equal(a.decoder, b.decoder)
    assert not torch.equal(a.decoder, c.decoder)
    assert a.bits.shape == (32,) and set(a.bits.tolist()) == {-1.0, 1.0}
    assert a.verification.shape == (100, 1, 28, 28) and a.pattern.shape == (1, 28, 28)
    assert a.params() == b.params() != c.params()
    # the key's stream is not the stream a model seeded 0 draws from
    torch.manual_seed(0)
    assert not torch.equal(a.decoder, torch.randn(32, 128))


def test_correlations_match_numpy():
    torch.manual_seed(0)
    decoded, signal = torch.randn(50, 3), torch.randn(50)
    decoded[:, 0] += 2 * signal
    expected = [stats.pearsonr(decoded[:, j].numpy(), signal.numpy())[0] for j in range(3)]
    assert correlations(decoded, signal).tolist() == pytest.approx(expected, abs=1e-5)


def test_unrelated_encoders_match_half_the_bits_on_average(encoder, mnist):
    """The null: over many keys, an encoder that never saw the key matches ~Binomial(k, 1/2)."""
    matches = [verify_watermark(encoder, make_watermark_key(128, mnist.x[:200], 32, 100, s),
                                "cpu").matches for s in range(40)]
    assert 13 <= sum(matches) / len(matches) <= 19  # mean 16, standard error 0.45


def test_embedding_plants_the_key_and_verification_finds_it(encoder, mnist):
    images = mnist.x[:512]
    key = make_watermark_key(128, images, bits=32, n_verification=256, seed=0)
    before = verify_watermark(encoder, key, "cpu")
    original = {k: v.clone() for k, v in encoder.state_dict().items()}
    result = embed_watermark(encoder, images, key, epochs=4, lam=1.0, margin=0.3, lr=2e-3,
                             batch_size=128, augment=WEAK, device="cpu", progress=False)
    after = verify_watermark(result.encoder, key, "cpu")
    assert after.matches >= 28 and after.flagged(0.01) and after.p_value < before.p_value
    assert after.p_value == pytest.approx(stats.binom.sf(after.matches - 1, 32, 0.5))
    assert result.watermark_loss[-1] < result.watermark_loss[0]
    # the original is untouched
    assert all(torch.equal(v, original[k]) for k, v in encoder.state_dict().items())


def test_watermark_loss_prefers_the_key(mnist):
    key = make_watermark_key(16, mnist.x[:100], bits=8, n_verification=50, seed=0)
    signal = key.signal(mnist.x[:64])
    # features whose decoded coordinates follow the signal with the key's signs
    direction = torch.linalg.lstsq(key.decoder, key.bits[:, None]).solution[:, 0]
    good = signal[:, None] * direction + 0.01 * torch.randn(64, 16) + 5
    bad = -signal[:, None] * direction + 0.01 * torch.randn(64, 16) + 5
    assert watermark_loss(good, signal, key) < watermark_loss(bad, signal, key)


def test_pruning_and_sparsity(encoder):
    pruned = prune_encoder(encoder, 0.5)
    assert sparsity(encoder) < 0.01 and sparsity(pruned) == pytest.approx(0.5, abs=0.01)
    assert sparsity(prune_encoder(encoder, 0.0)) < 0.01
    with pytest.raises(ValueError, match="amount"):
        prune_encoder(encoder, 1.0)
    with pytest.raises(ValueError, match="prune"):
        prune_encoder(torch.nn.ReLU(), 0.5)


def test_zoo_copies_are_kept(smoke, mnist):
    owner = profile_encoder(smoke, 0, progress=False)
    images = mnist.x[:128]
    key = make_watermark_key(owner.encoder.feature_dim, images, 8, 32, 0)
    options = dict(epochs=1, batch_size=64, augment=WEAK, seed=0)
    first = watermarked_encoder(owner, images, key, "cpu", False, **options)
    second = watermarked_encoder(owner, images, key, "cpu", False, **options)
    assert not first.from_cache and second.from_cache and second.parent == owner.key
    config = PretrainConfig(epochs=1, batch_size=64, augment=WEAK)
    tuned = finetuned_copy(second, mnist.x[1000:1128], config, "cpu", False)
    assert tuned.parent == second.key and tuned.kind == "finetuned"
    assert finetuned_copy(second, mnist.x[1000:1128], config, "cpu", False).from_cache


def test_ownership_setup_smoke(smoke):
    setup = ownership_setup(smoke, seed=0, progress=False)
    assert len(setup.independent) == 2 and setup.marked.parent == setup.world.victim.key
    assert len(setup.key.verification) == 64


def test_dataset_inference_sees_a_memorised_set(mnist):
    """An encoder that maps its 'private' training images near a few points and everything else
    at random: the density of its private features makes held-out private images likely and
    public ones not; an encoder that maps everything at random is not flagged."""
    class Memoriser(torch.nn.Module):
        def __init__(self, members):
            super().__init__()
            self.members = members.flatten(1)
            self.generator = torch.Generator().manual_seed(0)
            self.centres = torch.randn(4, 16, generator=self.generator)

        def encode(self, x):
            flat = x.flatten(1)
            distance, index = torch.cdist(flat, self.members).min(1)
            noise = torch.randn(len(x), 16, generator=self.generator)
            member = (distance < 1e-6)[:, None]
            return torch.where(member, self.centres[index % 4] + 0.05 * noise, noise)

    class Random(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.generator = torch.Generator().manual_seed(1)

        def encode(self, x):
            return torch.randn(len(x), 16, generator=self.generator)

    private, public = mnist.x[:80], mnist.x[100:180]
    owner = Memoriser(private)
    density = fit_private_density(owner, private, n_components=4, device="cpu")
    assert len(density.held_out) == 40
    result = dataset_inference(owner, density, public, device="cpu")
    assert result.gap > 1 and result.flagged(0.01) and result.queries == 120
    assert not dataset_inference(Random(), density, public, device="cpu").flagged(0.01)


def test_bad_input(encoder, mnist):
    with pytest.raises(ValueError, match="bits"):
        make_watermark_key(128, mnist.x[:10], bits=0)
    with pytest.raises(ValueError, match="n_verification"):
        make_watermark_key(128, mnist.x[:10], n_verification=11)
    with pytest.raises(ValueError, match="private"):
        make_watermark_key(128, mnist.x[0], n_verification=5)
    key = make_watermark_key(64, mnist.x[:50], 8, 20)
    with pytest.raises(ValueError, match="features"):
        verify_watermark(encoder, key, "cpu")  # 128 features, a 64-feature key
    with pytest.raises(ValueError, match="encode"):
        verify_watermark(torch.nn.ReLU(), key, "cpu")
    with pytest.raises(ValueError, match="batch_size"):
        embed_watermark(encoder, mnist.x[:10], key, batch_size=64)
    with pytest.raises(ValueError, match="epochs"):
        embed_watermark(encoder, mnist.x[:10], key, epochs=0, batch_size=4)
    with pytest.raises(ValueError, match="lam"):
        embed_watermark(encoder, mnist.x[:10], key, lam=-1.0, batch_size=4)
    density = fit_private_density(encoder, mnist.x[:40], n_components=2, device="cpu")
    with pytest.raises(ValueError, match="public"):
        dataset_inference(encoder, density, mnist.x[:1])
    with pytest.raises(ValueError, match="public"):
        dataset_inference(encoder, density, torch.zeros(5, 1, 8, 8))
    with pytest.raises(ValueError, match="encode"):
        dataset_inference(torch.nn.ReLU(), density, mnist.x[:10])
    with pytest.raises(ValueError, match="fit_fraction"):
        fit_private_density(encoder, mnist.x[:40], fit_fraction=1.0)
    with pytest.raises(ValueError, match="private has 6 images"):
        fit_private_density(encoder, mnist.x[:6], n_components=4)
