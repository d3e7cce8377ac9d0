"""The book's web side: a Sphinx extension that makes the built HTML work offline.

Jupyter Book loads it through ``sphinx: extra_extensions`` in ``_config.yml``. It does five things
that static configuration cannot:

* **MathJax from the book itself.** Sphinx and Jupyter Book load MathJax 3 from a CDN by default,
  so formulas stay raw LaTeX without a network. The PyPI package ``jupyter-server-mathjax`` (in
  the ``book`` extra) ships the files of MathJax 2.7; :func:`copy_mathjax` copies them to
  ``_static/mathjax/`` of the built book, ``_config.yml`` points ``mathjax_path`` there, and
  :data:`MATHJAX2_CONFIG` (under any ``mathjax2_config`` of ``_config.yml``) configures it for
  the files that package ships. The MathJax 3 configuration that MyST adds by itself
  (``window.MathJax = {options: ...}``) is dropped, since MathJax 2 would read it as its own
  configuration; its classes go to MathJax 2's ``tex2jax.processClass`` instead. Thebe (live
  code through a CDN) is off in this book; its scripts, which sphinx-thebe adds to every page
  regardless (one of them twice, a JavaScript error), are removed.
* **Short references in docstrings resolve as a reader reads them.** Docstrings write
  ``:meth:`Scaler.to_states``` in :mod:`sgdllm.truth`, ``:func:`sgdllm.lm.load_model``` for a
  re-exported function, or ``:meth:`encode``` for a method inherited from a base class; Sphinx
  finds none of these. :func:`resolve_short_reference` resolves them to the one documented
  ``sgdllm`` object they name (through Python's own imports, then a unique suffix match). A
  reference to an ``sgdllm`` object that exists but has no entry of its own (a constant without
  a ``#:`` comment) is shown as code without a link. Every other reference stays missing, so a
  genuinely broken one (a typo, a removed function) still fails the nitpicky build.
* **Launch buttons that find executed notebooks.** Pages are the executed notebooks
  ``book/chapters/<name>.ipynb``, generated and never committed to the source branch. The
  repository and issue buttons point at the source branch (``repository.branch``); the Binder
  and Colab buttons are moved to ``sgdllm_launch_branch``, the branch that the publishing
  workflow (``.github/workflows/publish.yml``) pushes with the executed notebooks (see
  :func:`launch_url_on_branch` and the book's introduction).
* **The repository's address, typed once.** ``repository.url`` of ``_config.yml`` is the only
  place the repository's address is written. :func:`repository_substitutions` turns it into MyST
  substitutions (``{{ colab_install }}`` in ``book/intro.md``), and ``.ci/publish-executed``
  reads it to push the executed notebooks.
* **The claims table, made when the book is built.** The directive ``claims-table`` (in
  ``book/intro.md``) reads the chapters' records in ``_build/records/`` and renders
  :func:`sgdllm.book.claims.claims_markdown` in place: the paper's claims, the numbers that
  test them and the verdicts. It runs after every chapter was executed (the HTML is built last), and
  a missing record or a broken section link fails the build.

Nothing here runs at import time; ``import sgdllm`` never imports Sphinx.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar
from urllib.parse import urlsplit, urlunsplit

__all__ = [
    "MATHJAX2_CONFIG",
    "MATHJAX_DIR",
    "MATHJAX_PACKAGE",
    "claims_table_directive",
    "copy_mathjax",
    "launch_url_on_branch",
    "mathjax_source",
    "names_sgdllm_object",
    "repository_substitutions",
    "resolve_short_reference",
    "settings_markdown",
    "settings_table_directive",
    "setup",
]

MATHJAX_PACKAGE = "jupyter_server_mathjax"
"""Import name of the PyPI package ``jupyter-server-mathjax`` that ships MathJax 2.7."""

MATHJAX_DIR = "mathjax"
"""Folder below ``_static/`` of the built book that receives the MathJax files."""

_TEX_FONT_FACES = {
    f"@font-face /*{i}*/": {"src": f"local('{name}')"}
    for i, name in enumerate(
        [
            "MathJax_Caligraphic",
            "MathJax_Caligraphic",
            "MathJax_AMS",
            "MathJax_Script",
            "MathJax_Fraktur",
            "MathJax_Fraktur",
        ],
        start=1,
    )
}

MATHJAX2_CONFIG: dict[str, Any] = {
    # the combined configuration shipped by jupyter-server-mathjax (TeX and MathML input,
    # HTML-CSS output, AMS extensions); loaded from the in-page configuration, since Sphinx
    # refuses query strings (``MathJax.js?config=...``) in local asset paths
    "config": ["TeX-AMS-MML_HTMLorMML-full.js"],
    "tex2jax": {
        # Sphinx writes math as \(...\) and \[...\]; MyST marks prose as ignored
        "inlineMath": [["\\(", "\\)"]],
        "displayMath": [["\\[", "\\]"]],
        "processEscapes": True,
        "processEnvironments": True,
        "ignoreClass": "tex2jax_ignore|mathjax_ignore",
    },
    # only the STIX-Web fonts are shipped: never look for local or TeX web fonts
    "HTML-CSS": {
        "availableFonts": [],
        "preferredFont": None,
        "webFont": "STIX-Web",
        "imageFont": None,
        # the font MathJax compares against while web fonts load; url('about:blank') is
        # refused by Chromium with a console error, a local() name that does not exist is not
        "styles": {
            "@font-face": {"font-family": "MathJax_Blank", "src": "local('MathJax_Blank')"},
            # The pydata theme styles for MathJax 3 break MathJax 2's measured layout, lifting
            # inline math off the baseline: Bootstrap's border-box sizing, and span.math (both
            # Sphinx's wrapper and MathJax 2's own span) as a clipped, centred flex box.
            ".MathJax, .MathJax *": {"box-sizing": "content-box"},
            "span.math.notranslate": {"display": "inline"},
            ".MathJax span.math": {"overflow": "visible", "max-width": "none"},
        },
    },
    # The hidden MathML copy for screen readers (AssistiveMML) is styled by the NativeMML
    # output, which declares TeX web fonts that are not shipped (404 errors): local() fonts.
    "NativeMML": {"styles": _TEX_FONT_FACES},
    "showMathMenu": False,
    "messageStyle": "none",
}
"""MathJax 2 configuration of the book, for the files of ``jupyter-server-mathjax``."""


def _merged(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """``base`` updated recursively with ``override`` (neither is modified)."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merged(out[key], value)
        else:
            out[key] = value
    return out


