import pytest
import torch

from sslsec.attacks.contrastive_poisoning import (
    apply_poison,
    contrastive_poison,
    make_poison,
    poison_parameters,
    preview,
    preview_rows,
    random_init_accuracy,
    random_poison,
    untrained_encoder,
    victim_encoder,
)
from sslsec.chapters import ch08_poisoning as chapter
from sslsec.data import downstream_task, pretrain_set
from sslsec.image_filters import binarize, filter_images, median_blur
from sslsec.pretrain import PretrainConfig
from sslsec.profiles import get_profile
from sslsec.zoo import DerivedEntry


@pytest.fixture(scope="module")
def small(mnist):
    return mnist[::39][:128]  # the file is sorted by class: a stride covers all ten


@pytest.fixture(scope="module")
def config():
    return PretrainConfig.from_profile(get_profile("smoke"), batch_size=64)


@pytest.mark.parametrize("kind,rows,grid", [("classwise", 10, 4), ("samplewise", 128, None)])
def test_poison_respects_budget_and_shapes(small, config, kind, rows, grid):
    res = contrastive_poison(small, epsilon=0.1, kind=kind, config=config, rounds=2,
                             train_steps=2, pgd_steps=1, grid=grid, device="cpu")
    x = res.poisoned.x
    assert res.delta.shape == (rows, 1, grid or 28, grid or 28)
    assert x.shape == small.x.shape and torch.equal(res.poisoned.y, small.y)
    assert (x - small.x).abs().max() <= 0.1 + 1e-6 and x.min() >= 0 and x.max() <= 1
    assert 0 < res.linf <= 0.1 + 1e-6 and len(res.loss) == 2 and res.seconds > 0
    assert (x - small.x).abs().max() > 0.01  # it did perturb


def test_classwise_poison_adds_one_pattern_per_class(small):
    delta = torch.zeros(10, 1, 2, 2)
    delta[3] = 0.05
    out = apply_poison(small, delta, "classwise")
    changed = (out.x - small.x).abs().flatten(1).amax(1) > 0
    assert (small.y == 3).any() and torch.equal(changed, small.y == 3)


def test_random_poison_is_bounded_and_seeded(small):
    res = random_poison(small, 0.1, "samplewise", seed=1)
    assert res.delta.shape == (128, 1, 28, 28)
    assert (res.poisoned.x - small.x).abs().max() <= 0.1 + 1e-6
    assert torch.equal(res.delta, random_poison(small, 0.1, "samplewise", seed=1).delta)
    assert not torch.equal(res.delta, random_poison(small, 0.1, "samplewise", seed=2).delta)


@pytest.mark.parametrize("kwargs", [{"epsilon": 0.0}, {"epsilon": 1.5}, {"kind": "pixelwise"},
                                    {"rounds": 0}, {"pgd_steps": 1.5}, {"step_size": -0.1},
                                    {"grid": 0}, {"grid": 29}])
def test_bad_arguments_raise(small, config, kwargs):
    with pytest.raises(ValueError):
        contrastive_poison(small, config=config, device="cpu", **kwargs)


def test_bad_delta_data_and_batch_size_raise(small, config):
    with pytest.raises(ValueError, match="shape"):
        apply_poison(small, torch.zeros(3, 1, 28, 28), "classwise")
    with pytest.raises(ValueError, match="ImageSet"):
        apply_poison(small.x, torch.zeros(10, 1, 28, 28), "classwise")
    with pytest.raises(ValueError, match="batch_size"):
        contrastive_poison(small[:32], config=config, device="cpu")


def test_binarize_erases_a_perturbation_smaller_than_the_margin():
    gen = torch.Generator().manual_seed(0)
    clean = (torch.rand(4, 1, 28, 28, generator=gen) > 0.7).float()
    noisy = (clean + 0.2 * (torch.rand(clean.shape, generator=gen) * 2 - 1)).clamp(0, 1)
    assert torch.equal(binarize(noisy), clean)
    assert torch.equal(filter_images(noisy, "binarize"), clean)
    assert torch.equal(median_blur(torch.ones(2, 1, 8, 8), 3), torch.ones(2, 1, 8, 8))
    spike = torch.zeros(1, 1, 8, 8)
    spike[0, 0, 4, 4] = 1.0
    assert median_blur(spike, 3).abs().max() == 0  # one outlier pixel is removed


