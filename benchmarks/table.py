"""The measurements table of ``benchmarks/README.md``: print it, or update it from result files.

The table between the ``<!-- table -->`` and ``<!-- /table -->`` lines of ``benchmarks/README.md``
holds the latest measurement of each figure. Three scripts here write a result file
(``--json``): ``laptop_encoder.py``, ``pretrain_throughput.py`` and ``paper_throughput.py``
(``paper_gpu.sh`` calls the last one and keeps its file as ``throughput.json``). Given such
files, this script turns each into rows, which replace the rows of the same benchmark (or are
added), and prints the table; ``--write`` writes it back into the README::

    .venv/bin/python benchmarks/table.py                       # the table as it stands
    .venv/bin/python benchmarks/table.py _build/bench/*.json --write

The date of a row is the day its file was written; its processor is ``--processor`` (default:
this machine's, from ``/proc/cpuinfo``), or the device a ``paper_throughput.py`` file names.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
from pathlib import Path

README = Path(__file__).resolve().with_name("README.md")
BEGIN, END = "<!-- table -->", "<!-- /table -->"
COLUMNS = ("benchmark", "figure", "processor", "date", "command")
PY = ".venv/bin/python benchmarks"
LAPTOP = "laptop encoder (SimCLR, 4,000 MNIST-5k images, 25 epochs)"


def this_processor() -> str:
    """This machine's processor, its widest vector unit and its cores, e.g. ``AMD EPYC,
    AVX-512 + BF16, 2 cores``."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        info = ""
    name = next((line.split(":", 1)[1].strip() for line in info.splitlines()
                 if line.startswith("model name")), "unknown CPU")
    flags = next((line.split(":", 1)[1].split() for line in info.splitlines()
                  if line.startswith("flags")), [])
    isa = ("AVX-512 + BF16" if "avx512_bf16" in flags else "AVX-512" if "avx512f" in flags
           else "AVX2" if "avx2" in flags else None)
    return ", ".join(part for part in (name, isa, f"{os.cpu_count()} cores") if part)


def _range(values: list[float], digits: int) -> str:
    low, high = f"{min(values):.{digits}f}", f"{max(values):.{digits}f}"
    return low if low == high else f"{low}–{high}"


def _rate(value: float) -> str:
    return f"{value:,.0f}"


def laptop_encoder_rows(result: list[dict]) -> list[tuple[str, str, str]]:
    """(benchmark, figure, command) rows of ``laptop_encoder.py --json``: one dict per seed."""
    seeds = [row["seed"] for row in result]
    command = f"`{PY}/laptop_encoder.py --seed {' '.join(map(str, seeds))}`"
    listed = ", ".join(map(str, seeds))

    def accuracies(key: str) -> str:
        return ", ".join(f"{100 * row[key]:.1f} %" for row in result) + f" (seeds {listed})"

    return [
        (f"{LAPTOP}: pre-training time",
         f"{_range([row['pretrain_wall_s'] for row in result], 0)} s (seeds {listed})", command),
        (f"{LAPTOP}: linear probe, held-out MNIST", accuracies("linear_probe_mnist5k"), command),
        (f"{LAPTOP}: linear probe, UCI digits", accuracies("linear_probe_digits"), command),
        (f"{LAPTOP}: second request for it (cache load)",
         f"{_range([row['cache_load_s'] for row in result], 2)} s", command),
    ]


def pretrain_throughput_rows(result: dict) -> list[tuple[str, str, str]]:
    """Rows of ``pretrain_throughput.py --json``: the whole training step, then the views alone."""
    workers = result["num_workers"]
    command = f"`{PY}/pretrain_throughput.py" + (" --num-workers 0`" if workers == 0 else
                                                  f" --num-workers {workers}`")
    rates, views = result["images_per_s"], result["views_only"]
    return [
        (f"laptop pre-training throughput, sslsec ÷ PIL transforms + DataLoader "
         f"({workers} workers)",
         f"{result['ratio']:.2f}× ({_rate(rates['sslsec'])} vs {_rate(rates['tutorial'])} "
         "images/s)", command),
        (f"the augmentation pipeline alone, sslsec ÷ PIL transforms + DataLoader "
         f"({workers} workers)",
         f"{views['ratio']:.1f}×", command),
    ]


