"""The real dataset loaders (cifar10, stl10, svhn, gtsrb) read each dataset's own on-disk format.

Every fixture writes a tiny copy of one dataset in ``tmp_path``, byte for byte in the layout of
the official archive, with pixels that encode their image, channel, row and column, so that a
wrong reshape, transposition, channel order or label offset shows up. Nothing is downloaded: the
download functions torchvision calls are replaced by ones that fail (see ``no_network``).
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision.datasets.cifar
import torchvision.datasets.gtsrb
import torchvision.datasets.stl10
import torchvision.datasets.svhn

from sslsec import data
from sslsec.data import DatasetNotFoundError, load_dataset, pools
from sslsec.standin import (
    write_cifar10,
    write_gtsrb,
    write_standins,
    write_stl10,
    write_svhn,
)

REAL = ("cifar10", "stl10", "svhn", "gtsrb")


@dataclass
class Fake:
    """A tiny dataset on disk and what the loader must return for each part."""

    root: Path
    labels: dict[str, list[int]]
    images: dict[str, np.ndarray]  # float (N, 3, 32, 32); NaN where no exact value is expected
    classes: tuple[str, ...]
    atol: float = 1e-6


# --------------------------------------------------------------------------- no network at all

# (torchvision module, name of the download function that module calls)
_DOWNLOADERS = {
    "cifar10": (torchvision.datasets.cifar, "download_and_extract_archive"),
    "stl10": (torchvision.datasets.stl10, "download_and_extract_archive"),
    "svhn": (torchvision.datasets.svhn, "download_url"),
    "gtsrb": (torchvision.datasets.gtsrb, "download_and_extract_archive"),
}


@pytest.fixture(autouse=True)
def no_network(monkeypatch) -> list[tuple[str, tuple, dict]]:
    """Every download torchvision would start fails with ``OSError("offline")``; the list
    records the attempts."""
    calls: list[tuple[str, tuple, dict]] = []
    for name, (module, func) in _DOWNLOADERS.items():
        def offline(*args, _name=name, **kwargs):
            calls.append((_name, args, kwargs))
            raise OSError("offline")

        monkeypatch.setattr(module, func, offline)
    monkeypatch.delenv("SSLSEC_DOWNLOAD", raising=False)
    monkeypatch.delenv("SSLSEC_DATA", raising=False)
    return calls


# --------------------------------------------------------------------------- pixel patterns

def _pattern32(k: int) -> np.ndarray:
    """Image ``k``: uint8 (32, 32, 3); R constant, G a row ramp, B a column ramp."""
    h, w = np.meshgrid(np.arange(32), np.arange(32), indexing="ij")
    r = np.full((32, 32), 20 * k + 5)
    return np.stack([r, (7 * h + k) % 256, (5 * w + 3 * k) % 256], axis=-1).astype(np.uint8)


def _expected32(images: list[np.ndarray]) -> np.ndarray:
    return np.stack(images).transpose(0, 3, 1, 2).astype(np.float64) / 255.0


def _band(n_out: int, edge: int) -> np.ndarray:
    """After a 3× downscale of a band that is 1 before input pixel ``edge`` and 0 after it:
    1 and 0 away from the edge, NaN (not checked) next to it."""
    out = np.where(np.arange(n_out) < edge / 3, 1.0, 0.0)
    out[int(edge / 3) - 2: int(edge / 3) + 2] = np.nan
    return out


def _pattern96(k: int) -> np.ndarray:
    """STL-10 image ``k``: uint8 (3, 96, 96) = (C, H, W); R constant, G bright on the top half
    (rows < 48), B bright on the left quarter (columns < 24): transposed, G and B would differ."""
    img = np.zeros((3, 96, 96), np.uint8)
    img[0] = 20 * k + 5
    img[1, :48, :] = 255
    img[2, :, :24] = 255
    return img


def _expected96(k: int) -> np.ndarray:
    out = np.empty((3, 32, 32))
    out[0] = (20 * k + 5) / 255.0
    out[1] = _band(32, 48)[:, None]
    out[2] = _band(32, 24)[None, :]
    return out


# --------------------------------------------------------------------------- CIFAR-10

CIFAR_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                 "ship", "truck")


@pytest.fixture
def cifar10(tmp_path) -> Fake:
    images: dict[str, list] = {"train": [], "test": []}
    labels: dict[str, list[int]] = {"train": [], "test": []}
    for part, n, k0 in (("train", 10, 0), ("test", 3, 10)):  # 5 batches of 2, then 3
        images[part] = [_pattern32(k) for k in range(k0, k0 + n)]
        labels[part] = [(7 * k + 3) % 10 for k in range(k0, k0 + n)]
    write_cifar10(tmp_path, {p: (np.stack(images[p]), labels[p]) for p in images},
                  CIFAR_CLASSES)
    return Fake(tmp_path, labels, {p: _expected32(v) for p, v in images.items()}, CIFAR_CLASSES)


def test_cifar10_pickles_look_like_python2_ones(cifar10):
    """The fake pickles decode the way torchvision decodes the real ones."""
    with open(cifar10.root / "cifar-10-batches-py" / "data_batch_1", "rb") as f:
        entry = pickle.load(f, encoding="latin1")
    assert set(entry) == {"batch_label", "labels", "data", "filenames"}
    assert entry["data"].dtype == np.uint8 and entry["data"].shape == (2, 3072)
    with open(cifar10.root / "cifar-10-batches-py" / "data_batch_1", "rb") as f:
        assert b"data" in pickle.load(f, encoding="bytes")  # Python 2 str, not unicode


# --------------------------------------------------------------------------- STL-10

STL_CLASSES = ("airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship",
               "truck")


@pytest.fixture
def stl10(tmp_path) -> Fake:
    parts = {"train": [0, 9, 3, 6], "test": [9, 1, 4]}  # written as 1..10 on disk
    images, written, k = {}, {}, 0
    for part, ys in parts.items():
        imgs = [_pattern96(k + j) for j in range(len(ys))]  # (C, H, W)
        written[part] = (np.stack(imgs).transpose(0, 2, 3, 1), ys)
        images[part] = np.stack([_expected96(k + j) for j in range(len(ys))])
        k += len(ys)
    write_stl10(tmp_path, written, STL_CLASSES)
    return Fake(tmp_path, parts, images, STL_CLASSES, atol=1e-4)


# --------------------------------------------------------------------------- SVHN

@pytest.fixture
def svhn(tmp_path) -> Fake:
    parts = {"train": [0, 1, 2, 9, 5], "test": [3, 0, 7]}  # 0 is written as 10 on disk
    images, written, k = {}, {}, 0
    for part, ys in parts.items():
        imgs = [_pattern32(k + j) for j in range(len(ys))]
        k += len(ys)
        written[part] = (np.stack(imgs), ys)
        images[part] = _expected32(imgs)
    write_svhn(tmp_path, written)
    return Fake(tmp_path, parts, images, tuple(str(i) for i in range(10)))


# --------------------------------------------------------------------------- GTSRB

def _colour(k: int) -> tuple[int, int, int]:
    return (30 * k + 10) % 256, (55 * k + 200) % 256, (90 * k + 40) % 256


@pytest.fixture
def gtsrb(tmp_path) -> Fake:
    sizes = [(35, 30), (40, 40), (31, 29), (47, 52)]  # (H, W)
    train = [(0, 0), (0, 1), (2, 0), (42, 0)]  # (class, track); class 1 absent
    images = {"train": [_colour(k) for k in range(4)],
              "test": [_colour(10 + j) for j in range(3)]}
    labels = {"train": [c for c, _ in train], "test": [14, 0, 42]}

    def solid(colour, size):
        return np.broadcast_to(np.asarray(colour, np.uint8), (*size, 3)).copy()

    write_gtsrb(tmp_path, [(solid(images["train"][k], sizes[k]), c) for k, (c, _) in
                           enumerate(train)],
                [(solid(images["test"][j], sizes[j]), c) for j, c in enumerate(labels["test"])],
                tracks=[t for _, t in train])
    expected = {part: np.broadcast_to(np.asarray(c, np.float64)[:, :, None, None] / 255.0,
                                      (len(c), 3, 32, 32)) for part, c in images.items()}
    return Fake(tmp_path, labels, expected, tuple(str(i) for i in range(43)))


# --------------------------------------------------------------------------- loading

@pytest.mark.parametrize("part", ["train", "test"])
@pytest.mark.parametrize("name", REAL)
def test_loader_decodes_images_and_labels(name, part, request, no_network):
    fake: Fake = request.getfixturevalue(name)
    ds = load_dataset(name, part, root=fake.root, download=False)
    n = len(fake.labels[part])
    assert ds.name == name
    assert ds.x.dtype == torch.float32 and tuple(ds.x.shape) == (n, 3, 32, 32)
    assert ds.y.dtype == torch.int64 and ds.y.tolist() == fake.labels[part]
    assert 0.0 <= ds.x.min().item() and ds.x.max().item() <= 1.0
    assert ds.classes == fake.classes and ds.num_classes == len(fake.classes)
    assert (ds.channels, ds.size) == (3, 32)
    expected = fake.images[part]
    checked = ~np.isnan(expected)
    assert checked.mean() > 0.8  # most pixels have an exact expected value
    np.testing.assert_allclose(ds.x.numpy()[checked], expected[checked], atol=fake.atol, rtol=0)
    assert no_network == []


@pytest.mark.parametrize("name", REAL)
def test_pools_returns_official_train_and_test(name, request):
    fake: Fake = request.getfixturevalue(name)
    pool = pools(name, root=fake.root, download=False)
    assert set(pool) == {"train", "test"}
    for part in ("train", "test"):
        assert len(pool[part]) == len(fake.labels[part])
        assert pool[part].y.tolist() == fake.labels[part]


def test_stl10_is_not_transposed(stl10):
    """G is bright on the top rows for every column, B on the left columns for every row."""
    x = load_dataset("stl10", "train", root=stl10.root, download=False).x
    assert torch.all(x[:, 1, :10, :] > 0.99) and torch.all(x[:, 1, 20:, :] < 0.01)
    assert torch.all(x[:, 2, :, :5] > 0.99) and torch.all(x[:, 2, :, 12:] < 0.01)


def test_stl10_without_class_names_file_numbers_the_classes(stl10):
    (stl10.root / "stl10_binary" / "class_names.txt").unlink()
    ds = load_dataset("stl10", "test", root=stl10.root, download=False)
    assert ds.classes == tuple(str(i) for i in range(10))
    assert ds.y.tolist() == stl10.labels["test"]


def test_gtsrb_labels_come_from_the_class_folders(gtsrb):
    """A copy holding only some class folders keeps the folders' class numbers."""
    ds = load_dataset("gtsrb", "train", root=gtsrb.root, download=False)
    assert ds.y.tolist() == [0, 0, 2, 42]


