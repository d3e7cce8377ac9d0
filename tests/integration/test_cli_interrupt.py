"""A real Ctrl-C: ``sgdllm predict`` run as a process with the embedded model, interrupted while
it computes laws, exits 130 with one line and writes nothing.

Not a unit test: it starts a process that loads torch and the model. The other reliability
checks of the command line and the API are in ``tests/unit/test_reliability_api.py``.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.unit.test_reliability_api import ar1

REPO = Path(__file__).resolve().parents[2]


def test_sigint_stops_a_real_prediction(tmp_path):
    """A real Ctrl-C (SIGINT) while the model reads a run: exit 130, one line, no file."""
    x = ar1(steps=4000, d=4)
    np.save(tmp_path / "long.npy", x)
    cmd = [sys.executable, "-m", "sgdllm", "predict", str(tmp_path / "long.npy"), "--digits"]
    cmd += ["3", "--long", "window", "--out", str(tmp_path / "o")]
    # As from a terminal: Ctrl-C's default action. A shell's background job (`cmd &` without
    # job control) inherits SIGINT ignored, and Python then never raises KeyboardInterrupt.
    # faulthandler: a process still running 60 s after Ctrl-C is sent SIGABRT, and the test
    # fails with its signal masks and the Python stack of every thread at that moment.
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONFAULTHANDLER": "1"}
    proc = subprocess.Popen(
        cmd,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    seen = ""
    deadline = time.monotonic() + 120
    while "Hierarchy-PDF" not in seen and time.monotonic() < deadline:
        seen += proc.stderr.read(1)  # the progress bar: the laws are being computed
    assert "Hierarchy-PDF" in seen, seen
    proc.send_signal(signal.SIGINT)
    t0 = time.monotonic()
    try:
        rest = proc.communicate(timeout=60)[1]
    except subprocess.TimeoutExpired:
        status = Path(f"/proc/{proc.pid}/status").read_text().splitlines()
        masks = [line for line in status if line.startswith(("SigBlk", "SigIgn", "SigCgt"))]
        proc.send_signal(signal.SIGABRT)
        stack = proc.communicate(timeout=30)[1]
        pytest.fail(f"still running 60 s after SIGINT; {masks}; its stack:\n{stack[-6000:]}")
    assert proc.returncode == 130
    assert time.monotonic() - t0 < 10
    assert "Traceback" not in rest
    assert rest.strip().splitlines()[-1] == "sgdllm predict: interrupted"
    assert not (tmp_path / "o").exists()
