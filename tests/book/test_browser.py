"""The built book in a real browser: headless Chromium driven by Playwright.

Every HTML page of the book is opened from a local HTTP server. On each page every image must
have loaded, every formula must have been typeset by MathJax (served by the book itself: any
request that leaves the local server is blocked and fails the test), no raw ``$$`` may be left
in the prose, and the browser console must show no error. A screenshot of each page is saved in
``_build/screenshots/``.

Chromium is the system package (``apt-get install chromium`` on Debian); Playwright drives it
through ``executable_path`` and never downloads a browser. Without Chromium the test is skipped,
unless the environment variable ``CI`` is set: then it fails, so CI cannot skip it silently
(``.ci/run`` sets ``CI`` and installs Chromium when it can).
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

PAGE_TIMEOUT_MS = 60_000
MATHJAX_TIMEOUT_MS = 30_000
VIEWPORT = {"width": 1280, "height": 900}
SCREENSHOT_MAX_HEIGHT = 12_000  # px: the top of the API reference is enough to look at

# "done" once MathJax 2 has finished its start-up typesetting (MathJax.js queues its whole
# start-up, typesetting included, on MathJax.Hub.queue as it loads: a callback queued after it
# runs last), "none" without MathJax on the page, "timeout" if it has not finished in time.
_MATHJAX_DONE = """(timeout) => new Promise((resolve) => {
  if (!window.MathJax || !window.MathJax.Hub) { resolve("none"); return; }
  setTimeout(() => resolve("timeout"), timeout);
  MathJax.Hub.Queue(() => resolve("done"));
})"""

# Load every image now (lazy ones included), then report those that did not decode.
_BROKEN_IMAGES = """async () => {
  const images = [...document.images];
  for (const img of images) { img.loading = "eager"; }
  await Promise.all(images.map((img) => img.decode().catch(() => null)));
  return images.filter((img) => !(img.complete && img.naturalWidth > 0))
               .map((img) => img.currentSrc || img.src);
}"""

# Math elements Sphinx wrote that hold no MathJax output, MathJax errors, and raw "$$" in prose.
_MATH_PROBLEMS = """() => {
  const math = [...document.querySelectorAll("span.math, div.math")]
    .filter((el) => !el.parentElement.closest(".MathJax, .MathJax_Display"));
  const unrendered = math.filter((el) => !el.querySelector(".MathJax, .MathJax_Display"))
                         .map((el) => el.textContent.trim().slice(0, 80));
  const errors = [...document.querySelectorAll(".MathJax_Error, .noError, merror")]
                   .map((el) => el.textContent.trim().slice(0, 80));
  const prose = document.body.cloneNode(true);
  prose.querySelectorAll("pre, code, script, style, textarea, .MJX_Assistive_MathML")
       .forEach((el) => el.remove());
  const dollars = prose.textContent.includes("$$");
  return {n_math: math.length, unrendered, errors, dollars};
}"""


def _find_chromium() -> str | None:
    for candidate in (os.environ.get("CHROMIUM"), "chromium", "chromium-browser"):
        if candidate and (path := shutil.which(candidate)):
            return path
    return None


def require_chromium() -> str:
    """Path of the system Chromium; skip, or fail when ``CI`` is set, if it or Playwright is
    missing."""
    path = _find_chromium()
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        path, why = None, "the Python package playwright is not installed (pip install -e '.[dev]')"
    else:
        why = (
            "Chromium was not found on PATH (Debian/Ubuntu: `apt-get install -y chromium`; or set "
            "CHROMIUM=/path/to/chromium)"
        )
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"CI is set but the browser test cannot run: {why}")
        pytest.skip(f"browser test skipped: {why}; set CI=1 to make this a failure")
    return path


@pytest.fixture(scope="session")  # session, like built_book: pytest then checks it first
def chromium() -> str:
    """The system Chromium, checked before the book is built."""
    return require_chromium()


def test_missing_chromium_skips_locally_and_fails_under_ci(monkeypatch):
    monkeypatch.delenv("CHROMIUM", raising=False)
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install -y chromium"):
        require_chromium()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI is set"):
        require_chromium()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # silence the request log
        pass


@pytest.fixture(scope="module")
def served_book(chromium, built_book) -> Iterator[tuple[str, Path]]:
    """``(base_url, html_dir)``: the built HTML served on a free local port."""
    handler = functools.partial(_QuietHandler, directory=str(built_book.html))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", built_book.html
    finally:
        server.shutdown()
        server.server_close()


def _pages(html_dir: Path) -> tuple[list[str], dict[str, str]]:
    """Pages of the book, and redirect pages (``index.html``) with their targets."""
    skip = {"_static", "_sources", "_images", "_downloads"}
    pages, redirects = [], {}
    for p in sorted(html_dir.rglob("*.html")):
        rel = p.relative_to(html_dir)
        if skip & set(rel.parts):
            continue
        refresh = re.search(r'http-equiv="refresh"[^>]*url=([^"]+)"', p.read_text(), flags=re.I)
        if refresh:
            redirects[rel.as_posix()] = (rel.parent / refresh.group(1)).as_posix()
        else:
            pages.append(rel.as_posix())
    return pages, redirects


def _check_page(page, base: str, path: str, shot: Path) -> list[str]:
    """Open one page; return the problems found on it (empty when it is fine)."""
    problems: list[str] = []
    outside: list[str] = []

    def route(r):
        url = r.request.url
        if url.startswith(base) or url.startswith(("data:", "blob:", "about:")):
            r.continue_()
        else:
            outside.append(url)
            r.abort()

    page.route("**/*", route)
    page.on(
        "console",
        lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None,
    )
    page.on("pageerror", lambda e: problems.append(f"uncaught JavaScript error: {e}"))
    page.on(
        "requestfailed",
        lambda r: (
            None if r.url in outside else problems.append(f"request failed: {r.url} ({r.failure})")
        ),
    )
    page.on(
        "response",
        lambda r: problems.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None,
    )

    page.goto(base + path, wait_until="load", timeout=PAGE_TIMEOUT_MS)
    if page.evaluate(_MATHJAX_DONE, MATHJAX_TIMEOUT_MS) == "timeout":
        problems.append(f"MathJax did not finish typesetting in {MATHJAX_TIMEOUT_MS} ms")
    problems += [f"image did not load: {src}" for src in page.evaluate(_BROKEN_IMAGES)]
    math = page.evaluate(_MATH_PROBLEMS)
    problems += [f"formula not typeset: {t!r}" for t in math["unrendered"]]
    problems += [f"MathJax error: {t!r}" for t in math["errors"]]
    if math["dollars"]:
        problems.append("raw '$$' left in the text (math not parsed by MyST)")
    problems += [f"request outside the book (blocked): {u}" for u in outside]
    shot.parent.mkdir(parents=True, exist_ok=True)
    height = min(page.evaluate("document.documentElement.scrollHeight"), SCREENSHOT_MAX_HEIGHT)
    page.screenshot(
        path=str(shot),
        full_page=True,
        clip={"x": 0, "y": 0, "width": VIEWPORT["width"], "height": height},
    )
    return problems


@pytest.mark.slow
def test_every_page_renders_offline_in_chromium(chromium, served_book):
    from playwright.sync_api import sync_playwright

    base, html_dir = served_book
    pages, redirects = _pages(html_dir)
    assert any(p.startswith("book/chapters/") for p in pages), pages
    for source, target in redirects.items():
        assert target in pages, f"{source} redirects to {target}, which is not a page"
    shots = html_dir.parent / "screenshots"
    shutil.rmtree(shots, ignore_errors=True)
    args = ["--no-sandbox"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []
    failures: dict[str, list[str]] = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=args)
        try:
            for path in pages:
                context = browser.new_context(viewport=VIEWPORT)
                page = context.new_page()
                shot = shots / (path.removesuffix(".html").replace("/", "__") + ".png")
                try:
                    problems = _check_page(page, base, path, shot)
                except Exception as err:  # a page that hangs or crashes is a failure, not a stop
                    problems = [f"{type(err).__name__}: {err}"]
                finally:
                    context.close()
                if problems:
                    failures[path] = problems
        finally:
            browser.close()
    report = "\n".join(f"{path}:\n  " + "\n  ".join(ps) for path, ps in failures.items())
    assert not failures, f"{len(failures)} of {len(pages)} pages have problems:\n{report}"
    assert sorted(s.name for s in shots.glob("*.png")) == sorted(
        p.removesuffix(".html").replace("/", "__") + ".png" for p in pages
    )