def paper_throughput_rows(result: dict) -> list[tuple[str, str, str]]:
    """The row of ``paper_throughput.py --json`` (also ``paper_gpu.sh``'s ``throughput.json``)."""
    device = "cpu" if result["device"].startswith("cpu") else "cuda"
    return [(f"ResNet-18 SimCLR pre-training throughput, 3×32×32, batch {result['batch_size']}",
             f"{_rate(result['images_per_s'])} images/s, peak memory "
             f"{result['peak_memory_gib']} GiB",
             f"`{PY}/paper_throughput.py --device {device} --batch-size {result['batch_size']} "
             f"--steps {result['steps']}`")]


def rows_of(path: Path, processor: str) -> list[tuple[str, ...]]:
    """The table rows of one result file, recognised by its keys."""
    result = json.loads(path.read_text())
    date = datetime.date.fromtimestamp(path.stat().st_mtime).isoformat()
    if isinstance(result, list) and result and "pretrain_wall_s" in result[0]:
        made = laptop_encoder_rows(result)
    elif isinstance(result, dict) and "views_only" in result:
        made = pretrain_throughput_rows(result)
    elif isinstance(result, dict) and "seconds_per_epoch_50k" in result:
        made = paper_throughput_rows(result)
        processor = result["device"]
    else:
        raise ValueError(f"{path}: not a result file of laptop_encoder.py, "
                         "pretrain_throughput.py or paper_throughput.py")
    return [(name, figure, processor, date, command) for name, figure, command in made]


def _cells(line: str) -> tuple[str, ...]:
    # a table cell never holds "|": commands are written without pipes
    return tuple(cell.strip() for cell in line.strip().strip("|").split("|"))


def read_table(text: str) -> list[tuple[str, ...]]:
    """The rows of the table between the markers (header and rule left out)."""
    if BEGIN not in text or END not in text:
        raise ValueError(f"the README has no {BEGIN} … {END} block")
    lines = [ln for ln in text.split(BEGIN, 1)[1].split(END, 1)[0].splitlines() if ln.strip()]
    if len(lines) < 2 or _cells(lines[0]) != COLUMNS:
        raise ValueError(f"the table's columns must be {COLUMNS}")
    rows = [_cells(line) for line in lines[2:]]
    for row in rows:
        if len(row) != len(COLUMNS) or not all(row):
            raise ValueError(f"a row needs {len(COLUMNS)} filled cells: {row}")
    return rows


def format_table(rows: list[tuple[str, ...]]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def merge(rows: list[tuple[str, ...]], new: list[tuple[str, ...]]) -> list[tuple[str, ...]]:
    """``rows`` with each row of ``new`` in place of the row of the same benchmark (or added)."""
    fresh = {row[0]: row for row in new}
    merged = [fresh.pop(row[0], row) for row in rows]
    return merged + [row for row in new if row[0] in fresh]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="*", type=Path, help="result files (--json) to add")
    parser.add_argument("--processor", default=None, help="instead of this machine's")
    parser.add_argument("--readme", type=Path, default=README)
    parser.add_argument("--write", action="store_true", help="write the table into the README")
    args = parser.parse_args(argv)
    text = args.readme.read_text()
    processor = args.processor or this_processor()
    try:
        rows = read_table(text)
        for path in args.results:
            rows = merge(rows, rows_of(path, processor))
    except (ValueError, OSError, KeyError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    table = format_table(rows)
    print(table)
    if args.write:
        head, rest = text.split(BEGIN, 1)
        args.readme.write_text(f"{head}{BEGIN}\n{table}\n{END}{rest.split(END, 1)[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