def mathjax_source() -> Path:
    """The folder of MathJax 2.7 files (holding ``MathJax.js``) of ``jupyter-server-mathjax``.

    The package is located without being imported (importing it would import jupyter_server).

    Raises
    ------
    FileNotFoundError
        If the package is not installed or lacks ``static/MathJax.js``; the message names the
        fix (``pip install -e '.[book]'``).
    """
    spec = importlib.util.find_spec(MATHJAX_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"the Python package {MATHJAX_PACKAGE!r} (PyPI: jupyter-server-mathjax) is not "
            f"installed; the book serves MathJax from it. Install the book extra: "
            f"pip install -e '.[book]'"
        )
    static = Path(next(iter(spec.submodule_search_locations))) / "static"
    if not (static / "MathJax.js").is_file():
        raise FileNotFoundError(
            f"{static / 'MathJax.js'} does not exist: the installed jupyter-server-mathjax is "
            f"broken or too old; reinstall it with pip install --force-reinstall "
            f"'jupyter-server-mathjax>=0.2.6,<0.3'"
        )
    return static


def copy_mathjax(static_dir: str | Path) -> Path:
    """Copy the MathJax 2.7 files into ``<static_dir>/mathjax`` and return that folder.

    Files already there are overwritten; nothing else in ``static_dir`` is touched.
    """
    target = Path(static_dir) / MATHJAX_DIR
    shutil.copytree(mathjax_source(), target, dirs_exist_ok=True)
    return target


