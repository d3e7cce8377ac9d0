"""The claims table (``sgdllm.book.claims``) on synthetic records: rules, verdicts, record keys.

:func:`check_table` reads the Markdown table back as a reader would (the numbers shown, the
rule written in the column beside them) and recomputes every verdict; the tests below check
that it agrees with the table on every verdict the rules can reach, and that it catches a
verdict that disagrees with its numbers. ``tests/chapters/test_claims_table.py`` runs the same
check on the records of the chapters executed with the CI profile, and on the built HTML;
``tests/book/test_claims_directive.py`` builds the table in a small book.
"""

from __future__ import annotations

import copy
import math
import re

import pytest

from sgdllm.book import claims
from sgdllm.book.claims import CLAIMS, COUNTS, EMBEDDED, FAILS, HOLDS, PARTLY, Rule
from tests.claims_check import check_table, parse_rule, recompute, table_rows

# ----------------------------------------------------------------------------- synthetic records

#: One value of each test input for an estimator whose every test holds, holds partly, or not.
LEVELS = {
    HOLDS: dict(
        top=0.95,
        spread=4.2,
        ot=0.8,
        alpha=[-0.5, -0.3, -0.1],
        near=0.99,
        std=1.1,
        neither=0.02,
        tv=0.05,
        over_stay=0.2,
        self_std=1.5,
    ),
    PARTLY: dict(
        top=0.7,
        spread=6.0,
        ot=0.95,
        alpha=[-0.15, -0.1, 0.0],
        near=0.7,
        std=1.6,
        neither=0.3,
        tv=0.3,
        over_stay=0.8,
        self_std=3.0,
    ),
    FAILS: dict(
        top=0.3,
        spread=12.0,
        ot=1.5,
        alpha=[0.1, 0.05, 0.0],
        near=0.2,
        std=4.0,
        neither=0.8,
        tv=0.8,
        over_stay=2.0,
        self_std=6.0,
    ),
}
#: Cost ratios (simulating over predicting) by data size, and on the coarse grid.
COST = {
    HOLDS: ([0.5, 2.0, 3.0], 6.0),
    PARTLY: ([0.1, 0.3, 0.7], 0.7),
    FAILS: ([0.01, 0.1, 0.2], 0.2),
}
STARTS = ("restart", "checkpoint", "fresh")


def estimator_numbers(level: str, e: str) -> dict[str, dict]:
    """Legacy keys of estimator ``e`` ("lm" or "counts") at ``level``, chapter by chapter."""
    v = LEVELS[level]
    table = [[0.5 - v["neither"] / 2, 0.5 - v["neither"] / 2, v["neither"]]] * 4
    over_under = {"over_top_mass": v["top"], "under_spread": v["spread"]} if e == "lm" else {}
    return {
        "extracting_transitions": over_under,
        "imputation": {
            f"row_w1_{e}_ot": v["ot"],
            f"row_w1_{e}_nearest": 1.0,
            f"row_w1_{e}_mixture": 1.2,
        },
        "scaling_laws": {"alpha_model" if e == "lm" else "alpha_cv": v["alpha"]},
        "predicting_sgd": {
            f"convex_near_fraction_{e}": v["near"],
            f"convex_std_ratio_{e}": v["std"],
            f"tb_{e}_table": table,
            f"tb_tv_{e}_mean": v["tv"],
        },
        "self_prediction": {
            **{f"{w}_w1_{e}": [30.0, 10.0 * v["over_stay"]] for w in STARTS},
            **{f"{w}_std_ratio_{e}": v["self_std"] for w in STARTS},
        },
    }


def synthetic_records(
    lm: str = PARTLY, counts: str = HOLDS, cost: str = HOLDS, model: str | None = None
) -> dict[str, dict]:
    """Records of every chapter the claims read, with legacy keys at the given levels."""
    shared = {
        "extracting_transitions": {"under_truth_spread": 4.0},
        "imputation": {},
        "scaling_laws": {"alpha_poster": [-0.48, -0.26, -0.09]},
        "predicting_sgd": {},
        "side_by_side": {
            "flop_ratio_by_size": COST[cost][0],
            "time_ratio_by_size": COST[cost][0],
            "cost_sizes_used": [10, 100, 1000],
            "cost_states_used": 1000,
            "time_ratio_coarse_grid": COST[cost][1],
            "coarse_states": 100,
            "net_time_ratio_coarse": COST[cost][0],
            "net_params_used": [1633, 11901, 105861],
            "net_states_coarse": 100,
            "cost_starts_used": 4,
            # the reading's cost is per estimator: the chapter's model and the counts
            f"net_read_ratio@{claims.model_label(model)}": COST[cost][1],
            "net_read_ratio@counts": COST[cost][1],
        },
        "self_prediction": {f"{w}_w1_stay": [5.0, 10.0] for w in STARTS},
    }
    records = {}
    for chapter, numbers in shared.items():
        numbers = dict(numbers)
        numbers.update(estimator_numbers(lm, "lm").get(chapter, {}))
        numbers.update(estimator_numbers(counts, "counts").get(chapter, {}))
        records[chapter] = {
            "chapter": chapter,
            "profile": "ci",
            "git_commit": "0123456789abcdef",
            "parameters": {"model": model} if model else {},
            "numbers": numbers,
        }
    return records


