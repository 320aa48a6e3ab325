"""Sentence vectors computed at ingest, so an answer need not embed its passages' sentences.

A cold answer spent 85% of its time embedding the candidate sentences of its passages (profiled at
10k chunks). After an ingest, every candidate unit of every committed chunk (as the answerer reads
a passage: :func:`assistant.answer.candidates.unit_texts`) is embedded once and stored here; the
answerer's ``encode_cached`` finds them by text (a unit that spans two chunks, or a row whose
headers lie in the chunk before, is still embedded at question time).

Layout (``<index>/sentences/``, replaced atomically): ``keys.npy`` (sorted 16-byte BLAKE2 digests
of the texts), ``vectors.npy`` (float32 rows in the same order, memory-mapped when read) and
``meta.json`` (the ``model_id`` and ``dim`` that made them; another model's store is ignored).
Vectors depend only on the text and the model, so entries of removed chunks are harmless; a
``--rebuild`` starts the store afresh.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from assistant.embedding import Embedder

STORE_DIR = "sentences"
ENCODE_GROUP = 512  # sentences per encode call while filling the store


def digest(text: str) -> bytes:
    """The store's key of ``text``."""
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


class SentenceStore:
    """Read side: vectors of known texts, reloaded when an ingest replaced the store."""

    def __init__(self, index_dir: Path, model_id: str) -> None:
        self.folder = index_dir / STORE_DIR
        self.model_id = model_id
        self._stamp: int | None = None
        self._keys: np.ndarray | None = None
        self._vectors: np.ndarray | None = None
        self._lock = threading.Lock()

    def arrays(self) -> tuple[np.ndarray | None, np.ndarray | None]:
        """The sorted keys and their vectors (memory-mapped), or ``(None, None)``."""
        try:
            stamp = (self.folder / "meta.json").stat().st_mtime_ns
        except OSError:
            return None, None
        with self._lock:
            if stamp != self._stamp:
                self._keys = self._vectors = None
                try:
                    meta = json.loads((self.folder / "meta.json").read_text(encoding="utf-8"))
                    if meta.get("model_id") == self.model_id:
                        self._keys = np.load(self.folder / "keys.npy")
                        self._vectors = np.load(self.folder / "vectors.npy", mmap_mode="r")
                except (OSError, ValueError):
                    pass  # unreadable: answers embed their sentences as before
                self._stamp = stamp
            return self._keys, self._vectors

    def __len__(self) -> int:
        keys, _ = self.arrays()
        return 0 if keys is None else len(keys)

    def lookup(self, texts: Sequence[str]) -> dict[int, np.ndarray]:
        """``{position in texts: vector}`` for the texts the store holds."""
        keys, vectors = self.arrays()
        if keys is None or vectors is None or not len(keys) or not texts:
            return {}
        wanted = np.array([digest(t) for t in texts], dtype=keys.dtype)
        pos = np.searchsorted(keys, wanted)
        pos[pos >= len(keys)] = 0
        found = np.nonzero(keys[pos] == wanted)[0]
        return {int(i): np.asarray(vectors[pos[i]], dtype=np.float32) for i in found}


def chunk_sentences(texts: Sequence[str]) -> list[str]:
    """The texts the answerer embeds for each chunk: the scoring text of each of its candidate
    units (:func:`assistant.answer.candidates.unit_texts`: sentences, lists with their items,
    table rows with their headers)."""
    from assistant.answer.candidates import unit_texts

    return [u for t in texts for u in unit_texts(t)]


def fill(index_dir: Path, texts: Sequence[str], embedder: Embedder, *, rebuild: bool = False) -> int:
    """Embed the ``texts`` the store lacks and write the store again; returns how many were added.
    Call it while holding the index lock (one writer)."""
    folder = index_dir / STORE_DIR
    keys = np.zeros(0, dtype="S16")
    vectors = np.zeros((0, embedder.dim), dtype=np.float32)
    if not rebuild:
        store = SentenceStore(index_dir, embedder.model_id)
        k, v = store.arrays()
        if k is not None and v is not None:
            keys, vectors = k, np.asarray(v)
    # compared as numpy S16 values throughout (numpy drops a digest's trailing zero bytes)
    digests = np.array([digest(t) for t in texts], dtype="S16")
    unique, first = np.unique(digests, return_index=True)
    missing = ~np.isin(unique, keys)
    if not missing.any() and (folder / "meta.json").exists() and not rebuild:
        return 0
    new_keys = unique[missing]
    items = [texts[int(i)] for i in first[missing]]
    parts = [vectors]
    for start in range(0, len(items), ENCODE_GROUP):
        parts.append(np.asarray(embedder.encode(items[start : start + ENCODE_GROUP]), dtype=np.float32))
    all_keys = np.concatenate([keys, new_keys])
    all_vectors = np.concatenate(parts) if parts else vectors
    order = np.argsort(all_keys, kind="stable")
    _write(folder, all_keys[order], all_vectors[order], embedder)
    return len(items)


def _write(folder: Path, keys: np.ndarray, vectors: np.ndarray, embedder: Embedder) -> None:
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{STORE_DIR}-"))
    try:
        np.save(tmp / "keys.npy", keys)
        np.save(tmp / "vectors.npy", vectors)
        meta: dict[str, Any] = {
            "model_id": embedder.model_id,
            "dim": int(embedder.dim),
            "sentences": len(keys),
        }
        (tmp / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
        old = folder.with_name(f".{STORE_DIR}-old-{os.getpid()}")
        if folder.exists():
            os.replace(folder, old)
        os.replace(tmp, folder)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


class StoredSentences(Embedder):
    """An index's view of an embedder: :meth:`encode_cached` looks in the index's sentence store
    first; everything else is the shared embedder's (its caches included)."""

    def __init__(self, inner: Embedder, store: SentenceStore) -> None:
        super().__init__(cache_size=0)
        self.inner, self.store = inner, store
        self.model_id, self.dim, self.backend = inner.model_id, inner.dim, inner.backend
        self.max_seq_length = inner.max_seq_length

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        return self.inner.encode(texts)

    def encode_query(self, text: str) -> np.ndarray:
        return self.inner.encode_query(text)

    def query(self, text: str) -> list[float]:
        return self.inner.query(text)

    def encode_cached(self, texts: Sequence[str]) -> np.ndarray:
        found = self.store.lookup(texts)
        if len(found) == len(texts):
            return np.stack([found[i] for i in range(len(texts))])
        missing = [i for i in range(len(texts)) if i not in found]
        computed = self.inner.encode_cached([texts[i] for i in missing])
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, v in found.items():
            out[i] = v
        out[missing] = computed
        return out

    def clear_caches(self) -> None:
        self.inner.clear_caches()

    @property
    def model(self) -> Any:
        return self.inner.model
