"""Reliability of ``sgdllm book`` (issue 14, "Book execution"): one-unit publication, no
orphaned worker or kernel, Ctrl-C / SIGTERM, dead kernels and cell timeouts, parameter types,
cache keys, leftovers. Every chapter here is a throwaway one in a temporary root; the kill
tests run ``python -m sgdllm book`` as a subprocess and send it real signals."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import numpy as np
import pytest

from sgdllm.book import executor as book
from sgdllm.book.executor import (
    BookLayout,
    ChapterFailed,
    Expression,
    build_book,
    chapter_parameters,
    check_parameter,
    declared_parameters,
    execute_chapter,
    is_up_to_date,
    parse_overrides,
    publish_problem,
    source_files,
    sweep_staging,
)
from sgdllm.book.records import file_mode, write_json_atomic
from sgdllm.cli import main as cli_main
from tests.book.test_book import FIGURE_CODE, _mini_book
from tests.conftest import ROOT

# ----------------------------------------------------------------------------- helpers


def _marked(marker: str) -> list[int]:
    """Live processes (not zombies) whose environment holds ``marker``."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if b"\nState:\tZ" in (entry / "status").read_bytes():
                continue
            if marker.encode() in (entry / "environ").read_bytes():
                pids.append(int(entry.name))
        except OSError:
            continue
    return pids


def _wait_for(predicate, timeout: float, step: float = 0.1) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


