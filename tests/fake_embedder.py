"""A deterministic stand-in for the embedding model, for the fast test tier.

Like simonw/llm's ``EmbedDemo``, it implements the real protocol (``assistant.embedding.Embedder``)
with something trivial: each word (lower-cased, a trailing plural ``s`` dropped) is hashed into one
of ``dim`` buckets, the counts are L2-normalised. Texts sharing words are close, so retrieval and
answers behave sensibly on made-up text; it loads nothing and imports neither torch nor a model
runtime. Inject it with ``Assistant.open(index_dir, settings, embedder=FakeEmbedder())``; an index
built with it records ``model_id = "fake-hashed-words-v1"`` and refuses the real model (and back).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

import numpy as np

from assistant.embedding import Embedder

_WORD = re.compile(r"[a-z0-9]+")


class FakeEmbedder(Embedder):
    """Hashed bag of words; ``encode`` is pure and deterministic across processes."""

    model_id = "fake-hashed-words-v1"
    backend = "fake"

    def __init__(self, dim: int = 256) -> None:
        super().__init__()
        self.dim = dim
        self.calls = 0  # texts embedded, so a test can tell a cache hit from a miss

    def _bucket(self, word: str) -> int:
        return int.from_bytes(hashlib.blake2b(word.encode(), digest_size=4).digest(), "little") % self.dim

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += len(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in _WORD.findall(text.lower()):
                if len(word) > 3 and word.endswith("s"):
                    word = word[:-1]
                out[row, self._bucket(word)] += 1.0
            norm = float(np.linalg.norm(out[row]))
            out[row] = out[row] / norm if norm else out[row]
            if not norm:
                out[row, 0] = 1.0  # an empty text still gets a unit vector
        return out
