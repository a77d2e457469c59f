"""Pre-training throughput at the paper's shape: SimCLR, ResNet-18, 3×32×32 images.

The real :func:`sslsec.pretrain.pretrain` (the paper profile's batch size, temperature,
learning rate and augmentations) on CIFAR-shaped tensors: pixels do not change the speed, so
random ones stand in for CIFAR-10. A short warm-up run comes first (cuDNN autotuning, kernel
caches), then ``--repeats`` timed epochs of ``--steps`` steps; the fastest counts. It prints
images/s and the peak GPU memory (on a CPU: the process's peak resident memory). Run it with::

    .venv/bin/python benchmarks/paper_throughput.py                      # auto: a GPU if any
    .venv/bin/python benchmarks/paper_throughput.py --device cpu --steps 2 --batch-size 64
"""

from __future__ import annotations

import argparse
import json
import resource
import sys

import torch

from sslsec.models import build_encoder
from sslsec.pretrain import PretrainConfig, pretrain
from sslsec.profiles import get_profile, resolve_device


def measure(device: str, batch_size: int, steps: int, repeats: int) -> dict:
    """images/s and peak memory of SimCLR pre-training of ResNet-18 on 3×32×32 images."""
    profile = get_profile("paper", device=device)
    dev = resolve_device(device)
    images = torch.rand(batch_size * steps, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    config = PretrainConfig.from_profile(profile, epochs=1, batch_size=batch_size)
    pretrain(build_encoder("resnet18", 3, 32), images[: 2 * batch_size], config, dev,
             progress=False)  # warm-up
    if dev.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    seconds = []
    for _ in range(repeats):
        run = pretrain(build_encoder("resnet18", 3, 32), images, config, dev, progress=False)
        if dev.type == "cuda":
            torch.cuda.synchronize()
        seconds.append(run.history.total_seconds)
    best = min(seconds)
    if dev.type == "cuda":
        peak, where = torch.cuda.max_memory_allocated() / 2**30, torch.cuda.get_device_name()
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB
        where = f"cpu, {torch.get_num_threads()} threads"
    return {"device": where, "batch_size": batch_size, "steps": steps,
            "images_per_s": round(batch_size * steps / best, 1),
            "seconds_per_epoch_50k": round(50_000 / (batch_size * steps / best), 1),
            "peak_memory_gib": round(peak, 2), "repeats_s": [round(s, 3) for s in seconds]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--batch-size", type=int, default=get_profile("paper").batch_size)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", help="also write the result here")
    args = parser.parse_args(argv)
    result = measure(args.device, args.batch_size, args.steps, args.repeats)
    print(f"ResNet-18 SimCLR pre-training, 3×32×32, batch {result['batch_size']} on "
          f"{result['device']}: {result['images_per_s']:,.0f} images/s "
          f"(one CIFAR-10 epoch ≈ {result['seconds_per_epoch_50k']} s), peak memory "
          f"{result['peak_memory_gib']} GiB")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
