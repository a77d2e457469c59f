"""Chapter 01's set-up helpers: a trainer's pre-training set and its bad input."""

import pytest
import torch

from sslsec.attacks.radioactive_marking import make_marking_key
from sslsec.chapters import ch01_data_tracing as chapter
from sslsec.pretrain import PretrainConfig


def fake_world(n_owner=8, n_filler=40):
    original = torch.rand(n_owner, 1, 28, 28)
    return chapter.TracingSetup(
        chapter.settings("smoke"), original, original + 0.0, torch.zeros(n_owner, dtype=bool),
        make_marking_key(1, 28, 0.1, 9), torch.rand(8, 1, 28, 28), torch.rand(4, 1, 28, 28),
        torch.rand(n_filler, 1, 28, 28), None, None, PretrainConfig(), None, 0.0, {},
        torch.rand(4, 1, 28, 28))


def test_the_owner_makes_up_its_share_of_the_pretraining_set():
    world = fake_world()
    assert len(chapter.pretraining_images(world, 1.0)) == 8
    x = chapter.pretraining_images(world, 0.25)
    assert len(x) == 32 and torch.equal(x[:8], world.released)
    assert torch.equal(chapter.pretraining_images(world, 0.5, clean=True)[:8], world.original)


@pytest.mark.parametrize("share", [0, -0.1, 1.5])
def test_a_share_outside_the_unit_interval_is_refused(share):
    with pytest.raises(ValueError, match=f"share={share!r} must be in"):
        chapter.pretraining_images(fake_world(), share)


def test_a_share_that_needs_more_images_than_the_pool_is_refused():
    with pytest.raises(ValueError, match="needs 72 other images; only 40"):
        chapter.pretraining_images(fake_world(), 0.1)
