"""The extractive reader's stages, each on hand-made text (no model, no corpus): question analysis,
answer kinds, candidate units, scoring features, answerability and selection. Every passage here is
invented, so each test reads as the general rule it states."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from assistant.answer.analysis import (
    analyse,
    clauses,
    name_in,
    name_near,
    name_parts,
    name_spellings,
    names,
    needs_conversation,
    same_word,
    scoring_text,
)
from assistant.answer.base import not_answered, rewrite_follow_up
from assistant.answer.candidates import (
    candidates,
    clean_quote,
    is_header_row,
    is_heading,
    is_table_row,
    units,
)
from assistant.answer.extractive import ExtractiveBackend
from assistant.answer.kinds import asked_kind, head_kind, holds, kind_count
from assistant.answer.scoring import FEATURES, Context, cheap_features, date_match, proximity
from assistant.answer.text import content_words, numbers, stem, terms
from assistant.answer.weights import ReaderWeights
from assistant.config import Settings
from assistant.types import Draft, Hit, Retrieval


class BagOfWordsEmbedder:
    """Deterministic stand-in for the sentence model: hashed stemmed words, normalised. Similar
    wording gives similar vectors, which is all the reader's stages need to be tested."""

    dim = 256

    def _vec(self, text: str) -> np.ndarray:
        v = np.zeros(self.dim)
        for t in terms(text):
            v[int(hashlib.md5(t.encode()).hexdigest(), 16) % self.dim] += 1.0
        n = np.linalg.norm(v)
        return v / n if n else v

    def query(self, text: str) -> list[float]:
        return list(self._vec(text))

    def encode_cached(self, texts: list[str]) -> np.ndarray:
        return np.stack([self._vec(t) for t in texts]) if texts else np.zeros((0, self.dim))


def hit(
    text: str, doc: str = "doc_a", rank: int = 1, start: int = 0, title: str = "A report", **kw: object
) -> Hit:
    return Hit(
        rank=rank,
        score=kw.get("score", 1.0 / rank if rank else 0.0),  # type: ignore[arg-type]
        text=text,
        doc_id=doc,
        title=title,
        publisher=str(kw.get("publisher", "")),
        url=None,
        date=kw.get("date"),  # type: ignore[arg-type]
        page=None,
        chunk_id=f"{doc}-{start}",
        start_char=start,
        end_char=start + len(text),
        dense_score=0.5,
    )


# --------------------------------------------------------------------------- analysis


def test_compound_questions_split_into_aspects() -> None:
    q = analyse("Which two towns host the Velt plant, and which of them is larger?")
    assert [a.text for a in q.aspects] == ["Which two towns host the Velt plant", "which of them is larger"]
    assert q.aspects[0].kind == "place"
    assert q.aspects[1].refers_back and not q.aspects[0].refers_back


def test_coordinated_years_ask_for_two_figures() -> None:
    q = analyse("How much zorblat did Veltria export in 2019 and in 2021?")
    assert [a.text for a in q.aspects] == [
        "How much zorblat did Veltria export in 2019",
        "How much zorblat did Veltria export in 2021",
    ]
    assert {a.kind for a in q.aspects} == {"quantity"}


def test_multi_word_names_of_a_question_and_where_they_are_found() -> None:
    assert names("How does the Zorblat Security Partnership fund mills?") == ["Zorblat Security Partnership"]
    assert names("What Did The Velt Mill Produce?") == []  # Title Case: no telling names
    assert names("Veltria exports zorblat?") == []
    assert name_in("Department of Trade", ["a report of the department of trade's office"])
    assert not name_in("Zorblat Security Partnership", ["zorblat security is a partnership of mills"])


