"""Evaluation of a digit language model as an in-context kernel estimator.

Chapter: *The default language model* (its model card reports this evaluation).

Protocol. For each family of :mod:`sgdllm.processes` evaluated (training families *and* the
held-out ones, with fresh parameters from fixed seeds) and each number of digits, draw
``n_series`` processes, sample one series each, and rescale it by its own min/max exactly as
the book does (:func:`sgdllm.processes.serialize_process`). At context ``n`` (values
``0..n`` seen) every estimator gives a law of value ``n + 1``, compared with the exact row
``s_n`` of the true binned kernel (``process.kernel(scaler)``) by the Bhattacharyya distance
and total variation:

* ``model`` -- the language model's law, ``laws_fn(states, digits)[n]`` (row ``t`` is the law of
  value ``t + 1`` given values ``0..t``; the signature of
  ``sgdllm.lm.next_state_laws(lm, states, digits)``). The default, :func:`exact_laws_fn`, reads
  the *full* Hierarchy-PDF tree of a :class:`~sgdllm.lm.pretrain.DigitGPT` exactly (every
  branch refined) in two batched passes.
* ``laplace`` -- add-one counts (``count_kernel(smoothing="laplace")``) on values ``0..n``;
* ``rule`` -- Gaussian-smoothed counts, rule-of-thumb bandwidth (:func:`rule_bandwidth`) of
  values ``0..n``;
* ``cv`` -- Gaussian-smoothed counts with the leave-one-out CV bandwidths
  (:func:`cv_bandwidth`), the strongest classical estimator. For speed the bandwidths are
  selected once per window, on the values up to the window's first step (no look-ahead);
  the smoothed row itself uses all values ``0..n``.

Estimators' rows are those of :func:`sgdllm.kernel.count_kernel` (checked by the tests), computed
one row at a time. Each context ``n`` is a window of steps ``n - w .. n + w``
(``w = max(1, round(n / 10))``), metrics are averaged over the window, then over series
(mean and standard error across series).

Context lengths: 10, 30, 100 and 300 values at 2 digits; at 3 digits a value takes 4 tokens
and 1024 positions hold at most 255 values, so the longest context is 230 there. A context of
1000 values does not fit in the shipped model's 1024 positions at either precision.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import textwrap
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from ..kernel import cv_bandwidth, rule_bandwidth
from ..metrics import bhattacharyya, tv
from ..processes import ALL_FAMILIES, HELD_OUT_FAMILIES, make_process, serialize_process

__all__ = [
    "CONTEXTS",
    "ESTIMATORS",
    "EVAL_FAMILIES",
    "default_model_dir",
    "estimator_rows",
    "evaluate",
    "exact_laws_fn",
    "main",
    "markdown_table",
    "model_card",
    "shortcomings",
    "status_line",
    "targets",
]

LawsFn = Callable[[NDArray[np.int64], int], NDArray[np.float64]]

#: Context lengths (values) per number of digits; 3 digits stop where 1024 positions end.
CONTEXTS: dict[int, tuple[int, ...]] = {2: (10, 30, 100, 300), 3: (10, 30, 100, 230)}
#: Families evaluated: four training families and the two held-out ones.
EVAL_FAMILIES = ("ar1", "markov_chain", "langevin", "noisy_map", "student_t_ar", "multiplicative")
ESTIMATORS = ("model", "laplace", "rule", "cv")


def default_model_dir() -> Path:
    """``sgdllm/models/default``, the shipped model."""
    return Path(__file__).resolve().parent.parent / "models" / "default"


def _window(n: int) -> tuple[int, int]:
    w = max(1, round(n / 10))
    return n - w, n + w


# ----------------------------------------------------------------------------- model laws


def exact_laws_fn(model_dir: str | Path | None = None) -> LawsFn:
    """``laws_fn(states, digits) -> (T, K)`` of a saved :class:`~sgdllm.lm.pretrain.DigitGPT`.

    Row ``t`` is the model's law of value ``t + 1`` given values ``0..t``: the Hierarchy-PDF
    product ``P(d_1) P(d_2 | d_1) ... `` with each factor the softmax restricted to the 10 digit
    tokens, *every* branch refined, so it is the model's exact law over the ``10**digits``
    states. One causal pass over ``"<s>v_0,v_1,...,v_{T-1},"`` gives the first digits (at each
    ``,``) and the per-layer keys and values; one batched pass of all ``10**(digits-1)``
    hypothetical digit prefixes per step, attending to the main keys up to that ``,``, gives
    the other factors.
    """
    import torch

    from .pretrain import load_digit_gpt

    model = load_digit_gpt(model_dir or default_model_dir())

    def laws(
        states: NDArray[np.int64], digits: int, steps: Sequence[int] | None = None
    ) -> NDArray[np.float64]:
        with torch.no_grad():
            return _exact_laws(model, np.asarray(states), digits, steps)

    laws.accepts_steps = True  # evaluate() asks only for the rows it scores
    return laws


def _split_heads(z, n_head):  # (B, T, D) -> (B, H, T, Dh)
    b, t, d = z.shape
    return z.view(b, t, n_head, d // n_head).transpose(1, 2)


def _exact_laws(
    model, states: NDArray[np.int64], digits: int, rows: Sequence[int] | None = None
) -> NDArray[np.float64]:
    """Rows ``rows`` (default all) of the exact laws, shape ``(len(rows), K)``."""
    import torch
    import torch.nn.functional as F

    from .tokenizer import encode_states

    n_steps = len(states)
    ids = torch.from_numpy(encode_states(states, digits))[None]
    if ids.shape[1] > model.spec.n_positions:
        raise ValueError(
            f"{n_steps} values at {digits} digits take {ids.shape[1]} tokens, more than the "
            f"model's {model.spec.n_positions} positions"
        )
    h = model.spec.n_head
    # main pass, keeping every layer's keys and values
    x = model.wte(ids) + model.wpe(torch.arange(ids.shape[1]))[None]
    kvs = []
    for blk in model.h:
        d = x.shape[-1]
        q, k, v = (_split_heads(z, h) for z in blk.c_attn(blk.ln_1(x)).split(d, dim=2))
        kvs.append((k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + blk.c_proj(y.transpose(1, 2).reshape(x.shape))
        x = x + blk.mlp_proj(F.gelu(blk.c_fc(blk.ln_2(x)), approximate="tanh"))
    logits = model.ln_f(x) @ model.wte.weight.T
    wanted = np.arange(n_steps) if rows is None else np.asarray(rows, dtype=np.int64)
    sep_pos = (digits + 1) * (wanted + 1)  # the ',' after value t
    n_steps = wanted.size
    p1 = torch.softmax(logits[0, sep_pos, :10].double(), -1)  # (T, 10)
    if digits == 1:
        return p1.numpy()
    # branch pass: every prefix path of digits-1 digits after each ','
    n_paths = 10 ** (digits - 1)
    paths = torch.tensor(
        [[(p // 10 ** (digits - 2 - j)) % 10 for j in range(digits - 1)] for p in range(n_paths)]
    )  # (P, L)
    length = digits - 1
    cond = []  # (T, P, L, 10) conditionals of digit j+2 given path[:j+1]
    chunk = max(1, 4096 // n_paths)
    for lo in range(0, n_steps, chunk):
        steps = np.arange(lo, min(lo + chunk, n_steps))
        base = torch.from_numpy(sep_pos[steps])  # (S,)
        tok = paths[None].expand(len(steps), -1, -1).reshape(-1, length)  # (S*P, L)
        pos = (
            (base[:, None, None] + 1 + torch.arange(length)[None, None, :])
            .expand(-1, n_paths, -1)
            .reshape(-1, length)
        )
        limit = base[:, None].expand(-1, n_paths).reshape(-1)  # main keys <= limit
        xb = model.wte(tok) + model.wpe(pos)
        tm = int(base.max()) + 1  # keys any branch of this chunk may see
        key_ok = torch.arange(tm)[None, :] <= limit[:, None]  # (N, tm)
        causal = torch.tril(torch.ones(length, length, dtype=torch.bool))
        n_b = tok.shape[0]
        for blk, (k_all, v_all) in zip(model.h, kvs, strict=True):
            # heads first and branches flattened, so the shared main keys are never copied
            k_main, v_main = k_all[0, :, :tm], v_all[0, :, :tm]  # (H, tm, dh)
            d = xb.shape[-1]
            q, k, v = (
                z.view(n_b, length, h, d // h).permute(2, 0, 1, 3)  # (H, N, L, dh)
                for z in blk.c_attn(blk.ln_1(xb)).split(d, dim=2)
            )
            scale = 1.0 / math.sqrt(d // h)
            s_main = (q.reshape(h, n_b * length, -1) @ k_main.transpose(-1, -2)) * scale
            s_main = s_main.view(h, n_b, length, tm).masked_fill(
                ~key_ok[None, :, None, :], float("-inf")
            )
            s_self = (q @ k.transpose(-1, -2)) * scale  # (H, N, L, L)
            s_self = s_self.masked_fill(~causal, float("-inf"))
            a = torch.softmax(torch.cat([s_main, s_self], -1), -1)
            y = (a[..., :tm].reshape(h, n_b * length, tm) @ v_main).view(h, n_b, length, -1)
            y = y + a[..., tm:] @ v
            y = y.permute(1, 2, 0, 3).reshape(n_b, length, d)
            xb = xb + blk.c_proj(y)
            xb = xb + blk.mlp_proj(F.gelu(blk.c_fc(blk.ln_2(xb)), approximate="tanh"))
        lb = model.ln_f(xb) @ model.wte.weight.T  # (S*P, L, V)
        cond.append(torch.softmax(lb[..., :10].double(), -1).view(len(steps), n_paths, length, 10))
    c = torch.cat(cond)  # (T, P, L, 10)
    # law over K states: P(d1) * prod_j P(d_{j+2} | d_1..d_{j+1}); path p's entry j depends only
    # on its first j+1 digits, so read each factor from the paths that extend that prefix.
    law = p1  # (T, 10)
    for j in range(length):
        width = 10 ** (j + 1)  # prefixes of j+1 digits
        stride = 10 ** (length - j - 1)
        fac = c[:, ::stride, j, :]  # (T, width, 10): path = prefix * stride
        law = (law[:, :, None] * fac.reshape(n_steps, width, 10)).reshape(n_steps, width * 10)
    return law.numpy()


# ----------------------------------------------------------------------------- estimators


def _discrete_gaussian_row(centre: NDArray[np.float64], k: int, h: float) -> NDArray[np.float64]:
    g = np.exp(-((np.arange(k)[None, :] - centre[:, None]) ** 2) / (2.0 * h * h))
    return g / g.sum(axis=1, keepdims=True)


def _gaussian_row(
    src: NDArray[np.int64], dst: NDArray[np.int64], cur: int, k: int, hx: float, hy: float
) -> NDArray[np.float64]:
    """Row ``cur`` of ``count_kernel(smoothing="gaussian", bandwidth=(hx, hy))``."""
    e = (cur - src).astype(np.float64) ** 2 / (2.0 * hx * hx)
    w = np.exp(e.min() - e)
    b, inv = np.unique(dst, return_inverse=True)
    wb = np.bincount(inv, weights=w, minlength=b.size)
    row = wb @ _discrete_gaussian_row(b.astype(np.float64), k, hy)
    return row / row.sum()


def estimator_rows(
    states: NDArray[np.int64],
    digits: int,
    steps: Sequence[int],
    cv_states: NDArray[np.int64] | None = None,
) -> dict[str, NDArray[np.float64]]:
    """Classical estimators' laws of value ``t + 1`` from values ``0..t``, for each ``t``.

    Returns ``{"laplace", "rule", "cv"} -> (len(steps), K)``. The CV bandwidths are chosen on
    ``cv_states`` (default: the values up to the first step) and used for every step.
    """
    k = 10**digits
    steps = list(steps)
    cv_fit = states[: steps[0] + 1] if cv_states is None else cv_states
    hx_cv, hy_cv = cv_bandwidth(cv_fit, digits) if len(cv_fit) >= 3 else (1.0, 1.0)
    out = {name: np.empty((len(steps), k)) for name in ("laplace", "rule", "cv")}
    for i, t in enumerate(steps):
        ctx = states[: t + 1]
        src, dst, cur = ctx[:-1], ctx[1:], int(ctx[-1])
        counts = np.bincount(dst[src == cur], minlength=k).astype(np.float64)
        out["laplace"][i] = (counts + 1.0) / (counts.sum() + k)
        h = rule_bandwidth(ctx) if len(ctx) >= 2 else 1.0
        out["rule"][i] = _gaussian_row(src, dst, cur, k, h, h)
        out["cv"][i] = _gaussian_row(src, dst, cur, k, hx_cv, hy_cv)
    return out


# ----------------------------------------------------------------------------- evaluation


def evaluate(
    laws_fn: LawsFn,
    *,
    families: Sequence[str] = EVAL_FAMILIES,
    digits: Sequence[int] = (2, 3),
    contexts: dict[int, Sequence[int]] | None = None,
    n_series: int = 20,
    seed: int = 2024,
    progress: Callable[[str], None] | None = None,
) -> dict:
    """Score ``laws_fn`` and the classical estimators on fresh random processes.

    Parameters
    ----------
    laws_fn : callable ``(states (T,), digits) -> (T, K)``
        Row ``t``: the law of value ``t + 1`` given values ``0..t``.
    families : names in :data:`sgdllm.processes.ALL_FAMILIES`
    digits : numbers of digits evaluated
    contexts : ``{digits: context lengths}``, default :data:`CONTEXTS`
    n_series : series per family and digits
    seed : series ``i`` of family ``f`` at ``d`` digits uses ``default_rng([seed, f, d, i])``

    Returns
    -------
    dict
        ``results[digits][family][n][estimator] = {"bd": mean, "bd_se": .., "tv": .., "tv_se": ..}``
        (keys are strings, JSON-ready) plus the settings.
    """
    contexts = {d: tuple(c) for d, c in (contexts or CONTEXTS).items()}
    results: dict = {}
    t0 = time.time()
    for d in digits:
        ctx = contexts[d]
        n_values = _window(max(ctx))[1] + 2  # the last window step predicts a value we hold
        results[str(d)] = {}
        for fi, fam in enumerate(families):
            if fam not in ALL_FAMILIES:
                raise ValueError(f"unknown family {fam!r}")
            per = {n: {e: {"bd": [], "tv": []} for e in ESTIMATORS} for n in ctx}
            for i in range(n_series):
                rng = np.random.default_rng([seed, fi, d, i])
                proc = make_process(fam, rng)
                _, states, scaler = serialize_process(proc, n_values, d, rng)
                truth = proc.kernel(scaler)
                needed = sorted({t for n in ctx for t in range(_window(n)[0], _window(n)[1] + 1)})
                if getattr(laws_fn, "accepts_steps", False):
                    model_laws = np.full((n_values - 1, 10**d), np.nan)
                    model_laws[needed] = laws_fn(states[:-1], d, steps=needed)
                else:
                    model_laws = np.asarray(laws_fn(states[:-1], d), dtype=np.float64)
                for n in ctx:
                    lo, hi = _window(n)
                    steps = list(range(lo, hi + 1))
                    rows = {"model": model_laws[steps]}
                    rows.update(estimator_rows(states, d, steps))
                    true_rows = truth[states[steps]]
                    for e in ESTIMATORS:
                        p = rows[e] / rows[e].sum(axis=1, keepdims=True)
                        per[n][e]["bd"].append(float(np.mean(bhattacharyya(true_rows, p))))
                        per[n][e]["tv"].append(float(np.mean(tv(true_rows, p))))
            results[str(d)][fam] = {
                str(n): {e: _summary(per[n][e]) for e in ESTIMATORS} for n in ctx
            }
            if progress:
                progress(f"{d} digits, {fam}: done ({time.time() - t0:.0f} s)")
    return {
        "protocol": "in-context law of value n+1 from values 0..n vs the exact binned kernel row "
        "of s_n; window n-w..n+w, w=max(1, round(n/10)); mean over the window, then mean and "
        "standard error over series; whole-series min/max rescaling",
        "families": list(families),
        "held_out": [f for f in families if f in HELD_OUT_FAMILIES],
        "contexts": {str(d): list(contexts[d]) for d in digits},
        "n_series": n_series,
        "seed": seed,
        "estimators": list(ESTIMATORS),
        "results": results,
        "wall_s": round(time.time() - t0, 1),
    }


def _summary(v: dict[str, list[float]]) -> dict[str, float]:
    out = {}
    for m in ("bd", "tv"):
        a = np.asarray(v[m])
        out[m] = float(a.mean())
        out[f"{m}_se"] = float(a.std(ddof=1) / np.sqrt(a.size)) if a.size > 1 else float("nan")
    return out


def targets(report: dict, tol: float = 0.0) -> dict[str, bool]:
    """The model card's targets, checked on mean Bhattacharyya distances.

    ``beats_laplace`` (every family, digits and context), ``on_par_rule_from_100`` (model
    <= rule * (1 + tol) for n >= 100), ``improves_with_context`` (BD non-increasing from each
    context to the next, within 10%), ``near_cv_at_longest`` (model <= 1.25 * cv at the
    longest context).
    """
    ok = {
        "beats_laplace": True,
        "on_par_rule_from_100": True,
        "improves_with_context": True,
        "near_cv_at_longest": True,
    }
    for res_d in report["results"].values():
        for res_f in res_d.values():
            ns = sorted(res_f, key=int)
            bd = {n: {e: res_f[n][e]["bd"] for e in ESTIMATORS} for n in ns}
            for n in ns:
                ok["beats_laplace"] &= bd[n]["model"] < bd[n]["laplace"]
                if int(n) >= 100:
                    ok["on_par_rule_from_100"] &= bd[n]["model"] <= bd[n]["rule"] * (1 + tol)
            for a, b in itertools.pairwise(ns):
                ok["improves_with_context"] &= bd[b]["model"] <= 1.1 * bd[a]["model"]
            ok["near_cv_at_longest"] &= bd[ns[-1]]["model"] <= 1.25 * bd[ns[-1]]["cv"]
    return {k: bool(v) for k, v in ok.items()}


def markdown_table(report: dict, metric: str = "bd") -> str:
    """Markdown table (one block per digits): family, context, and mean (stderr) per estimator.

    The best mean of each row is in bold; held-out families are marked with an asterisk.
    """
    name = {"bd": "Bhattacharyya distance", "tv": "total variation"}[metric]
    lines = []
    for d, res_d in report["results"].items():
        lines += [
            f"**{d} digits** -- {name} to the true kernel row (lower is better), mean "
            f"(standard error) over {report['n_series']} series; * = held out from training",
            "",
            "| family | context n | " + " | ".join(ESTIMATORS) + " |",
            "| --- | ---: | " + " | ".join("---:" for _ in ESTIMATORS) + " |",
        ]
        for fam, res_f in res_d.items():
            star = "*" if fam in report.get("held_out", []) else ""
            for n in sorted(res_f, key=int):
                vals = [res_f[n][e][metric] for e in ESTIMATORS]
                best = int(np.argmin(vals))
                cells = []
                for j, e in enumerate(ESTIMATORS):
                    c = f"{vals[j]:.3f} ({res_f[n][e][metric + '_se']:.3f})"
                    cells.append(f"**{c}**" if j == best else c)
                lines.append(f"| {fam}{star} | {n} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def shortcomings(report: dict) -> list[str]:
    """Plain statements of where the model falls short of the classical estimators."""
    notes = []
    for d, res_d in report["results"].items():
        for fam, res_f in res_d.items():
            star = " (held out)" if fam in report.get("held_out", []) else ""
            for n in sorted(res_f, key=int):
                r = {e: res_f[n][e]["bd"] for e in ESTIMATORS}
                if r["model"] >= r["laplace"]:
                    notes.append(
                        f"{fam}{star}, {d} digits, n={n}: no better than Laplace counts "
                        f"(BD {r['model']:.3f} vs {r['laplace']:.3f})."
                    )
                if int(n) >= 100 and r["model"] > r["rule"]:
                    notes.append(
                        f"{fam}{star}, {d} digits, n={n}: worse than rule-bandwidth smoothed "
                        f"counts (BD {r['model']:.3f} vs {r['rule']:.3f})."
                    )
            ns = sorted(res_f, key=int)
            last = {e: res_f[ns[-1]][e]["bd"] for e in ESTIMATORS}
            if last["model"] > 1.25 * last["cv"]:
                notes.append(
                    f"{fam}{star}, {d} digits, n={ns[-1]}: CV-smoothed counts are better "
                    f"(BD {last['model']:.3f} vs {last['cv']:.3f})."
                )
            curve = [res_f[n]["model"]["bd"] for n in ns]
            if any(b > 1.1 * a for a, b in itertools.pairwise(curve)):
                notes.append(
                    f"{fam}{star}, {d} digits: the model's error does not keep decreasing with "
                    f"context (BD "
                    + ", ".join(f"{v:.3f}" for v in curve)
                    + f" at n = {', '.join(ns)})."
                )
    return notes


def status_line(report: dict) -> str:
    """One paragraph that says, from the evaluation alone, which targets the model meets.

    Counts the cells (family x digits x context) where the model beats Laplace counts, is on
    par with rule-bandwidth smoothing (n >= 100) and is within 25% of CV smoothing (longest
    context), so that a regenerated card can never lose its verdict.
    """
    tg = report.get("targets", targets(report))
    cells = lap = rule_n = rule_ok = cv_n = cv_ok = 0
    for res_d in report["results"].values():
        for res_f in res_d.values():
            ns = sorted(res_f, key=int)
            for n in ns:
                r = {e: res_f[n][e]["bd"] for e in ESTIMATORS}
                cells += 1
                lap += r["model"] < r["laplace"]
                if int(n) >= 100:
                    rule_n += 1
                    rule_ok += r["model"] <= r["rule"]
            cv_n += 1
            cv_ok += res_f[ns[-1]]["model"]["bd"] <= 1.25 * res_f[ns[-1]]["cv"]["bd"]
    met = sum(tg.values())
    verdict = (
        "meets every target of its issue"
        if met == len(tg)
        else f"meets {met} of the {len(tg)} targets of its issue"
    )
    text = (
        f"**Status: {verdict}** (evaluation below). It beats Laplace counts in {lap} of "
        f"{cells} cells (family x digits x context), is at least on par with rule-bandwidth "
        f"smoothed counts in {rule_ok} of {rule_n} cells from 100 values on, and is within 25% "
        f"of cross-validated smoothing at the longest context in {cv_ok} of {cv_n} "
        f"(family x digits). The limitations section lists every shortfall."
    )
    return textwrap.fill(text, width=96, initial_indent="> ", subsequent_indent="> ")


def model_card(model_dir: str | Path, report: dict) -> str:
    """The Hugging Face style model card (``README.md``) of a trained model directory."""
    model_dir = Path(model_dir)
    info = json.loads((model_dir / "training.json").read_text())
    cfg = json.loads((model_dir / "config.json").read_text())
    rec = info["recipe"]
    tg = report.get("targets", targets(report))
    mark = {True: "met", False: "**not met**"}
    notes = shortcomings(report) or ["None of the checks above fails on this evaluation."]
    p3, pack = rec["p_three_digits"], rec["pack_prob"]
    v = {
        "arch": f"{cfg['n_layer']} layers, width {cfg['n_embd']}, {cfg['n_head']} heads",
        "params": f"{info['n_params']:,}",
        "mb": f"{(model_dir / 'model.safetensors').stat().st_size / 1e6:.1f}",
        "npos": cfg["n_positions"],
        "fams": ", ".join(f"`{k}` {w:.0%}" for k, w in info["train_families"].items()),
        "mix": f"{1 - p3:.0%} of batches with 2 digits and {p3:.0%} with 3 digits",
        "pack": f"{1 - pack:.0%} of sequences are one series filling the context "
        f"(341 or 256 values); {pack:.0%} pack",
        "opt": f"weight decay {rec['weight_decay']} on matrices), peak learning rate {rec['lr']}",
        "sched": f"{rec['warmup_steps']} warmup steps then cosine decay to "
        f"{rec['min_lr_frac']:.0%}",
        "batch": f"batch {rec['batch']} x {rec['seq_tokens'] - 1} tokens",
        "clip": rec["grad_clip"],
        "seed": rec["seed"],
        "run": f"{info['steps']:,} steps, {info['tokens'] / 1e6:.1f}M tokens, "
        f"{info['wall_s'] / 60:.1f} min wall time ({info.get('tok_per_s', 0):,} tokens/s)",
        "threads": info["threads"],
        "torch": info["torch"],
        "val": f"{info.get('val_loss_2d', float('nan')):.4f} (2 digits), "
        f"{info.get('val_loss_3d', float('nan')):.4f} (3 digits)",
        "minutes": f"{rec['minutes']:g}",
        "width": cfg["n_embd"],
        "layers": cfg["n_layer"],
        "heads": cfg["n_head"],
        "n_series": report["n_series"],
        "bd": markdown_table(report, "bd"),
        "tv": markdown_table(report, "tv"),
        "t1": mark[tg["beats_laplace"]],
        "t2": mark[tg["on_par_rule_from_100"]],
        "t3": mark[tg["improves_with_context"]],
        "t4": mark[tg["near_cv_at_longest"]],
        "notes": "\n".join(f"* {n}" for n in notes),
        "status": status_line(report),
        "p3": f"{p3:g}",
        "packp": f"{pack:g}",
        "mparams": f"{info['n_params'] / 1e6:.1f}M",
        "hours": f"{info['wall_s'] / 60:.0f} minutes",
    }
    return _CARD.format(**v)


_CARD = """---
license: mit
library_name: transformers
pipeline_tag: text-generation
tags: [gpt2, time-series, markov-chain, in-context-learning, sgdllm]
---

