"""Re-sparsifying fine-tuning of a sponge-poisoned encoder (chapter 10).

The defender does not know how the encoder was poisoned, only that it is too dense
(:func:`~sslsec.defenses.density_check.deployment_check`). It fine-tunes it briefly with the
same contrastive objective and a *penalty* on the smooth activation density — the sponge term
with its sign reversed, on every step — and keeps the result if its linear probe holds. The
cost: a few epochs of pre-training compute, and whatever accuracy the fine-tuning loses.
"""

from __future__ import annotations

import torch

from sslsec.attacks.sponge_poisoning import SpongeRegularizer, train_with_density_term
from sslsec.pretrain import PretrainConfig
from sslsec.zoo import DerivedEntry, ZooEntry, derive_or_load, sha256_tensor


def resparsify(poisoned: ZooEntry | DerivedEntry, images: torch.Tensor,
               config: PretrainConfig, penalty: float = 1.0, temperature: float = 0.1,
               device: str | torch.device = "auto", progress: bool = False) -> DerivedEntry:
    """``poisoned`` fine-tuned on the defender's ``images`` with ``config`` (its epochs) and
    ``penalty * soft_density`` added to every step's loss. A derived zoo entry (kind
    ``resparsified``); its ``info['seconds']`` is the defence's compute cost."""
    if not (isinstance(penalty, int | float) and penalty > 0):
        raise ValueError(f"penalty={penalty!r} must be > 0")
    regularizer = SpongeRegularizer(-penalty, 1.0, temperature, config.seed)
    params = {"pretrain": config.to_dict(), "images": sha256_tensor(images),
              **regularizer.describe()}
    return derive_or_load(
        "resparsified", poisoned, params,
        lambda: train_with_density_term(poisoned, images, config, regularizer, device,
                                        progress),
        device=device)
