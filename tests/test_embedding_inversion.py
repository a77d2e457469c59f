import functools

import pytest
import torch

from sslsec.attacks.embedding_inversion import (
    InversionDecoder,
    evaluate_inversion,
    inversion_attack,
    invert,
    mean_image_ssim,
    recognise,
    recognised_fraction,
    ssim,
    train_inversion,
    train_recogniser,
)
from sslsec.defenses.embedding_perturbation import PerturbedEncoder, embedding_perturbation
from sslsec.downstream import evaluate_encoder, extract_features
from sslsec.models import SmallCNN


@pytest.fixture(scope="module")
def data(mnist):
    """mnist5k is sorted by class: a seeded shuffle gives every slice all ten digits."""
    return mnist[torch.randperm(len(mnist), generator=torch.Generator().manual_seed(0))]


@pytest.fixture(scope="module")
def encoder():
    torch.manual_seed(0)
    return SmallCNN().eval()  # random weights: its features still describe the image


def small_decoder(encoder, x, **kwargs):
    options = {"epochs": 25, "batch_size": 32, "lr": 3e-3, "device": "cpu", "seed": 0,
               "progress": False, "width": 8, "hidden": 128, **kwargs}
    return train_inversion(encoder, x, **options)


# ---------------------------------------------------------------------------------------- SSIM


