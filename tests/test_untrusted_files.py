"""Dataset files are untrusted input: a crafted file from a mirror must never run code.

CIFAR's pickles are read by :mod:`sslsec.safe_pickle`'s restricted unpickler (a pickle that
asks for ``os.system`` is refused before anything runs), every real format's keys, shapes,
sizes and labels are checked with errors that name the file, Pillow's decompression-bomb limit
is an error, and the official files are recognised by torchvision's MD5 sums. The last tests
read ``sslsec``'s own source for calls that would unpickle with the default unpickler.
"""

from __future__ import annotations

import ast
import hashlib
import os
import pickle
import shlex
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from PIL import Image
from torchvision.datasets import CIFAR10, CIFAR100, STL10, SVHN

from sslsec.data import DatasetFileError, UnsafeDatasetFile, load_dataset, read_cifar
from sslsec.safe_pickle import load_pickle
from sslsec.standin import write_gtsrb, write_standins

PACKAGE = Path(__file__).resolve().parents[1] / "sslsec"
N_TRAIN, N_TEST = 10, 10


@pytest.fixture
def standins(tmp_path) -> Path:
    """Stand-in copies of all four real datasets, in their official formats."""
    return write_standins(tmp_path / "data", n_train=N_TRAIN, n_test=N_TEST)


class _Calls:
    """Unpickling this calls ``func(*args)``: what a crafted dataset file does."""

    def __init__(self, func, *args) -> None:
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def _touch_payload(marker: Path) -> _Calls:
    return _Calls(os.system, f"touch {shlex.quote(str(marker))}")


def _batch(n: int, data=None, labels=None) -> dict:
    """A CIFAR-10 batch as Python 3 would re-pack one."""
    return {"batch_label": "repacked", "filenames": [f"{i}.png" for i in range(n)],
            "data": np.zeros((n, 3072), np.uint8) if data is None else data,
            "labels": [i % 10 for i in range(n)] if labels is None else labels}


def _cifar(root: Path, name: str) -> Path:
    return root / "cifar-10-batches-py" / name


# --------------------------------------------------------------------------- CIFAR pickles

def test_the_payload_really_runs_under_plain_pickle(tmp_path):
    """The attack of the next test is real: the default unpickler runs it."""
    marker = tmp_path / "MARKER"
    pickle.loads(pickle.dumps(_touch_payload(marker), protocol=2))
    assert marker.exists()


@pytest.mark.parametrize("file_name, part", [("data_batch_3", "train"), ("test_batch", "test"),
                                             ("batches.meta", "test")])
def test_a_pickle_that_calls_a_function_is_refused_before_it_runs(standins, tmp_path,
                                                                  file_name, part):
    marker = tmp_path / "MARKER"
    path = _cifar(standins, file_name)
    payload = {**_batch(N_TEST), "data": _touch_payload(marker)}
    if file_name == "batches.meta":
        payload = {"label_names": _touch_payload(marker)}
    path.write_bytes(pickle.dumps(payload, protocol=2))
    with pytest.raises(UnsafeDatasetFile, match="refused, nothing was run") as info:
        load_dataset("cifar10", part, root=standins, download=False)
    assert str(path) in str(info.value) and "system" in str(info.value)
    assert isinstance(info.value, ValueError)
    assert not marker.exists()


def test_builtins_are_refused_too(tmp_path):
    path = tmp_path / "batch"
    path.write_bytes(pickle.dumps(_Calls(eval, "1 + 1")))
    with pytest.raises(UnsafeDatasetFile, match=r"asks for builtins\.eval") as info:
        load_pickle(path)
    assert str(path) in str(info.value)


def test_official_checksums_do_not_bypass_the_unpickler(standins, tmp_path, monkeypatch):
    """Even a file recorded as official is read by the restricted unpickler."""
    marker = tmp_path / "MARKER"
    path = _cifar(standins, "test_batch")
    path.write_bytes(pickle.dumps({**_batch(N_TEST), "data": _touch_payload(marker)}))
    monkeypatch.setattr(CIFAR10, "test_list", [["test_batch", _md5(path)]])
    with pytest.raises(UnsafeDatasetFile):
        load_dataset("cifar10", "test", root=standins, download=False)
    assert not marker.exists()


