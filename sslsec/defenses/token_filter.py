"""A tokens-per-character filter against text sponges (chapter 10).

A text sponge packs as many tokens as it can into its characters; natural text has a narrow
range of tokens per character (about one token per word). The filter refuses a query whose
tokens per character exceed the natural texts' ``quantile``, before the encoder runs. Its cost:
the natural queries it refuses. An attacker who knows the threshold searches under it
(:func:`~sslsec.attacks.text_sponges.text_sponges` with ``max_tokens_per_char``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from sslsec.attacks.text_sponges import tokens_per_char


@dataclass
class TokenRateFilter:
    """Refuse queries above ``threshold`` tokens per character."""

    threshold: float
    quantile: float

    @classmethod
    def fit(cls, model: nn.Module, natural: Sequence[str], quantile: float = 0.99
            ) -> TokenRateFilter:
        """The threshold: the ``quantile`` of the natural texts' tokens per character."""
        if not 0 < quantile <= 1:
            raise ValueError(f"quantile={quantile!r} must lie in (0, 1]")
        rates = tokens_per_char(model, natural)
        return cls(float(torch.quantile(rates, quantile)), quantile)

    def flags(self, model: nn.Module, texts: Sequence[str]) -> torch.Tensor:
        """Which ``texts`` the filter refuses: bool ``(N,)``."""
        return tokens_per_char(model, texts) > self.threshold
