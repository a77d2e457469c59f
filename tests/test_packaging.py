"""The set-up files agree with each other."""

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
