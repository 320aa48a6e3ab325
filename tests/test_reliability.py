"""Reliability and security: bad files, bad questions, uploads, the UI's address, API keys.

Bad files: every one is reported with its path and the reason, every other document is
ingested, and nothing already stored is lost (same chunk ids before and after).

Size limit: documents over ``max_file_mb`` are refused from their size alone, before a byte is
read. A 50 MB text is about 76,000 chunks: hours of CPU embedding, so a deployment keeps the
limit below that (these tests use 20 MB, the UI's upload limit; the shipped default is 64 MB).

Bad questions (empty, whitespace, 100k characters, control characters) get a clear message; odd
ones (only stop words, another language, only a number) an answer or a refusal; never a
traceback, through the API, the CLI and the UI. The UI's error cases (empty, whitespace, control
characters, 100k characters) are covered by ``test_ui_api.py::test_bad_question_is_a_clear_error``;
the others are checked here.
"""

from __future__ import annotations

import json
import logging
import os
import random
import subprocess
import sys
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from gradio_client import Client
from small_corpus import QUERIES, index_state, make_pdf, write_corpus

import assistant.cli as cli
from assistant import Assistant, Settings
from assistant.types import Answer, AssistantError
from assistant.ui.storage import UploadRefused, safe_filename, store_upload

pytest_plugins = ["ui_fixtures"]

REPO = Path(__file__).resolve().parents[1]
KEY = "sk-7Qz9XwPq2LmV4tRb8NcY"  # no English words: any 8 characters of it in a row count as a leak
PASSWORD = "Zq8-Lp3v-Wx71"


# ------------------------------------------------------------------------------------ bad files


def _pdf_bytes(tmp_path: Path, text: str) -> bytes:
    path = tmp_path / "scratch.pdf"
    make_pdf(path, [text, "A second page about europium phosphors in the Lyon plant."])
    data = path.read_bytes()
    path.unlink()
    return data


def _encrypted_pdf(tmp_path: Path, text: str) -> bytes:
    from pypdf import PdfReader, PdfWriter

    plain = tmp_path / "plain.pdf"
    plain.write_bytes(_pdf_bytes(tmp_path, text))
    writer = PdfWriter()
    for page in PdfReader(plain).pages:
        writer.add_page(page)
    writer.encrypt("user-secret", "owner-secret", algorithm="AES-128")
    out = tmp_path / "encrypted.pdf"
    writer.write(out)
    plain.unlink()
    data = out.read_bytes()
    out.unlink()
    return data


