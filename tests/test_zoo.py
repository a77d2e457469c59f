import dataclasses
import json
import time
import warnings

import pytest
import torch

from sslsec import zoo
from sslsec.downstream import extract_features
from sslsec.profiles import get_profile


@pytest.fixture
def tiny(mnist):
    """A 2-epoch spec on 128 images: trains in about a second."""
    prof = get_profile("smoke", device="cpu", batch_size=64, epochs=2)
    return zoo.spec_for_profile(prof, seed=0), mnist.x[:128]


def files(folder):
    return sorted(p.name for p in folder.iterdir())


def test_train_then_load_identical(tiny, isolated_cache, mnist):
    spec, images = tiny
    first = zoo.train_or_load(spec, images, device="cpu", progress=False)
    assert not first.from_cache
    assert files(isolated_cache) == [f"{first.key}.json", f"{first.key}.safetensors"]
    start = time.perf_counter()
    second = zoo.train_or_load(spec, images, device="cpu", progress=False)
    assert second.from_cache and time.perf_counter() - start < 2.0
    x = mnist.x[:20]
    assert torch.equal(extract_features(first.encoder, x), extract_features(second.encoder, x))
    assert torch.equal(first.projector[0].weight, second.projector[0].weight)
    assert second.history.loss == first.history.loss
    meta = json.loads((isolated_cache / f"{first.key}.json").read_text())
    assert meta["weights_sha256"] == zoo.sha256_file(first.path)
    assert zoo.EncoderSpec.from_dict(meta["spec"]) == spec


def test_retrain_from_the_same_spec_is_bit_identical(tiny, isolated_cache):
    spec, images = tiny
    a = zoo.train_or_load(spec, images, device="cpu", progress=False)
    b = zoo.train_or_load(spec, images, device="cpu", progress=False, retrain=True)
    assert not b.from_cache
    for (k, v), (_, w) in zip(a.encoder.state_dict().items(), b.encoder.state_dict().items(),
                              strict=True):
        assert torch.equal(v, w), k


def test_key_depends_on_config_data_and_code_version(tiny, monkeypatch):
    spec, images = tiny
    digest = zoo.sha256_tensor(images)
    key = zoo.entry_key(spec, digest)
    other_cfg = zoo.spec_for_profile(get_profile("smoke", batch_size=64, epochs=3))
    assert zoo.entry_key(other_cfg, digest) != key
    assert zoo.entry_key(spec, zoo.sha256_tensor(images.flip(0))) != key
    monkeypatch.setattr(zoo, "TRAINING_CODE_VERSION", "999")
    assert zoo.entry_key(spec, digest) != key