@pytest.mark.parametrize("keep", [0, 2, 0.5, -1])
def test_a_truncated_batch_is_a_clear_error_naming_the_file(standins, keep):
    path = _cifar(standins, "data_batch_2")
    raw = path.read_bytes()
    path.write_bytes(raw[:int(len(raw) * keep)] if isinstance(keep, float) else raw[:keep])
    with pytest.raises(DatasetFileError, match="not a readable pickle") as info:
        load_dataset("cifar10", "train", root=standins, download=False)
    assert str(path) in str(info.value) and not isinstance(info.value, UnsafeDatasetFile)


@pytest.mark.parametrize("payload, message", [
    ([1, 2, 3], "expected a dict with keys"),
    ({"labels": [0]}, "expected a dict with keys"),
    (_batch(4, data=np.zeros((4, 3071), np.uint8)), "data must be a uint8 array"),
    (_batch(4, data=np.zeros((4, 3072), np.float32)), "data must be a uint8 array"),
    (_batch(4, data=np.zeros((0, 3072), np.uint8), labels=[]), "data must be a uint8 array"),
    (_batch(4, labels=[0, 1, 2]), "labels must be 4 whole numbers in 0..9"),
    (_batch(4, labels=[0, 1, 2, 10]), "labels must be 4 whole numbers in 0..9"),
    (_batch(4, labels=[0, 1, 2, "3"]), "labels must be 4 whole numbers in 0..9"),
    ({k: v for k, v in _batch(4).items() if k != "labels"}, "labels must be 4 whole numbers"),
])
def test_a_batch_with_wrong_content_is_a_clear_error(standins, payload, message):
    path = _cifar(standins, "data_batch_4")
    path.write_bytes(pickle.dumps(payload))
    with pytest.raises(DatasetFileError, match=message) as info:
        load_dataset("cifar10", "train", root=standins, download=False)
    assert str(path) in str(info.value)


def test_a_meta_file_without_class_names_is_a_clear_error(standins):
    path = _cifar(standins, "batches.meta")
    path.write_bytes(pickle.dumps({"label_names": "airplane"}))
    with pytest.raises(DatasetFileError, match="label_names must be a list of class names"):
        load_dataset("cifar10", "test", root=standins, download=False)


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_a_copy_repacked_by_python3_loads(standins, protocol):
    """Any protocol numpy arrays are pickled with (``_codecs.encode`` at 2, ``_frombuffer``
    at 5) is read; the copy is reported as not the official release."""
    data = np.arange(4 * 3072, dtype=np.int64).astype(np.uint8).reshape(4, 3072)
    _cifar(standins, "test_batch").write_bytes(
        pickle.dumps(_batch(4, data=data, labels=[3, 1, 4, 1]), protocol=protocol))
    ds = load_dataset("cifar10", "test", root=standins, download=False)
    assert ds.y.tolist() == [3, 1, 4, 1] and ds.official is False
    expected = data.reshape(4, 3, 32, 32).astype(np.float32) / 255.0
    np.testing.assert_allclose(ds.x.numpy(), expected, atol=1e-6)


def test_codecs_encode_decodes_latin1_only(tmp_path):
    import _codecs

    path = tmp_path / "batch"
    path.write_bytes(pickle.dumps(_Calls(_codecs.encode, "text", "rot13"), protocol=2))
    with pytest.raises(UnsafeDatasetFile, match="only latin-1") as info:
        load_pickle(path)
    assert str(path) in str(info.value)


def test_cifar100_format_is_read_by_the_same_unpickler(tmp_path):
    folder = tmp_path / CIFAR100.base_folder
    folder.mkdir()
    names = [f"class{i}" for i in range(100)]
    (folder / "meta").write_bytes(pickle.dumps({"fine_label_names": names,
                                                "coarse_label_names": names[:20]}))
    (folder / "train").write_bytes(pickle.dumps(
        {"data": np.full((3, 3072), 7, np.uint8), "fine_labels": [0, 99, 5],
         "coarse_labels": [0, 19, 1]}, protocol=2))
    x, y, classes, official = read_cifar(CIFAR100, tmp_path, train=True)
    assert x.shape == (3, 32, 32, 3) and y.tolist() == [0, 99, 5]
    assert classes == names and official is False
    (folder / "meta").write_bytes(pickle.dumps(_touch_payload(tmp_path / "MARKER")))
    with pytest.raises(UnsafeDatasetFile, match="meta"):
        read_cifar(CIFAR100, tmp_path, train=True)
    assert not (tmp_path / "MARKER").exists()


# --------------------------------------------------------------------------- official release

