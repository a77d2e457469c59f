import numpy as np
import pytest

from sslsec.attacks.recipe_stealing import recipe_config, recipe_inference
from sslsec.chapters.ch05_hyperparameter_stealing import recipe_setup
from sslsec.pretrain import PretrainConfig
from sslsec.profiles import get_profile


def test_recipe_config_applies_the_changes():
    base, aug = PretrainConfig(), get_profile("laptop").augment
    cfg = recipe_config(base, aug, {"method": "mocov2", "temperature": 0.1,
                                    "augment_strength": 0.5})
    assert cfg.method == "mocov2" and cfg.temperature == 0.1
    assert cfg.augment == aug.scaled(0.5)
    with pytest.raises(ValueError, match="unknown"):
        recipe_config(base, aug, {"learning_rate": 1.0})


def test_recipe_inference_on_separable_descriptions():
    rng = np.random.default_rng(0)
    labels = np.tile(np.arange(4), 6)
    centres = rng.normal(size=(4, 20)) * 3
    shadows = centres[labels] + rng.normal(size=(24, 20))
    victims_y = np.arange(4)
    victims = centres[victims_y] + rng.normal(size=(4, 20))
    result = recipe_inference(shadows, labels, victims, victims_y)
    assert result.accuracy == 1.0 and result.chance == 0.25
    assert result.confusion.trace() == 4 and result.confusion.shape == (4, 4)
    with pytest.raises(ValueError, match="non-empty"):
        recipe_inference(shadows, labels, victims[:0], victims_y[:0])


def test_recipe_setup_smoke(smoke):
    setup = recipe_setup(smoke, seed=0, progress=False)
    s = setup.settings
    assert len(setup.shadow_labels) == s["shadows_per_recipe"] * len(setup.recipes)
    assert len(setup.victim_labels) == s["victims_per_recipe"] * len(setup.recipes)
    assert setup.shadow_descriptions.shape[1] == s["n_probe"] * (s["n_probe"] - 1) // 2


def test_leave_one_out_names_separable_recipes_and_intervals_cover():
    from sslsec.attacks.recipe_stealing import (
        accuracy_interval,
        leave_one_out_recipe_inference,
        per_recipe_accuracy,
    )
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1, 2], 6)
    descriptions = rng.normal(size=(18, 5)) + 8 * np.eye(3, 5)[labels]
    result = leave_one_out_recipe_inference(descriptions, labels)
    assert result.accuracy == 1.0 and result.confusion.trace() == 18
    table = per_recipe_accuracy(result.confusion)
    assert table.shape == (3, 4) and (table[:, 0] == 1).all() and (table[:, 3] == 6).all()
    low, high = accuracy_interval(6, 6)
    assert high == 1.0 and 0.5 < low < 0.7  # (1 - 0.975) ** (1 / 6) = 0.54
    low, high = accuracy_interval(3, 6)
    assert low < 0.5 < high
    noise = leave_one_out_recipe_inference(rng.normal(size=(18, 5)), labels)
    assert noise.accuracy < 0.8


@pytest.mark.parametrize("correct,total,confidence", [(4, 3, 0.95), (-1, 3, 0.95),
                                                       (1, 0, 0.95), (1, 3, 1.0)])
def test_accuracy_interval_rejects_bad_input(correct, total, confidence):
    from sslsec.attacks.recipe_stealing import accuracy_interval
    with pytest.raises(ValueError):
        accuracy_interval(correct, total, confidence)