# ----------------------------------------------------------------------------- rules


@pytest.mark.parametrize(
    ("rule", "value", "expected"),
    [
        (Rule("at_least", 0.9, 0.5), 0.9, HOLDS),
        (Rule("at_least", 0.9, 0.5), 0.89, PARTLY),
        (Rule("at_least", 0.9, 0.5), 0.5, PARTLY),
        (Rule("at_least", 0.9, 0.5), 0.49, FAILS),
        (Rule("at_most", 0.1, 0.5), 0.1, HOLDS),
        (Rule("at_most", 0.1, 0.5), 0.3, PARTLY),
        (Rule("at_most", 0.1, 0.5), 0.51, FAILS),
        (Rule("at_most", -0.2, -0.1), -0.39, HOLDS),
        (Rule("at_most", -0.2, -0.1), -0.15, PARTLY),
        (Rule("at_most", -0.2, -0.1), -0.01, FAILS),
        (Rule("within_factor", 1.25, 2.0), 1.2, HOLDS),
        (Rule("within_factor", 1.25, 2.0), 0.8, HOLDS),
        (Rule("within_factor", 1.25, 2.0), 0.6, PARTLY),
        (Rule("within_factor", 1.25, 2.0), 2.0, PARTLY),
        (Rule("within_factor", 1.25, 2.0), 3.8, FAILS),
        (Rule("within_factor", 1.25, 2.0), 0.0, FAILS),
        (Rule("all_of"), (3, 3), HOLDS),
        (Rule("all_of"), (1, 3), PARTLY),
        (Rule("all_of"), (0, 3), FAILS),
    ],
)
def test_rule_reaches_every_verdict(rule, value, expected):
    assert rule.verdict(value) == expected
    # the rule as the table states it, read back, gives the same verdict
    unit = "%" if rule.kind == "at_least" else ""
    assert recompute(parse_rule(rule.text(unit)), value) == expected


def test_rule_refuses_thresholds_in_the_wrong_order():
    with pytest.raises(ValueError, match="at least as demanding"):
        Rule("at_least", 0.5, 0.9)
    with pytest.raises(ValueError, match="at least as demanding"):
        Rule("at_most", 0.5, 0.1)
    with pytest.raises(ValueError, match="at least as demanding"):
        Rule("within_factor", 0.8, 2.0)
    with pytest.raises(ValueError, match="finite"):
        Rule("at_most", math.nan, 1.0)
    with pytest.raises(ValueError, match="k of n"):
        Rule("all_of").verdict((4, 3))


def test_combined_verdict():
    assert claims.combine_verdicts([HOLDS, HOLDS]) == HOLDS
    assert claims.combine_verdicts([FAILS, FAILS]) == FAILS
    assert claims.combine_verdicts([HOLDS, FAILS]) == PARTLY
    assert claims.combine_verdicts([PARTLY]) == PARTLY
    assert claims.combine_verdicts([]) is None
    with pytest.raises(ValueError, match="unknown verdict"):
        claims.combine_verdicts(["maybe"])


def test_values_read_for_people():
    assert claims.format_value(0.7843, "%") == "78%"
    assert claims.format_value(0.29, "%") == "29%"
    assert claims.format_value(3.842, "×") == "3.8×"
    assert claims.format_value(0.9612, "×") == "0.96×"
    assert claims.format_value(123.4, "×") == "120×"
    # far from 1, still digits a reader (and claims_check) reads, never "4.8e-06"
    assert claims.format_value(4.83e-6, "×") == "0.0000048×"
    assert claims.format_value(1.53e6, "×") == "1500000×"
    assert claims.format_value(-0.5712, "") == "\u22120.57"
    assert claims.format_value((2, 3), "of") == "2 of 3"
    # the verdict is read from the shown value: 0.949 shows as 95% and holds at 95%
    assert claims.shown_value(0.949, "%") == 0.95
    assert Rule("at_least", 0.95, 0.5).verdict(claims.shown_value(0.949, "%")) == HOLDS
    with pytest.raises(ValueError, match="finite"):
        claims.shown_value(math.nan, "%")
    assert Rule("at_least", 0.9, 0.5).text("%") == "holds at 90% or more, partly at 50% or more"
    assert Rule("within_factor", 1.25, 2).text("×") == (
        "holds within a factor 1.25× either way, partly within 2×"
    )


