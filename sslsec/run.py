"""Run chapters with papermill: ``python -m sslsec run NN|all --profile P --seed S``.

Executed notebooks go to ``_build/executed/``, results JSON to ``_build/results/``, and a table
(chapter, seconds, peak memory, headline metrics) is printed. A failing cell fails the run and
names the chapter and the cell. ``--store`` writes the executed notebooks back into
``chapters/``, stripped of papermill metadata, timestamps and the injected-parameters cell
(this is how the committed outputs are made: ``make chapters``). ``--jobs N`` runs N chapters
at a time, each kernel on one thread (for smoke runs: trained weights depend on the thread
count, so stored outputs come from one chapter at a time on the default threads).
``python -m sslsec book`` runs every chapter and builds the site of that run in
``_build/reader/`` (``make book``), leaving the stored ``chapters/`` untouched.
``python -m sslsec seeds NN --seeds 0 1 2`` runs a chapter at several seeds and records its
claims' values in ``chapters/seeds/`` (:mod:`sslsec.seeds`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from queue import Empty

import nbformat
from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.channels import AsyncZMQSocketChannel
from traitlets import Type

from sslsec.checks import positive_ints
from sslsec.data import PACKAGE_ROOT
from sslsec.pretrain import METHODS
from sslsec.profiles import DEVICES, PROFILES, get_profile

CHAPTERS_DIR = PACKAGE_ROOT / "chapters"
BUILD_DIR = PACKAGE_ROOT / "_build"
ASSIGNMENTS_DIR = PACKAGE_ROOT / "assignments"  # otter-grader master notebooks, one a chapter
EXERCISES_DIR = PACKAGE_ROOT / "exercises"  # generated student notebooks, shown in the book


def chapter_paths() -> list[Path]:
    """The chapter notebooks, in order (``chapters/NN_*.ipynb``)."""
    return sorted(p for p in CHAPTERS_DIR.glob("[0-9][0-9]_*.ipynb"))


def select(selector: str) -> list[Path]:
    """``all``, a number (``0``, ``00``) or a chapter name (``00_foundations``)."""
    paths = chapter_paths()
    if selector == "all":
        return paths
    for p in paths:
        if selector in (p.stem, p.stem[:2]) or (selector.isdigit() and int(selector) ==
                                                 int(p.stem[:2])):
            return [p]
    raise ValueError(f"chapter={selector!r} is unknown; allowed: all, "
                     + ", ".join(p.stem for p in paths))


class ChapterFailed(RuntimeError):
    """A chapter's cell raised: the message names the chapter and the cell."""


@dataclass
class RunRecord:
    chapter: str
    seconds: float
    peak_memory_mb: float | None
    metrics: dict = field(default_factory=dict)


def run_chapters(paths: list[Path], profile: str = "laptop", seed: int = 0,
                 device: str = "auto", store: bool = False, jobs: int = 1,
                 on_start=None, on_done=None) -> list[RunRecord]:
    """Run ``paths`` in order (``jobs=1``) or ``jobs`` at a time in worker processes, each
    kernel on one thread. ``on_start(path)`` is called as each starts (in order only: a
    worker's start is not seen here), ``on_done(record)`` as each ends. The first failure
    raises ``ChapterFailed`` (running chapters finish; queued ones are cancelled). Records
    come back in the order of ``paths``."""
    positive_ints(jobs=jobs)
    if jobs > 1 and store:
        raise ValueError("store=True needs jobs=1: weights depend on the thread count, and the "
                         "stored outputs must match what nbval re-runs")
    if jobs == 1:
        records = []
        for path in paths:
            if on_start:
                on_start(path)
            records.append(run_chapter(path, profile, seed, device, store=store))
            if on_done:
                on_done(records[-1])
        return records
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {pool.submit(run_chapter, path, profile, seed, device, threads=1): path
                   for path in paths}
        try:
            for future in as_completed(futures):
                if on_done:
                    on_done(future.result())
        except ChapterFailed:
            for f in futures:
                f.cancel()
            raise
        return [f.result() for f in futures]


