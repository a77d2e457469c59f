"""The encoder zoo: train an encoder, or load it from a content-addressed cache.

An entry's key hashes the encoder spec (architecture + pre-training config), the SHA-256 of the
exact training images and :data:`~sslsec.pretrain.TRAINING_CODE_VERSION`. Each entry is two
files, ``<key>.safetensors`` (weights of the encoder and its projection head) and
``<key>.json`` (spec, history, SHA-256 of the weights), written atomically (temporary file, then
rename; the JSON last, so it marks a complete entry). A corrupted or truncated entry is
reported and retrained, never loaded; nothing is ever unpickled.

Entries are looked up in the shipped, read-only ``data/zoo`` first, then in the cache
(``$SSLSEC_CACHE``, else ``data/cache``), where new entries are written.

A key does not include the hardware: the same spec trained on another CPU type (AVX2 or
AVX-512 kernels, bf16 or not) or with another thread count gives weights that differ in their
last bits. Loading works everywhere; bit-identity holds only where :func:`hardware` agrees with
the machine that made the entry (``data/zoo/made_on.txt`` records it for the shipped ones).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import platform
import tempfile
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from sslsec import distributed
from sslsec.augment import AugmentConfig, check_images
from sslsec.data import PACKAGE_ROOT, ImageSet, dataset_info, pretrain_set
from sslsec.models import Encoder, ProjectionHead, build_encoder
from sslsec.multimodal import build_model
from sslsec.pretrain import TRAINING_CODE_VERSION, History, PretrainConfig, bf16_native, pretrain
from sslsec.profiles import Profile, resolve_device
from sslsec.seed import seed_everything

SHIPPED_DIR = PACKAGE_ROOT / "data" / "zoo"
MADE_ON_FILE = "made_on.txt"
# what the last bits of trained weights depend on (the CPU model's name is only informative)
HARDWARE_KEYS = ("machine", "cpu_capability", "bf16", "threads", "torch")


def cpu_model() -> str:
    """The processor's model name, as the OS reports it (``unknown`` where it does not)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def hardware() -> dict[str, str]:
    """This process's CPU training fingerprint: architecture, the kernels torch dispatches to
    (``AVX512``, ``AVX2``, … — ``$ATEN_CPU_CAPABILITY`` lowers it), native bf16, thread count,
    torch version, and the CPU's model name."""
    return {"machine": platform.machine(),
            "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "bf16": str(bf16_native(torch.device("cpu"))),
            "threads": str(torch.get_num_threads()),
            "torch": torch.__version__,
            "cpu": cpu_model()}


def write_made_on(folder: Path, fingerprint: dict[str, str] | None = None) -> Path:
    """Record in ``folder`` the hardware that made its entries (``make zoo`` does)."""
    fingerprint = fingerprint or hardware()
    lines = ["# The machine that made these weights (make zoo). Retraining elsewhere gives",
             "# weights that differ in their last bits; loading them works everywhere."]
    lines += [f"{k}: {v}" for k, v in fingerprint.items()]
    path = folder / MADE_ON_FILE
    path.write_text("\n".join(lines) + "\n")
    return path


def read_made_on(folder: Path) -> dict[str, str] | None:
    """The fingerprint :func:`write_made_on` recorded in ``folder`` (``None``: none recorded)."""
    path = folder / MADE_ON_FILE
    if not path.exists():
        return None
    pairs = (line.split(":", 1) for line in path.read_text().splitlines()
             if line.strip() and not line.startswith("#"))
    return {k.strip(): v.strip() for k, v in pairs}


def hardware_differences(made_on: dict[str, str] | None,
                         here: dict[str, str] | None = None) -> list[str]:
    """The fingerprint fields in which ``here`` (default: this process) differs from
    ``made_on``, as ``field: made_on -> here``; every field when nothing was recorded."""
    here = here or hardware()
    if made_on is None:
        return ["no record of the hardware that made them"]
    return [f"{k}: {made_on.get(k)} -> {here[k]}" for k in HARDWARE_KEYS
            if made_on.get(k) != here[k]]