def test_root_given_as_string(cifar10):
    ds = load_dataset("cifar10", "test", root=str(cifar10.root), download=False)
    assert ds.y.tolist() == cifar10.labels["test"]


# --------------------------------------------------------------------------- missing files

_MISSING_NAMES = {  # part -> a file or folder the message must name
    "cifar10": {"train": "cifar-10-batches-py", "test": "cifar-10-batches-py"},
    "stl10": {"train": "stl10_binary", "test": "stl10_binary"},
    "svhn": {"train": "train_32x32.mat", "test": "test_32x32.mat"},
    "gtsrb": {"train": "gtsrb/GTSRB/Training", "test": "GT-final_test.csv"},
}


@pytest.mark.parametrize("part", ["train", "test"])
@pytest.mark.parametrize("name", REAL)
def test_missing_files_offline_raise_a_clear_error(name, part, tmp_path, no_network):
    with pytest.raises(DatasetNotFoundError) as info:
        load_dataset(name, part, root=tmp_path, download=False)
    message = str(info.value)
    assert _MISSING_NAMES[name][part] in message
    assert str(tmp_path) in message
    assert "SSLSEC_DATA" in message and "download failed" not in message
    assert isinstance(info.value, FileNotFoundError)
    assert no_network == []


@pytest.mark.parametrize("name, missing", [
    ("cifar10", "cifar-10-batches-py/data_batch_3"),
    ("cifar10", "cifar-10-batches-py/batches.meta"),
    ("stl10", "stl10_binary/train_y.bin"),
    ("svhn", "train_32x32.mat"),
])
def test_one_missing_file_is_detected(name, missing, request, no_network):
    fake: Fake = request.getfixturevalue(name)
    (fake.root / missing).unlink()
    with pytest.raises(DatasetNotFoundError, match=str(fake.root)):
        load_dataset(name, "train", root=fake.root, download=False)
    assert no_network == []


