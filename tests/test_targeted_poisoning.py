import pytest
import torch

from sslsec.attacks.pair_poisoning import pair_poisons
from sslsec.attacks.poisoned_encoder import (
    TargetPair,
    choose_pairs,
    collage,
    collage_poisons,
    evaluate_targets,
    poisoned_encoder,
)
from sslsec.chapters.ch08_poisoning import poisoning_setup
from sslsec.data import split_dataset
from sslsec.defenses.duplicate_removal import remove_duplicates, tile_duplicates
from sslsec.models import SmallCNN
from sslsec.pretrain import PretrainConfig, pretrain


@pytest.fixture(scope="module")
def parts(mnist):
    return split_dataset(mnist, {"test": 200, "train": 800}, seed=0)


def test_pairs_are_distinct_and_aim_at_another_class(parts):
    pairs = choose_pairs(parts["test"], 50, seed=3)
    assert len({p.index for p in pairs}) == 50
    assert all(p.true_class == int(parts["test"].y[p.index]) != p.target_class for p in pairs)
    assert {p.target_class for p in pairs} == set(range(10))  # every other class is drawn
    assert pairs == choose_pairs(parts["test"], 50, seed=3) != choose_pairs(parts["test"], 50, 4)
    for bad in (0, 201):
        with pytest.raises(ValueError):
            choose_pairs(parts["test"], bad)


def test_collage_places_both_digits_shrunk(parts):
    t, r = parts["test"].x[0], parts["train"].x[0]
    side = collage(t, r, "side")
    assert side.shape == t.shape and side[:, 7:21, :14].sum() > 0 and side[:, 7:21, 14:].sum() > 0
    assert side[:, :7].sum() == 0 and side[:, 21:].sum() == 0  # vertically centred
    assert torch.equal(collage(t, r, "side")[:, :, :14], collage(t, parts["train"].x[1])[:, :, :14])
    corners = collage(t, r, "corners")
    assert corners[:, :14, 14:].sum() == 0 and corners[:, 14:, :14].sum() == 0
    flipped = collage(t, r, "corners", flip=True)
    assert flipped[:, :14, :14].sum() == 0 and torch.equal(flipped[:, :14, 14:],
                                                           corners[:, :14, :14])
    with pytest.raises(ValueError, match="layout"):
        collage(t, r, "diagonal")
    with pytest.raises(ValueError, match="same shape"):
        collage(t, r[:, :20, :20])


def test_poisons_hold_the_target_and_references_of_its_class(parts):
    pairs = [TargetPair(0, int(parts["test"].y[0]), 3), TargetPair(5, int(parts["test"].y[5]), 7)]
    poisons = collage_poisons(parts["test"], parts["train"], pairs, 4, "side", seed=1)
    assert poisons.shape == (8, 1, 28, 28)
    assert all(torch.equal(poisons[0, :, :, :14], p[:, :, :14]) for p in poisons[:4])
    firsts, seconds = pair_poisons(parts["test"], parts["train"], pairs, 4, seed=1)
    assert torch.equal(firsts[:4], parts["test"].x[0][None].expand(4, -1, -1, -1))
    train_3 = parts["train"].x[parts["train"].y == 3]
    assert all(any(torch.equal(s, c) for c in train_3) for s in seconds[:4])
    for bad in (0, -1):
        with pytest.raises(ValueError):
            collage_poisons(parts["test"], parts["train"], pairs, bad)
        with pytest.raises(ValueError):
            pair_poisons(parts["test"], parts["train"], pairs, bad)
    for make in (pair_poisons, collage_poisons):
        with pytest.raises(ValueError, match="empty"):
            make(parts["test"], parts["train"], [], 2)


def test_partners_supply_the_second_view(mnist):
    x = mnist.x[:64]
    cfg = PretrainConfig(epochs=1, batch_size=32, seed=0)
    torch.manual_seed(0)
    same = pretrain(SmallCNN(), x, cfg, "cpu", progress=False, partners=x.clone()).encoder
    torch.manual_seed(0)
    plain = pretrain(SmallCNN(), x, cfg, "cpu", progress=False).encoder
    torch.manual_seed(0)
    other = pretrain(SmallCNN(), x, cfg, "cpu", progress=False, partners=x.flip(0)).encoder
    assert all(torch.equal(a, b) for a, b in zip(same.state_dict().values(),
                                                 plain.state_dict().values(), strict=True))
    assert not torch.equal(other.state_dict()["net.0.weight"], plain.state_dict()["net.0.weight"])
    with pytest.raises(ValueError, match="partners"):
        pretrain(SmallCNN(), x, cfg, "cpu", progress=False, partners=x[:10])


def test_poisoned_encoder_is_kept_and_evaluated(smoke, isolated_cache):
    setup = poisoning_setup(smoke, seed=0, progress=False)
    assert len(setup.pairs) == 2 and setup.targets.shape == (2, 1, 28, 28)
    n_clean = len(setup.clean_images)  # smoke: 256 clean images, 2 pairs
    assert setup.per_pair(0.1) == round(0.1 * n_clean / 2) and setup.per_pair(1e-6) == 1
    for bad in (0, -0.1, "0.1"):
        with pytest.raises(ValueError, match="rate"):
            setup.per_pair(bad)
    poisons = collage_poisons(setup.task["test"], setup.task["train"], setup.pairs, 3)
    entry = poisoned_encoder(setup, poisons, progress=False)
    again = poisoned_encoder(setup, poisons, progress=False)
    assert again.from_cache and again.key == entry.key and entry.info["poisons"] == 6
    firsts, seconds = pair_poisons(setup.task["test"], setup.task["train"], setup.pairs, 3)
    assert poisoned_encoder(setup, firsts, seconds, progress=False).key != entry.key
    result = evaluate_targets(entry.encoder, setup)
    assert 0 <= result.success <= 1 and len(result.target_probability) == 2
    assert 0.1 < result.accuracy <= 1 and len(result.predicted) == 2
    with pytest.raises(ValueError, match="partners"):
        poisoned_encoder(setup, firsts, seconds[:2], progress=False)


def test_duplicate_removal_drops_repeated_parts_only(parts):
    clean = parts["train"].x[:300]
    pairs = choose_pairs(parts["test"], 2, seed=0)
    poisons = collage_poisons(parts["test"], parts["train"], pairs, 5, "corners")
    x = torch.cat([clean, poisons])
    counts = tile_duplicates(x)
    assert torch.all(counts[300:] >= 1)  # every poison shares its target's tile with another
    keep = remove_duplicates(x, min_group=2)
    assert not keep[300:].any() and keep[:300].float().mean() > 0.98
    assert remove_duplicates(clean, min_group=2).float().mean() > 0.98
    for bad in (dict(threshold=0), dict(min_ink=1.0)):
        with pytest.raises(ValueError):
            tile_duplicates(x, **bad)
    with pytest.raises(ValueError, match="min_group"):
        remove_duplicates(x, min_group=1)
