"""Chapter 10, resource depletion: making every downstream user pay more for each prediction.

The book's availability problem: what an encoder costs to run (energy, latency) is paid by every
classifier and API client built on it. Sponge examples raise the activation density of the
queries (energy on a sparsity-aware accelerator), a slowdown attack makes an early-exit variant
of the encoder run its full depth on every query (compute counted, latency timed on this
CPU), and sponge poisoning
makes the encoder itself dense on every input. Density checks, a compute cap and activation
pruning are the defences. The chapter decides the budgets, the attack steps,
the early exit's threshold, the poisoning's strength and the defences' settings; it builds the
world (:func:`resource_setup`, :func:`early_exit_model`, :func:`poisoned_encoder`) and claims
that each attack raises its cost at the strength the chapter names and that a defence removes
at least half of one attack's effect.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from sslsec.attacks.sponge_examples import SpongeResult, sponge_attack
from sslsec.attacks.sponge_poisoning import sponge_poisoning
from sslsec.attacks.text_sponges import TextSpongeResult, text_sponges
from sslsec.chapters._common import chapter_functions, merged
from sslsec.claims import Claim
from sslsec.data import Splits, downstream_task, pretrain_set
from sslsec.defenses.token_filter import TokenRateFilter
from sslsec.downstream import ProbeResult, evaluate_encoder
from sslsec.early_exit import EarlyExitEncoder, train_early_exit
from sslsec.energy import activation_density, always_off_share
from sslsec.profiles import Profile
from sslsec.zoo import DerivedEntry, ZooEntry, profile_encoder

NAME = "10_resource_depletion"

_CORE: dict[str, dict] = {
    # sponge examples: L∞ budgets (pixels in [0, 1]) swept and the chapter's one, PGD steps,
    # how many natural inputs they start from; the early exit: training epochs of its heads,
    # its confidence threshold (and the thresholds of the dial), the slowdown's budget and
    # steps, queries timed and repeats per query; sponge poisoning (over the profile's whole
    # pre-training run): the weight of the density reward and the share of steps that carry
    # it; the defences: the density filter's quantile and layers, the compute cap, activation
    # pruning's target share
    "smoke": {"epsilons": [0.1, 0.2], "epsilon": 0.2, "sponge_steps": 3, "n_sponge": 16,
              "exit_epochs": 2, "threshold": 0.9, "thresholds": [0.5, 0.9, 1.0],
              "slowdown_epsilon": 0.1, "slowdown_steps": 3, "n_queries": 12, "repeats": 3,
              "poison_weight": 1.0, "poison_fraction": 0.5,
              "filter_quantile": 0.99, "filter_layers": 2, "n_reference": 64, "cap": 1,
              "prune_target": 0.75},
    "laptop": {"epsilons": [0.05, 0.1, 0.2, 0.3], "epsilon": 0.2, "sponge_steps": 40,
               "n_sponge": 64, "exit_epochs": 10, "threshold": 0.9,
               "thresholds": [0.5, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0],
               "slowdown_epsilon": 0.1, "slowdown_steps": 20, "n_queries": 100,
               "repeats": 10, "poison_weight": 1.0,
               "poison_fraction": 1.0, "filter_quantile": 0.99, "filter_layers": 2,
               "n_reference": 500, "cap": 1, "prune_target": 0.75},
    # Shumailov et al. and Cinà et al. on CIFAR-10 ResNet-18s: ε = 8/255, 100+ steps;
    # DeepSloth's ε = 8/255 on multi-exit ResNets; the poisoned share and weight of Cinà et al.
    "paper": {"epsilons": [2 / 255, 4 / 255, 8 / 255, 16 / 255], "epsilon": 8 / 255,
              "sponge_steps": 100, "n_sponge": 1000, "exit_epochs": 30, "threshold": 0.9,
              "thresholds": [0.5, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0],
              "slowdown_epsilon": 8 / 255, "slowdown_steps": 50, "n_queries": 1000,
              "repeats": 20, "poison_weight": 1.0,
              "poison_fraction": 1.0, "filter_quantile": 0.99, "filter_layers": 2,
              "n_reference": 5000, "cap": 1, "prune_target": 0.75},
    "papersmoke": {"epsilons": [4 / 255, 8 / 255], "epsilon": 8 / 255, "sponge_steps": 3,
                   "n_sponge": 16, "exit_epochs": 1, "threshold": 0.9,
                   "thresholds": [0.5, 0.9, 1.0], "slowdown_epsilon": 8 / 255,
                   "slowdown_steps": 3, "n_queries": 12, "repeats": 3, "poison_weight": 1.0,
                   "poison_fraction": 0.5, "filter_quantile": 0.99, "filter_layers": 2,
                   "n_reference": 64, "cap": 1, "prune_target": 0.75},
}

_FOUNDATION: dict[str, dict] = {
    # real foundation models. MiniLM: the character budget of a query, the natural queries
    # (WordNet definitions of budget - 10 to budget characters) attacked and those the token
    # filter is calibrated on, the genetic search's population, generations (the filter-aware
    # attacker's too) and mutation rate, the sponges kept, the filter's quantile, the queries
    # timed. EfficientNet-Lite0 on Fashion-MNIST: the resolution it sees, the natural images,
    # the sponge PGD's steps (the budget is the chapter's epsilon)
    "smoke": {"text_budget": 100, "text_natural": 24, "text_reference": 48,
              "text_population": 16, "text_generations": 3, "text_adaptive_generations": 5,
              "text_mutation": 0.02, "text_sponges": 4, "text_filter_quantile": 0.99,
              "text_timed": 4, "real_image_size": 64, "real_n_sponge": 4,
              "real_sponge_steps": 2},
    "laptop": {"text_budget": 100, "text_natural": 100, "text_reference": 800,
               "text_population": 64, "text_generations": 10, "text_adaptive_generations": 60,
               "text_mutation": 0.02, "text_sponges": 16, "text_filter_quantile": 0.99,
               "text_timed": 20, "real_image_size": 64, "real_n_sponge": 16,
               "real_sponge_steps": 30},
    # more queries and a longer search; EfficientNet-Lite0 at 96 px (Lite2, the larger victim
    # the paper's setting would take, is not installed here: not measured)
    "paper": {"text_budget": 100, "text_natural": 500, "text_reference": 5000,
              "text_population": 256, "text_generations": 30, "text_adaptive_generations": 200,
              "text_mutation": 0.02, "text_sponges": 64, "text_filter_quantile": 0.99,
              "text_timed": 100, "real_image_size": 96, "real_n_sponge": 256,
              "real_sponge_steps": 100},
    "papersmoke": {"text_budget": 100, "text_natural": 24, "text_reference": 48,
                   "text_population": 16, "text_generations": 3,
                   "text_adaptive_generations": 5, "text_mutation": 0.02, "text_sponges": 4,
                   "text_filter_quantile": 0.99, "text_timed": 4, "real_image_size": 64,
                   "real_n_sponge": 4, "real_sponge_steps": 2},
}

#: the chapter's own encoder and a real foundation model's: one flat table per profile
SETTINGS: dict[str, dict] = merged(_CORE, _FOUNDATION)

CLAIMS: list[Claim] = [
    Claim("sponge_energy_gain", ">=", 1.2, None,
          "sponge examples raise the estimated energy ratio over natural inputs (sponge ÷ "
          "natural; at most 1 ÷ the natural ratio)"),
    Claim("sponge_headroom_taken", ">=", 0.5, None,
          "they fill at least half of the room between the natural energy and the dense "
          "accelerator's"),
    Claim("sponge_over_noise_energy", ">=", 1.05, None,
          "and by more than random noise of the same L∞ budget does (sponge ÷ noise)"),
    Claim("uniform_energy_gain", ">=", None, None,
          "flat (uniform) images against natural ones (reported)"),
    Claim("slowdown_compute_ratio", ">=", 1.5, None,
          "the slowdown attack raises the early-exit encoder's compute per query (attacked ÷ "
          "natural, counted operations)"),
    Claim("slowdown_latency_ratio", ">=", None, None,
          "and its median latency, one query at a time on this processor (reported: it "
          "depends on the machine and on what else runs on it)"),
    Claim("slowdown_full_depth_share", ">=", None, None,
          "share of attacked queries that run the full depth (reported)"),
    Claim("poison_density_gain", ">=", 1.1, None,
          "sponge poisoning raises the energy ratio on clean inputs (poisoned ÷ clean "
          "encoder)"),
    Claim("poison_probe_accuracy_drop", "<=", 0.02, None,
          "at no more than 2 points of linear-probe accuracy"),
    Claim("filter_adaptive_effect_removed", ">=", 0.5, None,
          "the density filter still removes at least half of the sponges' extra energy "
          "against a sponge that knows its threshold and the layers it watches"),
    Claim("filter_adaptive_energy_gain", "<=", None, None,
          "the energy (÷ natural) that such a sponge gets through the filter undetected "
          "(reported)"),
    Claim("best_defence_effect_removed", ">=", 0.5, None,
          "the best defence removes at least half of its attack's effect"),
    Claim("filter_effect_removed", ">=", None, None,
          "density filter: share of the sponges' extra energy removed (reported)"),
    Claim("filter_false_positive_rate", "<=", None, None,
          "its cost: natural queries refused (reported)"),
    Claim("cap_effect_removed", ">=", None, None,
          "compute cap: share of the slowdown's extra median latency removed (reported)"),
    Claim("cap_accuracy_cost", "<=", None, None,
          "its cost: accuracy lost on natural inputs (reported)"),
    Claim("prune_effect_removed", ">=", None, None,
          "activation pruning: share of the poisoning's extra energy removed (reported)"),
    Claim("prune_accuracy_cost", "<=", None, None,
          "its cost: linear-probe accuracy lost against the poisoned encoder (reported)"),
    # real foundation models
    Claim("text_sponge_ops_gain", ">=", 2.0, None,
          "text sponges of a fixed character budget cost MiniLM at least twice the operations "
          "per query of natural text (sponge ÷ natural, counted)"),
    Claim("text_sponge_latency_ratio", ">=", None, None,
          "and its median latency, one query at a time on this processor (reported)"),
    Claim("text_filter_adaptive_effect_removed", ">=", 0.5, None,
          "the tokens-per-character filter removes at least half of the sponges' extra "
          "operations against an attacker who searches under its threshold"),
    Claim("text_filter_false_positive_rate", "<=", None, None,
          "its cost: natural queries refused (reported)"),
    Claim("real_sponge_energy_gain", ">=", None, None,
          "sponge examples on EfficientNet-Lite0 (Fashion-MNIST, the chapter's ε): energy ÷ "
          "natural (reported: far smaller than on the chapter's own encoder; see the section)"),
    Claim("real_sponge_over_noise_energy", ">=", None, None,
          "and ÷ random noise of the same budget (reported)"),
    Claim("real_energy_ceiling_gain", ">=", None, None,
          "the energy ÷ natural if every unit that some natural image switches on were on "
          "at once (reported)"),
]


#: ``settings(profile)`` (a copy) and ``check(metrics, profile)``
settings, check = chapter_functions(NAME, SETTINGS, CLAIMS)


@dataclass
class ResourceSetup:
    """Chapter 10's world: the profile's encoder (zoo), one downstream task with its linear
    probe, the pre-training images (for the malicious trainer and the defender), and
    natural reference inputs (for the density checks) disjoint from the attacked ones."""

    settings: dict
    entry: ZooEntry
    task: Splits
    probe: ProbeResult
    pretrain_images: torch.Tensor
    reference_x: torch.Tensor

    @property
    def encoder(self) -> torch.nn.Module:
        return self.entry.encoder


def resource_setup(profile: Profile, seed: int = 0, progress: bool = True) -> ResourceSetup:
    """The profile's encoder, a linear probe on its first downstream dataset, and the sets
    that the attacks and checks use. Sizes come from :data:`SETTINGS`."""
    s = settings(profile.name)
    entry = profile_encoder(profile, seed, progress)
    task = downstream_task(profile, seed=seed)
    probe = evaluate_encoder(entry.encoder, task["train"], task["test"], "linear",
                             profile.probe_epochs, profile.device, seed)
    images = pretrain_set(profile, seed).x
    # natural inputs the density checks are calibrated on: the end of the test split
    reference = task["test"].x[-s["n_reference"]:]
    return ResourceSetup(s, entry, task, probe, images, reference)


def early_exit_model(profile: Profile, setup: ResourceSetup, seed: int = 0,
                     progress: bool = True) -> EarlyExitEncoder:
    """A downstream user's early-exit classifier on the encoder (its exit heads trained on the
    task's training split)."""
    return train_early_exit(setup.encoder, setup.task["train"], setup.settings["exit_epochs"],
                            seed=seed, device=profile.device, progress=progress)


