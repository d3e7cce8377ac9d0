"""The book's web side: offline MathJax, launch and download buttons, the API reference.

These fast tests check ``sgdllm.book.site`` and the configuration;
``tests/book/test_site_html.py`` reads the HTML that the ``built_book`` fixture builds.
"""

from __future__ import annotations

import html as html_lib
import pkgutil
import re

import pytest
import yaml

import sgdllm
from sgdllm.book import site
from tests.conftest import ROOT

CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
REPO = CONFIG["repository"]["url"]  # typed there only (tests/book/test_repository_url.py)
EXAMPLE = "https://github.com/o/r"  # a repository for the unit tests of launch URLs

# Modules the API reference leaves out on purpose: the ``python -m sgdllm`` shim.
NOT_IN_API = {"sgdllm.__main__"}


# --------------------------------------------------------------------------- MathJax files


def test_mathjax_source_ships_mathjax2_and_what_the_config_loads():
    src = site.mathjax_source()
    # MathJax 2 (the configuration of sgdllm.book.site is written for it), not 3
    assert re.search(r'MathJax\.version="2\.7\.\d+"', (src / "MathJax.js").read_text())
    for config_file in site.MATHJAX2_CONFIG["config"]:
        assert (src / "config" / config_file).is_file(), config_file
    font = site.MATHJAX2_CONFIG["HTML-CSS"]["webFont"]
    assert any((src / "fonts" / "HTML-CSS" / font).rglob("*.woff")), font
    assert (src / "jax" / "output" / "HTML-CSS" / "fonts" / font / "fontdata.js").is_file()


def test_copy_mathjax_puts_the_files_below_static(tmp_path):
    (tmp_path / "keep.css").write_text("body {}")
    target = site.copy_mathjax(tmp_path)
    assert target == tmp_path / "mathjax"
    assert (target / "MathJax.js").is_file()
    assert (target / "config" / "TeX-AMS-MML_HTMLorMML-full.js").is_file()
    assert (tmp_path / "keep.css").read_text() == "body {}"
    site.copy_mathjax(tmp_path)  # a second build copies over the first


def test_missing_mathjax_package_names_the_fix(monkeypatch):
    monkeypatch.setattr(site.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(FileNotFoundError, match=r"jupyter-server-mathjax.*pip install"):
        site.mathjax_source()


def test_mathjax2_config_is_merged_under_the_users():
    merged = site._merged(site.MATHJAX2_CONFIG, {"HTML-CSS": {"scale": 90}, "extra": 1})
    assert merged["HTML-CSS"]["scale"] == 90
    assert merged["HTML-CSS"]["webFont"] == "STIX-Web"
    assert merged["extra"] == 1
    assert "scale" not in site.MATHJAX2_CONFIG["HTML-CSS"]  # the default is not modified


# --------------------------------------------------------------------------- launch buttons


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "https://mybinder.org/v2/gh/o/r/main?urlpath=lab/tree/book/chapters/a.ipynb",
            "https://mybinder.org/v2/gh/o/r/executed?urlpath=lab/tree/book/chapters/a.ipynb",
        ),
        (
            "https://colab.research.google.com/github/o/r/blob/main/book/chapters/a.ipynb",
            "https://colab.research.google.com/github/o/r/blob/executed/book/chapters/a.ipynb",
        ),
        # a branch-like word elsewhere in the path is left alone
        (
            "https://colab.research.google.com/github/o/r/blob/dev/main/a.ipynb",
            "https://colab.research.google.com/github/o/r/blob/dev/main/a.ipynb",
        ),
        # another repository is left alone
        (
            "https://mybinder.org/v2/gh/other/repo/main?urlpath=lab",
            "https://mybinder.org/v2/gh/other/repo/main?urlpath=lab",
        ),
    ],
)
def test_launch_url_on_branch(url, expected):
    assert site.launch_url_on_branch(url, EXAMPLE, "main", "executed") == expected


def test_launch_url_on_branch_without_a_new_branch_is_identity():
    url = "https://mybinder.org/v2/gh/o/r/main?urlpath=lab"
    assert site.launch_url_on_branch(url, EXAMPLE, "main", "") == url
    assert site.launch_url_on_branch(url, EXAMPLE, "main", "main") == url
    with pytest.raises(ValueError, match="OWNER/REPO"):
        site.launch_url_on_branch(url, "https://github.com/o", "main", "x")


def test_repository_substitutions_quote_the_configured_repository():
    subs = site.repository_substitutions(EXAMPLE, "main", "executed")
    assert subs == {
        "colab_install": f'`!pip install "sgdllm[book] @ git+{EXAMPLE}@main"`',
        "source_branch": "`main`",
        "launch_branch": "`executed`",
    }
    assert site.repository_substitutions(EXAMPLE, "dev", "")["launch_branch"] == "`dev`"
    with pytest.raises(ValueError, match=r"repository\.url"):
        site.repository_substitutions("", "main", "executed")


