"""What makes a small-share trainer auditable: more passes, or a larger encoder? (chapter 01)

Chapter 01's equal-budget trainers spend the long-trained encoder's compute (600 passes over
the owner's 256 images) with the laptop's small CNN (``cnn28``: 16, 32, 64 channels): the 25 %
and 10 % trainers then pass over each owner image only 150 and 60 times and are not flagged.
This script trains one trainer with a chosen number of passes over every image of its set
(``--epochs``) and a chosen architecture (``--arch``, e.g. ``cnn28-w48`` for three times the
channels), whatever its share, and runs the chapter's three audits on it (laptop profile, the
chapter's world of ``--seed`` from the encoder zoo):

    .venv/bin/python benchmarks/tracing_levers.py --share 0.25 --epochs 150 --arch cnn28-w48

Measured 2026-12-02, seed 0, one thread, calibrated membership audit (the script prints the
numbers; it does not assert them; the first row on an AVX2 machine, the others on AVX-512):

| share | passes per image | encoder (channels) | p | training |
|---|---|---|---|---|
| 25 % | 600 (4× the budget) | cnn28 (16) | 0.034 | 25 min |
| 25 % | 150 (equal budget) | cnn28 (16) | 0.10 | 1.0 min |
| 25 % | 150 (equal budget) | cnn28-w48 (48) | 0.0032 | 4.5 min |
| 25 % | 150 (equal budget) | cnn28-w96 (96) | 0.0085 | 11 min |
| 10 % | 60 (equal budget) | cnn28 (16) | 0.16 | 1.2 min |
| 10 % | 60 (equal budget) | cnn28-w48 (48) | 0.29 | 4.2 min |
| 10 % | 60 (equal budget) | cnn28-w96 (96) | 0.057 | 11 min |
| 10 % | 60 (equal budget) | cnn28-w192 (192) | 0.13 | 36 min |

Capacity, not passes, is the lever for the 25 % trainer: three times the channels flags it at
the equal budget, where four times the passes did not. The 10 % trainer is not flagged at any of
these widths, up to twelve times the channels (3.4 million parameters against 32,000). Each row
is one trainer: that 96 channels give a larger p than 48 at 25 % is the spread of single
trainers, not a reversal. New encoders go to a temporary cache unless ``$SSLSEC_CACHE`` is set.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import torch

from sslsec.attacks.dov4cl import dov4cl
from sslsec.attacks.membership_audit import membership_audit
from sslsec.attacks.radioactive_marking import detect_marking
from sslsec.chapters import ch01_data_tracing as chapter
from sslsec.profiles import get_profile


def measure(share: float, epochs: int, arch: str = "cnn28",
            seed: int = 0) -> dict[str, float | str]:
    """Train (or load) the trainer and return its training time and the three p-values."""
    profile = get_profile("laptop", device="cpu")
    world = chapter.tracing_setup(profile, seed=seed, progress=False)
    s, views = world.settings, world.leaky_recipe.augment
    s["budget"] = round(epochs * len(world.original) / share)
    start = time.perf_counter()
    trainer = chapter.trainer_encoder(profile, world, share, seed=seed, progress=True,
                                      arch=arch).encoder
    seconds = time.perf_counter() - start

    def membership(calibration):
        return membership_audit(trainer, world.original, world.reference, views,
                                n_views=s["n_views"], device="cpu", seed=seed,
                                calibration=calibration).p_value

    return {
        "share": share, "epochs": epochs, "arch": arch, "image_passes": s["budget"],
        "train_s": seconds,
        "membership_calibrated_p": membership(world.shadow.encoder),
        "membership_raw_p": membership(None),
        "dov4cl_p": dov4cl(trainer, world.shadow.encoder, world.original, world.reference,
                           views, s["group_size"], s["n_global"], s["n_local"],
                           tuple(s["local_scale"]), device="cpu", seed=seed).p_value,
        "marking_p": detect_marking(trainer, world.probe, world.key, "cpu").p_value,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--share", type=float, default=0.25)
    parser.add_argument("--epochs", type=int, default=600)
    parser.add_argument("--arch", default="cnn28", help="cnn28 or cnn28-w<N>")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("SSLSEC_CACHE", tmp)
        for key, value in measure(args.share, args.epochs, args.arch, args.seed).items():
            print(f"{key:>24}: {value:.4g}" if isinstance(value, float)
                  else f"{key:>24}: {value}")


if __name__ == "__main__":
    main()
