"""What running an encoder costs: activation density and an energy model (chapter 10).

A sparsity-aware accelerator (the ASICs of the sponge papers) skips every multiply whose input
activation is zero; a dense one skips none. The energy of a forward pass is then, to first
order, the multiply–accumulates (MACs) that meet a non-zero input. :func:`energy_ratio` is that
model; :func:`activation_density` measures its inputs with hooks on every convolution and
linear layer; :func:`soft_energy` is the energy model itself made smooth, which the sponge
attack and sponge poisoning ascend; :func:`soft_density` is a simpler surrogate that counts
every ReLU alike (the share of ReLU inputs above zero, each counted as a sigmoid).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from sslsec.augment import check_images
from sslsec.checks import positive_ints
from sslsec.profiles import resolve_device

#: the layers whose multiply–accumulates the energy model counts
COUNTED = (nn.Conv2d, nn.Linear)
#: the activations that switch units off (output 0 below 0): ReLU, and ReLU6 (EfficientNet-Lite)
RECTIFIERS = (nn.ReLU, nn.ReLU6)


def check_batch(x: torch.Tensor, channels: int | None = None, name: str = "x") -> None:
    """:func:`~sslsec.augment.check_images`, and refuse an empty batch."""
    check_images(x, channels, name)
    if len(x) == 0:
        raise ValueError(f"{name} is an empty batch: nothing to measure")


def energy_ratio(densities: torch.Tensor, macs: torch.Tensor) -> torch.Tensor:
    r"""Estimated energy on a sparsity-aware accelerator, as a share of a dense one's.

    .. math:: \frac{E_\text{sparse}}{E_\text{dense}}
              = \frac{\sum_l d_l\, M_l}{\sum_l M_l}

    where :math:`M_l` is layer :math:`l`'s multiply–accumulates per input and :math:`d_l` the
    share of non-zero entries in the activation that enters it (a zero input skips all the
    MACs it would feed). ``densities`` is ``(..., L)`` in [0, 1], ``macs`` is ``(L,)``;
    returns ``(...)``: 1 = every MAC is paid, as on a dense accelerator.
    """
    macs = torch.as_tensor(macs, dtype=torch.float64)
    densities = torch.as_tensor(densities, dtype=torch.float64)
    if macs.ndim != 1 or densities.shape[-1:] != macs.shape or not (macs > 0).all():
        raise ValueError(f"densities (..., L) and macs (L,) must agree, with macs > 0; got "
                         f"{tuple(densities.shape)} and {tuple(macs.shape)}")
    if densities.min() < 0 or densities.max() > 1:
        raise ValueError("densities must lie in [0, 1]")
    return (densities @ macs) / macs.sum()


def counted_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The convolutions and linear layers of ``model`` in definition order (named)."""
    layers = [(name, m) for name, m in model.named_modules() if isinstance(m, COUNTED)]
    if not layers:
        raise ValueError(f"{type(model).__name__} has no Conv2d or Linear layer to count")
    return layers


