"""Claims: the paper's claims, checked against the numbers the chapters recorded.

The poster and abstract of Zekri, Benechehab and Redko (2024) make eight claims that the book
tests (:data:`CLAIMS`). For each claim and each *estimator* (a language model, or the classical
counted kernels) this module reads the numbers that test it from the chapters' records
(``_build/records/<chapter>.json``, written by :mod:`sgdllm.book.executor`), computes a
verdict from them by a stated rule, and writes the table that the book's introduction shows (the
``claims-table`` directive of :mod:`sgdllm.book.site` calls :func:`claims_markdown` when the HTML is
built).

**The rule.** Each claim has one or more *tests*. A test reduces numbers to one statistic,
shown in the table rounded as a reader sees it (``78%``, ``3.8×``, ``-0.57``, ``2 of 3``), and
the verdict is read from that shown value, so that a reader can recompute it from the table:

* ``at least h, p``: *holds* when the value is at least ``h``, *partly* when at least ``p``;
* ``at most h, p``: *holds* when at most ``h``, *partly* when at most ``p``;
* ``within a factor h, p`` (a ratio ``r`` to the truth): *holds* when ``max(r, 1/r) <= h``,
  *partly* when ``<= p``;
* ``k of n``: *holds* when ``k = n``, *partly* when ``0 < k < n``.

Otherwise the test *does not hold*. A claim **holds** for an estimator when every measured test
holds, **does not hold** when every measured test does not hold, and holds **partly** otherwise;
an estimator with no measured test is *not measured* for that claim.

**Record keys: one number per estimator.** A chapter records a number that tests a claim for
estimator ``E`` under ``"<name>@<E>"``, with ``<name>`` the input named in :data:`CLAIMS`
(``convex_near_fraction``, ``alpha``, ...) and ``E``:

* ``embedded``: the model embedded in the package (``sgdllm/models/default``);
* a model id as ``sgdllm.lm.load_model`` takes it (``smollm2-135m``, ``gemma-3-270m``, a Hub id);
* ``counts``: the chapter's counted (or smoothed counted) kernel, the classical reference.
  Other classical estimators a chapter records for its own comparisons (:data:`CLASSICAL`:
  ``@cv``, ``@laplace``, ``@ar1``, ...) are not columns of the table.

For example, a chapter that runs SmolLM2 records ``record("convex_near_fraction@smollm2-135m",
0.24)``; the table grows a column for every estimator found, with no change here. Numbers that
do not depend on the estimator (the poster's exponents, the flop model) are recorded under their
plain name. Chapters written before this convention record the model's number as ``..._lm_...``
(or ``alpha_model``) and the counts' as ``..._counts_...``: :data:`LEGACY_KEYS` reads them, the
model's under the chapter's ``model`` parameter (``None``: ``embedded``). A ``<name>@<E>`` key
wins over a legacy key for the same estimator.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

__all__ = [
    "CLAIMS",
    "CLASSICAL",
    "COUNTS",
    "EMBEDDED",
    "FAILS",
    "HOLDS",
    "LEGACY_KEYS",
    "PARTLY",
    "Cell",
    "Claim",
    "ClaimRow",
    "Rule",
    "Test",
    "claim_chapters",
    "claims_markdown",
    "combine_verdicts",
    "estimator_inputs",
    "estimator_title",
    "evaluate_claims",
    "format_value",
    "load_claim_records",
    "model_label",
    "order_estimators",
    "shown_value",
    "summary_sentence",
]

#: Classical estimators a chapter records among themselves (``<name>@cv``, ``@laplace``, ...)
#: for its own comparisons; the table's one classical column is :data:`COUNTS`, so these are
#: not columns.
CLASSICAL = ("cv", "laplace", "ar1", "gaussian_cv", "gaussian_rule")

HOLDS = "holds"
PARTLY = "partly"
FAILS = "does not hold"
#: The estimator id of the model embedded in the package.
EMBEDDED = "embedded"
#: The estimator id of the chapters' counted (or smoothed counted) kernels.
COUNTS = "counts"


# ----------------------------------------------------------------------------- rules


def format_value(value: float | tuple[int, int], unit: str) -> str:
    """A test's statistic as the table shows it, rounded as :func:`shown_value` rounds it.

    ``%``: a fraction as a whole percentage (``0.784 -> "78%"``); ``×``: a ratio to two
    significant digits (``3.84 -> "3.8×"``); ``""``: two decimals, with a true minus sign
    (``-0.571 -> "−0.57"``); ``of``: a count ``(k, n) -> "k of n"``.
    """
    if unit == "of":
        k, n = value  # type: ignore[misc]
        return f"{k} of {n}"
    v = shown_value(value, unit)
    assert isinstance(v, float)
    if unit == "%":
        text = f"{round(100 * v)}%"
    elif unit == "×":
        # positional, never "1e-06": a reader (and tests/claims_check.py) reads the digits
        text = f"{np.format_float_positional(v, trim='-')}×"
    else:
        text = f"{v:.2f}"
    return text.replace("-", "\u2212")


def shown_value(value: float | tuple[int, int], unit: str) -> float | tuple[int, int]:
    """``value`` rounded to what the table shows: the number a verdict is read from."""
    if unit == "of":
        k, n = value  # type: ignore[misc]
        return (int(k), int(n))
    v = float(value)  # type: ignore[arg-type]
    if not math.isfinite(v):
        raise ValueError(f"a claim's statistic is {v}; the numbers behind it must be finite")
    if unit == "%":
        return round(v, 2) + 0.0
    if unit == "×":
        return float(f"{v:.2g}")
    return round(v, 2) + 0.0


@dataclass(frozen=True)
class Rule:
    """Thresholds that turn a test's shown statistic into a verdict (see the module docstring).

    Parameters
    ----------
    kind : {"at_least", "at_most", "within_factor", "all_of"}
    holds, partly : float
        Thresholds (ignored by ``all_of``, which reads ``(k, n)``: all, some, none).
    """

    kind: Literal["at_least", "at_most", "within_factor", "all_of"]
    holds: float = math.nan
    partly: float = math.nan

    def __post_init__(self) -> None:
        if self.kind == "all_of":
            return
        if not (math.isfinite(self.holds) and math.isfinite(self.partly)):
            raise ValueError(f"rule {self.kind!r} needs finite holds and partly thresholds")
        strict = {
            "at_least": self.holds >= self.partly,
            "at_most": self.holds <= self.partly,
            "within_factor": 1 <= self.holds <= self.partly,
        }[self.kind]
        if not strict:
            raise ValueError(
                f"rule {self.kind!r}: the 'holds' threshold {self.holds} must be at least as "
                f"demanding as the 'partly' threshold {self.partly}"
            )

    def verdict(self, value: float | tuple[int, int]) -> str:
        """:data:`HOLDS`, :data:`PARTLY` or :data:`FAILS` for a shown value."""
        if self.kind == "all_of":
            k, n = value  # type: ignore[misc]
            if n <= 0 or not 0 <= k <= n:
                raise ValueError(f"a count 'k of n' needs 0 <= k <= n and n > 0, got {k} of {n}")
            return HOLDS if k == n else PARTLY if k > 0 else FAILS
        v = float(value)  # type: ignore[arg-type]
        if self.kind == "at_least":
            return HOLDS if v >= self.holds else PARTLY if v >= self.partly else FAILS
        if self.kind == "at_most":
            return HOLDS if v <= self.holds else PARTLY if v <= self.partly else FAILS
        factor = math.inf if v <= 0 else max(v, 1 / v)
        return HOLDS if factor <= self.holds else PARTLY if factor <= self.partly else FAILS

    def text(self, unit: str) -> str:
        """The rule in words, its thresholds written in the unit of the shown value."""
        if self.kind == "all_of":
            return "holds for all, partly for some"
        if self.kind == "within_factor":
            h, p = (_threshold(t, "×") for t in (self.holds, self.partly))
            return f"holds within a factor {h} either way, partly within {p}"
        h, p = (_threshold(t, unit) for t in (self.holds, self.partly))
        word = "or more" if self.kind == "at_least" else "or less"
        return f"holds at {h} {word}, partly at {p} {word}"


def _threshold(value: float, unit: str) -> str:
    """A rule's threshold, exactly (not rounded as shown values are)."""
    text = f"{100 * value:g}%" if unit == "%" else f"{value:g}×" if unit == "×" else f"{value:g}"
    return text.replace("-", "\u2212")