# ----------------------------------------------------------------------------- verdicts


@pytest.mark.parametrize("level", [HOLDS, PARTLY, FAILS])
def test_every_claim_reaches_every_verdict(level):
    _, rows = claims.evaluate_claims(synthetic_records(lm=level, counts=level, cost=level))
    assert len(rows) == len(CLAIMS) == 8
    for row in rows:
        assert row.cells[EMBEDDED].verdict == level, row.claim.key
        # the claim on the embedded model's records only has no counted number
        expected = None if row.claim.key == "over_under" else level
        assert row.cells[COUNTS].verdict == expected, row.claim.key


def test_mixed_tests_give_partly():
    records = synthetic_records(lm=HOLDS)
    records["predicting_sgd"]["numbers"]["convex_std_ratio_lm"] = 5.0  # one test fails
    _, rows = claims.evaluate_claims(records)
    convex = next(r for r in rows if r.claim.key == "convex")
    assert convex.cells[EMBEDDED].test_verdicts == (HOLDS, FAILS)
    assert convex.cells[EMBEDDED].verdict == PARTLY


@pytest.mark.parametrize("level", [HOLDS, PARTLY, FAILS])
def test_verdicts_shown_agree_with_the_numbers_shown(level):
    text = claims.claims_markdown(synthetic_records(lm=level, counts=HOLDS, cost=level))
    header, rows = table_rows(text)
    assert header == ["claim", "test and rule", "embedded model", "counts", "shown in"]
    assert len(rows) == len(CLAIMS)
    assert check_table(header, rows) == []
    verdicts = [re.match(r"\*\*(.*?)\*\*", row[2])[1] for row in rows]
    assert verdicts == [level] * len(CLAIMS)


def test_check_catches_a_verdict_that_disagrees_with_its_numbers():
    header, rows = table_rows(claims.claims_markdown(synthetic_records(lm=HOLDS)))
    assert check_table(header, rows) == []
    convex = next(i for i, r in enumerate(rows) if r[0].startswith("Convex"))
    for wrong in (
        rows[convex][2].replace("99%", "60%"),  # a number changed under its verdict
        rows[convex][2].replace(f"**{HOLDS}**", f"**{PARTLY}**"),  # a verdict changed
    ):
        tampered = copy.deepcopy(rows)
        tampered[convex][2] = wrong
        assert len(check_table(header, tampered)) == 1
    # a rule changed beside its numbers: the mass near the minimum must now be 100%
    tampered = copy.deepcopy(rows)
    tampered[convex][1] = tampered[convex][1].replace("holds at 95%", "holds at 100%")
    assert check_table(header, tampered) != []


def test_table_is_numbered_captioned_and_links_each_section():
    text = claims.claims_markdown(synthetic_records())
    assert ":::{table} The claims of the paper's poster and abstract" in text
    assert ":name: tbl-claims" in text and "profile ci" in text and "commit 0123456" in text
    for claim in CLAIMS:
        assert f"{{ref}}`{claim.link_text} <{claim.label}>`" in text
    # no Python lists, booleans or None reach the reader
    for leak in ("[", "True", "False", "None", "nan"):
        assert leak not in text, leak
    assert "For the embedded model, " in text and "For the counts, " in text


def test_summary_counts_the_verdicts_in_words():
    records = synthetic_records(lm=PARTLY)
    records["predicting_sgd"]["numbers"]["convex_near_fraction_lm"] = 0.99
    records["predicting_sgd"]["numbers"]["convex_std_ratio_lm"] = 1.0
    estimators, rows = claims.evaluate_claims(records)
    text = claims.summary_sentence(estimators, rows)
    # the cost claim is shared (holds); convex now holds; the other six hold partly
    assert "For the embedded model, two claims hold and six claims hold partly." in text
    assert "For the counts, seven claims hold and one claim is not measured." in text


# ----------------------------------------------------------------------------- record keys


