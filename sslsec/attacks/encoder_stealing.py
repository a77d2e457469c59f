"""Stealing an encoder through its feature API (chapter 03).

Encoder-as-a-Service returns a feature vector for every image it is sent. The attacker sends its
own unlabelled images once (the *query budget*), keeps the answers, and trains a surrogate
encoder of its own to reproduce them:

* ``"stolenencoder"`` (Liu et al., CCS 2022): maximise the cosine similarity between the
  surrogate's features of an image and the victim's features of it, plus the same term for an
  augmented view of the image (weight ``lam``). The augmented views cost no queries: they are
  matched to the victim's features of the *original* image.
* ``"contsteal"`` (Sha et al., CVPR 2023): a contrastive loss between the surrogate's features of
  an augmented view and the victim's features — its own image's answer is the positive, the
  other images' answers in the batch are the negatives. Here too the victim is queried once per
  image (on the original), so both attacks spend exactly the same budget.

:func:`query_victim` is the API (with an optional output defence, e.g. a
:class:`~sslsec.defenses.embedding_perturbation.PerturbedEncoder`), :func:`steal_encoder` the
attack, :func:`stealing_setup` the chapter's world.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from sslsec.augment import AugmentConfig, SimCLRAugment, check_images
from sslsec.checks import positive_ints
from sslsec.data import ImageSet, Splits, downstream_task, pools
from sslsec.downstream import extract_features
from sslsec.models import Encoder, build_encoder
from sslsec.pretrain import show_progress
from sslsec.profiles import Profile, chapter_settings, resolve_device
from sslsec.seed import seed_everything
from sslsec.zoo import (
    DerivedEntry,
    ZooEntry,
    arch_of,
    derive_or_load,
    independent_encoders,
    profile_encoder,
    sha256_tensor,
)

METHODS = ("stolenencoder", "contsteal")


def query_victim(victim: nn.Module, x: torch.Tensor, batch_size: int = 512,
                 device: str | torch.device = "auto") -> torch.Tensor:
    """The API's answers: ``victim.encode`` of every image of ``x`` (CPU, float). Pass a
    defended victim (e.g. a ``PerturbedEncoder``) to get perturbed answers."""
    check_images(x, name="x")
    return extract_features(victim, x, batch_size, device).detach().float()


def stolenencoder_loss(surrogate_x: torch.Tensor, surrogate_view: torch.Tensor,
                       victim_x: torch.Tensor, lam: float = 1.0) -> torch.Tensor:
    """StolenEncoder's loss: ``-cos(h(x), f(x)) - lam * cos(h(A(x)), f(x))``, batch mean."""
    return -(F.cosine_similarity(surrogate_x, victim_x, dim=1).mean()
             + lam * F.cosine_similarity(surrogate_view, victim_x, dim=1).mean())


def contsteal_loss(surrogate_view: torch.Tensor, victim_x: torch.Tensor,
                   temperature: float = 0.2) -> torch.Tensor:
    """Cont-Steal's contrastive loss: cross-entropy of the cosine similarities (over
    ``temperature``) between each surrogate view and all the victim answers of the batch, whose
    own answer is the right one."""
    logits = F.normalize(surrogate_view, dim=1) @ F.normalize(victim_x, dim=1).T / temperature
    return F.cross_entropy(logits, torch.arange(len(logits), device=logits.device))


@dataclass
class StealingResult:
    """A surrogate encoder and what stealing it cost."""

    surrogate: Encoder
    method: str
    queries: int
    epochs: int
    #: images sent through the surrogate for training (forward + backward), the compute measure
    image_passes: int
    seconds: float
    loss: list[float] = field(default_factory=list)
    #: the zoo entry of the surrogate (set by :func:`stolen_copy`)
    entry: DerivedEntry | None = None


def steal_encoder(x: torch.Tensor, answers: torch.Tensor, method: str = "stolenencoder",
                  arch: str = "cnn28", epochs: int = 60, batch_size: int = 64,
                  lr: float = 2e-3, augment: AugmentConfig | None = None, lam: float = 1.0,
                  temperature: float = 0.2, device: str | torch.device = "auto",
                  seed: int = 0, progress: bool = True) -> StealingResult:
    """Train a fresh ``arch`` surrogate on the attacker's images ``x`` and the victim's
    ``answers`` (``query_victim(victim, x)``) with ``method`` (see :data:`METHODS`).
    ``augment`` is the attacker's view distribution (default SimCLR's)."""
    check_images(x, name="x")
    if method not in METHODS:
        raise ValueError(f"method={method!r} is unknown; allowed: {', '.join(METHODS)}")
    if not isinstance(answers, torch.Tensor) or answers.ndim != 2 or len(answers) != len(x):
        got = tuple(answers.shape) if isinstance(answers, torch.Tensor) else repr(answers)
        raise ValueError(f"answers must be (N, D) features of the N={len(x)} images; got {got}")
    positive_ints(epochs=epochs, batch_size=batch_size)
    if len(x) < 2:
        raise ValueError("stealing needs at least 2 queried images")
    dev = resolve_device(device)
    gen = seed_everything(seed)
    surrogate = build_encoder(arch, x.shape[1], x.shape[-1])
    if surrogate.feature_dim != answers.shape[1]:
        raise ValueError(f"the {arch} surrogate has {surrogate.feature_dim} features but the "
                         f"answers have {answers.shape[1]}")
    surrogate = surrogate.to(dev).train()
    view = SimCLRAugment(x.shape[-1], x.shape[1], augment)
    optimizer = torch.optim.Adam(surrogate.parameters(), lr=lr)
    bs = min(batch_size, len(x))
    history, passes, start = [], 0, time.perf_counter()
    for _ in tqdm(range(epochs), desc=f"stealing ({method})", disable=not show_progress(progress)):
        order, total, steps = torch.randperm(len(x), generator=gen), 0.0, 0
        for i in range(0, len(x) - bs + 1, bs):  # full batches only (BatchNorm)
            idx = order[i:i + bs]
            batch, target = x[idx].to(dev), answers[idx].to(dev)
            views = view(batch)
            if method == "stolenencoder":
                both = surrogate.encode(torch.cat([batch, views]))
                loss = stolenencoder_loss(both[:bs], both[bs:], target, lam)
                passes += 2 * bs
            else:
                loss = contsteal_loss(surrogate.encode(views), target, temperature)
                passes += bs
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total, steps = total + loss.item(), steps + 1
        history.append(total / steps)
    surrogate.eval()
    return StealingResult(surrogate, method, len(x), epochs, passes,
                          time.perf_counter() - start, history)


