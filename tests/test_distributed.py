"""Data-parallel pre-training under torchrun (gloo on this CPU) computes what one process does.

Both runs draw the same global batches and the same views (every process draws the views of the
whole batch and keeps its slice), and the loss is computed on the projections gathered from both
processes. The one difference on CPUs is batch norm: each process normalises its own slice
(PyTorch's SyncBatchNorm needs a GPU), which moves the smoke run's loss by about 0.01. Without
the gathering, each process would see half the negatives: its loss would fall by about
log((2B - 1) / (B - 1)) ≈ 0.7 for the smoke batch of B = 128, far outside the tolerance.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from sslsec import distributed
from sslsec.models import build_encoder
from sslsec.pretrain import PretrainConfig, pretrain
from sslsec.profiles import get_profile
from sslsec.zoo import profile_encoder

TOLERANCE = 0.05  # per-epoch loss, absolute (the per-process batch norm moves it by ~0.01)
EPOCHS = 3


def _torchrun(cache: Path, method: str) -> list[float]:
    """The smoke encoder's loss per epoch, trained by ``torchrun --nproc_per_node 2 -m sslsec
    pretrain`` (two processes on gloo) into ``cache``."""
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent))
    command = [torchrun, "--standalone", "--nproc_per_node", "2", "-m", "sslsec", "pretrain",
               "--profile", "smoke", "--epochs", str(EPOCHS), "--method", method,
               "--cache", str(cache)]
    env = {**os.environ, "SSLSEC_PROGRESS": "0", "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    (meta,) = cache.glob("*.json")
    return json.loads(meta.read_text())["history"]["loss"]


@pytest.mark.parametrize("method", ["simclr", "mocov2"])
def test_torchrun_on_two_processes_matches_one_process(method, tmp_path, monkeypatch):
    both = _torchrun(tmp_path / "two", method)
    monkeypatch.setenv("SSLSEC_CACHE", str(tmp_path / "one"))
    one = profile_encoder(get_profile("smoke"), 0, progress=False, epochs=EPOCHS,
                          method=method)
    assert not one.from_cache and len(both) == len(one.history.loss) == EPOCHS
    gaps = [abs(a - b) for a, b in zip(both, one.history.loss, strict=True)]
    assert max(gaps) < TOLERANCE, (both, one.history.loss)
    assert TOLERANCE < math.log((2 * 128 - 1) / (128 - 1)) / 10  # a missing gather shows
    # the entry the two processes wrote is the one a chapter loads
    monkeypatch.setenv("SSLSEC_CACHE", str(tmp_path / "two"))
    entry = profile_encoder(get_profile("smoke"), 0, progress=False, epochs=EPOCHS,
                            method=method)
    assert entry.from_cache and entry.key == one.key and entry.history.loss == both
    assert torch.isfinite(entry.encoder.encode(torch.rand(4, 1, 28, 28))).all()


def test_a_world_of_one_changes_nothing(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    x = torch.randn(3, 2)
    assert distributed.world_size() == 1 and distributed.rank() == 0 and distributed.is_main()
    assert distributed.gather(x) is x
    assert distributed.init_from_env("cpu") == "cpu"


@pytest.mark.parametrize("batch_size, regularizer, message", [
    (63, None, "batch_size=63 must be divisible by the 2 processes"),
    (64, torch.nn.Linear(2, 2), "regularizer is not supported in a data-parallel run"),
])
def test_a_data_parallel_run_refuses_what_it_cannot_split(batch_size, regularizer, message,
                                                          monkeypatch):
    monkeypatch.setattr(distributed, "world_size", lambda: 2)
    monkeypatch.setattr(distributed, "rank", lambda: 0)
    with pytest.raises(ValueError, match=message):
        pretrain(build_encoder("cnn28"), torch.rand(128, 1, 28, 28),
                 PretrainConfig(epochs=1, batch_size=batch_size), device="cpu",
                 progress=False, regularizer=regularizer)



def _sync_worker(rank: int, init: str, out: str) -> None:
    """One of two gloo processes: the check on a layer seeded alike, then seeded apart."""
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=2)
    verdicts = []
    for seed in (0, rank):
        torch.manual_seed(seed)
        try:
            distributed.check_in_sync(torch.nn.Linear(3, 2))
            verdicts.append("in sync")
        except RuntimeError as err:
            verdicts.append(str(err))
    dist.destroy_process_group()
    Path(f"{out}.{rank}").write_text(json.dumps(verdicts))


def test_processes_whose_parameters_drifted_apart_are_caught(tmp_path):
    out = str(tmp_path / "verdict")
    torch.multiprocessing.spawn(_sync_worker, (f"file://{tmp_path / 'rendezvous'}", out),
                                nprocs=2)
    first, second = (json.loads(Path(f"{out}.{r}").read_text()) for r in (0, 1))
    assert first == ["in sync", "in sync"] and second[0] == "in sync"
    assert "process 1 holds other parameters than process 0" in second[1]
