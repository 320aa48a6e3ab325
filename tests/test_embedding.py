"""The embedders: ONNX Runtime reproduces torch, the export is cached by model hash and refused when
it does not validate, and the LlamaIndex adapter uses public hooks only."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from assistant.types import AssistantError

TEXTS = [
    "Who signed the cooperation framework for the new processing plant?",
    "Output rose to 12,400 tonnes.",
    # past the 256 word-piece limit: both runtimes must cut it at the same place
    " ".join(
        f"Paragraph {i} of the made-up survey lists quarries, smelters and their owners." for i in range(40)
    ),
    "ok",
]


def test_onnx_reproduces_torch_on_short_long_and_mixed_batches(embedder) -> None:
    from assistant import Settings
    from assistant.embedding import TorchEmbedder

    torch_embedder = TorchEmbedder(Settings())
    assert embedder.backend == "onnx" and torch_embedder.model_id == embedder.model_id
    assert torch_embedder.dim == embedder.dim == 384
    want = torch_embedder.encode(TEXTS)
    got = embedder.encode(TEXTS)
    cos = (want * got).sum(axis=1)
    assert cos.min() >= 0.9999, cos
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    one = embedder.encode_query(TEXTS[0])
    assert float(one @ want[0]) >= 0.9999  # alone or in a padded batch: the same vector


def test_the_export_lives_in_the_user_cache_keyed_by_the_model_hash(monkeypatch, tmp_path: Path) -> None:
    from assistant import Settings
    from assistant.embedding import cache_dir, model_hash, model_path
    from assistant.onnx_embedder import onnx_dir

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    settings = Settings()
    assert cache_dir(settings) == tmp_path / "xdg" / "corpus-assistant"
    assert cache_dir(Settings(embed_cache_dir=tmp_path / "mine")) == tmp_path / "mine"
    folder = onnx_dir(settings)
    digest = model_hash(model_path(settings))
    assert folder.parent == tmp_path / "xdg" / "corpus-assistant" / "onnx" and digest[:16] in folder.name
    assert "site-packages" not in str(folder)


@pytest.fixture
def export_copy(embedder, tmp_path: Path):
    """The session's validated export copied into a private cache (tests may damage it)."""
    from assistant import Settings
    from assistant.onnx_embedder import onnx_dir

    embedder.encode(["load"])  # the session's export exists and validated
    src = onnx_dir(embedder.settings)
    settings = Settings(embed_cache_dir=tmp_path / "cache", embed_backend="onnx")
    dest = onnx_dir(settings)
    shutil.copytree(src, dest)
    return settings, dest


def test_an_export_that_does_not_reproduce_torch_is_refused(export_copy) -> None:
    from assistant.onnx_embedder import META_FILE, OnnxEmbedder

    settings, folder = export_copy
    meta = json.loads((folder / META_FILE).read_text())
    meta["probe_vectors"][2] = [-x for x in meta["probe_vectors"][2]]
    (folder / META_FILE).write_text(json.dumps(meta))
    with pytest.raises(AssistantError) as err:
        OnnxEmbedder(settings).encode(["a question"])
    assert "does not reproduce the torch model" in str(err.value) and "probe 2" in str(err.value)
    assert str(folder) in str(err.value) and "ASSISTANT_EMBED_BACKEND=torch" in str(err.value)


def test_a_damaged_onnx_file_is_a_clear_error(export_copy) -> None:
    from assistant.onnx_embedder import ONNX_FILE, OnnxEmbedder

    settings, folder = export_copy
    (folder / ONNX_FILE).write_bytes(b"not a model")
    with pytest.raises(AssistantError, match=r"cannot load .*model\.onnx.*export it again"):
        OnnxEmbedder(settings).encode(["a question"])


def test_an_export_of_another_model_is_refused(export_copy) -> None:
    from assistant.onnx_embedder import META_FILE, OnnxEmbedder

    settings, folder = export_copy
    meta = json.loads((folder / META_FILE).read_text())
    meta["dim"] = 768
    (folder / META_FILE).write_text(json.dumps(meta))
    with pytest.raises(AssistantError, match="exported from another model"):
        OnnxEmbedder(settings).encode(["a question"])


def test_llama_index_adapter_embeds_through_the_embedder(embedder) -> None:
    model = embedder.model
    assert model is embedder.model, "one adapter per embedder"
    text_vec = model.get_text_embedding_batch(TEXTS[:2])
    assert np.allclose(np.asarray(text_vec), embedder.encode(TEXTS[:2]), atol=1e-6)
    assert model.get_query_embedding(TEXTS[0]) == embedder.query(TEXTS[0])


def test_the_int8_variant_is_another_model_id_and_needs_onnx(embedder) -> None:
    from pydantic import ValidationError

    from assistant import Settings
    from assistant.embedders import open_embedder

    int8 = open_embedder(Settings(embed_quantized=True), "ingest")
    assert int8.backend == "onnx" and int8.model_id == embedder.model_id + "+int8"
    cos = (int8.encode(TEXTS) * embedder.encode(TEXTS)).sum(axis=1)
    assert cos.min() > 0.8 and cos.max() < 0.9999, "close to the fp32 model, but not the same vectors"
    with pytest.raises(ValidationError, match="embed_quantized needs"):
        Settings(embed_backend="torch", embed_quantized=True)