def test_a_name_is_looked_up_by_its_parts_its_spellings_and_its_words_near_one_another() -> None:
    assert name_parts("Velt and Ostria") == []  # two one-word names, no multi-word one
    assert name_parts("Kell Port Board for the Velt Mills") == ["Kell Port Board", "Velt Mills"]
    assert name_parts("Board of Trade") == ["Board of Trade"]
    q = "What did the Zorblat Binding Council (ZBC) of Northern Veltria decide?"
    assert name_spellings("Zorblat Binding Council", q) == ["Zorblat Binding Council", "ZBC"]
    assert name_spellings("Northern Veltria", q) == ["Northern Veltria", "Veltria"]
    assert (
        same_word("veltrian", "veltria") and same_word("mills", "mill") and not same_word("velt", "veltria")
    )
    assert name_near("Trade Board", "the Board of Trade met", slack=3)  # any order
    assert name_near("U.S. Zorblat Office", "the US office for zorblat", slack=3)
    assert not name_near("Kell Port Board", "Kell has a port. Its mills answer to a board of ten.", slack=3)
    assert name_near("Kell Port Board", "Kell has a port. Its mills answer to a board of ten.", slack=8)


def test_a_carried_subject_stays_with_its_question() -> None:
    assert clauses("And its reserves? (Veltria zorblat 2021)") == ["And its reserves? (Veltria zorblat 2021)"]
    assert clauses("What is zorblat? Where is it mined?") == ["What is zorblat", "Where is it mined"]


def test_a_clause_of_two_words_stays_with_the_one_before() -> None:
    assert clauses("What does the plan cost and why?") == ["What does the plan cost and why"]


def test_a_leading_source_clause_is_not_scored() -> None:
    assert (
        scoring_text("According to the 2023 annual report, how much ore was milled?")
        == "how much ore was milled?"
    )
    assert scoring_text("According to the report, why?") == "According to the report, why?"


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("When was the Velt plant opened?", "date"),
        ("By when must the mill report?", "date"),
        ("Which stages does the plan count as mining?", "description"),
        ("How long does the glarp test take?", "duration"),
        ("What is the incubation period of the glarp virus?", "duration"),
        ("How much did the Velt plant cost?", "money"),
        ("What share of exports went to Ostria?", "percentage"),
        ("How many workers does the plant employ?", "count"),
        ("What was Veltria's estimated zorblat mine production in 2021?", "quantity"),
        ("Who founded the Velt Institute?", "person"),
        ("Who is the head of the Velt Institute?", "person"),
        ("What is the name of the Velt Institute's director?", "person"),  # the head of "name of …"
        ("What was the name of the firm that built the mill?", "organisation"),
        ("Who is Orla Venn?", "definition"),
        ("Which regional party chief opened the plant?", "person"),
        ("Which agency regulates zorblat?", "organisation"),
        ("Where is the plant located?", "place"),
        ("Why did output fall?", "reason"),
        ("What are the symptoms of glarp fever?", "list"),
        ("What is zorblat?", "definition"),
        ("Is zorblat toxic?", "yesno"),
        ("How does the Velt process compare with the Ostrian one?", "comparison"),
        ("What milestone did the mine reach?", "description"),
    ],
)
def test_asked_kind(question: str, kind: str) -> None:
    assert asked_kind(question) == kind


def test_the_head_of_a_compound_names_the_kind() -> None:
    assert head_kind("which party chief spoke") == "person"  # "party" alone would be an organisation
    assert head_kind("what share of the output") == "percentage"  # the first head before "of"
    assert head_kind("what milestone did it reach") is None


def test_follow_ups_need_the_conversation_self_contained_questions_do_not() -> None:
    assert needs_conversation("When was it signed?")
    assert needs_conversation("And its reserves?")
    assert not needs_conversation("Who is Orla Venn and what did she announce?")
    assert needs_conversation("Which other ports does the line serve?")  # a comparative, no subject
    assert needs_conversation("How large is the company's debt?")  # short, about "the <thing>"
    assert not needs_conversation("Which other ports besides Velt does the line serve?")
    assert not needs_conversation("How large is the debt of Ostria Shipping?")
    assert not needs_conversation("What share of the harvest was lost to frost in the northern valleys?")
    history = [{"role": "user", "content": "What did the Velt plant produce in 2021?"}]
    assert rewrite_follow_up("When was it opened?", history).startswith("When was it opened? (")
    assert "Velt" in rewrite_follow_up("When was it opened?", history)
    assert rewrite_follow_up("Who runs the Ostria smelter?", history) == "Who runs the Ostria smelter?"


