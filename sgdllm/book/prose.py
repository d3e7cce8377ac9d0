"""Prose: numbers, lists and booleans written for people, not as Python prints them.

A chapter cites its numbers in sentences through myst-nb's ``{glue:text}`` role
(:class:`sgdllm.book.records.Recorder` glues every recorded number). Python's own text for a value
reads badly in a sentence: ``[0.2193, 0.1602, 0.1154]``, ``True``, ``4.634070904785403e-13``.
This module gives the words a reader expects: "0.219, 0.16 and 0.115", "yes", "4.6 × 10⁻¹³".

:func:`prose` is what the recorder glues for a value; :func:`number`, :func:`words`,
:func:`yes_no` and :func:`scientific` are its parts, for a chapter that composes a sentence
itself. Formatting never changes a recorded number: the records keep the exact values, which the
claims tests read.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

__all__ = ["number", "prose", "scientific", "verdict", "words", "yes_no"]

_SUPERSCRIPT = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")


def scientific(x: float, digits: int = 2) -> str:
    """``x`` as ``m × 10ᵉ`` with ``digits`` significant digits: ``4.6 × 10⁻¹³``.

    Parameters
    ----------
    x : float
        A finite number.
    digits : int
        Significant digits of the mantissa, at least 1.
    """
    _check_digits(digits)
    x = _finite(x)
    if x == 0:
        return "0"
    mantissa, exponent = f"{x:.{digits - 1}e}".split("e")
    if "." in mantissa:
        mantissa = mantissa.rstrip("0").rstrip(".")
    return f"{mantissa} × 10{str(int(exponent)).translate(_SUPERSCRIPT)}"


def number(x: float, digits: int = 3) -> str:
    """A number as a sentence shows it: ``digits`` significant digits, no trailing zeros.

    Integers are written in full, with a thousands separator from 10,000 on (so years and seeds
    stay as they are); floats get ``digits`` significant digits, in positional notation between
    10⁻⁴ and 10⁶ and as :func:`scientific` outside. Integral floats of that size are written as
    integers (``2.0`` -> ``2``).

    Parameters
    ----------
    x : int or float
        A finite number (booleans are refused: use :func:`yes_no`).
    digits : int
        Significant digits for non-integers, at least 1.

    Examples
    --------
    >>> number(0.21934), number(1234567), number(4.634e-13), number(2.0)
    ('0.219', '1,234,567', '4.63 × 10⁻¹³', '2')
    >>> scientific(4.6e-13), scientific(1e7)
    ('4.6 × 10⁻¹³', '1 × 10⁷')
    """
    _check_digits(digits)
    if isinstance(x, (bool, np.bool_)):
        raise TypeError("number() got a boolean: write it with yes_no() or in words")
    if isinstance(x, (int, np.integer)):
        x = int(x)
        return f"{x:,}" if abs(x) >= 10_000 else str(x)
    x = _finite(x)
    if x == 0:
        return "0"
    if abs(x) < 1e-4 or abs(x) >= 1e6:
        return scientific(x, digits)
    if x == int(x) and abs(x) >= 10 ** (digits - 1):
        return number(int(x))
    text = f"{x:.{digits}g}"
    if "e" in text:  # e.g. 123456.0 with 3 digits: positional, rounded to `digits` places
        text = f"{round(x, digits - 1 - math.floor(math.log10(abs(x)))):.0f}"
        return number(int(text))
    return text


def words(items: Iterable[Any], conjunction: str = "and", digits: int = 3) -> str:
    """Items joined as a sentence lists them: ``"a"``, ``"a and b"``, ``"a, b and c"``.

    Each item is written with :func:`prose`; an item that is itself a list is written in
    parentheses, ``"(1, 2) and (3, 4)"``.

    Parameters
    ----------
    items : iterable
        The items (numbers, strings, booleans or lists of them).
    conjunction : str
        The word before the last item, "and" or "or".
    digits : int
        Significant digits of the numbers.

    Examples
    --------
    >>> words([10, 30, 100]), words(["SGD", "Adam"], "or")
    ('10, 30 and 100', 'SGD or Adam')
    """
    parts = [
        f"({', '.join(prose(v, digits) for v in item)})"
        if isinstance(item, (list, tuple))
        else prose(item, digits)
        for item in items
    ]
    if not parts:
        return "none"
    if len(parts) == 1:
        return parts[0]
    return f"{', '.join(parts[:-1])} {conjunction} {parts[-1]}"


def verdict(
    values: Mapping[str, Any],
    titles: Mapping[str, str],
    holds: Callable[[Any], bool],
    partly: Callable[[Any], bool],
) -> str:
    """Which estimators a claim holds for, in words.

    Each estimator goes to "holds for" where ``holds(value)``, else to "partly holds for" where
    ``partly(value)``, else to "does not hold for"; the groups that have one are written in that
    order, "; "-separated, each with its estimators' titles in the order of ``values``.

    Parameters
    ----------
    values : dict of str to value
        ``{estimator: the number the claim is read on}``.
    titles : dict of str to str
        Each estimator's name in the text.
    holds, partly : callable
        Tests of a value (``partly`` is asked only where ``holds`` fails).

    Examples
    --------
    >>> verdict({"a": 0.99, "b": 0.7, "c": 0.1}, {"a": "A", "b": "B", "c": "C"},
    ...         holds=lambda v: v >= 0.95, partly=lambda v: v >= 0.5)
    'holds for A; partly holds for B; does not hold for C'
    """
    groups: dict[str, list[str]] = {
        "holds for": [],
        "partly holds for": [],
        "does not hold for": [],
    }
    for key, value in values.items():
        group = (
            "holds for"
            if holds(value)
            else "partly holds for"
            if partly(value)
            else "does not hold for"
        )
        groups[group].append(titles[key])
    return "; ".join(f"{g} {', '.join(names)}" for g, names in groups.items() if names)


def yes_no(flag: bool) -> str:
    """``"yes"`` or ``"no"``; refuses anything but a boolean (numpy's included)."""
    if not isinstance(flag, (bool, np.bool_)):
        raise TypeError(f"yes_no() takes a boolean, got {type(flag).__name__} {flag!r}")
    return "yes" if flag else "no"


def prose(value: Any, digits: int = 3) -> str:
    """Any recorded value as words: booleans -> :func:`yes_no`, numbers -> :func:`number`,
    lists -> :func:`words`, strings as they are."""
    if isinstance(value, (bool, np.bool_)):
        return yes_no(bool(value))
    if isinstance(value, str):
        return value
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return words(value, digits=digits)
    if isinstance(value, (int, float)):
        return number(value, digits)
    raise TypeError(f"prose() cannot write a {type(value).__name__} ({value!r}) in words")


def _finite(x: Any) -> float:
    x = float(x)
    if not math.isfinite(x):
        raise ValueError(f"{x} is not a finite number: a chapter must not write NaN or inf")
    return x


def _check_digits(digits: int) -> None:
    if not isinstance(digits, int) or isinstance(digits, bool) or digits < 1:
        raise ValueError(f"digits must be an integer >= 1, got {digits!r}")
