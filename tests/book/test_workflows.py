"""The GitHub Actions workflows: actionlint finds nothing in them, and they do what README says.

``ci.yml`` runs README's test command (``bash .ci/run``) on every push and pull request;
``publish.yml`` builds the book profile on pushes to ``main``, deploys it to GitHub Pages and
pushes the executed notebooks with ``.ci/publish-executed``, which is run here on a scratch
repository.

actionlint is the ``actionlint`` command of the ``dev`` extra. Without it the lint test is
skipped with a message, unless the environment variable ``CI`` is set: then it fails, so CI
cannot skip it silently (the policy of ``tests/book/test_browser.py``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import ROOT

WORKFLOWS = ROOT / ".github" / "workflows"
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())


def load_workflow(name: str) -> dict[str, Any]:
    """A workflow file as YAML data, its ``on:`` key as the string ``"on"`` (YAML 1.1 reads the
    bare word as ``True``)."""
    data = yaml.safe_load((WORKFLOWS / name).read_text())
    if True in data:
        data["on"] = data.pop(True)
    return data


def steps(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    """Every step of every job, in order."""
    return [step for job in workflow["jobs"].values() for step in job.get("steps", [])]


def uses(workflow: dict[str, Any], action: str) -> list[dict[str, Any]]:
    """The steps that use ``action`` (``owner/name``, any version)."""
    return [s for s in steps(workflow) if s.get("uses", "").split("@")[0] == action]


def runs(workflow: dict[str, Any]) -> str:
    """The shell lines of every ``run:`` step, joined."""
    return "\n".join(s["run"] for s in steps(workflow) if "run" in s)


# --------------------------------------------------------------------------- actionlint


def find_actionlint() -> str | None:
    """``$ACTIONLINT``, else ``actionlint`` next to this Python (the virtualenv's ``bin``, on
    ``PATH`` or not), else on ``PATH``."""
    candidates = [
        os.environ.get("ACTIONLINT"),
        str(Path(sys.executable).parent / "actionlint"),
        shutil.which("actionlint"),
    ]
    for candidate in candidates:
        if candidate and (path := shutil.which(candidate)):
            return path
    return None


def require_actionlint() -> str:
    """Path of ``actionlint``; skip, or fail when ``CI`` is set, if it is missing."""
    path = find_actionlint()
    if path is None:
        why = (
            "actionlint was not found (install the dev extra: pip install -e '.[dev]'; or set "
            "ACTIONLINT=/path/to/actionlint)"
        )
        if os.environ.get("CI"):
            pytest.fail(f"CI is set but the workflows cannot be linted: {why}")
        pytest.skip(f"workflow lint skipped: {why}; set CI=1 to make this a failure")
    return path


def actionlint(*args: str | Path, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [require_actionlint(), "-no-color", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_missing_actionlint_skips_locally_and_fails_under_ci(monkeypatch):
    monkeypatch.delenv("ACTIONLINT", raising=False)
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"pip install -e '\.\[dev\]'"):
        require_actionlint()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI is set"):
        require_actionlint()


def test_the_workflows_pass_actionlint():
    files = sorted(WORKFLOWS.glob("*.yml"))
    assert [f.name for f in files] == ["ci.yml", "publish.yml"]
    result = actionlint(*files)
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_actionlint_reports_a_broken_workflow(tmp_path):
    # the lint test above would pass if actionlint checked nothing: it must see these mistakes
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "on: [push]\n"
        "jobs:\n"
        "  a:\n"
        "    runs-on: ubuntu-latest\n"
        "    steps:\n"
        "      - run: echo ${{ github.nonexistent_context_value }}\n"
        "  b:\n"
        "    needs: missing_job\n"
        "    runs-on: ubuntu-latest\n"
        "    steps:\n"
        "      - uses: actions/checkout@v5\n"
        "        with:\n"
        "          not_an_input: 1\n"
    )
    result = actionlint(broken, cwd=tmp_path)
    assert result.returncode == 1
    for mistake in ("nonexistent_context_value", "missing_job", "not_an_input"):
        assert mistake in result.stdout


# --------------------------------------------------------------------------- what they run


def test_ci_runs_readmes_test_command_on_pushes_and_pull_requests():
    ci = load_workflow("ci.yml")
    assert {"push", "pull_request"} <= set(ci["on"])
    assert ci["on"]["push"] is None  # every branch
    (job,) = ci["jobs"].values()
    assert job["runs-on"] == "ubuntu-latest"
    # Python 3.11 (dev.sh requires it): Debian's Python 3.11 image, whose apt has `chromium`
    assert job["container"].startswith("python:3.11-")
    assert "apt-get install -y -qq chromium" in runs(ci)
    assert [s["run"] for s in steps(ci) if "run" in s][-1] == "bash .ci/run"
    assert uses(ci, "actions/checkout")
    assert "bash .ci/run" in (ROOT / "README.md").read_text()


def test_publish_builds_the_book_profile_and_deploys_pages():
    pub = load_workflow("publish.yml")
    assert pub["on"]["push"] == {"branches": ["main"]}
    assert "workflow_dispatch" in pub["on"]
    build, deploy = pub["jobs"]["build"], pub["jobs"]["deploy"]
    assert build["timeout-minutes"] >= 60
    lines = [s["run"] for s in build["steps"] if "run" in s]
    assert "bash dev.sh book" in lines  # the book profile: no --profile ci
    assert "--profile" not in runs(pub)
    (python,) = uses(pub, "actions/setup-python")
    assert python["with"]["python-version"] == "3.11"
    (upload,) = uses(pub, "actions/upload-pages-artifact")
    assert upload["with"]["path"] == "_build/html"  # where `sgdllm book` writes the HTML
    assert build["steps"].index(upload) > lines.index("bash dev.sh book")
    assert deploy["needs"] == "build"
    assert deploy["permissions"] == {"pages": "write", "id-token": "write"}
    assert deploy["environment"]["name"] == "github-pages"
    (deployment,) = uses(pub, "actions/deploy-pages")
    assert deploy["environment"]["url"] == f"${{{{ steps.{deployment['id']}.outputs.page_url }}}}"


def test_publish_pushes_the_executed_notebooks_with_its_own_permission():
    pub = load_workflow("publish.yml")
    assert pub["permissions"] == {"contents": "read"}  # the default of every job
    build = pub["jobs"]["build"]
    assert build["permissions"] == {"contents": "write"}
    lines = [s["run"] for s in build["steps"] if "run" in s]
    assert lines.index("bash .ci/publish-executed") > lines.index("bash dev.sh book")
    # neither the repository nor the branch is typed in the workflow: the script reads them
    text = (WORKFLOWS / "publish.yml").read_text()
    assert CONFIG["repository"]["url"] not in text
    branch = re.compile(
        rf"(?<![\w-]){re.escape(CONFIG['sphinx']['config']['sgdllm_launch_branch'])}(?![\w-])"
    )
    assert not [v for v in _values(pub) if branch.search(v)]


def _values(data: Any, key: str = "") -> list[str]:
    """The string values of a workflow, except its names (prose)."""
    if isinstance(data, dict):
        return [v for k, item in data.items() for v in _values(item, str(k))]
    if isinstance(data, list):
        return [v for item in data for v in _values(item, key)]
    return [data] if isinstance(data, str) and key != "name" else []


# --------------------------------------------------------------------------- .ci/publish-executed


def _git(*args: str, cwd: Path) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, check=True
    ).stdout.strip()


@pytest.fixture
def scratch_repo(tmp_path) -> tuple[Path, Path]:
    """``(work, remote)``: a committed source tree whose ``_config.yml`` points at the bare
    repository ``remote``, with two executed notebooks in the ignored ``book/chapters/``."""
    remote, work = tmp_path / "remote.git", tmp_path / "work"
    _git("init", "--quiet", "--bare", str(remote), cwd=tmp_path)
    (work / ".ci").mkdir(parents=True)
    shutil.copy(ROOT / ".ci" / "publish-executed", work / ".ci")
    config = {
        "repository": {"url": str(remote), "branch": "main"},
        "sphinx": {"config": {"sgdllm_launch_branch": "launch"}},
    }
    (work / "_config.yml").write_text(yaml.safe_dump(config))
    (work / ".gitignore").write_text("book/chapters/\n")
    (work / "environment.yml").write_text("name: x\n")
    (work / "notebooks").mkdir()
    (work / "notebooks" / "a.md").write_text("# A\n")
    _git("init", "--quiet", "-b", "main", cwd=work)
    _git("add", ".", cwd=work)
    _git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "--quiet", "-m", "src", cwd=work)
    (work / "book" / "chapters").mkdir(parents=True)
    for name in ("a", "b"):
        nb = {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5, "name": name}
        (work / "book" / "chapters" / f"{name}.ipynb").write_text(json.dumps(nb))
    return work, remote


def _publish(work: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")}
    return subprocess.run(
        ["bash", str(work / ".ci" / "publish-executed")],
        cwd=work.parent,  # the script finds the repository root itself
        env={**environ, "PYTHON": sys.executable, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_publish_executed_pushes_sources_and_notebooks_to_the_launch_branch(scratch_repo):
    work, remote = scratch_repo
    head = _git("rev-parse", "HEAD", cwd=work)
    result = _publish(work)
    assert result.returncode == 0, result.stderr
    files = _git("ls-tree", "-r", "--name-only", "launch", cwd=remote).splitlines()
    assert set(files) == {
        ".ci/publish-executed",
        ".gitignore",
        "_config.yml",
        "environment.yml",
        "notebooks/a.md",
        "book/chapters/a.ipynb",
        "book/chapters/b.ipynb",
    }
    assert _git("rev-parse", "launch^", cwd=remote) == head  # built from this source commit
    # the source checkout is untouched: nothing staged, the notebooks still ignored
    assert _git("status", "--porcelain", cwd=work) == ""
    assert _git("rev-parse", "HEAD", cwd=work) == head
    assert "main" not in _git("branch", "--list", cwd=remote)
    # a second build replaces the branch
    (work / "book" / "chapters" / "b.ipynb").unlink()
    assert _publish(work).returncode == 0
    files = _git("ls-tree", "-r", "--name-only", "launch", cwd=remote).splitlines()
    assert "book/chapters/b.ipynb" not in files and "book/chapters/a.ipynb" in files


def test_publish_executed_refuses_to_push_nothing(scratch_repo):
    work, remote = scratch_repo
    shutil.rmtree(work / "book" / "chapters")
    result = _publish(work)
    assert result.returncode == 1
    assert "bash dev.sh book" in result.stderr
    assert _git("branch", "--list", cwd=remote) == ""


def test_publish_executed_in_a_fork_pushes_nothing_and_warns(scratch_repo):
    work, remote = scratch_repo
    result = _publish(work, GITHUB_REPOSITORY="someone/fork", GITHUB_SERVER_URL="https://x.test")
    assert result.returncode == 0
    assert "::warning::" in result.stdout and "someone/fork" in result.stdout
    assert _git("branch", "--list", cwd=remote) == ""


def test_the_workflows_install_the_cpu_build_of_torch_as_binder_does():
    binder = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in binder["dependencies"] if isinstance(d, dict))
    (index,) = [line.split()[1] for line in pip if line.startswith("--extra-index-url")]
    for name in ("ci.yml", "publish.yml"):
        assert load_workflow(name)["env"]["PIP_EXTRA_INDEX_URL"] == index, name