CORRUPTIONS = {
    "truncated weights": lambda w, m: w.write_bytes(w.read_bytes()[: w.stat().st_size // 2]),
    "flipped weight byte": lambda w, m: w.write_bytes(
        w.read_bytes()[:-1] + bytes([w.read_bytes()[-1] ^ 1])),
    "missing weights": lambda w, m: w.unlink(),
    "truncated metadata": lambda w, m: m.write_text(m.read_text()[:40]),
    "metadata of another key": lambda w, m: m.write_text(
        json.dumps({**json.loads(m.read_text()), "key": "0" * 24})),
    "weights of another shape": lambda w, m: _swap_weights(w, m),
}


def _swap_weights(w, m):
    from safetensors.torch import save_file

    save_file({"encoder.net.0.weight": torch.zeros(3)}, str(w))
    meta = json.loads(m.read_text())
    meta["weights_sha256"] = zoo.sha256_file(w)  # a consistent but wrong entry
    m.write_text(json.dumps(meta))


@pytest.mark.parametrize("damage", list(CORRUPTIONS))
def test_corrupted_entry_is_reported_and_retrained(damage, tiny, isolated_cache):
    spec, images = tiny
    good = zoo.train_or_load(spec, images, device="cpu", progress=False)
    weights = isolated_cache / f"{good.key}.safetensors"
    meta = isolated_cache / f"{good.key}.json"
    CORRUPTIONS[damage](weights, meta)
    with pytest.warns(UserWarning, match="corrupted"):
        again = zoo.train_or_load(spec, images, device="cpu", progress=False)
    assert not again.from_cache
    for (k, v), (_, w) in zip(good.encoder.state_dict().items(),
                              again.encoder.state_dict().items(), strict=True):
        assert torch.equal(v, w), k
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the repaired entry loads cleanly
        assert zoo.train_or_load(spec, images, device="cpu", progress=False).from_cache


def test_interrupted_write_leaves_no_entry(tiny, isolated_cache, monkeypatch):
    spec, images = tiny

    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(zoo, "save_file", crash)
    with pytest.raises(KeyboardInterrupt):
        zoo.train_or_load(spec, images, device="cpu", progress=False)
    assert files(isolated_cache) == []  # no temporary file, no half entry


def test_cache_never_unpickles(tiny, isolated_cache, monkeypatch):
    import pickle

    spec, images = tiny
    zoo.train_or_load(spec, images, device="cpu", progress=False)

    def forbidden(*args, **kwargs):
        raise AssertionError("the zoo must not unpickle")

    monkeypatch.setattr(pickle, "load", forbidden)
    monkeypatch.setattr(pickle, "loads", forbidden)
    monkeypatch.setattr(torch, "load", forbidden)
    assert zoo.train_or_load(spec, images, device="cpu", progress=False).from_cache


def test_profile_encoder_uses_the_profile_split(isolated_cache):
    prof = get_profile("smoke", device="cpu")
    entry = zoo.profile_encoder(prof, seed=0, progress=False)
    assert "mnist5k" in entry.spec.data and entry.spec.arch == "cnn28"
    assert zoo.profile_encoder(prof, seed=0, progress=False).from_cache


def test_regularizer_and_its_description_go_together(tiny):
    spec, images = tiny
    with pytest.raises(ValueError, match="spec.regularizer"):
        zoo.train_or_load(spec, images, device="cpu", regularizer=torch.nn.Identity())
    described = zoo.EncoderSpec(**{**spec.__dict__, "regularizer": {"kind": "x"}})
    with pytest.raises(ValueError, match="spec.regularizer"):
        zoo.train_or_load(described, images, device="cpu")
    digest = zoo.sha256_tensor(images)
    assert zoo.entry_key(described, digest) != zoo.entry_key(spec, digest)
    assert "regularizer" not in spec.to_dict()  # plain encoders keep their keys
    assert zoo.EncoderSpec.from_dict(described.to_dict()) == described


def test_pixel_noise_is_part_of_the_key_only_when_used(tiny):
    import dataclasses

    spec, images = tiny
    digest = zoo.sha256_tensor(images)
    assert "noise_std" not in json.dumps(spec.to_dict())  # old keys stay valid
    aug = dataclasses.replace(spec.pretrain.augment, noise_std=0.05)
    noisy = dataclasses.replace(spec, pretrain=dataclasses.replace(spec.pretrain, augment=aug))
    assert zoo.entry_key(noisy, digest) != zoo.entry_key(spec, digest)
    assert zoo.EncoderSpec.from_dict(noisy.to_dict()) == noisy
    assert zoo.EncoderSpec.from_dict(spec.to_dict()) == spec


def test_derived_entry_is_made_once_then_loaded(tiny, isolated_cache, mnist):
    spec, images = tiny
    parent = zoo.train_or_load(spec, images, device="cpu", progress=False)
    calls = []

    def make():
        calls.append(1)
        child = zoo.build_encoder(spec.arch, spec.in_channels, spec.image_size)
        return child, {"note": "made"}

    first = zoo.derive_or_load("test", parent, {"a": 1}, make, device="cpu")
    second = zoo.derive_or_load("test", parent, {"a": 1}, make, device="cpu")
    other = zoo.derive_or_load("test", parent, {"a": 2}, make, device="cpu")
    assert len(calls) == 2 and not first.from_cache and second.from_cache
    assert second.key == first.key != other.key and second.parent == parent.key
    assert second.info == {"note": "made"} and second.params == {"a": 1}
    x = mnist.x[:8]
    assert torch.equal(extract_features(first.encoder, x), extract_features(second.encoder, x))
    # a chain: derived from a derived entry
    grandchild = zoo.derive_or_load("test", first, {"a": 1}, make, device="cpu")
    assert grandchild.parent == first.key and grandchild.key != first.key


def test_derived_entry_corruption_is_reported_and_remade(tiny, isolated_cache):
    spec, images = tiny
    parent = zoo.train_or_load(spec, images, device="cpu", progress=False)

    def make():
        return zoo.build_encoder(spec.arch, spec.in_channels, spec.image_size), {}

    entry = zoo.derive_or_load("test", parent, {}, make, device="cpu")
    entry.path.write_bytes(entry.path.read_bytes()[:100])  # truncated weights
    with pytest.warns(UserWarning, match="corrupted"):
        again = zoo.derive_or_load("test", parent, {}, make, device="cpu")
    assert not again.from_cache


def test_derived_entry_bad_input(tiny, isolated_cache):
    spec, images = tiny
    parent = zoo.train_or_load(spec, images, device="cpu", progress=False)

    def make():
        return zoo.build_encoder(spec.arch, spec.in_channels, spec.image_size), {}

    with pytest.raises(ValueError, match="kind"):
        zoo.derive_or_load("", parent, {}, make)
    with pytest.raises(ValueError, match="JSON"):
        zoo.derive_or_load("test", parent, {"x": object()}, make)
    with pytest.raises(ValueError, match="ZooEntry"):
        zoo.derive_or_load("test", "not an entry", {}, make)
    with pytest.raises(ValueError, match="encoder"):
        zoo.derive_or_load("test", parent, {}, lambda: (torch.nn.Linear(2, 2), {}))
    with pytest.raises(ValueError, match="JSON"):
        zoo.derive_or_load("test", parent, {}, lambda: (make()[0], {"t": torch.zeros(1)}))
    assert [p.stem for p in isolated_cache.glob("*.safetensors")] == [parent.key]


def test_shipped_entries_map_to_their_keys_and_weights():
    """Every entry in data/zoo still has the key its recorded config and data give (a change of
    the training code or the config format needs `make zoo`), and its weights' SHA-256."""
    shipped = sorted(zoo.SHIPPED_DIR.glob("*.json"))
    assert shipped, "data/zoo holds no entries (run `make zoo`)"
    keys = {p.stem for p in shipped}
    for path in shipped:
        meta = json.loads(path.read_text())
        if "kind" in meta:  # a derived entry (poisoned, backdoored, ...): its parent ships too
            key = zoo.derived_key(meta["kind"], meta["parent"], meta["params"])
            assert meta["parent"] in keys, f"{path.stem}: parent {meta['parent']} not shipped"
        else:
            key = zoo.entry_key(zoo.EncoderSpec.from_dict(meta["spec"]), meta["data_sha256"])
        assert key == meta["key"] == path.stem
        assert zoo.sha256_file(path.with_suffix(".safetensors")) == meta["weights_sha256"]


def test_shipped_dir_follows_the_environment(monkeypatch, tmp_path):
    assert zoo.shipped_dir() == zoo.SHIPPED_DIR
    monkeypatch.setenv("SSLSEC_SHIPPED", str(tmp_path))
    assert zoo.shipped_dir() == tmp_path


def test_the_standard_laptop_encoder_is_shipped(isolated_cache):
    from sslsec.data import pretrain_set

    laptop = get_profile("laptop", device="cpu")
    spec = zoo.spec_for_profile(laptop, 0)
    key = zoo.entry_key(spec, zoo.sha256_tensor(pretrain_set(laptop, 0).x))
    assert (zoo.SHIPPED_DIR / f"{key}.json").exists()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        entry = zoo.profile_encoder(laptop, 0, progress=False)
    assert entry.from_cache and entry.key == key and not any(isolated_cache.glob("*"))


def test_hardware_fingerprint_round_trips_and_names_differences(tmp_path):
    here = zoo.hardware()
    assert set(zoo.HARDWARE_KEYS) < set(here) and here["threads"] == str(torch.get_num_threads())
    assert zoo.read_made_on(tmp_path) is None
    assert zoo.hardware_differences(None) == ["no record of the hardware that made them"]
    zoo.write_made_on(tmp_path, here)
    assert zoo.read_made_on(tmp_path) == here
    assert zoo.hardware_differences(zoo.read_made_on(tmp_path), here) == []
    # another processor than this one, whichever this is
    other_capability = "AVX512" if here["cpu_capability"] == "AVX2" else "AVX2"
    other_bf16 = "False" if here["bf16"] == "True" else "True"
    elsewhere = {**here, "cpu_capability": other_capability, "bf16": other_bf16,
                 "cpu": "another model"}
    assert zoo.hardware_differences(here, elsewhere) == [
        f"cpu_capability: {here['cpu_capability']} -> {other_capability}",
        f"bf16: {here['bf16']} -> {other_bf16}"]


def test_shipped_zoo_records_the_hardware_that_made_it():
    made_on = zoo.read_made_on(zoo.SHIPPED_DIR)
    assert made_on is not None and set(zoo.HARDWARE_KEYS) <= set(made_on)


def test_snapshots_come_from_one_run_and_end_in_the_finished_encoder(tiny, isolated_cache,
                                                                     mnist):
    spec, images = tiny
    spec = dataclasses.replace(spec, pretrain=dataclasses.replace(spec.pretrain, epochs=3))
    snaps = zoo.train_snapshots_or_load(spec, images, [3, 1], device="cpu", progress=False)
    assert list(snaps) == [1, 3] and not any(e.from_cache for e in snaps.values())
    assert snaps[1].spec.snapshot_epoch == 1 and snaps[3].spec.snapshot_epoch is None
    assert snaps[1].history.loss == snaps[3].history.loss[:1]
    # the last snapshot is the finished run: train_or_load finds it
    finished = zoo.train_or_load(spec, images, device="cpu", progress=False)
    assert finished.from_cache and finished.key == snaps[3].key
    # an early snapshot is not an encoder trained for fewer epochs (its schedule differs) ...
    short = dataclasses.replace(spec, pretrain=dataclasses.replace(spec.pretrain, epochs=1))
    assert zoo.entry_key(short, zoo.sha256_tensor(images)) != snaps[1].key
    # ... but is what train_or_load gives for its own spec, and both come back from the cache
    x = mnist.x[:20]
    early = zoo.train_or_load(snaps[1].spec, images, device="cpu", progress=False)
    assert early.from_cache
    assert torch.equal(extract_features(early.encoder, x), extract_features(snaps[1].encoder, x))
    again = zoo.train_snapshots_or_load(spec, images, [1, 3], device="cpu", progress=False)
    assert all(e.from_cache for e in again.values())
    assert not torch.equal(extract_features(again[1].encoder, x),
                           extract_features(again[3].encoder, x))


def test_a_missing_snapshot_is_remade_from_the_same_run(tiny, isolated_cache, mnist):
    spec, images = tiny
    first = zoo.train_snapshots_or_load(spec, images, [1, 2], device="cpu", progress=False)
    (isolated_cache / f"{first[1].key}.json").unlink()
    second = zoo.train_snapshots_or_load(spec, images, [1, 2], device="cpu", progress=False)
    assert not second[1].from_cache and second[2].from_cache
    x = mnist.x[:20]
    assert torch.equal(extract_features(first[1].encoder, x),
                       extract_features(second[1].encoder, x))


@pytest.mark.parametrize("epochs", [[], [0], [1, 5], [1.5]])
def test_snapshot_epochs_must_lie_within_the_run(tiny, epochs):
    spec, images = tiny
    with pytest.raises(ValueError, match=r"epochs=.*1\.\.2"):
        zoo.train_snapshots_or_load(spec, images, epochs, device="cpu")