def test_a_follow_up_of_a_follow_up_keeps_the_original_subject() -> None:
    history = [
        {"role": "user", "content": "What did the Velt plant produce in 2021?"},
        {"role": "assistant", "content": "..."},
        {"role": "user", "content": "And in 2022?"},
    ]
    assert "Velt" in rewrite_follow_up("Who runs it?", history)


# --------------------------------------------------------------------------- text and kinds


def test_terms_split_hyphens_read_british_spellings_and_keep_acronyms() -> None:
    assert terms("rare-earth") == terms("rare earth")
    assert stem("commercialise") == stem("commercialize")
    assert terms("the licences for labour unions") == terms("the licenses for labor unions")
    assert stem("defences") == stem("defenses") and stem("labourers") == stem("laborers")
    assert stem("Gilmour") != stem("Gilmore") and stem("flour") != stem("floor")
    assert "who" in content_words("What does the WHO recommend?")
    assert "who" not in content_words("Who recommends it?")
    assert numbers("It rose from 270,000 to 3.5 million in 2021") == {"270000", "3.5", "2021"}


def test_a_sentence_holds_a_kind_the_question_lacks() -> None:
    q = "When did output peak in 2019?"
    assert not holds("Output peaked in 2019.", "date", q)  # the question's own year is no answer
    assert holds("Output peaked in March 2019.", "date", q)
    assert holds("The plant cost $4.2 million.", "money", "How much did the plant cost?")
    assert holds("Zorblat — Price 2024 ($/t): 9,140", "money", "What was the 2024 price of zorblat?")
    assert holds("Exports fell 12% in the year.", "percentage", "What share of exports went abroad?")
    # a table row read with its headers: the currency is in the header, the figure in the cell
    price = "What was the price of zorblat in 2024?"
    assert holds("Price, average, euros per ton: Zorblat — 2023: 9,020; 2024: 9,140", "money", price)
    assert not holds("Output, tons: Zorblat — 2023: 9,020; 2024: 9,140", "money", price)
    assert kind_count("It employs 40 people in 3 shifts.", "count", "How many people work there?") == 2
    assert not holds("Workers were hired in 2021.", "count", "How many workers were hired?")
    # a country is a place however the sentence introduces it; the question's own country is none
    where = "Which country supplied most of the zorblat?"
    assert holds("Zorblat imports: Malaysia, 60%; Japan, 25%.", "place", where)
    assert not holds("Zorblat imports: Velt mill, 60%; Kell mill, 25%.", "place", where)
    assert not holds("Malaysia supplied it.", "place", "Which port in Malaysia supplied the zorblat?")
    # a span of time is no amount: "how much" is not answered by "over the next five years"
    q = "How much zorblat a year could the Velt mill produce?"
    assert not holds("Velt will invest in the mill over the next five years.", "quantity", q)
    assert not holds("Velt will build the mill in three to five years.", "quantity", q)
    assert not holds("Velt will build the mill in 5-10 years.", "quantity", q)
    assert kind_count("The mill hired 300 and 2 years later 500 more.", "count", "How many did it hire?") == 2
    assert holds("Once at scale, the mill could produce 9,000 tons a year.", "quantity", q)


def test_a_person_is_named_by_a_name_not_by_an_office() -> None:
    q = "Who heads the Velt Institute?"
    assert holds("The Institute is led by Director Orla Venn.", "person", q)
    assert not holds("The Institute is led by the Minister of Mines.", "person", q)
    assert not holds("The Institute works with the Republic of Ostria.", "person", q)
    assert holds("Signed:\nMara J. Quell\nPresident", "person", q)
    # an office's remit is no name; a name after it is
    assert not holds("It reports to the Assistant to the President for Harbour Policy.", "person", q)
    assert not holds("The Director of Coastal Safety approved it.", "person", q)
    assert holds("Director of Coastal Safety Orla Venn approved it.", "person", q)


