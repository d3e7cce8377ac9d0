"""Speed of the book: full builds with both profiles, a rebuild after one edit, a no-op rebuild.

Run from the repository root (the CPU should be otherwise idle)::

    python benchmarks/bench_book.py            # writes benchmarks/results/book.json
    python benchmarks/bench_book.py --ci-only  # stage 1; keeps stages 2-4 of the last run
    python benchmarks/bench_book.py --book-only  # stages 2-4; keeps stage 1 of the last run

Everything runs in a scratch copy of the working tree (no ``.venv``, no ``_build``), so the
repository's own build is untouched. Measured, in one run, with ``sgdllm book`` (two processes):

1. the CI profile from scratch, every chapter executed, HTML built (goal <= 10 min);
2. the book profile from scratch, the same, with the three models of the ladder (goal <= 30 min);
3. the book profile again after appending a sentence to one chapter (goal <= 3 min): only that
   chapter and the appendix, which reads every record, are executed again, then the HTML;
4. the book profile again with nothing changed (every chapter up to date: the HTML only).

The reference measured in the same run is the serial cost: the sum of the chapters' own wall
times from their records, i.e. what one process would spend executing them; the ratios say what
two processes and the cache buy. Goals are absolute minutes on 2 cores, as the issue states them.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
EDITED = "sgd_markov_chain"
#: Goals of the model-ladder issue (issue 12): the book profile runs three language models.
GOALS_S = {"ci_full": 600, "book_full": 1800, "book_after_edit": 180}


def scratch_copy(dest: Path) -> Path:
    """Copy the working tree without environments, builds and caches."""
    ignore = shutil.ignore_patterns(".venv", "_build", ".git", "__pycache__", "*.ipynb", ".*cache")
    shutil.copytree(ROOT, dest, ignore=ignore)
    return dest


def timed_build(root: Path, *args: str) -> float:
    """Wall time of ``sgdllm book --root ROOT ARGS`` (fails loudly if the build fails)."""
    exe = Path(sys.executable).with_name("sgdllm")
    t0 = time.perf_counter()
    subprocess.run([str(exe), "book", "--root", str(root), *args], check=True)
    return time.perf_counter() - t0


def serial_seconds(root: Path) -> dict[str, float]:
    """Each chapter's own wall time, from the records of the last build."""
    out = {}
    for path in sorted((root / "_build" / "records").glob("*.json")):
        if path.name.endswith(".numbers.json"):
            continue
        record = json.loads(path.read_text())
        out[record["chapter"]] = record["wall_time_s"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--ci-only",
        action="store_true",
        help="only the CI profile; the book stages are kept from the last results file, dated",
    )
    parser.add_argument(
        "--book-only",
        action="store_true",
        help="skip the CI profile; its numbers are kept from the last results file, with its date",
    )
    args = parser.parse_args()
    if args.ci_only and args.book_only:
        parser.error("--ci-only and --book-only exclude each other")
    env_note = "MPLBACKEND unset; MALLOC_* as dev.sh sets them"
    os.environ.setdefault("MALLOC_MMAP_MAX_", "0")
    os.environ.setdefault("MALLOC_TRIM_THRESHOLD_", "100000000000")
    results: dict[str, object] = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "env": env_note,
        "goals_s": GOALS_S,
    }
    with tempfile.TemporaryDirectory(prefix="sgdllm-bench-book-") as tmp:
        root = scratch_copy(Path(tmp) / "book")
        if args.book_only:
            last = json.loads((RESULTS / "book.json").read_text())
            if "ci_full" not in last.get("stages_measured", []):
                raise SystemExit("--book-only needs a results file whose CI stage was measured")
            keys = ("ci_full_s", "ci_serial_chapter_s", "ci_full_vs_serial")
            results.update(
                {k: last[k] for k in keys}, ci_measured_on=last.get("ci_measured_on", last["date"])
            )
            ci = float(last["ci_full_s"])
            print(f"CI profile: {ci:.0f} s, kept from the run of {last['date']}")
        else:
            ci = timed_build(root, "--profile", "ci", "--force")
            ci_serial = serial_seconds(root)
            results["ci_full_s"] = round(ci, 1)
            results["ci_serial_chapter_s"] = ci_serial
            results["ci_full_vs_serial"] = round(ci / sum(ci_serial.values()), 3)
            print(
                f"CI profile, from scratch: {ci:.0f} s "
                f"(serial chapters {sum(ci_serial.values()):.0f} s)"
            )
        if args.ci_only:
            keep_book_stages(results, ci)
            return
        save(results, done=["ci_full"])  # a run stopped later keeps what it measured
        full = timed_build(root, "--profile", "book", "--force")
        serial = serial_seconds(root)
        total = sum(serial.values())
        print(f"book profile, from scratch: {full:.0f} s (serial chapters {total:.0f} s)")
        save(
            {**results, "book_full_s": round(full, 1), "book_serial_chapter_s": serial},
            done=["ci_full", "book_full"],
        )
        source = root / "notebooks" / f"{EDITED}.md"
        source.write_text(source.read_text() + "\nA sentence added by the benchmark.\n")
        edit = timed_build(root, "--profile", "book")
        noop = timed_build(root, "--profile", "book")
    results.update(
        book_full_s=round(full, 1),
        book_serial_chapter_s=serial,
        book_full_vs_serial=round(full / sum(serial.values()), 3),
        book_after_edit_s=round(edit, 1),
        edited_chapter=EDITED,
        book_after_edit_vs_full=round(edit / full, 3),
        book_noop_s=round(noop, 1),
        book_noop_vs_full=round(noop / full, 3),
        goals_met={
            "ci_full": ci <= GOALS_S["ci_full"],
            "book_full": full <= GOALS_S["book_full"],
            "book_after_edit": edit <= GOALS_S["book_after_edit"],
        },
    )
    save(results, done=["ci_full", "book_full", "book_after_edit", "book_noop"])
    print(json.dumps(results, indent=2))


def keep_book_stages(results: dict[str, object], ci: float) -> None:
    """Save a CI-only run with the book stages of the last results file (and their date)."""
    path = RESULTS / "book.json"
    last = json.loads(path.read_text()) if path.exists() else {}
    stages = [s for s in last.get("stages_measured", []) if s != "ci_full"]
    book = {k: v for k, v in last.items() if k.startswith("book_") or k == "edited_chapter"}
    goals = {k: v for k, v in last.get("goals_met", {}).items() if k != "ci_full"}
    if stages:
        book["book_measured_on"] = last.get("book_measured_on", last["date"])
    results.update(book, goals_met={"ci_full": ci <= GOALS_S["ci_full"], **goals})
    save(results, done=["ci_full", *stages])
    print(json.dumps({**results, "stages_measured": ["ci_full", *stages]}, indent=2))


def save(results: dict[str, object], done: list[str]) -> None:
    """Write ``benchmarks/results/book.json`` with the stages measured so far."""
    RESULTS.mkdir(exist_ok=True)
    text = json.dumps({**results, "stages_measured": done}, indent=2)
    (RESULTS / "book.json").write_text(text + "\n")


if __name__ == "__main__":
    main()