def strip(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Remove papermill metadata, execution timestamps and the injected-parameters cell."""
    nb.metadata.pop("papermill", None)
    nb.cells = [c for c in nb.cells if "injected-parameters" not in c.metadata.get("tags", [])]
    count = 0
    for cell in nb.cells:
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
        if cell.cell_type == "code":
            if cell.get("execution_count") is not None or cell.outputs:
                count += 1
                cell.execution_count = count
                for out in cell.outputs:
                    if "execution_count" in out:
                        out["execution_count"] = count
    return nb


@contextmanager
def _environ(values: dict[str, str]):
    before = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _thread_env(threads: int | None) -> dict[str, str]:
    """The environment that caps a child process's CPU threads (empty: no cap)."""
    if threads is None:
        return {}
    positive_ints(threads=threads)
    return {"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}


#: The longest a cell may run, by profile, before the chapter fails naming the cell (none where
#: absent): a smoke cell takes seconds, so one that runs for minutes is stuck, not slow.
CELL_TIMEOUT_S = {"smoke": 300, "papersmoke": 900}


class PatientChannel(AsyncZMQSocketChannel):
    """A kernel channel that waits for a message in one-second polls instead of one long one.

    nbclient waits for a cell's reply with a single poll of the socket; when the event loop
    misses the socket's wake-up (which a cell that opens widgets can provoke,
    jupyter/nbclient#312), that poll never returns although the reply sits in the socket, and
    kernel and runner wait for each other forever. A fresh poll finds the waiting message, so
    a missed wake-up costs at most a second."""

    async def get_msg(self, timeout: float | None = None) -> dict:  # type: ignore[override]
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = 1.0 if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                return await super().get_msg(timeout=min(1.0, left))
            except Empty:
                if deadline is not None and time.monotonic() >= deadline:
                    raise


class PatientKernelClient(AsyncKernelClient):
    """The chapter runner's kernel client: :class:`PatientChannel` for replies and outputs."""

    shell_channel_class = Type(PatientChannel)
    iopub_channel_class = Type(PatientChannel)


def _kernel_config(client_class: str | None = "sslsec.run.PatientKernelClient"):
    """The kernel manager's settings for one kernel: its channels are Unix sockets under a name
    of its own (``transport="ipc"``), not TCP ports found by binding and releasing port 0 —
    two kernels started at once in different processes can be handed the same port, and a
    client then talks to a kernel that is not its own and waits forever. (The name must be
    given: ipc's default, ``kernel-ipc`` in the working directory, is shared too.) The client
    is ``client_class`` (``None``: the manager's own, e.g. nbval's blocking one)."""
    import tempfile
    import uuid

    from traitlets.config import Config

    name = Path(tempfile.gettempdir()) / f"sslsec-kernel-{uuid.uuid4().hex[:12]}"
    settings = {"transport": "ipc", "ip": str(name)}
    if client_class is not None:
        settings["client_class"] = client_class
    return Config({"KernelManager": settings})


def run_chapter(path: Path, profile: str = "laptop", seed: int = 0, device: str = "auto",
                build_dir: Path = BUILD_DIR, store: bool = False,
                threads: int | None = None) -> RunRecord:
    """Execute one chapter with papermill; return its record (raise ``ChapterFailed``).
    ``threads`` caps the kernel's CPU threads (default: torch's own choice). The kernel's
    environment is set in this process's ``os.environ``: run chapters side by side in
    processes, never threads (a results file from another run is refused)."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    if profile not in PROFILES:
        raise ValueError(f"profile={profile!r} is unknown; allowed: {', '.join(PROFILES)}")
    if device not in DEVICES:
        raise ValueError(f"device={device!r} is unknown; allowed: {', '.join(DEVICES)}")
    if store and profile != "laptop":
        raise ValueError("store=True keeps laptop-profile outputs only; use profile='laptop'")
    executed, results = build_dir / "executed", build_dir / "results"
    executed.mkdir(parents=True, exist_ok=True)
    results.mkdir(parents=True, exist_ok=True)
    (results / f"{path.stem}.json").unlink(missing_ok=True)
    out = executed / path.name
    # The kernel inherits these: results go to the build folder; no progress bars are stored.
    kernel_env = {"SSLSEC_RESULTS": str(results.resolve()), "SSLSEC_PROGRESS": "0"}
    kernel_env |= _thread_env(threads)
    start = time.perf_counter()
    try:
        with _environ(kernel_env):
            papermill.execute_notebook(
                str(path), str(out),
                parameters={"PROFILE": profile, "SEED": seed, "DEVICE": device},
                kernel_name="python3", cwd=str(path.parent), progress_bar=False,
                execution_timeout=CELL_TIMEOUT_S.get(profile), config=_kernel_config(),
                # the kernel's own start-up notices (e.g. "running over TCP without
                # encryption" on this local, loopback-only kernel) are not the reader's concern
                extra_arguments=["--IPKernelApp.log_level=ERROR"],
            )
    except PapermillExecutionError as err:
        raise ChapterFailed(f"chapter {path.stem} failed in cell {err.exec_count} "
                            f"(cell index {err.cell_index}): {err.ename}: {err.evalue}") from err
    except TimeoutError as err:  # nbclient's CellTimeoutError, or the kernel never started
        raise ChapterFailed(f"chapter {path.stem} timed out ({profile} profile): {err}") from err
    seconds = time.perf_counter() - start
    result_file = results / f"{path.stem}.json"
    payload = json.loads(result_file.read_text()) if result_file.exists() else {}
    if payload and (payload.get("profile"), payload.get("seed")) != (profile, seed):
        raise ChapterFailed(f"chapter {path.stem}: {result_file} holds the results of profile "
                            f"{payload.get('profile')!r}, seed {payload.get('seed')}, not of "
                            f"this run ({profile!r}, seed {seed})")
    if store:
        nb = strip(nbformat.read(out, as_version=4))
        nbformat.write(nb, path)
    return RunRecord(path.stem, seconds, payload.get("peak_memory_mb"), payload.get("metrics", {}))


def stage_book(out: Path, executed: Path = BUILD_DIR / "executed") -> list[str]:
    """Copy the book's sources into ``out`` for a site of one's own run: the chapter notebooks
    come from ``executed`` (stripped) where a run left them, the rest as stored; ``chapters/``
    is left untouched. Returns the chapters taken from the run."""
    import shutil

    shutil.rmtree(out, ignore_errors=True)
    (out / "chapters").mkdir(parents=True)
    for name in ("jupyter-book.yml", "_toc.yml"):
        shutil.copy(PACKAGE_ROOT / name, out / name)
    if EXERCISES_DIR.exists():
        shutil.copytree(EXERCISES_DIR, out / "exercises")
    fresh = []
    for src in sorted(CHAPTERS_DIR.iterdir()):
        if src.suffix == ".ipynb" and (executed / src.name).exists():
            nbformat.write(strip(nbformat.read(executed / src.name, as_version=4)),
                           out / "chapters" / src.name)
            fresh.append(src.stem)
        elif src.is_file():
            shutil.copy(src, out / "chapters" / src.name)
    return fresh


def build_site(source: Path = PACKAGE_ROOT) -> Path:
    """Build the book in ``source`` with Jupyter Book (no execution; warnings are errors);
    return the folder of its HTML."""
    import subprocess

    jb = Path(sys.executable).parent / "jupyter-book"
    proc = subprocess.run([str(jb), "build", str(source), "--config",
                           str(source / "jupyter-book.yml"), "--toc", str(source / "_toc.yml"),
                           "-W", "--keep-going"], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"jupyter-book build failed:\n{proc.stdout[-3000:]}"
                           f"{proc.stderr[-3000:]}")
    return source / "_build" / "html"


# --- classroom assignments (otter-grader) ------------------------------------------------------

@dataclass
class Assignment:
    """What ``otter assign`` made of one master notebook."""

    name: str
    student: Path
    solution: Path
    autograder: Path


def refers_to(fn, *functions) -> bool:
    """Whether ``fn`` names one of ``functions`` among its globals: the hidden tests' check that
    a student wrote the core instead of calling the library's."""
    return any(fn.__globals__.get(name) in functions for name in fn.__code__.co_names)


#: seconds ``otter run`` may take before it counts as stuck (a smoke grading takes under a
#: minute on two cores; a laptop one a few)
GRADE_TIMEOUT_S = 1800


def master_paths() -> list[Path]:
    """The otter-grader master notebooks (``assignments/NN_*.ipynb``)."""
    return sorted(ASSIGNMENTS_DIR.glob("[0-9][0-9]_*.ipynb"))


def _otter() -> str:
    return str(Path(sys.executable).parent / "otter")


def assign(master: Path, out_dir: Path | None = None, run_tests: bool = False,
           publish: bool = True) -> Assignment:
    """``otter assign`` one master into ``<out_dir>/<name>/{student,autograder}``; with
    ``publish`` the student notebook is also copied to ``exercises/`` for the book. It runs in
    this process (otter's import alone takes several seconds: once, not once per master)."""
    import contextlib
    import io
    import shutil

    from otter.assign import main as otter_assign

    out = (out_dir or BUILD_DIR / "assignments") / master.stem
    shutil.rmtree(out, ignore_errors=True)
    log = io.StringIO()
    try:
        with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
            otter_assign(str(master), str(out), no_run_tests=not run_tests)
    except Exception as err:
        raise RuntimeError(f"otter assign failed for {master.name}:\n{log.getvalue()[-2000:]}"
                           ) from err
    zips = sorted((out / "autograder").glob("*.zip"))
    if not zips:
        raise RuntimeError(f"otter assign made no autograder zip for {master.name}")
    result = Assignment(master.stem, out / "student" / master.name,
                        out / "autograder" / master.name, zips[-1])
    if publish:
        EXERCISES_DIR.mkdir(exist_ok=True)
        shutil.copy(result.student, EXERCISES_DIR / master.name)
    return result


def grade(notebook: Path, autograder: Path, out_dir: Path,
          threads: int | None = None) -> dict[str, tuple[float, float]]:
    """Grade a notebook locally with ``otter run`` (no Docker): ``{question: (score, max)}``.
    ``threads`` caps the notebook's CPU threads (e.g. 1 when two gradings run side by side)."""
    import subprocess

    out_dir.mkdir(parents=True, exist_ok=True)
    env = os.environ.copy() | _thread_env(threads)
    proc = subprocess.run([_otter(), "run", "--no-logo", "-a", str(autograder), "-o",
                           str(out_dir), str(notebook)], capture_output=True, text=True,
                          env=env, timeout=GRADE_TIMEOUT_S)
    results = out_dir / "results.json"
    if proc.returncode != 0 or not results.exists():
        raise RuntimeError(f"otter run failed for {notebook}:\n{proc.stdout[-2000:]}"
                           f"{proc.stderr[-2000:]}")
    tests = json.loads(results.read_text())["tests"]
    return {t["name"]: (float(t["score"] or 0), float(t["max_score"]))
            for t in tests if t.get("max_score") is not None}


#: Chapters whose every laptop encoder is shipped: each trains several encoders of its own
#: (chapter 01's trainers, copies and defended trainers; 40 property-inference encoders and two
#: adversarially trained ones; chapter 05's 36 shadow and victim encoders of four recipes;
#: chapter 06's stolen, pruned and fine-tuned copies and the attacker's own SimCLR baselines;
#: eight backdoored; six targeted-poisoned and seven availability victims after two poison
#: generations; the sponge-poisoned twin), which a cold test run (nbval, empty cache) could
#: not afford within its time budget (chapter 05's alone: 8 minutes on two cores).
SHIPPED_CHAPTERS = ("01_data_tracing", "04_attribute_and_property_inference",
                    "05_hyperparameter_stealing", "06_parameter_stealing", "07_backdoors",
                    "08_poisoning", "09_evasion", "10_resource_depletion")


def make_zoo(check: bool = False, progress: bool = True) -> list[str]:
    """(Re)train the shipped encoders in ``data/zoo`` on the CPU, ignoring every existing entry:
    the laptop encoders that several chapters share — the standard encoder (seed 0; chapters
    00 and 03–09), chapter 02's victim and shadow (chapters 02, 06), the independently
    pre-trained encoders of chapters 06 and 07 — and every encoder that the chapters in
    :data:`SHIPPED_CHAPTERS` train (made by running them). With ``check``, compare the
    retrained weights with the shipped ones instead of writing them. Returns one line per
    entry. (Weights are bit-identical only for the same thread count: the test runs', 2
    threads.)"""
    import shutil
    import tempfile

    from sslsec import zoo
    from sslsec.chapters.ch02_membership_inference import membership_setup
    from sslsec.chapters.ch06_parameter_stealing import others_encoders, stealing_setup

    laptop = get_profile("laptop", device="cpu")
    lines = []
    with tempfile.TemporaryDirectory() as tmp:
        made_dir = Path(tmp)
        # the chapters' kernels inherit these: every entry is trained afresh into tmp
        with _environ({"SSLSEC_CACHE": tmp, "SSLSEC_SHIPPED": str(made_dir / "none")}):
            membership_setup(laptop, 0, progress)
            membership_setup(laptop, 0, progress, long_trained=True)
            zoo.profile_encoder(laptop, 0, progress)
            others_encoders(laptop, stealing_setup(laptop, 0, progress), progress)
            for name in SHIPPED_CHAPTERS:
                run_chapter(CHAPTERS_DIR / f"{name}.ipynb", "laptop", 0, "cpu",
                            build_dir=made_dir / "_build")
        shipped = zoo.SHIPPED_DIR
        shipped.mkdir(parents=True, exist_ok=True)
        # weights are bit-identical only on the hardware that made them: elsewhere a
        # difference says "different hardware", not "broken entry"
        elsewhere = zoo.hardware_differences(zoo.read_made_on(shipped)) if check else []
        if elsewhere:
            lines.append("this machine differs from the one that made the shipped weights ("
                         + "; ".join(elsewhere) + "): a difference is expected here")
        made = {p.stem: json.loads(p.read_text()) for p in sorted(made_dir.glob("*.json"))}
        for key, meta in made.items():
            what = meta["spec"]["data"] if "spec" in meta else f"{meta['kind']} encoder"
            target = shipped / f"{key}.json"
            if check:
                held = json.loads(target.read_text())["weights_sha256"] if target.exists() else None
                verdict = ("identical" if held == meta["weights_sha256"] else
                           "MISSING" if not held else
                           "different (different hardware)" if elsewhere else "DIFFERENT")
                lines.append(f"{key} ({what}): {verdict}")
            else:
                for suffix in (".safetensors", ".json"):  # the JSON last: it marks the entry
                    shutil.copyfile(made_dir / f"{key}{suffix}", shipped / f"{key}{suffix}")
                lines.append(f"{key} ({what}): written")
        if not check:
            zoo.write_made_on(shipped)
        for stale in sorted(set(p.stem for p in shipped.glob("*.json")) - set(made)):
            if check:
                lines.append(f"{stale}: shipped, but make zoo no longer makes it: STALE")
            else:
                for suffix in (".safetensors", ".json"):
                    (shipped / f"{stale}{suffix}").unlink(missing_ok=True)
                lines.append(f"{stale}: removed (make zoo no longer makes it)")
    return lines


def format_table(records: list[RunRecord], n_metrics: int = 3) -> str:
    """A plain-text table: chapter, seconds, peak memory, the first metrics."""
    rows = [("chapter", "seconds", "peak MB", "headline metrics")]
    for r in records:
        metrics = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                            for k, v in list(r.metrics.items())[:n_metrics])
        peak = f"{r.peak_memory_mb:.0f}" if r.peak_memory_mb is not None else "-"
        rows.append((r.chapter, f"{r.seconds:.1f}", peak, metrics))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    return "\n".join(f"{a:<{widths[0]}}  {b:>{widths[1]}}  {c:>{widths[2]}}  {d}"
                     for a, b, c, d in rows)


def pretrain_command(profile: str, seed: int = 0, device: str = "auto",
                     epochs: int | None = None, cache: str | None = None,
                     method: str | None = None) -> int:
    """``python -m sslsec pretrain``: the profile's encoder (the one every chapter loads),
    trained into the cache unless it is there already. Under ``torchrun`` the processes
    train it together (:mod:`sslsec.distributed`) and the first one writes the entry."""
    from sslsec import distributed
    from sslsec.zoo import profile_encoder

    if cache is not None:
        os.environ["SSLSEC_CACHE"] = cache
    device = distributed.init_from_env(device)
    try:
        chosen = get_profile(profile, device=device)
        changes = {k: v for k, v in (("epochs", epochs), ("method", method)) if v is not None}
        begun = time.perf_counter()
        entry = profile_encoder(chosen, seed, **changes)
        if distributed.is_main():
            how = ("loaded from" if entry.from_cache else
                   f"trained in {time.perf_counter() - begun:.0f} s by "
                   f"{distributed.world_size()} process(es); saved in")
            losses = ", ".join(f"{v:.4f}" for v in entry.history.loss)
            print(f"{profile} encoder, seed {seed}: {how} {entry.path}\n"
                  f"loss per epoch: {losses}", flush=True)
    finally:
        distributed.close()
    return 0


def _seed_run(path: Path, seed: int, device: str, folder: Path,
              threads: int | None) -> tuple[int, float, dict, str | None]:
    """One seed of ``seeds_command``: ``(seed, seconds, metrics, error or None)``. A run whose
    claims fail still gives its metrics (its results file is written before the check)."""
    begun = time.perf_counter()
    try:
        record = run_chapter(path, "laptop", seed, device, build_dir=folder, threads=threads)
        return seed, record.seconds, record.metrics, None
    except ChapterFailed as err:
        results = folder / "results" / f"{path.stem}.json"
        payload = json.loads(results.read_text()) if results.exists() else {}
        metrics = payload.get("metrics", {}) if payload.get("seed") == seed else {}
        return seed, time.perf_counter() - begun, metrics, str(err)


def _seed_outcomes(args: list[tuple], jobs: int):
    """``_seed_run`` over ``args``, yielding each outcome as its seed ends; with ``jobs`` > 1
    in that many worker processes (a kernel's environment is its own process's)."""
    if jobs == 1:
        yield from (_seed_run(*a) for a in args)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        yield from (f.result() for f in as_completed([pool.submit(_seed_run, *a) for a in args]))


def seeds_command(selector: str, seeds: list[int], device: str = "auto", jobs: int = 1,
                  build_dir: Path = BUILD_DIR / "seeds") -> int:
    """``python -m sslsec seeds``: run the chapter(s) in the laptop profile at each seed and
    record every run's metrics in ``chapters/seeds/`` — a run whose claims fail is recorded
    too (the table shows it by a negative margin) and makes the command exit with 1. With
    ``jobs`` > 1, that many seeds run at a time, each kernel on one thread."""
    from sslsec import seeds as seeds_file

    positive_ints(jobs=jobs)
    command = "python -m sslsec seeds " + " ".join(
        [selector, "--seeds", *map(str, seeds)] + ([f"--jobs {jobs}"] if jobs > 1 else []))
    failed = 0
    for path in select(selector):
        args = [(path, seed, device, build_dir / f"seed-{seed}", 1 if jobs > 1 else None)
                for seed in seeds]
        for seed, seconds, metrics, error in _seed_outcomes(args, jobs):
            print(f"{path.stem} seed {seed}: {seconds:.0f} s"
                  + (f"; FAILED: {error.splitlines()[-1]}" if error else ""), flush=True)
            failed += error is not None
            if metrics:  # recorded as each seed ends: a long run keeps the seeds that finished
                seeds_file.record(path.stem, seed, metrics, seconds, command)
        if (file := seeds_file.seeds_path(path.stem)).exists():
            print(f"{file.relative_to(PACKAGE_ROOT)}:\n"
                  f"{seeds_file.across_seeds(path.stem).table().to_string()}", flush=True)
    return 1 if failed else 0


def _clock(seconds: float) -> str:
    """``seconds`` as ``m:ss``."""
    return f"{int(seconds // 60)}:{int(seconds % 60):02d}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sslsec", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="execute chapters with papermill")
    run.add_argument("chapter", help="all, a number (00) or a name (00_foundations)")
    run.add_argument("--profile", default="laptop", choices=list(PROFILES))
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--device", default="auto", choices=list(DEVICES))
    run.add_argument("--store", action="store_true",
                     help="write stripped executed notebooks back into chapters/ (laptop only)")
    run.add_argument("--jobs", type=int, default=1,
                     help="chapters at a time, one thread each (not with --store)")
    assign_cmd = sub.add_parser("assign", help="otter assign the exercises (student versions)")
    assign_cmd.add_argument("chapter", help="all, or a chapter number or name")
    assign_cmd.add_argument("--run-tests", action="store_true",
                            help="let otter execute each master and check its solutions")
    book_cmd = sub.add_parser("book", help="run every chapter, then build the site from this "
                                            "run in _build/reader (chapters/ untouched)")
    book_cmd.add_argument("--profile", default="laptop", choices=list(PROFILES))
    book_cmd.add_argument("--seed", type=int, default=0)
    book_cmd.add_argument("--device", default="auto", choices=list(DEVICES))
    pre_cmd = sub.add_parser(
        "pretrain", help="pre-train the profile's encoder into the cache (data-parallel under "
                         "torchrun: torchrun --nproc_per_node N -m sslsec pretrain ...)")
    pre_cmd.add_argument("--profile", default="paper", choices=list(PROFILES))
    pre_cmd.add_argument("--seed", type=int, default=0)
    pre_cmd.add_argument("--device", default="auto", choices=list(DEVICES))
    pre_cmd.add_argument("--epochs", type=int, help="instead of the profile's epochs")
    pre_cmd.add_argument("--method", choices=list(METHODS), help="instead of SimCLR")
    pre_cmd.add_argument("--cache", help="the encoder cache (default: $SSLSEC_CACHE, else "
                                         "data/cache)")
    seeds_cmd = sub.add_parser("seeds", help="run a chapter at several seeds (laptop profile) "
                                             "and record its claims in chapters/seeds/")
    seeds_cmd.add_argument("chapter", help="all, a number (00) or a name (00_foundations)")
    seeds_cmd.add_argument("--seeds", type=int, nargs="+", required=True)
    seeds_cmd.add_argument("--device", default="auto", choices=list(DEVICES))
    seeds_cmd.add_argument("--jobs", type=int, default=1,
                           help="seeds at a time, one thread each")
    zoo_cmd = sub.add_parser("zoo", help="retrain the shipped encoders into data/zoo")
    zoo_cmd.add_argument("--check", action="store_true",
                         help="compare retrained weights with the shipped ones; write nothing")
    args = parser.parse_args(argv)
    if args.command == "pretrain":
        return pretrain_command(args.profile, args.seed, args.device, args.epochs, args.cache,
                                args.method)
    if args.command == "seeds":
        try:
            return seeds_command(args.chapter, args.seeds, args.device, args.jobs)
        except ValueError as err:
            parser.error(str(err))
    if args.command == "zoo":
        lines = make_zoo(check=args.check)
        print("\n".join(lines))
        bad = ("DIFFERENT", "MISSING", "STALE")
        return 0 if all(not line.endswith(bad) for line in lines) else 1
    if args.command == "assign":
        masters = master_paths() if args.chapter == "all" else [
            p for p in master_paths() if args.chapter in (p.stem, p.stem[:2])]
        if not masters:
            parser.error(f"no assignment master for {args.chapter!r}; allowed: all, "
                         + ", ".join(p.stem for p in master_paths()))
        for master in masters:
            made = assign(master, run_tests=args.run_tests)
            print(f"{made.name}: student {made.student.relative_to(PACKAGE_ROOT)}, "
                  f"autograder {made.autograder.relative_to(PACKAGE_ROOT)}")
        return 0
    if args.command == "book":
        args.chapter, args.jobs, args.store = "all", 1, False
    try:
        paths = select(args.chapter)
    except ValueError as err:
        parser.error(str(err))

    begun, count = time.perf_counter(), iter(range(1, len(paths) + 1))

    def started(path: Path) -> None:  # one chapter at a time
        k, elapsed = next(count), time.perf_counter() - begun
        left = f", about {_clock(elapsed / (k - 1) * (len(paths) - k + 1))} left" if k > 1 else ""
        print(f"[{k}/{len(paths)}] running {path.stem} ({args.profile}, seed {args.seed}); "
              f"{_clock(elapsed)} elapsed{left} ...", flush=True)

    def done(record: RunRecord) -> None:  # several at a time: chapters end in any order
        k, elapsed = next(count), time.perf_counter() - begun
        left = f", about {_clock(elapsed / k * (len(paths) - k))} left" if k < len(paths) else ""
        print(f"[{k}/{len(paths)}] {record.chapter} done in {record.seconds:.0f} s; "
              f"{_clock(elapsed)} elapsed{left}", flush=True)

    parallel = args.jobs > 1
    if parallel:
        print(f"running {len(paths)} chapters, {args.jobs} at a time ({args.profile}, seed "
              f"{args.seed}) ...", flush=True)
    try:
        records = run_chapters(paths, args.profile, args.seed, args.device, args.store,
                               args.jobs, on_start=None if parallel else started,
                               on_done=done if parallel else None)
    except ValueError as err:  # --jobs below 1, or above 1 with --store
        parser.error(str(err))
    except ChapterFailed as err:
        print(f"FAILED: {err}", file=sys.stderr)
        return 1
    print(format_table(records))
    if args.command == "book":
        fresh = stage_book(BUILD_DIR / "reader")
        html = build_site(BUILD_DIR / "reader")
        print(f"the site of this run ({len(fresh)} chapters): {html.relative_to(PACKAGE_ROOT)}"
              "/index.html")
    return 0
