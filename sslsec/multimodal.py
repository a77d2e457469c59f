"""A small image–text contrastive model (CLIP, Radford et al. 2021) for digits, chapter 08.

CLIP learns from (image, caption) pairs: an image tower and a text tower map both into one
space, and a symmetric contrastive loss asks every image to pick its own caption among the
batch's captions (and every caption its image). Classifying needs no labelled data: embed one
caption per class ("a handwritten seven", ...) and pick the class whose caption is closest —
*zero-shot* classification. Here the captions are templated in varied wording from the images'
labels, as web alt-texts would describe them.

* :func:`caption`, :func:`captions`, :func:`tokenize`: captions of a class in varied wording
  (digits' templates, or objects' for other class names) and their token ids (hashed words);
* :class:`TextEncoder`: mean of word embeddings, then an MLP;
* :class:`CLIPModel`: an image encoder (any :class:`~sslsec.models.Encoder`; ``encode`` gives
  its features, so every probe and attack of the book applies), both projections, the text
  tower and the learnt temperature; :meth:`CLIPModel.zero_shot_logits`;
* :func:`clip_loss`: the symmetric InfoNCE loss (a pure function);
* :class:`CLIPConfig` and :func:`pretrain_clip`: one short training loop.
"""

from __future__ import annotations

import math
import time
import zlib
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from sslsec.augment import SimCLRAugment, check_images
from sslsec.checks import positive_ints
from sslsec.models import Encoder, build_encoder
from sslsec.pretrain import History, show_progress
from sslsec.profiles import AugmentConfig, resolve_device
from sslsec.seed import seed_everything

NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")

#: caption templates for digits: ``{w}`` is the digit's word, ``{d}`` its numeral
DIGIT_TEMPLATES = ("a handwritten {w}", "the digit {d}", "the number {w}",
                   "a {d} written by hand", "a scan of a handwritten {d}", "{w}",
                   "a photo of the number {w}", "digit {w} handwritten", "someone wrote a {w}",
                   "a sloppy {d}", "a neat {w}", "the numeral {d}")
#: caption templates for any other class name ``{w}`` (CIFAR-10, STL-10, GTSRB ...)
OBJECT_TEMPLATES = ("a photo of a {w}", "a blurry photo of a {w}", "a {w}",
                    "a picture of the {w}", "a close-up of a {w}", "the {w} in the picture",
                    "a small {w}", "a bright photo of a {w}", "my {w}", "a low resolution {w}",
                    "a cropped photo of the {w}", "there is a {w} here")
TEMPLATES_PER_CLASS = len(DIGIT_TEMPLATES)
assert len(OBJECT_TEMPLATES) == TEMPLATES_PER_CLASS

#: token ids: words hashed into this many buckets (0 is padding), so any caption has ids
VOCABULARY_SIZE = 4096
#: the longest caption, in words
MAX_WORDS = 12


def caption(class_name: str, template: int) -> str:
    """The caption of a class called ``class_name`` in wording ``template``
    (0..``TEMPLATES_PER_CLASS - 1``): a digit's templates when the name is a numeral
    ("7": "a handwritten seven"), else an object's ("airplane": "a photo of a airplane")."""
    if not isinstance(class_name, str) or not class_name.strip():
        raise ValueError(f"class_name={class_name!r} must be a non-empty string")
    if not 0 <= template < TEMPLATES_PER_CLASS:
        raise ValueError(f"template={template!r} is unknown; allowed: "
                         f"0..{TEMPLATES_PER_CLASS - 1}")
    if class_name.isdigit() and int(class_name) < len(NUMBER_WORDS):
        return DIGIT_TEMPLATES[template].format(w=NUMBER_WORDS[int(class_name)], d=class_name)
    return OBJECT_TEMPLATES[template].format(w=class_name.replace("_", " ").lower())


def _token(word: str) -> int:
    return 1 + zlib.crc32(word.encode()) % (VOCABULARY_SIZE - 1)