def test_numbers_per_model_add_a_column():
    records = synthetic_records(lm=PARTLY)
    numbers = records["predicting_sgd"]["numbers"]
    numbers["convex_near_fraction@smollm2-135m"] = 0.24
    numbers["convex_std_ratio@smollm2-135m"] = 5.5
    numbers["convex_near_fraction@embedded"] = 0.99  # the new key wins over the legacy one
    estimators, rows = claims.evaluate_claims(records)
    assert estimators == [EMBEDDED, "smollm2-135m", COUNTS]
    convex = next(r for r in rows if r.claim.key == "convex")
    assert convex.cells["smollm2-135m"].values == (0.24, 5.5)
    assert convex.cells["smollm2-135m"].verdict == FAILS
    assert convex.cells[EMBEDDED].values[0] == 0.99
    # a model measured on one claim only: the others are "not measured", the shared cost is not
    others = {r.claim.key: r.cells["smollm2-135m"].verdict for r in rows}
    assert others["cost"] == HOLDS and others["scaling_law"] is None
    header, table = table_rows(claims.claims_markdown(records))
    assert header[2:5] == ["embedded model", "SmolLM2-135M", "counts"]
    assert check_table(header, table) == []


def test_legacy_numbers_belong_to_the_chapters_model():
    estimators, _ = claims.evaluate_claims(synthetic_records(model="/models/gemma-3-270m/"))
    assert estimators == ["gemma-3-270m", COUNTS]


def test_model_label():
    assert claims.model_label(None) == EMBEDDED
    assert claims.model_label("") == EMBEDDED
    assert claims.model_label("smollm2-135m") == "smollm2-135m"
    assert claims.model_label("Qwen/Qwen2.5-0.5B") == "Qwen/Qwen2.5-0.5B"
    assert claims.model_label("./models/my-model/") == "my-model"


def test_classical_estimators_recorded_by_a_chapter_are_not_columns():
    record = {
        "chapter": "scaling_laws",
        "parameters": {},
        "numbers": {"alpha@cv": [-1.0, -0.5, 0.0], "alpha@smollm2-135m": [-0.2, -0.3, -0.4]},
    }
    assert set(claims.estimator_inputs(record)) == {"smollm2-135m"}
    assert set(claims.CLASSICAL) >= {"cv", "laplace", "ar1"}


def test_order_estimators():
    assert claims.order_estimators({COUNTS, "b", EMBEDDED, "a"}) == [EMBEDDED, "a", "b", COUNTS]


def test_missing_records_are_named_before_anything_is_computed(tmp_path):
    (tmp_path / "imputation.json").write_text("{}")
    with pytest.raises(FileNotFoundError, match=r"extracting_transitions.*sgdllm book"):
        claims.load_claim_records(tmp_path)


def test_records_without_any_estimator_number_are_refused():
    records = synthetic_records()
    for r in records.values():
        r["numbers"] = {k: v for k, v in r["numbers"].items() if "lm" not in k}
        r["numbers"] = {k: v for k, v in r["numbers"].items() if "counts" not in k}
        r["numbers"] = {k: v for k, v in r["numbers"].items() if "@" not in k}
        r["numbers"].pop("alpha_model", None)
        r["numbers"].pop("alpha_cv", None)
        r["numbers"].pop("over_top_mass", None)
        r["numbers"].pop("under_spread", None)
    with pytest.raises(ValueError, match="no number for any estimator"):
        claims.claims_markdown(records)


def test_claim_chapters_in_order():
    assert claims.claim_chapters() == [
        "extracting_transitions",
        "imputation",
        "scaling_laws",
        "predicting_sgd",
        "side_by_side",
        "self_prediction",
    ]


def test_cost_claim_counts_the_reading_per_estimator():
    # Per prediction the network test holds; with the reading, a language model's ratio is
    # tiny (shown in digits, the verdict recomputed from them) while counting keeps it.
    records = synthetic_records(lm=HOLDS, cost=HOLDS)
    numbers = records["side_by_side"]["numbers"]
    numbers["net_read_ratio@embedded"] = 4.83e-6
    _, rows = claims.evaluate_claims(records)
    cost = next(r for r in rows if r.claim.key == "cost")
    assert cost.cells[EMBEDDED].test_verdicts == (HOLDS, HOLDS, HOLDS, HOLDS, FAILS)
    assert cost.cells[EMBEDDED].verdict == PARTLY
    assert cost.cells[COUNTS].verdict == HOLDS
    assert cost.cells[EMBEDDED].details[-1] == "4 starts, K = 100 states"
    assert cost.cells[EMBEDDED].details[-2] == "P = 105861 parameters, K = 100 states"
    header, table = table_rows(claims.claims_markdown(records))
    assert "0.0000048×" in next(r for r in table if r[0].startswith("Predicting"))[2]
    assert check_table(header, table) == []