# sgdllm default model: a digit GPT-2 that reads transition kernels in context

{status}

The default language model of `sgdllm`, the companion package of *Can LLMs predict the
convergence of SGD?* (Zekri et al. 2024). Given a series serialized LLMTime-style (each value
rescaled by the series' min/max to [0.15, 0.85] and written with 2 or 3 digits,
`"<s>523,541,538,"`), its next-token softmax gives, through the Hierarchy-PDF, the law of the
next value: an in-context estimate of the chain's transition kernel. No pretrained LLM can be
downloaded where the package is built, so this small model was pretrained from scratch on
random stochastic processes, **never on SGD trajectories**: its use on SGD is zero-shot.

Load it with `sgdllm.lm.load_model()` or directly:

```python
from transformers import AutoModelForCausalLM, AutoTokenizer

lm = AutoModelForCausalLM.from_pretrained("sgdllm/models/default")
tok = AutoTokenizer.from_pretrained("sgdllm/models/default")
```

## Model

* **Architecture**: `GPT2LMHeadModel`, {arch}; pre-LayerNorm, learned positions, `gelu_new`,
  tied input/output embeddings, no dropout. {params} parameters ({mb} MB of float32
  safetensors).
* **Context**: {npos} tokens, i.e. 341 values at 2 digits and 255 values at 3 digits.
* **Tokenizer** (`sgdllm.lm.tokenizer`): one token per character, `0`-`9` (ids 0-9), `,` (10),
  `<s>` (11, BOS and EOS), `<pad>` (12), `<unk>` (13); whitespace is dropped and `<s>` prepended.
