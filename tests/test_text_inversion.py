"""Inverting text embeddings into words: content words, the vocabulary, the decoder, F1 and the
topic baseline."""

import math

import pytest
import torch

from sslsec.attacks.text_inversion import (
    WordVocabulary,
    category_guesses,
    content_words,
    text_inversion_attack,
    train_word_decoder,
    word_f1,
)

ANIMALS = [f"a {size} {animal} that lives near the {place}"
           for size in ("small", "large") for animal in ("dog", "cat", "horse")
           for place in ("river", "forest", "mountain")]
TOOLS = [f"a {kind} tool for cutting {thing}" for kind in ("sharp", "heavy", "electric")
         for thing in ("wood", "metal", "paper", "stone")]
TEXTS = ANIMALS + TOOLS
LABELS = torch.tensor([0] * len(ANIMALS) + [1] * len(TOOLS))


def embed(texts):
    """A stand-in encoder that keeps which words occur (a bag of words, fixed random map)."""
    vocab = sorted({w for t in TEXTS for w in t.split()})
    gen = torch.Generator().manual_seed(0)
    table = torch.randn(len(vocab), 16, generator=gen)
    return torch.stack([sum(table[vocab.index(w)] for w in t.split()) for t in texts])


def test_content_words_leave_out_stop_words_and_short_words():
    assert content_words("A dog, or a cat, that is on the mat!") == ["dog", "cat", "mat"]
    vocab = WordVocabulary.from_texts(TEXTS, 5)
    assert len(vocab.words) == 5 and "tool" in vocab.words
    targets = vocab.targets(["a tool", "nothing known here"])
    assert targets[0].sum() == 1 and targets[1].sum() == 0


def test_f1_scores_sets_and_skips_texts_without_content_words():
    f1 = word_f1([{"dog", "river"}, {"cat"}, {"x"}], ["a dog by the river", "a dog", "the a"])
    assert f1[0] == 1 and f1[1] == 0 and math.isnan(f1[2])
    assert word_f1([{"dog", "cat"}], ["a dog"])[0] == pytest.approx(2 / 3)


def test_the_decoder_reads_words_that_the_topic_alone_does_not_give():
    vocab = WordVocabulary.from_texts(TEXTS, 40)
    z = embed(TEXTS)
    decoder = train_word_decoder(z, TEXTS, vocab, hidden=64, epochs=200, lr=1e-2, seed=0)
    result = text_inversion_attack(decoder, z, TEXTS, LABELS, TEXTS, LABELS, k=3)
    assert result.mean_f1 > result.mean_baseline_f1 + 0.1 and result.over_baseline > 1.1
    guesses = category_guesses(TEXTS, LABELS, torch.tensor([1]), k=2)
    assert guesses[0] <= set(content_words(" ".join(TOOLS)))
    again = train_word_decoder(z, TEXTS, vocab, hidden=64, epochs=5, seed=0)
    same = train_word_decoder(z, TEXTS, vocab, hidden=64, epochs=5, seed=0)
    assert torch.equal(again(z), same(z))  # seeded


def test_bad_input_is_refused():
    vocab = WordVocabulary.from_texts(TEXTS, 10)
    with pytest.raises(ValueError, match="embeddings must be"):
        train_word_decoder(torch.zeros(3, 4), TEXTS, vocab)
    with pytest.raises(ValueError, match="predicted sets"):
        word_f1([{"dog"}], TEXTS[:2])
    with pytest.raises(ValueError, match="labels for"):
        category_guesses(TEXTS, LABELS[:3], LABELS, k=2)
    with pytest.raises(ValueError, match="texts must be a list"):
        WordVocabulary.from_texts("a dog", 3)
