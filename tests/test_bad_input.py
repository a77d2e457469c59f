"""Bad input fails early with a ValueError that names the parameter and what is allowed."""

import pytest
import torch

from sslsec import chapters, zoo
from sslsec.augment import SimCLRAugment
from sslsec.data import ImageSet, downstream_task, load_dataset, pools, pretrain_set, split_dataset
from sslsec.downstream import evaluate_encoder, extract_features, linear_probe
from sslsec.models import build_encoder
from sslsec.pretrain import PretrainConfig, nt_xent, pretrain
from sslsec.profiles import AugmentConfig, get_profile, resolve_device
from sslsec.seed import seed_everything


def digits():
    return load_dataset("digits")


CASES = {
    "unknown dataset": (lambda: load_dataset("imagenet"), r"dataset='imagenet'.*allowed: mnist5k"),
    "unknown dataset in pools": (lambda: pools("mnist"), r"dataset='mnist'.*allowed"),
    "unknown part": (lambda: load_dataset("cifar10", part="val"), r"part='val'.*allowed: train"),
    "part of an offline dataset": (lambda: load_dataset("digits", part="test"),
                                   r"part='test'.*allowed: all"),
    "unknown profile": (lambda: get_profile("desktop"), r"profile='desktop'.*allowed: smoke"),
    "unknown chapter settings": (lambda: chapters.settings("99_nothing", "laptop"),
                                 r"chapter='99_nothing'.*allowed: 00_foundations"),
    "unknown profile of a chapter": (lambda: chapters.settings("07_backdoors", "desktop"),
                                     r"profile='desktop'.*allowed: smoke, laptop, paper"),
    "unknown profile field": (lambda: get_profile("smoke", epoch=3), r"unknown profile field"),
    "unknown device": (lambda: resolve_device("tpu"), r"device='tpu'.*allowed: auto"),
    "unknown device in profile": (lambda: get_profile("smoke", device="gpu"), r"device='gpu'"),
    "zero epochs": (lambda: get_profile("smoke", epochs=0), r"epochs=0 must be a positive"),
    "negative batch size": (lambda: get_profile("smoke", batch_size=-1), r"batch_size=-1"),
    "zero pre-training size": (lambda: get_profile("smoke", n_pretrain=0), r"n_pretrain=0"),
    "pre-training larger than the data": (
        lambda: pretrain_set(get_profile("smoke", n_pretrain=4001)),
        r"n_pretrain=4001.*allowed: 1..4000"),
    "split larger than the data": (lambda: split_dataset(digits(), {"a": 1000, "b": 1000}),
                                   r"2000 images.*only 1797"),
    "split of size zero": (lambda: split_dataset(digits(), {"member": 0}),
                           r"sizes\['member'\]=0"),
    "split that does not exist": (lambda: pools("digits")["validation"],
                                  r"split='validation'.*allowed: test, train"),
    "split of a downstream task": (lambda: downstream_task(get_profile("smoke"))["pretrain"],
                                   r"split='pretrain'.*allowed: train, test"),
    "negative seed": (lambda: seed_everything(-1), r"seed=-1"),
    "unknown architecture": (lambda: build_encoder("vit"), r"arch='vit'.*allowed: cnn28"),
    "unsupported channels": (lambda: build_encoder("cnn28", in_channels=2),
                             r"in_channels=2.*allowed: 1, 3"),
    "unknown method": (lambda: PretrainConfig(method="byol"), r"method='byol'.*allowed: simclr"),
    "non-positive temperature": (lambda: PretrainConfig(temperature=0), r"temperature=0"),
    "momentum of one": (lambda: PretrainConfig(momentum=1.0), r"momentum=1.0"),
    "crop scale above one": (lambda: AugmentConfig(crop_scale=(0.5, 1.5)), r"crop_scale"),
    "probability above one": (lambda: AugmentConfig(flip_p=2), r"flip_p=2"),
    "augment wrong channels": (lambda: SimCLRAugment(28, 1)(torch.rand(2, 3, 28, 28)),
                               r"1 channel"),
    "augment integer images": (lambda: SimCLRAugment(28, 1)(torch.zeros(2, 1, 28, 28,
                                                                       dtype=torch.uint8)),
                               r"float tensor"),
    "augment wrong size": (lambda: SimCLRAugment(28, 1)(torch.rand(2, 1, 32, 32)), r"28x28"),
    "encode a 3-D tensor": (lambda: build_encoder("cnn28").encode(torch.rand(1, 28, 28)),
                            r"shape \(N, C, H, W\)"),
    "batch larger than the data": (
        lambda: pretrain(build_encoder("cnn28"), torch.rand(10, 1, 28, 28),
                         PretrainConfig(batch_size=64), progress=False),
        r"batch_size=64.*allowed: 2..10"),
    "features batch size zero": (lambda: extract_features(build_encoder("cnn28"),
                                                          torch.rand(2, 1, 28, 28), 0),
                                 r"batch_size=0"),
    "probe labels mismatch": (lambda: linear_probe(torch.rand(5, 3), torch.zeros(4).long(),
                                                   torch.rand(5, 3), torch.zeros(5).long()),
                              r"train: features must be"),
    "unknown probe": (lambda: evaluate_encoder(build_encoder("cnn28"), digits()[:10],
                                               digits()[:10], probe="svm"),
                      r"probe='svm'.*allowed: linear, mlp"),
    "loss shapes differ": (lambda: nt_xent(torch.rand(4, 8), torch.rand(5, 8)), r"equal shape"),
    "imageset labels mismatch": (lambda: ImageSet(torch.rand(3, 1, 4, 4), torch.zeros(2).long(),
                                                  "x", ("0",)), r"3 labels"),
    "zoo images of the wrong size": (
        lambda: zoo.train_or_load(zoo.spec_for_profile(get_profile("smoke")),
                                  torch.rand(8, 1, 32, 32)),
        r"image_size=28"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_raises_a_clear_value_error(case, isolated_cache):
    call, message = CASES[case]
    with pytest.raises(ValueError, match=message):
        call()
    assert not isolated_cache.exists() or not any(isolated_cache.iterdir())


def test_positive_ints_names_the_first_bad_value():
    from sslsec.checks import positive_ints

    positive_ints(a=1, b=2)
    for bad in (0, -1, 1.5, True, "3", None):
        with pytest.raises(ValueError, match=r"^b=.* must be a positive integer$"):
            positive_ints(a=1, b=bad, c=0)
