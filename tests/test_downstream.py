import pytest
import torch

from sslsec.downstream import (
    accuracy,
    evaluate_encoder,
    extract_features,
    knn_accuracy,
    linear_probe,
    mlp_probe,
)
from sslsec.models import build_encoder


def blobs(n=400, d=16, k=4, seed=0, spread=0.3):
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(k, d, generator=g) * 3
    y = torch.randint(0, k, (n,), generator=g)
    return centres[y] + spread * torch.randn(n, d, generator=g), y


def test_probes_separate_separable_features():
    (xtr, ytr), (xte, yte) = blobs(seed=0), blobs(seed=0, n=600)
    xte, yte = xte[400:], yte[400:]
    assert linear_probe(xtr, ytr, xte, yte, epochs=30).test_accuracy > 0.97
    assert mlp_probe(xtr, ytr, xte, yte, epochs=30).test_accuracy > 0.97
    assert knn_accuracy(xtr, ytr, xte, yte, k=5) > 0.97


def test_probe_on_noise_is_near_chance():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(600, 16, generator=g), torch.randint(0, 4, (600,), generator=g)
    res = linear_probe(x[:400], y[:400], x[400:], y[400:], epochs=30)
    assert res.test_accuracy < 0.4


def test_accuracy_from_logits_and_labels():
    y = torch.tensor([0, 1, 2, 1])
    assert accuracy(torch.tensor([0, 1, 2, 0]), y) == 0.75
    assert accuracy(torch.eye(3)[[0, 1, 2, 1]], y) == 1.0


def test_features_and_evaluate_encoder(digits):
    enc = build_encoder("cnn28")
    enc.train()
    f = extract_features(enc, digits.x[:10], batch_size=3, device="cpu")
    assert f.shape == (10, enc.feature_dim) and enc.training  # mode restored
    res = evaluate_encoder(enc, digits[:300], digits[300:500], probe="mlp", epochs=5)
    assert 0.0 <= res.test_accuracy <= 1.0


def test_knn_rejects_bad_k():
    x, y = blobs(n=10)
    with pytest.raises(ValueError, match="k="):
        knn_accuracy(x, y, x, y, k=11)


def test_probes_do_not_disturb_the_callers_random_stream():
    x, y = blobs(n=40)
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    linear_probe(x, y, x, y, epochs=2, seed=1)
    assert torch.equal(torch.rand(3), expected)
