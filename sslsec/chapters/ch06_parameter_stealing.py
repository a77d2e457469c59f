"""Chapter 06, parameter stealing: copying an encoder through its API, and proving ownership.

The book's problem of model stealing, from both sides. The thief queries an
Encoder-as-a-Service API and trains a surrogate on the answers (StolenEncoder, Cont-Steal); the
provider perturbs its outputs, or marks its encoder (a watermark) and fingerprints it (the
membership audit of chapter 01, and dataset inference) to recognise copies later. The chapter
decides the thief's query pools and budgets,
the surrogate's training and the API's output defences, the watermark's key and embedding, the
thief's copies of the marked release (stolen, pruned, fine-tuned) and the encoders pre-trained
independently of it. It builds those worlds (:func:`stealing_setup`, :func:`others_encoders`,
:func:`ownership_setup`) and claims that stealing is cheap, that output perturbation hurts paying
users more than the thief, and that the watermark flags every derived copy and no independent
encoder. Its third part does the same to a real foundation model, all-MiniLM-L6-v2 behind an
embedding API (:func:`text_api_world`, :func:`text_students`): a student stolen from its answers
beats the same student pre-trained on the thief's texts, and EmbMarker's mark in the answers
finds the copy.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from sslsec.attacks.text_stealing import steal_text_encoder
from sslsec.chapters._common import chapter_functions, merged
from sslsec.claims import Claim
from sslsec.data import ImageSet, Splits, downstream_task, pools, pretrain_set
from sslsec.defenses.embmarker import KEY_STREAM, EmbMarkerKey, make_embmarker_key
from sslsec.defenses.watermark import WatermarkKey, make_watermark_key, watermarked_encoder
from sslsec.downstream import linear_probe
from sslsec.foundation import TextSet
from sslsec.models import build_encoder
from sslsec.profiles import Profile
from sslsec.seed import seed_everything
from sslsec.text_encoders import TokenBagEncoder, pretrain_text_contrastive
from sslsec.zoo import DerivedEntry, ZooEntry, independent_encoders, profile_encoder

NAME = "06_parameter_stealing"

_STEALING: dict[str, dict] = {
    # MNIST test-pool images kept for evaluation (the rest are the attacker's queries); query
    # budgets; the surrogate's training; the output defences of the API; the epochs of the
    # attacker's own SimCLR pre-training on its query images (the baseline that needs no API)
    "smoke": {"n_eval": 64, "budgets": [64, 128], "budget": 128, "epochs": 2,
              "batch_size": 32, "defences": [{"noise": 1.0}], "baseline_epochs": 2},
    "laptop": {"n_eval": 400, "budgets": [50, 200, 600], "budget": 600, "epochs": 20,
               "batch_size": 64,
               "defences": [{"noise": 0.25}, {"noise": 0.5}, {"noise": 1.0}, {"step": 0.5},
                            {"step": 1.0}, {"step": 2.0}, {"topk": 16}],
               "baseline_epochs": 150},
    "paper": {"n_eval": 5000, "budgets": [500, 1000, 2500, 5000], "budget": 5000,
              "epochs": 100, "batch_size": 256,
              "defences": [{"noise": 0.5}, {"noise": 1.0}, {"step": 1.0}, {"topk": 64}],
              "baseline_epochs": 200},
    "papersmoke": {"n_eval": 64, "budgets": [64, 128], "budget": 128, "epochs": 1,
                   "batch_size": 32, "defences": [{"noise": 1.0}], "baseline_epochs": 1},
}

_OWNERSHIP: dict[str, dict] = {
    # the watermark key and its embedding; the thief's copies of the marked release
    # ((method, query pool, budget) with the stealing part's training; pruned shares;
    # fine-tuning epochs); independent encoders ((pool role, seed)); the membership audit
    # (views, private images) and dataset inference (the mixture's components)
    "smoke": {"bits": 16, "n_verification": 64,
              "embed": {"epochs": 1, "lam": 1.0, "margin": 0.3, "lr": 5e-4,
                        "batch_size": 64},
              "stolen": [["stolenencoder", "same", 128], ["contsteal", "other", 128]],
              "prune": [0.5], "finetune_epochs": [1], "finetune_lr": 2e-4,
              "finetune_batch_size": 64, "independent": [["same", 1], ["other", 0]],
              "n_views": 4, "n_private": 64, "gmm_components": 2},
    "laptop": {"bits": 64, "n_verification": 1000,
               "embed": {"epochs": 10, "lam": 1.0, "margin": 0.3, "lr": 5e-4,
                         "batch_size": 256},
               "stolen": [["stolenencoder", "same", 50], ["stolenencoder", "same", 200],
                          ["stolenencoder", "same", 600], ["stolenencoder", "other", 600],
                          ["contsteal", "same", 200], ["contsteal", "same", 600]],
               "prune": [0.3, 0.6], "finetune_epochs": [5, 20], "finetune_lr": 2e-4,
               "finetune_batch_size": 128,
               "independent": [["same", 0], ["same", 1], ["same", 2], ["other", 0],
                               ["other", 1]],
               "n_views": 10, "n_private": 400, "gmm_components": 10},
    "paper": {"bits": 64, "n_verification": 2000,
              "embed": {"epochs": 20, "lam": 1.0, "margin": 0.3, "lr": 1e-4,
                        "batch_size": 256},
              "stolen": [["stolenencoder", "same", 1000], ["stolenencoder", "same", 5000],
                         ["stolenencoder", "other", 5000], ["contsteal", "same", 5000]],
              "prune": [0.3, 0.6], "finetune_epochs": [5, 20], "finetune_lr": 1e-4,
              "finetune_batch_size": 256,
              "independent": [["same", 0], ["same", 1], ["same", 2], ["other", 0],
                              ["other", 1]],
              "n_views": 10, "n_private": 2000, "gmm_components": 20},
    "papersmoke": {"bits": 16, "n_verification": 64,
                   "embed": {"epochs": 1, "lam": 1.0, "margin": 0.3, "lr": 1e-4,
                             "batch_size": 64},
                   "stolen": [["stolenencoder", "same", 128], ["contsteal", "other", 128]],
                   "prune": [0.5], "finetune_epochs": [1], "finetune_lr": 1e-4,
                   "finetune_batch_size": 64, "independent": [["same", 1], ["other", 0]],
                   "n_views": 4, "n_private": 64, "gmm_components": 2},
}

_FOUNDATION: dict[str, dict] = {
    # a real foundation model (all-MiniLM-L6-v2) behind an embedding API: the thief's query
    # texts (WordNet definitions), the labelled probe texts neither student saw (train, test),
    # the students (word-piece vector size, epochs, word pieces dropped per view); EmbMarker's
    # trigger words, the share of the provider's texts each occurs in, m, verification texts
    "smoke": {"text_queries": 200, "text_probe": [150, 100], "text_dim": 32, "text_epochs": 2,
              "text_drop": 0.2, "mark_triggers": 5, "mark_band": [0.005, 0.01],
              "mark_m": 4, "mark_texts": 20},
    "laptop": {"text_queries": 5000, "text_probe": [3000, 1500], "text_dim": 128,
               "text_epochs": 15, "text_drop": 0.2, "mark_triggers": 20,
               "mark_band": [0.005, 0.01], "mark_m": 4, "mark_texts": 200},
    "paper": {"text_queries": 20000, "text_probe": [8000, 4000], "text_dim": 256,
              "text_epochs": 20, "text_drop": 0.2, "mark_triggers": 20,
              "mark_band": [0.005, 0.01], "mark_m": 4, "mark_texts": 1000},
    "papersmoke": {"text_queries": 200, "text_probe": [150, 100], "text_dim": 32,
                   "text_epochs": 2, "text_drop": 0.2, "mark_triggers": 5,
                   "mark_band": [0.005, 0.01], "mark_m": 4, "mark_texts": 20},
}

#: stealing the encoder, proving ownership of it, and the same on a real foundation model: one
#: flat table per profile
SETTINGS: dict[str, dict] = merged(_STEALING, _OWNERSHIP, _FOUNDATION)

CLAIMS: list[Claim] = [
    # stealing the encoder
    Claim("budget_fraction", "<=", 0.2, None,
          "the attacker queries at most a fifth as many images as the victim was "
          "pre-trained on", stable=True),
    Claim("surrogate_gap_max_task", "<=", 0.03, None,
          "the StolenEncoder surrogate is within 3 points of the victim on every task"),
    Claim("compute_fraction", "<=", 0.333, None,
          "for at most a third of the victim's pre-training compute (image passes)",
          stable=True),
    Claim("contsteal_gap_max_task", "<=", None, None,
          "Cont-Steal's gap with the same budget (reported)"),
    Claim("other_distribution_gap_max_task", "<=", None, None,
          "StolenEncoder's gap with queries from another distribution (UCI digits; STL-10 "
          "in the paper's setting; reported)"),
    Claim("surrogate_over_baselines_max_task", ">=", None, None,
          "how far the surrogate beats both baselines that need no API — a randomly "
          "initialised encoder and the attacker's own SimCLR encoder on its query images — "
          "at the same budget, on its best budget and task (surrogate minus the better "
          "baseline; reported: at laptop scale the attacker's own SimCLR on its MNIST query "
          "images is about as good at every budget)"),
    Claim("strongest_defence_users_minus_attacker", ">=", 0.05, None,
          "the strongest output perturbation costs the paying users far more than the "
          "attacker (points / 100, mean over tasks)"),
    Claim("affordable_defence_attacker_cost", ">=", None, None,
          "the largest cost to the attacker among settings costing users ≤ 2 points "
          "(0 when none is that cheap; reported: the target of 10 points is not reached)"),
    # watermarks and fingerprints
    Claim("watermark_derived_flagged", ">=", 0.9, 0.9,
          "the watermark flags (p < 0.01) nearly every copy derived from the marked "
          "release: stolen, pruned or fine-tuned"),
    Claim("watermark_independent_flagged", "<=", 0, 0,
          "and no encoder pre-trained independently of it"),
    Claim("watermark_utility_cost_max_task", "<=", 0.01, 0.01,
          "embedding the watermark costs at most 1 point of linear-probe accuracy on any "
          "task"),
    Claim("watermark_unmarked_p", ">=", None, None,
          "the p-value of the owner's own encoder before marking (reported: the test "
          "does not flag it)"),
    Claim("fingerprint_standard_owner_p", ">=", None, None,
          "the membership audit on the standard encoder itself (reported: it generalises, "
          "so its private data leave no trace to test)"),
    Claim("fingerprint_standard_derived_flagged", ">=", None, None,
          "share of the standard encoder's copies that the membership audit flags "
          "(reported)"),
    Claim("fingerprint_leaky_owner_p", "<=", 0.01, None,
          "the membership audit recognises the private data of an encoder that memorised "
          "them (chapter 02's)"),
    Claim("fingerprint_leaky_whitebox_flagged", ">=", None, None,
          "share of its pruned and fine-tuned copies flagged (reported)"),
    Claim("fingerprint_leaky_stolen_flagged", ">=", None, None,
          "share of its stolen copies flagged (reported: stealing does not copy "
          "memorisation here)"),
    Claim("fingerprint_independent_flagged", "<=", None, None,
          "independent encoders flagged by the membership audit, both owners (reported)"),
    Claim("dataset_inference_standard_owner_p", ">=", None, None,
          "dataset inference (Dziedzic et al.'s density test) on the standard encoder "
          "itself (reported)"),
    Claim("dataset_inference_leaky_owner_p", "<=", None, None,
          "dataset inference on the encoder that memorised its private data (reported)"),
    Claim("dataset_inference_leaky_derived_flagged", ">=", None, None,
          "share of that encoder's stolen, pruned and fine-tuned copies that dataset "
          "inference flags (reported)"),
    Claim("dataset_inference_independent_flagged", "<=", None, None,
          "independent encoders flagged by dataset inference, both owners (reported)"),
    # a real foundation model: all-MiniLM-L6-v2 behind an embedding API
    Claim("text_stolen_over_ssl", ">=", 0.05, None,
          "a student trained on MiniLM's answers for the thief's texts beats the same student "
          "pre-trained self-supervised on the same texts by at least 5 points of linear-probe "
          "accuracy (WordNet categories, texts neither saw): the thief steals the victim's "
          "pre-training"),
    Claim("text_stolen_share_of_victim", ">=", None, None,
          "the stolen student's probe accuracy as a share of MiniLM's (reported)"),
    Claim("embmarker_copy_p", "<=", 0.01, 0.01,
          "EmbMarker flags the student stolen from the marked API (word-level test, p < 0.01)"),
    Claim("embmarker_independent_flagged", "<=", 0, 0,
          "and none of the encoders that never learnt from marked answers (the student stolen "
          "before marking, the self-supervised and the random student)"),
    Claim("embmarker_utility_cost", "<=", 0.01, 0.01,
          "the mark costs users at most 1 point of linear-probe accuracy"),
    Claim("embmarker_victim_ks_p", ">=", None, None,
          "the paper's KS test over texts, on MiniLM itself, which never saw the mark "
          "(reported: it is not a valid test)"),
]


#: ``settings(profile)`` (a copy) and ``check(metrics, profile)``
settings, check = chapter_functions(NAME, SETTINGS, CLAIMS)


@dataclass
class StealingSetup:
    """The stealing world: the victim (the profile's encoder behind the API), the attacker's
    query pools (disjoint from the victim's pre-training data: held-out images of its
    distribution, and the profile's ``other_dataset`` — another distribution, UCI digits beside
    MNIST), the downstream tasks that judge both encoders, and the ``n_eval`` held-out images
    of the pre-training distribution that no encoder trains on and no one queries."""

    settings: dict
    victim: ZooEntry
    n_pretrain: int
    query_pools: dict[str, ImageSet]
    tasks: dict[str, Splits]
    held_out: ImageSet


def stealing_setup(profile: Profile, seed: int = 0, progress: bool = True) -> StealingSetup:
    """The profile's encoder is the victim. Queries of its distribution are the test pool of
    the pre-training dataset after its first ``n_eval`` images (held out; when the pre-training
    dataset is also a downstream one, as MNIST is, they are its downstream test set); queries of
    another distribution are the train pool of the profile's ``other_dataset``. Sizes from
    :data:`SETTINGS`."""
    s = settings(profile.name)
    victim = profile_encoder(profile, seed, progress)
    same = pools(profile.pretrain_dataset, seed)
    n_eval = s["n_eval"]
    if n_eval + max(s["budgets"]) > len(same["test"]):
        raise ValueError(f"n_eval={n_eval} plus the largest budget exceeds the "
                         f"{len(same['test'])} held-out images")
    other = profile.other_dataset
    if other == profile.pretrain_dataset:
        raise ValueError(f"other_dataset={other!r} must differ from the pre-training dataset")
    query_pools = {profile.pretrain_dataset: same["test"][n_eval:],
                   other: pools(other, seed)["train"]}
    tasks = {name: downstream_task(profile, name, seed=seed)
             for name in profile.downstream_datasets}
    first = profile.pretrain_dataset
    if first in tasks:
        tasks[first] = Splits(train=tasks[first]["train"], test=tasks[first]["test"][:n_eval])
    return StealingSetup(s, victim, profile.n_pretrain, query_pools, tasks,
                         same["test"][:n_eval])


def others_encoders(profile: Profile, world: StealingSetup,
                    progress: bool = True) -> dict[str, ZooEntry]:
    """The encoders pre-trained independently by other parties on their own images (this
    chapter's and chapter 07's): ``("same", s)`` on the held-out pool of the victim's
    distribution, ``("other", s)`` on the profile's ``other_dataset`` (digits beside MNIST),
    with the seeds of the ``"independent"`` plan of :data:`SETTINGS`."""
    roles = {"same": profile.pretrain_dataset, "other": profile.other_dataset}
    plan = settings(profile.name)["independent"]
    for role, _ in plan:
        if role not in roles:
            raise ValueError(f"independent encoder role {role!r} is unknown; allowed: same, "
                             "other")
    return independent_encoders(profile, world.query_pools,
                                [(roles[role], seed) for role, seed in plan], progress)


def baseline_encoders(profile: Profile, world: StealingSetup, pool: str, budget: int,
                      seed: int = 0, progress: bool = True) -> dict[str, torch.nn.Module]:
    """What the attacker gets without the victim, from the same ``budget`` images of the query
    pool ``pool``: a randomly initialised encoder of the victim's architecture, and its own
    SimCLR encoder pre-trained on those images with the profile's recipe for
    ``baseline_epochs`` (batches no larger than the images; a zoo entry)."""
    if pool not in world.query_pools:
        raise ValueError(f"pool={pool!r} is unknown; allowed: {', '.join(world.query_pools)}")
    images = world.query_pools[pool][:budget]
    seed_everything(seed)
    spec = world.victim.spec
    random_init = build_encoder(spec.arch, spec.in_channels, spec.image_size).eval()
    own = profile_encoder(profile, seed, progress, data=images,
                          epochs=settings(profile.name)["baseline_epochs"],
                          batch_size=min(profile.batch_size, len(images)))
    return {"random initialisation": random_init, "own SimCLR on the queries": own.encoder}


@dataclass
class OwnershipSetup:
    """The ownership world: the stealing world (victim, thief's query pools, downstream tasks),
    the owner's private images and watermark key, the watermarked release, and encoders
    pre-trained independently of the owner (other seeds, other data)."""

    settings: dict
    world: StealingSetup
    private: torch.Tensor
    key: WatermarkKey
    marked: DerivedEntry
    independent: dict[str, ZooEntry]


def ownership_setup(profile: Profile, seed: int = 0, progress: bool = True) -> OwnershipSetup:
    """Build (or load from the zoo) everything the ownership part tests. Independent encoders
    use the profile's recipe on the thief's own images: ``("same", s)`` on the held-out pool of
    the victim's distribution, ``("other", s)`` on the other distribution (the profile's
    ``other_dataset``), seed ``s``.
    Sizes from :data:`SETTINGS`."""
    s = settings(profile.name)
    world = stealing_setup(profile, seed, progress)
    private = pretrain_set(profile, seed).x
    key = make_watermark_key(world.victim.encoder.feature_dim, private, s["bits"],
                             s["n_verification"], seed)
    marked = watermarked_encoder(world.victim, private, key, profile.device, progress,
                                 augment=profile.augment, seed=seed, **s["embed"])
    independent = others_encoders(profile, world, progress)
    return OwnershipSetup(s, world, private, key, marked, independent)


@dataclass
class TextAPIWorld:
    """The foundation-model section: all-MiniLM-L6-v2 behind an embedding API, the thief's
    query texts, labelled probe texts that no student sees in training, and the provider's
    EmbMarker key (trigger words from its own texts, the target: its embedding of one of them)."""

    settings: dict
    victim: nn.Module
    queries: TextSet
    probe_train: TextSet
    probe_test: TextSet
    key: EmbMarkerKey


def text_api_world(profile: Profile, seed: int = 0) -> TextAPIWorld:
    """MiniLM (frozen, never written to) and the WordNet definitions: the thief's queries from
    the training split, the probe's texts from the test split, the provider's corpus (for its
    trigger words and target) the whole training split. Sizes from :data:`SETTINGS`."""
    from sslsec.foundation import MiniLM, wordnet_definitions

    s = settings(profile.name)
    victim = MiniLM(device=profile.device)
    n_train, n_test = s["text_probe"]
    held_out = wordnet_definitions("test", seed=seed, n=n_train + n_test)
    corpus = wordnet_definitions("train", seed=seed)
    gen = torch.Generator().manual_seed(seed + KEY_STREAM)
    target_text = corpus.texts[int(torch.randint(len(corpus), (1,), generator=gen))]
    key = make_embmarker_key(corpus.texts, victim.encode([target_text])[0], s["mark_triggers"],
                             tuple(s["mark_band"]), s["mark_m"], seed=seed + KEY_STREAM)
    return TextAPIWorld(s, victim, corpus[: s["text_queries"]], held_out[:n_train],
                        held_out[n_train:], key)


def text_students(world: TextAPIWorld, answers: dict[str, torch.Tensor], seed: int = 0,
                  baselines: bool = True, progress: bool = False) -> dict[str, TokenBagEncoder]:
    """One :class:`~sslsec.text_encoders.TokenBagEncoder` stolen from each API's ``answers``
    for the thief's queries (``{name: (N, D)}``) and, with ``baselines``, the same student
    pre-trained self-supervised on the same texts and left untrained. Every student starts
    from the same initial weights."""
    s, texts = world.settings, world.queries.texts

    def fresh() -> TokenBagEncoder:
        return TokenBagEncoder(texts, s["text_dim"], world.victim.feature_dim, seed=seed)

    kwargs = {"epochs": s["text_epochs"], "drop": s["text_drop"], "seed": seed,
              "progress": progress}
    students = {name: steal_text_encoder(fresh(), texts, a, **kwargs).encoder
                for name, a in answers.items()}
    if baselines:
        students["self-supervised on the same texts"] = pretrain_text_contrastive(
            fresh(), texts, **kwargs).encoder
        students["untrained"] = fresh()
    return students


def text_probe(world: TextAPIWorld, train_features: torch.Tensor,
               test_features: torch.Tensor, seed: int = 0) -> float:
    """Linear-probe test accuracy on the WordNet categories of the probe texts, from features
    of ``world.probe_train`` and ``world.probe_test``."""
    return linear_probe(train_features, world.probe_train.y, test_features, world.probe_test.y,
                        num_classes=world.probe_train.num_classes, seed=seed).test_accuracy
