"""The reader's tunable numbers, in one documented object.

The scoring coefficients are *learned*: ``evals/tools/fit_reader.py`` fits a linear ranking over
the scoring stage's features on the development sets (which candidate units hold a key fact or
the answer span), calibrates it to a probability, and writes ``reader_weights.json`` next to this
file; the thresholds below are calibrated by the same script on answerable against unanswerable
development questions. Nothing here names a document or a corpus.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, Field

WEIGHTS_FILE = Path(__file__).with_name("reader_weights.json")


class ReaderWeights(BaseModel):
    """Every number the extractive reader uses to score, select and decide answerability."""

    coefficients: dict[str, float] = Field(
        default_factory=dict,
        description="Coefficients per scoring feature (assistant.answer.scoring.FEATURES), fitted to "
        "rank by evals/tools/fit_reader.py and calibrated as a logistic model. A missing feature weighs 0.",
    )
    intercept: float = Field(0.0, description="Logistic intercept of the scoring model.")
    answerability: dict[str, float] = Field(
        default_factory=dict,
        description="Logistic coefficients of the answerability model per feature "
        "(assistant.answer.answerability.ANSWERABILITY_FEATURES); fitted by evals/tools/fit_reader.py.",
    )
    answerability_intercept: float = Field(0.0, description="Intercept of the answerability model.")
    embedded: int = Field(
        48,
        ge=4,
        le=400,
        description="Candidate units embedded per answer: those of the two best passages, then the "
        "best by the cheap (lexical and rank) features. The cost of a cold answer.",
    )
    full_passages: int = Field(2, ge=0, le=20, description="Best passages whose every unit is embedded.")
    support: float = Field(
        0.5,
        ge=0.0,
        le=1.0,
        description="Answerability: an aspect is supported when the answerability model's probability "
        "reaches this (and some unit holds the asked kind); calibrated on development sets (refusals of "
        "unanswerable questions against false refusals of answerable ones).",
    )
    follow_on_support: float = Field(
        0.2,
        ge=0.0,
        le=1.0,
        description="The support threshold of a clause that follows a supported one and leans on it "
        "(refers back, or has two terms of its own at most): it has little of its own to match.",
    )
    extra_floor: float = Field(
        0.5, ge=0.0, le=1.0, description="... and at least this scoring probability in any case."
    )
    extra: float = Field(
        0.6,
        ge=0.0,
        le=1.0,
        description="A further unit joins the answer when its scoring probability is at least this share "
        "of the aspect's best unit's.",
    )
    redundancy: float = Field(
        0.85, ge=0.0, le=1.0, description="Cosine above which a unit repeats one already chosen."
    )
    sibling: float = Field(
        0.6,
        ge=0.0,
        le=1.01,
        description="A further unit that says what the aspect's best unit says (this share, Jaccard, of "
        "their content terms once names and figures are removed) about a subject the question does not "
        "name answers nothing asked, and is left out (1.01: never).",
    )
    named_row: float = Field(
        0.5,
        ge=0.0,
        le=1.01,
        description="A table row (label — column: value) whose label holds a name the aspect names leads "
        "instead of a best unit that is no such row, when its scoring probability is at least this share "
        "of that unit's: the row is about what is asked, a sentence may name it in passing (1.01: never).",
    )
    max_units: int = Field(4, ge=1, le=20, description="Units in an answer at most.")
    max_words: int = Field(110, ge=10, le=1000, description="Words in an answer at most (units are whole).")
    list_words: int = Field(
        160, ge=10, le=1000, description="Words allowed when the question asks for a list."
    )

    @classmethod
    def load(cls, path: Path | None = None) -> ReaderWeights:
        """The fitted weights (``reader_weights.json``), or the defaults when it is absent."""
        return _load(str(path or WEIGHTS_FILE))


@lru_cache(maxsize=4)
def _load(path: str) -> ReaderWeights:
    p = Path(path)
    if not p.exists():
        return ReaderWeights()
    return ReaderWeights.model_validate(json.loads(p.read_text(encoding="utf-8")))