def tokenize(texts: list[str]) -> torch.Tensor:
    """Token ids ``(N, MAX_WORDS)`` (0-padded) of captions: each word hashed into
    :data:`VOCABULARY_SIZE` buckets (stable across runs and machines)."""
    rows = []
    for text in texts:
        words = text.split()
        if not words or len(words) > MAX_WORDS:
            raise ValueError(f"caption {text!r} must hold 1..{MAX_WORDS} words")
        rows.append([_token(w) for w in words] + [0] * (MAX_WORDS - len(words)))
    return torch.tensor(rows, dtype=torch.long)


def captions(labels: torch.Tensor, classes: tuple[str, ...], seed: int = 0) -> list[str]:
    """One caption per label (an index into ``classes``), each in a randomly drawn wording
    (seeded)."""
    g = torch.Generator().manual_seed(seed)
    wording = torch.randint(TEMPLATES_PER_CLASS, (len(labels),), generator=g).tolist()
    return [caption(classes[int(y)], t) for y, t in zip(labels.tolist(), wording, strict=True)]


class TextEncoder(nn.Module):
    """The text tower: the mean of the caption's word embeddings, then a two-layer MLP."""

    def __init__(self, out_dim: int, width: int = 64, hidden: int = 128) -> None:
        super().__init__()
        self.embed = nn.EmbeddingBag(VOCABULARY_SIZE, width, mode="mean", padding_idx=0)
        self.mlp = nn.Sequential(nn.Linear(width, hidden), nn.ReLU(inplace=True),
                                 nn.Linear(hidden, out_dim))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.mlp(self.embed(tokens))


class CLIPModel(Encoder):
    """An image encoder and a text encoder trained into one space. ``encode``/``forward`` give
    the image encoder's features (what downstream probes read); :meth:`embed_images` and
    :meth:`embed_texts` the unit-length joint embeddings."""

    def __init__(self, image: Encoder, embed_dim: int = 64) -> None:
        super().__init__()
        self.image = image
        self.in_channels, self.image_size = image.in_channels, image.image_size
        self.feature_dim = image.feature_dim
        self.image_projection = nn.Linear(image.feature_dim, embed_dim)
        self.text = TextEncoder(embed_dim)
        self.log_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))  # CLIP's start

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.image(x)

    def embed_images(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.image_projection(self.image(x)), dim=1)

    def embed_texts(self, tokens: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.text(tokens), dim=1)

    @torch.no_grad()
    def class_embeddings(self, classes: tuple[str, ...]) -> torch.Tensor:
        """One embedding per class: the mean over every wording (prompt ensembling)."""
        device = self.log_scale.device
        out = [self.embed_texts(tokenize([caption(c, t) for t in range(TEMPLATES_PER_CLASS)])
                                .to(device)).mean(0) for c in classes]
        return F.normalize(torch.stack(out), dim=1)

    @torch.no_grad()
    def zero_shot_logits(self, x: torch.Tensor, classes: tuple[str, ...],
                         batch_size: int = 512) -> torch.Tensor:
        """Zero-shot class scores of images ``x``: cosine to each of ``classes``' captions."""
        check_images(x, self.in_channels)
        was_training = self.training
        self.eval()
        names = self.class_embeddings(classes)
        out = torch.cat([self.embed_images(x[i:i + batch_size].to(names.device)) @ names.T
                         for i in range(0, len(x), batch_size)])
        self.train(was_training)
        return out.cpu()


def build_model(arch: str, in_channels: int = 1, image_size: int | None = None) -> Encoder:
    """A fresh model by its zoo name: ``clip-<arch>`` is a :class:`CLIPModel` whose image encoder
    is ``<arch>``; any other name is :func:`sslsec.models.build_encoder`'s."""
    if arch.startswith("clip-"):
        return CLIPModel(build_encoder(arch.removeprefix("clip-"), in_channels, image_size))
    return build_encoder(arch, in_channels, image_size)


