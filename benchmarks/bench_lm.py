"""Benchmark of Hierarchy-PDF against naive scoring of every continuation.

Usage::

    python benchmarks/bench_lm.py [--model PATH] [--quick] [--steps 1000] [--device cpu]

For a series of ``--steps`` values (an AR(1) path discretized at 2 and 3 digits) and one model
(``--model``; default the embedded model if trained, else a randomly initialized LLaMA of the
default's shape, ``sgdllm.lm.pretrain.ModelSpec()``, with the digit tokenizer), it measures
side by side:

* Hierarchy-PDF at full refinement (:func:`sgdllm.lm.next_state_laws`): wall time, forward
  passes, tokens evaluated, peak memory;
* naive scoring (Liu et al. 2024's baseline, :func:`sgdllm.lm.hierarchy.brute_force_laws`):
  for each step ``t``, the ``10**digits`` sequences ``context + value`` through the model in
  full, without a cache. That is enormous, so it is
  timed on a few steps and **extrapolated** to the series (its token count is exact); the
  laws of those steps are also compared with Hierarchy-PDF's rows;
* the algorithm's lower bound on tokens (:func:`sgdllm.lm.hierarchy.token_cost`): every
  window's teacher-forced tokens plus ``(10^n - 1)/9 - n`` branch tokens per law (all branches
  of depth ``1..n-1`` but the observed one; ``(10^n - 1)/9 - 1`` for the unseen last value,
  which has no observed path), and the exact token count of naive scoring;
* model load time (from disk, ``load_model``) and peak memory (process RSS sampled by psutil,
  numpy allocations by tracemalloc, CUDA peak when on GPU).

Results go to ``benchmarks/results/lm.json`` and a table is printed.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sgdllm.discretize import discretize  # noqa: E402
from sgdllm.lm import load_model, next_state_laws  # noqa: E402
from sgdllm.lm.adapters import symbols  # noqa: E402
from sgdllm.lm.hierarchy import (  # noqa: E402
    TokenCounter,
    plan_windows,
    token_cost,
    values_per_window,
)
from sgdllm.lm.load import LanguageModel, default_model_path  # noqa: E402


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


def ar1_states(n: int, digits: int, seed: int = 0) -> np.ndarray:
    """An AR(1) path ``x' = 0.9 x + eps`` discretized with ``digits`` digits."""
    rng = np.random.default_rng(seed)
    x = np.empty(n)
    x[0] = 0.0
    for t in range(1, n):
        x[t] = 0.9 * x[t - 1] + rng.standard_normal()
    return discretize(x, digits)[0]


def random_default_size_model(directory: Path) -> Path:
    """Save a random model of the default's shape and tokenizer (sgdllm's own recipe code)."""
    from sgdllm.lm.pretrain import DigitLlama, ModelSpec, save_pretrained

    return save_pretrained(DigitLlama(ModelSpec(), fourier=0.1), directory)


def naive_step(lm: LanguageModel, context: np.ndarray, digits: int, chunk: int) -> np.ndarray:
    """Law of the next value by scoring all ``10**digits`` continuations in full, no cache.

    One row of :func:`sgdllm.lm.hierarchy.brute_force_laws` (same sequences: the context and
    the first ``m - 1`` tokens of each value), timed here on chosen steps only.
    """
    adapter = lm.adapter_for(digits)
    k, m = 10**digits, adapter.levels
    sym = symbols(np.arange(k), adapter.radices)
    values = np.stack([np.asarray(ids)[sym[:, j]] for j, ids in enumerate(adapter.level_ids)], 1)
    prefix = adapter.encode(context).ids
    logp = np.zeros(k)
    with torch.inference_mode():
        for lo in range(0, k, chunk):
            hi = min(lo + chunk, k)
            seqs = np.concatenate([np.tile(prefix, (hi - lo, 1)), values[lo:hi, : m - 1]], axis=1)
            ids = torch.as_tensor(seqs, device=lm.device)
            logits = lm.model(input_ids=ids, use_cache=False).logits
            for level, lids in enumerate(adapter.level_ids):
                row = logits[:, prefix.size - 1 + level, list(lids)].float()
                lp = torch.log_softmax(row, dim=-1).double().cpu().numpy()
                logp[lo:hi] += lp[np.arange(hi - lo), sym[lo:hi, level]]
    return np.exp(logp)


