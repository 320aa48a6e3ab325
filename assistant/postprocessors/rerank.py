"""The reranker slot: a local cross-encoder reorders the candidates before hits are chosen."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from assistant.postprocessors.base import LlamaIndexPostprocessor, QueryContext, ScoredChunk
from assistant.types import AssistantError


class CrossEncoderRerank(LlamaIndexPostprocessor):
    """LlamaIndex's ``SentenceTransformerRerank`` over ``Settings.rerank_model`` (a local
    cross-encoder folder; nothing is downloaded). Its scores are min-max scaled to 0..1 so the
    diversity penalty keeps its meaning. Loads sentence-transformers, so only when configured."""

    name = "rerank"

    def __init__(self, model_dir: str, top_n: int) -> None:
        path = Path(model_dir).expanduser()
        if not (path / "config.json").is_file():
            raise AssistantError(
                f"ASSISTANT_RERANK_MODEL={model_dir!r} is not a local cross-encoder folder (no config.json); "
                "models are never downloaded here: unset it to retrieve without a reranker"
            )
        from llama_index.core.postprocessor import SentenceTransformerRerank

        super().__init__(SentenceTransformerRerank(model=str(path), top_n=top_n, device="cpu"), self.name)

    def postprocess_nodes(self, nodes: list[ScoredChunk], query: QueryContext) -> list[ScoredChunk]:
        out = super().postprocess_nodes(nodes, query)
        pool = [n for n in out if n.role == "candidate"]
        if pool:
            lo, hi = min(n.score for n in pool), max(n.score for n in pool)
            for n in pool:
                n.score = (n.score - lo) / (hi - lo) if hi > lo else 1.0
        return out


def make(settings: Any) -> CrossEncoderRerank | None:
    """The configured reranker, or None when ``rerank_model`` is unset."""
    if not settings.rerank_model:
        return None
    return CrossEncoderRerank(
        settings.rerank_model, top_n=max(settings.dense_candidates, settings.bm25_candidates)
    )
