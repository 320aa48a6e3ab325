"""Load: many questions at once give the same answers as one at a time, without errors.

200 questions from threads through the Python API (all released together by a barrier), and 50
concurrent questions through the UI's ``/ask`` endpoint with ``gradio_client``. Latency under
load is measured by ``benchmarks/bench_load.py`` (p95 in benchmarks/README.md), not here.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gradio_client import Client

from assistant import Assistant
from assistant.evals.dataset import load_eval_sets

pytest_plugins = ["ui_fixtures"]

EVALSET = Path(__file__).resolve().parents[1] / "evals" / "rare_earths.yaml"


def _questions(n: int) -> list[str]:
    """``n`` single-turn questions of the shipped eval set, answerable and out-of-corpus mixed."""
    cases = [c for c in load_eval_sets([EVALSET]) if not c.history]
    answerable = [c.question for c in cases if c.answerable]
    unanswerable = [c.question for c in cases if not c.answerable]
    picked = answerable[: n - n // 4] + unanswerable[: n // 4]
    assert len(picked) == n
    return picked


def _all_at_once(fn: Callable[[str], Any], items: list[str]) -> tuple[list[Any], list[str]]:
    """``fn(item)`` on one thread per item, all released together; results and errors."""
    results: list[Any] = [None] * len(items)
    errors: list[str] = []
    barrier = threading.Barrier(len(items))
    lock = threading.Lock()

    def one(i: int) -> None:
        barrier.wait()
        try:
            results[i] = fn(items[i])
        except Exception as exc:  # recorded, asserted below
            with lock:
                errors.append(f"{items[i]!r}: {type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(len(items))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=900)
    assert not any(t.is_alive() for t in threads), "a question never returned"
    return results, errors


def test_200_threaded_questions_answer_as_sequential_ones(shared_index: Any, embedder: Any) -> None:
    index_dir, _ = shared_index
    questions = _questions(20)
    items = [questions[i % len(questions)] for i in range(200)]
    loaded = Assistant.open(index_dir, embedder=embedder)  # a fresh instance: its snapshot loads under load

    results, errors = _all_at_once(loaded.ask, items)

    assert errors == []
    sequential = Assistant.open(index_dir, embedder=embedder)
    reference = {q: sequential.ask(q) for q in questions}
    differing = [
        q
        for q, got in zip(items, results, strict=True)
        if (got.text, got.refused, [(c.doc_id, c.quote) for c in got.citations])
        != (reference[q].text, reference[q].refused, [(c.doc_id, c.quote) for c in reference[q].citations])
    ]
    assert differing == []
    assert sum(not r.refused for r in results) >= 150  # mostly answerable questions were answered


def test_50_concurrent_ui_questions_answer_as_sequential_ones(ui_server: Any) -> None:
    questions = _questions(25)
    items = [questions[i % len(questions)] for i in range(50)]
    client = Client(ui_server.url, verbose=False, download_files=False)
    try:
        jobs = [client.submit(q, api_name="/ask") for q in items]  # all queued at once
        results, errors = [], []
        for q, job in zip(items, jobs, strict=True):
            try:
                results.append(job.result(timeout=600))
            except Exception as exc:  # recorded, asserted below
                errors.append(f"{q!r}: {type(exc).__name__}: {exc}")
        assert errors == []
        reference = {q: client.predict(q, api_name="/ask") for q in questions}
    finally:
        client.close()

    def key(r: dict[str, Any]) -> tuple[Any, ...]:
        return (r["answer"], r["refused"], [(c["doc_id"], c["quote"]) for c in r["citations"]])

    assert all(r["done"] for r in results)
    assert [q for q, r in zip(items, results, strict=True) if key(r) != key(reference[q])] == []
