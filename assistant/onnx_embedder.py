"""The embedding model on ONNX Runtime: exported once from the packaged weights, validated on load.

Export (needs torch, transformers, sentence-transformers and ``onnx``; run by ``make install``, or
on first use when the file is missing): the model folder's transformer with mean pooling and L2
normalisation inside the graph, written with ``torch.onnx.export`` to
``<cache>/onnx/<model>-<hash>/model.onnx`` next to ``meta.json``, which holds the dimension, the
word-piece limit and the vectors sentence-transformers gives for a fixed probe set. The cache
folder is keyed by the hash of the model's files (``assistant.embedding.model_hash``) and lives
under the user's cache (``Settings.embed_cache_dir``), never inside site-packages.

Load (needs only ``onnxruntime``, ``tokenizers`` and numpy): the probe set is embedded again and
must match the stored vectors (same dimension, cosine >= ``MIN_PROBE_COSINE``); otherwise the file
is refused with an error saying how to re-export it.

``Settings.embed_quantized`` uses an int8 copy (``onnxruntime.quantization.quantize_dynamic``,
made on first use). Its vectors differ from torch's (cosine ~0.95), so its ``model_id`` carries
``+int8``: an index is built and queried with the same setting. It is validated against the probe
vectors it gave when it was made. Measured hit@5/MRR within 0.01 of torch on both eval sets
(benchmarks/README.md), answers differ; off by default.

Written here because sentence-transformers' own ONNX backend needs ``optimum.onnxruntime``, which
no installable optimum release provides next to sentence-transformers 6 (benchmarks/README.md).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from assistant.config import Settings
from assistant.embedding import (
    Embedder,
    cache_dir,
    model_dim,
    model_hash,
    model_id_for,
    model_name,
    model_path,
    word_piece_limit,
)
from assistant.types import AssistantError

EXPORT_VERSION = 2  # part of meta.json: bump when the export recipe changes
MIN_PROBE_COSINE = 0.9999
PAD_SLACK = 1.3  # a batch's padded size may be at most this times its real tokens
ONNX_FILE = "model.onnx"
META_FILE = "meta.json"
INT8_FILE = "model.int8.onnx"  # Settings.embed_quantized: weights quantised to int8 (dynamic)
INT8_META = "int8.json"
INPUTS = ("input_ids", "attention_mask", "token_type_ids")

# a fixed probe set (made up, varied in vocabulary, short: it is embedded at every load; truncation at
# the word-piece limit is checked against torch by the tests); torch vectors are stored at export
PROBES = (
    "hello",
    "The committee met on 3 March 2021 to review the supply agreement.",
    "What quantity of ore did the northern mine ship last year, and at what price per tonne?",
    "Zorbium-7 alloys, first refined in 1987, resist corrosion at 900 °C.",
    "A short note.",
    "Rare-earth magnets, ores and oxides: output, prices and export quotas by country and year, "
    "with the agencies, companies and agreements that set them.",
    "Exports fell 12.5% after the new licensing rules took effect in the second quarter.",
    "Who signed the memorandum of understanding between the two agencies?",
)


def onnx_dir(settings: Settings, model_dir: Path | None = None) -> Path:
    """The cache folder of ``model_dir``'s export (default: the configured model)."""
    model_dir = model_dir or model_path(settings)
    cache = cache_dir(settings)
    return cache / "onnx" / f"{model_name(model_dir)}-{model_hash(model_dir, cache)[:16]}"


