"""The UI's ``/ask`` endpoint through ``gradio_client`` against a real ``assistant serve``,
plus the UI's building blocks (HTML escaping, upload names, feedback lines) without a server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError

from assistant.types import Answer, Citation, Hit
from assistant.ui.render import answer_html, citation_html, linkify, refusal_html, sources_html
from assistant.ui.storage import UploadRefused, record_feedback, safe_filename, store_upload

pytest_plugins = ["ui_fixtures"]

OUT_OF_CORPUS = "What did the EU Critical Raw Materials Act require in 2024?"


@pytest.fixture(scope="module")
def client(ui_server) -> Iterator[Client]:  # type: ignore[no-untyped-def]
    c = Client(ui_server.url, verbose=False, download_files=False)
    yield c
    c.close()


# ------------------------------------------------------------------------------- the endpoint


def test_only_ask_is_public(client: Client) -> None:
    api = client.view_api(print_info=False, return_format="dict")
    assert set(api["named_endpoints"]) == {"/ask"}
    params = [p["parameter_name"] for p in api["named_endpoints"]["/ask"]["parameters"]]
    assert params == ["question", "history", "doc_ids", "date_from", "date_to", "backend", "top_k"]


def test_corpus_question_is_answered_with_citations(client: Client) -> None:
    result = client.predict("Who is the Baotou Party Secretary?", api_name="/ask")
    assert result["done"] is True
    assert result["refused"] is False
    assert "[1]" in result["answer"]
    first = result["citations"][0]
    assert first["n"] == 1
    assert "Ding Xiufeng" in first["quote"]
    assert first["quote"] in first["passage"]
    assert first["doc_id"] == "reex_china_two_rare_earth_bases"


def test_out_of_corpus_question_is_refused(client: Client) -> None:
    result = client.predict(OUT_OF_CORPUS, api_name="/ask")
    assert result["refused"] is True
    assert result["citations"] == []
    assert "[1]" not in result["answer"]
    assert "do not answer" in result["answer"]
    assert result["closest_documents"]


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("", "empty"),
        ("   \n\t  ", "empty"),
        ("\x00\x01\x02\x1b\x7f", "empty"),
        ("x" * 100_000, "limit"),
    ],
    ids=["empty", "whitespace", "control-characters", "100k-characters"],
)
def test_bad_question_is_a_clear_error(client: Client, question: str, expected: str) -> None:
    with pytest.raises(AppError) as caught:
        client.predict(question, api_name="/ask")
    message = str(caught.value)
    assert expected in message
    assert "Traceback" not in message
    assert 'File "' not in message


def test_answer_streams(client: Client) -> None:
    job = client.submit("Who is the Baotou Party Secretary?", api_name="/ask")
    final = job.result(timeout=120)
    outputs = job.outputs()
    assert len(outputs) > 2, "expected partial answers before the final one"
    assert outputs[0]["done"] is False
    assert final["done"] is True
    assert outputs[-2]["answer"].strip() in final["answer"] or "[1]" in final["answer"]


def test_follow_up_uses_history(client: Client) -> None:
    first = client.predict("Who is the Baotou Party Secretary?", api_name="/ask")
    history = [
        {"role": "user", "content": "Who is the Baotou Party Secretary?"},
        {"role": "assistant", "content": first["answer"]},
    ]
    result = client.predict("What is its date?", history, api_name="/ask")
    assert result["standalone_question"] != "What is its date?"
    assert "Baotou" in result["standalone_question"]


def test_document_filter_restricts_sources(client: Client) -> None:
    question = "What did the administration do to secure critical mineral supply chains?"
    doc = "wh_2022-02-22_fact_sheet_made_in_america_critical_minerals"
    filtered = client.predict(question, None, [doc], api_name="/ask")
    assert filtered["citations"]
    assert {c["doc_id"] for c in filtered["citations"]} == {doc}


def test_date_filter_and_bad_date(client: Client) -> None:
    question = "What are rare earths used for?"
    result = client.predict(question, None, None, "2025-10", "2025-12", api_name="/ask")
    assert all(c["date"] and "2025-10" <= c["date"] <= "2025-12-31" for c in result["citations"])
    with pytest.raises(AppError) as caught:
        client.predict(question, None, None, "last spring", api_name="/ask")
    assert "YYYY" in str(caught.value)


def test_unknown_backend_is_a_clear_error(client: Client) -> None:
    with pytest.raises(AppError) as caught:
        client.predict("Who is the Baotou Party Secretary?", None, None, "", "", "gpt-9", api_name="/ask")
    assert "backend" in str(caught.value)


# ------------------------------------------------------------------------------- building blocks


def _citation(
    n: int = 1,
    passage: str = "Before. The <b>quoted</b> sentence. After.",
    quote: str | None = None,
    **extra: object,
) -> Citation:
    quote = quote if quote is not None else "The <b>quoted</b> sentence."
    fields = dict(
        n=n,
        doc_id="d",
        title="T <i>x</i>",
        publisher="P & Co",
        url="https://example.org/a?b=1&c=2",
        date="2025-01-02",
        page=3,
        chunk_id="d#0",
        start_char=0,
        end_char=len(passage),
        quote=quote,
        passage=passage,
    )
    fields.update(extra)
    return Citation(**fields)  # type: ignore[arg-type]


def _hit(title: str = "Closest <script>x</script>") -> Hit:
    return Hit(
        rank=1,
        score=0.1,
        text="passage <img src=x onerror=alert(1)>",
        doc_id="d",
        title=title,
        publisher="",
        url=None,
        date=None,
        page=None,
        chunk_id="d#0",
        start_char=0,
        end_char=10,
    )


def test_markers_become_anchors_and_text_is_escaped() -> None:
    html = linkify("A <script>alert(1)</script> claim [1], and [7] stays text.", [_citation()])
    assert '<a href="#src-1" class="cite" title="T &lt;i&gt;x&lt;/i&gt;">[1]</a>' in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>" not in html
    assert "[7]" in html and "#src-7" not in html
    assert 'href="#src-t2-1"' in linkify("x [1]", [_citation()], turn=2)


def test_source_card_marks_quote_and_escapes_everything() -> None:
    card = citation_html(_citation())
    assert 'id="src-1"' in card
    assert "<mark>The &lt;b&gt;quoted&lt;/b&gt; sentence.</mark>" in card
    assert "T &lt;i&gt;x&lt;/i&gt;" in card and "P &amp; Co" in card
    assert "p. 3" in card and "2025-01-02" in card
    assert 'href="https://example.org/a?b=1&amp;c=2"' in card
    assert "<b>" not in card and "<i>" not in card


def test_source_card_uses_quote_offset_and_refuses_unsafe_links() -> None:
    passage = "Same. Same. End."
    card = citation_html(_citation(passage=passage, quote="Same.", quote_start=6, url="javascript:alert(1)"))
    assert "Same. <mark>Same.</mark> End." in card
    assert "javascript:" not in card


def test_refusal_is_distinct_and_lists_closest_documents() -> None:
    text = "The documents do not answer this question: “q”. The closest documents are: Closest <script>x"
    answer = Answer(question="q", text=text, refused=True, hits=[_hit()])
    html = answer_html(answer)
    assert html == refusal_html(answer)
    assert 'class="refusal"' in html
    assert "<li>Closest &lt;script&gt;x&lt;/script&gt;</li>" in html
    assert "<script>" not in html
    panel = sources_html([{"question": "q", "answer": answer}])
    assert "Closest passages" in panel and "<img" not in panel


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("report.TXT", "report.txt"),
        ("../../etc/passwd.md", "passwd.md"),
        ("..\\..\\windows\\evil.html", "evil.html"),
        (".bashrc.txt", "bashrc.txt"),
        ("...hidden.md", "hidden.md"),
        ("Résumé des minéraux (2025).pdf", "Resume_des_mineraux_2025.pdf"),
        ("a b;rm -rf $HOME.txt", "a_b_rm_-rf_HOME.txt"),
    ],
)
def test_safe_filename(name: str, expected: str) -> None:
    assert safe_filename(name) == expected


@pytest.mark.parametrize("name", ["evil.sh", "notes", "archive.tar.gz", "x.pdf.exe", ".txt", "../.md", ""])
def test_safe_filename_refuses(name: str) -> None:
    with pytest.raises(UploadRefused):
        safe_filename(name)


def test_store_upload(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    src = tmp_path / "Notes on tungsten.md"
    src.write_text("# Tungsten\n\nText.", encoding="utf-8")
    stored = store_upload(src, corpus, max_mb=1)
    assert stored.new and stored.path == corpus / "Notes_on_tungsten.md"
    assert stored.path.read_text(encoding="utf-8") == "# Tungsten\n\nText."
    assert store_upload(src, corpus, max_mb=1).new is False  # same bytes again: unchanged
    other = tmp_path / "other" / "Notes on tungsten.md"
    other.parent.mkdir()
    other.write_text("different", encoding="utf-8")
    with pytest.raises(UploadRefused, match="already in the corpus"):
        store_upload(other, corpus, max_mb=1)
    assert stored.path.read_text(encoding="utf-8") == "# Tungsten\n\nText."
    big = tmp_path / "big.txt"
    big.write_bytes(b"x" * (2 * 2**20))
    with pytest.raises(UploadRefused, match="over the 1 MB upload limit"):
        store_upload(big, corpus, max_mb=1)
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    with pytest.raises(UploadRefused, match="empty"):
        store_upload(empty, corpus, max_mb=1)
    assert sorted(p.name for p in corpus.iterdir()) == ["Notes_on_tungsten.md"]  # no temp files left


def test_launch_options() -> None:
    import os

    from assistant.config import Settings
    from assistant.ui import launch_options

    assert os.environ["GRADIO_ANALYTICS_ENABLED"] == "False"
    options = launch_options(Settings(ui_port=7999, upload_max_mb=5))
    assert options["server_name"] == "127.0.0.1" and options["server_port"] == 7999
    assert options["max_file_size"] == "5mb" and "auth" not in options
    assert launch_options(Settings(ui_auth="ann:s3:cret"))["auth"] == ("ann", "s3:cret")  # type: ignore[arg-type]


def test_record_feedback_appends_json_lines(tmp_path: Path) -> None:
    path = record_feedback(tmp_path / "fb", {"verdict": "up", "question": "q“"})
    record_feedback(tmp_path / "fb", {"verdict": "down"})
    lines = path.read_text(encoding="utf-8").splitlines()
    assert path.name == "feedback.jsonl"
    assert [json.loads(line)["verdict"] for line in lines] == ["up", "down"]
    assert json.loads(lines[0])["question"] == "q“"
