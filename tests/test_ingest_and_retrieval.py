"""Ingestion, retrieval and answers over the shipped corpus with the real model and real Chroma."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from assistant.types import AssistantError


def test_shipped_corpus_ingests_with_spans_and_pages(shared_index, assistant, corpus_copy):
    _, report = shared_index
    assert report.added == 13 and not report.failed and report.chunks_written > 100
    from assistant.loaders import load_document, read_manifest

    manifest = read_manifest(corpus_copy)
    texts = {}
    snap = assistant.retriever.snapshot()
    for c in snap.retriever.corpus:
        doc_id = c["doc_id"]
        if doc_id not in texts:
            path = next(corpus_copy.glob(doc_id + ".*"))
            texts[doc_id] = load_document(path, corpus_copy, manifest).text
        for key in ("title", "publisher", "date", "start_char", "end_char"):
            assert key in c, key
        if doc_id.startswith("usgs"):
            assert c["page"] in (1, 2)
    assert len(texts) == 13
    for hit in assistant.retrieve("rare earth mine production", k=10):
        assert texts[hit.doc_id][hit.start_char : hit.end_char] == hit.text


def test_unchanged_reingest_embeds_nothing(assistant, corpus_copy):
    report = assistant.ingest(corpus_copy)
    assert (report.unchanged, report.chunks_written, report.added, report.removed) == (13, 0, 0, 0)


def test_modify_remove_and_bad_file(make_assistant, corpus_copy, tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name in (
        "reex_china_two_rare_earth_bases.txt",
        "wh_2025-11-01_fact_sheet_us_china_trade_deal.md",
        "manifest.yaml",
    ):
        shutil.copy(corpus_copy / name, corpus / name)
    a = make_assistant()
    first = a.ingest(corpus)
    assert first.added == 2 and first.ok
    total = a.retriever.chunk_count()
    # modify one document: only it is re-embedded, its old chunks vanish
    path = corpus / "reex_china_two_rare_earth_bases.txt"
    path.write_text("A new paragraph mentions the Zorbium refinery in Ganzhou.\n\n" + path.read_text())
    (corpus / "bad.pdf").write_bytes(b"%PDF-1.4 not really")
    second = a.ingest(corpus)
    assert second.updated == 1 and second.unchanged == 1 and len(second.failed) == 1
    assert "bad.pdf" in second.failed[0].path and "PDF" in second.failed[0].reason
    assert 0 < second.chunks_written < total
    hits = a.retrieve("Zorbium refinery", mode="bm25")
    assert hits and hits[0].doc_id == "reex_china_two_rare_earth_bases"
    ids = [c["node_id"] for c in a.retriever.snapshot().retriever.corpus]
    assert len(ids) == len(set(ids))
    # remove a document: its chunks vanish
    (corpus / "wh_2025-11-01_fact_sheet_us_china_trade_deal.md").unlink()
    third = a.ingest(corpus)
    assert third.removed == 1
    assert {h.doc_id for h in a.retrieve("soybeans fentanyl", k=5)} <= {"reex_china_two_rare_earth_bases"}
    collection = a.retriever.collection
    assert collection.count() == a.retriever.chunk_count()


@pytest.mark.parametrize(
    ("query", "doc"),
    [
        ("Who is the Baotou Party Secretary?", "reex_china_two_rare_earth_bases"),
        ("Ding Xiufeng", "reex_china_two_rare_earth_bases"),
        ("China mine production 2024 270,000", "usgs_mcs2025_rare_earths"),
        ("dual-hub strategy for rare earths in two Chinese cities", "reex_china_two_rare_earth_bases"),
        (
            "deal with Beijing to suspend export controls and buy soybeans",
            "wh_2025-11-01_fact_sheet_us_china_trade_deal",
        ),
    ],
)
@pytest.mark.parametrize("mode", ["hybrid", "dense", "bm25"])
def test_questions_find_their_document(assistant, query, doc, mode):
    hits = assistant.retrieve(query, k=5, mode=mode)
    assert doc in [h.doc_id for h in hits]


def test_filters_restrict_results(assistant):
    hits = assistant.retrieve("export controls", k=5, doc_ids=["usgs_mcs2025_rare_earths"])
    assert hits and {h.doc_id for h in hits} == {"usgs_mcs2025_rare_earths"}
    dated = assistant.retrieve("critical minerals supply chains", k=8, date_from="2025-10-01")
    assert dated and all(h.date >= "2025-10" for h in dated)
    old = assistant.retrieve("critical minerals supply chains", k=8, date_to="2022-12-31", mode="bm25")
    assert old and all(h.date <= "2022-12-31" for h in old)
    with pytest.raises(AssistantError, match="YYYY"):
        assistant.retrieve("x", date_from="last year")


def test_hits_are_diverse(assistant):
    hits = assistant.retrieve("critical minerals frameworks with Australia and Japan", k=5)
    docs = [h.doc_id for h in hits]
    assert "wh_2025-10-20_us_australia_critical_minerals_rare_earths_framework" in docs
    assert "wh_2025-10-27_us_japan_critical_minerals_rare_earths_framework" in docs


def test_answer_contains_fact_with_exact_quotes(assistant):
    answer = assistant.ask("Who is the Baotou Party Secretary?")
    assert not answer.refused and "Ding Xiufeng" in answer.text and "[1]" in answer.text
    assert answer.citations[0].doc_id == "reex_china_two_rare_earth_bases"
    for c in answer.citations:
        assert c.quote in c.passage
        hit = next(h for h in answer.hits if h.chunk_id == c.chunk_id)
        assert hit.text[c.quote_start - hit.start_char : c.quote_end - hit.start_char] == c.quote
    numbers = [int(n) for n in __import__("re").findall(r"\[(\d+)\]", answer.text)]
    assert sorted(set(numbers)) == list(range(1, len(answer.citations) + 1))


def test_table_value_is_answered(assistant):
    answer = assistant.ask("What was China's rare earth mine production in 2024 according to USGS?")
    assert "270,000" in answer.text


@pytest.mark.parametrize(
    "question",
    [
        "What did the EU Critical Raw Materials Act require in 2024?",
        "What is the ore grade at the Kvanefjeld deposit?",
    ],
)
def test_out_of_corpus_questions_are_refused(assistant, question):
    answer = assistant.ask(question)
    assert answer.refused and answer.text.startswith("The documents do not answer")
    assert not answer.citations


@pytest.mark.parametrize(
    "question",
    [
        "Which Inner Mongolian city is one of the two rare earth bases?",  # demonym of Inner Mongolia
        "What did EO 14017 order a review of?",  # the corpus writes "E.O. 14017"
        "What did the Commerce Department find about neodymium magnets?",  # "Department of Commerce"
        "What does the United States-Japan Framework say about stockpiles?",  # a title, not chunk text
    ],
)
def test_names_written_differently_are_not_out_of_corpus(assistant, question):
    answer = assistant.ask(question)
    assert not answer.refused and answer.citations


def test_follow_up_uses_history(assistant):
    history = [
        {"role": "user", "content": "What was China's rare earth mine production in 2024 according to USGS?"},
        {"role": "assistant", "content": "China 255,000 270,000 44,000,000 [1]"},
    ]
    answer = assistant.ask("And its reserves?", history=history)
    # the follow-up is searched with the subject it leans on, and answered from that table
    assert "China" in answer.standalone_question
    assert not answer.refused and "Reserves" in answer.text
    assert answer.citations[0].doc_id == "usgs_mcs2025_rare_earths"


@pytest.mark.parametrize("bad", ["", "   ", "x" * 100_000])
def test_bad_questions_get_clear_errors(assistant, bad):
    with pytest.raises(AssistantError):
        assistant.ask(bad)


def test_odd_questions_never_crash(assistant):
    for q in ["\x00\x07 what \x1b[31m", "the of and", "¿Cuál es la producción de China?", "2024"]:
        answer = assistant.ask(q)
        assert answer.text


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.server
def test_chroma_server_mode(tmp_path, embedder, corpus_copy):
    from assistant import Assistant, Settings

    port = _free_port()
    chroma = Path(sys.executable).with_name("chroma")
    proc = subprocess.Popen(
        [str(chroma), "run", "--path", str(tmp_path / "srv"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        settings = Settings(index_dir=tmp_path / "idx", chroma_url=f"http://127.0.0.1:{port}")
        deadline = time.time() + 60
        while True:
            try:
                a = Assistant.open(tmp_path / "idx", settings, embedder=embedder)
                break
            except AssistantError:
                if time.time() > deadline:
                    raise
                time.sleep(0.5)
        corpus = tmp_path / "corpus"
        corpus.mkdir()
        shutil.copy(corpus_copy / "reex_china_two_rare_earth_bases.txt", corpus)
        report = a.ingest(corpus)
        assert report.added == 1 and report.chunks_written > 0
        assert a.retrieve("Ding Xiufeng", mode="dense")[0].doc_id == "reex_china_two_rare_earth_bases"
        assert a.ingest(corpus).chunks_written == 0
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_unchanged_files_are_not_parsed_again(
    make_assistant: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Re-ingest reuses the stored copy of a file whose bytes and manifest entry are unchanged;
    a changed manifest entry or changed bytes are parsed again."""
    import assistant.ingest as ingest_module

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "alpha.txt").write_text("Alpha mine produced 12 tons of cerium in 2024. " * 5, encoding="utf-8")
    (corpus / "beta.txt").write_text(
        "Beta refinery separated 7 tons of yttrium in 2023. " * 5, encoding="utf-8"
    )
    (corpus / "manifest.yaml").write_text(
        "documents:\n  - file: alpha.txt\n    title: Alpha\n", encoding="utf-8"
    )
    a = make_assistant()
    assert a.ingest(corpus).added == 2

    parsed: list[str] = []
    real = ingest_module.load_document

    def counting(path: Path, *args: Any, **kwargs: Any) -> Any:
        parsed.append(path.name)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(ingest_module, "load_document", counting)
    report = a.ingest(corpus)
    assert (report.unchanged, report.chunks_written, parsed) == (2, 0, [])

    (corpus / "manifest.yaml").write_text(
        "documents:\n  - file: alpha.txt\n    title: Alpha mine\n", encoding="utf-8"
    )
    (corpus / "beta.txt").write_text(
        "Beta refinery separated 9 tons of yttrium in 2024. " * 5, encoding="utf-8"
    )
    report = a.ingest(corpus)
    assert sorted(parsed) == ["alpha.txt", "beta.txt"]
    assert (report.updated, report.unchanged) == (2, 0)
    assert {d["doc_id"]: d["title"] for d in a.documents()}["alpha"] == "Alpha mine"
    assert any("9 tons" in h.text for h in a.retrieve("Beta refinery yttrium"))