def combine_verdicts(verdicts: Sequence[str]) -> str | None:
    """A claim's verdict from its measured tests' verdicts (``None`` if none was measured).

    :data:`HOLDS` when all hold, :data:`FAILS` when none holds even partly, :data:`PARTLY`
    otherwise.
    """
    if not verdicts:
        return None
    unknown = set(verdicts) - {HOLDS, PARTLY, FAILS}
    if unknown:
        raise ValueError(f"unknown verdict(s) {sorted(unknown)}")
    if all(v == HOLDS for v in verdicts):
        return HOLDS
    if all(v == FAILS for v in verdicts):
        return FAILS
    return PARTLY


# ----------------------------------------------------------------------------- claims


@dataclass(frozen=True)
class Test:
    """One number that tests a claim, and the rule that reads a verdict from it.

    Parameters
    ----------
    what : str
        What is measured, in words (shown in the table).
    chapter : str
        The chapter whose record holds the inputs.
    inputs : tuple of str
        Input names, one value per estimator (recorded as ``<name>@<estimator>``).
    statistic : callable
        ``statistic(*inputs, *shared) -> float or (k, n)``, from the recorded values.
    rule : Rule
    unit : {"%", "×", "", "of"}
        How the statistic is shown (:func:`format_value`).
    shared : tuple of str
        Input names common to every estimator (recorded under their plain name).
    detail : callable, optional
        ``detail(*inputs, *shared) -> str``: context shown in brackets after the value (not
        read by the rule).
    """

    what: str
    chapter: str
    inputs: tuple[str, ...]
    statistic: Callable[..., float | tuple[int, int]]
    rule: Rule
    unit: str
    shared: tuple[str, ...] = ()
    detail: Callable[..., str] | None = None

    @property
    def per_estimator(self) -> bool:
        """False for a test whose number is the same for every estimator."""
        return bool(self.inputs)


