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


# --- scheduling `make test` on two workers (pytest-xdist, --dist loadgroup) -------------------

#: seconds that the slow groups take in `make test` (measured on 2 cores, 2026-12-01): the run
#: hands out the longest first, so that the two workers finish together
SLOW_GROUPS = {
    "tests/test_cross_hardware.py": 420, "chapters/06_parameter_stealing.ipynb": 240,
    "tests/test_site.py": 200, "tests/test_chapters.py": 20,
    "chapters/03_reconstruction.ipynb": 150, "chapters/09_evasion.ipynb": 140,
    "chapters/04_attribute_and_property_inference.ipynb": 120,
    "chapters/01_data_tracing.ipynb": 110, "chapters/02_membership_inference.ipynb": 90,
    "chapters/08_poisoning.ipynb": 80, "chapters/07_backdoors.ipynb": 80,
    "chapters/10_resource_depletion.ipynb": 45,
}
#: modules whose tests are independent and slow enough to spread over both workers
SPREAD = ("tests/test_assignments.py",)


def xdist_group(nodeid: str) -> str:
    """The group a test runs in: a notebook's cells, or a module's tests (they share
    module-scoped fixtures), run on one worker in order; each test of :data:`SPREAD` alone."""
    path = nodeid.split("::", 1)[0]
    return nodeid if path in SPREAD else path


def group_cost(group: str) -> float:
    return SLOW_GROUPS.get(group, 35.0 if group.startswith(SPREAD) else 0.0)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Group the items (before pytest-xdist reads the groups) and put the slowest groups first;
    the order of items within a group is kept."""
    for item in items:
        item.add_marker(pytest.mark.xdist_group(xdist_group(item.nodeid)))
    first = {}
    for i, item in enumerate(items):
        first.setdefault(xdist_group(item.nodeid), i)
    items.sort(key=lambda item: (-group_cost(xdist_group(item.nodeid)),
                                 first[xdist_group(item.nodeid)]))
