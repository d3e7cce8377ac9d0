"""Reading the claims table back as a reader would, to recompute its verdicts.

:func:`check_table` takes the table's header and rows (from the Markdown that
``sgdllm.book.claims.claims_markdown`` writes, or from the built HTML), reads each number shown and
the rule written beside it, and recomputes every verdict, independently of ``sgdllm.book.claims``.
"""

from __future__ import annotations

import math
import re

from sgdllm.book.claims import FAILS, HOLDS, PARTLY

NUMBER = r"[\u2212-]?\d+(?:\.\d+)?"


def _number(text: str) -> float:
    return float(text.replace("\u2212", "-"))


def parse_rule(text: str) -> tuple[str, float, float]:
    """``(kind, holds, partly)`` from a rule as the table states it."""
    if m := re.search(
        rf"holds at ({NUMBER})(%|×)? or (more|less), partly at ({NUMBER})(?:%|×)? or (?:more|less)",
        text,
    ):
        scale = 0.01 if m[2] == "%" else 1.0
        kind = "at_least" if m[3] == "more" else "at_most"
        return kind, _number(m[1]) * scale, _number(m[4]) * scale
    if m := re.search(
        rf"holds within a factor ({NUMBER})× either way, partly within ({NUMBER})×", text
    ):
        return "within_factor", _number(m[1]), _number(m[2])
    if "holds for all, partly for some" in text:
        return "all_of", math.nan, math.nan
    raise AssertionError(f"no rule stated in {text!r}")


def parse_value(text: str) -> float | tuple[int, int]:
    """The first shown value of a test: ``78%``, ``3.8×``, ``−0.57`` or ``2 of 3``."""
    text = text.strip()
    if m := re.match(r"(\d+) of (\d+)", text):
        return int(m[1]), int(m[2])
    m = re.match(rf"({NUMBER})(%|×)?", text)
    assert m, f"no number at the start of {text!r}"
    return _number(m[1]) * (0.01 if m[2] == "%" else 1.0)


def recompute(rule: tuple[str, float, float], value: float | tuple[int, int]) -> str:
    """A test's verdict from the stated rule and the shown value, written out independently."""
    kind, h, p = rule
    if kind == "all_of":
        k, n = value
        return HOLDS if k == n else PARTLY if k else FAILS
    eps = 1e-9  # the shown values are decimals: 0.29 is 0.29, not 0.28999999999999998
    if kind == "at_least":
        return HOLDS if value >= h - eps else PARTLY if value >= p - eps else FAILS
    if kind == "at_most":
        return HOLDS if value <= h + eps else PARTLY if value <= p + eps else FAILS
    factor = math.inf if value <= 0 else max(value, 1 / value)
    return HOLDS if factor <= h + eps else PARTLY if factor <= p + eps else FAILS


def split_tests(text: str, n: int) -> list[str]:
    """A cell or rule text of a claim with ``n`` tests, split at its ``(a)``, ``(b)`` marks."""
    text = text.replace("<br>", " ")
    if n == 1:
        return [text]
    parts = re.split(r"\(([a-z])\) ", text)[1:]
    assert [parts[i] for i in range(0, len(parts), 2)] == [chr(97 + i) for i in range(n)], text
    return [parts[i].strip().rstrip(";").rstrip(".") for i in range(1, len(parts), 2)]


def combine(verdicts: list[str]) -> str:
    return HOLDS if set(verdicts) == {HOLDS} else FAILS if set(verdicts) == {FAILS} else PARTLY


def table_rows(markdown: str) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the Markdown table (cells with ``\\|`` unescaped)."""
    lines = [x for x in markdown.splitlines() if x.startswith("| ")]
    cells = [
        [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", x)[1:-1]] for x in lines
    ]
    assert set(cells[1]) == {"---"}
    return cells[0], cells[2:]


def check_table(header: list[str], rows: list[list[str]]) -> list[str]:
    """Disagreements between the verdicts shown and those recomputed from the numbers shown
    with the rules stated in the table (empty: none)."""
    problems = []
    assert header[:2] == ["claim", "test and rule"] and header[-1] == "shown in"
    for row in rows:
        rule_cells = row[1]
        for title, cell in zip(header[2:-1], row[2:-1], strict=True):
            if cell == "not measured":
                continue
            m = re.match(rf"\*\*({HOLDS}|{PARTLY}|{FAILS})\*\*: (.*)$", cell)
            if not m:
                problems.append(f"{row[0]} / {title}: no verdict in {cell!r}")
                continue
            n = max(1, len(re.findall(r"\([a-z]\) ", rule_cells)))
            rules = [parse_rule(r) for r in split_tests(rule_cells, n)]
            verdicts = []
            for rule, shown in zip(rules, split_tests(m[2], n), strict=True):
                if shown.startswith("not measured"):
                    continue
                verdicts.append(recompute(rule, parse_value(shown)))
            if combine(verdicts) != m[1]:
                problems.append(f"{row[0]} / {title}: shows {m[1]!r}, numbers give {verdicts}")
    return problems