@dataclass(frozen=True)
class Claim:
    """A claim of the poster or abstract, the tests of it, and the section that shows them."""

    key: str
    text: str
    source: str
    tests: tuple[Test, ...]
    label: str
    link_text: str


def _minus(values: Sequence[float]) -> str:
    return ", ".join(format_value(float(v), "") for v in values)


def _alpha_detail(alpha: Sequence[float], poster: Sequence[float]) -> str:
    return f"α = {_minus(alpha)}"


def _decays(alpha: Sequence[float], poster: Sequence[float]) -> tuple[int, int]:
    shown = [shown_value(float(a), "") for a in alpha]
    return (sum(a <= DECAY_EXPONENT for a in shown), len(shown))  # type: ignore[operator]


def _ordering(alpha: Sequence[float], poster: Sequence[float]) -> float:
    shown = [shown_value(float(a), "") for a in alpha]
    return float(shown[0]) - float(shown[-1])  # type: ignore[arg-type]


def _w1_over_stay(*values: Sequence[float]) -> float:
    """Worst (largest) ratio of the last-horizon W1 to that of staying put, over the starts."""
    n = len(values) // 2
    return max(float(m[-1]) / float(s[-1]) for m, s in zip(values[:n], values[n:], strict=True))


def _worst_factor(*ratios: float) -> float:
    """The ratio furthest from 1 (as a factor either way)."""
    return max((float(r) for r in ratios), key=lambda r: math.inf if r <= 0 else max(r, 1 / r))


def _at_largest(ratios: Sequence[float], sizes: Sequence[int], states: int) -> float:
    """The cost ratio (simulating over predicting) at the largest data size measured."""
    return float(ratios[-1])


