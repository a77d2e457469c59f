"""What every chapter module shares: its settings per profile, copied; tables merged; its
``settings`` and ``check`` functions."""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence

from sslsec import claims
from sslsec.claims import Claim, ClaimReport
from sslsec.profiles import PROFILES


def copied_settings(table: dict[str, dict], profile: str) -> dict:
    """``table[profile]`` (a deep copy: a chapter may change its own copy freely)."""
    if profile not in table:
        raise ValueError(f"profile={profile!r} is unknown; allowed: {', '.join(table)}")
    return copy.deepcopy(table[profile])


def merged(*tables: dict[str, dict]) -> dict[str, dict]:
    """One flat table per profile from the tables of a chapter's parts (their keys must not
    collide)."""
    out: dict[str, dict] = {}
    for profile in PROFILES:
        out[profile] = {}
        for table in tables:
            clash = set(out[profile]) & set(table[profile])
            if clash:
                raise ValueError(f"settings {sorted(clash)} are set twice in profile "
                                 f"{profile!r}")
            out[profile].update(table[profile])
    return out


def chapter_functions(name: str, table: dict[str, dict], chapter_claims: Sequence[Claim]
                      ) -> tuple[Callable[[str], dict],
                                 Callable[[dict[str, float], str], ClaimReport]]:
    """Chapter ``name``'s ``settings(profile)`` (a copy of ``table[profile]``) and
    ``check(metrics, profile)`` (``chapter_claims``, see :func:`sslsec.claims.check`)."""

    def settings(profile: str) -> dict:
        """The chapter's settings in ``profile`` (a copy)."""
        return copied_settings(table, profile)

    def check(metrics: dict[str, float], profile: str) -> ClaimReport:
        """Check the chapter's claims on its ``metrics`` (see :func:`sslsec.claims.check`)."""
        return claims.check(name, chapter_claims, metrics, profile)

    return settings, check
