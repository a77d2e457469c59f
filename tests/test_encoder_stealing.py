import pytest
import torch
import torch.nn.functional as F

from sslsec.attacks.encoder_stealing import (
    AveragedQueries,
    contsteal_loss,
    pretraining_passes,
    query_victim,
    steal_encoder,
    stolen_copy,
    stolenencoder_loss,
)
from sslsec.chapters.ch06_parameter_stealing import stealing_setup
from sslsec.defenses.embedding_perturbation import embedding_perturbation
from sslsec.models import SmallCNN
from sslsec.profiles import AugmentConfig

WEAK = AugmentConfig(crop_scale=(0.8, 1.0), flip_p=0.0, jitter_strength=0.0, jitter_p=0.0,
                     grayscale_p=0.0)


@pytest.fixture(scope="module")
def victim():
    torch.manual_seed(0)
    return SmallCNN().eval()


def test_losses_reward_agreement():
    z = torch.randn(8, 16)
    assert stolenencoder_loss(z, z, z).item() == pytest.approx(-2.0)
    assert stolenencoder_loss(z, -z, z, lam=0.5).item() == pytest.approx(-0.5)
    aligned = contsteal_loss(z, z, temperature=0.1)
    shuffled = contsteal_loss(z, z.roll(1, 0), temperature=0.1)
    assert aligned < 0.1 < shuffled


def test_stealing_moves_the_surrogate_towards_the_victim(victim, mnist):
    x, fresh = mnist.x[:256], mnist.x[1000:1128]
    answers = query_victim(victim, x, device="cpu")
    assert answers.shape == (256, victim.feature_dim) and not answers.requires_grad
    before = steal_encoder(x, answers, epochs=1, batch_size=64, augment=WEAK, device="cpu",
                           progress=False)
    after = steal_encoder(x, answers, epochs=15, batch_size=64, augment=WEAK, device="cpu",
                          progress=False)
    target = query_victim(victim, fresh, device="cpu")

    def disagreement(encoder):  # on images the attacker never queried
        with torch.no_grad():
            return 1 - F.cosine_similarity(encoder.encode(fresh), target, dim=1).mean().item()

    assert disagreement(after.surrogate) < 0.3 * disagreement(before.surrogate)
    assert after.loss[-1] < after.loss[0]
    assert after.image_passes == 15 * 4 * 2 * 64 and after.queries == 256
    cont = steal_encoder(x, answers, "contsteal", epochs=2, batch_size=64, augment=WEAK,
                         device="cpu", progress=False)
    assert cont.image_passes == 2 * 4 * 64


def test_same_seed_same_surrogate(victim, mnist):
    x = mnist.x[:128]
    answers = query_victim(victim, x, device="cpu")
    a, b = (steal_encoder(x, answers, epochs=2, batch_size=64, augment=WEAK, device="cpu",
                          seed=3, progress=False).surrogate for _ in range(2))
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb)


def test_topk_keeps_the_largest_features(victim, mnist):
    x = mnist.x[:64]
    api = embedding_perturbation(victim, x, topk=4, device="cpu")
    z = query_victim(victim, x, device="cpu")
    sparse = query_victim(api, x, device="cpu")
    assert ((sparse != 0).sum(1) == 4).all()
    kept = sparse != 0
    assert torch.equal(sparse[kept], z[kept])
    assert (z.abs()[~kept].reshape(64, -1).max(1).values
            <= z.abs()[kept].reshape(64, -1).min(1).values).all()
    with pytest.raises(ValueError, match="topk"):
        embedding_perturbation(victim, x, topk=0, device="cpu")


def test_setup_keeps_queries_apart_from_evaluation(smoke):
    setup = stealing_setup(smoke, progress=False)
    queries = setup.query_pools[smoke.pretrain_dataset].x
    evaluation = setup.tasks[smoke.pretrain_dataset]["test"].x
    assert len(evaluation) == setup.settings["n_eval"]
    flat_q, flat_e = queries.flatten(1), evaluation.flatten(1)
    assert not (torch.cdist(flat_q, flat_e) == 0).any()
    assert pretraining_passes(setup.victim, setup.n_pretrain) == (
        smoke.epochs * smoke.n_pretrain * 2)


