"""Quality and speed of the default laptop encoder, measured end to end.

Pre-trains the laptop profile's SimCLR encoder on the MNIST-5k pre-training split in a fresh
(temporary) cache, reports the wall time, the linear-probe accuracy on held-out MNIST and on
UCI digits, and how long a second request for the same encoder takes (a cache load).

    .venv/bin/python benchmarks/laptop_encoder.py [--seed 0] [--json out.json]

Targets (issue #2): probe >= 94 % MNIST and >= 90 % digits, pre-training <= 90 s on 2 cores,
cache load <= 2 s. The script prints the numbers; it does not assert them.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

import torch

from sslsec.data import downstream_task
from sslsec.downstream import evaluate_encoder
from sslsec.profiles import get_profile
from sslsec.zoo import profile_encoder


def measure(seed: int, profile_name: str) -> dict[str, float]:
    profile = get_profile(profile_name)
    with tempfile.TemporaryDirectory() as cache:
        os.environ["SSLSEC_CACHE"] = cache
        start = time.perf_counter()
        entry = profile_encoder(profile, seed=seed, progress=False)
        pretrain_wall = time.perf_counter() - start
        start = time.perf_counter()
        again = profile_encoder(profile, seed=seed, progress=False)
        load_wall = time.perf_counter() - start
        assert again.from_cache and not entry.from_cache
    result = {"seed": seed, "pretrain_wall_s": round(pretrain_wall, 1),
              "pretrain_train_s": round(entry.history.total_seconds, 1),
              "cache_load_s": round(load_wall, 3)}
    for name in profile.downstream_datasets:
        task = downstream_task(profile, name, seed=seed)
        probe = evaluate_encoder(entry.encoder, task["train"], task["test"],
                                 epochs=profile.probe_epochs, seed=seed)
        result[f"linear_probe_{name}"] = round(probe.test_accuracy, 4)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, nargs="+", default=[0])
    parser.add_argument("--profile", default="laptop")
    parser.add_argument("--json", help="write the results to this file")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    rows = [measure(seed, args.profile) for seed in args.seed]
    for row in rows:
        print("  ".join(f"{k}={v}" for k, v in row.items()))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)


if __name__ == "__main__":
    main()