def test_ssim_is_one_for_identical_images_and_lower_with_noise(data):
    x = data.x[:8]
    assert torch.allclose(ssim(x, x), torch.ones(8), atol=1e-4)
    noisy = (x + 0.3 * torch.randn(x.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    more = (x + 0.6 * torch.randn(x.shape, generator=torch.Generator().manual_seed(1))).clamp(0, 1)
    s, s_more = ssim(x, noisy), ssim(x, more)
    assert (s < 0.9).all() and (s_more < s).all()
    assert torch.allclose(ssim(x, noisy), ssim(noisy, x), atol=1e-5)  # symmetric


def test_ssim_of_other_digits_is_low_and_mean_image_is_a_weak_guess(data):
    a, b = data.x[:64], data.x[64:128]
    assert ssim(a, b).mean() < 0.3
    assert mean_image_ssim(data.x[128:628], a) < 0.3


# ------------------------------------------------------------------------------------- decoder


def test_decoder_shapes_and_range():
    decoder = InversionDecoder(16, channels=3, image_size=30, width=4, hidden=16).eval()
    out = decoder(torch.randn(5, 16))
    assert out.shape == (5, 3, 30, 30) and out.min() >= 0 and out.max() <= 1


def test_trained_decoder_beats_untrained_on_held_out_images(data, encoder):
    aux, targets = data.x[:256], data.x[256:320]
    decoder = small_decoder(encoder, aux)
    assert not decoder.training
    z = extract_features(encoder, targets, device="cpu")
    trained = evaluate_inversion(decoder, z, targets).mean_ssim
    untrained = evaluate_inversion(InversionDecoder(128, width=8, hidden=128).eval(), z,
                                   targets).mean_ssim
    assert trained > untrained + 0.1
    assert trained > mean_image_ssim(aux, targets)


def test_train_inversion_is_seeded_and_leaves_the_global_rng_alone(data, encoder):
    x = data.x[:64]
    torch.manual_seed(123)
    expected = torch.rand(1)
    torch.manual_seed(123)
    a = small_decoder(encoder, x, epochs=2)
    assert torch.equal(torch.rand(1), expected)
    b = small_decoder(encoder, x, epochs=2)
    c = small_decoder(encoder, x, epochs=2, seed=1)
    wa, wb, wc = (d.mlp[0].weight for d in (a, b, c))
    assert torch.equal(wa, wb) and not torch.equal(wa, wc)


def test_noise_fn_sees_every_batch_of_embeddings(data, encoder):
    seen = []

    def noise_fn(z):
        seen.append(z.shape)
        return z + 1.0

    small_decoder(encoder, data.x[:64], epochs=2, noise_fn=noise_fn)
    assert seen == [(32, 128)] * 4


def test_inversion_attack_scores_reconstructions(data, encoder):
    decoder = small_decoder(encoder, data.x[:64], epochs=2)
    always_right = _ConstantClassifier(data.y[100:110])
    result = inversion_attack(encoder, decoder, data.x[100:110], data.y[100:110],
                              always_right, device="cpu")
    assert result.reconstructions.shape == (10, 1, 28, 28)
    assert result.ssim.shape == (10,) and result.mean_ssim == pytest.approx(result.ssim.mean())
    assert result.recognised.all() and result.recognised_fraction == 1.0
    unlabelled = inversion_attack(encoder, decoder, data.x[100:110], device="cpu")
    assert unlabelled.recognised is None and unlabelled.recognised_fraction != \
        unlabelled.recognised_fraction  # nan


class _ConstantClassifier(torch.nn.Module):
    """Answers the given labels, in order, whatever the images."""

    def __init__(self, labels):
        super().__init__()
        self.labels = labels
        self.dummy = torch.nn.Parameter(torch.zeros(1))

    def forward(self, x):
        return torch.nn.functional.one_hot(self.labels[:len(x)], 10).float()


# ---------------------------------------------------------------------------------- recogniser


def test_recogniser_beats_chance_on_held_out_digits(data):
    model = train_recogniser(data.x[:768], data.y[:768], epochs=3, device="cpu", seed=0,
                             batch_size=32)
    assert not model.training
    held_out = recognised_fraction(model, data.x[1000:1256], data.y[1000:1256])
    assert held_out > 0.6
    assert recognise(model, data.x[:4]).shape == (4,)
    # reconstructions of the wrong digits are not recognised as the right ones
    assert recognised_fraction(model, data.x[1000:1256], (data.y[1000:1256] + 1) % 10) < 0.2


# ---------------------------------------------------------------------------------- defence


def test_noise_changes_features_by_the_asked_amount(data, encoder):
    x = data.x[:512]
    z = extract_features(encoder, x, device="cpu")
    for noise in (0.5, 2.0):
        defended = embedding_perturbation(encoder, x, noise=noise, seed=0, device="cpu")
        assert defended.relative_error(z) == pytest.approx(noise, rel=0.05)
    unchanged = embedding_perturbation(encoder, x, device="cpu")
    assert torch.equal(unchanged.encode(x[:16]), z[:16])


def test_noise_is_fresh_per_call_and_seeded(data, encoder):
    x = data.x[:64]
    a = embedding_perturbation(encoder, x, noise=1.0, seed=3, device="cpu")
    b = embedding_perturbation(encoder, x, noise=1.0, seed=3, device="cpu")
    first = a.encode(x)
    assert not torch.equal(first, a.encode(x))
    assert torch.equal(first, b.encode(x))
    g1, g2 = (torch.Generator().manual_seed(7) for _ in range(2))
    z = extract_features(encoder, x, device="cpu")
    assert torch.equal(a.perturb(z, g1), b.perturb(z, g2))


def test_quantisation_to_a_step_and_to_bits(data, encoder):
    x = data.x[:256]
    z = extract_features(encoder, x, device="cpu")
    stepped = embedding_perturbation(encoder, x, step=0.5, device="cpu")
    grid = 0.5 * stepped.scale
    q = stepped.perturb(z)
    assert ((q - z).abs() <= grid / 2 + 1e-5).all()
    assert torch.allclose(q / grid, torch.round(q / grid), atol=1e-4)
    binary = embedding_perturbation(encoder, x, bits=1, device="cpu")
    q = binary.perturb(z)
    assert all(len(torch.unique(q[:, d])) <= 2 for d in range(q.shape[1]))
    two = embedding_perturbation(encoder, x, bits=2, device="cpu").perturb(z)
    assert max(len(torch.unique(two[:, d])) for d in range(q.shape[1])) == 4
    assert (two - z).abs().mean() < (q - z).abs().mean()


def test_perturbed_encoder_works_with_the_probe_and_the_attack(data, encoder):
    x, y = data.x[:256], data.y[:256]
    defended = embedding_perturbation(encoder, x, noise=0.5, bits=None, step=0.25, seed=0,
                                      device="cpu")
    assert isinstance(defended, PerturbedEncoder) and defended.in_channels == 1
    probe = evaluate_encoder(defended, data[:256], data[256:384], "linear", 5, "cpu", 0)
    assert 0.0 <= probe.test_accuracy <= 1.0
    noise_fn = functools.partial(defended.perturb, generator=torch.Generator().manual_seed(0))
    decoder = small_decoder(encoder, x, epochs=2, noise_fn=noise_fn)
    result = inversion_attack(defended, decoder, data.x[300:310], y[:10], device="cpu")
    assert result.reconstructions.shape == (10, 1, 28, 28)


def test_strong_noise_hurts_a_decoder_trained_on_clean_embeddings(data, encoder):
    aux, targets = data.x[:256], data.x[256:320]
    decoder = small_decoder(encoder, aux)
    clean = inversion_attack(encoder, decoder, targets, device="cpu").mean_ssim
    defended = embedding_perturbation(encoder, aux, noise=3.0, seed=0, device="cpu")
    noisy = inversion_attack(defended, decoder, targets, device="cpu").mean_ssim
    assert noisy < clean - 0.05


# ---------------------------------------------------------------------------------- bad input


def _decoder():
    return InversionDecoder(128, width=4, hidden=8).eval()


BAD = {
    "ssim shapes differ": (lambda m, e: ssim(m.x[:2], m.x[:3]), r"same shape"),
    "ssim window even": (lambda m, e: ssim(m.x[:2], m.x[:2], 4), r"window_size=4"),
    "ssim window too large": (lambda m, e: ssim(m.x[:2, :, :5, :5], m.x[:2, :, :5, :5]),
                              r"window_size=11 is larger"),
    "ssim not images": (lambda m, e: ssim(m.x[0], m.x[0]), r"a must have shape"),
    "zero epochs": (lambda m, e: train_inversion(e, m.x[:8], epochs=0), r"epochs=0"),
    "negative lr": (lambda m, e: train_inversion(e, m.x[:8], lr=-1.0), r"lr=-1.0"),
    "unknown loss": (lambda m, e: train_inversion(e, m.x[:8], loss="l1"), r"loss='l1'.*bce"),
    "one aux image": (lambda m, e: train_inversion(e, m.x[:1]), r"aux_x holds 1"),
    "noise_fn not callable": (lambda m, e: train_inversion(e, m.x[:8], noise_fn=3),
                              r"noise_fn must be callable"),
    "bad seed": (lambda m, e: train_inversion(e, m.x[:8], seed=-1), r"seed=-1"),
    "integer aux images": (lambda m, e: train_inversion(e, (m.x[:8] * 255).long()),
                           r"aux_x must be a float"),
    "embeddings of another size": (lambda m, e: invert(_decoder(), torch.zeros(3, 64)),
                                   r"64 dimensions; the decoder expects 128"),
    "embeddings not 2-D": (lambda m, e: invert(_decoder(), torch.zeros(128)),
                           r"embeddings must be a float tensor of shape \(N, D\)"),
    "embeddings and targets differ": (
        lambda m, e: evaluate_inversion(_decoder(), torch.zeros(3, 128), m.x[:4]),
        r"3 embeddings for 4 target images"),
    "targets of another size": (
        lambda m, e: evaluate_inversion(_decoder(), torch.zeros(2, 128), m.x[:2, :, :20, :20]),
        r"decoder makes 28×28"),
    "labels of the wrong length": (
        lambda m, e: train_recogniser(m.x[:8], m.y[:7]), r"y must hold one integer label"),
    "float labels": (lambda m, e: recognised_fraction(_decoder(), m.x[:4], torch.zeros(4)),
                     r"labels must hold one integer label"),
    "recogniser zero epochs": (lambda m, e: train_recogniser(m.x[:8], m.y[:8], epochs=0),
                               r"epochs=0"),
    "negative noise": (lambda m, e: embedding_perturbation(e, m.x[:8], noise=-1.0),
                       r"noise=-1.0 must be a number >= 0"),
    "step and bits": (lambda m, e: embedding_perturbation(e, m.x[:8], step=1.0, bits=2),
                      r"step=1.0 or bits=2, not both"),
    "zero bits": (lambda m, e: embedding_perturbation(e, m.x[:8], bits=0), r"bits=0"),
    "zero step": (lambda m, e: embedding_perturbation(e, m.x[:8], step=0.0), r"step=0.0"),
    "one calibration image": (lambda m, e: embedding_perturbation(e, m.x[:1]),
                              r"x holds 1 image"),
    "perturb wrong width": (
        lambda m, e: embedding_perturbation(e, m.x[:8], device="cpu").perturb(torch.zeros(2, 5)),
        r"z must be \(N, 128\)"),
}


@pytest.mark.parametrize("case", BAD, ids=list(BAD))
def test_bad_input_raises_value_error(case, data, encoder):
    call, message = BAD[case]
    with pytest.raises(ValueError, match=message):
        call(data, encoder)


def test_setup_and_defence_point_smoke(smoke):
    from sslsec.chapters.ch03_reconstruction import inversion_setup
    from sslsec.defenses.embedding_perturbation import defence_point

    setup = inversion_setup(smoke, seed=0, progress=False)
    s = setup.settings
    assert len(setup.aux) == s["n_aux"] and len(setup.users) == s["n_users"]
    decoder = train_inversion(setup.encoder, setup.aux.x, 1, device="cpu", progress=False,
                              width=s["decoder_width"], hidden=s["decoder_hidden"])
    point = defence_point(setup, decoder, {"noise": 1.0}, probe_epochs=2, decoder_epochs=1,
                          device="cpu")
    assert point.name == "noise 1" and 0 <= point.probe_accuracy <= 1
    for result in (point.naive, point.adaptive):
        assert len(result.ssim) == s["n_users"] and 0 <= result.recognised_fraction <= 1