def test_bad_input(victim, mnist):
    x = mnist.x[:32]
    answers = query_victim(victim, x, device="cpu")
    with pytest.raises(ValueError, match="method"):
        steal_encoder(x, answers, "copycat", progress=False)
    with pytest.raises(ValueError, match="answers"):
        steal_encoder(x, answers[:10], progress=False)
    with pytest.raises(ValueError, match="epochs"):
        steal_encoder(x, answers, epochs=0, progress=False)
    with pytest.raises(ValueError, match="features"):
        steal_encoder(x, answers[:, :16], progress=False)
    with pytest.raises(ValueError, match="x must"):
        query_victim(victim, torch.zeros(3, 28, 28))


def test_stolen_copy_is_kept_in_the_zoo(smoke, isolated_cache, mnist):
    from sslsec.zoo import profile_encoder

    victim = profile_encoder(smoke, 0, progress=False)
    x = mnist.x[1000:1064]
    first = stolen_copy(victim, x, epochs=1, batch_size=32, augment=WEAK, device="cpu",
                        progress=False)
    second = stolen_copy(victim, x, epochs=1, batch_size=32, augment=WEAK, device="cpu",
                         progress=False)
    assert not first.entry.from_cache and second.entry.from_cache
    assert second.entry.parent == victim.key and second.loss == first.loss
    assert second.image_passes == first.image_passes == 2 * 64
    probe = mnist.x[:16]
    assert torch.equal(query_victim(first.surrogate, probe), query_victim(second.surrogate, probe))
    third = stolen_copy(victim, x, "contsteal", epochs=1, batch_size=32, augment=WEAK,
                        device="cpu", progress=False)
    assert third.entry.key != first.entry.key


def test_a_copy_stolen_through_a_defended_api_is_keyed_by_what_the_api_answers(
        smoke, isolated_cache, mnist):
    """Through a noisy API, the copy is the one steal_encoder makes from the API's answers; it
    is loaded again only when the API would answer the same (same options, calibration and
    noise draws so far), and never confused with the undefended copy."""
    from sslsec.zoo import profile_encoder

    victim = profile_encoder(smoke, 0, progress=False)
    x, calibration = mnist.x[1000:1064], mnist.x[:200]
    kwargs = dict(epochs=1, batch_size=32, augment=WEAK, device="cpu", progress=False)

    def api():
        return embedding_perturbation(victim.encoder, calibration, noise=1.0, seed=3,
                                      device="cpu")

    direct = steal_encoder(x, query_victim(api(), x), arch=victim.spec.arch, **kwargs)
    first = stolen_copy(victim, x, api=api(), **kwargs)
    again = stolen_copy(victim, x, api=api(), **kwargs)
    assert not first.entry.from_cache and again.entry.from_cache
    probe = mnist.x[:16]
    assert torch.equal(query_victim(first.surrogate, probe), query_victim(direct.surrogate, probe))
    used = api()
    query_victim(used, probe)  # an earlier caller drew noise: the next answers differ
    later = stolen_copy(victim, x, api=used, **kwargs)
    undefended = stolen_copy(victim, x, **kwargs)
    assert len({first.entry.key, later.entry.key, undefended.entry.key}) == 3
    with pytest.raises(ValueError, match="wrap victim.encoder"):
        stolen_copy(victim, x, api=SmallCNN(), **kwargs)


def test_averaging_repeated_queries_shrinks_the_api_noise(victim, mnist):
    """Sending each image r times and averaging the answers divides the noise's spread by
    about √r; the copy's key says how many answers were averaged."""
    x = mnist.x[:64]
    clean = query_victim(victim, x, device="cpu")
    api = embedding_perturbation(victim, mnist.x[200:400], noise=1.0, seed=1, device="cpu")
    single = (query_victim(api, x, device="cpu") - clean).std()
    averaged = AveragedQueries(api, 16)
    mean16 = (query_victim(averaged, x, device="cpu") - clean).std()
    assert 0.2 < float(mean16 / single) < 0.3  # ≈ 1/√16
    assert averaged.encoder is victim and averaged.describe()["averaged_over"] == 16
    with pytest.raises(ValueError, match="repeats"):
        AveragedQueries(api, 0)
    with pytest.raises(ValueError, match="defended API"):
        AveragedQueries(victim, 4)
