"""The book's chapters, one module each: what a chapter decides, and nothing else.

A chapter module ``chNN_<name>`` holds the chapter's settings per profile (:data:`SETTINGS`,
read with ``settings(profile)``), its checked claims (``CLAIMS``, checked with
``check(metrics, profile)``) and the set-up functions that build the chapter's world from its
settings. The methods themselves (attacks, defences) live in :mod:`sslsec.attacks` and
:mod:`sslsec.defenses`, which never import a chapter.

>>> from sslsec.chapters import ch07_backdoors as chapter
>>> chapter.settings("smoke")["trigger_size"]
4
"""

from __future__ import annotations

from types import ModuleType

from sslsec.chapters import (
    ch00_foundations,
    ch01_data_tracing,
    ch02_membership_inference,
    ch03_reconstruction,
    ch04_attribute_and_property_inference,
    ch05_hyperparameter_stealing,
    ch06_parameter_stealing,
    ch07_backdoors,
    ch08_poisoning,
    ch09_evasion,
    ch10_resource_depletion,
)

#: every chapter module, by chapter name (``"07_backdoors"``), in the book's order
CHAPTERS: dict[str, ModuleType] = {m.NAME: m for m in (
    ch00_foundations,
    ch01_data_tracing,
    ch02_membership_inference,
    ch03_reconstruction,
    ch04_attribute_and_property_inference,
    ch05_hyperparameter_stealing,
    ch06_parameter_stealing,
    ch07_backdoors,
    ch08_poisoning,
    ch09_evasion,
    ch10_resource_depletion,
)}


def module(name: str) -> ModuleType:
    """The module of chapter ``name`` (e.g. ``"07_backdoors"``)."""
    if name not in CHAPTERS:
        raise ValueError(f"chapter={name!r} is unknown; allowed: {', '.join(CHAPTERS)}")
    return CHAPTERS[name]


def settings(name: str, profile: str) -> dict:
    """Chapter ``name``'s settings in ``profile`` (a copy)."""
    if name not in CHAPTERS:
        raise ValueError(f"chapter={name!r} has no settings; allowed: {', '.join(CHAPTERS)}")
    return CHAPTERS[name].settings(profile)
