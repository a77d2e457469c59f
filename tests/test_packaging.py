"""The set-up files agree with each other, and the README tells a user the real commands."""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def pyproject_requirements() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        reqs += extra
    return {r.replace(" ", "") for r in reqs}


def conda_requirements() -> set[str]:
    lines = (ROOT / "environment.yml").read_text().splitlines()
    pip = [ln.split("#")[0].strip()[2:].strip() for ln in lines if ln.startswith("      - ")]
    return {r.replace(" ", "") for r in pip if r != "-e ."}


def test_environment_yml_has_the_same_pins_as_pyproject():
    assert conda_requirements() == pyproject_requirements()


def test_torch_pins_and_ci_entry_point():
    reqs = pyproject_requirements()
    assert {"torch==2.14.1", "torchvision==0.29.1", "jupyter-book<2"} <= reqs
    ci = (ROOT / ".ci" / "run").read_text()
    assert [ln for ln in ci.splitlines() if ln and not ln.startswith(("#", "set ", "cd "))] == [
        "make test"]
    readme = (ROOT / "README.md").read_text()
    assert "make book" in readme and "make test" in readme


def test_readme_is_a_users_document_with_real_commands():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.split()) <= 1500, "the measurements belong in benchmarks/README.md"
    assert "benchmarks/README.md" in readme and (ROOT / "benchmarks" / "README.md").exists()
    for path in ("chapters/intro.md", "chapters/instructors.md", "data/README.md"):
        assert path in readme and (ROOT / path).exists(), path
    targets = set(re.findall(r"^([a-z][\w-]*):", (ROOT / "Makefile").read_text(), re.M))
    named = set(re.findall(r"`make ([a-z][\w-]*)", readme))
    assert named and named <= targets, named - targets
    run_py = (ROOT / "sslsec" / "run.py").read_text()
    commands = set(re.findall(r'sub\.add_parser\(\s*"(\w+)"', run_py))
    used = set(re.findall(r"-m sslsec (\w+)", readme))
    assert {"run", "seeds", "assign", "pretrain"} <= used <= commands, used - commands