def _largest(ratios: Sequence[float], sizes: Sequence[int], states: int) -> str:
    return f"N = {int(sizes[-1])}, K = {int(states)} states"


def _smallest(ratio: float, sizes: Sequence[int], states: int) -> str:
    return f"N = {int(sizes[0])}, K = {int(states)} states"


def _network_detail(ratios: Sequence[float], params: Sequence[int], states: int) -> str:
    return f"P = {int(params[-1])} parameters, K = {int(states)} states"


def _reading_detail(ratio: float, starts: int, states: int) -> str:
    return f"{int(starts)} starts, K = {int(states)} states"


def _near_a_minimum(table: Sequence[Sequence[float]]) -> float:
    """Predicted mass near some minimum, averaged over starts (last column: near none)."""
    return 1.0 - float(np.mean(np.asarray(table, dtype=float)[:, -1]))


#: An exponent at most this counts as a decay of the loss with the context.
DECAY_EXPONENT = -0.05

STARTS = ("restart", "checkpoint", "fresh")

#: The claims the book tests, in the order of the paper.
CLAIMS: tuple[Claim, ...] = (
    Claim(
        key="over_under",
        text="Over-parametrized SGD settles on a point and the law read in context is a spike "
        "(a Dirac); under-parametrized, it is spread out like SGD's own",
        source="poster, figure 2",
        tests=(
            Test(
                "mass of the law on its top state, once SGD has settled",
                "extracting_transitions",
                ("over_top_mass",),
                lambda m: float(m),
                Rule("at_least", 0.9, 0.5),
                "%",
            ),
            Test(
                "width of the under-parametrized law over the true law's",
                "extracting_transitions",
                ("under_spread",),
                lambda s, truth: float(s) / float(truth),
                Rule("within_factor", 1.25, 2.0),
                "×",
                shared=("under_truth_spread",),
            ),
        ),
        label="extracting-spike-or-histogram",
        link_text="Extracting transitions: spike or histogram",
    ),
    Claim(
        key="ot_imputation",
        text="Optimal-transport barycenters fill the rows a run never visited better than "
        "copying a neighbour",
        source="poster",
        tests=(
            Test(
                "W1 of the OT-filled rows to the true rows, over that of the better of "
                "nearest-row copying and the neighbours' mixture",
                "imputation",
                ("row_w1_ot", "row_w1_nearest", "row_w1_mixture"),
                lambda ot, near, mix: float(ot) / min(float(near), float(mix)),
                Rule("at_most", 0.9, 1.0),
                "×",
            ),
        ),
        label="imputation-row-by-row",
        link_text="Imputation: row by row",
    ),
    Claim(
        key="scaling_law",
        text="The in-context loss falls as a power of the context length",
        source="poster",
        tests=(
            Test(
                f"gaps (0.15, 0.35, 0.8) whose fitted exponent α is at most "
                f"{format_value(DECAY_EXPONENT, '')} (counts: cross-validated smoothing)",
                "scaling_laws",
                ("alpha",),
                _decays,
                Rule("all_of"),
                "of",
                shared=("alpha_poster",),
                detail=_alpha_detail,
            ),
        ),
        label="scaling-laws-fit",
        link_text="Scaling laws: the fit",
    ),
    Claim(
        key="scaling_order",
        text="The loss falls faster for a smaller spectral gap",
        source="poster",
        tests=(
            Test(
                "α at gap 0.15 minus α at gap 0.8 (poster: α = −0.48, −0.26, −0.09 at gaps "
                "0.15, 0.35, 0.8, a difference of −0.39; counts: cross-validated smoothing)",
                "scaling_laws",
                ("alpha",),
                _ordering,
                Rule("at_most", -0.2, -0.1),
                "",
                shared=("alpha_poster",),
                detail=_alpha_detail,
            ),
        ),
        label="scaling-laws-exponents",
        link_text="Scaling laws: reading the exponents",
    ),
    Claim(
        key="convex",
        text="Convex problem: from starts the run never visited, the predicted law goes where "
        "SGD converges",
        source="abstract; poster, figure 5",
        tests=(
            Test(
                "predicted mass near the minimum (4 stationary s.d.), mean over new starts",
                "predicting_sgd",
                ("convex_near_fraction",),
                lambda f: float(f),
                Rule("at_least", 0.95, 0.5),
                "%",
            ),
            Test(
                "predicted stationary spread over real SGD's",
                "predicting_sgd",
                ("convex_std_ratio",),
                lambda r: float(r),
                Rule("within_factor", 1.3, 2.0),
                "×",
            ),
        ),
        label="predicting-sgd-convex",
        link_text="Predicting SGD: a convex problem",
    ),
    Claim(
        key="non_convex",
        text="Non-convex problem: predictions reach the basins SGD reaches, as often as SGD does",
        source="abstract; poster, figure 6",
        tests=(
            Test(
                "predicted mass near a minimum, mean over new starts",
                "predicting_sgd",
                ("tb_table",),
                _near_a_minimum,
                Rule("at_least", 0.9, 0.5),
                "%",
            ),
            Test(
                "total variation of predicted to real basin frequencies, mean over starts",
                "predicting_sgd",
                ("tb_tv_mean",),
                lambda tv: float(tv),
                Rule("at_most", 0.1, 0.5),
                "",
            ),
        ),
        label="predicting-sgd-two-basins",
        link_text="Predicting SGD: two basins",
    ),
    Claim(
        key="cost",
        text="Predicting by matrix products costs less than simulating SGD's forward and "
        "backward passes (the same for every kernel of as many states, but for the cost of "
        "reading the kernel, which the last test counts for each estimator)",
        source="poster",
        tests=(
            Test(
                "cost of simulating over that of predicting, timed, at the largest data size "
                "N measured, fine grid",
                "side_by_side",
                (),
                _at_largest,
                Rule("at_least", 1.0, 0.5),
                "×",
                shared=("time_ratio_by_size", "cost_sizes_used", "cost_states_used"),
                detail=_largest,
            ),
            Test(
                "the same ratio by the flop model",
                "side_by_side",
                (),
                _at_largest,
                Rule("at_least", 1.0, 0.5),
                "×",
                shared=("flop_ratio_by_size", "cost_sizes_used", "cost_states_used"),
                detail=_largest,
            ),
            Test(
                "the same ratio, timed, on the chapter's coarser grid, smallest N",
                "side_by_side",
                (),
                lambda ratio, sizes, states: float(ratio),
                Rule("at_least", 1.0, 0.5),
                "×",
                shared=("time_ratio_coarse_grid", "cost_sizes_used", "coarse_states"),
                detail=_smallest,
            ),
            Test(
                "on a real network (a torch MLP, forward, backward and update), the cost of "
                "a start's SGD runs over predicting its law with one kernel per parameter, "
                "timed, largest network measured, coarse grid",
                "side_by_side",
                (),
                _at_largest,
                Rule("at_least", 1.0, 0.5),
                "×",
                shared=("net_time_ratio_coarse", "net_params_used", "net_states_coarse"),
                detail=_network_detail,
            ),
            Test(
                "the same by the flop model, over the chapter's starts, with the cost of "
                "reading every parameter's series into a kernel (a language model's forward "
                "passes; counting for the counts)",
                "side_by_side",
                ("net_read_ratio",),
                lambda ratio, starts, states: float(ratio),
                Rule("at_least", 1.0, 0.5),
                "×",
                shared=("cost_starts_used", "net_states_coarse"),
                detail=_reading_detail,
            ),
        ),
        label="side-by-side-cost",
        link_text="Side by side: the cost of predicting",
    ),
    Claim(
        key="self_prediction",
        text="A model predicts its own training (zero-shot randomized trials of a deep model)",
        source="abstract",
        tests=(
            Test(
                "W1 to further training at the last horizon over that of staying put, worst "
                "of three starts",
                "self_prediction",
                tuple(f"{w}_w1" for w in STARTS),
                _w1_over_stay,
                Rule("at_most", 0.5, 1.0),
                "×",
                shared=tuple(f"{w}_w1_stay" for w in STARTS),
            ),
            Test(
                "predicted spread over the real runs', worst of three starts",
                "self_prediction",
                tuple(f"{w}_std_ratio" for w in STARTS),
                _worst_factor,
                Rule("within_factor", 2.0, 4.0),
                "×",
            ),
        ),
        label="self-prediction-against-training",
        link_text="Self prediction: against further training",
    ),
)