@pytest.fixture
def marker():
    """A unique environment marker; every process still carrying it at the end is killed
    (and the test fails, if it got that far, because it checks for them itself)."""
    value = f"SGDLLM_TEST_{uuid.uuid4().hex}"
    yield value
    for pid in _marked(value):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _start_cli(root: Path, marker: str, *args: str) -> subprocess.Popen:
    env = {**os.environ, marker: "1", "MPLBACKEND": "Agg", "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "sgdllm", "book", "--root", str(root), "--no-html", *args]
    return subprocess.Popen(
        cmd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a shell job is
    )


SLOW_CODE = (
    "from pathlib import Path\nimport time\nPath('started-' + NAME).touch()\ntime.sleep(120)"
)


@pytest.fixture(autouse=True)
def _pinned_package(monkeypatch):
    """Other work may edit sgdllm/ while these tests run: pin the package digest."""
    monkeypatch.setattr(book, "_package_digest", lambda: "pinned")


# ----------------------------------------------------------------------------- 1. one unit


def test_a_publication_cut_between_its_renames_is_detected_and_rerun(tmp_path, monkeypatch):
    layout = _mini_book(tmp_path, FIGURE_CODE)
    execute_chapter(layout, "demo", profile="ci")  # x = 2: the good publication
    good = json.loads((layout.records / "demo.json").read_text())
    assert publish_problem(layout, "demo") == ""
    assert is_up_to_date(layout, "demo", good["cache_key"])

    real = book._rename
    for cut in (3, 4):  # before the notebook, before the record
        calls = []

        def rename(src, dst, calls=calls, cut=cut):
            calls.append(dst)
            if len(calls) == cut:
                raise KeyboardInterrupt  # a kill between two renames
            real(src, dst)

        monkeypatch.setattr(book, "_rename", rename)
        with pytest.raises(KeyboardInterrupt):
            execute_chapter(layout, "demo", profile="ci", overrides={"x": 5})
        monkeypatch.setattr(book, "_rename", real)
        assert json.loads((layout.records / "demo.json").read_text()) == good
        assert "not the one of the record" in publish_problem(layout, "demo")
        assert not is_up_to_date(layout, "demo", good["cache_key"]), f"cut at rename {cut}"
        assert not list(layout.staging.glob("demo.run-*")), "the staging folder is removed"
        # the next build with the record's own parameters must not call it up to date
        assert build_book(tmp_path, profile="ci", html=False, progress=False, jobs=1)
        record = json.loads((layout.records / "demo.json").read_text())
        assert record["numbers"] == {"x_used": 2} and publish_problem(layout, "demo") == ""
        meta = json.loads((layout.figures / "demo" / "line.json").read_text())
        assert meta["parameters"]["x"] == 2 and meta["run_id"] == record["run_id"]
        good = record


def test_damaged_published_outputs_are_rerun_and_left_out_of_the_manifest(tmp_path):
    layout = _mini_book(tmp_path, FIGURE_CODE)
    run = dict(profile="ci", html=False, progress=False, jobs=1)
    assert build_book(tmp_path, **run)
    assert build_book(tmp_path, **run) == []
    notebook = layout.published / "demo.ipynb"
    notebook.write_bytes(notebook.read_bytes()[:100])  # truncated
    assert "notebook" in publish_problem(layout, "demo")
    book.write_manifest(layout, ["demo"])
    manifest = json.loads((layout.figures / "manifest.json").read_text())
    assert manifest["figures"] == [], "a damaged chapter is not listed"
    assert build_book(tmp_path, **run), "a truncated notebook reruns the chapter"
    png = layout.figures / "demo" / "line.png"
    png.write_bytes(png.read_bytes()[:50])  # truncated figure
    assert "line.png" in publish_problem(layout, "demo")
    assert build_book(tmp_path, **run), "a truncated figure reruns the chapter"
    (layout.figures / "demo" / "extra.png").write_bytes(b"\x89PNG stray")
    assert build_book(tmp_path, **run), "a figure of another run in the folder"
    manifest = json.loads((layout.figures / "manifest.json").read_text())
    (entry,) = manifest["figures"]
    assert entry["sha256"] == book._sha256_file(png) and entry["bytes"] == png.stat().st_size


# ----------------------------------------------------------------------------- 2, 3. kills


def test_killing_the_build_leaves_no_worker_or_kernel_and_publishes_nothing(tmp_path, marker):
    layout = _mini_book(tmp_path, SLOW_CODE, extra={"second": SLOW_CODE, "third": "pass"})
    proc = _start_cli(tmp_path, marker, "--profile", "ci", "--jobs", "2")
    started = [tmp_path / "started-demo", tmp_path / "started-second"]
    assert _wait_for(lambda: all(p.exists() for p in started), 90), proc.stderr
    assert len(_marked(marker)) >= 5, "main, two workers, two kernels"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    assert _wait_for(lambda: not _marked(marker), 10), f"orphans: {_marked(marker)}"
    time.sleep(1)
    assert not list(layout.published.glob("*.ipynb")), "nothing published after the kill"
    assert not list(layout.records.glob("*.json"))
    # its staging folders are unlocked now: the next start sweeps them
    leftovers = list(layout.staging.glob("*.run-*"))
    assert leftovers, "SIGKILL gives the build no chance to clean up"
    assert sweep_staging(layout, min_age=0) and not list(layout.staging.glob("*.run-*"))


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_ctrl_c_or_sigterm_stops_a_parallel_build_within_seconds(tmp_path, marker, signum, code):
    layout = _mini_book(tmp_path, SLOW_CODE, extra={"second": SLOW_CODE, "queued": "pass"})
    proc = _start_cli(tmp_path, marker, "--profile", "ci", "--jobs", "2")
    started = [tmp_path / "started-demo", tmp_path / "started-second"]
    assert _wait_for(lambda: all(p.exists() for p in started), 90)
    sent = time.monotonic()
    if signum == signal.SIGINT:
        os.killpg(proc.pid, signum)  # a terminal sends Ctrl-C to the whole job
    else:
        os.kill(proc.pid, signum)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == code
    assert time.monotonic() - sent < 10
    assert "Traceback" not in err
    ours = [line for line in err.splitlines() if line.startswith("sgdllm book:")]
    assert len(ours) == 1 and signal.Signals(signum).name in ours[0], err
    assert _wait_for(lambda: not _marked(marker), 5), f"left running: {_marked(marker)}"
    time.sleep(1)
    assert not (layout.published / "queued.ipynb").exists(), "the queued chapter never ran"
    assert not list(layout.records.glob("*.json"))
    assert not list(layout.staging.glob("*.run-*")), "the killed runs' staging is removed"


# ----------------------------------------------------------------------------- 4. kernels


def test_a_dead_kernel_names_chapter_and_cell(tmp_path, capfd):
    layout = _mini_book(tmp_path, "import os\nos._exit(3)")
    with pytest.raises(ChapterFailed) as info:
        execute_chapter(layout, "demo", profile="ci")
    message = str(info.value)
    assert "'demo'" in message and "kernel died" in message
    assert "cell 3 (`import os`)" in message, message  # the kept notebook's index
    assert not (layout.published / "demo.ipynb").exists()
    capfd.readouterr()
    assert cli_main(["book", "--root", str(tmp_path), "--profile", "ci", "--no-html"]) == 1
    err = capfd.readouterr().err
    assert "Traceback" not in err and "DeadKernelError" not in err
    assert "Kernel died while waiting" not in err, "the worker leaves the message to the build"
    ours = [line for line in err.splitlines() if line.startswith("sgdllm book:")]
    assert len(ours) == 1 and "kernel died" in ours[0] and "cell 3" in ours[0], err


def test_a_cell_that_never_returns_times_out_naming_chapter_and_cell(tmp_path):
    layout = _mini_book(tmp_path, "import time\ntime.sleep(600)")
    start = time.monotonic()
    with pytest.raises(ChapterFailed) as info:
        execute_chapter(layout, "demo", profile="ci", timeout=2)
    assert time.monotonic() - start < 60
    message = str(info.value)
    assert "'demo'" in message and "cell 3 (`import time`)" in message
    assert "time limit of 2 s" in message and "--timeout" in message
    assert not list(layout.staging.glob("demo.run-*"))


def test_timeouts_are_checked_and_read_from_the_profile(tmp_path):
    layout = _mini_book(tmp_path, "pass")
    assert book.profile_timeout(layout, "ci") == book.DEFAULT_CELL_TIMEOUT_S
    layout.profiles_file.write_text("book: {}\nci:\n  cell_timeout_s: 30\n  demo:\n    x: 2\n")
    assert book.profile_timeout(layout, "ci") == 30
    assert chapter_parameters(layout, "demo", "ci") == {"x": 2}
    for bad in (0, -1, float("nan"), "soon"):
        with pytest.raises(ValueError, match="positive number of seconds"):
            build_book(tmp_path, profile="ci", html=False, progress=False, timeout=bad)
    layout.profiles_file.write_text("ci:\n  cell_timeout_s: 0\n")
    with pytest.raises(ValueError, match="cell_timeout_s of profile 'ci'"):
        book.profile_timeout(layout, "ci")


# ----------------------------------------------------------------------------- 5. parameters

PARAMS_CELL = """\
seed = 0  # master seed
model = None  # a model
n_runs = 400  # chains
step = 0.02  # step
adam_betas = [0.9, 0.99]  # (beta1, beta2) of Adam; beta2 = 0.99 gives a short transient
early = (300, 500)  # window
horizons = [10, 30]
flag = True
name: str = "ar1"
grid = list(range(3))
records_dir = "_build/records"
profile = "book"
"""


def _params_book(tmp_path: Path) -> BookLayout:
    layout = _mini_book(tmp_path, "pass")
    text = layout.source("demo").read_text()
    start = text.index("x = 1")
    end = text.index("```", start)
    layout.source("demo").write_text(text[:start] + PARAMS_CELL + text[end:])
    return layout


def test_declared_parameters_are_read_with_ast_where_papermill_gives_up(tmp_path):
    layout = _params_book(tmp_path)
    declared = declared_parameters(layout.source("demo"))
    assert declared["adam_betas"] == [0.9, 0.99], "papermill skips a line with two '='"
    assert declared["model"] is None and declared["early"] == (300, 500)
    assert declared["name"] == "ar1" and declared["flag"] is True
    assert declared["grid"] == Expression("list(range(3))")
    real = declared_parameters(ROOT / "notebooks" / "adaptive_optimizers.md")
    assert real["adam_betas"] == [0.9, 0.99]


def test_parameter_values_are_checked_against_the_declared_types(tmp_path):
    layout = _params_book(tmp_path)

    def resolve(*items):
        return chapter_parameters(layout, "demo", "book", parse_overrides(list(items)))

    assert resolve("adam_betas=[0.9, 0.999]") == {"adam_betas": [0.9, 0.999]}
    assert resolve("n_runs=1e3", "step=2e-2") == {"n_runs": 1000, "step": 0.02}
    assert resolve("step=1") == {"step": 1.0} and isinstance(resolve("step=1")["step"], float)
    assert resolve("early=[1, 2]") == {"early": (1, 2)}
    assert resolve("horizons=[10, 1e3]") == {"horizons": [10, 1000]}
    assert resolve("model=gpt2", "grid=[1]") == {"model": "gpt2", "grid": [1]}
    refused = {
        "n_runs=abc": r"'n_runs' of chapter 'demo' \(-p\) expects an integer .* 400\), got 'abc'",
        "n_runs=1.5": "'n_runs'.*integer",
        "step=nan": "'step'.*finite number",
        "step=[1]": "'step'.*finite number",
        "flag=3": "'flag'.*true or false",
        "name=3": "'name'.*a string",
        "adam_betas=0.9": "'adam_betas'.*a list",
        "adam_betas=[0.9, x]": r"'adam_betas\[1\]'.*finite number",
    }
    for item, pattern in refused.items():
        with pytest.raises(ValueError, match=pattern):
            resolve(item)
    layout.profiles_file.write_text("book:\n  demo:\n    n_runs: many\n")
    with pytest.raises(ValueError, match=r"'n_runs' of chapter 'demo' \(profile 'book'\)"):
        chapter_parameters(layout, "demo", "book")
    assert check_parameter("x", "2e-2", 0.5) == 0.02


def test_reserved_parameters_and_bad_jobs_are_refused_before_any_work(tmp_path):
    layout = _params_book(tmp_path)
    for name in ("records_dir", "profile"):
        with pytest.raises(ValueError, match=f"'{name}' cannot be overridden"):
            parse_overrides([f"{name}=elsewhere"])
        with pytest.raises(ValueError, match=f"'{name}' cannot be overridden"):
            chapter_parameters(layout, "demo", "book", {name: "x"})
    for jobs in (0, -2):
        with pytest.raises(ValueError, match=f"jobs must be a positive .* got {jobs}"):
            build_book(tmp_path, html=False, progress=False, jobs=jobs)
    with pytest.raises(ValueError, match="'n_runs'"):
        build_book(tmp_path, chapters=["demo"], overrides={"n_runs": "abc"}, html=False)
    assert not layout.staging.exists(), "nothing ran"


def test_cli_gives_one_line_for_bad_parameters_roots_and_jobs(
    tmp_path, tmp_path_factory, capsys, monkeypatch
):
    _params_book(tmp_path)
    root = str(tmp_path)
    cases = {
        ("--chapter", "demo", "-p", "n_runs=abc"): "'n_runs'",
        ("--chapter", "demo", "-p", "records_dir=/tmp/x"): "'records_dir' cannot",
        ("--chapter", "demo", "-p", "profile=ci"): "--profile NAME",
        ("--chapter", "demo", "-p", "x=[1"): "cannot read '[1'",
        ("--jobs", "0"): "jobs must be a positive",
        ("--timeout", "0"): "positive number of seconds",
    }
    for args, expected in cases.items():
        assert cli_main(["book", "--root", root, "--no-html", *args]) == 1
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and expected in err, err
    for bad in (tmp_path / "nope", tmp_path / "_config.yml"):
        assert cli_main(["book", "--root", str(bad)]) == 1
        err = capsys.readouterr().err
        assert err.startswith("sgdllm book: --root") and len(err.strip().splitlines()) == 1
    monkeypatch.chdir(tmp_path_factory.mktemp("elsewhere"))  # outside any repository
    assert cli_main(["book"]) == 1
    assert "no _config.yml and _toc.yml found" in capsys.readouterr().err
    (tmp_path / "_toc.yml").write_text("chapters: [unclosed\n")
    assert cli_main(["book", "--root", root]) == 1
    assert "is not valid YAML" in capsys.readouterr().err


# ----------------------------------------------------------------------------- 6. cache


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
    )


