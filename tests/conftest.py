"""Shared fixtures: tiny real image sets and an isolated encoder cache."""

from __future__ import annotations

import pytest

from sslsec.data import load_dataset
from sslsec.profiles import get_profile


@pytest.fixture(scope="session")
def mnist():
    return load_dataset("mnist5k")


@pytest.fixture(scope="session")
def digits():
    return load_dataset("digits")


@pytest.fixture
def smoke():
    return get_profile("smoke", device="cpu")


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    """Every test writes encoders into its own cache, never into data/cache."""
    monkeypatch.setenv("SSLSEC_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"
