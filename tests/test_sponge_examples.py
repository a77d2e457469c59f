"""The energy model, density measurement and sponge examples (chapter 10)."""

import pytest
import torch
from torch import nn

from sslsec.attacks.sponge_examples import sponge_attack, sponge_pgd, uniform_images
from sslsec.energy import activation_density, energy_ratio, soft_density, soft_energy
from sslsec.models import SmallCNN


class TwoLayer(nn.Module):
    """Linear(4 → 3) → ReLU → Linear(3 → 2), with weights chosen by hand."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.relu, self.fc2 = nn.Linear(4, 3, bias=False), nn.ReLU(), nn.Linear(3, 2)
        with torch.no_grad():
            self.fc1.weight.copy_(torch.tensor([[1.0, 0, 0, 0], [0, 1, 0, 0], [-1, -1, -1, -1]]))

    def encode(self, x):
        return self.fc2(self.relu(self.fc1(x.flatten(1))))


def test_energy_model_on_a_hand_computed_two_layer_network():
    net = TwoLayer()
    # input (1, 0, 0, 0): fc1 sees 1 of 4 entries non-zero; hidden = (1, 0, -1) → ReLU →
    # (1, 0, 0): fc2 sees 1 of 3. MACs: fc1 4·3 = 12, fc2 3·2 = 6.
    # energy ratio = (1/4 · 12 + 1/3 · 6) / 18 = (3 + 2) / 18 = 5/18
    # input (1, 1, 1, 1): 4/4 and hidden (1, 1, -4) → 2/3: (12 + 4) / 18 = 16/18
    x = torch.tensor([[1.0, 0, 0, 0], [1, 1, 1, 1]]).view(2, 1, 2, 2)
    report = activation_density(net, x, device="cpu")
    assert report.layers == ["fc1", "fc2"]
    assert report.macs.tolist() == [12, 6]
    torch.testing.assert_close(report.densities, torch.tensor([[0.25, 1 / 3], [1.0, 2 / 3]]))
    torch.testing.assert_close(report.energy, torch.tensor([5 / 18, 16 / 18]))
    assert energy_ratio(torch.ones(2), torch.tensor([12.0, 6.0])).item() == 1.0


def test_energy_ratio_and_density_reject_bad_input():
    with pytest.raises(ValueError, match="must agree"):
        energy_ratio(torch.ones(3), torch.tensor([1.0, 2.0]))
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        energy_ratio(torch.tensor([1.5, 0.0]), torch.tensor([1.0, 2.0]))
    with pytest.raises(ValueError, match="empty batch"):
        activation_density(TwoLayer(), torch.zeros(0, 1, 2, 2))
    with pytest.raises(ValueError, match="temperature="):
        soft_density(TwoLayer(), torch.zeros(1, 1, 2, 2), temperature=0)


def test_soft_density_follows_the_relu_inputs():
    net = TwoLayer()
    on, off = torch.tensor([[5.0, 5, 0, 0]]), torch.tensor([[0.0, 0, 0, 0]])
    # on: hidden (5, 5, -10) → σ ≈ (1, 1, 0); off: hidden 0 → σ = ½ each
    assert soft_density(net, on.view(1, 1, 2, 2)).item() == pytest.approx(2 / 3, abs=1e-3)
    assert soft_density(net, off.view(1, 1, 2, 2)).item() == pytest.approx(0.5)


def test_soft_energy_is_the_energy_model_made_smooth():
    net = TwoLayer()
    # input (50, 0, 0, 0) (scaled so every count saturates): fc1 reads 1 of 4 non-zero, hidden
    # (50, 0, -50) → fc2 reads 1 of 3 (tanh(50/τ) ≈ 1, tanh(0) = 0): the hand-computed 5/18
    x = torch.tensor([[50.0, 0, 0, 0]]).view(1, 1, 2, 2)
    assert soft_energy(net, x).item() == pytest.approx(5 / 18, abs=1e-4)
    torch.testing.assert_close(soft_energy(net, x).double(), activation_density(net, x).energy
                               .double(), atol=1e-4, rtol=0)
    # at x = 0 every hidden unit is off (z = 0), where ReLU's own gradient is 0; the softplus
    # still passes σ(0) = ½, so the gradient is more than the first layer's pixel term
    # 12/18 · ¼ · 1/τ per pixel
    z = torch.zeros(1, 1, 2, 2, requires_grad=True)
    (grad,) = torch.autograd.grad(soft_energy(net, z).sum(), z)
    pixel_term = torch.full_like(z, 12 / 18 * 0.25 / 0.1)
    assert not torch.allclose(grad, pixel_term)
    with pytest.raises(ValueError, match="temperature="):
        soft_energy(net, x, temperature=0)
    with pytest.raises(ValueError, match="empty batch"):
        soft_energy(net, torch.zeros(0, 1, 2, 2))


@pytest.fixture(scope="module")
def encoder():
    torch.manual_seed(0)
    return SmallCNN().eval()


def test_sponges_stay_in_budget_and_beat_noise(encoder, mnist):
    x = mnist.x[:16]
    result = sponge_attack(encoder, x, epsilon=0.2, steps=10, device="cpu")
    assert (result.sponges - x).abs().max() <= 0.2 + 1e-6
    assert result.sponges.min() >= 0 and result.sponges.max() <= 1
    assert set(result.energy) == {"natural", "noise", "uniform", "sponge"}
    assert result.mean("sponge") > result.mean("noise") > result.mean("natural")
    assert result.gain_over_natural > result.noise_gain_over_natural
    natural = result.mean("natural")  # the headroom: the sponges' extra over what was left
    assert 0 < result.headroom_taken <= 1
    assert result.headroom_taken == pytest.approx(
        (result.mean("sponge") - natural) / (1 - natural))
    assert result.layer_density["sponge"].shape == (len(result.layers),)
    flat = uniform_images(4, x)
    assert flat.shape == (4, 1, 28, 28) and (flat.flatten(1).std(1) == 0).all()


def test_sponge_bad_input(encoder, mnist):
    x = mnist.x[:2]
    with pytest.raises(ValueError, match="epsilon="):
        sponge_pgd(encoder, x, epsilon=-0.1)
    with pytest.raises(ValueError, match="epsilon="):
        sponge_attack(encoder, x, epsilon=1.5)
    with pytest.raises(ValueError, match="steps="):
        sponge_pgd(encoder, x, steps=0)
    with pytest.raises(ValueError, match="empty batch"):
        sponge_pgd(encoder, x[:0])
    with pytest.raises(ValueError, match="kind="):
        sponge_attack(encoder, x, 0.1, 1, device="cpu").mean("flat")


def test_the_dial_redraws_for_each_value():
    import matplotlib

    matplotlib.use("Agg")
    from sslsec import viz

    drawn = []

    def render(epsilon, ax=None):  # any name for the value; optional extras stay unset
        drawn.append(epsilon)
        return f"ε = {epsilon}"

    dial = viz.dial([0.1, 0.2, 0.3], render, "ε")
    assert dial.result == "ε = 0.2"
    dial.children[0].value = 0.3
    assert dial.result == "ε = 0.3" and drawn == [0.2, 0.3]
    with pytest.raises(ValueError, match="values is empty"):
        viz.dial([], render)


def test_a_sponge_that_knows_the_filter_passes_it(encoder, mnist):
    from sslsec.attacks.sponge_examples import filter_aware_sponge_pgd
    from sslsec.defenses.density_check import DensityFilter

    x, reference = mnist.x[:12], mnist.x[100:164]
    density_filter = DensityFilter.fit(encoder, reference, quantile=0.9, layers=2, device="cpu")
    plain = density_filter.apply(encoder, sponge_pgd(encoder, x, 0.2, 8, device="cpu"),
                                 device="cpu")
    aware = filter_aware_sponge_pgd(encoder, x, density_filter.threshold, 2, 0.2, steps=8,
                                    device="cpu")
    assert (aware - x).abs().max() <= 0.2 + 1e-6
    assert ((x == 0) <= (aware == 0)).all()  # black pixels stay black
    passed = density_filter.apply(encoder, aware, device="cpu")
    natural = density_filter.apply(encoder, x, device="cpu")
    assert plain.flag_rate > passed.flag_rate
    # every input passes unless its natural self is flagged; none costs less than it did
    assert (passed.flagged <= natural.flagged).all()
    assert (passed.unfiltered_energy >= natural.unfiltered_energy - 1e-6).all()
    with pytest.raises(ValueError, match="threshold="):
        filter_aware_sponge_pgd(encoder, x, 0.0, 2)
