"""The chapter modules: one per chapter, each with its settings, claims and set-up functions."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import torch

from sslsec import chapters, claims
from sslsec.chapters import CHAPTERS
from sslsec.claims import Claim
from sslsec.profiles import PROFILES, get_profile

PACKAGE = Path(chapters.__file__).resolve().parents[1]
NAMES = ["00_foundations", "01_data_tracing", "02_membership_inference", "03_reconstruction",
         "04_attribute_and_property_inference", "05_hyperparameter_stealing",
         "06_parameter_stealing", "07_backdoors", "08_poisoning", "09_evasion",
         "10_resource_depletion"]


def test_the_registry_holds_the_books_chapters_in_order():
    assert list(CHAPTERS) == NAMES
    for name, mod in CHAPTERS.items():
        assert mod.__name__ == f"sslsec.chapters.ch{name}"
        assert chapters.module(name) is mod


@pytest.mark.parametrize("name", NAMES)
def test_every_chapter_module_has_its_parts(name):
    mod = CHAPTERS[name]
    assert mod.NAME == name
    assert (mod.__doc__ or "").strip(), "one paragraph: the book's problem, what it decides"
    assert set(mod.SETTINGS) == {"smoke", "laptop", "paper", "papersmoke"} == set(PROFILES)
    assert all(isinstance(s, dict) for s in mod.SETTINGS.values())
    assert mod.CLAIMS and all(isinstance(c, Claim) for c in mod.CLAIMS)
    metrics = [c.metric for c in mod.CLAIMS]
    assert len(set(metrics)) == len(metrics), "a metric is claimed twice"
    for profile in PROFILES:
        assert mod.settings(profile) == mod.SETTINGS[profile]
        assert chapters.settings(name, profile) == mod.SETTINGS[profile]


@pytest.mark.parametrize("name", NAMES)
def test_settings_are_a_copy(name):
    mod = CHAPTERS[name]
    before = repr(mod.SETTINGS)
    for copy in (mod.settings("laptop"), chapters.settings(name, "laptop")):
        copy["added"] = 1
        for value in copy.values():
            if isinstance(value, list):
                value.append("changed")
            elif isinstance(value, dict):
                value["changed"] = True
    assert repr(mod.SETTINGS) == before


def test_smoke_metrics_check_through_the_chapter_module():
    for name, mod in CHAPTERS.items():
        metrics = {c.metric: 0.5 for c in mod.CLAIMS}
        report = mod.check(metrics, "smoke")
        assert report.chapter == name and len(report) == len(mod.CLAIMS)
        assert report == claims.check(name, mod.CLAIMS, metrics, "smoke")


def test_merged_chapters_keep_both_parts():
    stealing = chapters.settings("06_parameter_stealing", "laptop")
    assert {"budgets", "defences", "independent", "embed"} <= set(stealing)
    poisoning = chapters.settings("08_poisoning", "laptop")
    assert {"n_pairs", "collage_rate", "epsilon", "rounds", "filter"} <= set(poisoning)
    metrics = [c.metric for c in CHAPTERS["08_poisoning"].CLAIMS]
    assert metrics.index("defence_accuracy_cost_max") < metrics.index("clean_accuracy")


def test_merging_refuses_colliding_settings():
    from sslsec.chapters._common import merged

    table = {p: {"epochs": 1} for p in PROFILES}
    with pytest.raises(ValueError, match=r"\['epochs'\] are set twice"):
        merged(table, table)


def test_unknown_chapter_or_profile_names_the_allowed_ones():
    with pytest.raises(ValueError, match="chapter='99_nothing' has no settings; allowed: "
                       "00_foundations, 01_data_tracing, 02_membership_inference"):
        chapters.settings("99_nothing", "laptop")
    with pytest.raises(ValueError, match="chapter='11_nothing' is unknown; allowed: "
                       "00_foundations, 01_data_tracing"):
        chapters.module("11_nothing")
    with pytest.raises(ValueError, match="profile='desktop' is unknown; allowed: smoke, "
                       "laptop, paper"):
        chapters.settings("07_backdoors", "desktop")
    with pytest.raises(ValueError, match="profile='desktop' is unknown; allowed: smoke"):
        CHAPTERS["09_evasion"].settings("desktop")
    with pytest.raises(ValueError, match="chapter='01_membership_inference' has no claims"):
        claims.check("01_membership_inference", [], {}, "smoke")
    with pytest.raises(ValueError, match="profile='desktop' is unknown; allowed: smoke"):
        claims.check("09_evasion", CHAPTERS["09_evasion"].CLAIMS, {}, "desktop")


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


@pytest.mark.parametrize("path", sorted((PACKAGE / "attacks").glob("*.py"))
                         + sorted((PACKAGE / "defenses").glob("*.py")), ids=lambda p: p.stem)
def test_methods_never_import_a_chapter(path):
    """Attacks and defences sit on a floor below the chapters: they take a chapter's values
    as arguments and never read them."""
    bad = {m for m in imported_modules(path)
           if m == "sslsec.chapters" or m.startswith("sslsec.chapters.")
           or m in ("sslsec.claims", "sslsec.viz", "sslsec.run")}
    assert not bad, f"{path.name} imports {sorted(bad)}"


def test_readers_see_no_issue_tracker_words_in_claims():
    for name, mod in CHAPTERS.items():
        for claim in mod.CLAIMS:
            assert "issue" not in claim.why.lower(), (name, claim.metric)
            assert " CI" not in claim.why and "bar" not in claim.why.split(), (name, claim.metric)


@pytest.mark.slow
def test_pretraining_images_setup_draws_disjoint_pools():
    """Members and non-members are chapter 02's pools; the attacker's images are the rest."""
    from sslsec.chapters.ch02_membership_inference import membership_setup
    from sslsec.chapters.ch03_reconstruction import pretraining_images_setup

    smoke = get_profile("smoke", device="cpu")
    world = pretraining_images_setup(smoke, seed=0, progress=False)
    leaky = membership_setup(smoke, seed=0, progress=False)
    assert torch.equal(world.members.x, leaky.parts["member"].x)
    assert torch.equal(world.nonmembers.x, leaky.parts["nonmember"].x)
    rows = {tuple(r.tolist()) for part in leaky.parts.values() for r in part.x.flatten(1)}
    assert not any(tuple(r.tolist()) in rows for r in world.aux.x.flatten(1))
    from sslsec.data import pools

    total = len(pools(smoke.pretrain_dataset, seed=0)["train"])
    assert len(world.aux) + sum(len(p) for p in leaky.parts.values()) == total


@pytest.mark.parametrize("profile", list(PROFILES))
def test_settings_name_only_datasets_and_encoders_of_their_profile(profile):
    """The backdoors' tasks are the profile's downstream datasets and their clean encoders are
    the standard one or chapter 06's independent ones (named after the pre-training dataset
    or the profile's ``other_dataset``); chapter 03's and 04's attributes suit its images."""
    from sslsec.attacks.attribute_inference import ATTRIBUTES
    from sslsec.data import dataset_info

    p = get_profile(profile)
    backdoors = chapters.settings("07_backdoors", profile)
    roles = {"same": p.pretrain_dataset, "other": p.other_dataset}
    plan = chapters.settings("06_parameter_stealing", profile)["independent"]
    independent = {f"{roles[role]}, seed {s}" for role, s in plan}
    for task, *_ in backdoors["main"]:
        assert task in p.downstream_datasets
    for clean, task, *_ in backdoors["population"]:
        assert clean in independent | {"standard"}, clean
        assert task in p.downstream_datasets
    colour = dataset_info(p.pretrain_dataset).channels == 3
    for chapter in ("03_reconstruction", "04_attribute_and_property_inference"):
        attribute = chapters.settings(chapter, profile)["attribute"]
        assert attribute in ATTRIBUTES
        assert not (colour and attribute in ("thickness", "slant")), (chapter, attribute)
    assert p.other_dataset != p.pretrain_dataset
    assert dataset_info(p.other_dataset).channels == dataset_info(p.pretrain_dataset).channels