def _legacy(template: str, lm: str = "lm", counts: str = "counts") -> dict[str, str]:
    return {"lm": template.format(e=lm), COUNTS: template.format(e=counts)}


#: Keys recorded before the ``<name>@<estimator>`` convention: chapter -> input name ->
#: ``{"lm": key of the chapter's language model, "counts": key of its counted kernel}``.
LEGACY_KEYS: dict[str, dict[str, dict[str, str]]] = {
    "extracting_transitions": {
        "over_top_mass": {"lm": "over_top_mass"},
        "under_spread": {"lm": "under_spread"},
    },
    "imputation": {
        f"row_w1_{m}": _legacy(f"row_w1_{{e}}_{m}") for m in ("ot", "nearest", "mixture")
    },
    # the counts' exponents: counts smoothed with a cross-validated bandwidth
    "scaling_laws": {"alpha": {"lm": "alpha_model", COUNTS: "alpha_cv"}},
    "predicting_sgd": {
        "convex_near_fraction": _legacy("convex_near_fraction_{e}"),
        "convex_std_ratio": _legacy("convex_std_ratio_{e}"),
        "tb_table": _legacy("tb_{e}_table"),
        "tb_tv_mean": _legacy("tb_tv_{e}_mean"),
    },
    "self_prediction": {
        **{f"{w}_w1": _legacy(f"{w}_w1_{{e}}") for w in STARTS},
        **{f"{w}_std_ratio": _legacy(f"{w}_std_ratio_{{e}}") for w in STARTS},
    },
}


