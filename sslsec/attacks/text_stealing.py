"""Stealing a text encoder through its embedding API (chapter 06, a foundation model).

The victim is an Embedding-as-a-Service: it returns a sentence embedding for every text it is
sent (here all-MiniLM-L6-v2, :class:`sslsec.foundation.MiniLM`, or an API in front of it such as
:class:`sslsec.defenses.embmarker.EmbMarkerAPI`). The attacker sends its own texts once, keeps
the answers, and trains a small student of its own
(:class:`sslsec.text_encoders.TokenBagEncoder`) with StolenEncoder's loss (Liu et al., CCS 2022):
the student's embedding of a text, and of a view of it with word pieces dropped, must point
where the API's answer for the text points. StolenEncoder steals image encoders with augmented
images; here the augmentation drops word pieces (a variant), and the views cost no queries.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from sslsec.attacks.encoder_stealing import stolenencoder_loss
from sslsec.text_encoders import (
    TextTrainingResult,
    TokenBagEncoder,
    drop_pieces,
    train_text_encoder,
)


@torch.no_grad()
def query_text_api(api: nn.Module, texts: Sequence[str]) -> torch.Tensor:
    """The API's answers: ``api.encode(texts)`` as CPU floats, one row per text."""
    answers = api.encode(list(texts)).float().cpu()
    if answers.shape[0] != len(texts):
        raise ValueError(f"the API returned {answers.shape[0]} answers for {len(texts)} texts")
    return answers


def steal_text_encoder(student: TokenBagEncoder, texts: Sequence[str], answers: torch.Tensor,
                       epochs: int = 15, batch_size: int = 128, lr: float = 3e-3,
                       drop: float = 0.2, lam: float = 1.0, seed: int = 0,
                       progress: bool = False) -> TextTrainingResult:
    """Train ``student`` on the API's ``answers`` for ``texts`` with StolenEncoder's loss:
    ``-cos(h(x), f(x)) - lam * cos(h(A(x)), f(x))``, ``A`` dropping word pieces with
    probability ``drop``."""
    if answers.ndim != 2 or len(answers) != len(texts):
        raise ValueError(f"answers must be (N, D) with N = {len(texts)} texts; got "
                         f"{tuple(answers.shape)}")
    if answers.shape[1] != student.feature_dim:
        raise ValueError(f"the student outputs {student.feature_dim} dimensions, the answers "
                         f"have {answers.shape[1]}")
    answers = answers.float()

    def loss(model, rows, index, gen):
        return stolenencoder_loss(model(rows), model(drop_pieces(rows, drop, gen)),
                                  answers[index].to(model.out.weight.device), lam)

    return train_text_encoder(student, texts, loss, epochs, batch_size, lr, seed,
                              "stealing", progress)
