"""A chapter's claims across seeds: a committed file per chapter, shown as a table.

``python -m sslsec seeds NN --seeds 0 1 2`` runs chapter ``NN`` in the laptop profile at each
seed (:func:`sslsec.run.run_chapter`) and writes every run's metrics to
``chapters/seeds/<chapter>.json`` (:func:`record`), with the command, the date and the
processor. A seed run again replaces its earlier record; other seeds are kept, as is a
``seeds_note`` (why a file holds fewer seeds than the others). A chapter that
speaks of other seeds shows :func:`across_seeds` in a collapsed "Across seeds" block: for each
claim, its threshold, the minimum, median and maximum over the seeds, and the worst seed's
margin to the threshold.
"""

from __future__ import annotations

import datetime
import json
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

from sslsec.claims import SYMBOLS, Claim
from sslsec.data import PACKAGE_ROOT

SEEDS_DIR = PACKAGE_ROOT / "chapters" / "seeds"


def seeds_path(chapter: str, folder: Path | None = None) -> Path:
    """Where ``chapter``'s seeds file lives (``chapters/seeds/<chapter>.json``)."""
    return (folder or SEEDS_DIR) / f"{chapter}.json"


def record(chapter: str, seed: int, metrics: dict[str, float], seconds: float,
           command: str | None = None, profile: str = "laptop",
           folder: Path | None = None) -> Path:
    """Add (or replace) one seed's run of ``chapter`` in its seeds file; return the file."""
    from sslsec.zoo import hardware

    if not metrics:
        raise ValueError(f"{chapter} seed {seed}: no metrics to record (did the chapter save "
                         "its results?)")
    path = seeds_path(chapter, folder)
    data = (json.loads(path.read_text()) if path.exists()
            else {"chapter": chapter, "profile": profile, "runs": []})
    if data["profile"] != profile:
        raise ValueError(f"{path} holds the {data['profile']} profile, not {profile}")
    runs = [run for run in data["runs"] if run["seed"] != seed]
    runs.append({"seed": seed,
                 "command": command or "python -m sslsec " + " ".join(sys.argv[1:]),
                 "date": datetime.date.today().isoformat(),
                 "processor": {k: hardware()[k] for k in ("machine", "cpu", "cpu_capability",
                                                          "threads", "torch")},
                 "seconds": round(seconds, 1),
                 "metrics": {k: (float(f"{v:.6g}") if isinstance(v, float) else v)
                             for k, v in metrics.items()}})
    data["runs"] = sorted(runs, key=lambda run: run["seed"])
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1) + "\n")
    tmp.replace(path)
    return path


@dataclass(frozen=True)
class ClaimAcrossSeeds:
    """One claim over the seeds: ``margin`` is how far the worst seed clears the threshold
    (negative: it fails), in the metric's own units."""

    claim: Claim
    threshold: float | None
    values: dict[int, float]

    @property
    def worst_seed(self) -> int:
        pick = min if self.claim.op == ">=" else max
        return pick(self.values, key=self.values.__getitem__)

    @property
    def margin(self) -> float | None:
        if self.threshold is None:
            return None
        worst = self.values[self.worst_seed]
        return worst - self.threshold if self.claim.op == ">=" else self.threshold - worst

    @property
    def holds(self) -> bool | None:
        return None if self.margin is None else self.margin >= 0


@dataclass(frozen=True)
class AcrossSeeds:
    """A chapter's claims over the seeds in its seeds file."""

    chapter: str
    profile: str
    seeds: tuple[int, ...]
    claims: tuple[ClaimAcrossSeeds, ...]
    processors: tuple[str, ...]

    def get(self, metric: str) -> ClaimAcrossSeeds:
        for row in self.claims:
            if row.claim.metric == metric:
                return row
        raise KeyError(f"{self.chapter} has no claim {metric!r}")

    def table(self):
        """The table a chapter shows (a pandas DataFrame, rounded to 3 decimals)."""
        import pandas as pd

        rows = []
        for row in self.claims:
            values = list(row.values.values())
            rows.append({
                "claim": row.claim.metric,
                "threshold": ("reported" if row.threshold is None
                              else f"{SYMBOLS[row.claim.op]} {row.threshold:g}"),
                "min": min(values), "median": statistics.median(values), "max": max(values),
                "worst seed": row.worst_seed if row.threshold is not None else None,
                "margin": row.margin,
                "seeds": len(values),
            })
        return pd.DataFrame(rows).set_index("claim").round(3)

    def spread(self, metric: str, scale: float = 1.0) -> tuple[float, float]:
        """``metric``'s smallest and largest value over the seeds, times ``scale`` (100: %)."""
        values = self.get(metric).values.values()
        return scale * min(values), scale * max(values)

    def verdict(self) -> str:
        """One clause for the text: every checked claim holds at every seed, or which fail."""
        failing = [f"`{row.claim.metric}` (worst at seed {row.worst_seed}, margin "
                   f"{row.margin:.3f})" for row in self.claims if row.holds is False]
        if not failing:
            return "every checked claim holds at every seed"
        return "these claims fail at their worst seed: " + "; ".join(failing)

    def glue(self, **spreads: str | tuple[str, float]) -> None:
        """Glue what an "Across seeds" dropdown shows: ``across_seeds_table``,
        ``across_seeds_list`` and ``across_seeds_failing`` (:meth:`verdict`), and for each
        ``name=metric`` (or ``name=(metric, scale)``) ``name_lo`` and ``name_hi``."""
        from sslsec.pages import glue_values

        values: dict = {"across_seeds_table": self.table(),
                        "across_seeds_list": ", ".join(map(str, self.seeds)),
                        "across_seeds_failing": self.verdict()}
        for name, spec in spreads.items():
            metric, scale = (spec, 1.0) if isinstance(spec, str) else spec
            values[f"{name}_lo"], values[f"{name}_hi"] = self.spread(metric, scale)
        glue_values(**values)

    def __repr__(self) -> str:
        return (f"{self.chapter} across seeds {', '.join(map(str, self.seeds))} "
                f"({self.profile} profile): {len(self.claims)} claims")


def across_seeds(chapter: str, folder: Path | None = None) -> AcrossSeeds:
    """Read ``chapter``'s seeds file: each claim's values per seed, with its laptop (or the
    file's profile's) threshold. A claim missing from a run is left out of that run."""
    from sslsec.chapters import CHAPTERS

    if chapter not in CHAPTERS:
        raise ValueError(f"chapter={chapter!r} is unknown; allowed: {', '.join(CHAPTERS)}")
    path = seeds_path(chapter, folder)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: run `python -m sslsec seeds "
                                f"{chapter[:2]} --seeds 0 1 2` to make it")
    data = json.loads(path.read_text())
    runs = data["runs"]
    rows = []
    for claim in CHAPTERS[chapter].CLAIMS:
        values = {run["seed"]: float(run["metrics"][claim.metric]) for run in runs
                  if isinstance(run["metrics"].get(claim.metric), int | float)}
        if values:
            rows.append(ClaimAcrossSeeds(claim, claim.threshold(data["profile"]), values))
    processors = tuple(sorted({f"{run['processor']['cpu']} ({run['processor']['cpu_capability']})"
                               for run in runs}))
    return AcrossSeeds(chapter, data["profile"], tuple(run["seed"] for run in runs),
                       tuple(rows), processors)
