"""Where each model of the ladder stands: against the truth, the classical estimators and the
embedded specialist, on the same series.

Chapters: *The embedded language model* (the model card's evaluation read by every model of the
ladder: :func:`ladder_standing`) and *Extracting transition probabilities* (two SGD series:
:func:`spike_statistics`, :func:`histogram_statistics`, :func:`ladder_table`,
:func:`fit_repairs`, :func:`repair_verdict`).

Every model reads the same series (:func:`sgdllm.lm.ladder.ladder_laws`); its laws ``q_t`` of
the next state are compared with the true rows ``p_t`` by the Bhattacharyya distance
``BD(p, q) = -log sum_s sqrt(p_s q_s)`` and the total variation, averaged over the steps
compared (:mod:`sgdllm.metrics`), next to the classical estimators fitted on the same values
(:func:`sgdllm.lm.evaluate.estimator_rows`: add-one counts, Gaussian-smoothed counts with a
rule-of-thumb and a cross-validated bandwidth). The numbers come back in dicts keyed as the
chapters record them (``"<name>@<model id>"`` for a model's, the book's convention).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from sgdllm.calibration import fit_mixture_weight, fit_temperature, mix_laws, temper_laws
from sgdllm.lm.evaluate import learning_curve
from sgdllm.metrics import bhattacharyya, law_moments, tv

__all__ = [
    "CLASSICAL_KEYS",
    "CLASSICAL_TITLES",
    "TABLE_FORMATS",
    "LadderStanding",
    "fit_repairs",
    "histogram_statistics",
    "ladder_standing",
    "ladder_table",
    "repair_verdict",
    "spike_statistics",
]

#: The classical estimators of :func:`sgdllm.lm.evaluate.evaluate`, by the suffix their
#: numbers are recorded under.
CLASSICAL_KEYS = {"laplace": "laplace", "rule": "gaussian_rule", "cv": "cv"}
#: Their names in figures and tables.
CLASSICAL_TITLES = {
    "laplace": "add-one counts",
    "rule": "smoothed, rule",
    "cv": "smoothed, cross-validated",
}

Curve = tuple[NDArray[np.float64], NDArray[np.float64]]

# ----------------------------------------------------------------------------- the evaluation


@dataclass(frozen=True)
class LadderStanding:
    """Every model of the ladder on the series of one evaluation (:func:`ladder_standing`).

    Attributes
    ----------
    contexts : ndarray of int, shape (n,)
        Context lengths, increasing.
    families : list of str
    curves : dict
        ``{estimator: {family: (mean, se)}}``, each of shape ``(n,)``: mean Bhattacharyya
        distance over the series and its standard error, for each model id, then ``laplace``,
        ``rule`` and ``cv`` (from the first model's report: the same series for all).
    models : dict
        ``{model id: numbers}``: ``ladder_over_cv_longest`` (per family, the model's distance
        over cross-validated smoothing's at the longest context), ``ladder_n_beats_cv_longest``
        and ``ladder_n_beats_rule_longest`` (families where it is lower), and
        ``ladder_n_beats_laplace`` (cells, family x context, where it beats add-one counts);
        for every model but the reference, ``ladder_over_embedded_longest`` (per family, its
        distance over the reference's), their geometric mean ``ladder_over_embedded_gmean``
        and ``ladder_n_beats_embedded_longest``.
    reference : str
        The id the others are compared with (the embedded specialist).
    """

    contexts: NDArray[np.int64]
    families: list[str]
    curves: dict[str, dict[str, Curve]]
    models: dict[str, dict[str, Any]]
    reference: str

    @property
    def n_cells(self) -> int:
        """The number of cells of the evaluation, families times context lengths."""
        return len(self.families) * len(self.contexts)

    def records(self) -> dict[str, Any]:
        """The numbers as the chapter records them: ``ladder_bd_<family>@<estimator>`` (the
        mean curve; the classical estimators under :data:`CLASSICAL_KEYS`), ``ladder_cells``
        and ``<number>@<model id>``."""
        out: dict[str, Any] = {
            f"ladder_bd_{fam}@{CLASSICAL_KEYS.get(name, name)}": [float(v) for v in c[fam][0]]
            for fam in self.families
            for name, c in self.curves.items()
        }
        out["ladder_cells"] = self.n_cells
        return out | {f"{k}@{m}": v for m, d in self.models.items() for k, v in d.items()}


def ladder_standing(
    reports: Mapping[str, dict], reference: str = "embedded", digits: int = 2
) -> LadderStanding:
    """Compare the models of the ladder from their reports on the same series.

    With ``r_e(f)`` estimator ``e``'s mean Bhattacharyya distance on family ``f`` at the
    longest context, a model ``m`` is scored by ``r_m(f) / r_cv(f)`` per family, by how many
    families it beats cross-validated and rule-of-thumb smoothing on, by the cells where it
    beats add-one counts and, against the reference ``E``, by ``r_m(f) / r_E(f)`` and its
    geometric mean ``exp(mean_f log(r_m(f) / r_E(f)))``.

    Parameters
    ----------
    reports : dict
        ``{model id: report}``, reports of :func:`sgdllm.lm.evaluate.evaluate` with the same
        families, contexts, series and seed (the classical estimators are read from the first).
    reference : str
        The model the others are compared with (:data:`sgdllm.lm.ladder.EMBEDDED`); ignored
        when it is not among the reports.
    digits : int
        The number of digits of the reports read.

    Returns
    -------
    LadderStanding
    """
    models = list(reports)
    if not models:
        raise ValueError("pass at least one report, {model id: report}")
    families = list(reports[models[0]]["results"][str(digits)])
    curves: dict[str, dict[str, Curve]] = {name: {} for name in [*models, *CLASSICAL_KEYS]}
    for fam in families:
        for m in models:
            ns, cur = learning_curve(reports[m], digits, fam)
            curves[m][fam] = cur["model"]
        for e in CLASSICAL_KEYS:  # the same series for every model: the first report's
            curves[e][fam] = learning_curve(reports[models[0]], digits, fam)[1][e]
    longest = {name: np.array([curves[name][f][0][-1] for f in families]) for name in curves}
    numbers: dict[str, dict[str, Any]] = {}
    for m in models:
        below_laplace = sum(
            int(np.sum(curves[m][f][0] < curves["laplace"][f][0])) for f in families
        )
        numbers[m] = {
            "ladder_over_cv_longest": [float(v) for v in longest[m] / longest["cv"]],
            "ladder_n_beats_cv_longest": int(np.sum(longest[m] < longest["cv"])),
            "ladder_n_beats_rule_longest": int(np.sum(longest[m] < longest["rule"])),
            "ladder_n_beats_laplace": below_laplace,
        }
        if m != reference and reference in models:
            ratio = longest[m] / longest[reference]
            numbers[m] |= {
                "ladder_over_embedded_longest": [float(v) for v in ratio],
                "ladder_over_embedded_gmean": float(np.exp(np.mean(np.log(ratio)))),
                "ladder_n_beats_embedded_longest": int(np.sum(ratio < 1)),
            }
    return LadderStanding(ns, families, curves, numbers, reference)


# ----------------------------------------------------------------------------- two SGD series


def spike_statistics(
    laws: NDArray[np.float64], true_rows: NDArray[np.float64], limit_state: int
) -> dict[str, float]:
    """How much a converged run's laws look like the true Dirac on its limit.

    Means over the rows ``t`` of ``laws`` (shape ``(T, K)``): ``over_top_mass``, the mass
    ``max_s q_t(s)`` of the most likely state; ``over_top_is_limit``, how often that state is
    ``limit_state``; ``over_bd``, the Bhattacharyya distance to ``true_rows[t]``.
    Chapter: *Extracting transition probabilities* (the over-parametrized series).
    """
    return {
        "over_top_mass": float(laws.max(axis=1).mean()),
        "over_top_is_limit": float(np.mean(laws.argmax(axis=1) == limit_state)),
        "over_bd": float(bhattacharyya(true_rows, laws).mean()),
    }


def histogram_statistics(
    laws: NDArray[np.float64], true_rows: NDArray[np.float64]
) -> dict[str, float]:
    """A fluctuating run's laws against the true rows: distance, width and centre.

    Means over the rows ``t`` (shapes ``(T, K)``) of: ``under_bd`` and ``under_tv``, the
    Bhattacharyya distance and total variation to ``true_rows[t]``; ``under_spread``, the
    standard deviation of ``q_t`` in states; ``under_mean_error``, ``|E_q_t[s] -
    E_p_t[s]|`` in states (:func:`sgdllm.metrics.law_moments`). Chapter: *Extracting
    transition probabilities* (the under-parametrized series).
    """
    mean, spread = law_moments(laws)
    return {
        "under_bd": float(bhattacharyya(true_rows, laws).mean()),
        "under_tv": float(tv(true_rows, laws).mean()),
        "under_spread": float(spread.mean()),
        "under_mean_error": float(np.abs(mean - law_moments(true_rows)[0]).mean()),
    }


#: The columns of :func:`ladder_table`: a number's key and its format.
TABLE_FORMATS = {
    "over_top_mass": ".2f",
    "over_top_is_limit": ".0%",
    "over_bd": ".2f",
    "under_bd": ".3f",
    "under_tv": ".3f",
    "under_spread": ".1f",
    "under_mean_error": ".1f",
}


def ladder_table(rows: Mapping[str, Mapping[str, float]], truth_spread: float) -> str:
    """Markdown table of every estimator on the two SGD series, and the truth's spread.

    ``rows`` maps an estimator's name to its numbers (:func:`spike_statistics` and
    :func:`histogram_statistics`; a classical estimator has the latter only, its other cells
    stay empty); the last row gives the true rows' spread. Chapter: *Extracting transition
    probabilities*.
    """
    lines = [
        "| estimator | over: top mass | over: top is the limit | over: Bhattacharyya | "
        "under: Bhattacharyya | under: total variation | under: spread (states) | "
        "under: mean error (states) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, d in rows.items():
        cells = [format(d[k], f) if k in d else "" for k, f in TABLE_FORMATS.items()]
        lines.append(f"| {name} | {' | '.join(cells)} |")
    lines.append(f"| truth | | | | | | {truth_spread:.1f} | |")
    return "\n".join(lines)


def fit_repairs(
    fit_laws: NDArray[np.float64],
    fit_smoother: NDArray[np.float64],
    fit_next: NDArray[np.int64],
    laws: NDArray[np.float64],
    smoother: NDArray[np.float64],
    true_rows: NDArray[np.float64],
) -> dict[str, float]:
    """Two one-parameter repairs of a model's laws, fitted on observed transitions, scored
    against the truth.

    A temperature ``T`` (``q ∝ P^{1/T}``, :func:`sgdllm.calibration.fit_temperature`) and a
    mixture weight ``w`` (``q = w P + (1 - w) S`` with a smoother ``S``,
    :func:`sgdllm.calibration.fit_mixture_weight`) are fitted by maximum likelihood of the
    observed next states ``fit_next`` under ``fit_laws`` (and ``fit_smoother``), never on the
    truth; the repaired ``laws`` (with ``smoother``) are then compared with ``true_rows``.
    Chapter: *Extracting transition probabilities*.

    Parameters
    ----------
    fit_laws, fit_smoother : ndarray, shape (F, K)
        The model's and the smoother's laws on the rows the repairs are fitted on.
    fit_next : ndarray of int, shape (F,)
        The state that followed each of those rows.
    laws, smoother : ndarray, shape (T, K)
        The laws repaired and scored.
    true_rows : ndarray, shape (T, K)

    Returns
    -------
    dict
        ``temperature``, ``under_bd_tempered`` (mean Bhattacharyya distance of the tempered
        laws), ``mix_weight`` and ``under_bd_mixed``.
    """
    t_hat = fit_temperature(fit_laws, fit_next)
    w_hat = fit_mixture_weight(fit_laws, fit_smoother, fit_next)
    return {
        "temperature": t_hat,
        "under_bd_tempered": float(bhattacharyya(true_rows, temper_laws(laws, t_hat)).mean()),
        "mix_weight": w_hat,
        "under_bd_mixed": float(bhattacharyya(true_rows, mix_laws(laws, smoother, w_hat)).mean()),
    }


def repair_verdict(
    title: str,
    stats: Mapping[str, float],
    repaired: Mapping[str, float],
    cv_bd: float,
    truth_spread: float,
) -> str:
    """One sentence on a model's laws and their repairs, from its numbers (no number typed).

    ``stats`` are its :func:`histogram_statistics`, ``repaired`` its :func:`fit_repairs`,
    ``cv_bd`` cross-validated smoothing's Bhattacharyya distance on the same rows and
    ``truth_spread`` the true rows' spread. Chapter: *Extracting transition probabilities*.
    """
    d, r = stats, repaired
    moves = {True: "lower", False: "higher"}
    return (
        f"{title}: Bhattacharyya {d['under_bd']:.3f} ({d['under_bd'] / cv_bd:.2f} "
        f"times cross-validated smoothing's), spread {d['under_spread']:.1f} states "
        f"(truth {truth_spread:.1f}), centred {d['under_mean_error']:.1f} "
        f"states from the true mean; at the fitted temperature {r['temperature']:.2f} "
        f"({'flatter' if r['temperature'] > 1 else 'sharper'}), {r['under_bd_tempered']:.3f} "
        f"({moves[r['under_bd_tempered'] < d['under_bd']]}); mixed with the smoother "
        f"(weight {r['mix_weight']:.2f} on the model), {r['under_bd_mixed']:.3f} "
        f"({moves[r['under_bd_mixed'] < d['under_bd']]})."
    )
