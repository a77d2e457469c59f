"""What each chapter claims, checked on its own results, per profile.

A chapter's results cell calls :func:`check`: if the phenomenon it teaches vanishes (a change
in the code, another seed), the notebook fails with a readable message. ``smoke`` only checks
that every claimed metric exists and is a finite number; ``laptop`` and ``paper`` check
thresholds. A chapter's claims and their thresholds live in its module's ``CLAIMS``
(:mod:`sslsec.chapters`); this module holds the checking machinery.

:func:`check` returns a :class:`ClaimReport`, shown in the notebook as the table "What this
chapter shows". Its stored output must not depend on the processor: a measured value moves in
its third decimal between CPUs (AVX2 or AVX-512 kernels sum in another order) and thread
counts, so the stored-output comparison masks the "measured" column
(``tests/nbval_sanitize.cfg``, :data:`MEASURED_PATTERN`) and compares the rest: which claims
hold, their thresholds, and the values of claims marked ``stable`` (fixed by the chapter's
settings, printed with a dagger and never masked).
"""

from __future__ import annotations

import json
import math
import os
import resource
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sslsec.profiles import PROFILES


@dataclass(frozen=True)
class Claim:
    """``metric op threshold`` per profile (``None``: reported, not checked, in that profile)."""

    metric: str
    op: str
    laptop: float | None
    paper: float | None
    why: str
    stable: bool = False  # the value is fixed by the settings, not by floating-point results

    def threshold(self, profile: str) -> float | None:
        return {"laptop": self.laptop, "paper": self.paper}.get(profile)


OPS = {">=": lambda a, b: a >= b, "<=": lambda a, b: a <= b}

class ClaimError(AssertionError):
    """A chapter's claim does not hold for its results."""


SYMBOLS = {">=": "≥", "<=": "≤"}
STABLE_MARK = "†"
# A measured (not stable) value: the last cell of a row of the report's table. The
# stored-output comparison replaces it (tests/nbval_sanitize.cfg holds the same pattern).
MEASURED_PATTERN = r"(?m)\| -?[0-9][0-9.]*(?:e[-+]?[0-9]+)? \|$"


@dataclass(frozen=True)
class ClaimRow:
    """One claim of a report: ``limit`` is ``None`` where the profile only reports it."""

    claim: Claim
    value: float
    limit: float | None

    @property
    def status(self) -> str:
        return "reported" if self.limit is None else "holds"

    def measured(self) -> str:
        return f"{self.value:.4g}"

    def line(self) -> str:
        if self.limit is None:
            return f"{self.claim.metric} = {self.value:.4g} (reported, not checked)"
        return (f"ok  {self.claim.metric} = {self.value:.4g} {self.claim.op} {self.limit}: "
                f"{self.claim.why}")


@dataclass(frozen=True)
class ClaimReport:
    """The checked claims of one chapter: a table in a notebook, lines in a terminal."""

    chapter: str
    profile: str
    rows: tuple[ClaimRow, ...]

    def __len__(self) -> int:
        return len(self.rows)

    def lines(self) -> list[str]:
        return [row.line() for row in self.rows]

    def __repr__(self) -> str:  # text/plain: what holds, never a measured value
        held = sum(row.status == "holds" and not row.claim.stable for row in self.rows)
        settings = sum(row.status == "holds" and row.claim.stable for row in self.rows)
        reported = sum(row.status == "reported" for row in self.rows)
        return (f"What this chapter shows ({self.profile} profile): {held} claims checked, "
                f"all hold; {reported} reported"
                + (f"; {settings} settings checked" if settings else ""))

    def _repr_markdown_(self) -> str:
        """The findings (measured claims) as a table; then the settings that the chapter
        checks (claims marked ``stable``: fixed before the run, so not findings) apart."""
        head = ["| | claim (metric) | threshold | measured |", "|---|---|---|---|"]
        body = []
        for row in self.rows:
            if row.claim.stable:
                continue
            mark = "✓" if row.status == "holds" else "·"
            limit = ("reported" if row.limit is None
                     else f"{SYMBOLS[row.claim.op]} {row.limit:g}")
            why = row.claim.why.replace("|", "\\|")
            body.append(f"| {mark} | {why} (`{row.claim.metric}`) | {limit} | {row.measured()} |")
        notes = ["", "✓ checked and holds; · reported, not checked in this profile"]
        settings = [f"- `{row.claim.metric}` = {row.value:g} "
                    f"({SYMBOLS[row.claim.op]} {row.limit:g}"
                    f"{'' if row.limit is not None else ' reported'}): "
                    f"{row.claim.why.removeprefix('... ')}"
                    for row in self.rows if row.claim.stable and row.limit is not None]
        if settings:
            notes += ["", f"{STABLE_MARK} The chapter's settings, checked before the results "
                          "are read (they are chosen, not found):", *settings]
        return "\n".join(head + body + notes)


def check(chapter: str, chapter_claims: Sequence[Claim], metrics: dict[str, float],
          profile: str) -> ClaimReport:
    """Check ``chapter``'s claims on ``metrics``; return the report, raise on failure. (A
    chapter module's own ``check(metrics, profile)`` passes its ``CLAIMS``.)"""
    if not chapter_claims:
        raise ValueError(f"chapter={chapter!r} has no claims to check")
    if profile not in PROFILES:
        raise ValueError(f"profile={profile!r} is unknown; allowed: {', '.join(PROFILES)}")
    rows, failures = [], []
    for claim in chapter_claims:
        value = metrics.get(claim.metric)
        if not isinstance(value, int | float) or not math.isfinite(value):
            failures.append(f"{claim.metric}: missing or not a finite number ({value!r})")
            continue
        limit = claim.threshold(profile)
        if limit is None or OPS[claim.op](value, limit):
            rows.append(ClaimRow(claim, value, limit))
        else:
            failures.append(f"{claim.metric} = {value:.4g}, expected {claim.op} {limit}: "
                            f"{claim.why}")
    if failures:
        raise ClaimError(f"{chapter} ({profile} profile): claim(s) failed:\n  "
                         + "\n  ".join(failures))
    return ClaimReport(chapter, profile, tuple(rows))


def peak_memory_mb() -> float:
    """Peak resident memory of this process (MB)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024**2 if sys.platform == "darwin" else peak / 1024


def save_results(chapter: str, metrics: dict[str, float], profile: str, seed: int,
                 folder: str | Path | None = None) -> Path:
    """Write ``<folder>/<chapter>.json`` (default ``$SSLSEC_RESULTS`` or ``_build/results``)
    with the metrics, the profile, the seed and the kernel's peak memory."""
    folder = Path(folder or os.environ.get("SSLSEC_RESULTS", "_build/results"))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{chapter}.json"
    payload = {"chapter": chapter, "profile": profile, "seed": seed,
               "peak_memory_mb": round(peak_memory_mb(), 1),
               "metrics": {k: (float(f"{v:.6g}") if isinstance(v, float) else v)
                           for k, v in metrics.items()}}
    path.write_text(json.dumps(payload, indent=2))
    return path