def _check_exportable(model_dir: Path) -> None:
    """Only mean pooling is reproduced in the graph; anything else stays on torch."""
    pooling = model_dir / "1_Pooling" / "config.json"
    try:
        cfg = json.loads(pooling.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise AssistantError(
            f"{pooling} is missing: the ONNX export supports mean-pooling sentence-transformers "
            "models only; set ASSISTANT_EMBED_BACKEND=torch for this model"
        ) from exc
    modes = [k for k, v in cfg.items() if k.startswith("pooling_mode_") and v]
    if modes != ["pooling_mode_mean_tokens"]:
        raise AssistantError(
            f"{model_dir} pools with {', '.join(modes) or 'nothing'}; the ONNX export supports mean "
            "pooling only: set ASSISTANT_EMBED_BACKEND=torch for this model"
        )


@contextlib.contextmanager
def _export_lock(folder: Path) -> Iterator[None]:
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.parent / f".{folder.name}.lock", "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)  # a second process waits for the first export
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def export(settings: Settings, *, quiet: bool = False) -> Path:
    """Export the configured model to ONNX (once: an existing valid export is kept); returns the folder."""
    model_dir = model_path(settings)
    target = onnx_dir(settings, model_dir)
    if _current(target):
        return target
    _check_exportable(model_dir)
    with _export_lock(target):
        if _current(target):
            return target
        if not quiet:
            print(f"exporting the embedding model to ONNX once: {target}", file=sys.stderr)
        tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
        try:
            meta = _export_into(model_dir, tmp, settings)
            (tmp / META_FILE).write_text(json.dumps(meta), encoding="utf-8")
            shutil.rmtree(target, ignore_errors=True)
            os.replace(tmp, target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def _current(folder: Path) -> bool:
    """Whether ``folder`` holds an export made by this recipe (``EXPORT_VERSION``)."""
    try:
        meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return meta.get("export_version") == EXPORT_VERSION and (folder / ONNX_FILE).is_file()


def _export_graph(model_dir: Path, file: Path) -> Any:
    """``torch.onnx.export`` of the transformer with pooling and normalisation; returns its config."""
    from assistant.embedding import set_offline_env

    set_offline_env()
    try:
        import onnx  # noqa: F401  (torch.onnx.export needs it)
        import torch
        from transformers import AutoModel
    except ImportError as exc:
        raise AssistantError(
            f"exporting the embedding model to ONNX needs torch, transformers and onnx ({exc}); "
            "run `make install`, or set ASSISTANT_EMBED_BACKEND=torch"
        ) from exc
    import warnings

    # eager attention exports as plain MatMul/Softmax, which ONNX Runtime's optimizer can fuse
    transformer = AutoModel.from_pretrained(str(model_dir), attn_implementation="eager").eval()

    class Pooled(torch.nn.Module):
        """The transformer, then mean pooling over the attention mask and L2 normalisation, as
        sentence-transformers' Pooling and Normalize modules compute them."""

        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            hidden = self.inner(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2.0, dim=1)

    ids = torch.tensor([[101, 7592, 2088, 102], [101, 7592, 102, 0]])
    mask = (ids != 0).long()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(
            Pooled(transformer),
            (ids, mask, torch.zeros_like(ids)),
            str(file),
            input_names=list(INPUTS),
            output_names=["sentence_embedding"],
            dynamic_axes={**{k: {0: "batch", 1: "seq"} for k in INPUTS}, "sentence_embedding": {0: "batch"}},
            opset_version=17,
            dynamo=False,
        )
    return transformer.config


def _export_into(model_dir: Path, folder: Path, settings: Settings) -> dict[str, Any]:
    import torch

    from assistant.embedding import TorchEmbedder

    started = time.perf_counter()
    config = _export_graph(model_dir, folder / ONNX_FILE)
    fused = _fuse(folder / ONNX_FILE, config)
    reference = TorchEmbedder(settings, cache_size=0)
    probes = reference.encode(list(PROBES))
    return {
        "export_version": EXPORT_VERSION,
        "model_id": reference.model_id,
        "dim": int(probes.shape[1]),
        "max_seq_length": reference.max_seq_length,
        "torch": torch.__version__,
        "export_s": round(time.perf_counter() - started, 2),
        "fused": fused,
        "probes": list(PROBES),
        "probe_vectors": probes.astype(float).round(7).tolist(),
    }


def quantize(settings: Settings, *, quiet: bool = False) -> Path:
    """The int8 copy of the export (made once next to it); returns the export folder."""
    folder = export(settings, quiet=quiet)
    if (folder / INT8_META).is_file() and (folder / INT8_FILE).is_file():
        return folder
    with _export_lock(folder):
        if (folder / INT8_META).is_file():
            return folder
        try:
            from onnxruntime.quantization import QuantType, quantize_dynamic
        except ImportError as exc:
            raise AssistantError(
                f"quantising the ONNX model needs the onnx package ({exc}); run `make install`, "
                "or unset ASSISTANT_EMBED_QUANTIZED"
            ) from exc
        if not quiet:
            print(f"quantising the ONNX embedding model to int8 once: {folder}", file=sys.stderr)
        # quantised from a plain (unfused) export: measured within 0.01 hit@5/MRR of torch on both
        # eval sets; quantising the fused graph (all ops, or MatMul only) lost 0.011-0.012 MRR on one
        scratch = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.int8."))
        try:
            _export_graph(model_path(settings), scratch / ONNX_FILE)
            quantize_dynamic(str(scratch / ONNX_FILE), str(scratch / INT8_FILE), weight_type=QuantType.QInt8)
            os.replace(scratch / INT8_FILE, folder / INT8_FILE)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
        probe = OnnxEmbedder(settings.model_copy(update={"embed_quantized": True}), cache_size=0)
        probe._tokenizer = probe._make_tokenizer()
        probe._session = probe._make_session(folder / INT8_FILE)
        vecs = probe._run(list(meta["probes"]))
        torch_vecs = np.asarray(meta["probe_vectors"], dtype=np.float32)
        int8 = {
            "export_version": EXPORT_VERSION,
            "model_id": probe.model_id,
            "dim": int(vecs.shape[1]),
            "probes": meta["probes"],
            "probe_vectors": vecs.astype(float).round(7).tolist(),
            "min_cosine_to_torch": float((vecs * torch_vecs).sum(axis=1).min()),
        }
        (folder / INT8_META).write_text(json.dumps(int8), encoding="utf-8")
    return folder


def _fuse(file: Path, config: Any) -> dict[str, int]:
    """Fuse attention, layer norms and GELU with ONNX Runtime's transformer optimizer (measured on
    chunk texts: 6.6-7.2 -> 8.1-8.6 chunks/s, torch 8.5); the file is kept unfused when the
    optimizer does not know the architecture. Returns the fused operator counts."""
    try:
        from onnxruntime.transformers import optimizer

        model = optimizer.optimize_model(
            str(file),
            model_type="bert",
            num_heads=int(config.num_attention_heads),
            hidden_size=int(config.hidden_size),
        )
        stats = {k: int(v) for k, v in model.get_fused_operator_statistics().items() if v}
        if not stats.get("Attention"):
            return {}
        model.save_model_to_file(str(file))
        return stats
    except Exception:  # an architecture the optimizer cannot read: the plain export still works
        return {}


class OnnxEmbedder(Embedder):
    """The exported model on ONNX Runtime, with the model folder's own ``tokenizer.json``.

    Loads lazily: ``model_id`` and ``dim`` are known at once (an index's compatibility check needs
    no model); the session is created, and the export made if missing, at the first encode."""

    backend = "onnx"

    def __init__(self, settings: Settings, *, cache_size: int = 512) -> None:
        super().__init__(cache_size=cache_size)
        self.settings = settings
        self.path = model_path(settings)
        self.model_id = model_id_for(self.path, model_hash(self.path, cache_dir(settings)))
        self.quantized = settings.embed_quantized
        if self.quantized:
            self.model_id += "+int8"  # other vectors: an index built with fp32 (or torch) refuses them
        self.dim = model_dim(self.path)
        self.max_seq_length = word_piece_limit(self.path)
        self.batch_size = settings.embed_batch_size
        self._session: Any = None
        self._tokenizer: Any = None
        self._load_lock = threading.Lock()

    def load(self) -> None:
        """Create the session (exporting first if needed) and validate it on the probe set."""
        with self._load_lock:
            if self._session is not None:
                return
            folder = onnx_dir(self.settings, self.path)
            if not (folder / META_FILE).is_file() or not _current(folder):
                folder = export(self.settings)  # missing, or made by an older recipe
            try:
                meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise AssistantError(f"{folder / META_FILE} is unreadable ({exc}); {_redo(folder)}") from exc
            file = folder / ONNX_FILE
            if self.quantized:
                folder = quantize(self.settings)
                meta = json.loads((folder / INT8_META).read_text(encoding="utf-8"))
                file = folder / INT8_FILE
            self._tokenizer = self._make_tokenizer()
            self._session = self._make_session(file)
            self._validate(meta, folder)

    def _make_tokenizer(self) -> Any:
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(str(self.path / "tokenizer.json"))
        tok.enable_truncation(self.max_seq_length)
        tok.no_padding()  # padded per batch in encode()
        return tok

    def _make_session(self, file: Path) -> Any:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = self.settings.embed_threads or os.cpu_count() or 1
        opts.inter_op_num_threads = 1
        # idle threads sleep instead of spinning (spinners starve each other on a shared machine)
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            return ort.InferenceSession(str(file), sess_options=opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own untyped errors for a bad file
            raise AssistantError(
                f"cannot load {file}: {str(exc).splitlines()[0]}; {_redo(file.parent)}"
            ) from exc

    def _validate(self, meta: dict[str, Any], folder: Path) -> None:
        if int(meta.get("dim", -1)) != self.dim or meta.get("model_id") != self.model_id:
            raise AssistantError(
                f"{folder} was exported from another model ({meta.get('model_id')}, {meta.get('dim')} "
                f"dimensions; expected {self.model_id}, {self.dim}); {_redo(folder)}"
            )
        want = np.asarray(meta["probe_vectors"], dtype=np.float32)
        got = self._run(list(meta["probes"]))
        if got.shape != want.shape:
            raise AssistantError(f"{folder}: the ONNX model gives {got.shape[1]} dimensions; {_redo(folder)}")
        cos = (got * want).sum(axis=1) / np.linalg.norm(want, axis=1)
        worst = int(np.argmin(cos))
        if float(cos[worst]) < MIN_PROBE_COSINE:
            reference = "its own vectors from when it was quantised" if self.quantized else "the torch model"
            raise AssistantError(
                f"{folder}: the ONNX model does not reproduce {reference} (cosine {cos[worst]:.6f} < "
                f"{MIN_PROBE_COSINE} on probe {worst}); {_redo(folder)}"
            )

    def _batches(self, lengths: list[int]) -> list[list[int]]:
        """Indices of ``lengths`` in batches of similar length: longest first, at most
        ``batch_size`` each, and a batch closes before padding would exceed ``PAD_SLACK`` times
        the tokens it holds (answer sentences vary from 10 to 250 word pieces; padding them all to
        the longest doubled the work, measured on the eval questions)."""
        order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
        batches: list[list[int]] = []
        for i in order:
            batch = batches[-1] if batches else None
            if (
                batch is not None
                and len(batch) < self.batch_size
                and lengths[batch[0]] * (len(batch) + 1)
                <= PAD_SLACK * (sum(lengths[j] for j in batch) + lengths[i])
            ):
                batch.append(i)
            else:
                batches.append([i])
        return batches

    def _run(self, texts: list[str]) -> np.ndarray:
        """Batches of similar length, each padded to its longest text (see :meth:`_batches`)."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        encs = self._tokenizer.encode_batch(texts, add_special_tokens=True)
        for idx in self._batches([len(e.ids) for e in encs]):
            width = len(encs[idx[0]].ids)
            feed = {name: np.zeros((len(idx), width), dtype=np.int64) for name in INPUTS}
            for row, i in enumerate(idx):
                e = encs[i]
                n = len(e.ids)
                feed["input_ids"][row, :n] = e.ids
                feed["attention_mask"][row, :n] = e.attention_mask
                feed["token_type_ids"][row, :n] = e.type_ids
            out[idx] = self._session.run(None, feed)[0]
        return out

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if self._session is None:
            self.load()
        return self._run(list(texts))


def _redo(folder: Path) -> str:
    return (
        f"delete {folder} and run `make install` (or any ingest) to export it again, "
        "or set ASSISTANT_EMBED_BACKEND=torch"
    )


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m assistant.onnx_embedder``: export the configured model (``make install`` runs it)."""
    del argv
    settings = Settings()
    folder = export(settings)
    embedder = OnnxEmbedder(settings)
    embedder.load()  # validates against the stored torch vectors
    print(f"ONNX embedding model ready: {folder} ({embedder.model_id}, {embedder.dim} dimensions)")


if __name__ == "__main__":
    main()
