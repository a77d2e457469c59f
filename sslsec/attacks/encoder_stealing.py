"""Stealing an encoder through its feature API (chapter 06).

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
:class:`~sslsec.defenses.embedding_perturbation.PerturbedEncoder`); :class:`AveragedQueries` is
the thief who knows that the API adds fresh noise to each answer and sends every image several
times, keeping the mean answer; :func:`steal_encoder` is the attack, :func:`stolen_copy` the
attack kept in the encoder zoo (the chapter's world is built by
``sslsec.chapters.ch06_parameter_stealing``).
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
from sslsec.downstream import extract_features
from sslsec.models import Encoder, build_encoder
from sslsec.pretrain import show_progress
from sslsec.profiles import resolve_device
from sslsec.seed import seed_everything
from sslsec.zoo import (
    DerivedEntry,
    ZooEntry,
    arch_of,
    derive_or_load,
    sha256_tensor,
)

METHODS = ("stolenencoder", "contsteal")


def query_victim(victim: nn.Module, x: torch.Tensor, batch_size: int = 512,
                 device: str | torch.device = "auto") -> torch.Tensor:
    """The API's answers: ``victim.encode`` of every image of ``x`` (CPU, float). Pass a
    defended victim (e.g. a ``PerturbedEncoder``) to get perturbed answers."""
    check_images(x, name="x")
    return extract_features(victim, x, batch_size, device).detach().float()


class AveragedQueries(nn.Module):
    """An attacker who knows the API adds fresh noise to every answer: it sends each image
    ``repeats`` times and keeps the mean answer (the noise's spread shrinks by √repeats; the
    query budget grows ``repeats``-fold). Wraps the defended ``api`` (e.g. a
    :class:`~sslsec.defenses.embedding_perturbation.PerturbedEncoder`): pass it as
    :func:`stolen_copy`'s ``api``."""

    def __init__(self, api: nn.Module, repeats: int) -> None:
        super().__init__()
        positive_ints(repeats=repeats)
        if not hasattr(api, "encode") or not hasattr(api, "describe"):
            raise ValueError("api must be a defended API with encode() and describe() (e.g. a "
                             "PerturbedEncoder)")
        self.api, self.repeats = api, repeats
        self.encoder = getattr(api, "encoder", None)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([self.api.encode(x).float() for _ in range(self.repeats)]).mean(0)

    forward = encode

    def describe(self) -> dict:
        """The API's description, and how many answers per image the attacker averages."""
        return {**self.api.describe(), "averaged_over": self.repeats}


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
                progress: bool = True, api: nn.Module | None = None) -> StealingResult:
    """:func:`steal_encoder` against the API of a zoo ``victim`` (queries ``x``), kept in the
    encoder zoo: a later chapter (or run) loads the same copy instead of stealing it again.
    The API is the undefended victim, unless ``api`` is a defended one wrapping it (e.g. a
    ``PerturbedEncoder``), whose ``describe()`` then keys the copy. The result's ``seconds``
    and ``loss`` are those of the original run."""
    check_images(x, name="x")
    params = {"method": method, "queries_sha256": sha256_tensor(x), "queries": len(x),
              "epochs": epochs, "batch_size": batch_size, "lr": lr,
              "augment": None if augment is None else asdict(augment), "lam": lam,
              "temperature": temperature, "seed": seed}
    if api is not None:
        if getattr(api, "encoder", None) is not victim.encoder or not hasattr(api, "describe"):
            raise ValueError("api must wrap victim.encoder and describe() what decides its "
                             "answers (e.g. a PerturbedEncoder)")
        params["api"] = api.describe()

    def make() -> tuple[Encoder, dict]:
        answers = query_victim(victim.encoder if api is None else api, x, device=device)
        result = steal_encoder(x, answers, method, arch_of(victim)[0], epochs, batch_size, lr,
                               augment, lam, temperature, device, seed, progress)
        return result.surrogate, {"image_passes": result.image_passes,
                                  "seconds": result.seconds, "loss": result.loss}

    entry = derive_or_load("stolen", victim, params, make, device)
    return StealingResult(entry.encoder, method, len(x), epochs, entry.info["image_passes"],
                          entry.info["seconds"], list(entry.info["loss"]), entry)


def pretraining_passes(entry: ZooEntry, n_images: int) -> int:
    """Images the victim's pre-training sent through its encoder: epochs × images × 2 views."""
    return entry.spec.pretrain.epochs * n_images * 2
