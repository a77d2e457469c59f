import pytest
import torch

from sslsec.attacks.clip_poisoning import (
    clean_pairs,
    clip_encoder,
    evaluate_clip_targets,
    poison_pairs,
)
from sslsec.chapters.ch08_poisoning import poisoning_setup
from sslsec.multimodal import (
    MAX_WORDS,
    NUMBER_WORDS,
    TEMPLATES_PER_CLASS,
    CLIPConfig,
    CLIPModel,
    build_model,
    caption,
    captions,
    clip_loss,
    pretrain_clip,
    tokenize,
)


def test_every_caption_is_tokenized_and_names_its_class():
    digits = tuple(str(i) for i in range(10))
    for label in range(10):
        for t in range(TEMPLATES_PER_CLASS):
            text = caption(digits[label], t)
            assert NUMBER_WORDS[label] in text.split() or str(label) in text.split()
            ids = tokenize([text])
            assert ids.shape == (1, MAX_WORDS) and (ids > 0).sum() == len(text.split())
    assert caption("airplane", 0) == "a photo of a airplane"
    assert "speed" in caption("Speed_limit", 2)
    texts = captions(torch.tensor([7] * 200), digits, seed=1)
    assert len(set(texts)) == TEMPLATES_PER_CLASS and texts == captions(torch.tensor([7] * 200),
                                                                       digits, 1)
    assert torch.equal(tokenize(["a handwritten seven"]), tokenize(["a handwritten seven"]))
    assert not torch.equal(tokenize(["a handwritten seven"]), tokenize(["a handwritten three"]))
    for bad in ("", "a " * (MAX_WORDS + 1)):
        with pytest.raises(ValueError, match="words"):
            tokenize([bad])
    with pytest.raises(ValueError, match="class_name"):
        caption("", 0)
    with pytest.raises(ValueError, match="template"):
        caption("1", TEMPLATES_PER_CLASS)


def test_clip_loss_rewards_matching_pairs():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(32, 16, generator=g)
    scale = torch.tensor(2.0)
    assert clip_loss(z, z, scale) < clip_loss(z, z[torch.randperm(32, generator=g)], scale) - 1
    with pytest.raises(ValueError, match="equal shape"):
        clip_loss(z, z[:, :8], scale)


def test_clip_training_learns_to_name_digits(mnist):
    """20 epochs on 1,024 captioned digits: the loss falls and zero-shot beats chance."""
    order = torch.randperm(len(mnist), generator=torch.Generator().manual_seed(0))
    x, y = mnist.x[order[:1024]], mnist.y[order[:1024]]  # (the file is sorted by class)
    model = build_model("clip-cnn28")
    assert isinstance(model, CLIPModel) and model.encode(x[:4]).shape == (4, model.feature_dim)
    tokens = tokenize(captions(y, mnist.classes))
    history = pretrain_clip(model, x, tokens, CLIPConfig(epochs=20, batch_size=128), "cpu",
                            progress=False)
    assert history.loss[-1] < history.loss[0] - 0.3
    test_x, test_y = mnist.x[order[1024:1524]], mnist.y[order[1024:1524]]
    predicted = model.zero_shot_logits(test_x, mnist.classes).argmax(1)
    assert (predicted == test_y).float().mean() > 0.5
    with pytest.raises(ValueError, match="one row per image"):
        pretrain_clip(model, x, tokens[:10], CLIPConfig(epochs=1), "cpu", False)


def test_poisoned_clip_is_kept_and_evaluated(smoke, isolated_cache):
    setup = poisoning_setup(smoke, seed=0, progress=False)
    images, texts = poison_pairs(setup, 3, seed=0)
    assert images.shape == (3 * len(setup.pairs), *setup.clean_images.shape[1:])
    for k, pair in enumerate(setup.pairs):
        assert torch.equal(images[3 * k], setup.targets[k])
        assert all(NUMBER_WORDS[pair.target_class] in t.split() or str(pair.target_class)
                   in t.split() for t in texts[3 * k:3 * k + 3])
    assert len({t for t in texts}) > len(setup.pairs)  # varied wording
    clean_x, clean_texts = clean_pairs(setup)
    config = CLIPConfig(epochs=1, batch_size=64)
    entry = clip_encoder(setup, config, torch.cat([clean_x, images]), clean_texts + texts,
                         progress=False)
    assert entry.arch == "clip-cnn28" and not entry.from_cache
    again = clip_encoder(setup, config, torch.cat([clean_x, images]), clean_texts + texts,
                         progress=False)
    assert again.from_cache and isinstance(again.encoder, CLIPModel)
    classes = setup.task["test"].classes
    torch.testing.assert_close(again.encoder.zero_shot_logits(setup.targets, classes),
                               entry.encoder.zero_shot_logits(setup.targets, classes))
    result = evaluate_clip_targets(again.encoder, setup)
    assert 0 <= result.zero_shot_success <= 1
    assert len(result.zero_shot_predicted) == len(setup.pairs)
    assert 0 <= result.zero_shot_accuracy <= 1 and 0 <= result.probe.accuracy <= 1
    with pytest.raises(ValueError, match="both"):
        clip_encoder(setup, config, images)
    with pytest.raises(ValueError, match="one each"):
        clip_encoder(setup, config, images, texts[:-1])
    with pytest.raises(ValueError, match="CLIPModel"):
        evaluate_clip_targets(setup.clean.encoder, setup)


def test_no_two_words_of_the_known_classes_share_a_token():
    """Hashed tokens: the words of every digit's and every CIFAR-10 / STL-10 class's captions
    land in distinct buckets (a collision would make two classes' captions alike)."""
    names = [str(i) for i in range(10)] + ["airplane", "automobile", "bird", "cat", "deer",
                                           "dog", "frog", "horse", "ship", "truck", "car",
                                           "monkey"]
    words = {w for c in names for t in range(TEMPLATES_PER_CLASS) for w in caption(c, t).split()}
    ids = tokenize(sorted(words)).flatten()  # one word per row: its id, then padding
    assert len(set(ids[ids > 0].tolist())) == len(words)
