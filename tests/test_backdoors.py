import pytest
import torch

from sslsec.attacks.badencoder import (
    Trigger,
    backdoored_copy,
    badencoder,
    badencoder_loss,
    evaluate_backdoor,
    reference_images,
)
from sslsec.data import downstream_task
from sslsec.defenses.decree import detect, invert_trigger, self_similarity
from sslsec.models import SmallCNN
from sslsec.zoo import profile_encoder


@pytest.fixture(scope="module")
def encoder():
    torch.manual_seed(0)
    return SmallCNN().eval()


def test_trigger_stamps_its_patch(mnist):
    trigger = Trigger(size=4, corner="top-left", margin=1)
    x = trigger.apply(mnist.x[:3])
    assert torch.all(x[:, :, 1:5, 1:5] == 1.0)
    assert torch.equal(x[:, :, 6:, 6:], mnist.x[:3, :, 6:, 6:])
    assert trigger.area == pytest.approx(16 / 784)
    board = Trigger(pattern="checkerboard").apply(torch.zeros(1, 1, 28, 28))
    assert board.sum() == 8  # half of the 16 patch pixels
    for bad in (dict(corner="middle"), dict(pattern="stripes"), dict(size=0),
                dict(size=28, margin=1)):
        with pytest.raises(ValueError):
            Trigger(**bad)


def test_loss_rewards_the_backdoor():
    torch.manual_seed(0)
    ref, shadow = torch.randn(3, 16), torch.randn(8, 16)
    on_target = ref.mean(0).expand(8, 16) + 0.01 * torch.randn(8, 16)
    good = badencoder_loss(on_target, ref, ref, shadow, shadow)
    bad = badencoder_loss(-on_target, ref, ref, shadow, shadow)
    assert good < bad
    assert badencoder_loss(on_target, ref, ref, shadow, -shadow) > good  # utility term


def test_badencoder_plants_a_backdoor_and_keeps_the_original(smoke, mnist):
    encoder = profile_encoder(smoke, 0, progress=False).encoder
    shadow, refs = mnist.x[:256], mnist.x[mnist.y == 3][:2]
    trigger = Trigger()
    before = {k: v.clone() for k, v in encoder.state_dict().items()}
    result = badencoder(encoder, shadow, refs, trigger, epochs=10, batch_size=64, lr=2e-3,
                        device="cpu", progress=False)
    assert all(torch.equal(v, before[k]) for k, v in encoder.state_dict().items())

    def mean_cos(model, x):  # around the clean images' mean feature (a common offset)
        with torch.no_grad():
            centre = model.encode(probe).mean(0)
            f = torch.nn.functional.normalize(model.encode(x) - centre, dim=1)
            r = torch.nn.functional.normalize(model.encode(refs) - centre, dim=1)
        return float((f @ r.T).mean())

    probe = mnist.x[1000:1064]

    def pull(model):  # how much the trigger moves images towards the references
        return mean_cos(model, trigger.apply(probe)) - mean_cos(model, probe)

    assert pull(result.encoder) > pull(encoder) + 0.1
    assert result.loss[-1] < result.loss[0]


def test_reference_images_are_of_the_target_class(smoke):
    task = downstream_task(smoke, "digits", seed=0)
    refs = reference_images(task, 7, 3, seed=0)
    assert refs.shape[0] == 3
    assert torch.equal(refs, reference_images(task, 7, 3, seed=0))
    with pytest.raises(ValueError, match="target"):
        reference_images(task, 10, 3)
    with pytest.raises(ValueError, match="asked"):
        reference_images(task, 7, 10_000)


def test_backdoored_copy_in_the_zoo_and_its_evaluation(smoke, mnist):
    clean = profile_encoder(smoke, 0, progress=False)
    task = downstream_task(smoke, "mnist5k", seed=0)
    refs, trigger = reference_images(task, 0, 2), Trigger()
    options = dict(epochs=2, batch_size=64, seed=0)
    first = backdoored_copy(clean, mnist.x[1000:1256], refs, trigger, "cpu", False, **options)
    again = backdoored_copy(clean, mnist.x[1000:1256], refs, trigger, "cpu", False, **options)
    assert not first.from_cache and again.from_cache and again.parent == clean.key
    ev = evaluate_backdoor(clean.encoder, again.encoder, task, "mnist5k", trigger, 0, "mlp", 5,
                           "cpu")
    for value in (ev.clean_accuracy, ev.backdoored_accuracy, ev.attack_success_rate,
                  ev.baseline_success_rate):
        assert 0.0 <= value <= 1.0
    with pytest.raises(ValueError, match="target"):
        evaluate_backdoor(clean.encoder, again.encoder, task, "mnist5k", trigger, 12)


def test_self_similarity():
    z = torch.randn(1, 8).expand(5, 8)
    assert self_similarity(z).item() == pytest.approx(1.0, abs=1e-5)
    opposite = torch.cat([torch.eye(4), -torch.eye(4)])
    assert self_similarity(opposite).item() == pytest.approx(-1 / 7, abs=1e-5)


def test_inversion_finds_a_planted_shortcut(mnist):
    """An 'encoder' that outputs a constant whenever the top-left 3×3 patch is bright, and
    image-dependent features otherwise: the smallest collapsing trigger is about that patch."""
    class Shortcut(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = torch.nn.Linear(784, 16)

        def encode(self, x):
            on = x[:, :, :3, :3].mean((1, 2, 3), keepdim=False)[:, None]
            return (1 - on) * self.net(x.flatten(1)) + on * 50 * torch.ones(len(x), 16)

    torch.manual_seed(0)
    found = invert_trigger(Shortcut(), mnist.x[:256], steps=300, batch_size=64, lr=0.1,
                           threshold=0.9, device="cpu", progress=False)
    assert found.found and found.pl1 < 0.1
    assert found.mask[:, :3, :3].mean() > found.mask[:, 10:, 10:].mean()


def test_detection_auroc_and_bad_input(encoder, mnist):
    from sslsec.defenses.decree import InvertedTrigger

    def trig(pl1):
        return InvertedTrigger(torch.zeros(1, 2, 2), torch.zeros(1, 2, 2), 0.9, pl1, True)

    result = detect([trig(0.02), trig(0.03), trig(0.5), trig(0.6)], [True, True, False, False])
    assert result.auroc == 1.0 and len(result.roc()[0]) >= 2
    with pytest.raises(ValueError, match="both"):
        detect([trig(0.1)], [True])
    with pytest.raises(ValueError, match="threshold"):
        invert_trigger(encoder, mnist.x[:16], threshold=1.5, batch_size=8)
    with pytest.raises(ValueError, match="batch_size"):
        invert_trigger(encoder, mnist.x[:16], batch_size=64)
    with pytest.raises(ValueError, match="encode"):
        invert_trigger(torch.nn.ReLU(), mnist.x[:16], batch_size=8)
    with pytest.raises(ValueError, match="references"):
        badencoder(encoder, mnist.x[:16], mnist.x[:0], Trigger(), batch_size=8)
    with pytest.raises(ValueError, match="batch_size"):
        badencoder(encoder, mnist.x[:16], mnist.x[:1], Trigger(), batch_size=64)
