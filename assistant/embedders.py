"""Choosing an embedder: the one ``settings.embed_backend`` asks for, for queries or ingestion.

Its own module because it knows both implementations (:mod:`assistant.embedding` for torch,
:mod:`assistant.onnx_embedder` for ONNX Runtime), which import the protocol from the first.
"""

from __future__ import annotations

from typing import Literal

from assistant.config import Settings
from assistant.embedding import Embedder, TorchEmbedder
from assistant.onnx_embedder import OnnxEmbedder

Purpose = Literal["query", "ingest"]
# what ``embed_backend="auto"`` ingests with: ONNX Runtime, whose chunks/s equals torch's
# (benchmarks/results/onnx.json: 1.00x, five alternating runs) and which spares an ingest torch's
# import and model load (5-7 s) and memory (a server that ingests uploads never loads torch)
AUTO_INGEST: Literal["torch", "onnx"] = "onnx"


def open_embedder(settings: Settings, purpose: Purpose = "query", *, cache_size: int = 512) -> Embedder:
    """The embedder ``settings.embed_backend`` asks for: ``torch``, ``onnx``, or ``auto``: ONNX
    Runtime for queries, and for ingestion the faster of the two on chunk-sized texts
    (:data:`AUTO_INGEST`, measured side by side by ``benchmarks/bench_onnx.py``)."""
    backend = settings.embed_backend
    on_torch = backend == "torch" or (backend == "auto" and purpose == "ingest" and AUTO_INGEST == "torch")
    if on_torch and not settings.embed_quantized:  # int8 vectors exist on ONNX Runtime only
        return TorchEmbedder(settings, cache_size)

    return OnnxEmbedder(settings, cache_size=cache_size)