def clip_loss(image_z: torch.Tensor, text_z: torch.Tensor, log_scale: torch.Tensor
              ) -> torch.Tensor:
    """CLIP's symmetric InfoNCE: image ``i`` must pick caption ``i`` among the batch's captions,
    and caption ``i`` image ``i``; ``log_scale`` is the learnt log inverse temperature (clamped
    at 100, as CLIP does)."""
    if image_z.shape != text_z.shape or image_z.ndim != 2:
        raise ValueError(f"image_z and text_z must be (N, D) of equal shape; got "
                         f"{tuple(image_z.shape)} and {tuple(text_z.shape)}")
    logits = log_scale.clamp(max=math.log(100)).exp() * F.normalize(image_z, dim=1) @ \
        F.normalize(text_z, dim=1).T
    targets = torch.arange(len(image_z), device=image_z.device)
    return (F.cross_entropy(logits, targets) + F.cross_entropy(logits.T, targets)) / 2


#: CLIP's augmentation here: mild crops and rotations (a caption describes the whole image)
CLIP_AUGMENT = AugmentConfig(crop_scale=(0.8, 1.0), flip_p=0.0, jitter_strength=0.0,
                             jitter_p=0.0, grayscale_p=0.0, blur_p=0.0, rotation_degrees=10.0)


@dataclass(frozen=True)
class CLIPConfig:
    """Everything that decides a CLIP training run (the zoo hashes it)."""

    epochs: int = 50
    batch_size: int = 256
    lr: float = 2e-3
    weight_decay: float = 1e-6
    embed_dim: int = 64
    augment: AugmentConfig = field(default_factory=lambda: CLIP_AUGMENT)
    seed: int = 0

    def __post_init__(self) -> None:
        positive_ints(epochs=self.epochs, batch_size=self.batch_size, embed_dim=self.embed_dim)
        if not self.lr > 0:
            raise ValueError(f"lr={self.lr!r} must be > 0")

    def to_dict(self) -> dict:
        return asdict(self)


def pretrain_clip(model: CLIPModel, images: torch.Tensor, tokens: torch.Tensor,
                  config: CLIPConfig | None = None, device: str | torch.device = "auto",
                  progress: bool = True) -> History:
    """Train ``model`` in place on (image, caption) pairs: ``images`` (N, C, H, W in [0, 1])
    and their captions' ``tokens`` (N, :data:`MAX_WORDS`, from :func:`tokenize`)."""
    config = config or CLIPConfig()
    check_images(images, model.in_channels, "images")
    if tokens.ndim != 2 or len(tokens) != len(images):
        raise ValueError(f"tokens must be (N, {MAX_WORDS}) with one row per image; got "
                         f"{tuple(tokens.shape)} for {len(images)} images")
    if config.batch_size > len(images):
        raise ValueError(f"batch_size={config.batch_size} is larger than the {len(images)} "
                         f"pairs; allowed: 2..{len(images)}")
    dev = resolve_device(device)
    generator = seed_everything(config.seed)
    augment = SimCLRAugment(images.shape[-1], images.shape[1], config.augment)
    model.to(dev)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr,
                                 weight_decay=config.weight_decay)
    data, text = images.to(dev), tokens.to(dev)
    steps = len(data) // config.batch_size  # drop the last, partial batch (BatchNorm)
    history = History()
    bar = tqdm(range(config.epochs), desc="CLIP pre-training", disable=not show_progress(progress))
    for _ in bar:
        start, total = time.perf_counter(), 0.0
        model.train()
        order = torch.randperm(len(data), generator=generator).to(dev)
        for step in range(steps):
            index = order[step * config.batch_size:(step + 1) * config.batch_size]
            loss = clip_loss(model.image_projection(model.image(augment(data[index]))),
                             model.text(text[index]), model.log_scale)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.item()
        history.loss.append(total / steps)
        history.seconds.append(time.perf_counter() - start)
        bar.set_postfix(loss=f"{history.loss[-1]:.3f}")
    model.eval()
    return history