def _macs(module: nn.Module, out: torch.Tensor) -> int:
    """Multiply–accumulates of one call of ``module`` per input, from its output's shape."""
    per_input = out[0].numel()
    if isinstance(module, nn.Conv2d):
        kh, kw = module.kernel_size
        return per_input * (module.in_channels // module.groups) * kh * kw
    return per_input * module.in_features


#: what a recording hook is called with: the layer's index, the layer, its input, its output
Recorder = Callable[[int, nn.Module, torch.Tensor, torch.Tensor], None]


@contextlib.contextmanager
def _recording(encoder: nn.Module, record: Recorder) -> Iterator[list[tuple[str, nn.Module]]]:
    """``encoder`` in eval mode with a forward hook on each counted layer ``i`` that calls
    ``record(i, layer, its input, its output)``; hooks removed and mode restored after."""
    layers = counted_layers(encoder)
    handles = [m.register_forward_hook(lambda m, inputs, out, i=i: record(i, m, inputs[0], out))
               for i, (_, m) in enumerate(layers)]
    was_training = encoder.training
    encoder.eval()
    try:
        yield layers
    finally:
        for h in handles:
            h.remove()
        encoder.train(was_training)


@dataclass
class DensityReport:
    """Per-input, per-layer densities of one batch, with each layer's MACs per input."""

    layers: list[str]
    densities: torch.Tensor  # (N, L): share of non-zero entries entering each layer
    macs: torch.Tensor  # (L,)

    @property
    def energy(self) -> torch.Tensor:
        """Per-input :func:`energy_ratio` (N,)."""
        return energy_ratio(self.densities, self.macs).float()

    def mean_density(self) -> float:
        """The MAC-weighted mean density over inputs: the mean energy ratio."""
        return float(self.energy.mean())


@torch.no_grad()
def activation_density(encoder: nn.Module, x: torch.Tensor, batch_size: int = 256,
                       device: str | torch.device = "auto") -> DensityReport:
    """Measure, for every input of ``x``, the share of non-zero entries in the activation
    entering each convolution and linear layer of ``encoder`` (``encode`` in eval mode)."""
    check_batch(x)
    positive_ints(batch_size=batch_size)
    dev = resolve_device(device)
    rows: list[list[torch.Tensor]] = []
    macs: dict[int, int] = {}

    def record(i: int, module: nn.Module, inputs: torch.Tensor, output: torch.Tensor) -> None:
        rows[-1].append((inputs != 0).flatten(1).float().mean(1).cpu())
        macs[i] = _macs(module, output)

    with _recording(encoder, record) as layers:
        batches = []
        for i in range(0, len(x), batch_size):
            rows.append([])
            encoder.encode(x[i:i + batch_size].to(dev))
            if len(rows[-1]) != len(macs):
                raise ValueError("every counted layer that encode uses must run exactly once "
                                 "per forward pass")
            batches.append(torch.stack(rows[-1], 1))
    ran = sorted(macs)  # layers encode never calls (an unused classifier head) cost nothing
    return DensityReport([layers[i][0] for i in ran], torch.cat(batches),
                         torch.tensor([macs[i] for i in ran], dtype=torch.float64))


def soft_density(encoder: nn.Module, x: torch.Tensor, temperature: float = 0.1) -> torch.Tensor:
    r"""The differentiable :math:`\ell_0` surrogate: per input, the mean over the ReLUs of
    :math:`\operatorname{mean}_j \sigma(z_j / \tau)`, where :math:`z` is the ReLU's input
    (a unit counts as on when :math:`z_j \gg \tau`, off when :math:`z_j \ll -\tau`). Unlike
    the share of non-zero outputs it has a gradient for units that are off. Runs
    ``encoder.encode`` in its current mode; returns ``(N,)``."""
    check_batch(x)
    if not temperature > 0:
        raise ValueError(f"temperature={temperature!r} must be > 0")
    terms: list[torch.Tensor] = []

    def record(module, inputs):
        # the sigmoid keeps its own output: an in-place ReLU may then overwrite z safely
        terms.append(torch.sigmoid(inputs[0].float() / temperature).flatten(1).mean(1))

    handles = [m.register_forward_pre_hook(record) for m in encoder.modules()
               if isinstance(m, RECTIFIERS)]
    if not handles:
        raise ValueError(f"{type(encoder).__name__} has no nn.ReLU (or ReLU6) module to "
                         "measure")
    try:
        encoder.encode(x)
    finally:
        for h in handles:
            h.remove()
    return torch.stack(terms, 1).mean(1)


def soft_energy(encoder: nn.Module, x: torch.Tensor, temperature: float = 0.1) -> torch.Tensor:
    r"""The differentiable energy model: :func:`energy_ratio` with each layer's share of
    non-zero inputs replaced by a smooth count,

    .. math:: \tilde E = \frac{\sum_l \tilde d_l\, M_l}{\sum_l M_l},\qquad
              \tilde d_l = \operatorname{mean}_j \tanh(a_{l,j} / \tau)

    where :math:`a_l \ge 0` is what enters layer :math:`l` (after its ReLU and pooling, as the
    energy counts it). A unit that is off has :math:`a = 0` and ReLU's gradient 0 there, so on
    the backward pass each ReLU passes the gradient of :math:`\tau\,\mathrm{softplus}(z/\tau)`,
    i.e. :math:`\sigma(z/\tau)` (a straight-through estimate; the forward values are the
    encoder's own). Runs ``encoder.encode`` in its current mode; returns ``(N,)``."""
    terms, weights = soft_layer_energy(encoder, x, temperature)
    return terms @ (weights / weights.sum())


def soft_layer_energy(encoder: nn.Module, x: torch.Tensor, temperature: float = 0.1
                      ) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`soft_energy` layer by layer: the smooth densities ``(N, L)`` of the counted
    layers' inputs and the layers' MACs ``(L,)``, so that a caller can weigh a subset of the
    layers (``terms[:, :k] @ macs[:k] / macs[:k].sum()`` is the first ``k`` layers' energy)."""
    check_batch(x)
    if not temperature > 0:
        raise ValueError(f"temperature={temperature!r} must be > 0")
    relu_inputs: list[torch.Tensor] = []
    terms: list[torch.Tensor] = []
    macs: list[float] = []

    def keep_input(module, inputs):  # an in-place ReLU overwrites z: keep a copy
        relu_inputs.append(inputs[0].clone())

    def smooth_gradient(module, inputs, output):
        soft = temperature * F.softplus(relu_inputs.pop() / temperature)
        return soft + (output - soft).detach()  # ReLU's values, softplus's gradient

    def count(module, inputs):
        a = inputs[0].float()  # |a| (an input after a linear bottleneck can be negative), with
        a = torch.where(a >= 0, a, -a)  # d|a|/da = 1 at 0, where a switched-off unit sits
        terms.append(torch.tanh(a / temperature).flatten(1).mean(1))

    def record_macs(module, inputs, output):
        macs.append(float(_macs(module, output)))

    relus = [m for m in encoder.modules() if isinstance(m, RECTIFIERS)]
    handles = [m.register_forward_pre_hook(keep_input) for m in relus]
    handles += [m.register_forward_hook(smooth_gradient) for m in relus]
    for _, m in counted_layers(encoder):
        handles += [m.register_forward_pre_hook(count), m.register_forward_hook(record_macs)]
    try:
        encoder.encode(x)
    finally:
        for h in handles:
            h.remove()
    return torch.stack(terms, 1), torch.tensor(macs, device=terms[0].device)


@torch.no_grad()
def always_off_share(encoder: nn.Module, x: torch.Tensor,
                     device: str | torch.device = "auto") -> float:
    """The share of the dense accelerator's MACs that meet an input entry which is zero for
    *every* input of ``x`` (a unit that no input of the batch switches on): energy that no
    input, and so no sponge near these inputs, is likely to claim. ``1 - always_off_share`` is
    the highest energy ratio that switching on every unit some input uses would reach."""
    check_batch(x)
    dev = resolve_device(device)
    ever_on: dict[int, torch.Tensor] = {}
    macs: dict[int, int] = {}

    def record(i: int, module: nn.Module, inputs: torch.Tensor, output: torch.Tensor) -> None:
        on = (inputs != 0).any(0)
        ever_on[i] = on if i not in ever_on else ever_on[i] | on
        macs[i] = _macs(module, output)

    with _recording(encoder, record):
        encoder.encode(x.to(dev))
    ran = sorted(macs)
    off = torch.tensor([1 - float(ever_on[i].float().mean()) for i in ran], dtype=torch.float64)
    weights = torch.tensor([macs[i] for i in ran], dtype=torch.float64)
    return float(off @ weights / weights.sum())


def transformer_macs(model: nn.Module, n_tokens: torch.Tensor | Sequence[int]) -> torch.Tensor:
    """Multiply–accumulates of one forward pass of a BERT-style text encoder (``model.net``
    with a ``config``, e.g. :class:`~sslsec.foundation.MiniLM`) per query of ``n_tokens``
    tokens, counted as for images: every linear layer's MACs (measured with hooks, as
    :func:`activation_density` counts them; they grow linearly with the tokens), plus
    attention's two products per layer, :math:`Q K^\\top` and the weighted sum of the values,
    :math:`2 n^2 d` for ``n`` tokens and hidden size ``d`` (they grow with the square).
    Returns float64 ``(N,)``."""
    n = torch.as_tensor(n_tokens, dtype=torch.float64)
    if n.ndim != 1 or len(n) == 0 or not (n >= 1).all():
        raise ValueError("n_tokens must be a non-empty list of token counts >= 1")
    net = model.net
    config = net.config
    linear: list[int] = []
    handles = [m.register_forward_hook(lambda m, i, o: linear.append(_macs(m, o)))
               for _, m in counted_layers(net)]
    try:
        with torch.no_grad():
            device = next(net.parameters()).device
            net(input_ids=torch.zeros(1, 2, dtype=torch.int64, device=device))
    finally:
        for h in handles:
            h.remove()
    per_token = sum(linear) / 2
    attention = 2 * config.num_hidden_layers * config.hidden_size
    return per_token * n + attention * n ** 2
