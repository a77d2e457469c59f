import math

import pytest
import torch
import torch.nn.functional as F

from sslsec.models import build_encoder
from sslsec.pretrain import MoCoV2, PretrainConfig, info_nce, nt_xent, pretrain
from sslsec.seed import seed_everything


def nt_xent_reference(z1, z2, t):
    """The SimCLR paper's loss written as its double sum, one anchor at a time."""
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    n2 = len(z)
    total = 0.0
    for i in range(n2):
        j = (i + n2 // 2) % n2
        denom = sum(math.exp(float(z[i] @ z[k]) / t) for k in range(n2) if k != i)
        total += -math.log(math.exp(float(z[i] @ z[j]) / t) / denom)
    return total / n2


def test_nt_xent_matches_the_paper_formula():
    g = torch.Generator().manual_seed(0)
    z1, z2 = torch.randn(6, 8, generator=g), torch.randn(6, 8, generator=g)
    assert nt_xent(z1, z2, 0.5).item() == pytest.approx(nt_xent_reference(z1, z2, 0.5), 1e-5)
    # aligned views are better than random ones
    assert nt_xent(z1, z1 + 0.01, 0.5) < nt_xent(z1, z2, 0.5)


def test_info_nce_prefers_the_positive_key():
    q = torch.randn(4, 8)
    queue = torch.randn(32, 8)
    assert info_nce(q, q, queue, 0.2) < info_nce(q, torch.randn(4, 8), queue, 0.2)
    with pytest.raises(ValueError):
        info_nce(q, q, torch.randn(32, 5))


@pytest.mark.parametrize("method", ["simclr", "mocov2"])
def test_pretraining_lowers_the_loss_and_is_repeatable(method, mnist):
    cfg = PretrainConfig(method=method, epochs=4, batch_size=64, lr=2e-3, queue_size=128)
    images = mnist.x[:256]
    seed_everything(0)
    res = pretrain(build_encoder("cnn28"), images, cfg, device="cpu", progress=False)
    assert len(res.history.loss) == 4 and len(res.history.seconds) == 4
    # MoCo's first epoch still has random (easy) negatives in its queue: compare from epoch 2.
    assert res.history.loss[-1] < res.history.loss[1]
    assert not res.encoder.training
    seed_everything(0)
    again = pretrain(build_encoder("cnn28"), images, cfg, device="cpu", progress=False)
    assert again.history.loss == res.history.loss


def test_moco_momentum_and_queue_update():
    enc = build_encoder("cnn28")
    model = MoCoV2(enc, temperature=0.2, queue_size=16, momentum=0.5)
    before = next(model.key_encoder.parameters()).clone()
    with torch.no_grad():
        next(model.encoder.parameters()).add_(1.0)
    model.after_step()
    after = next(model.key_encoder.parameters())
    assert torch.allclose(after, before + 0.5)
    queue = model.queue.clone()
    model.train()
    model.loss(torch.rand(4, 1, 28, 28), torch.rand(4, 1, 28, 28))
    assert int(model.queue_ptr) == 8 and not torch.equal(queue[:8], model.queue[:8])
    assert torch.equal(queue[8:], model.queue[8:])


def test_epoch_callback_sees_every_epoch(mnist):
    seen = []
    pretrain(build_encoder("cnn28"), mnist.x[:128], PretrainConfig(epochs=2, batch_size=64),
             device="cpu", progress=False,
             on_epoch_end=lambda e, enc, head: seen.append((e, enc.training, head.training)))
    assert seen == [(1, False, False), (2, False, False)]
