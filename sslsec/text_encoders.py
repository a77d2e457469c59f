"""A small text encoder that a thief can train on a laptop, and how to pre-train it (chapter 06).

:class:`TokenBagEncoder` reads a text as a bag of word pieces (MiniLM's public tokenizer): the
mean of a learnt vector per piece, then a linear map to the output dimension. It has no word
order and no attention, so it trains in seconds on a few thousand texts; what it can learn about
meaning comes from its training signal. Pieces it never saw in training share one "unknown"
vector. Two training signals:

* :func:`pretrain_text_contrastive`: self-supervised, on the texts alone. Two views of a text
  drop word pieces at random; an NT-Xent loss asks each view to find its partner in the batch,
  as SimCLR does for images (a variant of SimCSE, Gao et al., EMNLP 2021, whose views differ by
  dropout noise inside the network instead).
* :func:`sslsec.attacks.text_stealing.steal_text_encoder`: StolenEncoder's loss against an
  embedding API's answers.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn
from tqdm.auto import tqdm

from sslsec.checks import positive_ints
from sslsec.foundation import check_texts
from sslsec.pretrain import nt_xent, show_progress


class TokenBagEncoder(nn.Module):
    """Mean of learnt word-piece vectors (``dim``), then a linear map to ``out_dim``.

    ``vocabulary_texts`` decide which pieces get a vector of their own (those that occur in
    them); ``tokenizer`` defaults to MiniLM's (:func:`sslsec.foundation.minilm_tokenizer`)."""

    def __init__(self, vocabulary_texts: Sequence[str], dim: int = 128, out_dim: int = 384,
                 tokenizer=None, seed: int = 0) -> None:
        super().__init__()
        positive_ints(dim=dim, out_dim=out_dim)
        if tokenizer is None:
            from sslsec.foundation import minilm_tokenizer
            tokenizer = minilm_tokenizer()
        self.tokenizer = tokenizer
        known = self._raw_ids(check_texts(vocabulary_texts, "vocabulary_texts"))
        pieces = sorted({i for ids in known for i in ids})
        #: the tokenizer's piece id → this encoder's row (0: every unknown piece)
        self.rows = {piece: row + 1 for row, piece in enumerate(pieces)}
        self.feature_dim = out_dim
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            self.bag = nn.EmbeddingBag(len(pieces) + 1, dim, mode="mean")
            self.out = nn.Linear(dim, out_dim)

    def _raw_ids(self, texts: list[str]) -> list[list[int]]:
        return self.tokenizer(texts, add_special_tokens=False, truncation=False,
                              verbose=False)["input_ids"]

    def token_rows(self, texts: Sequence[str]) -> list[list[int]]:
        """Each text's word pieces as rows of the bag (0 for a piece it has no vector for)."""
        return [[self.rows.get(i, 0) for i in ids] or [0]
                for ids in self._raw_ids(check_texts(texts))]

    def forward(self, rows: Sequence[Sequence[int]]) -> torch.Tensor:
        """Embeddings ``(N, out_dim)`` of texts given as :meth:`token_rows`."""
        device = self.out.weight.device
        offsets = torch.tensor([0, *[len(r) for r in rows[:-1]]]).cumsum(0)
        flat = torch.tensor([i for r in rows for i in r])
        return self.out(self.bag(flat.to(device), offsets.to(device)))

    @torch.no_grad()
    def encode(self, texts: Sequence[str], batch_size: int = 1024) -> torch.Tensor:
        """Embeddings ``(N, out_dim)`` of ``texts`` (CPU, float)."""
        rows = self.token_rows(texts)
        return torch.cat([self(rows[i:i + batch_size]).float().cpu()
                          for i in range(0, len(rows), batch_size)])


def drop_pieces(rows: Sequence[Sequence[int]], p: float,
                generator: torch.Generator) -> list[list[int]]:
    """A view of each text: every word piece dropped with probability ``p`` (one is always
    kept)."""
    if not 0 <= p < 1:
        raise ValueError(f"p={p!r} must be in [0, 1)")
    views = []
    for r in rows:
        keep = (torch.rand(len(r), generator=generator) >= p).tolist()
        views.append([i for i, k in zip(r, keep, strict=True) if k] or [r[0]])
    return views


@dataclass
class TextTrainingResult:
    """A trained text encoder, its loss per epoch and the training time."""

    encoder: TokenBagEncoder
    losses: list[float] = field(default_factory=list)
    seconds: float = 0.0


def train_text_encoder(encoder: TokenBagEncoder, texts: Sequence[str],
                       loss_fn: Callable[[TokenBagEncoder, list[list[int]], torch.Tensor,
                                          torch.Generator], torch.Tensor],
                       epochs: int = 15, batch_size: int = 128, lr: float = 3e-3,
                       seed: int = 0, desc: str = "training", progress: bool = False
                       ) -> TextTrainingResult:
    """Adam on ``loss_fn(encoder, rows, index, generator)`` over shuffled batches of ``texts``
    (``rows``: the batch's :meth:`~TokenBagEncoder.token_rows`; ``index``: its positions in
    ``texts``, to look up per-text targets)."""
    positive_ints(epochs=epochs, batch_size=batch_size)
    all_rows = encoder.token_rows(texts)
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(encoder.parameters(), lr=lr)
    result = TextTrainingResult(encoder)
    start = time.perf_counter()
    encoder.train()
    for _ in tqdm(range(epochs), desc=desc, disable=not show_progress(progress)):
        total = 0.0
        order = torch.randperm(len(all_rows), generator=gen)
        for i in range(0, len(order), batch_size):
            index = order[i:i + batch_size]
            loss = loss_fn(encoder, [all_rows[j] for j in index.tolist()], index, gen)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(index)
        result.losses.append(total / len(all_rows))
    encoder.eval()
    result.seconds = time.perf_counter() - start
    return result


def pretrain_text_contrastive(encoder: TokenBagEncoder, texts: Sequence[str],
                              epochs: int = 15, batch_size: int = 128, lr: float = 3e-3,
                              drop: float = 0.2, temperature: float = 0.05, seed: int = 0,
                              progress: bool = False) -> TextTrainingResult:
    """Self-supervised pre-training on ``texts`` alone: NT-Xent between two views of each text
    that drop word pieces with probability ``drop`` (module docstring)."""
    def loss(model, rows, index, gen):
        return nt_xent(model(drop_pieces(rows, drop, gen)), model(drop_pieces(rows, drop, gen)),
                       temperature)

    return train_text_encoder(encoder, texts, loss, epochs, batch_size, lr, seed,
                              "contrastive pre-training", progress)