def test_gtsrb_test_without_csv_is_detected(gtsrb):
    (gtsrb.root / "gtsrb" / "GT-final_test.csv").unlink()
    with pytest.raises(DatasetNotFoundError, match="GT-final_test.csv"):
        load_dataset("gtsrb", "test", root=gtsrb.root, download=False)
    assert len(load_dataset("gtsrb", "train", root=gtsrb.root, download=False)) == 4


def test_gtsrb_without_images_is_detected(tmp_path):
    (tmp_path / "gtsrb" / "GTSRB" / "Training" / "00000").mkdir(parents=True)
    with pytest.raises(DatasetNotFoundError, match="no .ppm images"):
        load_dataset("gtsrb", "train", root=tmp_path, download=False)


@pytest.mark.parametrize("part", ["train", "test"])
@pytest.mark.parametrize("name", REAL)
def test_failed_download_raises_dataset_not_found(name, part, tmp_path, no_network):
    with pytest.raises(DatasetNotFoundError) as info:
        load_dataset(name, part, root=tmp_path, download=True)
    message = str(info.value)
    assert "download failed: offline" in message
    assert _MISSING_NAMES[name][part] in message and str(tmp_path) in message
    assert isinstance(info.value.__cause__, OSError)
    assert [call[0] for call in no_network] == [name]  # torchvision really tried, once


