"""The Jupyter Book site: it builds with warnings as errors, and renders in a real browser.

The site is built from the stored outputs, served on 127.0.0.1 and opened in Debian's headless
Chromium (driven by Playwright, no browser download). Every page in the TOC must render, every
chapter page must show its figures (decoded images), and no internal link may be broken.
Screenshots of the landing page and chapter 00 go to ``_build/screenshots/``.
"""

from __future__ import annotations

import functools
import http.server
import re
import shutil
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urldefrag, urljoin, urlparse

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"
SHOTS = ROOT / "_build" / "screenshots"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def toc_files() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc.get("parts", []):
        files += [ch["file"] for ch in part["chapters"]]
    return files


@pytest.fixture(scope="module")
def site() -> Path:
    """Make the student notebooks, then build the site (no execution; warnings are errors)."""
    proc = subprocess.run([sys.executable, "-m", "sslsec", "assign", "all"], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    jb = Path(sys.executable).parent / "jupyter-book"
    proc = subprocess.run(
        [str(jb), "build", ".", "--config", "jupyter-book.yml", "--toc", "_toc.yml", "-W",
         "--keep-going"], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return HTML


@pytest.fixture(scope="module")
def server(site):
    handler = functools.partial(_QuietHandler, directory=str(site))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "Chromium is missing: `make test` installs Debian's chromium"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        yield b
        b.close()


def test_every_toc_page_renders_with_its_figures(server, browser):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    internal_links: set[str] = set()
    for file in toc_files():
        url = urljoin(server, file + ".html")
        response = page.goto(url, wait_until="load")
        assert response is not None and response.ok, f"{file}: HTTP {response and response.status}"
        title = page.locator("main h1").first.inner_text(timeout=5000)
        assert title.strip(), f"{file}: no title rendered"
        text = page.locator("main").inner_text()
        assert len(text) > 500, f"{file}: the page body is (almost) empty"
        images = page.eval_on_selector_all(
            "main img", "els => els.map(e => [e.currentSrc, e.complete && e.naturalWidth > 0])")
        broken = [src for src, ok in images if not ok]
        assert not broken, f"{file}: images that did not load: {broken}"
        if file.startswith("chapters/") and Path(file).name[:2].isdigit():  # stored figures
            assert len(images) >= 2, f"{file}: expected its figures, found {len(images)} images"
            # "What this chapter shows": the claims render as a table, their code hidden
            shows = page.locator("section#what-this-chapter-shows")
            assert shows.locator("table td", has_text="✓").count() >= 1, \
                f"{file}: the claims table is not rendered as a table"
            assert not shows.locator("div.cell_input").first.is_visible(), \
                f"{file}: the claims cell's code is shown"
        hrefs = page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)")
        internal_links |= {urldefrag(h)[0] for h in hrefs if h.startswith(server)}
        if file in ("chapters/intro", "chapters/00_foundations"):
            name = "landing.png" if file.endswith("intro") else "00_foundations.png"
            page.screenshot(path=str(SHOTS / name), full_page=False)
    page.close()
    broken_links = []
    for link in sorted(internal_links):
        try:
            with urllib.request.urlopen(link, timeout=10) as resp:
                ok = resp.status == 200
        except urllib.error.HTTPError:
            ok = False
        if not ok:
            broken_links.append(urlparse(link).path)
    assert not broken_links, f"broken internal links: {broken_links}"
    assert (SHOTS / "landing.png").stat().st_size > 10_000
    assert (SHOTS / "00_foundations.png").stat().st_size > 10_000


def test_api_page_documents_the_package(site):
    html = (site / "chapters" / "api.html").read_text()
    for name in ("get_profile", "load_dataset", "SimCLRAugment", "build_encoder", "pretrain",
                 "linear_probe", "train_or_load", "check", "threat_model"):
        assert name in html, f"{name} is missing from the API page"


def test_no_link_points_at_a_repository_that_does_not_exist(site):
    """Launch buttons and repository links need the public repository: the site has them only
    for the repository named by this checkout's git remote."""
    remote = subprocess.run(["git", "remote", "get-url", "origin"], cwd=ROOT,
                            capture_output=True, text=True).stdout.strip().removesuffix(".git")
    html = (site / "chapters" / "00_foundations.html").read_text().lower()
    repositories = set(re.findall(r"https://github\.com/[\w.-]+/[\w.-]+", html))
    assert repositories <= ({remote.lower()} if remote.startswith("https://github.com/") else set())
    if not remote:
        assert "mybinder" not in html and "colab.research" not in html


def test_no_hidden_test_or_answer_is_published(site):
    """The site carries the student versions only: no line of a hidden test, and no solution's
    answer to a multiple-choice question, appears on any page (tags stripped, entities
    decoded)."""
    import html as html_lib

    import nbformat

    from sslsec import run

    secrets = set()
    for master in run.master_paths():
        for cell in nbformat.read(master, as_version=4).cells:
            if cell.cell_type != "code":
                continue
            if cell.source.lstrip().startswith("# HIDDEN"):
                # its checks and its unseen inputs (generic lines such as a `with` may recur)
                secrets |= {line.strip() for line in cell.source.splitlines()[1:]
                            if re.match(r"(assert |_\w+(, _\w+)* = )", line.strip())
                            and len(line.strip()) >= 16}
            secrets |= {m.group(0) for m in re.finditer(r"^q\d+\s*=\s*[\"']\w[\"']",
                                                        cell.source, re.M)}
    assert len(secrets) > 20  # the masters' hidden tests were found
    pages = {p: html_lib.unescape(re.sub(r"<[^>]+>", "", p.read_text(errors="replace")))
             for p in site.rglob("*.html")}
    leaks = {(str(p.relative_to(site)), s) for p, text in pages.items() for s in secrets
             if s in text}
    assert not leaks, sorted(leaks)[:10]


def test_a_dial_falls_back_to_a_figure_and_solutions_stay_collapsed(server, browser):
    """On the site (no kernel), chapter 10's dial shows its static figure of the same sweep, and
    the written solutions are collapsed until the reader opens them. Screenshots of both go to
    ``_build/screenshots/``."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    page.goto(urljoin(server, "chapters/10_resource_depletion.html"), wait_until="load")
    figure = page.locator("section#a-dial-the-budget img").last
    figure.scroll_into_view_if_needed()
    assert figure.evaluate("e => e.complete && e.naturalWidth > 0"), "no fallback figure"
    figure.screenshot(path=str(SHOTS / "10_dial_fallback.png"))
    solutions = page.locator("div.admonition.dropdown", has_text="Solutions, written out").first
    answer = solutions.locator("p", has_text="Solution to exercise 1.")
    solutions.scroll_into_view_if_needed()
    assert solutions.is_visible() and not answer.is_visible(), "the solutions are not collapsed"
    solutions.screenshot(path=str(SHOTS / "10_solutions_collapsed.png"))
    solutions.locator(".admonition-title").first.click()
    answer.wait_for(state="visible", timeout=5000)
    page.close()
    for name in ("10_dial_fallback.png", "10_solutions_collapsed.png"):
        assert (SHOTS / name).stat().st_size > 2_000
