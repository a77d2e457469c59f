"""Nullspace projection of a sensitive attribute (INLP, Ravfogel et al., ACL 2020).

A post-processing defence for an encoder service: the provider, who can label its own images
with the attribute, repeatedly fits a linear classifier (ridge: closed form, fast) from
standardised features to the attribute and projects the features onto the nullspace of its
weights. After ``k`` rounds no linear classifier finds the attribute in the removed directions;
the remaining directions still carry what the attribute does not explain, e.g. the class. The
service then returns the projected features: :class:`ProjectedEncoder` is an encoder like any
other.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.linear_model import RidgeClassifier
from torch import nn

from sslsec.augment import check_images
from sslsec.downstream import extract_features


class ProjectedEncoder(nn.Module):
    """``encoder``'s features, standardised with ``mean``/``std`` and multiplied by the
    projection matrix ``projection`` (D, D)."""

    def __init__(self, encoder: nn.Module, mean: torch.Tensor, std: torch.Tensor,
                 projection: torch.Tensor) -> None:
        super().__init__()
        self.encoder = encoder
        self.register_buffer("mean", mean.float())
        self.register_buffer("std", std.float())
        self.register_buffer("projection", projection.float())
        self.in_channels = getattr(encoder, "in_channels", None)
        self.feature_dim = projection.shape[1]

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return ((self.encoder.encode(x).float() - self.mean) / self.std) @ self.projection

    forward = encode

    @property
    def removed_dims(self) -> int:
        """How many feature directions the projection removes."""
        return self.feature_dim - int(torch.linalg.matrix_rank(self.projection))


def nullspace_projection(encoder: nn.Module, x: torch.Tensor, attribute: torch.Tensor,
                         n_iterations: int = 20,
                         device: str | torch.device = "auto") -> ProjectedEncoder:
    """Fit ``n_iterations`` rounds of INLP on the features of ``x`` (the provider's own images)
    labelled with ``attribute`` (one integer level per image). ``n_iterations=0`` gives the
    standardised features unchanged."""
    check_images(x, name="x")
    attribute = np.asarray(attribute)
    if attribute.shape != (len(x),):
        raise ValueError(f"attribute must hold one level per image: {attribute.shape} for "
                         f"{len(x)} images")
    if len(np.unique(attribute)) < 2:
        raise ValueError("attribute must hold at least two levels")
    if not isinstance(n_iterations, int) or isinstance(n_iterations, bool) or n_iterations < 0:
        raise ValueError(f"n_iterations={n_iterations!r} must be an integer >= 0")
    features = extract_features(encoder, x, device=device).double().numpy()
    mean, std = features.mean(0), features.std(0) + 1e-6
    z = (features - mean) / std
    dim = z.shape[1]
    projection = np.eye(dim)
    for _ in range(n_iterations):
        weights = np.atleast_2d(  # (levels, D), or (1, D) for two levels
            RidgeClassifier(alpha=1.0).fit(z @ projection, attribute).coef_)
        basis, _ = np.linalg.qr(weights.T)
        projection = projection @ (np.eye(dim) - basis @ basis.T)
    return ProjectedEncoder(encoder, torch.from_numpy(mean), torch.from_numpy(std),
                            torch.from_numpy(projection)).eval()