def launch_url_on_branch(url: str, repo_url: str, branch: str, new_branch: str) -> str:
    """Move a Binder or Colab launch URL of ``repo_url`` from ``branch`` to ``new_branch``.

    sphinx-book-theme builds launch URLs from the single ``repository_branch``, e.g.
    ``https://mybinder.org/v2/gh/ORG/REPO/BRANCH?urlpath=...`` and
    ``https://colab.research.google.com/github/ORG/REPO/blob/BRANCH/PATH``. Only the branch
    segment right after ``ORG/REPO`` (or after ``ORG/REPO/blob``) is replaced; any other URL is
    returned unchanged.

    >>> launch_url_on_branch(
    ...     "https://colab.research.google.com/github/o/r/blob/main/book/x.ipynb",
    ...     "https://github.com/o/r", "main", "executed")
    'https://colab.research.google.com/github/o/r/blob/executed/book/x.ipynb'
    """
    if not new_branch or new_branch == branch:
        return url
    owner_repo = urlsplit(repo_url.rstrip("/")).path.strip("/").removesuffix(".git")
    if owner_repo.count("/") != 1:
        raise ValueError(
            f"repository URL {repo_url!r} does not name an owner and a repository "
            f"(expected https://github.com/OWNER/REPO)"
        )
    parts = urlsplit(url)
    segments = parts.path.split("/")
    owner, repo = owner_repo.split("/")
    for i in range(len(segments) - 2):
        if segments[i] == owner and segments[i + 1] == repo:
            j = i + 3 if segments[i + 2 : i + 3] == ["blob"] else i + 2
            if j < len(segments) and segments[j] == branch:
                segments[j] = new_branch
                return urlunsplit(parts._replace(path="/".join(segments)))
    return url


def repository_substitutions(repo_url: str, branch: str, launch_branch: str) -> dict[str, str]:
    """MyST substitutions that quote the repository, for pages that must not type its address.

    ``repo_url`` and ``branch`` are ``repository.url`` and ``repository.branch`` of
    ``_config.yml``, ``launch_branch`` its ``sgdllm_launch_branch``. ``colab_install`` is the
    first cell a Colab user runs: installing this package, with the book's extra, from the source
    branch; ``source_branch`` and ``launch_branch`` are the two branches' names as code.

    >>> repository_substitutions("https://github.com/o/r", "main", "executed")["colab_install"]
    '`!pip install "sgdllm[book] @ git+https://github.com/o/r@main"`'
    """
    if not repo_url or not branch:
        raise ValueError("_config.yml sets no repository.url or repository.branch")
    return {
        "colab_install": f'`!pip install "sgdllm[book] @ git+{repo_url}@{branch}"`',
        "source_branch": f"`{branch}`",
        "launch_branch": f"`{launch_branch or branch}`",
    }


def _add_repository_substitutions(app: Any, config: Any) -> None:
    """``config-inited``: :func:`repository_substitutions` under any ``myst_substitutions``."""
    options = config.html_theme_options or {}
    url, branch = options.get("repository_url", ""), options.get("repository_branch", "")
    if not url:
        return  # not built by Jupyter Book from _config.yml: no repository to quote
    substitutions = repository_substitutions(url, branch, config.sgdllm_launch_branch)
    config.myst_substitutions = {**substitutions, **(config.myst_substitutions or {})}


_MISSING = object()


def _import_path(path: str) -> Any:
    """The object a dotted path names (``pkg.module.Class.attr``), or ``_MISSING``."""
    import importlib

    parts = path.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        except Exception:  # a module that fails to import is autodoc's error to report
            return _MISSING
        for name in parts[i:]:
            obj = getattr(obj, name, _MISSING)
            if obj is _MISSING:
                return _MISSING
        return obj
    return _MISSING


