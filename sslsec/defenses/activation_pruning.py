"""Activation pruning: re-sparsify a sponge-poisoned encoder without retraining (chapter 10).

Sponge poisoning makes units fire on more inputs, mostly by shifting the batch-norm biases in
front of the ReLUs upwards. The defender, who only knows that the encoder is too dense
(:func:`~sslsec.defenses.density_check.deployment_check`), raises each ReLU's threshold again:
for every channel, it lowers the bias of the batch norm in front of the ReLU just enough that
the channel fires on at most a share ``target`` of the positions of natural reference inputs
(channels already sparser are left alone). No gradient step, one forward pass; the cost is the
accuracy that the pruned activations carried, measured by a fresh linear probe.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from sslsec.energy import check_batch
from sslsec.profiles import resolve_device


def relu_batchnorms(encoder: nn.Module) -> list[nn.BatchNorm2d]:
    """The ``BatchNorm2d`` modules that feed a ReLU directly, in forward order: BN → ReLU in a
    ``Sequential`` (SmallCNN), and ``bn1`` → ``relu`` of torchvision's ResNet stem and of each
    residual block (the ResNet-18; a block's ``bn2`` meets the shortcut before its ReLU)."""
    pairs = []
    for module in encoder.modules():
        if isinstance(module, nn.Sequential):
            children = list(module)
            pairs += [a for a, b in zip(children, children[1:], strict=False)
                      if isinstance(a, nn.BatchNorm2d) and isinstance(b, nn.ReLU)]
        elif isinstance(getattr(module, "bn1", None), nn.BatchNorm2d) and isinstance(
                getattr(module, "relu", None), nn.ReLU):
            pairs.append(module.bn1)
    if not pairs:
        raise ValueError(f"{type(encoder).__name__} has no BatchNorm2d → ReLU pair to prune "
                         "(supported: encoders built of Sequential conv blocks, like SmallCNN, "
                         "and torchvision's ResNets)")
    return pairs


def _bn_output(encoder: nn.Module, bn: nn.BatchNorm2d, x: torch.Tensor) -> torch.Tensor:
    seen: list[torch.Tensor] = []
    handle = bn.register_forward_hook(lambda m, i, out: seen.append(out.detach().clone()))
    try:
        encoder.encode(x)
    finally:
        handle.remove()
    return seen[0]  # (N, C, H, W), before the ReLU


@torch.no_grad()
def prune_activations(encoder: nn.Module, reference_x: torch.Tensor, target: float = 0.4,
                      device: str | torch.device = "auto") -> nn.Module:
    """A copy of ``encoder`` in which every channel of every BN → ReLU pair fires on at most
    a share ``target`` of the positions of ``reference_x`` (its BN bias lowered by that
    channel's ``1 - target`` quantile of pre-activations, where that quantile is positive)."""
    check_batch(reference_x, name="reference_x")
    if not (isinstance(target, int | float) and 0 < target <= 1):
        raise ValueError(f"target={target!r} must be a share in (0, 1]")
    dev = resolve_device(device)
    pruned = copy.deepcopy(encoder).to(dev).eval()
    for bn in relu_batchnorms(pruned):  # in order: each shift changes what the next one sees
        # (the output is cloned: the in-place ReLU after it overwrites it)
        z = _bn_output(pruned, bn, reference_x.to(dev)).transpose(0, 1).flatten(1).float()
        shift = torch.quantile(z, 1 - target, dim=1).clamp_min(0) if target < 1 else \
            torch.zeros(len(z), device=z.device)
        bn.bias -= shift.to(bn.bias.dtype)
    return pruned
