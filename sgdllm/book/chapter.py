"""One set-up call per chapter: its recorder, its model ladder, and the names and colours of
its estimators.

Every chapter that reads laws off language models starts the same way: check the ``models``
parameter, load each model once, open the chapter's :class:`~sgdllm.book.records.Recorder`, and
fix a title and a colour per estimator (the models, then the counted kernels) so that every
figure and table of the chapter names and draws them alike. :func:`setup_chapter` does it once::

    ch = setup_chapter("predicting_sgd", records_dir, models)
    record, lms = ch.record, ch.lms

Chapters without a language model call it with no ``models``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sgdllm.book.records import Recorder
from sgdllm.plotting.style import PALETTE

if TYPE_CHECKING:
    from sgdllm.lm.load import LanguageModel

__all__ = ["COUNTS", "Chapter", "setup_chapter"]

#: Name of the classical estimator (counted, smoothed transitions) beside the models.
COUNTS = "counts"


@dataclass(frozen=True)
class Chapter:
    """What a chapter's set-up gives its cells.

    Attributes
    ----------
    record : Recorder
        Records the chapter's numbers, tables and figures (:mod:`sgdllm.book.records`).
    models : list of str
        The checked model ids, in the order of the ``models`` parameter.
    lms : dict
        ``{model id: LanguageModel}``, loaded once, in that order (empty without models).
    sources : list of str
        Every estimator of the chapter's figures and tables: ``models``, then :data:`COUNTS`.
    titles : dict
        ``{source: short name}`` for legends, tables and prose ("SmolLM2-135M", "counts").
    colors : dict
        ``{source: colour}`` from the colour-blind-safe palette, one per source.
    """

    record: Recorder
    models: list[str] = field(default_factory=list)
    lms: dict[str, LanguageModel] = field(default_factory=dict)
    sources: list[str] = field(default_factory=list)
    titles: dict[str, str] = field(default_factory=dict)
    colors: dict[str, str] = field(default_factory=dict)

    @property
    def pretrained(self) -> list[str]:
        """The text-pretrained models of the ladder (every model but the embedded one)."""
        from sgdllm.lm.ladder import EMBEDDED

        return [m for m in self.models if m != EMBEDDED]


def setup_chapter(
    chapter: str,
    records_dir: str | os.PathLike[str],
    models: Sequence[str] | None = None,
    **load_options: Any,
) -> Chapter:
    """Open a chapter's recorder and load its model ladder, ids checked before any load.

    Parameters
    ----------
    chapter : str
        The chapter's name (its notebook's file stem), which names its records and figures.
    records_dir : str or path
        The chapter's ``records_dir`` parameter (set by ``sgdllm book``).
    models : sequence of str, optional
        The chapter's ``models`` parameter (:func:`sgdllm.lm.ladder.check_models`); ``None``
        for a chapter without a language model.
    **load_options
        Passed to every model load (:func:`sgdllm.lm.ladder.load_ladder`: ``dtype``,
        ``device``).

    Returns
    -------
    Chapter
    """
    ids: list[str] = []
    lms: dict[str, LanguageModel] = {}
    titles: dict[str, str] = {}
    if models is not None:
        from sgdllm.lm.ladder import check_models, load_ladder, model_title

        ids = check_models(models)
        if len(ids) + 1 > len(PALETTE):
            raise ValueError(
                f"{len(ids)} models and the counted kernels need {len(ids) + 1} colours; the "
                f"palette has {len(PALETTE)}: pass at most {len(PALETTE) - 1} models"
            )
        titles = {m: model_title(m) for m in ids}
    record = Recorder(chapter, records_dir)
    if ids:
        lms = load_ladder(ids, **load_options)
    sources = [*ids, COUNTS] if models is not None else []
    titles = titles | ({COUNTS: COUNTS} if models is not None else {})
    colors = dict(zip(sources, PALETTE, strict=False))
    return Chapter(record, ids, lms, sources, titles, colors)
