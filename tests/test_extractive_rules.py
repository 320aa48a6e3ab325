"""The extractive answerer's text rules, on their own (no model): what counts as a table header,
a heading, a signature block, a compound question, an answer type, a spelled-out acronym."""

from __future__ import annotations

import pytest

from assistant.answer.extractive import (
    _answer_type,
    _has_type,
    _is_header_row,
    _is_heading,
    _is_signature_block,
    question_parts,
    scoring_question,
)
from assistant.retrieval import expands_in


def test_a_sentence_mentioning_a_year_is_not_a_table_header() -> None:
    assert _is_header_row("2023 2024")
    assert _is_header_row("FY 2024 FY 2025")
    assert not _is_header_row("On the two-year anniversary of the 2023 visit, China convened a summit.")


def test_headings_are_not_answers() -> None:
    assert _is_heading("Sec. 3. Strategic Seabed Critical Mineral Access.", "Offshore minerals")
    assert _is_heading("Department of Energy Battery Supply Chain Awards Build on Four Years", "x", start=0)
    assert not _is_heading("The Secretary of Commerce shall initiate an investigation.", "x")


def test_signature_block() -> None:
    block = "For the Government of Japan:\n\nDonald J. Trump\n\nTakaichi Sanae\n\nPresident\n\nPrime Minister"
    assert _is_signature_block(block)
    assert not _is_signature_block("Takaichi Sanae and Donald J. Trump signed the framework in Tokyo.")


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("Who was ordered to investigate imports?", "name"),
        ("Which federal agency was delegated the powers?", "name"),
        ("On what date did President Biden sign the order?", "date"),
        ("Which dates were the frameworks signed on?", "date"),
        ("How much did the mines produce?", "number"),
        ("What was that output worth?", "number"),
        ("Why does processing matter?", None),
    ],
)
def test_answer_type(question: str, kind: str | None) -> None:
    assert _answer_type(question) == kind


def test_names_do_not_span_lines_and_common_names_do_not_count() -> None:
    q = "Who signed it?"
    assert _has_type("Donald J. Trump\nPresident", "name", q)
    assert not _has_type("The United States will act.", "name", q, frozenset({"the united states"}))


def test_compound_questions_split_into_parts() -> None:
    parts = question_parts("How much oxide did US mines turn out in 2024, and what was that output worth?")
    assert parts == ["How much oxide did US mines turn out in 2024", "what was that output worth"]
    assert question_parts("Who are Tom and Jerry?") == ["Who are Tom and Jerry?"]


def test_source_clause_is_not_scored() -> None:
    assert scoring_question("According to the USGS summary, how much was mined?") == "how much was mined?"


def test_acronyms_spelled_out_in_passages() -> None:
    text = "awarded $17.5 million through the Advanced Research\nProjects Agency-Energy program"
    assert expands_in("ARPA-E", [text])
    assert not expands_in("LKAB", [text])
    assert not expands_in("Kiruna", [text])  # not an acronym


def test_questions_that_span_documents() -> None:
    from assistant.answer.extractive import _SPANNING

    assert _SPANNING.search("Compare the Australia and Japan frameworks on stockpiling")
    assert _SPANNING.search("What do both frameworks say about recycling?")
    assert not _SPANNING.search("How did the neodymium oxide price change between 2022 and 2024?")
