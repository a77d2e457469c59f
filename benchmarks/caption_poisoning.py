"""Caption poisons against a small CLIP on unseen seeds (chapter 08, Carlini & Terzis).

Chapter 08 measures its caption poisons on seed 0's world. This script runs the same sweep on
any seeds: the seed's (target, class) pairs and pre-training images, the clean CLIP and one
CLIP per rate, each judged by its zero-shot classifier and by a linear probe on its image
features:

    .venv/bin/python benchmarks/caption_poisoning.py --seeds 1 2 [--epochs 50]
        [--rates 0.0025 0.01 0.025 0.1]

Measured 2026-12-02 (laptop profile, 2 threads, AVX-512; 10 targets, 4,000 clean pairs, 50
epochs; success zero-shot / probe; clean accuracy zero-shot / probe):
  poisons per target     0            1            4            10           40 (10 %)
  seed 0 (the chapter)   0 / 0        0 / 0        0.1 / 0.1    0.6 / 0.5    1.0 / 0.9
  seed 1                 0 / 0        0.1 / 0      0.6 / 0.3    0.9 / 0.8    1.0 / 0.8
  seed 2                 0 / 0        0.2 / 0      0.7 / 0.2    1.0 / 0.7    1.0 / 0.9
  clean accuracy: probe 0.970–0.983 on every model (at most 1.3 points below its seed's clean
  CLIP); zero-shot 0.875–0.972, moving by several points between runs with or without poisons.
The script prints the numbers; it does not assert them. New models go to a temporary cache
unless ``$SSLSEC_CACHE`` is set.
"""

from __future__ import annotations

import argparse
import os
import tempfile

import torch

from sslsec.attacks.clip_poisoning import (
    clean_pairs,
    clip_encoder,
    evaluate_clip_targets,
    poison_pairs,
)
from sslsec.chapters.ch08_poisoning import poisoning_setup, settings
from sslsec.multimodal import CLIPConfig
from sslsec.profiles import get_profile


def measure(seed: int, rates: list[float], epochs: int | None = None,
            profile_name: str = "laptop") -> list[dict[str, float]]:
    """One row per rate (0: the clean CLIP): poisons per target, zero-shot and probe success,
    and both classifiers' clean accuracy."""
    profile = get_profile(profile_name, device="cpu")
    setup = poisoning_setup(profile, seed)
    config = CLIPConfig(epochs=epochs or settings(profile_name)["clip_epochs"],
                        batch_size=profile.batch_size, lr=profile.lr, seed=seed)
    clean_x, clean_texts = clean_pairs(setup)
    rows = []
    for rate in [0.0, *rates]:
        if rate:
            images, texts = poison_pairs(setup, setup.per_pair(rate), seed)
            entry = clip_encoder(setup, config, torch.cat([clean_x, images]), clean_texts + texts)
        else:
            entry = clip_encoder(setup, config)
        r = evaluate_clip_targets(entry.encoder, setup)
        rows.append({"seed": seed, "rate": rate,
                     "per_target": setup.per_pair(rate) if rate else 0,
                     "zero_shot_success": r.zero_shot_success, "probe_success": r.probe.success,
                     "zero_shot_accuracy": r.zero_shot_accuracy,
                     "probe_accuracy": r.probe.accuracy})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--rates", type=float, nargs="+", default=None)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--profile", default="laptop")
    args = parser.parse_args()
    rates = args.rates or settings(args.profile)["clip_rates"]
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("SSLSEC_CACHE", tmp)
        for seed in args.seeds:
            for row in measure(seed, rates, args.epochs, args.profile):
                print("  ".join(f"{key} {value:.3g}" for key, value in row.items()), flush=True)


if __name__ == "__main__":
    main()