def test_the_key_covers_tracked_package_files_only(tmp_path):
    repo = tmp_path / "repo"
    package = repo / "pkg"
    (package / "models").mkdir(parents=True)
    (package / "core.py").write_text("x = 1\n")
    (package / "models" / "weights.bin").write_bytes(b"w1")
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "init")
    tracked = [package / "core.py", package / "models" / "weights.bin"]
    (package / "scratch.py").write_text("print('try')\n")
    (package / "__pycache__").mkdir()
    (package / "__pycache__" / "core.cpython-311.pyc").write_bytes(b"\0")
    assert source_files(package) == tracked, "untracked scratch and caches do not count"
    outside = tmp_path / "wheel"
    (outside / "__pycache__").mkdir(parents=True)
    (outside / "core.py").write_text("x = 1\n")
    (outside / ".core.py.swp").write_text("editor")
    (outside / "__pycache__" / "core.pyc").write_bytes(b"\0")
    assert source_files(outside) == [outside / "core.py"], "outside git: all but caches"


def test_package_digest_follows_tracked_content(monkeypatch, tmp_path):
    monkeypatch.undo()  # the real digest, not the pinned one
    package = Path(book.__file__).resolve().parents[1]
    files = source_files(package)
    assert package / "book" / "executor.py" in files and package / "kernel.py" in files
    assert package / "models" / "default" / "config.json" in files
    assert all("__pycache__" not in p.parts for p in files)
    assert book._package_digest() == book._package_digest()


