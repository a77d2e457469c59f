"""Stand-in copies of the paper-scale datasets, written in each dataset's own on-disk format.

The ``papersmoke`` profile runs the paper profile's code paths (CIFAR-10, STL-10, SVHN, GTSRB
read by :mod:`sslsec.data` exactly as the real archives are read) without the real files: the
``write_*`` functions write given images in the official layouts, and :func:`write_standins`
writes small synthetic copies of all four into one folder, to be named by ``$SSLSEC_DATA``::

    python -c "from sslsec.standin import write_standins; write_standins('/tmp/standin')"
    SSLSEC_DATA=/tmp/standin python -m sslsec run all --profile papersmoke

The synthetic images are not noise: each class has its own colour and stripe orientation, with
random phase, brightness and pixel noise per image, so that an encoder and a linear probe have
something to learn.
"""

from __future__ import annotations

import pickle
import struct
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                   "ship", "truck")
STL10_CLASSES = ("airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship",
                 "truck")

#: ``part -> (uint8 images (N, H, W, 3), labels)`` as the writers take them
Parts = Mapping[str, tuple[np.ndarray, Sequence[int]]]


class _Py2Pickler(pickle._Pickler):
    """Writes ``str`` and ``bytes`` as Python 2 byte strings, as in the real CIFAR-10 pickles
    (made by Python 2's cPickle, read by torchvision with ``encoding="latin1"``)."""

    dispatch = pickle._Pickler.dispatch.copy()

    def save_py2_str(self, obj: str | bytes) -> None:
        raw = obj.encode("latin1") if isinstance(obj, str) else obj
        if len(raw) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(raw)]) + raw)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(raw)) + raw)
        self.memoize(obj)

    dispatch[str] = save_py2_str
    dispatch[bytes] = save_py2_str  # numpy's raw pixel buffer, as Python 2 wrote it


def _py2_pickle(obj, path: Path) -> None:
    with open(path, "wb") as f:
        _Py2Pickler(f, protocol=2).dump(obj)


def _check_images(images: np.ndarray, labels: Sequence[int], name: str, size: int | None,
                  n_classes: int) -> np.ndarray:
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"{name}: images must be uint8 (N, H, W, 3); got {images.dtype} "
                         f"{images.shape}")
    if size is not None and images.shape[1:3] != (size, size):
        raise ValueError(f"{name}: images must be {size}×{size}; got {images.shape[1:3]}")
    if len(labels) != len(images):
        raise ValueError(f"{name}: {len(labels)} labels for {len(images)} images")
    if any(not 0 <= int(y) < n_classes for y in labels):
        raise ValueError(f"{name}: labels must be in 0..{n_classes - 1}")
    return images


def write_cifar10(root: str | Path, parts: Parts, classes: Sequence[str] = CIFAR10_CLASSES,
                  n_batches: int = 5) -> None:
    """``cifar-10-batches-py/``: ``parts["train"]`` split over ``data_batch_1..n_batches``,
    ``parts["test"]`` in ``test_batch``, and ``batches.meta`` (Python 2 pickles)."""
    folder = Path(root) / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    files = {"train": [f"data_batch_{i}" for i in range(1, n_batches + 1)],
             "test": ["test_batch"]}
    for part, names in files.items():
        images, labels = parts[part]
        images = _check_images(images, labels, f"cifar10 {part}", 32, len(classes))
        for file_name, idx in zip(names, np.array_split(np.arange(len(images)), len(names)),
                                  strict=True):
            # one row per image: the R plane, then G, then B, each 32×32 row-major
            rows = images[idx].transpose(0, 3, 1, 2).reshape(len(idx), 3072)
            _py2_pickle({"batch_label": f"{file_name} of {len(names)}",
                         "labels": [int(labels[i]) for i in idx], "data": rows,
                         "filenames": [f"img_{i}.png" for i in idx]}, folder / file_name)
    _py2_pickle({"num_cases_per_batch": len(parts["test"][1]), "label_names": list(classes),
                 "num_vis": 3072}, folder / "batches.meta")


def write_stl10(root: str | Path, parts: Parts, classes: Sequence[str] | None = STL10_CLASSES
                ) -> None:
    """``stl10_binary/{part}_X.bin`` (96×96, each channel column-major) and ``{part}_y.bin``
    (labels 1..10 on disk); ``class_names.txt`` unless ``classes`` is None."""
    folder = Path(root) / "stl10_binary"
    folder.mkdir(parents=True, exist_ok=True)
    for part, (images, labels) in parts.items():
        images = _check_images(images, labels, f"stl10 {part}", 96, 10)
        images.transpose(0, 3, 2, 1).tofile(folder / f"{part}_X.bin")  # (N, 3, W, H)
        (np.asarray(labels, np.int64) + 1).astype(np.uint8).tofile(folder / f"{part}_y.bin")
    if classes is not None:
        (folder / "class_names.txt").write_text("\n".join(classes) + "\n")


