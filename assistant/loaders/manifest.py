"""``manifest.yaml``: per-file metadata of a corpus, and the date ranges used by date filters."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from assistant.types import AssistantError

MANIFEST_NAME = "manifest.yaml"


@dataclass
class Manifest:
    """``manifest.yaml``: per-file metadata, plus the problems found while reading it."""

    entries: dict[str, dict[str, Any]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


_MANIFEST_FIELDS = ("title", "publisher", "date", "url", "kind", "licence")
_DATE_RE = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")


def read_manifest(corpus_dir: Path) -> Manifest:
    """Read ``corpus_dir/manifest.yaml``; a missing, malformed or partial manifest never stops
    ingestion: bad entries are skipped with a warning naming the entry and field."""
    manifest = Manifest()
    path = corpus_dir / MANIFEST_NAME
    if not path.exists():
        return manifest
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        manifest.warnings.append(f"{path}: not valid YAML ({exc.__class__.__name__}); metadata ignored")
        return manifest
    docs = data.get("documents") if isinstance(data, dict) else None
    if not isinstance(docs, list):
        manifest.warnings.append(f"{path}: expected a top-level 'documents:' list; metadata ignored")
        return manifest
    for i, entry in enumerate(docs):
        if not isinstance(entry, dict) or not isinstance(entry.get("file"), str):
            manifest.warnings.append(f"{path}: documents[{i}] has no 'file' field; entry skipped")
            continue
        meta: dict[str, Any] = {}
        for key in _MANIFEST_FIELDS:
            value = entry.get(key)
            if value is None:
                continue
            value = str(value).strip()
            if key == "date" and not _DATE_RE.match(value):
                manifest.warnings.append(
                    f"{path}: documents[{i}] ({entry['file']}): date {value!r} is not YYYY, YYYY-MM or "
                    "YYYY-MM-DD; date ignored"
                )
                continue
            meta[key] = value
        extra = sorted(set(entry) - {"file", *_MANIFEST_FIELDS})
        if extra:
            manifest.warnings.append(
                f"{path}: documents[{i}] ({entry['file']}): unknown field(s) {', '.join(extra)} ignored"
            )
        manifest.entries[entry["file"]] = meta
    return manifest


def date_range(date: str | None) -> tuple[int, int]:
    """``'2025'`` -> ``(20250101, 20251231)``; used for date filters (0, 99999999 when unknown)."""
    if not date:
        return 0, 99999999
    parts = date.split("-")
    y = int(parts[0])
    if len(parts) == 1:
        return y * 10000 + 101, y * 10000 + 1231
    m = int(parts[1])
    if len(parts) == 2:
        return y * 10000 + m * 100 + 1, y * 10000 + m * 100 + 31
    d = int(parts[2])
    return y * 10000 + m * 100 + d, y * 10000 + m * 100 + d


def parse_date_bound(value: str | None, *, end: bool) -> int | None:
    """A user's ``YYYY[-MM[-DD]]`` as an inclusive bound for :func:`date_range` values."""
    if value in (None, ""):
        return None
    if not _DATE_RE.match(value):
        raise AssistantError(f"date {value!r} is not YYYY, YYYY-MM or YYYY-MM-DD")
    lo, hi = date_range(value)
    return hi if end else lo