def stolen_copy(victim: ZooEntry | DerivedEntry, x: torch.Tensor,
                method: str = "stolenencoder", epochs: int = 60, batch_size: int = 64,
                lr: float = 2e-3, augment: AugmentConfig | None = None, lam: float = 1.0,
                temperature: float = 0.2, device: str | torch.device = "auto", seed: int = 0,
                progress: bool = True) -> StealingResult:
    """:func:`steal_encoder` against the undefended API of a zoo ``victim`` (queries ``x``),
    kept in the encoder zoo: a later chapter (or run) loads the same copy instead of stealing
    it again. The result's ``seconds`` and ``loss`` are those of the original run."""
    check_images(x, name="x")
    params = {"method": method, "queries_sha256": sha256_tensor(x), "queries": len(x),
              "epochs": epochs, "batch_size": batch_size, "lr": lr,
              "augment": None if augment is None else asdict(augment), "lam": lam,
              "temperature": temperature, "seed": seed}

    def make() -> tuple[Encoder, dict]:
        answers = query_victim(victim.encoder, x, device=device)
        result = steal_encoder(x, answers, method, arch_of(victim)[0], epochs, batch_size, lr,
                               augment, lam, temperature, device, seed, progress)
        return result.surrogate, {"image_passes": result.image_passes,
                                  "seconds": result.seconds, "loss": result.loss}

    entry = derive_or_load("stolen", victim, params, make, device)
    return StealingResult(entry.encoder, method, len(x), epochs, entry.info["image_passes"],
                          entry.info["seconds"], list(entry.info["loss"]), entry)


def others_encoders(profile: Profile, world: StealingSetup,
                                 progress: bool = True) -> dict[str, ZooEntry]:
    """The encoders pre-trained independently by other parties on their own images (chapters
    05 and 08): ``("same", s)`` on the held-out pool of the victim's distribution, ``("other",
    s)`` on digits, with the seeds of ``chapter_settings("05_watermarks_and_fingerprints",
    …)["independent"]``."""
    roles = {"same": profile.pretrain_dataset, "other": "digits"}
    plan = chapter_settings("05_watermarks_and_fingerprints", profile.name)["independent"]
    for role, _ in plan:
        if role not in roles:
            raise ValueError(f"independent encoder role {role!r} is unknown; allowed: same, "
                             "other")
    return independent_encoders(profile, world.query_pools,
                                [(roles[role], seed) for role, seed in plan], progress)


def pretraining_passes(entry: ZooEntry, n_images: int) -> int:
    """Images the victim's pre-training sent through its encoder: epochs × images × 2 views."""
    return entry.spec.pretrain.epochs * n_images * 2


@dataclass
class StealingSetup:
    """Chapter 03's world: the victim (the profile's encoder behind the API), the attacker's
    query pools (disjoint from the victim's pre-training data: held-out MNIST images, and UCI
    digits — another distribution), and the downstream tasks that judge both encoders."""

    settings: dict
    victim: ZooEntry
    n_pretrain: int
    query_pools: dict[str, ImageSet]
    tasks: dict[str, Splits]


def stealing_setup(profile: Profile, seed: int = 0, progress: bool = True) -> StealingSetup:
    """The profile's encoder is the victim. MNIST queries are the second half of the MNIST test
    pool (the first ``n_eval`` are the MNIST downstream test set); digit queries are the digits
    train pool. Sizes from ``chapter_settings("03_encoder_stealing", …)``."""
    s = chapter_settings("03_encoder_stealing", profile.name)
    victim = profile_encoder(profile, seed, progress)
    mnist = pools(profile.pretrain_dataset, seed)
    n_eval = s["n_eval"]
    if n_eval + max(s["budgets"]) > len(mnist["test"]):
        raise ValueError(f"n_eval={n_eval} plus the largest budget exceeds the "
                         f"{len(mnist['test'])} held-out images")
    query_pools = {profile.pretrain_dataset: mnist["test"][n_eval:],
                   "digits": pools("digits", seed)["train"]}
    tasks = {name: downstream_task(profile, name, seed=seed)
             for name in profile.downstream_datasets}
    first = profile.pretrain_dataset
    tasks[first] = Splits(train=tasks[first]["train"], test=tasks[first]["test"][:n_eval])
    return StealingSetup(s, victim, profile.n_pretrain, query_pools, tasks)