def _write_50_mb_text(path: Path) -> None:
    para = (
        "The Zorbium refinery in Ganzhou processed rare earth oxide for magnet makers in 2024. " * 8 + "\n\n"
    ).encode()
    with path.open("wb") as fh:
        for _ in range(50 * 2**20 // len(para) + 1):
            fh.write(para)


BAD_MANIFEST_ENTRIES = """- file: latin1.txt
  title: Qualität des Erzes
  date: last spring
- file: utf16.txt
  colour: red
- file: missing.txt
  title: A document nobody added
- title: an entry without a file
- just a string
"""


def _chunks_by_doc(a: Assistant) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    snap = a.retriever.snapshot()
    assert snap is not None
    for c in snap.retriever.corpus:
        out.setdefault(c["doc_id"], set()).add(c["node_id"])
    return out


def test_bad_files_are_reported_and_nothing_stored_is_lost(
    make_assistant: Any,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    embedder: Any,
) -> None:
    corpus = write_corpus(tmp_path / "corpus", 1)
    a = make_assistant(max_file_mb=20)
    first = a.ingest(corpus)
    assert first.ok and first.added == 3
    before = _chunks_by_doc(a)
    good_gamma = (corpus / "gamma.pdf").read_bytes()

    # --- the bad files, and three good ones with odd encodings or names
    rng = random.Random(7)
    pdf = _pdf_bytes(tmp_path, "Holmium ledger of the Vostok smelter.\nIt lists 40 tonnes shipped in 2021.")
    corrupt = bytearray(pdf)
    for i in range(len(corrupt) // 4, len(corrupt) * 3 // 4):
        corrupt[i] = rng.randrange(256)
    (corpus / "corrupt.pdf").write_bytes(bytes(corrupt))
    (corpus / "truncated.pdf").write_bytes(pdf[: len(pdf) * 6 // 10])
    (corpus / "encrypted.pdf").write_bytes(_encrypted_pdf(tmp_path, "Secret thulium prices."))
    (corpus / "gamma.pdf").write_bytes(good_gamma[: len(good_gamma) // 2])  # stored earlier, now truncated
    (corpus / "empty.txt").write_bytes(b"")
    (corpus / "binary.txt").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(rng.randrange(256) for _ in range(4096)))
    (corpus / "blank.md").write_text(" \n\t\n   \n\u00a0\n", encoding="utf-8")
    _write_50_mb_text(corpus / "huge.txt")
    (corpus / "alpha.md").write_text("# Another alpha\n\nSame document id as alpha.txt.", encoding="utf-8")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("SECRET-OUTSIDE-TEXT: the vault code is 4711.", encoding="utf-8")
    (corpus / "leak.txt").symlink_to(outside / "secret.txt")
    (corpus / "latin1.txt").write_bytes(
        "Die Qualität des Erzes aus Zürich war hoch. Die Mine Café Noir lieferte 300 Tonnen Scandium.".encode(
            "latin-1"
        )
    )
    (corpus / "utf16.txt").write_bytes(
        "The Ærø smelter in Tromsø refined 450 tonnes of scandium for Ålesund.".encode("utf-16")
    )
    (corpus / "Notes on Zürich ore.txt").write_text(
        "Notes on Zürich ore\n\nThe Grüntal deposit near Zürich holds yttrium and gadolinium.",
        encoding="utf-8",
    )
    manifest = corpus / "manifest.yaml"
    manifest.write_text(manifest.read_text(encoding="utf-8") + BAD_MANIFEST_ENTRIES, encoding="utf-8")
    capfd.readouterr()

    tracemalloc.start()
    try:
        report = a.ingest(corpus)
        _size, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    warnings = capfd.readouterr().err

    # --- every bad file named with its reason, nothing else failed
    reasons = {Path(f.path).name: f.reason for f in report.failed}
    expected = {
        "corrupt.pdf": "damaged",  # pdfminer may still open it, but finds no text
        "truncated.pdf": "damaged",
        "gamma.pdf": "damaged",
        "encrypted.pdf": "encrypted with a password",
        "empty.txt": "empty file (0 bytes)",
        "binary.txt": "binary data, not text",
        "blank.md": "no text content",
        "huge.txt": "over the 20 MB limit (ASSISTANT_MAX_FILE_MB)",
        "leak.txt": "symlink points outside the corpus folder",
        "alpha.md": "would be the same document 'alpha'",
        "alpha.txt": "would be the same document 'alpha'",
    }
    assert set(reasons) == set(expected), reasons
    for name, reason in expected.items():
        assert reason in reasons[name], (name, reasons[name])
    assert all(Path(f.path).parent == corpus for f in report.failed)  # the message names the file
    # the manifest's problems are warnings naming the entry
    assert "'missing.txt' names no file in the corpus" in warnings
    assert "(latin1.txt): date 'last spring'" in warnings
    assert "(utf16.txt): unknown field(s) colour" in warnings
    assert "has no 'file' field" in warnings

    # --- the 50 MB file was refused from its size: never read into memory
    assert peak < 40 * 2**20, f"peak Python memory {peak / 2**20:.0f} MB: was the 50 MB file read?"

    # --- the good newcomers are in, decoded correctly; the stored documents are untouched
    assert (report.added, report.unchanged, report.updated, report.removed) == (3, 1, 0, 0)
    after = _chunks_by_doc(a)
    assert set(after) == {"alpha", "beta", "gamma", "latin1", "utf16", "Notes on Zürich ore"}
    for doc in ("alpha", "beta", "gamma"):
        assert after[doc] == before[doc], f"{doc}: stored chunks changed"
        hits = a.retrieve(QUERIES[doc], k=3)
        assert hits[0].doc_id == doc and hits[0].chunk_id in before[doc]
    state = index_state(a.index_dir)
    assert set(state.chroma) == set().union(*after.values())
    assert len(state.bm25_ids) == len(set(state.bm25_ids))
    latin = a.retrieve("Qualität des Erzes aus Zürich Scandium", k=3, mode="bm25")
    assert latin[0].doc_id == "latin1" and "Qualität" in latin[0].text and "Zürich" in latin[0].text
    utf16 = a.retrieve("Ærø smelter Tromsø scandium", k=3, mode="bm25")
    assert utf16[0].doc_id == "utf16" and "Ærø smelter in Tromsø" in utf16[0].text
    named = a.retrieve("Grüntal deposit yttrium gadolinium", k=3)
    assert named[0].doc_id == "Notes on Zürich ore"
    assert not any("SECRET-OUTSIDE" in text for (_d, text, _t, _dt) in state.chroma.values())

    # --- the CLI says the same, file by file, and exits 1; nothing is embedded again
    monkeypatch.setattr(cli, "_open", lambda s: Assistant.open(s.index_dir, s, embedder=embedder))
    monkeypatch.setenv("ASSISTANT_MAX_FILE_MB", "20")
    res = CliRunner().invoke(cli.main, ["ingest", str(corpus), "--index", str(a.index_dir)])
    assert res.exit_code == 1, res.output
    assert "Traceback" not in res.output and "0 chunks written" in res.output
    for name, reason in expected.items():
        assert f"failed: {corpus / name}: " in res.output and reason in res.output, name

    # --- repaired files come back unchanged: the stored copies were intact
    for name in [n for n in expected if n not in ("gamma.pdf", "alpha.txt")] + ["manifest.yaml"]:
        (corpus / name).unlink()
    (corpus / "gamma.pdf").write_bytes(good_gamma)
    write_corpus(corpus, 1)
    final = a.ingest(corpus)
    assert final.ok and final.unchanged == 3 and final.chunks_written == 0 and final.removed == 3


@pytest.mark.slow
@pytest.mark.timeout(1200)  # its child process may take 900 s
def test_50_mb_text_under_a_raised_limit_loads_in_bounded_memory(tmp_path: Path) -> None:
    """With the limit raised, a 50 MB text loads and chunks (embedding it would take hours on a
    CPU) within about 1 GB: measured in a child process, whose peak RSS is its own."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    _write_50_mb_text(corpus / "huge.txt")
    code = (
        "import resource, sys\nfrom pathlib import Path\n"
        "from assistant.loaders import load_document\nfrom assistant.chunking import chunk_document\n"
        "c = Path(sys.argv[1])\nd = load_document(c / 'huge.txt', c, max_bytes=None)\n"
        "n = len(chunk_document(d.doc_id, d.text, d.sections, 200, 32))\n"
        "print(n, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(corpus)],
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    chunks, peak_mb = map(int, done.stdout.split())
    assert chunks > 50_000
    assert peak_mb < 1200, f"peak RSS {peak_mb} MB for a 50 MB text"


# ------------------------------------------------------------------------------------ bad questions

REFUSED = {
    "empty": ("", "empty"),
    "whitespace": (" \t\n  ", "empty"),
    "control-characters": ("\x00\x01\x02\x1b\x7f", "empty"),
    "100k-characters": ("x" * 100_000, "limit"),
}
ODD = {
    "stop-words": "the of and to is it",
    "spanish": "¿Cuál fue la producción minera de tierras raras de China en 2024?",
    "chinese": "中国2024年的稀土矿产量是多少？",
    "number": "2024",
    "control-inside": "\x07What is\x1b[31m the Baotou\x00 rare earth base?",
}


@pytest.mark.parametrize("kind", list(REFUSED))
def test_bad_question_is_a_clear_api_error(assistant: Assistant, kind: str) -> None:
    question, expected = REFUSED[kind]
    for call in (assistant.ask, assistant.retrieve, lambda q: list(assistant.stream(q))):
        with pytest.raises(AssistantError, match=expected):
            call(question)


@pytest.mark.parametrize("kind", list(ODD))
def test_odd_question_gets_an_answer_or_a_refusal(assistant: Assistant, kind: str) -> None:
    answer = assistant.ask(ODD[kind])
    assert isinstance(answer, Answer) and answer.text.strip()
    assert answer.refused or answer.citations
    assert all(h.rank > 0 for h in assistant.retrieve(ODD[kind]))


@pytest.fixture
def runner(shared_index: Any, embedder: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    """The CLI over the shared index, with the session's model (the command would load its own)."""
    monkeypatch.setattr(cli, "_open", lambda s: Assistant.open(s.index_dir, s, embedder=embedder))
    monkeypatch.setenv("ASSISTANT_INDEX_DIR", str(shared_index[0]))
    yield CliRunner()


@pytest.mark.parametrize("command", ["ask", "search"])
@pytest.mark.parametrize("kind", list(REFUSED))
def test_bad_question_is_a_clear_cli_error(runner: CliRunner, command: str, kind: str) -> None:
    question, expected = REFUSED[kind]
    res = runner.invoke(cli.main, [command, question])
    assert res.exit_code == 2, res.output
    assert "error:" in res.output and expected in res.output
    assert "Traceback" not in res.output and len(res.output) < 500


@pytest.mark.parametrize("command", ["ask", "search"])
@pytest.mark.parametrize("kind", list(ODD))
def test_odd_question_through_the_cli(runner: CliRunner, command: str, kind: str) -> None:
    res = runner.invoke(cli.main, [command, ODD[kind], "--json"])
    assert res.exit_code == 0, res.output
    assert res.exception is None and "Traceback" not in res.output
    data = json.loads(res.stdout)
    assert data["answer"].strip() if command == "ask" else isinstance(data, list)


@pytest.fixture(scope="module")
def ui_client(ui_server: Any) -> Iterator[Client]:
    c = Client(ui_server.url, verbose=False, download_files=False)
    yield c
    c.close()


@pytest.mark.parametrize("kind", list(ODD))
def test_odd_question_through_the_ui(ui_client: Client, kind: str) -> None:
    result = ui_client.predict(ODD[kind], api_name="/ask")
    assert result["done"] is True and result["answer"].strip()
    assert result["refused"] or result["citations"]


# ------------------------------------------------------------------------------------ uploads


@pytest.mark.parametrize(
    "name",
    [
        "../../evil.txt",
        "..\\..\\evil.md",
        "/etc/cron.d/evil.txt",
        "sub/../../evil.html",
        "C:\\Windows\\evil.pdf",
        "....//....//evil.txt",
        "%2e%2e%2fevil.txt",
    ],
)
def test_upload_never_writes_outside_the_corpus(tmp_path: Path, name: str) -> None:
    corpus = tmp_path / "deep" / "corpus"
    src = tmp_path / "upload.bin"
    src.write_text("Zorbium notes.", encoding="utf-8")
    stored = store_upload(src, corpus, max_mb=1, original_name=name)
    assert stored.path.parent == corpus and stored.path.read_text(encoding="utf-8") == "Zorbium notes."
    written = {p for p in tmp_path.rglob("*") if p.is_file()}
    assert written == {src, stored.path}, written


def test_upload_refuses_to_follow_a_symlink_in_the_corpus(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    target = tmp_path / "outside.txt"
    target.write_text("keep me", encoding="utf-8")
    (corpus / "notes.txt").symlink_to(target)
    for content in ("keep me", "overwrite"):
        src = tmp_path / "notes.txt"
        src.write_text(content, encoding="utf-8")
        with pytest.raises(UploadRefused, match="already in the corpus"):
            store_upload(src, corpus, max_mb=1)
    assert target.read_text(encoding="utf-8") == "keep me"


@pytest.mark.parametrize(
    "name",
    ["page.svg", "macro.docm", "run.py", "x.txt.exe", "photo.png", "data.json", "README", "archive.zip"],
)
def test_upload_refuses_unknown_types(tmp_path: Path, name: str) -> None:
    src = tmp_path / "src"
    src.write_text("text", encoding="utf-8")
    with pytest.raises(UploadRefused, match="is not accepted"):
        store_upload(src, tmp_path / "corpus", max_mb=1, original_name=name)
    assert not (tmp_path / "corpus").exists() or not any((tmp_path / "corpus").iterdir())


def test_upload_keeps_names_in_other_scripts(tmp_path: Path) -> None:
    assert safe_filename("Отчёт о добыче 2024.pdf") == "Отчёт_о_добыче_2024.pdf"
    assert safe_filename("稀土报告.md") == "稀土报告.md"
    assert safe_filename("Résumé des minéraux.pdf") == "Resume_des_mineraux.pdf"
    assert safe_filename("\u202eevil.txt") == "evil.txt"  # bidi override dropped
    src = tmp_path / "src.md"
    src.write_text("# Отчёт\n\nТекст.", encoding="utf-8")
    assert store_upload(src, tmp_path / "corpus", 1, original_name="../Отчёт.md").path.name == "Отчёт.md"


def test_oversize_upload_is_refused_without_a_trace(tmp_path: Path) -> None:
    src = tmp_path / "big.pdf"
    with src.open("wb") as fh:
        fh.truncate(3 * 2**20)
    with pytest.raises(UploadRefused, match=r"3\.0 MB is over the 2 MB upload limit"):
        store_upload(src, tmp_path / "corpus", max_mb=2)
    assert not (tmp_path / "corpus").exists() or not any((tmp_path / "corpus").iterdir())


# ------------------------------------------------------------------------------------ the UI's address


def test_ui_binds_loopback_unless_told(monkeypatch: pytest.MonkeyPatch) -> None:
    import assistant.ui
    from assistant.ui import launch_options

    monkeypatch.delenv("ASSISTANT_UI_HOST", raising=False)
    options = launch_options(Settings())
    assert options["server_name"] == "127.0.0.1" and not options.get("share")
    served: list[Settings] = []
    monkeypatch.setattr(assistant.ui, "serve", served.append)
    assert CliRunner().invoke(cli.main, ["serve"]).exit_code == 0
    assert served[-1].ui_host == "127.0.0.1"
    assert CliRunner().invoke(cli.main, ["serve", "--host", "0.0.0.0"]).exit_code == 0
    assert served[-1].ui_host == "0.0.0.0"
    monkeypatch.setenv("ASSISTANT_UI_HOST", "192.0.2.10")
    assert CliRunner().invoke(cli.main, ["serve"]).exit_code == 0
    assert served[-1].ui_host == "192.0.2.10"


# ------------------------------------------------------------------------------------ API keys


def test_settings_never_show_secrets() -> None:
    settings = Settings(llm_api_key=KEY, ui_auth=f"ann:{PASSWORD}")
    shown = [
        repr(settings),
        str(settings),
        settings.model_dump_json(),
        repr(settings.model_dump()),
        json.dumps(settings.model_dump(mode="json")),
        f"{settings!r} {settings}",
    ]
    for text in shown:
        assert not leaks(KEY, text) and not leaks(PASSWORD, text)
    assert settings.llm_api_key is not None and settings.llm_api_key.get_secret_value() == KEY


SECRETS = {"ASSISTANT_LLM_API_KEY": KEY, "ASSISTANT_UI_AUTH": f"ann:{PASSWORD}"}


def leaks(secret: str, text: str) -> bool:
    """Whether ``text`` holds ``secret`` or any 8 characters of it in a row (pydantic shortens
    long values to their two ends)."""
    return any(secret[i : i + 8] in text for i in range(max(1, len(secret) - 7)))


def _invalid_settings_env(monkeypatch: pytest.MonkeyPatch, secret: str) -> str:
    """Only ``secret`` and an invalid chunk overlap in the environment (pydantic shortens a long
    input in its message, which would hide a leak by luck)."""
    for name in [n for n in os.environ if n.startswith("ASSISTANT_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv(secret, SECRETS[secret])
    monkeypatch.setenv("ASSISTANT_CHUNK_OVERLAP", "500")
    return SECRETS[secret].partition(":")[2] or SECRETS[secret]


@pytest.mark.parametrize("secret", list(SECRETS))
@pytest.mark.parametrize("args", [["ask", "hi"], ["search", "hi"], ["ingest"], ["serve"], ["chat"]])
def test_invalid_settings_error_names_the_field_not_the_secrets(
    args: list[str], secret: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    hidden = _invalid_settings_env(monkeypatch, secret)
    res = CliRunner().invoke(cli.main, args)
    assert res.exit_code == 2, res.output
    assert "invalid setting" in res.output and "chunk_overlap must be smaller than chunk_tokens" in res.output
    assert not leaks(hidden, res.output) and "Traceback" not in res.output


def test_validation_errors_outside_the_cli_hide_secrets(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    hidden = _invalid_settings_env(monkeypatch, "ASSISTANT_LLM_API_KEY")
    res = CliRunner().invoke(
        cli.main,
        [
            "eval",
            "run",
            str(REPO / "evals" / "rare_earths.yaml"),
            "--limit",
            "1",
            "--out",
            str(tmp_path / "out"),
            "--no-progress",
        ],
    )
    assert res.exit_code == 2 and "chunk_overlap" in res.output and not leaks(hidden, res.output)
    with pytest.raises(ValueError) as caught:
        Settings()
    assert not leaks(hidden, str(caught.value))


def test_eval_report_with_openai_backend_never_contains_the_key(
    shared_index: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The model server rejects the key and echoes it back (as OpenAI does): the report, its
    HTML and markdown, the command's output and the logs must not contain it."""
    from fake_llm_server import FakeLLMServer, Reply

    caplog.set_level(logging.DEBUG)
    out = tmp_path / "out"
    with FakeLLMServer() as server:
        server.queue(*[Reply.error(401, f"Incorrect API key provided: {KEY}") for _ in range(30)])
        monkeypatch.setenv("ASSISTANT_BACKEND", "openai")
        monkeypatch.setenv("ASSISTANT_LLM_BASE_URL", server.openai_url)
        monkeypatch.setenv("ASSISTANT_LLM_MODEL", "fake-model")
        monkeypatch.setenv("ASSISTANT_LLM_API_KEY", KEY)
        res = CliRunner().invoke(
            cli.main,
            [
                "eval",
                "run",
                str(REPO / "evals" / "rare_earths.yaml"),
                "--index",
                str(shared_index[0]),
                "--out",
                str(out),
                "--limit",
                "3",
                "--no-progress",
            ],
        )
        requests = list(server.requests)
    assert res.exit_code in (0, 1), res.output
    assert requests and requests[0].headers.get("Authorization") == f"Bearer {KEY}", "the key was not used"
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["backend"] == "openai" and report["n_errors"] >= 1
    assert any("HTTP 401" in (case["error"] or "") for case in report["cases"])
    files = sorted(out.iterdir())
    assert {p.name for p in files} >= {"report.json", "report.md", "report.html"}
    for path in files:
        assert not leaks(KEY, path.read_text(encoding="utf-8", errors="replace")), path.name
    assert not leaks(KEY, res.output)
    assert not leaks(KEY, caplog.text) and not any(leaks(KEY, r.getMessage()) for r in caplog.records)


def test_onnx_backend_that_cannot_load_is_a_clear_error(tmp_path: Path) -> None:
    """``ASSISTANT_EMBED_BACKEND=onnx`` either works or says why and what to do; no traceback."""
    from assistant.config import Settings
    from assistant.embedders import open_embedder

    try:
        open_embedder(Settings(index_dir=tmp_path / "idx", embed_backend="onnx")).encode(["a question"])
    except AssistantError as exc:
        assert "ASSISTANT_EMBED_BACKEND=onnx" in str(exc) and "torch" in str(exc)