def shipped_dir() -> Path:
    """Where the shipped entries are read from: ``$SSLSEC_SHIPPED``, else ``data/zoo`` (``make
    zoo`` points it at an empty folder to retrain them)."""
    return Path(os.environ.get("SSLSEC_SHIPPED", SHIPPED_DIR))


def cache_dir() -> Path:
    """Where new zoo entries are written: ``$SSLSEC_CACHE``, else ``<repo>/data/cache``."""
    return Path(os.environ.get("SSLSEC_CACHE", PACKAGE_ROOT / "data" / "cache"))


class CorruptEntryError(RuntimeError):
    """A zoo entry failed its integrity checks (it is retrained, never loaded)."""


@dataclass(frozen=True)
class EncoderSpec:
    """What to train: architecture, input shape, pre-training recipe, and a data description."""

    arch: str
    in_channels: int
    image_size: int
    pretrain: PretrainConfig
    data: str  # human-readable, e.g. "mnist5k/pretrain n=4000 seed=0"
    #: settings of a training-time regulariser (e.g. a defence's adversary), part of the key
    regularizer: dict | None = None
    #: the run's state after this many of its ``pretrain.epochs`` (``None``: the finished run;
    #: see :func:`train_snapshots_or_load`)
    snapshot_epoch: int | None = None

    def to_dict(self) -> dict:
        d = asdict(self)
        for name in ("regularizer", "snapshot_epoch"):
            if d[name] is None:  # keeps the keys of plain encoders as they were
                del d[name]
        aug = d["pretrain"]["augment"]
        if aug["noise_std"] == 0:  # likewise for recipes without pixel noise
            del aug["noise_std"], aug["noise_p"]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> EncoderSpec:
        cfg = dict(d["pretrain"])
        aug = cfg.pop("augment")
        aug["crop_scale"] = tuple(aug["crop_scale"])
        return cls(d["arch"], d["in_channels"], d["image_size"],
                   PretrainConfig(**cfg, augment=AugmentConfig(**aug)), d["data"],
                   d.get("regularizer"), d.get("snapshot_epoch"))


def sha256_tensor(x: torch.Tensor) -> str:
    """SHA-256 of a tensor's dtype, shape and bytes."""
    x = x.detach().cpu().contiguous()
    h = hashlib.sha256(f"{x.dtype}{tuple(x.shape)}".encode())
    h.update(x.view(torch.uint8).numpy().tobytes() if x.numel() else b"")
    return h.hexdigest()


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def entry_key(spec: EncoderSpec, data_sha256: str) -> str:
    """The content address of an entry (24 hex digits of a SHA-256)."""
    payload = json.dumps({"spec": spec.to_dict(), "data_sha256": data_sha256,
                          "code": TRAINING_CODE_VERSION}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:24]


@dataclass
class ZooEntry:
    """A trained encoder (eval mode) with its projection head, key and metadata."""

    encoder: Encoder
    projector: nn.Module
    key: str
    spec: EncoderSpec
    history: History
    from_cache: bool
    path: Path
    #: the training-time regulariser (e.g. a defence's adversary) as training left it
    regularizer: nn.Module | None = None


def _atomic_write(path: Path, write) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _build(spec: EncoderSpec) -> tuple[Encoder, nn.Module]:
    encoder = build_encoder(spec.arch, spec.in_channels, spec.image_size)
    return encoder, ProjectionHead(encoder.feature_dim, out_dim=spec.pretrain.proj_dim)


#: what reading a damaged entry can raise (it is then reported and remade, never loaded)
_DAMAGE = (CorruptEntryError, json.JSONDecodeError, KeyError, TypeError, RuntimeError, OSError,
           ValueError)


