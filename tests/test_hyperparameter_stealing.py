import numpy as np
import pytest

from sslsec.attacks.hyperparameter_stealing import (
    ReleasedHead,
    steal_regularization,
    train_head_exactly,
)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 12))
    y = (x[:, :3] @ rng.normal(size=(3, 3))).argmax(1)  # 3 classes, learnable, noisy
    return x, y


@pytest.mark.parametrize("kind", ["ridge", "logistic"])
@pytest.mark.parametrize("lam", [1e-3, 1e-1, 10.0, 1e3])
def test_stealing_recovers_the_weight_exactly(data, kind, lam):
    x, y = data
    head = train_head_exactly(x, y, kind, lam)
    stolen = steal_regularization(x, y, head, true=lam)
    assert stolen.relative_error < 1e-6


def test_a_wrong_training_set_gives_a_wrong_answer(data):
    x, y = data
    head = train_head_exactly(x, y, "logistic", 1.0)
    assert steal_regularization(x[::-1], y, head, true=1.0).relative_error > 0.1


def test_rounding_grows_the_error(data):
    x, y = data
    head = train_head_exactly(x, y, "logistic", 1.0)
    errors = [steal_regularization(x, y, head.rounded(d), true=1.0).relative_error
              for d in (8, 3, 1)]
    assert errors[0] < 1e-5 < errors[1] < errors[2]


def test_logistic_head_is_a_minimum(data):
    """The optimality condition the attack solves must hold for the trained head."""
    x, y = data
    head = train_head_exactly(x, y, "logistic", 0.5)
    logits = x @ head.weight + head.bias
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    grad = x.T @ (p - np.eye(3)[y]) + 0.5 * head.weight
    assert np.abs(grad).max() < 1e-8


def test_bad_input(data):
    x, y = data
    with pytest.raises(ValueError, match="kind="):
        train_head_exactly(x, y, "svm", 1.0)
    with pytest.raises(ValueError, match="regularization="):
        train_head_exactly(x, y, "ridge", 0)
    with pytest.raises(ValueError, match="at least two classes"):
        train_head_exactly(x, np.zeros(len(x), dtype=int), "ridge", 1.0)
    with pytest.raises(ValueError, match="labels must hold"):
        train_head_exactly(x, y[:-1], "ridge", 1.0)
    with pytest.raises(ValueError, match="takes 12 features"):
        steal_regularization(x[:, :5], y, train_head_exactly(x, y, "ridge", 1.0))
    with pytest.raises(ValueError, match="all zero"):
        steal_regularization(x, y, ReleasedHead("ridge", np.zeros((12, 3)), np.zeros(3)))
    with pytest.raises(ValueError, match="decimals="):
        train_head_exactly(x, y, "ridge", 1.0).rounded(2.5)
    with pytest.raises(ValueError, match="true value is unknown"):
        _ = steal_regularization(x, y, train_head_exactly(x, y, "ridge", 1.0)).relative_error
