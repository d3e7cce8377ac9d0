"""Speed of the core computations: propagation, imputation, SGD simulation.

Run from the repository root::

    python benchmarks/bench_core.py            # full run, writes benchmarks/results/core.json
    python benchmarks/bench_core.py --quick    # one repeat, smaller references, no file

Measured side by side in one process, best of ``--repeats`` wall-clock timings
(``time.perf_counter``):

(a) ``propagate``: 100 starts through a 1000-state kernel for 1000 steps (output
    ``100 x 1001 x 1000`` float64, 800 MB), batched dense BLAS product, batched sparse CSR
    product on a realistic sparse imputed kernel, and a naive per-start, per-step
    vector-matrix loop (timed on a subset of starts and extrapolated linearly);
(b) ``impute`` with the three methods on a 1000-state kernel with 5% of the rows visited,
    for rows of an AR(1) truth (Gaussian rows of equal width) and for count rows (20 draws
    from each truth row), plus per-row calls of POT's ``barycenter_debiased`` on the full grid
    with its defaults (timed on a subset of rows and extrapolated) as the reference;
(c) ``run_sgd`` on 2-D least squares: 1000 runs x 1000 steps.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import time
import warnings
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path

import numpy as np
import ot

from sgdllm.discretize import Scaler
from sgdllm.impute import impute
from sgdllm.kernel import Kernel
from sgdllm.predict import dirac, propagate
from sgdllm.sgd.problems import least_squares
from sgdllm.sgd.runs import run_sgd
from sgdllm.truth import ar1_kernel

K = 1000
N_STARTS = 100
STEPS = 1000
RESULTS = Path(__file__).resolve().parent / "results"


def best_time(fn: Callable[[], object], repeats: int) -> float:
    """Best wall-clock time of ``repeats`` calls, in seconds."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def machine_info() -> dict[str, object]:
    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "cpu_count": os.cpu_count(),
        "load_average_1_5_15min": [round(x, 2) for x in os.getloadavg()],
        "blas_threads_env": {
            key: os.environ.get(key) for key in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")
        },
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": version("scipy"),
        "pot": ot.__version__,
        "torch": version("torch"),
    }


def truth_kernel() -> tuple[Scaler, np.ndarray]:
    """AR(1) truth on 1000 states: x' = 0.95 x + 0.01 eps on [-1, 1] (sd about 3.5 states)."""
    scaler = Scaler(-1.0, 1.0, 3)
    return scaler, ar1_kernel(0.95, 0.0, 0.01, scaler)


