"""Dataset inference for encoders (Dziedzic et al., *Dataset Inference for Self-Supervised
Models*, NeurIPS 2022), chapter 06's fingerprint.

The owner of a victim encoder holds its private training set. It fits a density model — a
Gaussian mixture — to the victim's representations of one part of that set. For a suspect, it
scores the suspect's representations of the *other* part of the private set and of public
images of the same distribution under that density, and tests whether the private images score
higher (one-sided Welch t-test on the per-image log-likelihoods). A copy derived from the victim
maps the victim's training images where the victim does, into the dense regions that the victim
made for its training data; an independently trained encoder represents the images in its own,
unrelated feature space, where the private and public images are equally (un)likely.

Chapter 01's membership audit (EncoderMI's view similarity, private against public images) is
a different test of the same idea; chapter 06 runs both. Our details: features are
L2-normalised before the mixture (a thief copies directions, the scale of its features is
arbitrary); the mixture has diagonal covariances; the private set is split once, at random,
into the images that fit the density and the images that are tested.
The test presumes that the victim represents its training images differently from unseen ones —
it measures the victim's *memorisation*, inherited by its copies; a victim that generalises
perfectly leaves nothing to find.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from scipy import stats
from sklearn.mixture import GaussianMixture
from torch import nn

from sslsec.augment import check_images
from sslsec.checks import positive_ints
from sslsec.downstream import extract_features


@dataclass
class PrivateDensity:
    """The owner's density model of its victim's representations of private training images,
    and the private images held out from the fit (the ones the test queries)."""

    mixture: GaussianMixture
    held_out: torch.Tensor

    def log_likelihood(self, encoder: nn.Module, x: torch.Tensor,
                       device: str | torch.device = "auto") -> np.ndarray:
        """Per image: the log-density of ``encoder``'s normalised features of ``x``."""
        features = _normalised_features(encoder, x, device)
        if features.shape[1] != self.mixture.means_.shape[1]:
            raise ValueError(f"the suspect has {features.shape[1]} features; the density was fit "
                             f"on {self.mixture.means_.shape[1]}")
        return self.mixture.score_samples(features)


@dataclass
class DatasetInferenceResult:
    """The suspect's mean log-likelihood on held-out private and on public images, the test."""

    private_log_likelihood: float
    public_log_likelihood: float
    t_statistic: float
    p_value: float
    queries: int

    @property
    def gap(self) -> float:
        """Private minus public mean log-likelihood."""
        return self.private_log_likelihood - self.public_log_likelihood

    def flagged(self, alpha: float = 0.01) -> bool:
        return self.p_value < alpha


def _normalised_features(encoder: nn.Module, x: torch.Tensor,
                         device: str | torch.device) -> np.ndarray:
    if not hasattr(encoder, "encode"):
        raise ValueError(f"encoder must have an encode method; got {type(encoder).__name__}")
    return F.normalize(extract_features(encoder, x, device=device).float(), dim=1).double().numpy()


def fit_private_density(victim: nn.Module, private: torch.Tensor, n_components: int = 10,
                        fit_fraction: float = 0.5, device: str | torch.device = "auto",
                        seed: int = 0) -> PrivateDensity:
    """Fit a diagonal Gaussian mixture of ``n_components`` to ``victim``'s normalised features
    of a random ``fit_fraction`` of the ``private`` training images; keep the rest for the test."""
    check_images(private, name="private")
    positive_ints(n_components=n_components)
    if not 0 < fit_fraction < 1:
        raise ValueError(f"fit_fraction={fit_fraction!r} must be in (0, 1)")
    order = torch.randperm(len(private), generator=torch.Generator().manual_seed(seed))
    n_fit = int(round(fit_fraction * len(private)))
    if n_fit < 2 * n_components or len(private) - n_fit < 2:
        raise ValueError(f"private has {len(private)} images: too few to fit {n_components} "
                         f"components on {fit_fraction:g} of them and test the rest")
    features = _normalised_features(victim, private[order[:n_fit]], device)
    mixture = GaussianMixture(n_components, covariance_type="diag", reg_covar=1e-4,
                              random_state=seed).fit(features)
    return PrivateDensity(mixture, private[order[n_fit:]])


def dataset_inference(suspect: nn.Module, density: PrivateDensity, public: torch.Tensor,
                      device: str | torch.device = "auto") -> DatasetInferenceResult:
    """Test whether ``suspect``'s features of the held-out private images are more likely under
    the owner's density than its features of ``public`` images (one-sided Welch t-test)."""
    check_images(public, name="public")
    if len(public) < 2:
        raise ValueError(f"public needs at least 2 images; got {len(public)}")
    if public.shape[1:] != density.held_out.shape[1:]:
        raise ValueError(f"public images are {tuple(public.shape[1:])}; the private ones "
                         f"{tuple(density.held_out.shape[1:])}")
    private_ll = density.log_likelihood(suspect, density.held_out, device)
    public_ll = density.log_likelihood(suspect, public, device)
    test = stats.ttest_ind(private_ll, public_ll, equal_var=False, alternative="greater")
    return DatasetInferenceResult(float(private_ll.mean()), float(public_ll.mean()),
                                  float(test.statistic), float(test.pvalue),
                                  len(private_ll) + len(public_ll))