def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def _record_as_official(name: str, root: Path, monkeypatch) -> None:
    """Make torchvision's MD5 lists name the stand-in files, as if they were the release."""
    if name == "cifar10":
        for attr in ("train_list", "test_list"):
            monkeypatch.setattr(CIFAR10, attr, [[f, _md5(_cifar(root, f))]
                                                for f, _ in getattr(CIFAR10, attr)])
        monkeypatch.setattr(CIFAR10, "meta", {**CIFAR10.meta,
                                              "md5": _md5(_cifar(root, "batches.meta"))})
    elif name == "stl10":
        for attr in ("train_list", "test_list"):
            monkeypatch.setattr(STL10, attr, [
                [f, _md5(root / "stl10_binary" / f) if (root / "stl10_binary" / f).exists()
                 else md5] for f, md5 in getattr(STL10, attr)])
    else:
        monkeypatch.setattr(SVHN, "split_list", {
            part: [url, f, _md5(root / f)] for part, (url, f, _) in SVHN.split_list.items()
            if part != "extra"})


@pytest.mark.parametrize("name", ["cifar10", "stl10", "svhn"])
def test_official_checksums_are_recognised(standins, name, monkeypatch):
    for part in ("train", "test"):  # the real sums: a stand-in is not the release
        assert load_dataset(name, part, root=standins, download=False).official is False
    _record_as_official(name, standins, monkeypatch)
    for part in ("train", "test"):
        ds = load_dataset(name, part, root=standins, download=False)
        assert ds.official is True and ds[:3].official is True
        assert len(ds) == (N_TRAIN if part == "train" else N_TEST)


def test_one_changed_file_is_not_the_official_release(standins, monkeypatch):
    _record_as_official("cifar10", standins, monkeypatch)
    path = _cifar(standins, "data_batch_5")
    path.write_bytes(pickle.dumps(_batch(2)))
    assert load_dataset("cifar10", "train", root=standins, download=False).official is False
    assert load_dataset("cifar10", "test", root=standins, download=False).official is True


def test_standins_load_and_gtsrb_has_no_checksums(standins):
    for name in ("cifar10", "stl10", "svhn", "gtsrb"):
        ds = load_dataset(name, "test", root=standins, download=False)
        assert len(ds) == N_TEST and tuple(ds.x.shape[1:]) == (3, 32, 32)
        assert ds.official is (None if name == "gtsrb" else False)


# --------------------------------------------------------------------------- SVHN .mat

def _write_mat(path: Path, **variables) -> None:
    scipy.io.savemat(path, variables)


def _svhn_x(n: int) -> np.ndarray:
    return np.zeros((32, 32, 3, n), np.uint8)


@pytest.mark.parametrize("variables, message", [
    ({"images": _svhn_x(4), "y": np.ones((4, 1))}, "X must be a uint8 array"),
    ({"X": _svhn_x(4)}, "labels must be 4 whole numbers in 1..10"),
    ({"X": np.zeros((28, 28, 3, 4), np.uint8), "y": np.ones((4, 1))}, r"shape \(32, 32, 3, N\)"),
    ({"X": np.zeros((4, 32, 32, 3), np.uint8), "y": np.ones((4, 1))}, r"shape \(32, 32, 3, N\)"),
    ({"X": _svhn_x(4).astype(np.float64), "y": np.ones((4, 1))}, "X must be a uint8 array"),
    ({"X": {"a": 1}, "y": np.ones((1, 1))}, "X must be a uint8 array"),
    ({"X": np.array([[_svhn_x(1)]], dtype=object), "y": np.ones((1, 1))}, "X must be a uint8"),
    ({"X": _svhn_x(4), "y": np.ones((3, 1))}, "labels must be 4 whole numbers"),
    ({"X": _svhn_x(2), "y": np.array([[0], [1]])}, "labels must be 2 whole numbers in 1..10"),
    ({"X": _svhn_x(2), "y": np.array([[1.5], [1]])}, "labels must be 2 whole numbers in 1..10"),
])
def test_svhn_with_wrong_variables_is_a_clear_error(standins, variables, message):
    path = standins / "test_32x32.mat"
    _write_mat(path, **variables)
    with pytest.raises(DatasetFileError, match=message) as info:
        load_dataset("svhn", "test", root=standins, download=False)
    assert str(path) in str(info.value)


