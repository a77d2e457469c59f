"""What every chapter module shares: its settings per profile, copied; tables merged."""

from __future__ import annotations

import copy

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