def test_intro_quotes_the_repository_through_substitutions(tmp_path):
    """A Sphinx build with the book's MyST settings renders the intro's substitutions from the
    repository options, as Jupyter Book passes them from ``_config.yml``."""
    from sphinx.application import Sphinx

    intro = (ROOT / "book" / "intro.md").read_text()
    used = set(re.findall(r"\{\{\s*(\w+)\s*\}\}", intro))
    assert {"colab_install", "launch_branch", "source_branch"} <= used
    assert used <= set(site.repository_substitutions(EXAMPLE, "main", "x"))

    src = tmp_path / "src"
    src.mkdir()
    (src / "conf.py").write_text("")
    (src / "index.md").write_text(
        "# Page\n\nRun {{ colab_install }} from {{ launch_branch }}, not {{ source_branch }}.\n"
    )
    config = {
        "extensions": ["myst_parser", "sgdllm.book.site"],
        "myst_enable_extensions": ["substitution"],
        "html_theme_options": {"repository_url": EXAMPLE, "repository_branch": "main"},
        "sgdllm_launch_branch": "executed",
    }
    app = Sphinx(
        src,
        src,
        tmp_path / "html",
        tmp_path / "doctrees",
        "html",
        confoverrides=config,
        status=None,
        warning=None,
        freshenv=True,
    )
    app.build()
    html = (tmp_path / "html" / "index.html").read_text()
    assert "{{" not in html
    text = html_lib.unescape(re.sub(r"<[^>]+>", "", html))
    assert f'Run !pip install "sgdllm[book] @ git+{EXAMPLE}@main" from executed, not main.' in text


# --------------------------------------------------------------------------- short references


DOCUMENTED = {
    "sgdllm.discretize.Scaler",
    "sgdllm.discretize.Scaler.to_states",
    "sgdllm.lm.load.load_model",
    "sgdllm.lm.adapters.Adapter.encode",
    "sgdllm.lm.adapters.DigitAdapter",
    "sgdllm.kernel.count_kernel",
    "sgdllm.kernel.Kernel.matrix",
    "sgdllm.truth.Kernel.matrix",  # a made-up twin: "Kernel.matrix" becomes ambiguous
}


@pytest.mark.parametrize(
    ("target", "module", "cls", "expected"),
    [
        # a class imported by the module, written without its module
        ("Scaler.to_states", "sgdllm.truth", None, "sgdllm.discretize.Scaler.to_states"),
        ("~sgdllm.discretize.Scaler", "sgdllm.truth", None, "sgdllm.discretize.Scaler"),
        # a re-exported function, mapped to where it is defined
        ("sgdllm.lm.load_model", "sgdllm.lm.hierarchy", None, "sgdllm.lm.load.load_model"),
        ("sgdllm.count_kernel", "sgdllm.predict", None, "sgdllm.kernel.count_kernel"),
        # a method inherited from the base class, seen from the subclass
        ("encode", "sgdllm.lm.adapters", "DigitAdapter", "sgdllm.lm.adapters.Adapter.encode"),
        # a unique suffix, not importable from the module that writes it
        ("to_states", "sgdllm.metrics", None, "sgdllm.discretize.Scaler.to_states"),
        # broken: a typo, an ambiguous suffix, another library, prose
        ("Scaler.to_statez", "sgdllm.truth", None, None),
        ("Kernel.matrix", "sgdllm.metrics", None, None),
        ("numpy.ndarray", "sgdllm.kernel", None, None),
        ("array of shape", "sgdllm.kernel", None, None),
    ],
)
def test_resolve_short_reference(target, module, cls, expected):
    assert site.resolve_short_reference(target, module, cls, DOCUMENTED) == expected


def test_names_sgdllm_object_distinguishes_undocumented_from_broken():
    assert site.names_sgdllm_object("ALL_FAMILIES", "sgdllm.lm.processes", "AR1")
    assert site.names_sgdllm_object("sgdllm.lm.processes.ALL_FAMILIES", None, None)
    # a dataclass field whose default is None still exists
    assert site.names_sgdllm_object("theta_star", "sgdllm.sgd.problems", "LogisticRegression")
    assert not site.names_sgdllm_object("ALL_FAMILIEZ", "sgdllm.lm.processes", "AR1")
    assert not site.names_sgdllm_object("numpy.ndarray", "sgdllm.kernel", None)


# --------------------------------------------------------------------------- configuration


def test_config_repository_launch_and_extensions():
    assert CONFIG["repository"] == {"url": REPO, "branch": "main", "path_to_book": "."}
    assert re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+", REPO)
    assert CONFIG["html"]["use_repository_button"] is True
    assert CONFIG["html"]["use_issues_button"] is True
    launch = CONFIG["launch_buttons"]
    assert launch["binderhub_url"] == "https://mybinder.org"
    assert launch["colab_url"] == "https://colab.research.google.com"
    sphinx = CONFIG["sphinx"]
    assert {"sphinx.ext.autodoc", "sphinx.ext.napoleon", "sgdllm.book.site"} <= set(
        sphinx["extra_extensions"]
    )
    config = sphinx["config"]
    assert config["sgdllm_launch_branch"] not in ("", "main")
    # MathJax from the book itself: a relative path below _static/, MathJax 2
    assert config["mathjax_path"] == f"{site.MATHJAX_DIR}/MathJax.js"
    assert (ROOT / CONFIG["html"]["favicon"]).is_file()


def test_binder_environment_is_at_the_root():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert "-e ." in pip  # repo2docker stages the repository first when it sees a local path
    assert any(p.startswith("jupyter-server-mathjax") for p in pip)


def _public_modules() -> set[str]:
    names = {"sgdllm"}
    for info in pkgutil.walk_packages(sgdllm.__path__, prefix="sgdllm."):
        if not any(part.startswith("_") for part in info.name.split(".")[1:]):
            names.add(info.name)
    return names - NOT_IN_API


def test_api_page_documents_every_public_module():
    text = (ROOT / "book" / "api.md").read_text()
    documented = set(re.findall(r"^\.\. automodule:: (\S+)", text, flags=re.M))
    missing = _public_modules() - documented
    assert not missing, f"book/api.md documents no `.. automodule::` for {sorted(missing)}"
    unknown = documented - _public_modules()
    assert not unknown, f"book/api.md documents modules that do not exist: {sorted(unknown)}"
