import torch

from sslsec.models import MLPHead, ProjectionHead, build_encoder


def test_cnn28_encodes_mnist_shaped_batches(mnist):
    enc = build_encoder("cnn28").eval()
    f = enc.encode(mnist.x[:5])
    assert f.shape == (5, enc.feature_dim)
    assert sum(p.numel() for p in enc.parameters()) < 200_000


def test_resnet18_cifar_stem():
    enc = build_encoder("resnet18", in_channels=3).eval()
    with torch.no_grad():
        f = enc.encode(torch.rand(2, 3, 32, 32))
    assert f.shape == (2, 512)
    assert enc.net.conv1.stride == (1, 1)


def test_heads():
    assert ProjectionHead(128, out_dim=32)(torch.rand(4, 128)).shape == (4, 32)
    assert MLPHead(128, 10)(torch.rand(4, 128)).shape == (4, 10)