def test_a_question_asking_for_a_name_is_not_answered_by_a_group() -> None:
    sentence = "The plan was approved by officials of the Institute."
    assert holds(sentence, "person", "Who approved the plan?")  # "officials" may answer "who"
    assert not holds(sentence, "person", "What is the name of the director who approved the plan?")


def test_date_match_and_figures_match_name_documents_and_years() -> None:
    assert date_match("What did the March 2021 order require?", "2021-03-14") == 1.0
    assert date_match("What did the 2021 order require?", "2021-03-14") == 0.5
    assert date_match("What did the order require?", "2021-03-14") == 0.0


def test_proximity_of_the_asked_thing_to_the_question_terms() -> None:
    aspect = analyse("What is the fatality rate of glarp fever?").aspects[0]
    near = proximity("Glarp fever has a fatality rate of 21% in adults.", aspect)
    far = proximity("Glarp fever spreads in winter and in the dry season it affects 21% of villages.", aspect)
    assert near > far > 0


def test_boilerplate_two_documents_share_word_for_word_is_marked_repeated() -> None:
    notice = "Nothing in this charter shall be construed to impair the authority of any council."
    passages = [
        hit(f"The Harbour Charter sets the mooring fee at 40 crowns. {notice}", doc="charter_a", rank=1),
        hit(f"The River Charter keeps the ferry free. {notice.upper()}", doc="charter_b", rank=2),
        hit("Nothing in this charter is free of fees for foreign ships.", doc="charter_c", rank=3),
    ]
    units = candidates(passages)
    q = analyse("What does the Harbour Charter say about fees?")
    ctx = Context.build(passages, passages, units, None)
    repeated = cheap_features(q, q.aspects[0], units, passages, ctx)[:, -1]
    marked = {u.text for u, r in zip(units, repeated, strict=True) if r}
    # the notice recurs in another document (case and punctuation aside); the fee, the ferry and a
    # sentence that merely begins alike do not
    assert marked == {notice, notice.upper()}
    assert FEATURES[-1] == "repeated"


# --------------------------------------------------------------------------- candidates


def test_a_list_lead_in_brings_its_items() -> None:
    text = "The plan has three parts:\n- build a mill\n- train workers\n- open a port\nIt starts in 2026."
    shapes = [(text[a:b], shape) for a, b, shape in units(text)]
    assert shapes[0] == ("The plan has three parts:\n- build a mill\n- train workers\n- open a port", "list")
    assert shapes[1] == ("It starts in 2026.", "sentence")
    assert clean_quote(shapes[0][0]) == "The plan has three parts: build a mill; train workers; open a port."


def test_table_rows_stay_rows_and_a_date_is_no_row() -> None:
    assert is_table_row("Veltria 1,200 1,350 40,000")
    assert not is_table_row("March 3, 2021.")
    assert is_header_row("2020 2021")
    assert not is_header_row("In 2021, the plant opened after two years of work.")
    text = "Output by country:\nVeltria 1,200 1,350\nOstria 800 950"
    assert [s for _a, _b, s in units(text)] == ["sentence", "sentence", "sentence"]


def test_headings_are_no_answers_but_name_the_section() -> None:
    assert is_heading("Production and Trade", "")
    assert is_heading("A report", "A report")
    assert not is_heading("The mill processed 40,000 tons of ore in its first year.", "")
    text = "Production and Trade\nThe mill processed 40,000 tons of ore in its first year of work."
    cands = candidates([hit(text)])
    assert [c.text for c in cands] == ["The mill processed 40,000 tons of ore in its first year of work."]
    assert cands[0].section == "Production and Trade"


