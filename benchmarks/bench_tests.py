"""Speed of the unit tests: ``pytest tests/unit`` on one core and with ``-n 2`` (pytest-xdist).

Run from the repository root (the CPU should be otherwise idle)::

    python benchmarks/bench_tests.py           # writes benchmarks/results/tests.json

The goal (issue 15) is every unit test in under a minute with the command README gives,
``bash dev.sh test tests/unit -n 2``. The reference measured in the same run is the serial run,
``pytest tests/unit`` in one process; the ratio says what the second process buys. Both runs
start a fresh interpreter and count the wall time from start to exit, collection included
(imports of torch and transformers are a large part of it).
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
GOAL_S = 60.0


def timed_pytest(*args: str) -> tuple[float, str]:
    """Wall time of ``python -m pytest tests/unit -q ARGS`` and its summary line."""
    command = [sys.executable, "-m", "pytest", "tests/unit", "-q", "-p", "no:cacheprovider", *args]
    t0 = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    if done.returncode != 0:
        sys.exit(f"pytest {' '.join(args)} failed ({done.returncode}): {summary}")
    return seconds, summary


def main() -> None:
    serial_s, serial_summary = timed_pytest()
    parallel_s, parallel_summary = timed_pytest("-n", "2")
    results = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "python": platform.python_version(),
        "serial_s": round(serial_s, 1),
        "serial_summary": serial_summary,
        "n2_s": round(parallel_s, 1),
        "n2_summary": parallel_summary,
        "n2_over_serial": round(parallel_s / serial_s, 3),
        "goal_s": GOAL_S,
        "goal_met": parallel_s <= GOAL_S,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "tests.json").write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