def test_svhn_matlab_object_is_refused(standins):
    from scipy.io.matlab import MatlabObject

    path = standins / "test_32x32.mat"
    obj = MatlabObject(np.array([(1,)], dtype=[("a", "O")]), "evilclass")
    _write_mat(path, X=obj, y=np.ones((1, 1)))
    with pytest.raises(DatasetFileError, match="X must be a uint8 array"):
        load_dataset("svhn", "test", root=standins, download=False)


@pytest.mark.parametrize("corrupt", ["truncated", "garbage"])
def test_svhn_bad_bytes_are_a_clear_error(standins, corrupt):
    path = standins / "train_32x32.mat"
    raw = path.read_bytes()
    path.write_bytes(raw[:len(raw) // 2] if corrupt == "truncated" else b"not a mat file" * 20)
    with pytest.raises(DatasetFileError, match="not a readable MATLAB file") as info:
        load_dataset("svhn", "train", root=standins, download=False)
    assert str(path) in str(info.value)


def test_svhn_labels_10_mean_digit_0(standins):
    _write_mat(standins / "test_32x32.mat", X=_svhn_x(3), y=np.array([[10.0], [1.0], [9.0]]))
    assert load_dataset("svhn", "test", root=standins, download=False).y.tolist() == [0, 1, 9]


# --------------------------------------------------------------------------- STL-10 binaries

def _stl(root: Path, name: str) -> Path:
    return root / "stl10_binary" / name


@pytest.mark.parametrize("size", [0, 3 * 96 * 96 - 1, 2 * 3 * 96 * 96 + 5])
def test_stl10_images_of_a_bad_size_are_a_clear_error(standins, size):
    path = _stl(standins, "test_X.bin")
    path.write_bytes(bytes(size))
    with pytest.raises(DatasetFileError, match="not a whole number of 3×96×96 images") as info:
        load_dataset("stl10", "test", root=standins, download=False)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("labels", [bytes([1] * (N_TEST - 1)), bytes([1] * (N_TEST + 1)),
                                    bytes([0] + [1] * (N_TEST - 1)),
                                    bytes([11] + [1] * (N_TEST - 1))])
def test_stl10_labels_must_match_the_images(standins, labels):
    path = _stl(standins, "test_y.bin")
    path.write_bytes(labels)
    with pytest.raises(DatasetFileError, match=f"labels must be {N_TEST} whole numbers in "
                                               "1..10") as info:
        load_dataset("stl10", "test", root=standins, download=False)
    assert str(path) in str(info.value)


def test_stl10_class_names_must_be_ten(standins):
    path = _stl(standins, "class_names.txt")
    path.write_text("airplane\nbird\n")
    with pytest.raises(DatasetFileError, match="expected 10 class names") as info:
        load_dataset("stl10", "train", root=standins, download=False)
    assert str(path) in str(info.value)


# --------------------------------------------------------------------------- GTSRB images

@pytest.fixture
def gtsrb(tmp_path) -> Path:
    """Two 40×40 training and two test images."""
    img = np.full((40, 40, 3), 128, np.uint8)
    write_gtsrb(tmp_path, [(img, 0), (img, 5)], [(img, 1), (img, 2)])
    return tmp_path


def _test_image(root: Path, j: int = 0) -> Path:
    return root / "gtsrb" / "GTSRB" / "Final_Test" / "Images" / f"{j:05d}.ppm"


def test_a_bomb_sized_image_header_is_refused(gtsrb):
    """A few bytes whose header claims 30,000 × 30,000 pixels: refused before decoding."""
    path = _test_image(gtsrb, 1)
    path.write_bytes(b"P6\n30000 30000\n255\n" + bytes(64))
    with pytest.raises(UnsafeDatasetFile, match="decompression bomb") as info:
        load_dataset("gtsrb", "test", root=gtsrb, download=False)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("limit", [1000, 600])  # 1,600 pixels: over 1× (a warning), over 2×
def test_images_over_pillows_limit_are_refused(gtsrb, monkeypatch, limit):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", limit)
    with pytest.raises(UnsafeDatasetFile, match="00000.ppm"):
        load_dataset("gtsrb", "train", root=gtsrb, download=False)


def test_a_file_that_is_not_an_image_is_a_clear_error(gtsrb):
    path = _test_image(gtsrb)
    path.write_bytes(b"P6\n40 40\n255\n" + bytes(10))  # truncated pixels
    with pytest.raises(DatasetFileError, match="not a readable image") as info:
        load_dataset("gtsrb", "test", root=gtsrb, download=False)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("row, message", [("../../secret.ppm;40;40;5;5;35;35;1", "lies outside"),
                                          ("/etc/hostname;40;40;5;5;35;35;1", "lies outside"),
                                          ("00000.ppm;40;40;5;5;35;35;43", "in 0..42"),
                                          ("00000.ppm;40;40;5;5;35;35;x", "integer ClassId")])
def test_the_test_csv_is_checked(gtsrb, row, message):
    csv = gtsrb / "gtsrb" / "GT-final_test.csv"
    csv.write_text("Filename;Width;Height;Roi.X1;Roi.Y1;Roi.X2;Roi.Y2;ClassId\n" + row + "\n")
    with pytest.raises(DatasetFileError, match=message) as info:
        load_dataset("gtsrb", "test", root=gtsrb, download=False)
    assert str(csv) in str(info.value)


# --------------------------------------------------------------------------- the source itself

#: ``(module, function)`` calls that unpickle with the default unpickler (or disable a limit)
_UNPICKLING = {(module, name) for module in ("pickle", "_pickle", "cPickle", "dill", "joblib",
                                             "cloudpickle")
               for name in ("load", "loads", "Unpickler")} | {
    ("torch", "load"), ("marshal", "load"), ("marshal", "loads"), ("shelve", "open"),
    ("pandas", "read_pickle"), ("numpy", "load")}


def unsafe_calls(source: str) -> list[str]:
    """Places in ``source`` that would unpickle with the default unpickler (``pickle.load``,
    ``pickle.Unpickler(...)``, ``torch.load``, ``allow_pickle=True``, …, also through
    ``import … as`` and ``from … import``) or switch off Pillow's decompression-bomb limit."""
    tree = ast.parse(source)
    aliases: dict[str, tuple[str, ...]] = {}  # local name -> (module,) or (module, function)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                aliases[a.asname or a.name] = (a.name,)
        elif isinstance(node, ast.ImportFrom) and node.module:
            for a in node.names:
                aliases[a.asname or a.name] = (node.module, a.name)
    aliases.setdefault("np", ("numpy",))
    aliases.setdefault("pd", ("pandas",))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func, target = node.func, None
            if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
                target = (*aliases.get(func.value.id, (func.value.id,)), func.attr)
            elif isinstance(func, ast.Name):
                target = aliases.get(func.id)
            if target and (target[0].split(".")[0], target[-1]) in _UNPICKLING:
                if target[-1] != "load" or target[0] != "numpy" or any(
                        k.arg == "allow_pickle" and not (isinstance(k.value, ast.Constant)
                                                         and k.value.value is False)
                        for k in node.keywords):
                    found.append(f"line {node.lineno}: {'.'.join(target)}(...)")
        elif isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Attribute) and t.attr == "MAX_IMAGE_PIXELS"
                   for t in targets):
                found.append(f"line {node.lineno}: sets MAX_IMAGE_PIXELS")
    return found