def test_table_rows_are_scored_with_their_headers() -> None:
    text = "Mine production, tons:\n2020 2021\nVeltria 1,200 1,350\nOstria 800 950"
    rows = [c for c in candidates([hit(text)]) if c.row]
    assert [c.text for c in rows] == ["Veltria 1,200 1,350", "Ostria 800 950"]
    assert "2021" in rows[0].scoring and "production" in rows[0].scoring.lower()


def test_a_unit_is_attributed_to_a_passage_that_holds_it_whole() -> None:
    text = "The Velt mill opened in 2019 after a long delay. It now processes ore from three pits."
    a = hit(text[:50], rank=1, start=0)
    b = hit(text[30:], rank=2, start=30)
    cands = candidates([a, b])
    assert [c.hit for c in cands] == [0, 1]
    for c in cands:
        passage = [a, b][c.hit]
        assert c.text in passage.text


# --------------------------------------------------------------------------- the reader end to end

OVERVIEW = (
    "This report reviews the zorblat industry of Veltria in recent years. "
    "It covers mining, milling and trade. "
)
FACTS = (
    "The Velt mill processed 40,000 tons of zorblat ore in 2021. "
    "Its director, Orla Venn, announced a second line in May 2022. "
    "Exports of zorblat concentrate went mainly to Ostria."
)
OTHER = "Ostrian smelters paid $310 per ton of Veltrian concentrate in 2021. Ostria also buys from Kell."


def _answer(question: str, passages: list[Hit], weights: ReaderWeights | None = None) -> Draft:
    backend = ExtractiveBackend(Settings(), BagOfWordsEmbedder(), weights)
    items = list(backend.generate(question, Retrieval(hits=passages), []))
    assert isinstance(items[-1], Draft)
    return items[-1]


@pytest.fixture
def passages() -> list[Hit]:
    return [
        hit(OVERVIEW + FACTS, doc="veltria_report", rank=1, title="Zorblat in Veltria", date="2023-01-10"),
        hit(OTHER, doc="ostria_note", rank=2, title="Ostrian smelters", date="2022-06-01"),
    ]


def test_the_answer_leads_with_the_unit_that_answers_not_the_overview(passages: list[Hit]) -> None:
    draft = _answer("How much zorblat ore did the Velt mill process in 2021?", passages)
    assert draft.status == "answered"
    assert draft.text.startswith("The Velt mill processed 40,000 tons")
    assert "This report reviews" not in draft.text


def test_every_quote_is_a_slice_of_its_passage(passages: list[Hit]) -> None:
    draft = _answer("Who directs the Velt mill, and what did she announce?", passages)
    assert draft.quotes
    for hit_index, quote, start, _supported in draft.quotes:
        p = passages[hit_index]
        assert quote in p.text
        assert start is not None and p.text[start - p.start_char : start - p.start_char + len(quote)] == quote


def test_each_aspect_gets_its_unit_from_any_document(passages: list[Hit]) -> None:
    draft = _answer(
        "How much ore did the Velt mill process in 2021, and what did Ostrian smelters pay per ton?", passages
    )
    assert "40,000 tons" in draft.text and "$310" in draft.text
    assert {passages[q[0]].doc_id for q in draft.quotes} == {"veltria_report", "ostria_note"}


def test_a_one_document_question_is_not_padded_from_another(passages: list[Hit]) -> None:
    draft = _answer("When did Orla Venn announce a second line?", passages)
    assert "May 2022" in draft.text
    assert {passages[q[0]].doc_id for q in draft.quotes} == {"veltria_report"}


