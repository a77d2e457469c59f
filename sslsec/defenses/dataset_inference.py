"""Dataset inference for encoders (Dziedzic et al., NeurIPS 2022), chapter 06's fingerprint.

An encoder trained on the owner's private images represents them a little differently from
images it never saw. The signal used here is EncoderMI's (chapter 02): the mean cosine
similarity between the features of augmented views of an image is higher on training images.
A copy derived from the owner's encoder may inherit that difference; an encoder trained
independently, on other data, has no reason to. The owner tests, for a suspect, whether its
private images score higher than public images of the same distribution (one-sided Welch
t-test). The test presumes the owner's own encoder shows the difference: it is a fingerprint of
the encoder's *memorisation*, and an encoder that generalises perfectly leaves none.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from scipy import stats
from torch import nn

from sslsec.attacks.encodermi import view_similarities
from sslsec.augment import check_images
from sslsec.profiles import AugmentConfig


@dataclass
class DatasetInferenceResult:
    """The suspect's view-similarity scores on private and public images, and the test."""

    private_score: float
    public_score: float
    t_statistic: float
    p_value: float

    @property
    def gap(self) -> float:
        """Private minus public mean score."""
        return self.private_score - self.public_score

    def flagged(self, alpha: float = 0.01) -> bool:
        return self.p_value < alpha


def dataset_inference(suspect: nn.Module, private: torch.Tensor, public: torch.Tensor,
                      augment: AugmentConfig, n_views: int = 10,
                      device: str | torch.device = "auto", seed: int = 0
                      ) -> DatasetInferenceResult:
    """Test whether ``suspect`` scores the owner's ``private`` (training) images higher than
    ``public`` images of the same distribution it was not trained on."""
    if not hasattr(suspect, "encode"):
        raise ValueError(f"suspect must have an encode method; got {type(suspect).__name__}")
    for name, x in (("private", private), ("public", public)):
        check_images(x, name=name)
        if len(x) < 2:
            raise ValueError(f"{name} needs at least 2 images; got {len(x)}")
    scores = [view_similarities(suspect, x, augment, n_views, device=device,
                                seed=seed).mean(1).numpy() for x in (private, public)]
    test = stats.ttest_ind(scores[0], scores[1], equal_var=False, alternative="greater")
    return DatasetInferenceResult(float(scores[0].mean()), float(scores[1].mean()),
                                  float(test.statistic), float(test.pvalue))
