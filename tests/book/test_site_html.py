"""The built book's web side: no external script or stylesheet, MathJax served by the book,
download and launch buttons on every chapter (the ``slow`` tests: they read the HTML that the
``built_book`` fixture builds, every chapter executed with the CI profile).

``tests/unit/book/test_site.py`` checks ``sgdllm.book.site`` and the configuration.
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from sgdllm.book import site
from sgdllm.book.executor import chapter_names
from tests.conftest import ROOT

CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
REPO = CONFIG["repository"]["url"]  # typed there only (tests/book/test_repository_url.py)
OWNER_REPO = urlsplit(REPO).path.strip("/")


# --------------------------------------------------------------------------- the built HTML


class _Assets(HTMLParser):
    """Collects ``<script src>``, ``<link href>`` and inline script bodies of one page."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[str] = []
        self.links: list[tuple[str, str]] = []
        self.anchors: list[str] = []
        self.inline: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "script":
            if a.get("src"):
                self.scripts.append(a["src"])
            self._in_script = not a.get("src")
        elif tag == "link" and a.get("href"):
            self.links.append((a.get("rel") or "", a["href"]))
        elif tag == "a" and a.get("href"):
            self.anchors.append(a["href"])

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.inline.append(data)


def _external(url: str) -> bool:
    return bool(re.match(r"^(https?:)?//", url.strip(), flags=re.I))


def _pages(html_dir: Path) -> list[Path]:
    skip = {"_static", "_sources", "_images", "_downloads"}
    return sorted(
        p for p in html_dir.rglob("*.html") if not skip & set(p.relative_to(html_dir).parts)
    )


def _assets(page: Path) -> _Assets:
    parser = _Assets()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser


@pytest.mark.slow
def test_no_page_loads_an_external_script_or_stylesheet(built_book):
    pages = _pages(built_book.html)
    assert len(pages) > len(chapter_names(ROOT)), pages
    offenders = []
    for page in pages:
        assets = _assets(page)
        rel = page.relative_to(built_book.html)
        offenders += [f"{rel}: <script src={s}>" for s in assets.scripts if _external(s)]
        offenders += [
            f"{rel}: <link rel={r} href={h}>"
            for r, h in assets.links
            if _external(h) and r in ("stylesheet", "preload", "modulepreload", "icon", "")
        ]
        # scripts that would fetch code from a CDN later (thebe's lazy loader did)
        offenders += [
            f"{rel}: inline script names {m}"
            for body in assets.inline
            for m in re.findall(r"https?://[^\s\"']+\.m?js\b", body)
        ]
    assert not offenders, "external scripts or stylesheets:\n" + "\n".join(offenders)


@pytest.mark.slow
def test_mathjax_is_served_by_the_book(built_book):
    mathjax = built_book.html / "_static" / site.MATHJAX_DIR / "MathJax.js"
    assert mathjax.is_file()
    config = site.MATHJAX2_CONFIG["config"][0]
    assert (mathjax.parent / "config" / config).is_file()
    math_pages = 0
    for page in _pages(built_book.html):
        text = page.read_text(encoding="utf-8")
        if 'class="math' not in text:
            continue
        math_pages += 1
        srcs = [s for s in _assets(page).scripts if "MathJax" in s or "mathjax" in s]
        assert srcs, f"{page} has math but loads no MathJax"
        for src in srcs:
            target = (page.parent / src.split("?")[0]).resolve()
            assert target == mathjax.resolve(), f"{page} loads MathJax from {src}"
        assert "text/x-mathjax-config" in text
    assert math_pages >= 1


@pytest.mark.slow
def test_download_button_offers_the_executed_notebook(built_book):
    for name in chapter_names(ROOT):
        source = built_book.html / "_sources" / "book" / "chapters" / f"{name}.ipynb"
        assert source.is_file(), f"no downloadable notebook for {name}"
        nb = json.loads(source.read_text())
        code = [c for c in nb["cells"] if c["cell_type"] == "code"]
        assert code and all(c.get("execution_count") for c in code), f"{name}: not executed"
        outputs = [o for c in code for o in c.get("outputs", [])]
        assert any("image/png" in o.get("data", {}) for o in outputs), f"{name}: no figure"
        page = built_book.html / "book" / "chapters" / f"{name}.html"
        assert f"_sources/book/chapters/{name}.ipynb" in " ".join(_assets(page).anchors)


@pytest.mark.slow
def test_launch_buttons_open_the_executed_notebook_on_the_launch_branch(built_book):
    branch = CONFIG["sphinx"]["config"]["sgdllm_launch_branch"]
    for name in chapter_names(ROOT):
        page = built_book.html / "book" / "chapters" / f"{name}.html"
        anchors = _assets(page).anchors
        path = f"book/chapters/{name}.ipynb"
        binder = f"https://mybinder.org/v2/gh/{OWNER_REPO}/{branch}?urlpath=lab/tree/{path}"
        colab = f"https://colab.research.google.com/github/{OWNER_REPO}/blob/{branch}/{path}"
        assert binder in anchors, f"{name}: no Binder link {binder}"
        assert colab in anchors, f"{name}: no Colab link {colab}"
        assert REPO in anchors
        assert any(a.startswith(f"{REPO}/issues/new") for a in anchors)