@pytest.mark.parametrize("source", [
    "import pickle\nwith open(p, 'rb') as f:\n    x = pickle.load(f)",
    "import pickle\nx = pickle.loads(raw)",
    "import pickle as pk\nx = pk.load(f)",
    "from pickle import load\nx = load(f)",
    "from pickle import loads as read\nx = read(raw)",
    "import pickle\nx = pickle.Unpickler(f).load()",
    "import torch\nstate = torch.load(path)",
    "import torch\nstate = torch.load(path, weights_only=True)",
    "import numpy as np\nx = np.load(path, allow_pickle=True)",
    "from PIL import Image\nImage.MAX_IMAGE_PIXELS = None",
    "import joblib\nx = joblib.load(path)",
])
def test_the_checker_flags_unsafe_loading(source):
    assert unsafe_calls(source), source


@pytest.mark.parametrize("source", [
    "import pickle\npickle.dump(x, f)\nclass U(pickle.Unpickler):\n    pass",
    "from sslsec.safe_pickle import load_pickle\nx = load_pickle(p)",
    "import numpy as np\nx = np.load(path)\ny = np.load(path, allow_pickle=False)",
    "import json\nx = json.load(f)",
])
def test_the_checker_passes_safe_loading(source):
    assert unsafe_calls(source) == []


def test_the_package_never_unpickles_with_the_default_unpickler():
    files = sorted(PACKAGE.rglob("*.py"))
    assert len(files) > 10 and PACKAGE / "data.py" in files
    found = {str(f.relative_to(PACKAGE)): hits for f in files
             if (hits := unsafe_calls(f.read_text(encoding="utf-8")))}
    assert found == {}