def write_svhn(root: str | Path, parts: Parts) -> None:
    """``{part}_32x32.mat`` (format 2): ``X`` of shape (32, 32, 3, N), ``y`` with 10 for 0."""
    import scipy.io

    Path(root).mkdir(parents=True, exist_ok=True)
    for part, (images, labels) in parts.items():
        images = _check_images(images, labels, f"svhn {part}", 32, 10)
        y = np.asarray([int(v) or 10 for v in labels], np.uint8).reshape(-1, 1)
        scipy.io.savemat(Path(root) / f"{part}_32x32.mat",
                         {"X": np.ascontiguousarray(images.transpose(1, 2, 3, 0)), "y": y})


def write_gtsrb(root: str | Path, train: Sequence[tuple[np.ndarray, int]],
                test: Sequence[tuple[np.ndarray, int]],
                tracks: Sequence[int] | None = None) -> None:
    """``gtsrb/GTSRB/Training/<class:05d>/<track>_<k>.ppm`` (with a ``GT-<class>.csv`` per
    folder, as in the archive), ``gtsrb/GTSRB/Final_Test/Images/<j>.ppm`` and
    ``gtsrb/GT-final_test.csv``. Images: uint8 (H, W, 3) of any size; ``tracks``: each training
    image's track number (default: 30 images a track, as in GTSRB)."""
    from PIL import Image

    base = Path(root) / "gtsrb"
    for k, (img, label) in enumerate(train):
        _check_images(np.asarray(img)[None], [label], "gtsrb train", None, 43)
        folder = base / "GTSRB" / "Training" / f"{int(label):05d}"
        track = tracks[k] if tracks is not None else k // 30
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.asarray(img)).save(folder / f"{track:05d}_{k:05d}.ppm")
        (folder / f"GT-{int(label):05d}.csv").write_text("Filename;ClassId\n")
    test_dir = base / "GTSRB" / "Final_Test" / "Images"
    test_dir.mkdir(parents=True, exist_ok=True)
    rows = ["Filename;Width;Height;Roi.X1;Roi.Y1;Roi.X2;Roi.Y2;ClassId"]
    for j, (img, label) in enumerate(test):
        _check_images(np.asarray(img)[None], [label], "gtsrb test", None, 43)
        h, w = np.asarray(img).shape[:2]
        Image.fromarray(np.asarray(img)).save(test_dir / f"{j:05d}.ppm")
        rows.append(f"{j:05d}.ppm;{w};{h};5;5;{w - 5};{h - 5};{int(label)}")
    (base / "GT-final_test.csv").write_text("\n".join(rows) + "\n")


def synthetic_images(labels: np.ndarray, n_classes: int, size: int,
                     rng: np.random.Generator) -> np.ndarray:
    """uint8 (N, size, size, 3): class ``c`` has its own hue and stripe orientation; phase,
    stripe frequency, brightness and pixel noise vary per image."""
    labels = np.asarray(labels)
    n = len(labels)
    hue = labels / n_classes
    base = 0.5 + 0.5 * np.cos(2 * np.pi * (hue[:, None] + np.array([0.0, 1 / 3, 2 / 3])))
    angle = np.pi * labels / n_classes + rng.normal(0, 0.05, n)
    freq = (2.0 + labels % 3) * rng.uniform(0.9, 1.1, n) / size
    phase = rng.uniform(0, 2 * np.pi, n)
    h, w = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
    proj = (np.cos(angle)[:, None, None] * h + np.sin(angle)[:, None, None] * w)
    stripes = 0.5 + 0.5 * np.sin(2 * np.pi * freq[:, None, None] * proj + phase[:, None, None])
    bright = rng.uniform(0.5, 1.0, n)[:, None, None, None]
    x = bright * (0.35 + 0.65 * stripes[..., None] * base[:, None, None, :])
    x = x + rng.normal(0, 0.04, x.shape)
    return (np.clip(x, 0, 1) * 255).round().astype(np.uint8)


def write_standins(root: str | Path, n_train: int = 1000, n_test: int = 500,
                   seed: int = 0) -> Path:
    """Write synthetic CIFAR-10, STL-10, SVHN and GTSRB copies (``n_train`` training and
    ``n_test`` test images each) into ``root`` in their official layouts; returns ``root``."""
    for name, value in (("n_train", n_train), ("n_test", n_test)):
        if not isinstance(value, int) or value < 10:
            raise ValueError(f"{name}={value!r} must be an integer >= 10")
    root = Path(root)
    rng = np.random.default_rng(seed)

    def part(n: int, n_classes: int, size: int) -> tuple[np.ndarray, np.ndarray]:
        labels = rng.permutation(np.arange(n) % n_classes)
        return synthetic_images(labels, n_classes, size, rng), labels

    write_cifar10(root, {"train": part(n_train, 10, 32), "test": part(n_test, 10, 32)})
    write_stl10(root, {"train": part(n_train, 10, 96), "test": part(n_test, 10, 96)})
    write_svhn(root, {"train": part(n_train, 10, 32), "test": part(n_test, 10, 32)})
    gtsrb = {}
    for name, n in (("train", n_train), ("test", n_test)):
        labels = np.sort(np.arange(n) % 43) if name == "train" else rng.permutation(
            np.arange(n) % 43)  # the training archive is sorted by class folder
        sizes = rng.integers(30, 64, n)
        gtsrb[name] = [(synthetic_images(np.array([y]), 43, int(s), rng)[0], int(y))
                       for y, s in zip(labels, sizes, strict=True)]
    write_gtsrb(root, gtsrb["train"], gtsrb["test"])
    return root