def resolve_short_reference(
    target: str, module: str | None, cls: str | None, documented: set[str] | dict[str, Any]
) -> str | None:
    """The full name of the documented ``sgdllm`` object a short Python reference means.

    ``target`` is the text of a ``:func:`` / ``:class:`` / ``:meth:`` / ... role written in a
    docstring of ``module`` (and class ``cls``, if any); ``documented`` holds the full names of
    the objects the API reference documents. In order:

    1. ``target`` read from the class, the module, then as given, the way Python resolves it
       (so imported names and re-exports count), then mapped to where it is defined
       (``__module__`` + ``__qualname__``: a method inherited from a base class maps to the base
       class' method);
    2. otherwise, the one documented ``sgdllm`` name that ends with ``"." + target``.

    Returns ``None`` when nothing, or more than one object, matches: the reference stays broken.

    >>> resolve_short_reference("Scaler.to_states", "sgdllm.truth", None,
    ...                         {"sgdllm.discretize.Scaler.to_states"})
    'sgdllm.discretize.Scaler.to_states'
    """
    target = target.lstrip("~.")
    if not target or " " in target:
        return None
    scopes = [f"{module}.{cls}." if module and cls else None, f"{module}." if module else None]
    for prefix in [*filter(None, scopes), ""]:
        path = prefix + target
        if path in documented:
            return path
        obj = _import_path(path) if path.startswith("sgdllm.") else _MISSING
        if obj is _MISSING:
            continue
        owner = getattr(obj, "__module__", None)
        qualname = getattr(obj, "__qualname__", None)
        if isinstance(owner, str) and isinstance(qualname, str):
            canonical = f"{owner}.{qualname}"
            if canonical in documented:
                return canonical
    matches = [n for n in documented if n.startswith("sgdllm.") and n.endswith("." + target)]
    return matches[0] if len(matches) == 1 else None


def names_sgdllm_object(target: str, module: str | None, cls: str | None) -> bool:
    """Whether ``target``, read as :func:`resolve_short_reference` reads it, names an existing
    object of the ``sgdllm`` package (documented or not).

    >>> names_sgdllm_object("ALL_FAMILIES", "sgdllm.lm.processes", "AR1")
    True
    >>> names_sgdllm_object("ALL_FAMILIEZ", "sgdllm.lm.processes", "AR1")
    False
    """
    target = target.lstrip("~.")
    scopes = [f"{module}.{cls}." if module and cls else None, f"{module}." if module else None]
    return any(
        (prefix + target).startswith("sgdllm.") and _import_path(prefix + target) is not _MISSING
        for prefix in [*filter(None, scopes), ""]
    )


def _missing_reference(app: Any, env: Any, node: Any, contnode: Any) -> Any:
    """``missing-reference``: resolve short ``sgdllm`` references (see the module docstring)."""
    if node.get("refdomain") != "py":
        return None
    domain = env.get_domain("py")
    target, module, cls = node.get("reftarget", ""), node.get("py:module"), node.get("py:class")
    name = resolve_short_reference(target, module, cls, domain.objects)
    if name is not None:
        return domain.resolve_xref(
            env, node["refdoc"], app.builder, node["reftype"], name, node, contnode
        )
    if names_sgdllm_object(target, module, cls):
        return contnode  # exists, but has no entry to link to: code without a link
    return None


def _is_mathjax2(path: str) -> bool:
    return PurePosixPath(urlsplit(path).path).name == "MathJax.js"


def _local_mathjax2(config: Any) -> bool:
    path = config.mathjax_path or ""
    return _is_mathjax2(path) and "://" not in path and not path.startswith("//")


