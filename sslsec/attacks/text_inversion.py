"""Inverting sentence embeddings into their words (Song & Raghunathan, CCS 2020).

Their learning-based inversion: the attacker embeds texts of its own through the same encoder,
trains a multi-label classifier from an embedding to the set of words of its text, and applies it
to embeddings it intercepted (a vector store, an API's log). We score the content words (stop
words and words of one or two letters left out) of each text: the decoder names its ``k`` most
likely words, and the F1 of that set against the text's content words is the attack's success.
The baseline is an attacker who knows each text's topic (its WordNet category) and guesses that
category's ``k`` most frequent content words, without the embedding.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from sslsec.checks import positive_ints
from sslsec.foundation import check_texts
from sslsec.pretrain import show_progress

#: words too common to say what a definition is about
STOP_WORDS = frozenset("""
a an the of or and to in on for by with as at from that which who whom whose is are be been being
its it this these those their his her him she he they them into not no any some one more most
other such than something someone especially usually often used use very may can having has
have was were when where how what all only also out over under up down about between within
""".split())


def content_words(text: str) -> list[str]:
    """The lower-case words of ``text`` of three letters or more that are not stop words, in
    order."""
    return [w for w in re.findall(r"[a-z]+", text.lower()) if len(w) > 2 and w not in STOP_WORDS]


@dataclass
class WordVocabulary:
    """The words a decoder can name: the most frequent content words of the attacker's texts."""

    words: list[str]

    def __post_init__(self) -> None:
        self.index = {w: i for i, w in enumerate(self.words)}

    @classmethod
    def from_texts(cls, texts: Sequence[str], size: int) -> WordVocabulary:
        positive_ints(size=size)
        counts = Counter(w for t in check_texts(texts) for w in set(content_words(t)))
        return cls([w for w, _ in counts.most_common(size)])

    def targets(self, texts: Sequence[str]) -> torch.Tensor:
        """Multi-hot ``(N, V)``: which vocabulary words each text holds."""
        out = torch.zeros(len(texts), len(self.words))
        for i, text in enumerate(check_texts(texts)):
            for w in set(content_words(text)):
                if w in self.index:
                    out[i, self.index[w]] = 1
        return out


class WordDecoder(nn.Module):
    """An MLP from a (standardised) embedding to one logit per vocabulary word."""

    def __init__(self, mean: torch.Tensor, std: torch.Tensor, vocabulary: WordVocabulary,
                 hidden: int = 1024) -> None:
        super().__init__()
        self.vocabulary = vocabulary
        self.register_buffer("mean", mean.float())
        self.register_buffer("std", std.float().clamp(min=1e-8))
        self.net = nn.Sequential(nn.Linear(len(mean), hidden), nn.ReLU(),
                                 nn.Linear(hidden, len(vocabulary.words)))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net((z.float() - self.mean) / self.std)

    @torch.no_grad()
    def words(self, z: torch.Tensor, k: int) -> list[set[str]]:
        """The ``k`` most likely words of each embedding."""
        positive_ints(k=k)
        top = self(z).topk(min(k, len(self.vocabulary.words)), dim=1).indices
        return [{self.vocabulary.words[j] for j in row} for row in top.tolist()]


def train_word_decoder(embeddings: torch.Tensor, texts: Sequence[str],
                       vocabulary: WordVocabulary, hidden: int = 1024, epochs: int = 60,
                       batch_size: int = 128, lr: float = 1e-3, seed: int = 0,
                       progress: bool = False) -> WordDecoder:
    """Fit a :class:`WordDecoder` on the attacker's own ``(embedding, text)`` pairs (binary
    cross-entropy per vocabulary word, Adam)."""
    texts = check_texts(texts)
    if embeddings.ndim != 2 or len(embeddings) != len(texts):
        raise ValueError(f"embeddings must be (N, D) with N = {len(texts)} texts; got "
                         f"{tuple(embeddings.shape)}")
    positive_ints(hidden=hidden, epochs=epochs, batch_size=batch_size)
    z = embeddings.detach().float().cpu()
    y = vocabulary.targets(texts)
    gen = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        decoder = WordDecoder(z.mean(0), z.std(0), vocabulary, hidden)
    opt = torch.optim.Adam(decoder.parameters(), lr=lr)
    for _ in tqdm(range(epochs), desc="word decoder",
                  disable=not show_progress(progress)):
        order = torch.randperm(len(z), generator=gen)
        for i in range(0, len(z), batch_size):
            b = order[i:i + batch_size]
            loss = F.binary_cross_entropy_with_logits(decoder(z[b]), y[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return decoder.eval()


def word_f1(predicted: Sequence[set[str]], texts: Sequence[str]) -> torch.Tensor:
    """Per text, the F1 of the predicted word set against its content words ``(N,)`` (NaN for a
    text without content words)."""
    texts = check_texts(texts)
    if len(predicted) != len(texts):
        raise ValueError(f"{len(predicted)} predicted sets for {len(texts)} texts")
    scores = []
    for guess, text in zip(predicted, texts, strict=True):
        truth = set(content_words(text))
        hits = len(guess & truth)
        if not truth:
            scores.append(float("nan"))
        else:
            scores.append(0.0 if hits == 0 else 2 * hits / (len(guess) + len(truth)))
    return torch.tensor(scores, dtype=torch.float64)


def category_guesses(train_texts: Sequence[str], train_labels: torch.Tensor,
                     labels: torch.Tensor, k: int) -> list[set[str]]:
    """The baseline: for each label of ``labels``, the ``k`` most frequent content words of the
    attacker's texts of that category (an attacker who knows the topic, not the embedding)."""
    positive_ints(k=k)
    train_texts = check_texts(train_texts, "train_texts")
    if len(train_labels) != len(train_texts):
        raise ValueError(f"{len(train_labels)} labels for {len(train_texts)} train_texts")
    by_label: dict[int, Counter] = {}
    for text, y in zip(train_texts, train_labels.tolist(), strict=True):
        by_label.setdefault(int(y), Counter()).update(set(content_words(text)))
    return [{w for w, _ in by_label.get(int(y), Counter()).most_common(k)}
            for y in labels.tolist()]


@dataclass
class TextInversionResult:
    """The decoder's word sets and the topic baseline's on the intercepted texts, scored."""

    texts: list[str]
    predicted: list[set[str]]
    baseline: list[set[str]]
    f1: torch.Tensor  # (N,)
    baseline_f1: torch.Tensor  # (N,)

    @property
    def mean_f1(self) -> float:
        return float(self.f1.nanmean())

    @property
    def mean_baseline_f1(self) -> float:
        return float(self.baseline_f1.nanmean())

    @property
    def over_baseline(self) -> float:
        """Mean F1 of the decoder ÷ mean F1 of the topic baseline."""
        return self.mean_f1 / max(self.mean_baseline_f1, 1e-12)


def text_inversion_attack(decoder: WordDecoder, embeddings: torch.Tensor, texts: Sequence[str],
                          labels: torch.Tensor, train_texts: Sequence[str],
                          train_labels: torch.Tensor, k: int = 5) -> TextInversionResult:
    """Invert intercepted ``embeddings`` of ``texts`` (their ``labels`` only feed the baseline,
    built from the attacker's ``train_texts``) into ``k`` words each."""
    texts = check_texts(texts)
    predicted = decoder.words(embeddings, k)
    baseline = category_guesses(train_texts, train_labels, labels, k)
    return TextInversionResult(texts, predicted, baseline, word_f1(predicted, texts),
                               word_f1(baseline, texts))
