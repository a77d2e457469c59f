"""Encoders (each with ``encode(x)``), projection heads and downstream heads."""

from __future__ import annotations

import re
from collections.abc import Callable

import torch
from torch import nn

from sslsec.augment import check_images
from sslsec.checks import positive_ints


class Encoder(nn.Module):
    """Base class: ``encode(x)`` maps ``(N, C, H, W)`` images in [0, 1] to ``(N, feature_dim)``."""

    feature_dim: int
    in_channels: int
    image_size: int

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        check_images(x, self.in_channels)
        return self(x)


class SmallCNN(Encoder):
    """Three conv blocks for 28×28 images (the laptop encoder: ~30 k parameters, ~2 MFLOP).

    Width 16 rather than 32: on two CPU cores it pre-trains 3× faster per epoch and reaches the
    same linear-probe accuracy in fewer seconds (benchmarks/laptop_encoder.py)."""

    def __init__(self, in_channels: int = 1, width: int = 16, feature_dim: int = 128,
                 image_size: int = 28) -> None:
        super().__init__()
        self.in_channels, self.feature_dim, self.image_size = in_channels, feature_dim, image_size

        def block(c_in: int, c_out: int) -> list[nn.Module]:
            return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out),
                    nn.ReLU(inplace=True)]

        self.net = nn.Sequential(
            *block(in_channels, width), nn.MaxPool2d(2),
            *block(width, 2 * width), nn.MaxPool2d(2),
            *block(2 * width, 4 * width), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
            nn.Linear(4 * width, feature_dim),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class CifarResNet18(Encoder):
    """torchvision's ResNet-18 with the CIFAR stem (3×3 conv, stride 1, no max-pool).

    ``width`` is the first stage's channels (64, the standard network: 512-d features); the
    four stages have ``width``, 2×, 4× and 8× as many, so ``width=16`` is the same network —
    layers, strides, blocks — at a quarter of the width: a sixteenth of the operations, 14×
    faster per image on a CPU core; the ``papersmoke`` profile's ``resnet18-w8`` is an eighth."""

    def __init__(self, in_channels: int = 3, image_size: int = 32, width: int = 64) -> None:
        super().__init__()
        positive_ints(width=width)
        self.in_channels, self.feature_dim, self.image_size = in_channels, 8 * width, image_size
        import torchvision  # imported here: it costs a second at start-up, and only this needs it
        from torchvision.models.resnet import BasicBlock

        net = torchvision.models.resnet18(weights=None)
        net.conv1 = nn.Conv2d(in_channels, width, 3, stride=1, padding=1, bias=False)
        net.maxpool = nn.Identity()
        net.fc = nn.Identity()
        if width != 64:  # the stages rebuilt by torchvision's own builder at this width
            net.bn1, net.inplanes = nn.BatchNorm2d(width), width
            for i, layer in enumerate(("layer1", "layer2", "layer3", "layer4")):
                setattr(net, layer, net._make_layer(BasicBlock, width * 2 ** i, 2,
                                                    stride=1 if i == 0 else 2))
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


ENCODERS: dict[str, Callable[..., Encoder]] = {
    "cnn28": SmallCNN,
    "resnet18": CifarResNet18,
}


_WIDTH = re.compile(r"(cnn28|resnet18)-w([1-9][0-9]*)")


def widened(arch: str, width: int) -> str:
    """The name of ``arch`` (``cnn28`` or ``resnet18``, at any width) with ``width`` channels in
    its first stage: ``widened("resnet18-w16", 128) == "resnet18-w128"``."""
    positive_ints(width=width)
    base = m.group(1) if (m := _WIDTH.fullmatch(arch)) is not None else arch
    if base not in ENCODERS:
        raise ValueError(f"arch={arch!r} has no width to change; allowed: "
                         f"{', '.join(ENCODERS)} and their -w<N> forms")
    return f"{base}-w{width}"


def build_encoder(arch: str, in_channels: int = 1, image_size: int | None = None) -> Encoder:
    """A fresh encoder from the registry (``cnn28`` or ``resnet18``); ``cnn28-w<N>`` and
    ``resnet18-w<N>``: the same network with ``N`` channels in its first stage instead of 16 and
    64 (the later stages scale with it). (``clip-<arch>`` models:
    :func:`sslsec.multimodal.build_model`.)"""
    if arch.startswith("clip-"):
        raise ValueError(f"arch={arch!r} is a CLIP model: build it with "
                         "sslsec.multimodal.build_model")
    name, kwargs = arch, {}
    if (m := _WIDTH.fullmatch(arch)) is not None:
        name, kwargs = m.group(1), {"width": int(m.group(2))}
    if name not in ENCODERS:
        raise ValueError(f"arch={arch!r} is unknown; allowed: {', '.join(ENCODERS)}, "
                         "cnn28-w<N>, resnet18-w<N>")
    if in_channels not in (1, 3):
        raise ValueError(f"in_channels={in_channels!r} is not supported; allowed: 1, 3")
    kwargs["in_channels"] = in_channels
    if image_size is not None:
        positive_ints(image_size=image_size)
        kwargs["image_size"] = image_size
    return ENCODERS[name](**kwargs)


class ProjectionHead(nn.Sequential):
    """The SimCLR / MoCo v2 projection MLP: Linear → BN → ReLU → Linear."""

    def __init__(self, in_dim: int, hidden_dim: int = 256, out_dim: int = 64) -> None:
        super().__init__(nn.Linear(in_dim, hidden_dim), nn.BatchNorm1d(hidden_dim),
                         nn.ReLU(inplace=True), nn.Linear(hidden_dim, out_dim))


class MLPHead(nn.Sequential):
    """The downstream classifier BadEncoder evaluates with: a fully connected network with two
    hidden layers of 512 and 256 units (ReLU), then the class logits."""

    def __init__(self, in_dim: int, num_classes: int,
                 hidden_dims: tuple[int, ...] = (512, 256)) -> None:
        layers: list[nn.Module] = []
        for width in hidden_dims:
            layers += [nn.Linear(in_dim, width), nn.ReLU(inplace=True)]
            in_dim = width
        super().__init__(*layers, nn.Linear(in_dim, num_classes))
