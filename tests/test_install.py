"""tools/install.py hands pip's configuration to uv."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("install", ROOT / "tools" / "install.py")
install = importlib.util.module_from_spec(spec)
spec.loader.exec_module(install)

LISTING = """\
:env:.cert='/etc/ssl/certs/ca-certificates.crt'
:env:.find-links='/opt/wheels'
global.constraint='/etc/xdg/pip/constraints.txt'
global.extra-index-url='file:///opt/a/simple file:///opt/b/simple'
global.find-links='/opt/wheels'
"""


def test_pip_settings_keep_what_uv_needs_once_each():
    assert install.pip_settings(LISTING) == {
        "find-links": ["/opt/wheels"],
        "constraint": ["/etc/xdg/pip/constraints.txt"],
        "extra-index-url": ["file:///opt/a/simple", "file:///opt/b/simple"]}


def test_uv_options_search_every_index_like_pip():
    options = install.uv_options(install.pip_settings(LISTING))
    assert options == ["--find-links", "/opt/wheels",
                       "--constraint", "/etc/xdg/pip/constraints.txt",
                       "--extra-index-url", "file:///opt/a/simple",
                       "--extra-index-url", "file:///opt/b/simple",
                       "--index-strategy", "unsafe-best-match"]
    assert install.uv_options({}) == []


def test_the_environment_is_compiled_to_bytecode():
    """Where PYTHONDONTWRITEBYTECODE is set Python never writes bytecode itself, so the install
    must: without it every process compiles torch and Sphinx from source again."""
    import sphinx
    import torch

    for module in (torch, sphinx):
        assert Path(importlib.util.cache_from_source(module.__file__)).exists(), module.__name__
