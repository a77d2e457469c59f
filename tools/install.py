"""Install sslsec and its extras into the virtual environment that runs this script.

``python tools/install.py .[book,dev]`` installs with uv (about a minute on two cores, where
pip takes four: pip installs and compiles one package at a time), under *pip's*
configuration: uv does not read pip's files or ``PIP_*`` variables, so the wheel folders,
indexes and constraints pip is configured with (``pip config list``) are handed to uv as its
own options. Where uv cannot be installed or fails, pip does the work.

Both compile every module to bytecode at install time: where ``PYTHONDONTWRITEBYTECODE`` is
set (as on this project's CI machine) Python never writes it later, and every process — each
test worker, kernel and grader — would compile torch, pandas and Sphinx from source again
(``make test`` took a quarter longer so, the site build twice as long).
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

#: pip's setting -> uv's option (each value may list several, separated by spaces)
OPTIONS = {"find-links": "--find-links", "index-url": "--index-url",
           "extra-index-url": "--extra-index-url", "constraint": "--constraint"}


def pip_settings(listing: str) -> dict[str, list[str]]:
    """The settings of ``pip config list`` output (``section.name='value'`` lines; ``:env:``
    for ``PIP_*`` variables) that uv needs, each split into its values, without repeats."""
    settings: dict[str, list[str]] = {}
    for line in listing.splitlines():
        key, sep, value = line.partition("=")
        name = key.rpartition(".")[2]
        if not sep or name not in OPTIONS:
            continue
        for item in value.strip().strip("'\"").split():
            if item not in settings.setdefault(name, []):
                settings[name].append(item)
    return settings


def uv_options(settings: dict[str, list[str]]) -> list[str]:
    """uv's options for pip's ``settings``; several indexes are searched as pip does (the best
    version across all of them)."""
    options = [arg for name, values in settings.items() for value in values
               for arg in (OPTIONS[name], value)]
    if settings.get("extra-index-url") or settings.get("find-links"):
        options += ["--index-strategy", "unsafe-best-match"]
    return options


def main(requirement: str) -> None:
    python = sys.executable
    pip = [python, "-m", "pip"]
    listing = subprocess.run([*pip, "config", "list"], capture_output=True, text=True).stdout
    got_uv = subprocess.run([*pip, "install", "--quiet", "uv"]).returncode == 0
    uv = shutil.which("uv", path=str(Path(python).parent))
    if got_uv and uv:
        command = [uv, "pip", "install", "--quiet", "--compile-bytecode", "--python", python,
                   *uv_options(pip_settings(listing)), "-e", requirement]
        print(" ".join(shlex.quote(arg) for arg in command), flush=True)
        if subprocess.run(command).returncode == 0:
            return
        print("uv failed; pip installs instead", flush=True)
    command = [*pip, "install", "--quiet", "-e", requirement]
    print(" ".join(shlex.quote(arg) for arg in command), flush=True)
    subprocess.run(command, check=True)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else ".")