def poisoned_encoder(profile: Profile, setup: ResourceSetup, seed: int = 0,
                     progress: bool = True) -> DerivedEntry:
    """The sponge-poisoned twin of the chapter's clean encoder: the same recipe, seed and
    images, with the density reward on a share of the steps of the whole pre-training run (a
    derived zoo entry: trained once, then loaded)."""
    s = setup.settings
    return sponge_poisoning(setup.entry, setup.pretrain_images, weight=s["poison_weight"],
                            fraction=s["poison_fraction"], device=profile.device,
                            progress=progress)


@dataclass
class FoundationSponges:
    """Chapter 10 on real foundation models: text sponges against MiniLM (unaware of the
    filter, and aware of it), the token filter and its cost, the latencies timed, and sponge
    examples against EfficientNet-Lite0 with the energy ceiling of its natural inputs."""

    settings: dict
    model: torch.nn.Module  # MiniLM
    text: TextSpongeResult
    adaptive: TextSpongeResult
    token_filter: TokenRateFilter
    natural_refused: float
    sponges_refused: float
    latency: dict[str, float]  # "natural", "sponge" → median seconds per query
    image: SpongeResult
    ceiling: float  # (1 - always_off_share) ÷ mean energy, over natural images

    @property
    def filter_effect_removed(self) -> float:
        """The share of the sponges' extra operations that the filter-aware attacker loses."""
        return 1 - (self.adaptive.ops_gain - 1) / (self.text.ops_gain - 1)