def _configure_mathjax(app: Any, config: Any) -> None:
    """``config-inited``: the MathJax 2 configuration, when ``mathjax_path`` is a local v2.

    Set here rather than later so that Sphinx sees a change of it and rewrites every page.
    """
    if not _local_mathjax2(config):
        return
    classes = getattr(config, "myst_mathjax_classes", None)  # the classes MyST leaves to MathJax
    base = _merged(MATHJAX2_CONFIG, {"tex2jax": {"processClass": classes}} if classes else {})
    config.mathjax2_config = _merged(base, config.mathjax2_config or {})


def _use_local_mathjax(app: Any) -> None:
    """``builder-inited``: copy MathJax 2 into the build; drop MyST's MathJax 3 configuration."""
    if app.builder.format != "html" or not _local_mathjax2(app.config):
        return
    copy_mathjax(Path(app.outdir) / "_static")
    # MyST fills mathjax3_config (its classes, already in mathjax2_config); Sphinx would write it
    # as ``window.MathJax = ...``, which MathJax 2 takes for its own configuration
    app.config.mathjax3_config = None


def _is_thebe_script(js: Any) -> bool:
    filename = str(getattr(js, "filename", "") or "")
    body = str(getattr(js, "attributes", {}).get("body", ""))
    return filename.endswith("sphinx-thebe.js") or "THEBE_JS_URL" in body


def _drop_thebe(
    app: Any, pagename: str, templatename: str, context: dict[str, Any], doctree: Any
) -> None:
    """``html-page-context``: remove sphinx-thebe's scripts when thebe is off."""
    launch = (app.config.html_theme_options or {}).get("launch_buttons", {})
    scripts = context.get("script_files")
    if launch.get("thebe") or not isinstance(scripts, list):
        return
    scripts[:] = [js for js in scripts if not _is_thebe_script(js)]


def _move_launch_buttons(
    app: Any, pagename: str, templatename: str, context: dict[str, Any], doctree: Any
) -> None:
    """``html-page-context`` (after sphinx-book-theme): launch buttons use the launch branch.

    ``path_to_book: "."`` also leaves ``/./`` in the notebook path of every launch URL, which
    the launch services need not normalize; it is removed.
    """
    options = app.config.html_theme_options or {}
    new_branch = app.config.sgdllm_launch_branch
    repo_url = options.get("repository_url", "")
    branch = options.get("repository_branch", "")
    for group in context.get("header_buttons", []):
        if group.get("label") != "launch-buttons":
            continue
        for button in group.get("buttons", []):
            if "url" not in button:
                continue
            url = button["url"].replace("/./", "/")
            if new_branch and repo_url and branch:
                url = launch_url_on_branch(url, repo_url, branch, new_branch)
            button["url"] = url


def claims_table_directive() -> type:
    """The ``claims-table`` directive: :func:`sgdllm.book.claims.claims_markdown`, parsed as MyST.

    Option ``records``: the records folder, relative to the book's root (default
    ``_build/records``). The records become dependencies of the page, so that an incremental
    build renders it again when a chapter is executed again.
    """
    from docutils import nodes
    from docutils.parsers.rst import directives
    from docutils.statemachine import StringList
    from sphinx.util.docutils import SphinxDirective

    from sgdllm.book.claims import claim_chapters, claims_markdown, load_claim_records

    class ClaimsTable(SphinxDirective):
        has_content = False
        option_spec: ClassVar[dict[str, Any]] = {"records": directives.unchanged}

        def run(self) -> list[nodes.Node]:
            folder = Path(self.env.srcdir) / self.options.get("records", "_build/records")
            for chapter in claim_chapters():
                self.env.note_dependency(str(folder / f"{chapter}.json"))
            try:
                text = claims_markdown(load_claim_records(folder))
            except (OSError, ValueError) as err:
                raise self.error(f"claims-table: {err}") from err
            # full-width (sphinx-book-theme): the six columns spread into the right margin,
            # whose table of contents the theme hides while the table is in view. A compound,
            # not a container: the theme resets the width of ".docutils.container"
            container = nodes.compound(classes=["sgdllm-claims", "full-width"])
            self.state.nested_parse(StringList(text.splitlines()), self.content_offset, container)
            return [container]

    return ClaimsTable


