"""Text sponges (Shumailov et al., EuroS&P 2021, their NLP setting): queries of a fixed
character budget that a text encoder's tokenizer splits into as many tokens as possible.

A transformer's work grows with the tokens it reads: linearly in its linear layers, with the
square in attention. An API that charges per query (or per character) pays for that work, so the
attacker searches, among strings of ``budget`` characters, for those that cost the most. The
paper's attack is a genetic algorithm over strings whose fitness is the energy or latency it
measures on hardware; ours (a variant) scores a string by the multiply–accumulates it costs,
counted from its tokens (:func:`~sslsec.energy.transformer_macs`), so that the result does not
depend on the machine. The search: a random population of strings, the fittest quarter kept,
children made by one-point crossover of two kept strings and by random character mutations.
An attacker who knows a :class:`~sslsec.defenses.token_filter.TokenRateFilter` searches only
among the strings that the filter lets through (``max_tokens_per_char``).
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from sslsec.checks import positive_ints
from sslsec.energy import transformer_macs
from sslsec.foundation import check_texts
from sslsec.pretrain import show_progress

#: the characters the search draws from: what a keyboard types (lower case: the tokenizer folds
#: case)
ALPHABET = string.ascii_lowercase + string.digits + string.punctuation + " "


def tokens_per_char(model: nn.Module, texts: Sequence[str]) -> torch.Tensor:
    """Tokens the model reads (special tokens left out) per character of each text, ``(N,)``."""
    texts = check_texts(texts)
    counts = model.token_counts(texts, truncate=True) - 2
    return counts.double() / torch.tensor([max(len(t), 1) for t in texts], dtype=torch.float64)


def query_macs(model: nn.Module, texts: Sequence[str]) -> torch.Tensor:
    """Multiply–accumulates of one query per text (the tokens the model reads), ``(N,)``."""
    return transformer_macs(model, model.token_counts(check_texts(texts), truncate=True))


@dataclass
class TextSpongeResult:
    """Sponge strings against natural texts of the same character budget."""

    budget: int
    natural: list[str]
    sponges: list[str]
    natural_macs: torch.Tensor  # (N,)
    sponge_macs: torch.Tensor  # (M,)
    natural_tokens: torch.Tensor  # (N,) tokens read, [CLS] and [SEP] included
    sponge_tokens: torch.Tensor  # (M,)
    history: list[float]  # per generation: the mean MACs of the kept strings ÷ natural mean

    @property
    def ops_gain(self) -> float:
        """Mean MACs per sponge query ÷ mean MACs per natural query."""
        return float(self.sponge_macs.mean() / self.natural_macs.mean())

    @property
    def token_gain(self) -> float:
        """Mean tokens per sponge ÷ mean tokens per natural text."""
        return float(self.sponge_tokens.double().mean() / self.natural_tokens.double().mean())


def text_sponges(model: nn.Module, natural: Sequence[str], budget: int, n: int = 16,
                 population: int = 64, generations: int = 30, mutation: float = 0.02,
                 max_tokens_per_char: float | None = None, start: Sequence[str] | None = None,
                 alphabet: str = ALPHABET, seed: int = 0, progress: bool = False
                 ) -> TextSpongeResult:
    """The ``n`` costliest strings of exactly ``budget`` characters that a genetic search finds
    (``population`` strings, ``generations`` rounds, each character of a child mutated with
    probability ``mutation``), compared with the ``natural`` texts (at most ``budget``
    characters each). With ``max_tokens_per_char``, a string above it scores minus its excess
    (the search climbs under a filter the attacker knows, and returns only strings under it).
    ``start``: the first population's strings (padded with spaces to ``budget`` characters,
    repeated to fill it), e.g. natural texts for an attacker under a filter; default: random
    strings of ``alphabet``. ``model``: a text encoder with ``token_counts``
    and a BERT-style ``net`` (:class:`~sslsec.foundation.MiniLM`)."""
    natural = check_texts(natural, "natural")
    positive_ints(budget=budget, n=n, population=population, generations=generations)
    if n > population:
        raise ValueError(f"n={n} must be at most population={population}")
    if population < 4:
        raise ValueError(f"population={population} must be at least 4 (a quarter is kept)")
    if not 0 <= mutation <= 1:
        raise ValueError(f"mutation={mutation!r} must be a probability in [0, 1]")
    if max_tokens_per_char is not None and not max_tokens_per_char > 0:
        raise ValueError(f"max_tokens_per_char={max_tokens_per_char!r} must be > 0")
    if len(set(alphabet)) < 2:
        raise ValueError("alphabet must hold at least two distinct characters")
    too_long = [t for t in natural if len(t) > budget]
    if too_long:
        raise ValueError(f"{len(too_long)} natural text(s) exceed the budget of {budget} "
                         f"characters, e.g. {too_long[0]!r}")
    rng = np.random.default_rng(seed)
    chars = np.array(list(dict.fromkeys(alphabet)))
    natural_macs = query_macs(model, natural)

    def fitness(pop: np.ndarray) -> np.ndarray:
        texts = ["".join(row) for row in pop]
        score = query_macs(model, texts).numpy()
        if max_tokens_per_char is not None:  # above the filter: the further, the worse
            excess = tokens_per_char(model, texts).numpy() - max_tokens_per_char
            score = np.where(excess <= 0, score, -excess)
        return score

    if start is None:
        pop = rng.choice(chars, size=(population, budget))
    else:
        start = check_texts(start, "start")
        pop = np.array([list(start[i % len(start)][:budget].ljust(budget))
                        for i in range(population)])
    score = fitness(pop)
    keep = population // 4
    history = []
    for _ in tqdm(range(generations), desc="text sponges",
                  disable=not show_progress(progress)):
        order = np.argsort(-score, kind="stable")
        elite, elite_score = pop[order[:keep]], score[order[:keep]]
        history.append(float(elite_score.mean() / natural_macs.mean()))
        parents = rng.integers(0, keep, size=(population - keep, 2))
        cut = rng.integers(1, budget, size=population - keep) if budget > 1 else \
            np.ones(population - keep, dtype=int)
        children = np.where(np.arange(budget)[None, :] < cut[:, None],
                            elite[parents[:, 0]], elite[parents[:, 1]])
        mutate = rng.random(children.shape) < mutation
        children = np.where(mutate, rng.choice(chars, size=children.shape), children)
        pop = np.concatenate([elite, children])
        score = np.concatenate([elite_score, fitness(children)])
    order = np.argsort(-score, kind="stable")
    best, seen = [], set()
    for i in order:
        text = "".join(pop[i])
        if text not in seen and score[i] > 0:
            seen.add(text)
            best.append(text)
        if len(best) == n:
            break
    if not best:
        raise ValueError("no string of the search passed max_tokens_per_char: raise it, or "
                         "the population or generations")
    return TextSpongeResult(budget, natural, best, natural_macs, query_macs(model, best),
                            model.token_counts(natural, truncate=True),
                            model.token_counts(best, truncate=True), history)
