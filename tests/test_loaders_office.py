"""Word, PowerPoint, Excel and CSV files the tests make; the loader registry (no model)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from loader_files import docx_file, pptx_file, xlsx_file

from assistant.loaders import (
    LOADERS,
    SUPPORTED_SUFFIXES,
    Extracted,
    Section,
    discover,
    load_document,
    read_manifest,
    register,
)
from assistant.loaders.excel import cell_text
from assistant.ui.storage import UPLOAD_SUFFIXES, safe_filename

ROWS = [
    ["Port", "Cargo 2024 (t)", "Berths"],
    ["North quay", "1,310", "4"],
    ["Salt pier", "905", "2"],
]
TABLE_LINES = ["North quay — Cargo 2024 (t): 1,310; Berths: 4", "Salt pier — Cargo 2024 (t): 905; Berths: 2"]


def _load(path: Path):
    return load_document(path, path.parent)


def test_docx_paragraphs_headings_tables_and_pages(tmp_path):
    path = docx_file(
        tmp_path / "report.docx",
        [
            ("heading", "Harbour report"),
            ("para", "The delta ports had a quiet winter."),
            ("para", "Trade picked up in the spring."),
            ("page-break",),
            ("heading", "Cargo by port"),
            ("table", ROWS),
            ("para", "Figures are provisional."),
        ],
    )
    doc = _load(path)
    assert doc.text == "\n\n".join(
        [
            "Harbour report\nThe delta ports had a quiet winter.\nTrade picked up in the spring.",
            "Cargo by port",
            "\n".join(TABLE_LINES),
            "Figures are provisional.",
        ]
    )
    assert [(s.page, s.kind) for s in doc.sections] == [(1, None), (2, None), (2, "table"), (2, None)]
    assert doc.pages == 2 and doc.tables == 1
    assert doc.metadata["title"] == "Harbour report"


def test_docx_without_page_breaks_has_no_page_numbers(tmp_path):
    doc = _load(docx_file(tmp_path / "memo.docx", [("para", "One paragraph only.")]))
    assert doc.text == "One paragraph only." and doc.pages is None
    assert doc.sections == [Section(0, len(doc.text), None, None)]


def test_pptx_slides_tables_and_notes_with_slide_numbers(tmp_path):
    path = pptx_file(
        tmp_path / "deck.pptx",
        [
            {
                "title": "Delta ports in 2024",
                "bullets": ["Three ports", "Grain, timber and copper ore"],
                "notes": "Say that the ice left early.",
            },
            {"title": "Cargo by port", "table": ROWS},
        ],
    )
    doc = _load(path)
    assert doc.text == "\n\n".join(
        [
            "Delta ports in 2024\nThree ports\nGrain, timber and copper ore\n"
            "Notes: Say that the ice left early.",
            "Cargo by port",
            "\n".join(TABLE_LINES),
        ]
    )
    assert [(s.page, s.kind) for s in doc.sections] == [(1, None), (2, None), (2, "table")]
    assert doc.pages == 2 and doc.tables == 1
    assert doc.metadata["title"] == "Delta ports in 2024"


def test_xlsx_rows_carry_headers_sheet_names_and_number_formats(tmp_path):
    path = xlsx_file(
        tmp_path / "stats.xlsx",
        [
            (
                "Cargo",
                [["Port", "Cargo 2024 (t)", "Berths"], ["North quay", 1310, 4], ["Salt pier", 905, 2]],
                {"B": "#,##0"},
            ),
            ("Empty", [], {}),
            (
                "Rates",
                [["Port", "Share", "Opened"], ["North quay", 0.125, dt.date(1911, 5, 2)]],
                {"B": "0.0%"},
            ),
        ],
    )
    doc = _load(path)
    assert doc.text == "\n\n".join(
        [
            "Sheet: Cargo\n" + "\n".join(TABLE_LINES),
            "Sheet: Rates\nNorth quay — Share: 12.5%; Opened: 1911-05-02",
        ]
    )
    assert [(s.page, s.kind) for s in doc.sections] == [(1, "table"), (3, "table")]
    assert doc.pages == 3 and doc.tables == 2
    assert doc.warnings == ["sheet 2 ('Empty') is empty"]


def test_xlsx_merged_header_names_both_columns(tmp_path):
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Output"
    ws.append(["Port", "Cargo", None, "Berths"])
    ws.append([None, "2023", "2024", None])
    ws.append(["North quay", 1250, 1310, 4])
    ws.merge_cells("B1:C1")
    wb.save(str(tmp_path / "merged.xlsx"))
    doc = _load(tmp_path / "merged.xlsx")
    assert doc.text == "Sheet: Output\nNorth quay — Cargo 2023: 1250; 2024: 1310; Berths: 4"


def test_csv_rows_with_detected_delimiter(tmp_path):
    (tmp_path / "ports.csv").write_text(
        "Port;Cargo 2024 (t);Berths\nNorth quay;1,310;4\nSalt pier;905;2\n", encoding="utf-8"
    )
    doc = _load(tmp_path / "ports.csv")
    assert doc.text == "\n".join(["Port; Cargo 2024 (t); Berths", *TABLE_LINES])
    assert doc.sections == [Section(0, len(doc.text), None, "table")] and doc.tables == 1


@pytest.mark.parametrize(
    ("value", "fmt", "text"),
    [
        (21000000, "#,##0", "21,000,000"),
        (0.4567, "0.00%", "45.67%"),
        (3.0, "General", "3"),
        (2.5, "0.00", "2.50"),
        (dt.datetime(2024, 3, 1), "yyyy-mm-dd", "2024-03-01"),
        (True, "General", "TRUE"),
    ],
)
def test_spreadsheet_values_read_as_their_format_shows_them(value, fmt, text):
    assert cell_text(value, fmt) == text


def test_manifest_metadata_applies_to_office_files(tmp_path):
    docx_file(tmp_path / "report.docx", [("para", "Body text of the report.")])
    (tmp_path / "ports.csv").write_text("Port,Berths\nNorth quay,4\n", encoding="utf-8")
    (tmp_path / "manifest.yaml").write_text(
        "documents:\n- file: report.docx\n  title: Harbour report 2024\n  date: 2024-05\n"
        "- file: ports.csv\n  title: Berths by port\n  publisher: Delta Harbour Board\n"
    )
    manifest = read_manifest(tmp_path)
    assert not manifest.warnings
    report = load_document(tmp_path / "report.docx", tmp_path, manifest)
    ports = load_document(tmp_path / "ports.csv", tmp_path, manifest)
    assert report.metadata == {"title": "Harbour report 2024", "date": "2024-05", "publisher": ""}
    assert ports.metadata == {"title": "Berths by port", "publisher": "Delta Harbour Board"}


@pytest.fixture
def restore_registry():
    before = dict(LOADERS)
    yield
    LOADERS.clear()
    LOADERS.update(before)


def test_a_new_format_is_one_loader_plus_one_registration_line(tmp_path, restore_registry):
    def load_log(path: Path) -> Extracted:  # the new loader
        text = "\n".join(line.split("] ", 1)[-1] for line in path.read_text().splitlines())
        return Extracted(text, [Section(0, len(text), None)])

    assert ".log" not in SUPPORTED_SUFFIXES
    (tmp_path / "quay.log").write_text(
        "[08:00] Barge Ada moored at the north quay.\n[09:30] Barge Ada left.\n"
    )
    _files, skipped = discover(tmp_path)
    assert [p.name for p, _ in skipped] == ["quay.log"]

    register(".log", load_log)  # the registration line

    files, skipped = discover(tmp_path)
    assert [p.name for p in files] == ["quay.log"] and not skipped
    doc = load_document(tmp_path / "quay.log", tmp_path)
    assert doc.text == "Barge Ada moored at the north quay.\nBarge Ada left."
    assert safe_filename("Quay.LOG") == "Quay.log"  # the upload accepts it too


def test_upload_accepts_every_registered_format():
    assert set(UPLOAD_SUFFIXES) == set(SUPPORTED_SUFFIXES)
    for suffix in (".docx", ".pptx", ".xlsx", ".csv", ".pdf", ".md"):
        assert safe_filename(f"Report 2024{suffix.upper()}") == f"Report_2024{suffix}"
