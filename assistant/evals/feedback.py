"""Turn thumbs-down feedback from the UI into draft eval cases for an evaluator to complete."""

from __future__ import annotations

import json
import warnings
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from assistant.evals.dataset import HISTORY_ROLES, EvalSetWarning
from assistant.evals.metrics import distinct

TODO_NOTE = (
    "TODO: read the answer this replaces (feedback_answer) and the comment, write key_facts "
    "(or set answerable: false if the corpus does not hold the answer), check source_doc_ids, "
    "then delete this note."
)


def drafts_from_feedback(paths: str | Path | Iterable[str | Path]) -> list[dict[str, Any]]:
    """Draft eval cases from feedback JSONL files, one per thumbs-down entry, in file order.

    An entry is ``{"question", "answer", "citations": [{"doc_id", ...} | str], "verdict":
    "up" | "down", "comment", "time" (ISO-8601 or epoch seconds), "history"?}``. A draft is
    ``{"id": "fb-<YYYY-MM-DD>-<n>", "question", "history"?, "answerable": true, "key_facts": [],
    "note": TODO, "source_doc_ids": [cited documents], "tags": ["feedback"], "comment",
    "feedback_answer", "feedback_time"}``; ``n`` counts drafts per date from 1. Malformed lines
    are skipped with an :class:`EvalSetWarning` naming file and line.
    """
    if isinstance(paths, str | Path):
        paths = [paths]
    drafts: list[dict[str, Any]] = []
    per_date: Counter[str] = Counter()
    for path in map(Path, paths):
        for _line_no, entry in _entries(path):
            if entry.get("verdict") != "down":
                continue
            date = _date(entry.get("time"))
            per_date[date] += 1
            draft: dict[str, Any] = {
                "id": f"fb-{date}-{per_date[date]}",
                "question": entry["question"].strip(),
            }
            history = _history(entry.get("history"))
            if history:
                draft["history"] = history
            draft.update(
                answerable=True,
                key_facts=[],
                note=TODO_NOTE,
                source_doc_ids=_cited(entry.get("citations")),
                tags=["feedback"],
                comment=str(entry.get("comment") or ""),
                feedback_answer=str(entry.get("answer") or ""),
                feedback_time=str(entry.get("time") or ""),
            )
            drafts.append(draft)
    return drafts


def _entries(path: Path) -> Iterable[tuple[int, dict[str, Any]]]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        warnings.warn(f"{path}: cannot read feedback file ({exc}); skipped", EvalSetWarning, stacklevel=3)
        return
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        problem = None
        try:
            entry = json.loads(line)
        except json.JSONDecodeError as exc:
            problem = f"not valid JSON ({exc.msg})"
        else:
            if not isinstance(entry, dict):
                problem = "not a JSON object"
            elif not isinstance(entry.get("question"), str) or not entry["question"].strip():
                problem = "no 'question' string"
            elif entry.get("verdict") not in ("up", "down"):
                problem = f"'verdict' is {entry.get('verdict')!r}, expected 'up' or 'down'"
        if problem:
            warnings.warn(
                f"{path}:{line_no}: malformed feedback skipped: {problem}", EvalSetWarning, stacklevel=3
            )
            continue
        yield line_no, entry


def _date(value: Any) -> str:
    """``YYYY-MM-DD`` of an ISO-8601 string or epoch seconds; ``undated`` otherwise."""
    try:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%d")
        if isinstance(value, str) and value.strip():
            return datetime.fromisoformat(value.strip()).strftime("%Y-%m-%d")
    except (ValueError, OverflowError, OSError):
        pass
    return "undated"


def _cited(citations: Any) -> list[str]:
    if not isinstance(citations, list):
        return []
    ids = []
    for item in citations:
        if isinstance(item, dict) and isinstance(item.get("doc_id"), str):
            ids.append(item["doc_id"])
        elif isinstance(item, str):
            ids.append(item)
    return distinct(ids)


def _history(history: Any) -> list[dict[str, str]]:
    if not isinstance(history, list):
        return []
    return [
        {"role": turn["role"], "content": turn["content"]}
        for turn in history
        if isinstance(turn, dict)
        and turn.get("role") in HISTORY_ROLES
        and isinstance(turn.get("content"), str)
    ]
