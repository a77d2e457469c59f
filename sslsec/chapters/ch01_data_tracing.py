"""Chapter 01, data tracing and auditing: was my data used to pre-train this encoder?

The book's first confidentiality problem. A data owner released images (under a licence that
forbids training on them); later it meets an encoder behind an API and wants evidence, as a
hypothesis test with a p-value, and never accuse an encoder that did not see them. The chapter
decides the owner's data (the member pool of chapter 02's long-trained encoder, a fraction of it
marked before release within an L∞ budget; the non-member pool as its kept-back reference; probe
images; a shadow encoder of its own), the suspects (chapter 02's long-trained encoder and the
standard encoder, which saw the originals; trainers who saw the marked release as 100 % to 10 %
of their data under the long-trained encoder's compute budget, and the small shares again with
wider encoders (:func:`wider_trainers`); chapter 06's independently
pre-trained encoders; stolen, pruned and fine-tuned copies made as chapter 06 makes them) and
the trainer's defences (deduplication, stronger augmentation, early stopping). It builds that
world (:func:`tracing_setup`), redraws the owner's random choices to check the tests' level on
innocent encoders (:func:`null_p_values`), and claims that the long-trained encoder is flagged,
that no innocent encoder is, that innocent encoders' p-values are uniform over the owner's
draws, and that marking is invisible to people and to the downstream user; which equal-budget
trainers are flagged is reported.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from sslsec.attacks.dov4cl import check_scales, gap_test, relation_views, relationship_gaps
from sslsec.attacks.encoder_stealing import stolen_copy
from sslsec.attacks.membership_audit import audit_scores, calibrate, welch_test
from sslsec.attacks.radioactive_marking import (
    MarkingKey,
    make_marking_key,
    mark_images,
    pattern_responses,
    rank_p_value,
)
from sslsec.attacks.watermark_removal import finetuned_copy, prune_encoder
from sslsec.chapters import ch06_parameter_stealing as stealing
from sslsec.chapters._common import chapter_functions
from sslsec.chapters.ch02_membership_inference import membership_setup
from sslsec.checks import positive_ints
from sslsec.claims import Claim
from sslsec.data import pools, pretrain_set
from sslsec.models import Encoder, widened
from sslsec.pretrain import PretrainConfig
from sslsec.profiles import AugmentConfig, Profile
from sslsec.zoo import EncoderSpec, ZooEntry, profile_encoder, train_or_load

NAME = "01_data_tracing"

SETTINGS: dict[str, dict] = {
    # the owner's images are chapter 02's long-trained member pool (its non-member pool is the
    # owner's kept-back reference); probe images for the marking test; the trainers' shares of the
    # owner's data and their compute budget (image passes per encoder); the mark (L∞ budget,
    # share of the released images marked, decoy patterns); the tests' queries; the copies of
    # the guilty encoder; the trainer's defences; the owners drawn afresh for the check that
    # innocent encoders' p-values are uniform (n_draws); the wider trainers: the channels of
    # their first stage (the profile's encoder has 16, ResNet-18 64) and their shares
    "smoke": {"n_probe": 16, "shares": [1.0, 0.25], "budget": 256, "epsilon": 8 / 255,
              "mark_fraction": 0.5, "n_decoys": 99, "smoothness": 7, "n_views": 4,
              "n_permutations": 999, "group_size": 8, "n_global": 2, "n_local": 2,
              "local_scale": [0.2, 0.5], "copy_budget": 64, "prune": [0.5],
              "finetune_epochs": [1], "defence_share": 1.0, "early_stop_epochs": 2,
              "noise_std": 0.1, "alpha": 0.01, "n_draws": 5, "widths": [24],
              "wide_shares": [0.25]},
    # budget: the long-trained encoder's compute (256 images × 600 epochs), so the 100 %
    # trainer passes over each image as often as it did and the 10 % trainer 60 times
    "laptop": {"n_probe": 50, "shares": [1.0, 0.5, 0.25, 0.1], "budget": 153_600,
               "epsilon": 8 / 255, "mark_fraction": 0.5, "n_decoys": 199, "smoothness": 7,
               "n_views": 6, "n_permutations": 9999, "group_size": 16, "n_global": 2,
               "n_local": 4, "local_scale": [0.2, 0.5], "copy_budget": 600,
               "prune": [0.5], "finetune_epochs": [5], "defence_share": 0.5,
               "early_stop_epochs": 50, "noise_std": 0.1, "alpha": 0.01, "n_draws": 20,
               "widths": [48, 96], "wide_shares": [0.25, 0.1]},
    # CIFAR-10: the owner's 5,000 images; trainers spend the profile's 200 epochs over 50,000
    # images; copies and defences as chapter 06 and 02 make them
    "paper": {"n_probe": 1000, "shares": [1.0, 0.5, 0.25, 0.1, 0.05],
              "budget": 10_000_000, "epsilon": 8 / 255, "mark_fraction": 0.5,
              "n_decoys": 999, "smoothness": 8, "n_views": 10, "n_permutations": 9999,
              "group_size": 32, "n_global": 2, "n_local": 6, "local_scale": [0.05, 0.4],
              "copy_budget": 5000, "prune": [0.3, 0.6], "finetune_epochs": [5, 20],
              "defence_share": 0.1, "early_stop_epochs": 100, "noise_std": 0.1, "alpha": 0.01,
              "n_draws": 100, "widths": [128], "wide_shares": [0.1, 0.05]},
    # the paper's setting at smoke sizes (CIFAR-10 stand-ins, ResNet-18)
    "papersmoke": {"n_probe": 16, "shares": [1.0, 0.25], "budget": 256, "epsilon": 8 / 255,
                   "mark_fraction": 0.5, "n_decoys": 99, "smoothness": 8, "n_views": 4,
                   "n_permutations": 999, "group_size": 8, "n_global": 2, "n_local": 2,
                   "local_scale": [0.05, 0.4], "copy_budget": 64, "prune": [0.5],
                   "finetune_epochs": [1], "defence_share": 1.0, "early_stop_epochs": 2,
                   "noise_std": 0.1, "alpha": 0.01, "n_draws": 5, "widths": [32],
                   "wide_shares": [0.25]},
}

CLAIMS: list[Claim] = [
    Claim("long_trained_flagged", ">=", 1.0, 1.0,
          "a trainer that pre-trained long on the owner's images alone (chapter 02's "
          "long-trained encoder) "
          "is flagged (p < 0.01) by at least one test"),
    Claim("innocent_flagged", "<=", 0, 0,
          "no test flags any encoder that never saw the owner's images (count of flags)"),
    Claim("innocent_p_uniformity_ks_p", ">=", 0.01, 0.01,
          "the innocent encoders' p-values, every test, over owners drawn afresh (split and "
          "key), are uniform: Kolmogorov–Smirnov p-value against the uniform"),
    Claim("marking_min_psnr_db", ">=", 30.0, 30.0,
          "marking keeps every marked image at ≥ 30 dB PSNR"),
    Claim("marking_probe_accuracy_cost", "<=", 0.01, 0.01,
          "an encoder pre-trained on the marked release is within 1 point of one pre-trained "
          "on the clean originals (linear probe, MNIST)"),
    Claim("guilty_flagged_share_ge_10pct", ">=", None, 1.0,
          "share of the equal-budget trainers with ≥ 10 % of the owner's images that at least "
          "one test flags (reported here: at laptop scale only the trainers with half of their "
          "data or more from the owner pass over its images often enough to leave a trace)"),
    Claim("copies_flagged", ">=", None, None,
          "share of the long-trained encoder's stolen, pruned and fine-tuned copies flagged "
          "(reported)"),
    Claim("wider_flagged_share_ge_10pct", ">=", None, None,
          "share of the wider equal-budget trainers (every width and share ≥ 10 %) that at "
          "least one test flags (reported: a larger encoder memorises more of each image)"),
    Claim("marking_trace_min_ratio", ">=", None, None,
          "how many times more strongly than the most responsive innocent encoder the "
          "equal-budget trainers (the least of them) respond to the key's faint patterns, "
          "secret and decoys alike: the marks are learnt as a kind, not as the owner's "
          "(reported)"),
    Claim("dedup_marked_removed", ">=", None, None,
          "share of the marked images that near-duplicate removal drops (reported)"),
    Claim("early_stop_membership_log10p", ">=", None, None,
          "−log10 p of the membership audit once the long-trained encoder is stopped early "
          "(reported; 2 = p of 0.01)"),
]


#: ``settings(profile)`` (a copy) and ``check(metrics, profile)``
settings, check = chapter_functions(NAME, SETTINGS, CLAIMS)


@dataclass
class TracingSetup:
    """Chapter 01's world: the owner's images (clean originals and the marked release), its
    marking key, the reference and probe images it kept back, its shadow encoder, the other
    images a trainer mixes with the owner's, the trainers that pre-trained on the owner's
    originals (chapter 02's long-trained encoder, the profile's standard encoder), the encoders
    pre-trained independently of the owner (chapter 06's) and the thief's images."""

    settings: dict
    original: torch.Tensor
    released: torch.Tensor
    marked: torch.Tensor  # boolean mask over the released images
    key: MarkingKey
    reference: torch.Tensor
    probe: torch.Tensor
    filler: torch.Tensor
    shadow: ZooEntry
    leaky: ZooEntry
    leaky_recipe: PretrainConfig
    standard: ZooEntry | None
    standard_share: float
    innocent: dict[str, ZooEntry]
    thief_images: torch.Tensor


def tracing_setup(profile: Profile, seed: int = 0, progress: bool = True) -> TracingSetup:
    """The owner's images are the member pool of chapter 02's long-trained encoder and its
    reference the non-member pool (a random split of one pool); that encoder pre-trained on the
    originals for long with weak augmentations. The owner marks a fraction of its images before
    release; its probe images are held-out images that no encoder of the chapter trains on; its
    shadow encoder is pre-trained on its own public images (the held-out images the thief of
    chapter 06 queries). The other images of the pre-training pool fill the trainers' sets.
    Sizes from :data:`SETTINGS`."""
    s = settings(profile.name)
    leaky = membership_setup(profile, seed, progress, long_trained=True)
    original, reference = leaky.parts["member"].x, leaky.parts["nonmember"].x
    train = pools(profile.pretrain_dataset, seed)["train"]
    used = {tuple(r.tolist()) for part in leaky.parts.values() for r in part.x.flatten(1)}
    filler = train.x[[tuple(r.tolist()) not in used for r in train.x.flatten(1)]]
    key = make_marking_key(original.shape[1], original.shape[-1], s["epsilon"], s["n_decoys"],
                           s["smoothness"], seed=1000 + seed)
    released, marked = mark_images(original, key, s["mark_fraction"], seed)
    world = stealing.stealing_setup(profile, seed, progress)
    n_eval = stealing.settings(profile.name)["n_eval"]
    if s["n_probe"] > n_eval:
        raise ValueError(f"n_probe={s['n_probe']} exceeds the {n_eval} held-out images that "
                         "no encoder of the chapter trains on")
    probe = pools(profile.pretrain_dataset, seed)["test"].x[: s["n_probe"]]
    thief = world.query_pools[profile.pretrain_dataset]
    shadow = profile_encoder(profile, 100 + seed, progress, data=thief)
    pretrained_on = {tuple(r.tolist()) for r in pretrain_set(profile, seed).x.flatten(1)}
    inside = all(tuple(r.tolist()) in pretrained_on for r in original.flatten(1))
    standard = world.victim if inside else None
    innocent = stealing.others_encoders(profile, world, progress)
    return TracingSetup(s, original, released, marked, key, reference, probe, filler, shadow,
                        leaky.victim, leaky.recipe, standard,
                        len(original) / profile.n_pretrain if inside else 0.0, innocent,
                        thief.x)


def pretraining_images(world: TracingSetup, share: float, clean: bool = False) -> torch.Tensor:
    """A trainer's pre-training set in which the owner's released images (or, with ``clean``,
    their unmarked originals) make up ``share`` of the images; the rest are other images of
    the same distribution."""
    if not isinstance(share, int | float) or not 0 < share <= 1:
        raise ValueError(f"share={share!r} must be in (0, 1]")
    owner = world.original if clean else world.released
    total = round(len(owner) / share)
    if total - len(owner) > len(world.filler):
        raise ValueError(f"share={share} needs {total - len(owner)} other images; only "
                         f"{len(world.filler)} are available")
    return torch.cat([owner, world.filler[:total - len(owner)]])


def trainer_encoder(profile: Profile, world: TracingSetup, share: float, seed: int = 0,
                    progress: bool = True, clean: bool = False,
                    augment: AugmentConfig | None = None,
                    images: torch.Tensor | None = None, arch: str | None = None) -> ZooEntry:
    """An encoder (the profile's architecture, or ``arch``) pre-trained on
    :func:`pretraining_images` (or on ``images``) with chapter 02's recipe — weak augmentations
    (or ``augment``) — for the chapter's compute ``budget`` (image passes): a trainer with more
    images passes over each fewer times."""
    x = pretraining_images(world, share, clean) if images is None else images
    epochs = max(1, world.settings["budget"] // len(x))
    cfg = dataclasses.replace(world.leaky_recipe, epochs=epochs,
                              batch_size=min(world.leaky_recipe.batch_size, len(x)), seed=seed,
                              augment=augment or world.leaky_recipe.augment)
    what = "clean" if clean else "released"
    spec = EncoderSpec(arch or profile.arch, x.shape[1], x.shape[-1], cfg,
                       f"chapter 01 trainer: {profile.pretrain_dataset} {len(x)} images, "
                       f"owner's {what} images {share:g}")
    return train_or_load(spec, x, profile.device, progress=progress)


def channels(encoder: nn.Module) -> int:
    """The channels of ``encoder``'s first convolution: its width."""
    conv = next((m for m in encoder.modules() if isinstance(m, nn.Conv2d)), None)
    if conv is None:
        raise ValueError(f"{type(encoder).__name__} has no convolution to take a width from")
    return conv.out_channels


def wider_trainers(profile: Profile, world: TracingSetup, seed: int = 0,
                   progress: bool = True) -> dict[tuple[int, float], ZooEntry]:
    """The equal-budget trainers again, with wider encoders: the profile's architecture with
    each of the ``widths`` channels in its first stage (the later stages scale with it), at
    each of the ``wide_shares``, with the same recipe and compute budget (image passes).
    (channels, share) -> encoder."""
    s = world.settings
    return {(width, share): trainer_encoder(profile, world, share, seed, progress,
                                            arch=widened(profile.arch, width))
            for width in s["widths"] for share in s["wide_shares"]}


def early_stopped(profile: Profile, world: TracingSetup, epochs: int, seed: int = 0,
                  progress: bool = True) -> ZooEntry:
    """Chapter 02's long-trained encoder stopped after ``epochs`` epochs (the early-stopping
    defence)."""
    recipe = dataclasses.replace(world.leaky_recipe, epochs=epochs, seed=seed)
    spec = EncoderSpec(profile.arch, world.original.shape[1], world.original.shape[-1], recipe,
                       "chapter 01 victim")
    return train_or_load(spec, world.original, profile.device, progress=progress)


def guilty_copies(profile: Profile, world: TracingSetup, parent: ZooEntry, seed: int = 0,
                  progress: bool = True) -> dict[str, tuple[str, Encoder]]:
    """A thief's copies of ``parent``, made as chapter 06 makes them (the same zoo entries):
    stolen through the API with StolenEncoder (``copy_budget`` of the thief's images, chapter
    06's training), pruned, and fine-tuned on the thief's images. Name -> (kind, encoder)."""
    s, st = world.settings, stealing.settings(profile.name)
    x = world.thief_images[: s["copy_budget"]]
    copies: dict[str, tuple[str, Encoder]] = {}
    stolen = stolen_copy(parent, x, "stolenencoder", epochs=st["epochs"],
                         batch_size=st["batch_size"], augment=profile.augment,
                         device=profile.device, seed=seed, progress=progress)
    copies[f"stolen ({len(x)} queries)"] = ("stolen", stolen.surrogate)
    for amount in s["prune"]:
        copies[f"pruned {amount:.0%}"] = ("pruned", prune_encoder(parent.encoder, amount))
    for epochs in s["finetune_epochs"]:
        config = PretrainConfig.from_profile(profile, epochs=epochs, lr=st["finetune_lr"],
                                             batch_size=min(st["finetune_batch_size"],
                                                            len(world.thief_images)),
                                             seed=seed)
        tuned = finetuned_copy(parent, world.thief_images, config, profile.device, progress)
        copies[f"fine-tuned {epochs} epochs"] = ("fine-tuned", tuned.encoder)
    return copies


def null_p_values(world: TracingSetup, suspects: dict[str, nn.Module], augment: AugmentConfig,
                  n_draws: int, device: str | torch.device = "auto", seed: int = 0,
                  audits: dict[str, dict] | None = None) -> dict[str, dict[str, np.ndarray]]:
    """Each test's p-value on each suspect over ``n_draws`` owners drawn afresh: every draw
    splits the owner's and the kept-back images anew into an owner set and a reference set of
    the same sizes, and picks the secret carrier anew among the key's patterns — the two random
    draws each test's null rests on. On an encoder that saw none of these images and none of the
    patterns, each method's p-values are uniform over the draws. The features are computed once
    per encoder (the same views as the audits; the shadow's once for all) and re-split, so a
    draw costs no queries; ``audits`` (suspect -> method -> result, as the chapter's audits
    return them) lends a suspect's calibrated membership scores and marking responses instead
    of computing them again (the calibration ignores which image is whose, so its residuals
    re-split as they are). Suspect -> method -> p-values."""
    positive_ints(n_draws=n_draws)
    for name, model in suspects.items():
        if not hasattr(model, "encode"):
            raise ValueError(f"suspect {name!r} must have an encode method; got "
                             f"{type(model).__name__}")
    s, n = world.settings, len(world.original)
    scales = (s["n_global"], s["n_local"], tuple(s["local_scale"]))
    check_scales(s["group_size"], *scales)
    pooled = torch.cat([world.original, world.reference])

    shadow_views = relation_views(world.shadow.encoder, pooled, augment, *scales, device, seed)
    shadow_scores = None  # scored only for a suspect whose calibrated audit is not lent
    out: dict[str, dict[str, np.ndarray]] = {}
    for name, model in suspects.items():
        done = (audits or {}).get(name, {})
        membership, marking = done.get("membership audit"), done.get("marking")
        views = relation_views(model, pooled, augment, *scales, device, seed)
        if membership is not None and membership.calibrated:
            scores = np.r_[membership.owner_scores, membership.reference_scores]
        else:
            if shadow_scores is None:
                shadow_scores = audit_scores(world.shadow.encoder, world.original,
                                             world.reference, augment, s["n_views"], device, seed)
            scores = np.concatenate(calibrate(audit_scores(
                model, world.original, world.reference, augment, s["n_views"], device, seed),
                shadow_scores))
        responses = marking.responses if marking is not None else pattern_responses(
            model, world.probe, world.key.patterns, world.key.epsilon, device)
        rng = np.random.default_rng(seed)
        p: dict[str, list[float]] = {"membership audit": [], "DOV4CL": [], "marking": []}
        for _ in range(n_draws):
            order = rng.permutation(len(pooled))
            owner, reference = order[:n], order[n:]
            p["membership audit"].append(welch_test(scores[owner], scores[reference])[1])
            gaps = [relationship_gaps((g[owner], loc[owner]), (g[reference], loc[reference]),
                                      s["group_size"])[2] for g, loc in (views, shadow_views)]
            p["DOV4CL"].append(gap_test(*gaps)[1])
            p["marking"].append(rank_p_value(responses, int(rng.integers(len(responses)))))
        out[name] = {method: np.array(values) for method, values in p.items()}
    return out


def noisy_augment(augment: AugmentConfig, noise_std: float) -> AugmentConfig:
    """``augment`` plus Gaussian pixel noise on half of the views."""
    return dataclasses.replace(augment, noise_std=noise_std, noise_p=0.5)
