"""End to end with the real model: a table cell in each new format, and a sentence that crosses a
PDF column break, asked about and answered with the right page, slide or sheet cited."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from loader_files import (
    HEIGHT,
    MARGIN,
    Flow,
    docx_file,
    pptx_file,
    scanned_pdf,
    text_pdf,
    two_columns,
    wrap,
    xlsx_file,
)

CROSSING = (
    "The breakwater at Norland was finished in the autumn of 1987 by the engineering firm of Haldane and "
    "Sons, who also dredged the inner basin."
)
PAPER = [
    "The river delta of Norland holds three small ports that ship grain, timber and copper ore to the "
    "southern coast every spring, when the ice has gone from the channels.",
    "In the survey year the harbour authority counted four hundred and twelve vessels, of which most were "
    "coastal barges carrying less than two hundred tonnes each.",
    CROSSING,
    "Plans for a rail spur to the copper mines were approved by the regional council after a long debate "
    "about its cost and its route through the marsh.",
]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("formats") / "corpus"
    root.mkdir()
    drawn: list[list[list[str]]] = []
    text_pdf(
        root / "norland.pdf",
        lambda c, _n: drawn.append(Flow(c).set(PAPER, two_columns(), HEIGHT - MARGIN, 9)),
    )
    width = two_columns()[0][1]
    left, right = drawn[0]
    assert left[-1] in wrap(CROSSING, width) and right[0] in wrap(CROSSING, width)  # it crosses the break
    docx_file(
        root / "velmora.docx",
        [
            ("heading", "Velmora harbour report"),
            ("para", "The harbour of Velmora had a quiet winter."),
            ("page-break",),
            ("table", [["Quay", "Cargo 2024 (t)", "Berths"], ["Velmora east quay", "3,870", "17"]]),
        ],
    )
    pptx_file(
        root / "kesteren.pptx",
        [
            {"title": "Kesteren pier", "bullets": ["A pier for grain and timber barges"]},
            {
                "title": "Kesteren cargo",
                "table": [["Pier", "Grain 2024 (t)", "Timber 2024 (t)"], ["Kesteren pier", "8,420", "2,115"]],
            },
        ],
    )
    xlsx_file(
        root / "ore_prices.xlsx",
        [
            ("Volumes", [["Ore", "Shipped 2024 (t)"], ["Copper concentrate", 51200]], {"B": "#,##0"}),
            (
                "Prices",
                [["Ore", "Price 2023 ($/t)", "Price 2024 ($/t)"], ["Copper concentrate", 8480, 9140]],
                {"B": "#,##0", "C": "#,##0"},
            ),
        ],
    )
    (root / "orvin_rain.csv").write_text(
        "Station,Rainfall 2023 (mm),Rainfall 2024 (mm)\n"
        "Lake Orvin station,587,612\nMarsh gate station,540,566\n",
        encoding="utf-8",
    )
    return root


@pytest.fixture(scope="module")
def formats_assistant(corpus: Path, embedder, tmp_path_factory: pytest.TempPathFactory):
    from assistant import Assistant, Settings

    index = tmp_path_factory.mktemp("formats-index")
    a = Assistant.open(index, Settings(index_dir=index, corpus_dir=corpus), embedder=embedder)
    report = a.ingest(corpus)
    assert report.ok and report.added == 5, report.failed
    return a


@pytest.mark.parametrize(
    ("question", "doc_id", "page", "figure", "measure"),
    [
        ("How many berths does the Velmora east quay have?", "velmora", 2, "17", "Berths"),
        ("How much grain did Kesteren pier handle in 2024?", "kesteren", 2, "8,420", "Grain 2024 (t)"),
        ("What was the 2024 price of copper concentrate?", "ore_prices", 2, "9,140", "Price 2024 ($/t)"),
        (
            "How much rain fell at the Lake Orvin station in 2024?",
            "orvin_rain",
            None,
            "612",
            "Rainfall 2024 (mm)",
        ),
    ],
)
def test_a_table_cell_is_answered_citing_its_page_slide_or_sheet(
    formats_assistant, question, doc_id, page, figure, measure
):
    answer = formats_assistant.ask(question)
    assert answer.status != "refused", answer.text
    assert figure in answer.text
    cited = [c for c in answer.citations if c.doc_id == doc_id and figure in c.quote]
    assert cited, [(c.doc_id, c.page, c.quote) for c in answer.citations]
    assert cited[0].page == page
    assert f"{measure}: {figure}" in cited[0].quote  # the quote says what the number measures


def test_a_sentence_across_a_column_break_is_answered_whole(formats_assistant):
    answer = formats_assistant.ask("Who built the breakwater at Norland, and when was it finished?")
    assert answer.status != "refused", answer.text
    quotes = [c.quote for c in answer.citations if c.doc_id == "norland"]
    assert CROSSING in quotes and all(c.page == 1 for c in answer.citations if c.doc_id == "norland")


def test_chunk_metadata_marks_table_rows_and_ocr_pages(formats_assistant, make_assistant, tmp_path):
    if shutil.which("tesseract") is None:
        pytest.fail("tesseract is not installed: run `make ocr-deps` (make install does)")
    corpus = formats_assistant.retriever.snapshot().retriever.corpus
    tables = {c["doc_id"] for c in corpus if c.get("table")}
    assert tables == {"velmora", "kesteren", "ore_prices", "orvin_rain"}
    assert not any(c.get("ocr") for c in corpus)

    folder = tmp_path / "scans"
    folder.mkdir()
    scanned_pdf(folder / "minutes.pdf", tmp_path, ["The harbour board met on the fourth of March."])
    a = make_assistant()
    assert a.ingest(folder).ok
    chunks = a.retriever.snapshot().retriever.corpus
    assert [(c["doc_id"], c.get("page"), c.get("ocr")) for c in chunks] == [("minutes", 1, True)]


def test_without_tesseract_a_scanned_pdf_fails_and_the_rest_ingests(make_assistant, tmp_path, monkeypatch):
    folder = tmp_path / "mixed"
    folder.mkdir()
    scanned_pdf(folder / "scan.pdf", tmp_path, ["The harbour board met on the fourth of March."])
    (folder / "notes.txt").write_text("The harbour board keeps its minutes in the town hall.\n")
    monkeypatch.setenv("PATH", str(tmp_path / "no-such-bin"))
    report = make_assistant().ingest(folder)
    assert report.added == 1
    assert [(Path(f.path).name, f.reason) for f in report.failed] == [
        ("scan.pdf", "no text layer on page 1: install tesseract-ocr to read scanned pages")
    ]
