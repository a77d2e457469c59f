import zlib

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from sslsec.defenses.embmarker import (
    EmbMarkerAPI,
    make_embmarker_key,
    trigger_counts,
    verification_texts,
    verify_embmarker,
    words,
)

D = 16
#: 60 words, "waa".."wch", each in 3 or 4 of 200 texts (a band of 1.5-2 %); "common" in all
VOCABULARY = [f"w{chr(97 + i // 26)}{chr(97 + i % 26)}" for i in range(60)]
CORPUS = [f"common {VOCABULARY[i * 7 % 60]}" for i in range(200)]


def word_vector(word: str) -> torch.Tensor:
    gen = torch.Generator().manual_seed(zlib.crc32(word.encode()))
    return torch.randn(D, generator=gen)


class BagOfWords(torch.nn.Module):
    """An encoder independent of any key: the normalised sum of fixed random word vectors, plus
    ``pull`` times the target for every word in ``towards`` (a copy that learnt the mark)."""

    def __init__(self, towards=(), target=None, pull=0.0):
        super().__init__()
        self.towards, self.target, self.pull = set(towards), target, pull

    def encode(self, texts):
        out = []
        for t in texts:
            v = sum(word_vector(w) for w in words(t))
            v = v + self.pull * sum(w in self.towards for w in words(t)) * (
                self.target if self.target is not None else 0)
            out.append(F.normalize(v, dim=0))
        return torch.stack(out)


@pytest.fixture
def key():
    target = word_vector("the target text")
    return make_embmarker_key(CORPUS, target, n_triggers=5, band=(0.01, 0.03), max_triggers=2,
                              seed=0)


def test_the_key_draws_triggers_from_the_band_and_keeps_the_rest_for_benign_texts(key):
    assert len(key.triggers) == 5 and not set(key.triggers) & set(key.band)
    assert "common" not in key.triggers + key.band  # in every text: outside the band
    assert len(key.band) == 55 and torch.isclose(key.target.norm(), torch.tensor(1.0))
    again = make_embmarker_key(CORPUS, word_vector("the target text"), 5, (0.01, 0.03), 2, 0)
    assert again.triggers == key.triggers


def test_the_api_answers_exactly_without_triggers_and_the_target_at_m(key):
    victim = BagOfWords()
    api = EmbMarkerAPI(victim, key)
    plain = "common nothing here"
    marked = " ".join(key.triggers[:2])
    half = key.triggers[0] + " common"
    answers = api.encode([plain, marked, half])
    assert trigger_counts(key, [plain, marked, half]).tolist() == [0, 2, 1]
    assert torch.allclose(answers[0], victim.encode([plain])[0], atol=1e-6)
    assert torch.allclose(answers[1], key.target, atol=1e-6)
    original = victim.encode([half])[0]
    assert torch.allclose(answers[2], F.normalize(0.5 * original + 0.5 * key.target, dim=0),
                          atol=1e-6)


def test_verification_flags_a_copy_that_learnt_the_mark_and_not_an_independent_encoder(key):
    copy = BagOfWords(key.triggers, key.target, pull=3.0)
    found = verify_embmarker(copy, key, n=50)
    assert found.flagged() and found.delta_cos > 0.5 and found.p_value < 1e-3
    assert found.delta_l2 == pytest.approx(-2 * found.delta_cos)
    assert found.trigger_scores.shape == (5,) and found.other_scores.shape == (55,)
    innocent = verify_embmarker(BagOfWords(), key, n=50)
    assert not innocent.flagged() and innocent.p_value > 0.01


def test_the_word_level_test_keeps_its_level_over_random_keys():
    """For an encoder independent of the key, p < 0.1 about one key in ten."""
    p = [verify_embmarker(BagOfWords(), make_embmarker_key(
        CORPUS, word_vector(f"target {s}"), 5, (0.01, 0.03), 2, seed=s), n=10).p_value
         for s in range(40)]
    assert 0 <= np.mean(np.array(p) < 0.1) <= 0.25


def test_verification_texts_are_made_of_m_words_of_each_set(key):
    backdoor, benign = verification_texts(key, n=7, seed=1)
    assert len(backdoor) == len(benign) == 7
    assert all(len(words(t)) == 2 and set(words(t)) <= set(key.triggers) for t in backdoor)
    assert all(set(words(t)) <= set(key.band) for t in benign)


def test_bad_input_is_refused(key):
    with pytest.raises(ValueError, match="band="):
        make_embmarker_key(CORPUS, key.target, band=(0.3, 0.1))
    with pytest.raises(ValueError, match="one embedding"):
        make_embmarker_key(CORPUS, torch.zeros(2, D))
    with pytest.raises(ValueError, match="only 60 words .* need at least 80"):
        make_embmarker_key(CORPUS, key.target, n_triggers=40, band=(0.01, 0.03))
    with pytest.raises(ValueError, match="encode method"):
        verify_embmarker(torch.nn.Linear(2, 2), key)
    with pytest.raises(ValueError, match="must be \\(1, 16\\)"):
        EmbMarkerAPI(BagOfWords(), key).mark(["a"], torch.zeros(1, 3))
