"""Chapter 03, reconstruction: what a user's embedding gives away of the image behind it.

The book's problem of inverting embeddings: a curious provider, or whoever receives the users'
embeddings, trains a decoder on images of its own and reconstructs the users' inputs. The
chapter decides the attacker's auxiliary images and the users' images, the sizes of the decoder
and of the recogniser that judges reconstructions, and the grid of embedding perturbations the
users may apply; it builds that world (:func:`inversion_setup`) and claims that reconstructions
are close and recognisable while no affordable perturbation stops an adaptive attacker. Its
last section turns the same decoder on the *pre-training* images of chapter 02's memorising
encoder (:func:`pretraining_images_setup`).
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from sslsec.attacks.embedding_inversion import InversionSetup, train_recogniser
from sslsec.attacks.text_inversion import (
    TextInversionResult,
    WordVocabulary,
    text_inversion_attack,
    train_word_decoder,
)
from sslsec.chapters._common import chapter_functions, merged
from sslsec.chapters.ch02_membership_inference import membership_setup
from sslsec.claims import Claim
from sslsec.data import ImageSet, downstream_task, pools, split_dataset
from sslsec.downstream import linear_probe
from sslsec.profiles import Profile
from sslsec.zoo import profile_encoder

NAME = "03_reconstruction"

_IMAGES: dict[str, dict] = {
    # the attacker's auxiliary images (from the pre-training pool), the users' images (test
    # pool), decoder and recogniser sizes, the users' perturbation settings, and the attribute
    # read from embeddings (stroke thickness of digits; brightness of colour photographs,
    # which have no strokes)
    "smoke": {"n_aux": 256, "n_users": 64, "decoder_epochs": 3, "decoder_width": 8,
              "decoder_hidden": 128, "recogniser_epochs": 1, "recogniser_width": 16,
              "n_calibration": 200, "defences": [{"noise": 1.0}, {"bits": 1}],
              "attribute": "thickness"},
    "laptop": {"n_aux": 4000, "n_users": 500, "decoder_epochs": 10, "decoder_width": 16,
               "decoder_hidden": 256, "recogniser_epochs": 3, "recogniser_width": 32,
               "n_calibration": 1000,
               "defences": [{"noise": 0.25}, {"noise": 0.5}, {"noise": 1.0}, {"noise": 2.0},
                            {"noise": 3.0}, {"step": 1.0}, {"bits": 2}, {"bits": 1}],
               "attribute": "thickness"},
    "paper": {"n_aux": 25000, "n_users": 1000, "decoder_epochs": 30, "decoder_width": 64,
              "decoder_hidden": 1024, "recogniser_epochs": 20, "recogniser_width": 64,
              "n_calibration": 5000,
              "defences": [{"noise": 0.25}, {"noise": 0.5}, {"noise": 1.0}, {"noise": 2.0},
                           {"noise": 3.0}, {"step": 1.0}, {"bits": 2}, {"bits": 1}],
              "attribute": "brightness"},
    "papersmoke": {"n_aux": 256, "n_users": 64, "decoder_epochs": 2, "decoder_width": 8,
                   "decoder_hidden": 128, "recogniser_epochs": 1, "recogniser_width": 16,
                   "n_calibration": 200, "defences": [{"noise": 1.0}, {"bits": 1}],
                   "attribute": "brightness"},
}

_FOUNDATION: dict[str, dict] = {
    # a real foundation model (all-MiniLM-L6-v2): the attacker's own texts (WordNet
    # definitions, training split), the users' texts (test split), the decoder's vocabulary,
    # hidden width, epochs and learning rate, the words it names per text, and the users' noise
    # levels (multiples of each feature's spread) against an attacker who knows them
    "smoke": {"text_aux": 300, "text_users": 60, "text_vocabulary": 300, "text_hidden": 64,
              "text_epochs": 3, "text_lr": 2e-3, "text_k": 5, "text_noise": [0.0, 1.0]},
    "laptop": {"text_aux": 6000, "text_users": 500, "text_vocabulary": 2000,
               "text_hidden": 384, "text_epochs": 12, "text_lr": 2e-3, "text_k": 5,
               "text_noise": [0.0, 1.0]},
    "paper": {"text_aux": 40000, "text_users": 2000, "text_vocabulary": 10000,
              "text_hidden": 2048, "text_epochs": 60, "text_lr": 1e-3, "text_k": 5,
              "text_noise": [0.0, 0.5, 1.0, 2.0]},
    "papersmoke": {"text_aux": 300, "text_users": 60, "text_vocabulary": 300,
                   "text_hidden": 64, "text_epochs": 3, "text_lr": 2e-3, "text_k": 5,
                   "text_noise": [0.0, 1.0]},
}

#: inverting the chapter's own encoder, and a real foundation model's: one flat table per profile
SETTINGS: dict[str, dict] = merged(_IMAGES, _FOUNDATION)

CLAIMS: list[Claim] = [
    Claim("inversion_ssim", ">=", 0.5, None,
          "reconstructions of held-out users' images from their embeddings are close (SSIM)"),
    Claim("inversion_recognised", ">=", 0.8, None,
          "a separate digit classifier recognises most reconstructions as the right digit"),
    Claim("ssim_gain_over_class_mean", ">=", 0.2, None,
          "embeddings reveal the handwriting's style, not only the digit"),
    Claim("recogniser_on_real_images", ">=", 0.9, 0.7,
          "the recogniser that judges reconstructions reads real images correctly"),
    # the attribute is the settings' (brightness in the paper's setting)
    Claim("attribute_advantage", ">=", 0.15, None,
          "an attribute the user never shared (the stroke thickness of digits; the "
          "brightness of photographs) is read from embeddings"),
    Claim("affordable_defence_recognised_ratio", ">=", None, None,
          "the lowest share of recognisable reconstructions (adaptive attacker, relative to "
          "no defence) among settings costing at most 3 points (reported: none halves it)"),
    Claim("strongest_defence_recognised_ratio", ">=", None, None,
          "the same for the strongest setting, whatever its cost (reported)"),
    Claim("pretraining_ssim_gain_over_class_mean", ">=", 0.2, None,
          "a memorising encoder's own pre-training images are rebuilt from their embeddings "
          "far better than the class-mean image (SSIM)"),
    Claim("member_minus_nonmember_ssim", ">=", None, None,
          "... and about as well as images it never saw (reported: memorisation adds little "
          "to what a decoder rebuilds)"),
    # a real foundation model
    Claim("text_inversion_over_baseline", ">=", 2.0, None,
          "words decoded from MiniLM's embeddings of unseen definitions: at least twice the "
          "content-word F1 of guessing the most frequent words of the text's category"),
    Claim("text_inversion_f1", ">=", None, None,
          "the decoder's content-word F1 (reported)"),
    Claim("text_noise_f1_ratio", ">=", None, None,
          "the decoder's F1 (attacker who knows the noise) at the strongest noise, relative to "
          "none (reported)"),
    Claim("text_noise_probe_cost", "<=", None, None,
          "what that noise costs a linear probe on the 45 categories (reported)"),
]


#: ``settings(profile)`` (a copy) and ``check(metrics, profile)``
settings, check = chapter_functions(NAME, SETTINGS, CLAIMS)


def inversion_setup(profile: Profile, seed: int = 0, progress: bool = True) -> InversionSetup:
    """The profile's encoder (from the zoo); the users are ``n_users`` images of the test pool
    (never seen by the encoder). The attacker, a curious provider, owns the pre-training pool:
    ``aux`` is its first ``n_aux`` images, disjoint from the users'; it also trains the
    recogniser on them with their labels. Sizes come from :data:`SETTINGS`."""
    s = settings(profile.name)
    p = pools(profile.pretrain_dataset, seed=seed)
    aux = p["train"][: s["n_aux"]]
    users = split_dataset(p["test"], {"users": s["n_users"]}, seed=seed)["users"]
    recogniser = train_recogniser(aux.x, aux.y, s["recogniser_epochs"], profile.device, seed,
                                  width=s["recogniser_width"], progress=progress)
    return InversionSetup(s, profile_encoder(profile, seed, progress).encoder, aux, users,
                          downstream_task(profile, seed=seed), recogniser)


@dataclass
class PretrainingImagesSetup:
    """Chapter 02's memorising encoder, its pre-training images (``members``), as many images
    it never saw (``nonmembers``), and the attacker's own images (``aux``): the rest of the same
    pool, disjoint from both (and from chapter 02's shadow pools)."""

    encoder: nn.Module
    members: ImageSet
    nonmembers: ImageSet
    aux: ImageSet


def pretraining_images_setup(profile: Profile, seed: int = 0,
                             progress: bool = True) -> PretrainingImagesSetup:
    """The world of the section on pre-training images, from chapter 02's long-trained set-up
    (its encoder comes from the zoo). ``aux`` is drawn by the same seeded permutation as
    chapter 02's pools, so it is exactly the part of the pool they leave."""
    leaky = membership_setup(profile, seed, progress, long_trained=True)
    train = pools(profile.pretrain_dataset, seed=seed)["train"]
    sizes = {name: len(part) for name, part in leaky.parts.items()}
    sizes["rest"] = len(train) - sum(sizes.values())
    rest = split_dataset(train, sizes, seed=seed)["rest"]
    return PretrainingImagesSetup(leaky.victim.encoder, leaky.parts["member"],
                                  leaky.parts["nonmember"], rest)


@dataclass
class TextInversion:
    """Chapter 03 on a real foundation model: MiniLM's embeddings of the attacker's texts and
    of the users', each noise level's decoder (trained on embeddings noised alike) and its
    result, and a linear probe's accuracy on the users' noised embeddings."""

    settings: dict
    results: dict[float, TextInversionResult]  # noise level → result
    probe_accuracy: dict[float, float]  # noise level → the 45-way probe's test accuracy


def text_inversion(profile: Profile, seed: int = 0, progress: bool = True) -> TextInversion:
    """MiniLM embeds the attacker's ``text_aux`` definitions (training split) and the users'
    ``text_users`` (test split); for each noise level of ``text_noise`` the users' embeddings
    are perturbed (Gaussian, a multiple of each feature's spread), the attacker trains its
    decoder on its own embeddings perturbed alike, and a linear probe on the categories
    measures what the noise costs. Sizes from :data:`SETTINGS`."""
    from sslsec.defenses.embedding_perturbation import PerturbedEncoder
    from sslsec.foundation import MiniLM, wordnet_definitions

    s = settings(profile.name)
    model = MiniLM(device=profile.device)
    aux = wordnet_definitions("train", seed=seed, n=s["text_aux"])
    users = wordnet_definitions("test", seed=seed, n=s["text_users"])
    z_aux, z_users = model.encode(aux.texts).cpu(), model.encode(users.texts).cpu()
    vocabulary = WordVocabulary.from_texts(aux.texts, s["text_vocabulary"])
    spread = z_aux.std(0)
    results, probes = {}, {}
    for noise in s["text_noise"]:
        api = PerturbedEncoder(model, spread, z_aux.min(0).values, z_aux.max(0).values,
                               noise=noise, seed=seed)
        seen_aux, seen_users = api.perturb(z_aux), api.perturb(z_users)
        decoder = train_word_decoder(seen_aux, aux.texts, vocabulary, s["text_hidden"],
                                     s["text_epochs"], lr=s["text_lr"], seed=seed,
                                     progress=progress)
        results[noise] = text_inversion_attack(decoder, seen_users, users.texts, users.y,
                                               aux.texts, aux.y, s["text_k"])
        probes[noise] = linear_probe(seen_aux, aux.y, seen_users, users.y,
                                     len(aux.classes), seed=seed).test_accuracy
    return TextInversion(s, results, probes)