def test_present_files_are_not_downloaded_even_when_allowed(svhn, no_network):
    ds = load_dataset("svhn", "test", root=svhn.root, download=True)
    assert ds.y.tolist() == svhn.labels["test"]
    assert no_network == []


# --------------------------------------------------------------------------- environment

def test_sslsec_data_is_the_default_root(cifar10, monkeypatch):
    monkeypatch.setenv("SSLSEC_DATA", str(cifar10.root))
    assert data.data_root() == cifar10.root
    ds = load_dataset("cifar10")  # part defaults to train
    assert ds.y.tolist() == cifar10.labels["train"]
    assert len(pools("cifar10")["test"]) == len(cifar10.labels["test"])


def test_no_download_unless_sslsec_download_is_1(tmp_path, monkeypatch, no_network):
    monkeypatch.setenv("SSLSEC_DATA", str(tmp_path))
    with pytest.raises(DatasetNotFoundError, match="cifar-10-batches-py") as info:
        load_dataset("cifar10")
    assert str(tmp_path) in str(info.value) and "download failed" not in str(info.value)
    assert no_network == []

    monkeypatch.setenv("SSLSEC_DOWNLOAD", "0")
    with pytest.raises(DatasetNotFoundError):
        load_dataset("svhn", "test")
    assert no_network == []

    monkeypatch.setenv("SSLSEC_DOWNLOAD", "1")
    with pytest.raises(DatasetNotFoundError, match="download failed: offline"):
        load_dataset("svhn", "test")
    assert [call[0] for call in no_network] == ["svhn"]
    # download=False given explicitly wins over SSLSEC_DOWNLOAD=1
    with pytest.raises(DatasetNotFoundError) as info:
        load_dataset("svhn", "test", download=False)
    assert "download failed" not in str(info.value)
    assert len(no_network) == 1


# --------------------------------------------------------------------------- stand-in copies

def test_write_standins_loads_as_every_real_dataset(tmp_path, no_network):
    """The papersmoke stand-ins: every part of every dataset loads, labels cover the classes,
    and the images are not constant."""
    write_standins(tmp_path, n_train=86, n_test=43, seed=0)
    for name in REAL:
        for part, n in (("train", 86), ("test", 43)):
            ds = load_dataset(name, part, root=tmp_path, download=False)
            assert tuple(ds.x.shape) == (n, 3, 32, 32)
            n_classes = 43 if name == "gtsrb" else 10
            assert set(ds.y.tolist()) == set(range(n_classes))
            assert ds.x.std() > 0.05
    assert no_network == []


def test_write_standins_rejects_bad_sizes(tmp_path):
    with pytest.raises(ValueError, match="n_train"):
        write_standins(tmp_path, n_train=3)
    with pytest.raises(ValueError, match="images must be uint8"):
        write_svhn(tmp_path, {"train": (np.zeros((2, 32, 32, 3)), [0, 1])})


def test_downstream_subsets_of_class_sorted_gtsrb_hold_many_classes(tmp_path, monkeypatch):
    """GTSRB's training archive is sorted by class folder: a downstream subset is drawn by a
    seeded permutation, not taken from the front (which would hold one or two classes)."""
    from sslsec.data import downstream_task
    from sslsec.profiles import get_profile

    write_standins(tmp_path, n_train=430, n_test=43)
    monkeypatch.setenv("SSLSEC_DATA", str(tmp_path))
    profile = get_profile("papersmoke", n_downstream_train=40, n_test=20)
    task = downstream_task(profile, "gtsrb", seed=0)
    assert len(task["train"]) == 40 and len(set(task["train"].y.tolist())) > 20
    again = downstream_task(profile, "gtsrb", seed=0)
    assert torch.equal(task["train"].y, again["train"].y)
    assert not torch.equal(task["train"].y, downstream_task(profile, "gtsrb", seed=1)["train"].y)
