import pytest
import torch

from sslsec.models import MLPHead, ProjectionHead, build_encoder, widened


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


def test_resnet18_at_a_quarter_width_keeps_its_layers():
    full, thin = build_encoder("resnet18", 3), build_encoder("resnet18-w16", 3)
    assert thin.feature_dim == 128 and thin.encode(torch.rand(2, 3, 32, 32)).shape == (2, 128)
    kinds = [[type(m).__name__ for m in enc.modules()] for enc in (full, thin)]
    assert kinds[0] == kinds[1]  # the same layers in the same order
    widths = [m.out_channels for m in thin.modules() if isinstance(m, torch.nn.Conv2d)]
    assert widths == [m.out_channels // 4 for m in full.modules()
                      if isinstance(m, torch.nn.Conv2d)]
    assert sum(p.numel() for p in thin.parameters()) < sum(
        p.numel() for p in full.parameters()) / 10
    for bad in ("resnet18-w0", "resnet18-w", "resnet34"):
        with pytest.raises(ValueError, match="arch="):
            build_encoder(bad, 3)


def test_cnn28_at_three_times_the_width():
    thin, wide = build_encoder("cnn28"), build_encoder("cnn28-w48")
    widths = [[m.out_channels for m in enc.modules() if isinstance(m, torch.nn.Conv2d)]
              for enc in (thin, wide)]
    assert widths == [[16, 32, 64], [48, 96, 192]]
    assert wide.feature_dim == thin.feature_dim == 128
    assert wide.eval().encode(torch.rand(2, 1, 28, 28)).shape == (2, 128)
    for bad in ("cnn28-w0", "cnn28-w", "cnn28w48"):
        with pytest.raises(ValueError, match="arch="):
            build_encoder(bad)


def test_widened_names_the_same_network_at_another_width():
    assert widened("cnn28", 48) == "cnn28-w48"
    assert widened("resnet18-w16", 128) == "resnet18-w128"
    assert build_encoder(widened("cnn28-w24", 8)).net[0].out_channels == 8
    with pytest.raises(ValueError, match="arch='clip-cnn28' has no width"):
        widened("clip-cnn28", 48)
    with pytest.raises(ValueError, match="width"):
        widened("cnn28", 0)


def test_heads():
    assert ProjectionHead(128, out_dim=32)(torch.rand(4, 128)).shape == (4, 32)
    assert MLPHead(128, 10)(torch.rand(4, 128)).shape == (4, 10)