def visited_kernel(truth: np.ndarray, scaler: Scaler, rows: str, seed: int) -> Kernel:
    """Keep 5% of the rows (50 random states): the truth rows, or 20-draw count rows."""
    rng = np.random.default_rng(seed)
    visited = np.zeros(K, dtype=bool)
    visited[rng.choice(K, K // 20, replace=False)] = True
    m = np.zeros((K, K))
    if rows == "truth":
        m[visited] = truth[visited]
    else:
        for s in np.flatnonzero(visited):
            m[s] = np.bincount(rng.choice(K, 20, p=truth[s]), minlength=K) / 20.0
    return Kernel(m, visited, visited * 20.0, scaler, rows)


def bench_propagate(repeats: int, naive_starts: int) -> dict[str, object]:
    scaler, truth = truth_kernel()
    rng = np.random.default_rng(0)
    starts = dirac(rng.integers(0, K, N_STARTS), K)
    # realistic sparse imputed kernel: count rows at 5% of the states, quantile imputation
    sparse_kernel = impute(visited_kernel(truth, scaler, "counts", seed=1), "ot-exact")
    density = float(np.count_nonzero(sparse_kernel.matrix) / K**2)
    dense_kernel = Kernel(truth, np.ones(K, bool), np.ones(K), scaler, "ar1")

    out: dict[str, object] = {"n_starts": N_STARTS, "n_states": K, "steps": STEPS}
    out["sparse_kernel_density"] = density
    out["dense_kernel_density"] = float(np.count_nonzero(truth) / K**2)
    out["dense_batched_s"] = best_time(
        lambda: propagate(dense_kernel, starts, STEPS, sparse=False), repeats
    )
    out["dense_batched_last_only_s"] = best_time(
        lambda: propagate(dense_kernel, starts, STEPS, every=STEPS, sparse=False), repeats
    )
    out["sparse_batched_s"] = best_time(lambda: propagate(sparse_kernel, starts, STEPS), repeats)
    out["sparse_batched_last_only_s"] = best_time(
        lambda: propagate(sparse_kernel, starts, STEPS, every=STEPS), repeats
    )
    out["sparse_kernel_as_dense_s"] = best_time(
        lambda: propagate(sparse_kernel, starts, STEPS, sparse=False), repeats
    )

    def naive() -> None:
        p_mat = dense_kernel.matrix
        for j in range(naive_starts):
            p = starts[j]
            laws = np.empty((STEPS + 1, K))
            laws[0] = p
            for t in range(STEPS):
                p = p @ p_mat
                laws[t + 1] = p

    naive_s = best_time(naive, 1)
    out["naive_loop_starts_timed"] = naive_starts
    out["naive_loop_s_extrapolated"] = naive_s * N_STARTS / naive_starts
    out["speedup_dense_vs_naive"] = out["naive_loop_s_extrapolated"] / out["dense_batched_s"]
    out["speedup_sparse_vs_naive"] = out["naive_loop_s_extrapolated"] / out["sparse_batched_s"]
    return out


def bench_impute(repeats: int, pot_rows: int) -> dict[str, object]:
    scaler, truth = truth_kernel()
    out: dict[str, object] = {"n_states": K, "visited_rows": K // 20}
    for rows in ("truth", "counts"):
        kernel = visited_kernel(truth, scaler, rows, seed=2)
        for method in ("ot", "ot-exact", "nearest"):
            out[f"{rows}_{method}_s"] = best_time(lambda k=kernel, m=method: impute(k, m), repeats)
    # reference: POT's barycenter_debiased row by row, full grid, default stopThr=1e-4
    kernel = visited_kernel(truth, scaler, "counts", seed=2)
    rows_def = np.flatnonzero(kernel.defined)
    x = np.arange(K, dtype=np.float64)
    cost = (x[:, None] - x[None, :]) ** 2 / (K - 1) ** 2
    lo, hi = rows_def[0], rows_def[1]
    hists = np.stack([kernel.matrix[lo], kernel.matrix[hi]], axis=1)
    n_empty = int((~kernel.defined[rows_def[0] : rows_def[-1]]).sum())

    def pot() -> None:
        for j in range(pot_rows):
            w = (j % (hi - lo - 1) + 1) / (hi - lo)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ot.bregman.barycenter_debiased(hists, cost, 5e-3, np.array([1 - w, w]))

    pot_s = best_time(pot, 1)
    out["pot_per_row_rows_timed"] = pot_rows
    out["pot_per_row_s_extrapolated"] = pot_s * n_empty / pot_rows
    out["pot_rows_between_defined"] = n_empty
    return out


def bench_sgd(repeats: int, n_runs: int) -> dict[str, object]:
    problem = least_squares(n_samples=50, dim=2, noise=0.5, seed=0)
    steps = 1000
    s = best_time(lambda: run_sgd(problem, np.zeros(2), steps, 0.05, n_runs=n_runs), repeats)
    return {
        "n_runs": n_runs,
        "steps": steps,
        "dim": 2,
        "seconds": s,
        "runs_per_s": n_runs / s,
        "steps_per_s": n_runs * steps / s,
    }


def table(results: dict[str, dict[str, object]]) -> str:
    p, i, s = results["propagate"], results["impute"], results["sgd"]
    rows = [
        ("(a) propagate 100 starts x 1000 states x 1000 steps", "", ""),
        ("  batched dense (BLAS), all laws kept", f"{p['dense_batched_s']:.2f} s", "goal <= 1 s"),
        ("  batched dense, last law only", f"{p['dense_batched_last_only_s']:.2f} s", ""),
        (
            f"  batched sparse CSR (density {p['sparse_kernel_density']:.1%}), all laws",
            f"{p['sparse_batched_s']:.2f} s",
            "goal <= 1 s",
        ),
        ("  batched sparse, last law only", f"{p['sparse_batched_last_only_s']:.2f} s", ""),
        ("  same sparse kernel, dense product", f"{p['sparse_kernel_as_dense_s']:.2f} s", ""),
        (
            f"  naive per-start loop (extrapolated from {p['naive_loop_starts_timed']})",
            f"{p['naive_loop_s_extrapolated']:.1f} s",
            f"x{p['speedup_dense_vs_naive']:.0f} dense, x{p['speedup_sparse_vs_naive']:.0f} sparse",
        ),
        ("(b) impute, 1000 states, 50 visited rows", "", ""),
    ]
    for kind in ("truth", "counts"):
        for method in ("ot", "ot-exact", "nearest"):
            rows.append((f"  {kind} rows, {method}", f"{i[f'{kind}_{method}_s']:.3f} s", ""))
    rows.append(
        (
            f"  POT barycenter_debiased per row (extrapolated from {i['pot_per_row_rows_timed']})",
            f"{i['pot_per_row_s_extrapolated']:.1f} s",
            f"{i['pot_rows_between_defined']} rows",
        )
    )
    rows.append(("(c) run_sgd, least squares d=2", "", ""))
    rows.append(
        (
            f"  {s['n_runs']} runs x {s['steps']} steps",
            f"{s['seconds']:.2f} s",
            f"{s['runs_per_s']:.0f} runs/s, {s['steps_per_s']:.2e} steps/s",
        )
    )
    width = max(len(r[0]) for r in rows) + 2
    return "\n".join(f"{a:<{width}}{b:>10}  {c}" for a, b, c in rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one repeat, small references")
    parser.add_argument("--repeats", type=int, default=None, help="timings per measurement")
    parser.add_argument("--out", type=Path, default=None, help="JSON file to write")
    args = parser.parse_args()
    repeats = args.repeats or (1 if args.quick else 3)
    # a quick run is a smoke test: it writes a file only when asked to (--out)
    out_path = args.out or (None if args.quick else RESULTS / "core.json")
    settings = {"quick": args.quick, "repeats": repeats}
    results = {
        "machine": machine_info(),  # the load average shows other work sharing the cores
        "settings": settings,
        "propagate": bench_propagate(repeats, naive_starts=1 if args.quick else 5),
        "impute": bench_impute(repeats, pot_rows=3 if args.quick else 20),
        "sgd": bench_sgd(repeats, n_runs=200 if args.quick else 1000),
    }
    print(table(results))
    if out_path is not None:
        out_path.parent.mkdir(parents=True, exist_ok=True)
        out_path.write_text(json.dumps(results, indent=2) + "\n")
        print(f"\nwrote {out_path}")


if __name__ == "__main__":
    main()