# ----------------------------------------------------------------------------- 7. leftovers


def test_stale_staging_is_swept_and_live_runs_are_kept(tmp_path, monkeypatch):
    layout = _mini_book(tmp_path, "pass")
    old = time.time() - 3600
    dead, dead_fd = book._claim_run_dir(layout, "demo")
    os.close(dead_fd)  # its lock released, as when the process holding it is killed
    live, live_fd = book._claim_run_dir(layout, "demo")
    fresh = layout.staging / "demo.run-fresh"
    fresh.mkdir()
    legacy = [layout.staging / ".inspect-demo.ipynb", layout.staging / "demo.input.ipynb"]
    for path in legacy:
        path.write_text("{}")
    old_figures = layout.figures / ".demo.old-abc"
    old_figures.mkdir(parents=True)
    for path in [dead, live, *legacy, old_figures]:
        os.utime(path, (old, old))
    try:
        removed = set(sweep_staging(layout))
    finally:
        os.close(live_fd)
    assert removed == {dead, *legacy, old_figures}
    assert live.is_dir(), "a run another process holds is kept"
    assert fresh.is_dir(), "a folder younger than STALE_AFTER_S may be a run being created"


def test_parameters_are_inspected_concurrently_without_scratch_files(tmp_path):
    layout = _params_book(tmp_path)
    errors: list[BaseException] = []

    def inspect() -> None:
        try:
            for _ in range(5):
                assert declared_parameters(layout.source("demo"))["n_runs"] == 400
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=inspect) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert not layout.staging.exists(), "no .inspect-<chapter>.ipynb or any other file"


@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_records_figures_and_caches_follow_the_umask(tmp_path, umask):
    from sgdllm.lm.cache import save_laws

    old = os.umask(umask)
    try:
        assert file_mode() == 0o666 & ~umask
        record = write_json_atomic(tmp_path / "r.json", {"a": 1})
        npy = save_laws(tmp_path / "cache", "k" * 64, np.full((2, 3), 1 / 3))
    finally:
        os.umask(old)
    for path in (record, npy, npy.with_suffix(".json")):
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask, path


def test_published_files_of_a_run_follow_the_umask(tmp_path):
    layout = _mini_book(tmp_path, FIGURE_CODE)
    execute_chapter(layout, "demo", profile="ci")
    for path in (
        layout.records / "demo.json",
        layout.published / "demo.ipynb",
        layout.figures / "demo" / "line.png",
        layout.figures / "demo" / "line.json",
    ):
        assert stat.S_IMODE(path.stat().st_mode) == file_mode(), path