def test_a_question_naming_its_source_is_not_padded_from_another_document() -> None:
    report = "The Velt mill processed 40,000 tons of zorblat ore in 2021. Its director opened a line in 2022."
    review = (
        "A review of Veltria's mills found that the Velt mill processed about 40,000 tons of zorblat "
        "ore in 2021, up from 2020. Orla Venn directs the Velt mill, which opened a second line."
    )
    ps = [
        hit(report, doc="velt_report", rank=1, title="Velt mill report", date="2023-01-10"),
        hit(review, doc="review", rank=2, title="Review of mills", date="2024-01-10"),
    ]
    asked = "how much zorblat ore did the Velt mill process in 2021, and who directs the mill?"
    retold = "A review of Veltria's mills found"
    # two aspects may be answered from two documents, and a retelling of the first joins ...
    assert retold in _answer(asked[0].upper() + asked[1:], ps).text
    # ... unless the question names its source: then each aspect's answer, and nothing retold
    draft = _answer(f"According to the Velt mill report, {asked}", ps)
    assert draft.text.startswith("The Velt mill processed 40,000 tons")
    assert "Orla Venn directs" in draft.text and retold not in draft.text


def test_the_same_statement_about_another_subject_answers_nothing_asked() -> None:
    from assistant.answer.selection import frame, sibling

    assert frame("Kell — ore milled 2021: 3,100; reserves: 9,000") == frame(
        "Ostria — ore milled 2021: 40; reserves: NA"
    )
    kell, ostria, none = frozenset({"kell"}), frozenset({"ostria"}), frozenset()
    lead = "Kell mills 3,100 tons of ore."
    assert sibling(lead, "Ostria mills 40 tons of ore.", kell, kell, ostria, 0.6)
    assert not sibling(lead, "Ostria mills 40 tons of ore.", kell | ostria, kell, ostria, 0.6)  # both asked
    assert not sibling(lead, "Kell exports most of it.", kell, kell, kell, 0.6)
    assert not sibling(lead, "The mill shut in 2022 after a flood.", kell, kell, none, 0.6)
    table = "\n".join(
        f"{name} — ore milled 2021: {a}; 2022: {b}; reserves: {c}"
        for name, a, b, c in [
            ("Velt", "40,000", "41,000", "900,000"),
            ("Kell", "3,100", "2,900", "60,000"),
            ("Ostria", "12,000", "12,500", "310,000"),
            ("Morvan", "800", "750", "NA"),
        ]
    )
    mills = [hit(table, doc="mills", rank=1, title="Zorblat mills")]
    draft = _answer("What were Kell's zorblat ore reserves?", mills)
    assert "60,000" in draft.text
    assert not any(n in draft.text for n in ("Velt", "Ostria", "Morvan"))  # they answer nothing asked
    loose = _answer(
        "What were Kell's zorblat ore reserves?",
        mills,
        ReaderWeights.load().model_copy(update={"sibling": 1.01}),
    )
    assert "Ostria" in loose.text  # what the rule keeps out: the rows score nearly as well
    both = _answer("What were the zorblat ore reserves of Kell and of Ostria?", mills)
    assert "60,000" in both.text and "310,000" in both.text
    others = _answer("Which mills other than Kell hold zorblat ore reserves?", mills)
    assert any(n in others.text for n in ("Velt", "Ostria", "Morvan"))  # other subjects are what is asked
    # a subject named in lower case, sharing a word with the other rows ("… oxide")
    ore, oxide = frozenset({"zorblat", "oxid"}), frozenset({"oxid"})
    row = "Price, euros per ton: {} oxide — 2024: {}"
    assert sibling(row.format("Zorblat", 9), row.format("Kellite", 4), ore, ore, oxide, 0.6)
    assert not sibling(
        row.format("Zorblat", 9), row.format("Kellite", 4), ore | {"kellit"}, ore, oxide | {"kellit"}, 0.6
    )
    prices = "\n".join(
        f"{name} oxide — price in euros per ton: {v}"
        for name, v in [("Velt", "310"), ("Zorblat", "9,140"), ("Kellite", "4,020")]
    )
    draft = _answer("What was the price of zorblat oxide?", [hit(prices, doc="prices", rank=1)])
    assert "9,140" in draft.text and "4,020" not in draft.text and "310" not in draft.text