def bench_digits(lm: LanguageModel, digits: int, n: int, n_naive: int, batch_size: int) -> dict:
    states = ar1_states(n, digits)
    adapter = lm.adapter_for(digits)
    window = min(values_per_window(adapter, lm.max_positions), max(n, 2))
    min_context = max(window // 2, 1)
    if lm.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
        torch.cuda.synchronize()
    tracemalloc.start()
    with PeakRSS() as rss, TokenCounter(lm.model) as counter:
        start = time.perf_counter()
        laws = next_state_laws(lm, states, digits, progress=False, batch_size=batch_size)
        if lm.device.type == "cuda":
            torch.cuda.synchronize()
        hier_s = time.perf_counter() - start
    _, numpy_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    cuda_peak = torch.cuda.max_memory_allocated() if lm.device.type == "cuda" else None
    cost = token_cost(lm, n, digits, window=window, min_context=min_context)

    # Naive: a few evenly spaced steps, with the same context as Hierarchy-PDF's window.
    plan = plan_windows(n, window, min_context)
    start_of = np.empty(n, dtype=np.int64)
    for w in plan:
        start_of[w.first : w.last + 1] = w.start
    steps = np.unique(np.linspace(0, n - 1, n_naive).round().astype(int))
    naive_times, max_diff = [], 0.0
    chunk = 250 if digits == 3 else 100
    for t in steps:
        context = states[start_of[t] : t + 1]
        t0 = time.perf_counter()
        row = naive_step(lm, context, digits, chunk)
        naive_times.append(time.perf_counter() - t0)
        max_diff = max(max_diff, float(np.abs(row - laws[t]).max()))
    naive_s = float(np.mean(naive_times)) * n
    return {
        "digits": digits,
        "steps": n,
        "adapter": adapter.kind,
        "window": window,
        "min_context": min_context,
        "windows": len(plan),
        "batch_size": batch_size,
        "hierarchy_s": round(hier_s, 3),
        "hierarchy_forward_passes": counter.passes,
        "hierarchy_tokens": counter.tokens,
        "lower_bound_tokens": cost.hierarchy,
        "lower_bound_teacher_forced": cost.teacher_forced,
        "lower_bound_branch": cost.branch,
        "naive_steps_timed": len(steps),
        "naive_s_per_step": round(float(np.mean(naive_times)), 4),
        "naive_s_extrapolated": round(naive_s, 1),
        "naive_tokens": cost.brute_force,
        "speedup": round(naive_s / hier_s, 1),
        "token_ratio": round(cost.brute_force / counter.tokens, 1),
        "max_abs_diff_vs_naive": max_diff,
        "peak_rss_mb": round(rss.peak / 2**20, 1),
        "numpy_peak_mb": round(numpy_peak / 2**20, 2),
        "cuda_peak_mb": None if cuda_peak is None else round(cuda_peak / 2**20, 1),
    }


def table(results: list[dict]) -> str:
    cols = [
        ("digits", "digits"),
        ("hierarchy_s", "HPDF s"),
        ("naive_s_extrapolated", "naive s (extrap.)"),
        ("speedup", "speed-up"),
        ("hierarchy_tokens", "HPDF tokens"),
        ("lower_bound_tokens", "lower bound"),
        ("naive_tokens", "naive tokens"),
        ("hierarchy_forward_passes", "passes"),
        ("max_abs_diff_vs_naive", "max |diff|"),
        ("peak_rss_mb", "peak RSS MB"),
    ]
    head = " | ".join(name for _, name in cols)
    lines = [head, "-" * len(head)]
    for r in results:
        cells = []
        for key, _ in cols:
            v = r[key]
            cells.append(f"{v:.1e}" if isinstance(v, float) and key.startswith("max") else str(v))
        lines.append(" | ".join(cells))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="model directory or Hub id")
    parser.add_argument("--quick", action="store_true", help="time naive scoring on 2 steps")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--device", default=None)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "lm.json")
    args = parser.parse_args(argv)
    torch.manual_seed(0)

    with tempfile.TemporaryDirectory() as tmp:
        if args.model is not None:
            source, label = args.model, args.model
        elif (default_model_path() / "config.json").is_file():
            source, label = None, "default (embedded)"
        else:
            source = random_default_size_model(Path(tmp) / "random-llama")
            label = "random LLaMA of the default's shape (128 wide, 4 layers, 1024 positions)"
        with PeakRSS() as rss:
            t0 = time.perf_counter()
            lm = load_model(source, device=args.device)
            load_s = time.perf_counter() - t0
        from sgdllm.lm.hierarchy import DEFAULT_BATCH_SIZE

        batch = args.batch_size or DEFAULT_BATCH_SIZE
        n_naive = 2 if args.quick else 5
        results = [bench_digits(lm, d, args.steps, n_naive, batch) for d in (2, 3)]
    info = {
        "model": label,
        "parameters": sum(p.numel() for p in lm.model.parameters()),
        "device": str(lm.device),
        "dtype": str(lm.dtype),
        "load_s": round(load_s, 3),
        "load_peak_rss_mb": round(rss.peak / 2**20, 1),
        "torch_threads": torch.get_num_threads(),
        "platform": platform.platform(),
        "quick": args.quick,
        "note": "naive time is measured on naive_steps_timed evenly spaced steps and "
        "extrapolated linearly to all steps; its token count is exact",
        "results": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp_out = args.out.with_name(f".{args.out.name}.tmp")
    tmp_out.write_text(json.dumps(info, indent=2) + "\n")
    tmp_out.replace(args.out)
    print(f"model: {label} ({info['parameters']} parameters) on {lm.device}, {lm.dtype}")
    print(f"load: {info['load_s']} s, peak RSS {info['load_peak_rss_mb']} MB")
    print(table(results))
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