def _read_checked(key: str, folder: Path) -> tuple[dict, dict, Path] | None:
    """An entry's metadata and weights after its integrity checks (``None``: no entry).
    Raises one of :data:`_DAMAGE` when the entry is damaged."""
    meta_path, weights_path = folder / f"{key}.json", folder / f"{key}.safetensors"
    if not meta_path.exists():
        return None
    meta = json.loads(meta_path.read_text())
    if meta.get("key") != key:
        raise CorruptEntryError(f"metadata names key {meta.get('key')!r}")
    if not weights_path.exists():
        raise CorruptEntryError("weights file is missing")
    if sha256_file(weights_path) != meta.get("weights_sha256"):
        raise CorruptEntryError("weights SHA-256 does not match the metadata")
    return meta, load_file(str(weights_path)), weights_path


def _report_damage(key: str, folder: Path, err: Exception) -> None:
    warnings.warn(f"zoo entry {key} in {folder} is corrupted ({err}); remaking it",
                  stacklevel=4)


def _load(spec: EncoderSpec, key: str, folder: Path, device: torch.device,
          regularizer: nn.Module | None = None) -> ZooEntry | None:
    try:
        found = _read_checked(key, folder)
        if found is None:
            return None
        meta, state, weights_path = found
        encoder, projector = _build(spec)
        encoder.load_state_dict({k[8:]: v for k, v in state.items() if k.startswith("encoder.")})
        projector.load_state_dict(
            {k[10:]: v for k, v in state.items() if k.startswith("projector.")})
        history = History(**meta["history"])
        if regularizer is not None and regularizer.state_dict():  # one with a state to keep
            kept = {k[12:]: v for k, v in state.items() if k.startswith("regularizer.")}
            if not kept:  # made before the zoo kept regularisers: remade, with its regulariser
                return None
            regularizer.load_state_dict(kept)
            regularizer.to(device).eval()
    except _DAMAGE as err:
        _report_damage(key, folder, err)
        return None
    return ZooEntry(encoder.to(device).eval(), projector.to(device).eval(), key, spec, history,
                    True, weights_path, regularizer)


def _find(spec: EncoderSpec, key: str, folder: Path, device: torch.device,
          regularizer: nn.Module | None = None) -> ZooEntry | None:
    """The entry ``key`` from the shipped zoo, else from ``folder`` (``None``: in neither)."""
    for where in (shipped_dir(), folder):
        entry = _load(spec, key, where, device, regularizer)
        if entry is not None:
            return entry
    return None