* **Text format**: `<s>` + values joined by `,` + a trailing `,`. The law of value t+1 is read at
  the `,` after value t (first digit), then at each of its digits.

## Training

* **Data**, generated on the fly (`sgdllm.processes`), from random processes of the families
  {fams}: AR(1)/OU (stationary starts and converging transients), threshold AR, reflected
  random walks, noisy logistic/sine maps, discrete Markov chains on 2-12 random values with
  Dirichlet (often sticky) transition matrices, Euler-Maruyama Langevin dynamics in random
  double-well and anharmonic potentials. Parameter ranges are documented in
  `sgdllm/processes.py`. Held out from training, used only for evaluation: `student_t_ar`
  (heavy-tailed noise with a state-dependent scale) and `multiplicative` (a contracting linear
  map whose noise grows with the distance to its fixed point, shaped like SGD on least squares
  but not SGD).
* **Serialization** exactly as at inference: each series rescaled by its own whole-series
  min/max (the same look-ahead as the book's scalers, so that training and inference texts
  match); {mix}. {pack} several series of 10 to 341 values (log-uniform), each with its own
  `<s>` and scaler. Loss: next-token cross-entropy on every position.
* **Recipe**: AdamW (betas 0.9/0.95, {opt}, {sched} over the wall-clock budget, {batch},
  gradient clipping {clip}, bfloat16 autocast on the CPU, seed {seed}.
* **Run**: {run} on {threads} CPU threads, torch {torch}.
  Final validation loss per token: {val}.
* **Reproduce** (the learning-rate schedule follows the wall clock, so a faster or slower
  machine takes more or fewer steps):

  ```
  MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=100000000000 \\
    sgdllm pretrain --out DIR --minutes {minutes} --seed {seed} \\
      --width {width} --layers {layers} --heads {heads} \\
      --three-digits {p3} --pack-prob {packp}
  sgdllm evaluate-model --model DIR --card DIR/README.md
  ```

## Evaluation

`sgdllm evaluate-model` (`sgdllm/lm/evaluate.py`; all numbers in `evaluation.json`): {n_series}
fresh processes per family and number of digits (fixed seeds), each series rescaled as in the
book. At context n (values 0..n seen), the model's law of value n+1 (Hierarchy-PDF with every
branch refined, i.e. the model's exact law over all states) and the classical estimators
fitted on values 0..n -- Laplace (add-one) counts, Gaussian-smoothed counts with the
rule-of-thumb bandwidth and with leave-one-out cross-validated bandwidths -- are compared with
the exact binned kernel row of the current state. Metrics are averaged over a window
n +- n/10, then over series. A context of 1000 values does not fit in 1024 positions; at 3
digits the longest context is 230 values.

{bd}
{tv}
Targets: beat Laplace counts everywhere: {t1}. On par with rule-bandwidth smoothing from 100
values on: {t2}. Keeps improving with context: {t3}. Within 25% of CV smoothing at the longest
context: {t4}.

## Limitations

{notes}
* A {mparams}-parameter model trained for {hours} on a CPU, far smaller than the LLMs of the
  paper; it knows only what the families above teach it about Markov series.
* Univariate series only, at most 341 values (2 digits) or 255 values (3 digits) in context.
* The whole-series min/max rescaling uses the range of future values (as the book and LLMTime
  do); the model was trained with it and expects series that fill [0.15, 0.85].
"""


def _atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` beside ``path`` and rename it into place."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def main(
    model: str | Path | None = None,
    quick: bool = False,
    out: str | Path | None = None,
    card: str | Path | None = None,
    seed: int = 2024,
    laws_fn: LawsFn | None = None,
) -> int:
    """Entry point of ``sgdllm evaluate-model``: evaluate, write JSON (and the tables)."""
    model_dir = Path(model) if model is not None else default_model_dir()
    fn = laws_fn or exact_laws_fn(model_dir)
    kwargs: dict = (
        {
            "n_series": 3,
            "families": ("ar1", "markov_chain", "student_t_ar"),
            "contexts": {2: (10, 30, 100), 3: (10, 30)},
        }
        if quick
        else {}
    )
    report = evaluate(fn, seed=seed, progress=lambda m: print(m, flush=True), **kwargs)
    report["model"] = str(model_dir)
    report["targets"] = targets(report)
    out_path = Path(out) if out is not None else model_dir / "evaluation.json"
    tables = markdown_table(report, "bd") + "\n" + markdown_table(report, "tv")
    text = None
    if card is not None:
        text = model_card(model_dir, report) if (model_dir / "training.json").is_file() else tables
    # both files are complete before either is replaced (no half-written card or JSON)
    _atomic_write_text(out_path, json.dumps(report, indent=1) + "\n")
    if text is not None:
        _atomic_write_text(Path(card), text)
    print(tables)
    print("targets:", json.dumps(report["targets"]))
    print(f"wrote {out_path}")
    return 0