def test_a_table_row_naming_the_asked_subject_leads() -> None:
    from assistant.loaders.tables import is_row_line, row_label

    assert is_row_line("Kell — Ore output 2024: 3,100; Reserves: 60,000")
    assert not is_row_line("The plan — phase one: two mills; phase two: more.")
    assert row_label("Kell — Ore output 2024: 3,100; Reserves: 60,000") == "Kell"
    text = (
        "For Ostria, zorblat reserves compliant with the national code were 3.3 million tons in total.\n"
        "Zorblat reserves in total grew in Kell, Velt and Ostria, by 12,000 tons.\n"
        "Kell — Ore output 2024: 3,100; Reserves: 60,000\n"
        "Velt — Ore output 2024: 40,000; Reserves: 900,000"
    )
    question = "What were Kell's zorblat reserves in total?"
    draft = _answer(question, [hit(text, doc="mills", rank=1)])
    assert draft.text.startswith("Kell — Ore output")
    never = ReaderWeights.load().model_copy(update={"named_row": 1.01})
    assert not _answer(question, [hit(text, doc="mills", rank=1)], never).text.startswith("Kell")


def test_an_asked_kind_nothing_holds_is_not_stated(passages: list[Hit]) -> None:
    # the passages discuss the mill at length but give no workforce figure
    draft = _answer("How many workers does the Velt mill employ?", passages)
    assert draft.status == "refused"
    assert draft.not_stated == ["How many workers does the Velt mill employ"]


def test_a_year_no_retrieved_document_speaks_of_is_not_stated(passages: list[Hit]) -> None:
    # the passages give the mill's 2021 output; nothing they hold is about 2017
    assert _answer("How much zorblat ore did the Velt mill process in 2021?", passages).status == "answered"
    draft = _answer("How much zorblat ore did the Velt mill process in 2017?", passages)
    assert draft.status == "refused"
    assert draft.not_stated == ["How much zorblat ore did the Velt mill process in 2017"]


def test_an_aspect_naming_what_the_corpus_never_holds_is_not_stated(passages: list[Hit]) -> None:
    # the passages speak of the mill, its director and its second line; the question names a
    # council whose words no chunk holds together (Retrieval.unknown_names)
    q = "When did the Velt Zorblat Council announce a second line?"
    backend = ExtractiveBackend(Settings(), BagOfWordsEmbedder())

    def draft(unknown: list[str]) -> Draft:
        items = list(backend.generate(q, Retrieval(hits=passages, unknown_names=unknown), []))
        assert isinstance(items[-1], Draft)
        return items[-1]

    assert draft([]).status == "answered"
    refused = draft(["Velt Zorblat Council"])
    assert refused.status == "refused"
    assert refused.not_stated == ["When did the Velt Zorblat Council announce a second line"]


def test_a_partial_answer_names_what_is_not_stated(passages: list[Hit]) -> None:
    draft = _answer(
        "When did Orla Venn announce a second line, and how many workers does the mill employ?", passages
    )
    assert draft.status == "partial"
    assert "May 2022" in draft.text
    assert draft.not_stated == ["how many workers does the mill employ"]
    assert draft.text.endswith(not_answered(draft.not_stated))


def test_no_passages_is_a_refusal() -> None:
    draft = _answer("How much ore did the mill process?", [])
    assert draft.status == "refused" and draft.refused


def test_the_weights_object_documents_every_number() -> None:
    weights = ReaderWeights.load()
    for name, field in ReaderWeights.model_fields.items():
        assert field.description, name
    assert set(weights.coefficients) <= set(FEATURES)
    assert 0.0 < weights.support < 1.0


def test_a_list_that_runs_past_its_passage_keeps_the_items_the_passage_holds() -> None:
    text = "In the words of the mayor, the year brought:\n\n• a new mill\n• a port\n• two schools"
    cut = text.index("• two") - 1  # the passage ends with the second item's line
    passage = hit(text[:cut], rank=1)
    [unit] = candidates([passage])
    assert unit.text == "In the words of the mayor, the year brought:\n\n• a new mill\n• a port"
    assert unit.items == 2 and unit.text in passage.text