@pytest.mark.parametrize("dense_candidates", [2, 40])
def test_date_filter_keeps_only_documents_in_range(
    shared_index: Any, embedder: Any, corpus_copy: Path, dense_candidates: int
) -> None:
    """Dense candidates are cut to the date range after a wider query; with few candidates
    (2: the wide query misses the range) the filtered Chroma query takes over."""
    from assistant import Assistant, Settings

    index_dir, _ = shared_index
    settings = Settings(index_dir=index_dir, corpus_dir=corpus_copy, dense_candidates=dense_candidates)
    a = Assistant.open(index_dir, settings, embedder=embedder)
    hits = a.retrieve("rare earth supply chains", mode="dense", date_from="2021-01-01", date_to="2021-12-31")
    assert hits
    assert {h.date[:4] for h in hits} == {"2021"}
    only_june = a.retrieve(
        "rare earth supply chains", mode="dense", date_from="2021-06-01", date_to="2021-06-30"
    )
    assert {h.doc_id for h in only_june} == {"wh_2021-06-08_fact_sheet_100day_supply_chain_reviews"}


def test_a_name_whose_words_no_chunk_holds_together_is_unknown(make_assistant: Any, tmp_path: Path) -> None:
    """``Retrieval.unknown_names``: a question's multi-word name counts as held when some chunk of
    the whole corpus (not only the retrieved ones) holds its words near one another, in any order;
    its words known one by one are not enough. Made-up corpus, real index."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "kell.txt").write_text(
        "The Kell Basin Authority licenses every zorblat mine in the north. " * 3
        + "Its licences run for ten years and cost a flat fee. " * 3,
        encoding="utf-8",
    )
    (corpus / "velt.txt").write_text(
        "Velt has a deep harbour. The harbour board of Velt sets the fees its port charges. " * 3
        + "Ore from the basin reaches Velt by rail. " * 3,
        encoding="utf-8",
    )
    (corpus / "manifest.yaml").write_text(
        "documents:\n  - file: velt.txt\n    title: North Rail Fees Charter\n", encoding="utf-8"
    )
    a = make_assistant(top_k=1)
    a.ingest(corpus)

    def unknown(question: str) -> list[str]:
        return a.retriever.retrieve(question).unknown_names

    assert unknown("What fees does the Kell Basin Authority charge?") == []
    assert unknown("Which mines does the Authority of the Kell Basin license?") == []  # any order
    assert unknown("When did the Western Kell Basin Authority meet?") == []  # a region of a held name
    assert unknown("What does the Velt Harbour Board charge?") == []  # held by the other document
    # every word is in the corpus, never together: the documents do not discuss this authority
    assert unknown("What fees does the Velt Basin Authority charge?") == ["Velt Basin Authority"]
    # a word the corpus never uses is the answerability model's signal; the words it uses are held
    assert unknown("What does the Kell Quorbex Authority license?") == []
    assert unknown("What does the North Rail Fees Charter set?") == []  # a title, not chunk text
    assert a.ask("What fees does the Velt Basin Authority charge?").status == "refused"