def settings_markdown(root: str | Path, parameters: list[str]) -> str:
    """A table of the published book's settings: for each chapter of ``_toc.yml`` (in order)
    that declares one of ``parameters``, the default of its ``parameters`` cell (the ``book``
    profile), written in words (:func:`sgdllm.book.prose.prose`; model ids by their titles).
    Chapters link to their pages."""
    import yaml

    from sgdllm.book.executor import BookLayout, declared_parameters
    from sgdllm.book.prose import prose

    layout = BookLayout(Path(root))
    toc = yaml.safe_load((layout.root / "_toc.yml").read_text())
    files = [c["file"] for part in toc.get("parts", []) for c in part.get("chapters", [])]
    names = [f.rsplit("/", 1)[-1] for f in files if f.startswith("book/chapters/")]
    lines = [
        "| chapter | " + " | ".join(parameters) + " |",
        "| --- | " + " | ".join("---" for _ in parameters) + " |",
    ]
    for name in names:
        source = layout.source(name)
        if not source.is_file():
            continue
        declared = declared_parameters(source)
        if not any(p in declared for p in parameters):
            continue
        cells = []
        for p in parameters:
            value = declared.get(p)
            if p == "models" and isinstance(value, list):
                from sgdllm.lm.ladder import model_title

                value = [model_title(str(v)) for v in value]
            cells.append("—" if value is None else prose(value))
        lines.append(f"| {{doc}}`/book/chapters/{name}` | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def settings_table_directive() -> type:
    """The ``book-settings`` directive: :func:`settings_markdown`, parsed as MyST.

    Option ``parameters``: the parameter names, separated by spaces (e.g. ``digits models``).
    The chapters' sources become dependencies of the page.
    """
    from docutils import nodes
    from docutils.parsers.rst import directives
    from docutils.statemachine import StringList
    from sphinx.util.docutils import SphinxDirective

    class BookSettings(SphinxDirective):
        has_content = False
        option_spec: ClassVar[dict[str, Any]] = {"parameters": directives.unchanged_required}

        def run(self) -> list[nodes.Node]:
            parameters = self.options.get("parameters", "").split()
            if not parameters:
                raise self.error("book-settings: give :parameters: (e.g. digits models)")
            root = Path(self.env.srcdir)
            for source in sorted((root / "notebooks").glob("*.md")):
                self.env.note_dependency(str(source))
            try:
                text = settings_markdown(root, parameters)
            except (OSError, ValueError) as err:
                raise self.error(f"book-settings: {err}") from err
            container = nodes.container(classes=["sgdllm-settings"])
            self.state.nested_parse(StringList(text.splitlines()), self.content_offset, container)
            return [container]

    return BookSettings


def setup(app: Any) -> dict[str, Any]:
    """Sphinx entry point (``sphinx: extra_extensions: [sgdllm.book.site]`` in ``_config.yml``)."""
    app.add_config_value("sgdllm_launch_branch", "", "html", types=[str])
    app.connect("config-inited", _configure_mathjax, priority=900)
    app.connect("config-inited", _add_repository_substitutions, priority=900)
    # after MyST's own builder-inited handler, which fills mathjax3_config
    app.connect("builder-inited", _use_local_mathjax, priority=900)
    # after sphinx-book-theme's add_launch_buttons (priority 501)
    app.connect("html-page-context", _move_launch_buttons, priority=900)
    app.connect("html-page-context", _drop_thebe, priority=900)
    app.connect("missing-reference", _missing_reference)
    app.add_directive("claims-table", claims_table_directive())
    app.add_directive("book-settings", settings_table_directive())
    return {"parallel_read_safe": True, "parallel_write_safe": True}
