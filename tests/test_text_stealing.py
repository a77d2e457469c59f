import pytest
import torch
import torch.nn.functional as F

from sslsec.attacks.text_stealing import query_text_api, steal_text_encoder
from sslsec.text_encoders import TokenBagEncoder, drop_pieces, pretrain_text_contrastive

TEXTS = [f"a {animal} that {verb} near the {place}"
         for animal in ("dog", "cat", "horse", "bird") for verb in ("runs", "sleeps", "eats")
         for place in ("river", "house", "field", "road")]  # 48 texts


def test_the_student_reads_word_pieces_and_gives_unknown_ones_one_row():
    student = TokenBagEncoder(TEXTS, dim=8, out_dim=6)
    rows = student.token_rows(["a dog near the river", "zebra", ""])
    assert all(r > 0 for r in rows[0]) and rows[1] == [0] * len(rows[1]) and rows[2] == [0]
    assert student.encode(TEXTS[:5]).shape == (5, 6)
    again = TokenBagEncoder(TEXTS, dim=8, out_dim=6)
    assert torch.equal(again.encode(TEXTS[:5]), student.encode(TEXTS[:5]))  # seeded


def test_a_view_drops_pieces_but_keeps_one():
    gen = torch.Generator().manual_seed(0)
    views = drop_pieces([[1, 2, 3, 4, 5, 6], [7]], 0.5, gen)
    assert set(views[0]) <= {1, 2, 3, 4, 5, 6} and 1 <= len(views[0]) and views[1] == [7]
    with pytest.raises(ValueError, match="p=1"):
        drop_pieces([[1]], 1, gen)


class Teacher(torch.nn.Module):
    """An API: a fixed random map of a text's words."""

    def encode(self, texts):
        gen = torch.Generator().manual_seed(0)
        table = {w: torch.randn(6, generator=gen) for w in sorted({w for t in TEXTS
                                                                    for w in t.split()})}
        return F.normalize(torch.stack([sum(table[w] for w in t.split()) for t in texts]), dim=1)


def test_stealing_brings_the_student_towards_the_api():
    answers = query_text_api(Teacher(), TEXTS)
    student = TokenBagEncoder(TEXTS, dim=16, out_dim=6)
    before = F.cosine_similarity(student.encode(TEXTS), answers).mean()
    result = steal_text_encoder(student, TEXTS, answers, epochs=30, batch_size=16, lr=1e-2)
    after = F.cosine_similarity(result.encoder.encode(TEXTS), answers).mean()
    assert after > 0.9 > before and result.losses[-1] < result.losses[0] and result.seconds > 0


def test_contrastive_pre_training_lowers_its_loss():
    result = pretrain_text_contrastive(TokenBagEncoder(TEXTS, dim=16, out_dim=6), TEXTS,
                                       epochs=10, batch_size=16, lr=1e-2)
    assert len(result.losses) == 10 and result.losses[-1] < result.losses[0]


def test_bad_input_is_refused():
    student = TokenBagEncoder(TEXTS, dim=8, out_dim=6)
    with pytest.raises(ValueError, match="texts must be a list of strings"):
        student.encode("a dog")
    with pytest.raises(ValueError, match="vocabulary_texts is empty"):
        TokenBagEncoder([])
    with pytest.raises(ValueError, match="answers must be"):
        steal_text_encoder(student, TEXTS, torch.zeros(3, 6))
    with pytest.raises(ValueError, match="outputs 6 dimensions"):
        steal_text_encoder(student, TEXTS, torch.zeros(len(TEXTS), 5))
