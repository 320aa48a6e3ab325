"""Files the UI writes: uploaded documents (sanitised, size-checked) and feedback lines."""

from __future__ import annotations

import json
import os
import re
import shutil
import threading
import unicodedata
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assistant.loaders.registry import supported_suffixes

# the formats ingestion reads (the loader registry); safe_filename checks the registry itself
UPLOAD_SUFFIXES = supported_suffixes()
FEEDBACK_FILE = "feedback.jsonl"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_UNSAFE_UNICODE = re.compile(r"[^\w.-]+")  # \w: letters and digits of any script, and "_"
_MAX_STEM = 120
_feedback_lock = threading.Lock()


class UploadRefused(Exception):
    """An upload that is not stored; the message says why and what to do."""


@dataclass
class StoredUpload:
    """One accepted upload: the original name, where it was stored, and whether it is new."""

    original: str
    path: Path
    new: bool


def safe_filename(name: str) -> str:
    """A safe corpus file name for an uploaded ``name``.

    Keeps the base name only (either path separator), folds accents to ASCII, replaces anything
    but letters, digits, ``.``, ``_`` and ``-`` with ``_``, drops leading dots (no hidden files)
    and lower-cases the extension. A name whose letters do not fold to ASCII (Cyrillic, Greek,
    CJK, "ß"...) keeps its own letters instead of losing them. Raises :class:`UploadRefused` for a
    type no loader is registered for (:mod:`assistant.loaders.registry`) or a name with nothing left.
    """
    base = unicodedata.normalize("NFC", re.split(r"[\\/]", name or "")[-1]).strip()
    stem, dot, suffix = base.rpartition(".")
    if not dot:
        stem, suffix = base, ""
    suffix = "." + suffix.strip().lower() if suffix.strip() else ""
    if suffix not in supported_suffixes():
        shown = suffix or "(none)"
        raise UploadRefused(
            f"{name or '(unnamed file)'}: file type {shown} is not accepted; "
            f"upload {', '.join(supported_suffixes())}"
        )
    folded = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode("ascii")
    if sum(ch.isalnum() for ch in folded) < sum(ch.isalnum() for ch in stem):
        stem = _UNSAFE_UNICODE.sub("_", stem)  # letters that do not fold: keep them
    else:
        stem = _UNSAFE.sub("_", folded)
    stem = stem.strip("._- ")[:_MAX_STEM].rstrip("._- ")
    if not stem:
        raise UploadRefused(f"{name!r}: the file name has no usable characters; rename the file")
    return stem + suffix


def store_upload(
    src: str | Path, corpus_dir: Path, max_mb: float, original_name: str | None = None
) -> StoredUpload:
    """Copy the uploaded file ``src`` into ``corpus_dir`` under a safe name.

    Refuses (:class:`UploadRefused`) a wrong type, an empty or oversized file, and a name that
    already holds a different document (nothing is overwritten). Uploading the same bytes again
    is accepted as unchanged.
    """
    src = Path(src)
    original = original_name or src.name
    name = safe_filename(original)
    size = src.stat().st_size
    if size == 0:
        raise UploadRefused(f"{original}: the file is empty")
    if size > max_mb * 2**20:
        raise UploadRefused(
            f"{original}: {size / 2**20:.1f} MB is over the {max_mb:g} MB upload limit "
            "(ASSISTANT_UPLOAD_MAX_MB)"
        )
    corpus_dir.mkdir(parents=True, exist_ok=True)
    dest = corpus_dir / name
    if dest.exists() or dest.is_symlink():  # a symlink is never followed, nor replaced
        if dest.is_file() and not dest.is_symlink() and _same_bytes(src, dest):
            return StoredUpload(original, dest, new=False)
        raise UploadRefused(
            f"{original}: a different document named {name} is already in the corpus; "
            "rename the file to add it as a new document"
        )
    if dest.resolve().parent != corpus_dir.resolve():  # belt and braces: safe_filename has no separators
        raise UploadRefused(f"{original}: refused file name")
    tmp = corpus_dir / f".upload-{uuid.uuid4().hex}.part"  # hidden: ingestion skips it
    try:
        shutil.copyfile(src, tmp)
        try:
            os.link(tmp, dest)  # fails if the name appeared meanwhile: never overwrites
        except FileExistsError as exc:
            raise UploadRefused(f"{original}: a document named {name} appeared meanwhile; try again") from exc
    finally:
        tmp.unlink(missing_ok=True)
    return StoredUpload(original, dest, new=True)


def _same_bytes(a: Path, b: Path) -> bool:
    if a.stat().st_size != b.stat().st_size:
        return False
    with a.open("rb") as fa, b.open("rb") as fb:
        while True:
            ca, cb = fa.read(1 << 20), fb.read(1 << 20)
            if ca != cb:
                return False
            if not ca:
                return True


def record_feedback(feedback_dir: Path, record: dict[str, Any]) -> Path:
    """Append ``record`` as one JSON line to ``feedback_dir/feedback.jsonl``; returns the file."""
    feedback_dir = Path(feedback_dir)
    feedback_dir.mkdir(parents=True, exist_ok=True)
    path = feedback_dir / FEEDBACK_FILE
    line = json.dumps(record, ensure_ascii=False) + "\n"
    with _feedback_lock, path.open("a", encoding="utf-8") as fh:
        fh.write(line)
    return path
