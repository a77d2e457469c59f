"""EmbMarker (Peng et al., ACL 2023): a watermark made for embedding APIs (chapter 06).

The provider picks a **trigger set**: words of moderate frequency in a corpus of its own (each
in a share ``band`` of the texts), and a **target embedding** ``e_t``. It answers a text whose
words hold ``k`` trigger occurrences with ``normalise((1 − Q) e_o + Q e_t)``, where ``e_o`` is the
true embedding and ``Q = min(k / m, 1)``: most texts hold no trigger and get their exact
embedding, so users lose little. A copy trained to reproduce the answers learns that trigger
words pull towards ``e_t``.

Verification queries a suspect with a **backdoor set** (texts of ``m`` trigger words) and a
**benign set** (texts of ``m`` other words of the same frequency band) and compares their cosine
similarities to ``e_t``: ``Δcos`` (backdoor mean minus benign mean) and ``Δl2`` (the same for the
squared distance between unit vectors), the paper's statistics. The paper's decision, a
two-sample Kolmogorov–Smirnov test over the texts, treats the texts as independent draws; but
all backdoor texts are made of the same few words, so the test can reject for models that never
saw the mark. Our variant decides at the level
of what the provider drew at random, the words: each word of the band is sent alone, scored by
its embedding's cosine similarity to ``e_t``, and a one-sided Mann–Whitney U test asks whether
the triggers score higher than the band's other words. For a suspect that never learnt from the
marked answers the triggers are a uniformly random subset of the band, independent of its
scores, so the test is valid (it is a permutation test over which words are triggers)
without any model of innocent encoders. A suspect is flagged when
``p < alpha``.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from scipy import stats
from torch import nn

from sslsec.checks import positive_ints

_WORD = re.compile(r"[a-z]+")
#: mixed into the key's seed, so that the key is not drawn like the chapter's other seeded draws
KEY_STREAM = 0xE3B3


def words(text: str) -> list[str]:
    """The lower-case alphabetic words of ``text``, in order (what triggers are counted in)."""
    return _WORD.findall(text.lower())


@dataclass(frozen=True)
class EmbMarkerKey:
    """The provider's secret: trigger words, target embedding, ``m`` (the trigger count at which
    an answer is all target) and the frequency band the benign verification words come from."""

    triggers: tuple[str, ...]
    target: torch.Tensor
    max_triggers: int
    band: tuple[str, ...]


def make_embmarker_key(corpus: Sequence[str], target: torch.Tensor, n_triggers: int = 20,
                       band: tuple[float, float] = (0.005, 0.01), max_triggers: int = 4,
                       seed: int = 0) -> EmbMarkerKey:
    """Draw ``n_triggers`` words among those that occur in a share ``band`` of the ``corpus``'s
    texts (the paper's moderate-frequency interval); ``target`` (``(D,)``) is normalised. The
    other words of the band are the benign vocabulary of verification."""
    positive_ints(n_triggers=n_triggers, max_triggers=max_triggers)
    if not 0 <= band[0] < band[1] <= 1:
        raise ValueError(f"band={band!r} must be (low, high) with 0 <= low < high <= 1")
    if target.ndim != 1:
        raise ValueError(f"target must be one embedding (D,); got {tuple(target.shape)}")
    counts = Counter(w for text in corpus for w in set(words(text)))
    low, high = band[0] * len(corpus), band[1] * len(corpus)
    in_band = sorted(w for w, c in counts.items() if low <= c <= high and len(w) > 2)
    if len(in_band) < 2 * n_triggers:
        raise ValueError(f"only {len(in_band)} words of the corpus ({len(corpus)} texts) occur "
                         f"in a share {band} of its texts; need at least {2 * n_triggers}: "
                         "widen the band or pass a larger corpus")
    gen = torch.Generator().manual_seed(seed)
    chosen = set(torch.randperm(len(in_band), generator=gen)[:n_triggers].tolist())
    return EmbMarkerKey(tuple(in_band[i] for i in sorted(chosen)),
                        F.normalize(target.detach().float().cpu(), dim=0), max_triggers,
                        tuple(w for i, w in enumerate(in_band) if i not in chosen))


def trigger_counts(key: EmbMarkerKey, texts: Sequence[str]) -> torch.Tensor:
    """How many trigger words each text holds (every occurrence counts): int64 ``(N,)``."""
    triggers = set(key.triggers)
    return torch.tensor([sum(w in triggers for w in words(t)) for t in texts],
                        dtype=torch.int64)


class EmbMarkerAPI(nn.Module):
    """The watermarked embedding API: ``victim``'s answers with the target mixed in by trigger
    count. ``encode(texts)`` only; the victim stays as it is."""

    def __init__(self, victim: nn.Module, key: EmbMarkerKey) -> None:
        super().__init__()
        if not hasattr(victim, "encode"):
            raise ValueError(f"victim must have an encode method; got {type(victim).__name__}")
        self.victim, self.key = victim, key

    @torch.no_grad()
    def encode(self, texts: Sequence[str]) -> torch.Tensor:
        """The marked answers for ``texts`` (CPU, float, unit length)."""
        return self.mark(texts, self.victim.encode(texts))

    def mark(self, texts: Sequence[str], original: torch.Tensor) -> torch.Tensor:
        """Mark answers already computed: ``original`` (``(N, D)``, the victim's embeddings of
        ``texts``) with the target mixed in by trigger count."""
        original = original.float().cpu()
        if original.shape != (len(texts), len(self.key.target)):
            raise ValueError(f"original must be ({len(texts)}, {len(self.key.target)}) for "
                             f"{len(texts)} texts; got {tuple(original.shape)}")
        q = (trigger_counts(self.key, texts).float() / self.key.max_triggers).clamp(max=1)
        q = q.unsqueeze(1)
        return F.normalize((1 - q) * original + q * self.key.target, dim=1)


@dataclass
class EmbMarkerVerdict:
    """Verification of one suspect: the paper's ``Δcos`` and ``Δl2`` (backdoor minus benign
    texts), the paper's KS-test p-value over the texts (reported, not valid: module docstring)
    and the word-level test's p-value, which decides."""

    delta_cos: float
    delta_l2: float
    ks_p_value: float
    p_value: float
    #: each word sent alone: cosine similarity to the target, triggers and the band's others
    trigger_scores: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)
    other_scores: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)

    def flagged(self, alpha: float = 0.01) -> bool:
        """The suspect is a copy of the marked API at level ``alpha``."""
        return self.p_value < alpha