def _save(entry: ZooEntry, data_sha256: str, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    state = {f"encoder.{k}": v.detach().cpu().contiguous()
             for k, v in entry.encoder.state_dict().items()}
    state |= {f"projector.{k}": v.detach().cpu().contiguous()
              for k, v in entry.projector.state_dict().items()}
    if entry.regularizer is not None:
        state |= {f"regularizer.{k}": v.detach().cpu().contiguous()
                  for k, v in entry.regularizer.state_dict().items()}
    weights_path = folder / f"{entry.key}.safetensors"
    _atomic_write(weights_path, lambda tmp: save_file(state, tmp))
    meta = {
        "key": entry.key, "spec": entry.spec.to_dict(), "data_sha256": data_sha256,
        "training_code_version": TRAINING_CODE_VERSION, "torch_version": torch.__version__,
        "weights_sha256": sha256_file(weights_path), "history": asdict(entry.history),
    }
    _atomic_write(folder / f"{entry.key}.json",
                  lambda tmp: Path(tmp).write_text(json.dumps(meta, indent=2, sort_keys=True)))
    entry.path = weights_path


def train_or_load(spec: EncoderSpec, images: torch.Tensor, device: str | torch.device = "auto",
                  cache: str | Path | None = None, progress: bool = True,
                  retrain: bool = False, regularizer: nn.Module | None = None) -> ZooEntry:
    """The encoder that ``spec`` pre-trained on ``images`` would give: from the shipped zoo or
    the cache when a valid entry exists, else trained now (seeded by ``spec.pretrain.seed``)
    and stored in the cache.

    ``regularizer`` is passed to :func:`~sslsec.pretrain.pretrain`; ``spec.regularizer`` must
    then describe it (its settings are part of the key), and must be ``None`` without one. Its
    trained state is kept with the entry: loading fills ``regularizer`` in place (it comes
    back as ``entry.regularizer``, in eval mode)."""
    check_images(images, spec.in_channels, "images")
    if (regularizer is None) != (spec.regularizer is None):
        raise ValueError("spec.regularizer must describe the regularizer when one is given, and "
                         "be None when none is; got spec.regularizer="
                         f"{spec.regularizer!r} with regularizer={type(regularizer).__name__}")
    if images.shape[-1] != spec.image_size:
        raise ValueError(f"images are {images.shape[-1]} px but spec.image_size="
                         f"{spec.image_size}")
    dev = resolve_device(device)
    data_sha256 = sha256_tensor(images)
    key = entry_key(spec, data_sha256)
    folder = Path(cache) if cache is not None else cache_dir()
    if not retrain:
        entry = _find(spec, key, folder, dev, regularizer)
        if entry is not None:
            return entry
    if spec.snapshot_epoch is not None:
        return train_snapshots_or_load(dataclasses.replace(spec, snapshot_epoch=None), images,
                                       [spec.snapshot_epoch], dev, cache,
                                       progress)[spec.snapshot_epoch]
    seed_everything(spec.pretrain.seed)
    encoder = build_encoder(spec.arch, spec.in_channels, spec.image_size)
    result = pretrain(encoder, images, spec.pretrain, device=dev, progress=progress,
                      regularizer=regularizer)
    entry = ZooEntry(result.encoder, result.projector, key, spec, result.history, False, folder,
                     regularizer)
    if distributed.is_main():  # under torchrun one process writes the entry, the others wait
        _save(entry, data_sha256, folder)
    distributed.barrier()
    entry.path = folder / f"{key}.safetensors"
    return entry


def train_snapshots_or_load(spec: EncoderSpec, images: torch.Tensor, epochs: Sequence[int],
                            device: str | torch.device = "auto", cache: str | Path | None = None,
                            progress: bool = True) -> dict[int, ZooEntry]:
    """The run that ``spec`` describes as it stood after each of ``epochs`` (``{epoch: entry}``):
    one zoo entry per snapshot, all taken from a single training run (made now only when one is
    missing). A snapshot's spec is ``spec`` with ``snapshot_epoch`` set, so its key differs
    from that of an encoder trained for fewer epochs (the learning-rate schedule spans the
    whole run); the snapshot after the last epoch is the finished run, the very entry that
    :func:`train_or_load` gives for ``spec``."""
    if spec.regularizer is not None or spec.snapshot_epoch is not None:
        raise ValueError("spec must describe a plain run (no regularizer, no snapshot_epoch); "
                         f"got regularizer={spec.regularizer!r}, "
                         f"snapshot_epoch={spec.snapshot_epoch!r}")
    wanted = sorted(set(epochs))
    total = spec.pretrain.epochs
    if not wanted or any(not isinstance(e, int) or not 0 < e <= total for e in wanted):
        raise ValueError(f"epochs={list(epochs)!r} must be epoch numbers in 1..{total} "
                         "(spec.pretrain.epochs)")
    check_images(images, spec.in_channels, "images")
    dev = resolve_device(device)
    folder = Path(cache) if cache is not None else cache_dir()
    data_sha256 = sha256_tensor(images)
    specs = {e: dataclasses.replace(spec, snapshot_epoch=None if e == total else e)
             for e in wanted}
    found: dict[int, ZooEntry] = {}
    for e, snap in specs.items():
        entry = _find(snap, entry_key(snap, data_sha256), folder, dev)
        if entry is not None:
            found[e] = entry
    if len(found) == len(wanted):
        return found
    states: dict[int, tuple[dict, dict]] = {}

    def keep(epoch: int, encoder: Encoder, projector: nn.Module) -> None:
        if epoch in specs and epoch not in found:
            states[epoch] = ({k: v.detach().clone() for k, v in encoder.state_dict().items()},
                             {k: v.detach().clone() for k, v in projector.state_dict().items()})

    seed_everything(spec.pretrain.seed)
    run = pretrain(build_encoder(spec.arch, spec.in_channels, spec.image_size), images,
                   spec.pretrain, device=dev, progress=progress, on_epoch_end=keep)
    for e, (encoder_state, projector_state) in states.items():
        encoder, projector = _build(specs[e])
        encoder.load_state_dict(encoder_state)
        projector.load_state_dict(projector_state)
        history = History(run.history.loss[:e], run.history.seconds[:e])
        entry = ZooEntry(encoder.to(dev).eval(), projector.to(dev).eval(),
                         entry_key(specs[e], data_sha256), specs[e], history, False, folder)
        if distributed.is_main():
            _save(entry, data_sha256, folder)
        entry.path = folder / f"{entry.key}.safetensors"
        found[e] = entry
    distributed.barrier()
    return dict(sorted(found.items()))


def spec_for_profile(profile: Profile, seed: int = 0, in_channels: int | None = None,
                     image_size: int | None = None, data: str | None = None,
                     **pretrain_changes) -> EncoderSpec:
    """The spec of the profile's default encoder (its architecture and recipe); the input
    shape defaults to the profile's pre-training dataset's."""
    info = dataset_info(profile.pretrain_dataset)
    channels, size = in_channels or info.channels, image_size or info.size
    cfg = PretrainConfig.from_profile(profile, seed=seed, **pretrain_changes)
    data = data or f"{profile.pretrain_dataset}/pretrain n={profile.n_pretrain} seed={seed}"
    return EncoderSpec(profile.arch, channels, size, cfg, data)


def profile_encoder(profile: Profile, seed: int = 0, progress: bool = True,
                    data: ImageSet | None = None, **pretrain_changes) -> ZooEntry:
    """The profile's encoder, pre-trained on its pre-training split (or on ``data``)."""
    description = None if data is None else f"{data.name} n={len(data)}"
    data = data if data is not None else pretrain_set(profile, seed)
    spec = spec_for_profile(profile, seed, data.channels, data.size, description,
                            **pretrain_changes)
    return train_or_load(spec, data.x, profile.device, progress=progress)



def independent_encoders(profile: Profile, pools: dict[str, ImageSet],
                         plan: list[tuple[str, int]], progress: bool = True
                         ) -> dict[str, ZooEntry]:
    """Encoders pre-trained with the profile's recipe by other parties on their own images:
    one per ``(pool name, seed)`` of ``plan``, named ``"<pool's dataset>, seed <s>"``."""
    out = {}
    for name, seed in plan:
        if name not in pools:
            raise ValueError(f"pool {name!r} is unknown; allowed: {', '.join(pools)}")
        images = pools[name]
        out[f"{images.name}, seed {seed}"] = profile_encoder(profile, seed, progress, data=images)
    return out


# --- derived encoders: made from another entry (stolen, watermarked, fine-tuned copies) ---------

@dataclass
class DerivedEntry:
    """An encoder made from a parent entry by a named procedure (``kind`` with ``params``).

    ``info`` holds what the procedure reported (e.g. its loss and seconds); ``parent`` is the
    parent's key, so chains (a stolen copy of a watermarked encoder) stay traceable."""

    encoder: Encoder
    key: str
    kind: str
    params: dict
    parent: str
    arch: str
    in_channels: int
    image_size: int
    info: dict = field(default_factory=dict)
    from_cache: bool = False
    path: Path | None = None


def arch_of(parent: ZooEntry | DerivedEntry) -> tuple[str, int, int]:
    """``(arch, in_channels, image_size)`` of a plain or derived zoo entry."""
    if isinstance(parent, ZooEntry):
        return parent.spec.arch, parent.spec.in_channels, parent.spec.image_size
    if isinstance(parent, DerivedEntry):
        return parent.arch, parent.in_channels, parent.image_size
    raise ValueError(f"parent must be a ZooEntry or a DerivedEntry; got {type(parent).__name__}")


def derived_key(kind: str, parent_key: str, params: dict) -> str:
    """The content address of a derived entry: kind, parent key, params and code version."""
    payload = json.dumps({"kind": kind, "parent": parent_key, "params": params,
                          "code": TRAINING_CODE_VERSION}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:24]


def _load_derived(key: str, folder: Path, device: torch.device) -> DerivedEntry | None:
    try:
        found = _read_checked(key, folder)
        if found is None:
            return None
        meta, state, weights_path = found
        encoder = build_model(meta["arch"], meta["in_channels"], meta["image_size"])
        encoder.load_state_dict(state)
    except _DAMAGE as err:
        _report_damage(key, folder, err)
        return None
    return DerivedEntry(encoder.to(device).eval(), key, meta["kind"], meta["params"],
                        meta["parent"], meta["arch"], meta["in_channels"], meta["image_size"],
                        meta.get("info", {}), True, weights_path)


def derive_or_load(kind: str, parent: ZooEntry | DerivedEntry, params: dict,
                   make: Callable[[], tuple[nn.Module, dict]],
                   device: str | torch.device = "auto", cache: str | Path | None = None,
                   retrain: bool = False, arch: str | None = None) -> DerivedEntry:
    """The encoder that ``make()`` derives from ``parent``: from the shipped zoo or the cache
    when a valid entry for ``(kind, parent.key, params)`` exists, else made now and stored.

    ``params`` must be JSON-serialisable and name everything that decides the result (include
    the SHA-256 of any data ``make`` uses: :func:`sha256_tensor`). ``make`` returns the encoder
    (the parent's architecture, or ``arch`` when given, e.g. a ``clip-`` model keyed by the
    standard encoder) and a JSON-serialisable ``info`` dict."""
    if not isinstance(kind, str) or not kind:
        raise ValueError(f"kind={kind!r} must be a non-empty string")
    parent_arch, channels, size = arch_of(parent)
    arch = arch or parent_arch
    try:
        json.dumps(params, sort_keys=True)
    except TypeError as err:
        raise ValueError(f"params must be JSON-serialisable: {err}") from err
    dev = resolve_device(device)
    key = derived_key(kind, parent.key, params)
    folder = Path(cache) if cache is not None else cache_dir()
    if not retrain:
        for where in (shipped_dir(), folder):
            entry = _load_derived(key, where, dev)
            if entry is not None:
                return entry
    encoder, info = make()
    if not isinstance(encoder, Encoder) or (encoder.in_channels, encoder.image_size) != (
            channels, size):
        raise ValueError(f"make() must return a {arch} encoder for {channels}×{size}×{size} "
                         f"inputs; got {type(encoder).__name__}")
    try:
        json.dumps(info)
    except TypeError as err:
        raise ValueError(f"the info that make() returned is not JSON-serialisable: {err}") from err
    folder.mkdir(parents=True, exist_ok=True)
    weights_path = folder / f"{key}.safetensors"
    state = {k: v.detach().cpu().contiguous() for k, v in encoder.state_dict().items()}
    _atomic_write(weights_path, lambda tmp: save_file(state, tmp))
    meta = {"key": key, "kind": kind, "params": params, "parent": parent.key, "arch": arch,
            "in_channels": channels, "image_size": size, "info": info,
            "training_code_version": TRAINING_CODE_VERSION, "torch_version": torch.__version__,
            "weights_sha256": sha256_file(weights_path)}
    _atomic_write(folder / f"{key}.json",
                  lambda tmp: Path(tmp).write_text(json.dumps(meta, indent=2, sort_keys=True)))
    return DerivedEntry(encoder.to(dev).eval(), key, kind, params, parent.key, arch, channels,
                        size, info, False, weights_path)
