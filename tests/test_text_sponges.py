"""Text sponges against MiniLM, the tokens-per-character filter, and the energy model's counts
for a transformer and for an encoder with a layer it never calls."""

import pytest
import torch
from torch import nn

from sslsec.attacks.text_sponges import query_macs, text_sponges, tokens_per_char
from sslsec.defenses.token_filter import TokenRateFilter
from sslsec.energy import (
    _macs,
    activation_density,
    always_off_share,
    counted_layers,
    transformer_macs,
)
from sslsec.foundation import MiniLM

NATURAL = ["a domestic animal kept for companionship", "a large body of water",
           "move fast by using one's feet", "the act of reading a text aloud",
           "an instrument for measuring time", "a person who writes books"]


@pytest.fixture(scope="module")
def minilm() -> MiniLM:
    return MiniLM()


def test_the_count_is_the_linear_layers_measured_plus_attention(minilm):
    """transformer_macs agrees with hooks on a real forward pass of n tokens, plus attention's
    2·layers·n²·d; it grows faster than the tokens."""
    counted: list[int] = []
    for n in (3, 17):
        counted.clear()
        handles = [m.register_forward_hook(lambda m, i, o: counted.append(_macs(m, o)))
                   for _, m in counted_layers(minilm.net)]
        with torch.no_grad():
            minilm.net(input_ids=torch.full((1, n), 1000))
        for h in handles:
            h.remove()
        c = minilm.net.config
        expected = sum(counted) + 2 * c.num_hidden_layers * n * n * c.hidden_size
        assert transformer_macs(minilm, [n]).item() == pytest.approx(expected)
    small, large = transformer_macs(minilm, [10, 100])
    assert large / small > 10
    with pytest.raises(ValueError, match="n_tokens"):
        transformer_macs(minilm, [])


def test_sponges_read_more_tokens_and_cost_more_than_natural_text(minilm):
    result = text_sponges(minilm, NATURAL, 50, n=4, population=16, generations=3, seed=0)
    assert len(result.sponges) == 4 and all(len(s) == 50 for s in result.sponges)
    assert result.ops_gain > 2 and result.token_gain > 2
    assert result.history == sorted(result.history)  # the kept quarter never gets worse
    assert torch.equal(result.sponge_macs, query_macs(minilm, result.sponges))
    again = text_sponges(minilm, NATURAL, 50, n=4, population=16, generations=3, seed=0)
    assert again.sponges == result.sponges  # seeded


def test_the_filter_refuses_sponges_and_the_aware_attacker_stays_under_it(minilm):
    token_filter = TokenRateFilter.fit(minilm, NATURAL, quantile=1.0)
    assert not token_filter.flags(minilm, NATURAL).any()
    plain = text_sponges(minilm, NATURAL, 50, n=4, population=16, generations=2, seed=0)
    assert token_filter.flags(minilm, plain.sponges).all()
    aware = text_sponges(minilm, NATURAL, 50, n=4, population=16, generations=10, seed=0,
                         max_tokens_per_char=token_filter.threshold, start=NATURAL)
    rates = tokens_per_char(minilm, aware.sponges)
    assert (rates <= token_filter.threshold).all()
    assert 1 <= aware.ops_gain < plain.ops_gain


def test_bad_input_is_refused(minilm):
    with pytest.raises(ValueError, match="exceed the budget"):
        text_sponges(minilm, NATURAL, 10)
    with pytest.raises(ValueError, match="at most population"):
        text_sponges(minilm, NATURAL, 50, n=20, population=16)
    with pytest.raises(ValueError, match="mutation"):
        text_sponges(minilm, NATURAL, 50, mutation=2)
    with pytest.raises(ValueError, match="natural must be a list"):
        text_sponges(minilm, "a text", 50)
    with pytest.raises(ValueError, match="quantile"):
        TokenRateFilter.fit(minilm, NATURAL, quantile=0)


class WithUnusedHead(nn.Module):
    """A ReLU6 encoder whose classifier head ``encode`` never calls."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(1, 4, 3)
        self.act = nn.ReLU6()
        self.mid = nn.Conv2d(4, 4, 3)
        self.head = nn.Linear(4, 10)  # never called by encode

    def encode(self, x):
        return self.mid(self.act(self.conv(x))).mean((2, 3))


def test_a_layer_never_called_costs_nothing_and_always_off_units_bound_the_energy():
    model = WithUnusedHead()
    x = torch.rand(8, 1, 8, 8)
    report = activation_density(model, x, device="cpu")
    assert report.layers == ["conv", "mid"]
    share = always_off_share(model, x, device="cpu")
    assert 0 <= share <= 1 - report.mean_density() + 1e-9
    # a unit no input switches on: its bias holds it off
    with torch.no_grad():
        model.conv.bias[0] = -100.0
    assert always_off_share(model, x, device="cpu") > share