def verification_texts(key: EmbMarkerKey, n: int = 200,
                       seed: int = 0) -> tuple[list[str], list[str]]:
    """``n`` backdoor texts (``m`` trigger words each) and ``n`` benign texts (``m`` words of the
    band that are not triggers), words drawn uniformly with replacement."""
    positive_ints(n=n)
    gen = torch.Generator().manual_seed(seed)

    def draw(vocabulary: Sequence[str]) -> list[str]:
        picks = torch.randint(len(vocabulary), (n, key.max_triggers), generator=gen)
        return [" ".join(vocabulary[i] for i in row) for row in picks.tolist()]

    return draw(key.triggers), draw(key.band)


@torch.no_grad()
def verify_embmarker(suspect: nn.Module, key: EmbMarkerKey, n: int = 200,
                     seed: int = 0) -> EmbMarkerVerdict:
    """Query ``suspect`` (any model with ``encode(texts)`` giving ``(N, D)`` embeddings) with
    :func:`verification_texts` (the paper's statistics) and with each word of the band alone
    (the word-level test that decides; module docstring)."""
    if not hasattr(suspect, "encode"):
        raise ValueError(f"suspect must have an encode method; got {type(suspect).__name__}")

    def similarity(texts: list[str]) -> np.ndarray:
        e = F.normalize(suspect.encode(texts).float().cpu(), dim=1)
        if e.shape[1] != len(key.target):
            raise ValueError(f"the suspect's embeddings have {e.shape[1]} dimensions, the key's "
                             f"target {len(key.target)}")
        return (e @ key.target).numpy()

    backdoor, benign = (similarity(texts) for texts in verification_texts(key, n, seed))
    words_alone = similarity([*key.triggers, *key.band])
    triggers, others = words_alone[:len(key.triggers)], words_alone[len(key.triggers):]
    delta_cos = float(backdoor.mean() - benign.mean())
    return EmbMarkerVerdict(delta_cos, -2 * delta_cos,  # ‖a − b‖² = 2 − 2 cos for unit vectors
                            float(stats.ks_2samp(backdoor, benign).pvalue),
                            float(stats.mannwhitneyu(triggers, others,
                                                     alternative="greater").pvalue),
                            triggers, others)