def claim_chapters(claims: Sequence[Claim] = CLAIMS) -> list[str]:
    """The chapters whose records the claims read, in first-use order."""
    return list(dict.fromkeys(t.chapter for c in claims for t in c.tests))


# ----------------------------------------------------------------------------- records


def model_label(model: Any) -> str:
    """The estimator id of a chapter's ``model`` parameter: ``None`` is :data:`EMBEDDED`; a
    local directory is named by its last component; any other id is kept as it is."""
    if model is None or model == "":
        return EMBEDDED
    text = str(model)
    if text.startswith(("/", "./", "../", "~")):
        return Path(text.rstrip("/")).name or text
    return text


def estimator_inputs(record: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``{estimator: {input name: value}}`` from one chapter record (see the module docstring).

    Reads ``<name>@<estimator>`` keys, and the chapter's legacy keys (:data:`LEGACY_KEYS`), its
    language model's under :func:`model_label` of the record's ``model`` parameter.
    """
    numbers = record.get("numbers", {})
    chapter = record.get("chapter", "")
    out: dict[str, dict[str, Any]] = {}
    lm = model_label((record.get("parameters") or {}).get("model"))
    for name, keys in LEGACY_KEYS.get(chapter, {}).items():
        for role, key in keys.items():
            if key in numbers:
                out.setdefault(lm if role == "lm" else role, {})[name] = numbers[key]
    for key, value in numbers.items():
        name, sep, estimator = key.rpartition("@")
        if sep and name and estimator and estimator not in CLASSICAL:
            out.setdefault(estimator, {})[name] = value
    return out


def load_claim_records(
    records_dir: str | os.PathLike[str], claims: Sequence[Claim] = CLAIMS
) -> dict[str, dict[str, Any]]:
    """The records of the chapters the claims read: ``{chapter: record}``.

    Raises ``FileNotFoundError`` naming the missing chapters (and the command that writes
    their records) when any is absent.
    """
    folder = Path(records_dir)
    chapters = claim_chapters(claims)
    missing = [c for c in chapters if not (folder / f"{c}.json").is_file()]
    if missing:
        raise FileNotFoundError(
            f"no record of chapter(s) {missing} in {folder}: the claims table reads the "
            f"chapters' records; run `sgdllm book` (or `sgdllm book --chapter NAME`) first"
        )
    return {c: json.loads((folder / f"{c}.json").read_text()) for c in chapters}


# ----------------------------------------------------------------------------- evaluation


@dataclass(frozen=True)
class Cell:
    """One claim for one estimator: each test's shown value (``None``: not measured), its
    verdict, and the claim's verdict (``None``: not measured)."""

    values: tuple[float | tuple[int, int] | None, ...]
    test_verdicts: tuple[str | None, ...]
    details: tuple[str | None, ...]
    verdict: str | None


@dataclass(frozen=True)
class ClaimRow:
    """A claim and its cells, one per estimator."""

    claim: Claim
    cells: dict[str, Cell] = field(default_factory=dict)


def order_estimators(names: set[str] | Sequence[str]) -> list[str]:
    """:data:`EMBEDDED` first, other models alphabetically, :data:`COUNTS` last."""
    names = set(names)
    models = sorted(names - {EMBEDDED, COUNTS})
    return [EMBEDDED] * (EMBEDDED in names) + models + [COUNTS] * (COUNTS in names)


def _test_value(
    test: Test, inputs: Mapping[str, Any], shared: Mapping[str, Any]
) -> tuple[float | tuple[int, int], str | None] | None:
    if not all(k in inputs for k in test.inputs) or not all(k in shared for k in test.shared):
        return None
    args = [inputs[k] for k in test.inputs] + [shared[k] for k in test.shared]
    value = shown_value(test.statistic(*args), test.unit)
    return value, (test.detail(*args) if test.detail else None)


def evaluate_claims(
    records: Mapping[str, Mapping[str, Any]], claims: Sequence[Claim] = CLAIMS
) -> tuple[list[str], list[ClaimRow]]:
    """Evaluate every claim for every estimator found in the records.

    Parameters
    ----------
    records : mapping
        ``{chapter: record}`` as :func:`load_claim_records` returns (a missing chapter leaves
        its tests not measured).

    Returns
    -------
    estimators : list of str
        Every estimator with at least one per-estimator number (:func:`order_estimators`).
    rows : list of ClaimRow
        One per claim, with a :class:`Cell` per estimator.
    """
    inputs = {c: estimator_inputs(r) for c, r in records.items()}
    shared = {c: r.get("numbers", {}) for c, r in records.items()}
    estimators = order_estimators(
        {
            e
            for c in claims
            for t in c.tests
            if t.per_estimator
            for e, values in inputs.get(t.chapter, {}).items()
            if any(k in values for k in t.inputs)
        }
    )
    rows = []
    for claim in claims:
        cells = {}
        for e in estimators:
            results = [
                _test_value(t, inputs.get(t.chapter, {}).get(e, {}), shared.get(t.chapter, {}))
                for t in claim.tests
            ]
            verdicts = tuple(
                None if r is None else t.rule.verdict(r[0])
                for t, r in zip(claim.tests, results, strict=True)
            )
            cells[e] = Cell(
                values=tuple(None if r is None else r[0] for r in results),
                test_verdicts=verdicts,
                details=tuple(None if r is None else r[1] for r in results),
                verdict=combine_verdicts([v for v in verdicts if v is not None]),
            )
        rows.append(ClaimRow(claim, cells))
    return estimators, rows


# ----------------------------------------------------------------------------- the table

_NUMBER_WORDS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def _count(n: int, noun: str) -> str:
    word = _NUMBER_WORDS[n] if 0 <= n < len(_NUMBER_WORDS) else str(n)
    return f"{word} {noun if n == 1 else noun + 's'}"


def estimator_title(estimator: str) -> str:
    """Column title of an estimator: "embedded model", "counts", the name of a model of the
    ladder (:func:`sgdllm.lm.ladder.model_title`, e.g. "SmolLM2-135M"), or any other id as
    code."""
    if estimator in (EMBEDDED, COUNTS):
        return {EMBEDDED: "embedded model", COUNTS: "counts"}[estimator]
    from sgdllm.lm.ladder import LADDER, model_title  # loads torch: only when a table is made

    return model_title(estimator) if estimator in LADDER else f"`{estimator}`"


def _letters(n: int) -> list[str]:
    return [f"({chr(ord('a') + i)})" for i in range(n)]


def _cell_text(claim: Claim, cell: Cell) -> str:
    if cell.verdict is None:
        return "not measured"
    parts = []
    for letter, test, value, detail in zip(
        _letters(len(claim.tests)), claim.tests, cell.values, cell.details, strict=True
    ):
        shown = "not measured" if value is None else format_value(value, test.unit)
        if detail:
            shown += f" ({detail})"
        parts.append(f"{letter} {shown}" if len(claim.tests) > 1 else shown)
    return f"**{cell.verdict}**: " + "; <br>".join(parts)


def _test_text(claim: Claim) -> str:
    parts = [f"{t.what}; {t.rule.text(t.unit)}" for t in claim.tests]
    if len(parts) == 1:
        return parts[0]
    return " <br>".join(
        f"{letter} {p}." for letter, p in zip(_letters(len(parts)), parts, strict=True)
    )


def _escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def summary_sentence(estimators: Sequence[str], rows: Sequence[ClaimRow]) -> str:
    """One sentence per estimator: how many claims hold, partly, do not hold, not measured."""
    sentences = []
    for e in estimators:
        verdicts = [row.cells[e].verdict for row in rows]
        counts = [
            (verdicts.count(HOLDS), "holds", "hold"),
            (verdicts.count(PARTLY), "holds partly", "hold partly"),
            (verdicts.count(FAILS), "does not hold", "do not hold"),
            (verdicts.count(None), "is not measured", "are not measured"),
        ]
        said = [f"{_count(n, 'claim')} {one if n == 1 else many}" for n, one, many in counts if n]
        text = ", ".join(said[:-1]) + (" and " if len(said) > 1 else "") + said[-1]
        sentences.append(f"For the {estimator_title(e)}, {text}.")
    return " ".join(sentences)


def claims_markdown(
    records: Mapping[str, Mapping[str, Any]],
    claims: Sequence[Claim] = CLAIMS,
    *,
    name: str = "tbl-claims",
) -> str:
    """The claims table in MyST Markdown: a summary, the numbered and captioned table, and the
    rule that reads the verdicts (what the introduction shows).

    Each claim links its section with ``{ref}``, so a missing label fails the nitpicky build.
    """
    estimators, rows = evaluate_claims(records, claims)
    if not estimators:
        raise ValueError(
            "the chapters' records hold no number for any estimator: were they written by "
            "this version of the chapters? (see sgdllm.book.claims.LEGACY_KEYS)"
        )
    profiles = sorted({str(r.get("profile", "unknown")) for r in records.values()})
    commits = sorted({str(r.get("git_commit", "unknown"))[:7] for r in records.values()})
    header = ["claim", "test and rule", *(estimator_title(e) for e in estimators), "shown in"]
    lines = [
        summary_sentence(estimators, rows),
        "",
        f":::{{table}} The claims of the paper's poster and abstract, tested on this book's "
        f"numbers: for each model and for the counted kernels, the numbers that test a claim "
        f"and the verdict read from them by the rule beside them (made from the chapters' "
        f"records of the profile {' and '.join(profiles)}, commit {', '.join(commits)}).",
        f":name: {name}",
        "",
        "| " + " | ".join(header) + " |",
        "| " + " | ".join("---" for _ in header) + " |",
    ]
    for row in rows:
        c = row.claim
        cells = [
            f"{c.text} ({c.source})",
            _test_text(c),
            *(_cell_text(c, row.cells[e]) for e in estimators),
            f"{{ref}}`{c.link_text} <{c.label}>`",
        ]
        lines.append("| " + " | ".join(_escape(x) for x in cells) + " |")
    lines += [":::", ""]
    return "\n".join(lines)
