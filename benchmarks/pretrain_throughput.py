"""SimCLR pre-training throughput (images/s): sslsec's pipeline vs the usual tutorial pipeline.

Both pipelines train the same model (``build_encoder("cnn28")`` + :class:`sslsec.pretrain.SimCLR`,
the laptop profile's temperature, batch size and Adam learning rate) on the same data (the
laptop profile's MNIST pre-training images), one after the other in this process:

* **sslsec** — the real :func:`sslsec.pretrain.pretrain`: the whole dataset sits in one tensor;
  each step slices a batch and calls the batched kornia ``SimCLRAugment`` twice on it.
* **tutorial** — the classic recipe: a ``Dataset`` of PIL images whose ``__getitem__`` applies
  ``torchvision.transforms`` (crop, rotation, jitter, ``ToTensor``) twice per image, and a
  ``DataLoader(shuffle=True, drop_last=True, num_workers=W)`` collating the views.

Each pipeline is warmed up for a few steps, then timed for ``--epochs`` epochs, ``--repeats``
times, alternating with the other pipeline (the fastest run counts: other processes may load
the CPU). images/s counts the images of full batches (both drop the last, partial batch).
Run it with::

    make bench
    .venv/bin/python benchmarks/pretrain_throughput.py --num-workers 0 --json out.json
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import os
import time
from pathlib import Path

import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms as T

from sslsec.augment import SimCLRAugment
from sslsec.data import pretrain_set
from sslsec.models import build_encoder
from sslsec.pretrain import PretrainConfig, SimCLR, pretrain
from sslsec.profiles import AugmentConfig, Profile, get_profile
from sslsec.seed import seed_everything

SEED = 0


def bench_sslsec(images: torch.Tensor, profile: Profile, epochs: int, warmup: int) -> float:
    """Seconds for ``epochs`` epochs of the real :func:`pretrain` (after a short warm-up run)."""
    config = PretrainConfig.from_profile(profile, epochs=1, seed=SEED)
    warm = images[: warmup * profile.batch_size]  # a run of ``warmup`` steps
    pretrain(build_encoder("cnn28"), warm, config, profile.device, progress=False)
    seed_everything(SEED)
    config = dataclasses.replace(config, epochs=epochs)
    result = pretrain(build_encoder("cnn28"), images, config, profile.device, progress=False)
    return result.history.total_seconds


class TwoViewPIL(Dataset):
    """MNIST as a list of PIL ``L`` images; each item is two torchvision-transformed views."""

    def __init__(self, images: torch.Tensor, aug: AugmentConfig) -> None:
        pixels = (images[:, 0] * 255).round().to(torch.uint8).numpy()
        self.images = [Image.fromarray(p) for p in pixels]
        s = aug.jitter_strength
        self.transform = T.Compose([
            T.RandomResizedCrop(28, scale=aug.crop_scale),
            T.RandomRotation(aug.rotation_degrees),
            T.RandomApply([T.ColorJitter(0.8 * s, 0.8 * s)], p=aug.jitter_p),
            T.ToTensor(),
        ])

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.transform(self.images[i]), self.transform(self.images[i])


def bench_tutorial(images: torch.Tensor, profile: Profile, epochs: int, warmup: int,
                   num_workers: int) -> float:
    """Seconds for ``epochs`` epochs of the DataLoader + torchvision.transforms pipeline."""
    seed_everything(SEED)
    device = profile.torch_device()
    model = SimCLR(build_encoder("cnn28"), temperature=profile.temperature).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=profile.lr,
                                 weight_decay=PretrainConfig().weight_decay)
    loader = DataLoader(TwoViewPIL(images, profile.augment), batch_size=profile.batch_size,
                        shuffle=True, drop_last=True, num_workers=num_workers)

    def step(v1: torch.Tensor, v2: torch.Tensor) -> None:
        loss = model.loss(v1.to(device), v2.to(device))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        loss.item()  # pretrain() reads the loss every step too

    model.train()
    for v1, v2 in itertools.islice(loader, warmup):
        step(v1, v2)
    start = time.perf_counter()
    for _ in range(epochs):
        for v1, v2 in loader:
            step(v1, v2)
    return time.perf_counter() - start


def views_sslsec(images: torch.Tensor, profile: Profile, epochs: int) -> float:
    """Seconds to make both views of every image (no model): the batched kornia pipeline."""
    seed_everything(SEED)
    aug = SimCLRAugment(images.shape[-1], images.shape[1], profile.augment)
    data, bs = images.to(profile.torch_device()), profile.batch_size
    start = time.perf_counter()
    for _ in range(epochs):
        order = torch.randperm(len(data))
        for i in range(len(data) // bs):
            batch = data[order[i * bs:(i + 1) * bs]]
            aug(batch), aug(batch)
    return time.perf_counter() - start


def views_tutorial(images: torch.Tensor, profile: Profile, epochs: int, num_workers: int) -> float:
    """Seconds to make both views of every image (no model): PIL transforms + DataLoader."""
    seed_everything(SEED)
    loader = DataLoader(TwoViewPIL(images, profile.augment), batch_size=profile.batch_size,
                        shuffle=True, drop_last=True, num_workers=num_workers)
    start = time.perf_counter()
    for _ in range(epochs):
        for _views in loader:
            pass
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=2, help="timed epochs per pipeline")
    parser.add_argument("--warmup", type=int, default=3, help="untimed warm-up steps")
    parser.add_argument("--repeats", type=int, default=3,
                        help="timed runs per pipeline, alternated; the fastest one counts")
    parser.add_argument("--num-workers", type=int, default=2,
                        help="DataLoader workers of the tutorial pipeline (0 = main process)")
    parser.add_argument("--json", type=Path, help="also write the numbers to this JSON file")
    args = parser.parse_args()
    if min(args.epochs, args.warmup, args.repeats) < 1 or args.num_workers < 0:
        parser.error("--epochs, --warmup and --repeats must be >= 1, --num-workers >= 0")

    seed_everything(SEED)
    profile = get_profile("laptop")
    images = pretrain_set(profile, seed=SEED).x
    n = args.epochs * (len(images) // profile.batch_size) * profile.batch_size
    runs: dict[str, list[float]] = {"sslsec": [], "tutorial": []}
    for _ in range(args.repeats):  # alternate, so that a burst of other load hits both
        runs["sslsec"].append(bench_sslsec(images, profile, args.epochs, args.warmup))
        runs["tutorial"].append(
            bench_tutorial(images, profile, args.epochs, args.warmup, args.num_workers))
    seconds = {name: min(times) for name, times in runs.items()}
    rates = {name: n / s for name, s in seconds.items()}
    ratio = rates["sslsec"] / rates["tutorial"]
    view_seconds = {
        "sslsec": min(views_sslsec(images, profile, args.epochs) for _ in range(args.repeats)),
        "tutorial": min(views_tutorial(images, profile, args.epochs, args.num_workers)
                        for _ in range(args.repeats)),
    }
    view_rates = {name: n / s for name, s in view_seconds.items()}
    view_ratio = view_rates["sslsec"] / view_rates["tutorial"]

    print(f"{len(images)} images, batch {profile.batch_size}, {args.epochs} epochs, best of "
          f"{args.repeats}, device {profile.torch_device()}, {torch.get_num_threads()} torch "
          f"threads, load average {os.getloadavg()[0]:.1f}")
    labels = {"sslsec": "sslsec", "tutorial": f"tutorial (workers={args.num_workers})"}
    print(f"{'pipeline':<22} {'images/s':>10} {'seconds':>9}")
    for name, s in seconds.items():
        print(f"{labels[name]:<22} {rates[name]:>10.0f} {s:>9.2f}")
    print(f"ratio (sslsec / tutorial): {ratio:.2f}×")
    print("\naugmentation pipeline alone (two views per image, no model):")
    for name, s in view_seconds.items():
        print(f"{labels[name]:<22} {view_rates[name]:>10.0f} {s:>9.2f}")
    print(f"ratio (sslsec / tutorial): {view_ratio:.2f}×")
    if args.json:
        args.json.write_text(json.dumps({
            "images": len(images), "batch_size": profile.batch_size, "epochs": args.epochs,
            "num_workers": args.num_workers, "device": str(profile.torch_device()),
            "images_per_s": rates, "seconds": seconds, "all_seconds": runs, "ratio": ratio,
            "views_only": {"images_per_s": view_rates, "seconds": view_seconds,
                           "ratio": view_ratio},
        }, indent=2) + "\n")


if __name__ == "__main__":
    main()
