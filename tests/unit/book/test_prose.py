"""sgdllm.book.prose: numbers, lists and booleans as a sentence writes them."""

from __future__ import annotations

import numpy as np
import pytest

from sgdllm.book.prose import number, prose, scientific, verdict, words, yes_no


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.21934, "0.219"),
        (0.5, "0.5"),
        (2.0, "2"),
        (-0.0316, "-0.0316"),
        (1234567, "1,234,567"),
        (2024, "2024"),
        (123456.7, "123,000"),
        (4.634070904785403e-13, "4.63 × 10⁻¹³"),
        (3.2e7, "3.2 × 10⁷"),
        (0.0, "0"),
        (np.float32(0.125), "0.125"),
        (np.int64(20000), "20,000"),
    ],
)
def test_number_reads_as_a_person_writes_it(value, text):
    assert number(value) == text


def test_number_digits_and_refusals():
    assert number(0.21934, digits=2) == "0.22"
    assert scientific(6.7e-12) == "6.7 × 10⁻¹²" and scientific(1e7) == "1 × 10⁷"
    with pytest.raises(TypeError, match="yes_no"):
        number(True)
    with pytest.raises(ValueError, match="finite"):
        number(float("nan"))
    with pytest.raises(ValueError, match="digits"):
        number(1.5, digits=0)


def test_words_join_items_as_a_sentence():
    assert words([10, 30, 100, 300]) == "10, 30, 100 and 300"
    assert words(["SGD", "Adam"], "or") == "SGD or Adam"
    assert words([0.2236]) == "0.224"
    assert words([]) == "none"
    assert words([[1, 2], [3, 4]]) == "(1, 2) and (3, 4)"
    assert words(np.array([0.5, 0.25, 0.125])) == "0.5, 0.25 and 0.125"


def test_yes_no_and_prose():
    assert yes_no(True) == "yes" and yes_no(np.bool_(False)) == "no"
    with pytest.raises(TypeError, match="boolean"):
        yes_no(1)
    assert prose(True) == "yes" and prose("as early as") == "as early as"
    assert prose([True, False]) == "yes and no"
    with pytest.raises(TypeError, match="dict"):
        prose({"a": 1})


def test_verdict_groups_the_estimators_by_how_far_a_claim_holds():
    titles = {"a": "A", "b": "B", "c": "C", "d": "D"}
    at_least = {"holds": lambda v: v >= 0.95, "partly": lambda v: v >= 0.5}
    text = verdict({"a": 0.99, "b": 0.7, "c": 0.1, "d": 0.96}, titles, **at_least)
    assert text == "holds for A, D; partly holds for B; does not hold for C"
    assert verdict({"c": 0.1}, titles, **at_least) == "does not hold for C"
    at_most = {"holds": lambda v: v <= 0.1, "partly": lambda v: v <= 0.5}
    assert verdict({"a": 0.3, "b": 0.05}, titles, **at_most) == "holds for B; partly holds for A"
