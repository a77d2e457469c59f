"""Which lever makes an encoder's own features leak membership? (chapter 02)

Chapter 02's attacker sees the encoder's features (what an encoder API serves), not the
projection head's output that the contrastive loss was computed on. At the same compute —
153,600 image passes, weak augmentations, the laptop recipe — this script pre-trains a victim
and a shadow on ``members`` images each for ``153,600 / members`` epochs (or ``--epochs``) and
runs EncoderMI's threshold variant on both outputs (chapter 02's ``leaky_pair``):

    .venv/bin/python benchmarks/membership_levers.py --members 256 128 64 [--views 10] [--seed 0]

Measured 2026-12-02 (2 threads, AVX-512; encoder features / projection head, AUC and TPR at
1 % FPR, 10 views):
  256 members, 600 epochs:    0.603 / 0.887, TPR 0.4 % / 33 %   (30 views: 0.601 / 0.904)
  128 members, 1,200 epochs:  0.706 / 0.984, TPR 6 % / 49 %     (30 views: 0.711 / 0.990)
   64 members, 2,400 epochs:  0.772 / 1.000, TPR 14 % / 100 %   (seed 1: 0.809, TPR 6 %)
  128 members, 2,400 epochs:  0.749 / 0.995, TPR 14 % / 87 %
  128 members, 1,200 epochs, temperature 0.1 (not 0.5): 0.597 / 0.980
Fewer members passed over more often is the lever; more views are not; a lower temperature
hurts the encoder's features. The script prints the numbers; it does not assert them. New
encoders go to a temporary cache unless ``$SSLSEC_CACHE`` is set.
"""

from __future__ import annotations

import argparse
import os
import tempfile

from sslsec.attacks.encodermi import encodermi
from sslsec.chapters.ch02_membership_inference import leaky_pair
from sslsec.profiles import WEAK_AUGMENT, get_profile

PASSES = 153_600  # chapter 02's compute: 256 members × 600 epochs


def measure(members: int, epochs: int | None = None, views: int = 10, seed: int = 0,
            temperature: float | None = None) -> dict[str, float]:
    """Pre-train (or load) a victim and a shadow on ``members`` images each and return
    EncoderMI's AUC and TPR at 1 % FPR on the encoder's features and on the head's output."""
    profile = get_profile("laptop", device="cpu")
    epochs = epochs or max(1, PASSES // members)
    recipe = {"temperature": temperature} if temperature else {}
    setup = leaky_pair(profile, members, epochs, seed, progress=True, **recipe)
    parts, victim, shadow = setup.parts, setup.victim, setup.shadow
    out: dict[str, float] = {"members": members, "epochs": epochs, "views": views}
    for name, heads in (("features", (None, None)),
                        ("head", (victim.projector, shadow.projector))):
        r = encodermi(victim.encoder, parts["member"].x, parts["nonmember"].x, shadow.encoder,
                      parts["shadow_member"].x, parts["shadow_nonmember"].x, WEAK_AUGMENT,
                      "threshold", views, *heads, device="cpu", seed=seed)
        out[f"{name}_auc"], out[f"{name}_tpr_at_1pct_fpr"] = r.auc, r.tpr_at_1pct_fpr
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, nargs="+", default=[256, 128, 64])
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--views", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--temperature", type=float, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("SSLSEC_CACHE", tmp)
        for members in args.members:
            result = measure(members, args.epochs, args.views, args.seed, args.temperature)
            print("  ".join(f"{key} {value:.3g}" for key, value in result.items()))


if __name__ == "__main__":
    main()