@pytest.mark.parametrize("call", [lambda x: binarize(x, 1.5), lambda x: median_blur(x, 2),
                                  lambda x: filter_images(x, "jpeg"),
                                  lambda x: binarize(x[0])])
def test_filters_bad_input_raises(call):
    with pytest.raises(ValueError):
        call(torch.rand(2, 1, 8, 8))


def test_victims_in_the_smoke_profile(smoke, tmp_path, monkeypatch):
    monkeypatch.setenv("SSLSEC_CACHE", str(tmp_path))
    data = pretrain_set(smoke)
    settings = chapter.settings("smoke")
    poisoned = victim_encoder(smoke, settings, "contrastive", "classwise", progress=False)
    assert isinstance(poisoned, DerivedEntry) and len(poisoned.info["loss"]) == smoke.epochs
    x, delta, out = preview(poisoned, data)
    assert x.shape == delta.shape == out.shape == (10, 1, 28, 28)
    assert delta.abs().max() <= 0.3 + 1e-6
    made = make_poison(smoke, settings, "contrastive", "classwise")
    rows = preview_rows(data, "samplewise")
    assert torch.allclose(out, made.poisoned.x[rows], atol=1e-6)  # the preview is the data
    again = chapter.victim_encoder(smoke, "contrastive", "classwise", progress=False)
    assert again.from_cache and again.key == poisoned.key  # the chapter passes its settings
    filtered = chapter.victim_encoder(smoke, "contrastive", "classwise", "binarize",
                                      progress=False)
    assert filtered.key != poisoned.key
    assert chapter.victim_encoder(smoke, progress=False).key != poisoned.key  # the clean one
    with pytest.raises(ValueError, match="contrastive"):
        preview(chapter.victim_encoder(smoke, "random", "classwise", progress=False), data)
    with pytest.raises(ValueError, match="image_filter"):
        chapter.victim_encoder(smoke, "contrastive", "classwise", "jpeg")


def test_poison_parameters_name_what_decides_a_poison():
    settings = chapter.settings("laptop")
    assert poison_parameters(settings, "random", "classwise", 3) == {
        "poison": "random", "kind": "classwise", "epsilon": 0.3, "seed": 3}
    assert poison_parameters(settings, "contrastive", "samplewise") == {
        "poison": "contrastive", "kind": "samplewise", "epsilon": 0.3, "seed": 0, "rounds": 10,
        "train_steps": 10, "pgd_steps": 3, "grid": 4}
    with pytest.raises(ValueError, match="poison='label-flip'"):
        poison_parameters(settings, "label-flip", "classwise")
    with pytest.raises(ValueError, match="settings lack rounds"):
        poison_parameters({"epsilon": 0.3}, "contrastive", "classwise")
    assert poison_parameters({"epsilon": 0.3}, "random", "classwise")["epsilon"] == 0.3
    with pytest.raises(ValueError, match="settings must be a dict"):
        poison_parameters("contrastive", "classwise", "classwise")


def test_random_init_accuracy(smoke):
    task = downstream_task(smoke)
    a, b = (untrained_encoder(smoke, task["train"], 3) for _ in range(2))
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    accuracies = random_init_accuracy(smoke, task, [0, 1])
    assert len(accuracies) == 2 and all(0.0 <= a <= 1.0 for a in accuracies)
    with pytest.raises(ValueError):
        random_init_accuracy(smoke, task, [])


def test_poisons_are_made_per_profile_not_per_name(smoke):
    """A profile changed with ``dataclasses.replace`` keeps its name (chapter 08's dataset
    lever): its poison is made from its own images, not taken from the other's."""
    import dataclasses

    from sslsec.attacks.contrastive_poisoning import make_poison

    lever = dataclasses.replace(smoke, pretrain_dataset="mnistm", downstream_datasets=("mnistm",))
    grey = make_poison(smoke, {"epsilon": 0.3}, "random", "classwise")
    colour = make_poison(lever, {"epsilon": 0.3}, "random", "classwise")
    assert grey.poisoned.x.shape[1] == 1 and colour.poisoned.x.shape[1] == 3
