"""The extractive answerer's text rules, on their own (no model): what counts as a table header,
a heading, a signature block, a compound question, an answer type, a spelled-out acronym."""

from __future__ import annotations

import pytest

from assistant.answer.extractive import (
    _ANAPHORA,
    _AUTHORED,
    _BYLINE,
    _answer_type,
    _date_bonus,
    _has_type,
    _is_dateline,
    _is_header_row,
    _is_heading,
    _is_signature_block,
    _is_table_row,
    _publisher_bonus,
    _terms,
    question_parts,
    scoring_question,
)
from assistant.retrieval import demonym_places, expands_in, phrase_in, proper_phrases
from assistant.types import Hit


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


def _hit(doc_id: str, date: str, title: str = "A title", publisher: str = "The White House") -> Hit:
    return Hit(
        rank=1, score=1.0, text="", doc_id=doc_id, title=title, publisher=publisher, url=None,
        date=date, page=None, chunk_id=doc_id, start_char=0, end_char=0,
    )  # fmt: skip


def test_terms_split_hyphenated_words_and_read_british_spellings() -> None:
    assert {"rare", "earth"} <= _terms("rare-earth free magnets")
    assert _terms("to commercialise magnets") == _terms("to commercialize magnets")
    assert "arpa" in _terms("ARPA-E funding")


def test_a_dateline_is_no_table_row() -> None:
    assert _is_dateline("April 24, 2025.")
    assert _is_dateline("24 April 2025")
    assert not _is_table_row("April 24, 2025.")
    assert not _is_dateline("On April 24, 2025, the President signed the order.")
    assert _is_dateline("April 24th, 2025")
    assert _is_table_row("China 255,000 270,000 44,000,000")


def test_a_document_named_by_month_and_year_outweighs_one_of_the_same_year() -> None:
    hits = [_hit("april", "2025-04-15"), _hit("march", "2025-03-20"), _hit("old", "2021-02-24")]
    bonus = _date_bonus("Which applications does the April 2025 order cite?", hits)
    assert bonus["april"] > bonus["march"] > 0
    assert "old" not in bonus
    assert _date_bonus("Which applications does the order cite?", hits) == {}


def test_a_document_named_by_its_publisher() -> None:
    usgs = _hit(
        "usgs", "2025-01", "Rare Earths", "U.S. Geological Survey, National Minerals Information Center"
    )
    wh = _hit("wh", "2025-04-15", "Section 232 Actions on Processed Critical Minerals")
    by_acronym = _publisher_bonus("Whose price data does the USGS rely on?", [usgs, wh])
    assert by_acronym.get("usgs", 0) > by_acronym.get("wh", 0)
    by_name = _publisher_bonus("What did the White House say about prices?", [usgs, wh])
    assert by_name.get("wh", 0) > by_name.get("usgs", 0)


def test_bylines_answer_who_prepared_questions() -> None:
    assert _AUTHORED.search("Which specialist compiled the chapter?")
    assert _BYLINE.search("Prepared by Daniel J. Cordier [(703) 648-7707]")
    assert not _BYLINE.search("The report was prepared by the end of the year.")
    assert _BYLINE.search("PREPARED BY Jane Doe")
    assert not _AUTHORED.search("Which agency has the authority to act?")


def test_a_part_that_refers_back_keeps_its_subject() -> None:
    parts = question_parts("Which firm received the funding, and what material are they based on?")
    assert len(parts) == 2 and _ANAPHORA.search(parts[1])
    assert not _ANAPHORA.search("which magnet investigation did the June fact sheet float")


def test_dotted_acronyms_are_spelled_out() -> None:
    assert expands_in("EO", ["On February 24, 2021, the President signed E.O. 14017."])
    assert not expands_in("EO", ["Executive Order 14017"])  # two initials alone match too much


def test_demonyms_name_their_places() -> None:
    assert "mongolia" in demonym_places("Mongolian")
    assert "canada" in demonym_places("Canadian")
    assert "china" in demonym_places("Chinese")
    assert demonym_places("Trump") == []


def test_multi_word_names_of_a_question() -> None:
    assert proper_phrases("How does the Minerals Security Partnership work?") == [
        "Minerals Security Partnership"
    ]
    assert proper_phrases("What did the Pentagon's Industrial Base Analysis program give?") == [
        "Industrial Base Analysis"
    ]
    assert proper_phrases("Which two Southeast Asian countries signed?") == []  # region + demonym
    assert proper_phrases("How Much Rare Earth Did China Mine In 2024?") == []  # Title Case names nothing
    assert proper_phrases("When did they sign? (Japanese Australian officials)") == []  # carried words
    assert proper_phrases("What did McKinsey Global Institute say?") == ["McKinsey Global Institute"]
    assert proper_phrases("Who joined President Biden for the February 2022 event?") == []
    assert proper_phrases("What quota did China Northern Rare Earth Group get?") == [
        "China Northern Rare Earth Group"
    ]


def test_names_match_loosely_but_not_across_a_passage() -> None:
    assert phrase_in("Donald Trump", ["President Donald J. Trump signed"])
    assert phrase_in("Commerce Department", ["the Department of Commerce will"])
    assert phrase_in("Rare-Earth Elements", ["rare earth elements"])
    assert phrase_in("Chinese Ministry of Commerce", ["China's Ministry of Commerce said"])
    assert not phrase_in(
        "Critical Minerals Supply Chain Act", ["Action to Secure Critical Mineral Supply Chains"]
    )
    text = "Minerals are traded. " + "Filler words here. " * 10 + "Security matters. A partnership."
    assert not phrase_in("Minerals Security Partnership", [text])
    assert phrase_in("of the", ["anything"])  # no words: nothing to check
