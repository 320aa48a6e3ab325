"""A stand-in ONNX Runtime embedder for the benchmarks (not part of the package).

``Settings(embed_backend="onnx")`` cannot load here (see ``bench_onnx.py``), so to tell whether an
ONNX path is worth having, this module exports the packaged all-MiniLM-L6-v2 weights with
``torch.onnx.export`` (the TorchScript exporter; needs the ``onnx`` package, which the benchmarks
install into ``results/tmp/pydeps``) and runs them with ``onnxruntime``: tokenise, run, mean-pool
over the attention mask, L2-normalise, exactly what the sentence-transformers model does.

``OrtEmbedder`` quacks like ``assistant.embedding.Embedder`` so ``Assistant.open(embedder=...)``
uses it for ingestion (through a LlamaIndex ``BaseEmbedding``), retrieval and extractive answers.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common

MAX_LEN = 256
INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def onnx_path() -> Path:
    return common.TMP / "onnx" / "all-MiniLM-L6-v2.onnx"


def ensure_onnx_importable() -> None:
    if common.PYDEPS.is_dir() and str(common.PYDEPS) not in sys.path:
        sys.path.append(str(common.PYDEPS))
    import onnx  # noqa: F401  (raises ImportError when missing)


def export(model_dir: str, target: Path) -> dict[str, Any]:
    """Export the transformer of ``model_dir`` to ``target`` (last_hidden_state output)."""
    ensure_onnx_importable()
    import warnings

    import torch
    from transformers import AutoModel, AutoTokenizer

    target.parent.mkdir(parents=True, exist_ok=True)
    model = AutoModel.from_pretrained(model_dir).eval()
    tok = AutoTokenizer.from_pretrained(model_dir)

    class Hidden(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            return self.inner(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    enc = tok(["hello world", "a longer sentence about rare earths"], padding=True, return_tensors="pt")
    started = time.perf_counter()
    tmp = target.with_suffix(".tmp")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            Hidden(model),
            tuple(enc[k] for k in INPUTS),
            str(tmp),
            input_names=list(INPUTS),
            output_names=["last_hidden_state"],
            dynamic_axes={k: {0: "batch", 1: "seq"} for k in [*INPUTS, "last_hidden_state"]},
            opset_version=17,
            dynamo=False,
        )
    os.replace(tmp, target)
    return {"export_s": round(time.perf_counter() - started, 2), "bytes": target.stat().st_size}


class OrtEncoder:
    """Tokeniser + ONNX Runtime session: ``encode(texts) -> normalised float32 array``."""

    def __init__(self, model_dir: str, path: Path, batch_size: int = 32) -> None:
        import onnxruntime as ort
        from transformers import AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = os.cpu_count() or 1
        self.session = ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
        self.batch_size = batch_size

    def encode(self, texts: list[str]) -> Any:
        import numpy as np

        out = np.zeros((len(texts), 384), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))  # as sentence-transformers does
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            enc = self.tokenizer(
                [texts[i] for i in idx],
                padding=True,
                truncation=True,
                max_length=MAX_LEN,
                return_tensors="np",
            )
            hidden = self.session.run(None, {k: enc[k].astype(np.int64) for k in INPUTS})[0]
            mask = enc["attention_mask"][..., None].astype(np.float32)
            vec = (hidden * mask).sum(1) / np.clip(mask.sum(1), 1e-9, None)
            vec /= np.clip(np.linalg.norm(vec, axis=1, keepdims=True), 1e-12, None)
            out[idx] = vec
        return out


def make_llama_embedding(encoder: OrtEncoder) -> Any:
    """A LlamaIndex ``BaseEmbedding`` over ``encoder`` (for the ingestion pipeline and the index)."""
    from llama_index.core.base.embeddings.base import BaseEmbedding
    from pydantic import PrivateAttr

    class OrtEmbedding(BaseEmbedding):
        _enc: Any = PrivateAttr()

        def __init__(self, enc: OrtEncoder) -> None:
            super().__init__(model_name="all-MiniLM-L6-v2 (onnxruntime)", embed_batch_size=enc.batch_size)
            self._enc = enc

        def _get_query_embedding(self, query: str) -> list[float]:
            return self._enc.encode([query])[0].tolist()

        async def _aget_query_embedding(self, query: str) -> list[float]:
            return self._get_query_embedding(query)

        def _get_text_embedding(self, text: str) -> list[float]:
            return self._enc.encode([text])[0].tolist()

        def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
            return self._enc.encode(list(texts)).tolist()

    return OrtEmbedding(encoder)


def make_embedder(settings: Any) -> Any:
    """An object with the interface of ``assistant.embedding.Embedder`` backed by ONNX Runtime."""
    from assistant.embedding import Embedder, model_path

    model_dir = str(model_path(settings))
    path = onnx_path()
    if not path.exists():
        export(model_dir, path)
    encoder = OrtEncoder(model_dir, path, settings.embed_batch_size)

    class OrtEmbedder(Embedder):
        def __init__(self) -> None:  # no super().__init__: that would load the torch model
            self.model = make_llama_embedding(encoder)
            self.name = "all-MiniLM-L6-v2-onnx"
            self.dim = 384
            self._cache: OrderedDict[str, list[float]] = OrderedDict()
            self._cache_size = 512
            self._sent_cache: OrderedDict[str, object] = OrderedDict()
            self._lock = threading.Lock()

        @property
        def max_seq_length(self) -> int:
            return MAX_LEN

        def encode(self, texts: list[str]) -> Any:
            return encoder.encode(list(texts))

    return OrtEmbedder()
