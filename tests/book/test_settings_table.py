"""The book's settings table (``sgdllm.book.site.settings_markdown``) read from the chapters
themselves: each chapter's declared defaults, in words.

It reads every chapter's notebook with jupytext; the rest of ``sgdllm.book.site`` is tested in
``tests/unit/book/test_site.py``.
"""

from tests.conftest import ROOT


def test_settings_table_reads_each_chapters_declared_defaults():
    from sgdllm.book.executor import declared_parameters
    from sgdllm.book.site import settings_markdown

    text = settings_markdown(ROOT, ["digits", "models"])
    rows = {
        line.split("`")[1].rsplit("/", 1)[-1]: [c.strip() for c in line.split("|")[2:-1]]
        for line in text.splitlines()[2:]
    }
    digits = declared_parameters(ROOT / "notebooks" / "extracting_transitions.md")["digits"]
    assert rows["extracting_transitions"][0] == str(digits)
    assert "SmolLM2-135M" in rows["extracting_transitions"][1]
    assert "[" not in text and "'" not in text, "values in words, not Python"
    assert "reproducibility" not in rows, "a chapter without these parameters is left out"
    assert text.splitlines()[0] == "| chapter | digits | models |"
