"""Does more compute make a small-share trainer auditable? (chapter 01)

Chapter 01's equal-budget trainers spend the long-trained encoder's compute (600 passes over
the owner's 256 images): the 25 % and 10 % trainers then pass over each owner image only 150
and 60 times and are not flagged. This script gives one trainer the compute to pass ``epochs``
times over every image of its set, whatever its share, and runs the chapter's three audits on
it (laptop profile, seed 0, the chapter's world from the encoder zoo):

    .venv/bin/python benchmarks/tracing_passes.py --share 0.25 --epochs 600 [--threads 2]

Measured 2026-12-02 (one thread, AVX2): share 0.25 at 600 epochs (614,400 image passes,
25 minutes): calibrated membership audit p = 0.034 (uncalibrated 0.027), DOV4CL p = 0.41 —
not flagged at 0.01, where the 100 % trainer at the same 600 passes per image is flagged at
p ≈ 10⁻⁶. The script prints the numbers; it does not assert them. New encoders go to a temporary
cache unless ``$SSLSEC_CACHE`` is set.
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


def measure(share: float, epochs: int, seed: int = 0) -> dict[str, float]:
    """Train (or load) the trainer and return its training time and the three p-values."""
    profile = get_profile("laptop", device="cpu")
    world = chapter.tracing_setup(profile, seed=seed, progress=False)
    s, views = world.settings, world.leaky_recipe.augment
    s["budget"] = round(epochs * len(world.original) / share)
    start = time.perf_counter()
    trainer = chapter.trainer_encoder(profile, world, share, seed=seed, progress=True).encoder
    seconds = time.perf_counter() - start

    def membership(calibration):
        return membership_audit(trainer, world.original, world.reference, views,
                                n_views=s["n_views"], device="cpu", seed=seed,
                                calibration=calibration).p_value

    return {
        "share": share, "epochs": epochs, "image_passes": s["budget"], "train_s": seconds,
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
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("SSLSEC_CACHE", tmp)
        for key, value in measure(args.share, args.epochs, args.seed).items():
            print(f"{key:>24}: {value:.4g}")


if __name__ == "__main__":
    main()
