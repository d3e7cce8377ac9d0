"""The repository's address is typed in one place: ``repository.url`` of ``_config.yml``.

Everything else reads it: the book's buttons (Jupyter Book), the intro's install command
(``sgdllm.book.site.repository_substitutions``), the launch-button URLs (``sgdllm.book.site``) and
the push of the executed notebooks (``.ci/publish-executed``). A GitHub address of a repository of
the same name typed anywhere else in the tree (the same address, or one that disagrees with it)
fails here, as does a Binder, Colab or GitHub Pages address of it.
"""

from __future__ import annotations

import re
import subprocess
from urllib.parse import urlsplit

import yaml

from tests.conftest import ROOT

CONFIG_FILE = "_config.yml"
URL = yaml.safe_load((ROOT / CONFIG_FILE).read_text())["repository"]["url"]


def owner_and_name(url: str) -> tuple[str, str]:
    """``("owner", "repo")`` of ``https://github.com/owner/repo`` (``.git`` and ``/`` dropped)."""
    path = urlsplit(url).path.strip("/").removesuffix(".git")
    owner, _, name = path.partition("/")
    if not owner or not name or "/" in name:
        raise ValueError(f"{url!r} is not https://github.com/OWNER/REPO")
    return owner, name


def typed_repository_addresses(text: str, url: str) -> list[str]:
    """The addresses in ``text`` of a GitHub repository named like the one at ``url`` (any
    owner): on GitHub (``github.com/OWNER/NAME``, also ``git@github.com:``), Binder
    (``/gh/OWNER/NAME``), Colab (``/github/OWNER/NAME``) and GitHub Pages
    (``OWNER.github.io/NAME``)."""
    name = re.escape(owner_and_name(url)[1])
    end = r"(?![\w-])"  # NAME itself, not NAME-fork; NAME.git still counts
    pattern = re.compile(
        rf"(?:github\.com[/:]|/gh/|colab\.research\.google\.com/github/)[\w.-]+/{name}{end}"
        rf"|[\w-]+\.github\.io/{name}{end}",
        re.IGNORECASE,
    )
    return [m.group(0) for m in pattern.finditer(text)]


def project_files() -> list[str]:
    """The files of the tree that git tracks or would track (not ignored)."""
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout
    return sorted({f for f in out.decode().split("\0") if f and (ROOT / f).is_file()})


def test_the_configured_url_names_an_owner_and_a_repository():
    assert URL.startswith("https://github.com/")
    owner, name = owner_and_name(URL)
    assert URL == f"https://github.com/{owner}/{name}"


def test_the_checker_finds_typed_and_disagreeing_addresses():
    url = "https://github.com/acme/widget"
    text = (
        "see https://github.com/acme/widget/issues, clone git@github.com:acme/widget.git;\n"
        "a fork https://github.com/someone/WIDGET disagrees; "
        "https://mybinder.org/v2/gh/acme/widget/main and "
        "https://colab.research.google.com/github/acme/widget/blob/x/a.ipynb, "
        "https://acme.github.io/widget/intro.html"
    )
    assert typed_repository_addresses(text, url) == [
        "github.com/acme/widget",
        "github.com:acme/widget",
        "github.com/someone/WIDGET",
        "/gh/acme/widget",
        "colab.research.google.com/github/acme/widget",
        "acme.github.io/widget",
    ]
    # other repositories, and names that merely start alike, are not this one
    other = "https://github.com/acme/widgets https://github.com/acme/widget-fork github.com/x/y"
    assert typed_repository_addresses(other, url) == []


def test_the_repository_url_is_typed_only_in_the_config():
    files = project_files()
    assert CONFIG_FILE in files and "README.md" in files and "sgdllm/book/site.py" in files
    typed = {}
    for name in files:
        if name == CONFIG_FILE:
            continue
        try:
            text = (ROOT / name).read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue  # binary: model weights, images
        if found := typed_repository_addresses(text, URL):
            typed[name] = found
    assert typed == {}, f"type the repository's address only in {CONFIG_FILE}: {typed}"
    # the config itself gives it once
    config_text = (ROOT / CONFIG_FILE).read_text()
    assert len(typed_repository_addresses(config_text, URL)) == 1
