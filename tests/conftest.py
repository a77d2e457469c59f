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


# --- scheduling `make test` on two workers (pytest-xdist, --dist loadscope) ------------------

#: seconds that the slow modules and notebooks take in `make test` (measured on 2 cores,
#: 2026-12-01; chapter 06 and the assignments 2026-12-07): with --no-loadscope-reorder the
#: workers take them in collection order, so the longest go first and the two workers finish
#: together
SLOW_SCOPES = {
    "chapters/06_parameter_stealing.ipynb": 400, "tests/test_assignments.py": 350,
    "tests/test_cross_hardware.py": 250, "tests/test_site.py": 200,
    "chapters/03_reconstruction.ipynb": 150, "chapters/09_evasion.ipynb": 140,
    "chapters/04_attribute_and_property_inference.ipynb": 120,
    "chapters/01_data_tracing.ipynb": 110, "chapters/02_membership_inference.ipynb": 90,
    "chapters/08_poisoning.ipynb": 80, "chapters/07_backdoors.ipynb": 80,
    "tests/test_distributed.py": 50,
    "chapters/10_resource_depletion.ipynb": 45,
}


def pytest_collection_modifyitems(config, items):
    """The slowest modules and notebooks first; the order within each is kept."""
    def scope(item):
        return item.nodeid.split("::", 1)[0]

    first = {}
    for i, item in enumerate(items):
        first.setdefault(scope(item), i)
    items.sort(key=lambda item: (-SLOW_SCOPES.get(scope(item), 0), first[scope(item)]))