def foundation_sponges(profile: Profile, seed: int = 0, progress: bool = True
                       ) -> FoundationSponges:
    """Sponges against the two real foundation models (sizes from :data:`SETTINGS`): text
    sponges of ``text_budget`` characters against MiniLM, the token filter calibrated on other
    natural definitions, a filter-aware search, median latencies one query at a time; sponge
    PGD at the chapter's ``epsilon`` against EfficientNet-Lite0 on Fashion-MNIST test images."""
    import statistics
    import time

    from sslsec.foundation import EfficientNetLite0, MiniLM, fashion_mnist, wordnet_definitions

    s = settings(profile.name)
    model = MiniLM(device=profile.device)
    budget = s["text_budget"]
    fitting = [t for t in wordnet_definitions("test", seed=seed).texts
               if budget - 10 <= len(t) <= budget]
    natural, reference = fitting[: s["text_natural"]], \
        fitting[s["text_natural"]: s["text_natural"] + s["text_reference"]]
    search = {"population": s["text_population"], "mutation": s["text_mutation"],
              "n": s["text_sponges"], "seed": seed, "progress": progress}
    text = text_sponges(model, natural, budget, generations=s["text_generations"], **search)
    token_filter = TokenRateFilter.fit(model, reference, s["text_filter_quantile"])
    adaptive = text_sponges(model, natural, budget, generations=s["text_adaptive_generations"],
                            max_tokens_per_char=token_filter.threshold, start=natural, **search)
    refused = [float(token_filter.flags(model, t).float().mean())
               for t in (natural, text.sponges)]

    def median_latency(texts: list[str]) -> float:
        times = []
        for t in texts[: s["text_timed"]]:
            start = time.perf_counter()
            model.encode([t])
            times.append(time.perf_counter() - start)
        return statistics.median(times)

    model.encode(natural[:2])  # warm up
    latency = {"natural": median_latency(natural),
               "sponge": median_latency(text.sponges * s["text_timed"])}
    encoder = EfficientNetLite0(in_channels=1, image_size=s["real_image_size"],
                                device=profile.device)
    test = fashion_mnist("test")
    pick = torch.randperm(len(test), generator=torch.Generator().manual_seed(seed))
    images = test.x[pick[: s["real_n_sponge"]]]
    image = sponge_attack(encoder, images, s["epsilon"], s["real_sponge_steps"],
                          device=profile.device, seed=seed, progress=progress)
    many = test.x[pick[: max(64, s["real_n_sponge"])]]
    ceiling = (1 - always_off_share(encoder, many, device=profile.device)) \
        / activation_density(encoder, many, device=profile.device).mean_density()
    return FoundationSponges(s, model, text, adaptive, token_filter, *refused, latency, image,
                             ceiling)
