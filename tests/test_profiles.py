import pytest
import torch

from sslsec.models import build_encoder
from sslsec.profiles import PROFILES, AugmentConfig, get_profile, resolve_device


def test_profiles_with_growing_budgets():
    assert set(PROFILES) == {"smoke", "laptop", "paper", "papersmoke"}
    smoke, laptop, paper = (get_profile(n) for n in ("smoke", "laptop", "paper"))
    assert smoke.epochs < laptop.epochs < paper.epochs
    assert smoke.n_pretrain < laptop.n_pretrain < paper.n_pretrain
    assert laptop.pretrain_dataset == "mnist5k" and laptop.arch == "cnn28"
    assert paper.pretrain_dataset == "cifar10" and paper.arch == "resnet18"
    assert set(paper.downstream_datasets) == {"stl10", "svhn", "gtsrb"}


def test_papersmoke_is_the_paper_setting_at_smoke_sizes():
    smoke, paper, ps = (get_profile(n) for n in ("smoke", "paper", "papersmoke"))
    for field in ("pretrain_dataset", "downstream_datasets", "augment", "other_dataset"):
        assert getattr(ps, field) == getattr(paper, field), field
    # the paper's ResNet-18, layer for layer, at an eighth of its width
    assert ps.arch == f"{paper.arch}-w8"
    thin, full = build_encoder(ps.arch, 3), build_encoder(paper.arch, 3)
    assert type(thin) is type(full) and thin.feature_dim * 8 == full.feature_dim
    for field in ("n_pretrain", "n_downstream_train", "n_test", "epochs", "probe_epochs"):
        assert getattr(ps, field) == getattr(smoke, field), field
    assert smoke.other_dataset == "digits" and get_profile("laptop").other_dataset == "digits"
    assert ps.other_dataset != ps.pretrain_dataset


def test_default_is_laptop_and_overrides_apply():
    assert get_profile().name == "laptop"
    p = get_profile("smoke", epochs=3, batch_size=64)
    assert (p.epochs, p.batch_size) == (3, 64)
    assert p.replace(n_test=10).n_test == 10


def test_auto_device_picks_cuda_only_when_present():
    want = "cuda" if torch.cuda.is_available() else None
    got = resolve_device("auto").type
    if want:
        assert got == "cuda"
    else:
        assert got in ("cpu", "mps")
    assert resolve_device("cpu") == torch.device("cpu")
    assert get_profile("smoke", device="cpu").torch_device() == torch.device("cpu")


def test_augment_strength_scales_towards_identity():
    base = AugmentConfig(crop_scale=(0.2, 1.0), flip_p=0.5, rotation_degrees=10)
    zero = base.scaled(0.0)
    assert zero.crop_scale == (1.0, 1.0) and zero.flip_p == 0 and zero.rotation_degrees == 0
    assert base.scaled(1.0) == base
    assert base.scaled(0.5).crop_scale[0] == pytest.approx(0.6)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_requested_without_gpu_is_a_clear_error():
    with pytest.raises(ValueError, match="no CUDA GPU"):
        resolve_device("cuda")
