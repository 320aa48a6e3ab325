"""Eval sets: YAML lists, JSONL files and LlamaIndex ``LabelledRagDataset`` JSON.

Every problem is an :class:`EvalSetError` naming the file, the case (line, index, id), the
field and what to do. Unknown fields only warn (:class:`EvalSetWarning`).
"""

from __future__ import annotations

import difflib
import json
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from assistant.evals.matching import tokens
from assistant.types import AssistantError

HISTORY_ROLES = ("user", "assistant")
CASE_FIELDS = (
    "id",
    "question",
    "answerable",
    "key_facts",
    "source_doc_ids",
    "reference_answer",
    "tags",
    "history",
    "reference_contexts",
    "answer_span",
)
META_FIELDS = ("note", "comment", "feedback_answer", "feedback_time")
"""Annotation fields kept in ``EvalCase.meta`` without a warning (feedback drafts use them)."""
RAG_DATASET_FIELDS = (
    "query",
    "reference_answer",
    "reference_contexts",
    "query_by",
    "reference_answer_by",
    "id",
)


class EvalSetError(AssistantError, ValueError):
    """An eval set cannot be used; the message names file, case and field and what to do."""


class EvalSetWarning(UserWarning):
    """Something in an eval set looks wrong but does not stop the run (an unknown field)."""


@dataclass
class EvalCase:
    """One question of an eval set (fields as in ``INTERFACE.md``).

    ``history`` is ``[{"role": "user"|"assistant", "content": str}]``; ``reference_contexts``
    come from a LabelledRagDataset; ``answer_span`` is the reference answer span of an
    extractive QA set (scored by ``span_token_recall`` and ``span_contained``); ``source`` is
    ``"file:line"`` for messages; ``meta`` holds annotation fields (``note``, ``comment``...).
    """

    id: str
    question: str
    answerable: bool = True
    key_facts: list[str] = field(default_factory=list)
    source_doc_ids: list[str] = field(default_factory=list)
    reference_answer: str | None = None
    tags: list[str] = field(default_factory=list)
    history: list[dict[str, str]] = field(default_factory=list)
    reference_contexts: list[str] = field(default_factory=list)
    answer_span: str | None = None
    source: str = ""
    meta: dict[str, Any] = field(default_factory=dict)


def load_eval_sets(paths: str | Path | Iterable[str | Path]) -> list[EvalCase]:
    """Load and validate the cases of one or more eval set files, in order.

    ``.yaml``/``.yml``: a list of cases. ``.jsonl``: one case object per line (blank lines and
    lines starting with ``#`` skipped). ``.json``: a list of cases, or a LabelledRagDataset
    (``{"examples": [{"query", "reference_answer", "reference_contexts"}]}``). A case without
    ``id`` gets ``<file-stem>-<n>`` (n = 1-based position in the file). Ids must be unique
    across all files. Raises :class:`EvalSetError`.
    """
    if isinstance(paths, str | Path):
        paths = [paths]
    cases: list[EvalCase] = []
    seen: dict[str, str] = {}
    for path in map(Path, paths):
        for case in _load_file(path):
            if case.id in seen:
                raise EvalSetError(
                    f"{case.source}: duplicate id {case.id!r} (first used at {seen[case.id]}); "
                    "give every case a unique id"
                )
            seen[case.id] = case.source
            cases.append(case)
    return cases


def select_cases(
    cases: Sequence[EvalCase], tags: Iterable[str] = (), limit: int | None = None
) -> list[EvalCase]:
    """Cases carrying any of ``tags`` (all when none given), at most ``limit`` of them."""
    wanted = set(tags)
    chosen = [c for c in cases if not wanted or wanted & set(c.tags)]
    return chosen[:limit] if limit is not None else chosen


def _load_file(path: Path) -> list[EvalCase]:
    if not path.is_file():
        raise EvalSetError(f"{path}: eval set not found; check the path")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise EvalSetError(f"{path}: cannot read the eval set ({exc}); save it as UTF-8 text") from exc
    suffix = path.suffix.lower()
    if suffix in (".yaml", ".yml"):
        return _load_yaml(path, text)
    if suffix == ".jsonl":
        return _load_jsonl(path, text)
    if suffix == ".json":
        return _load_json(path, text)
    raise EvalSetError(f"{path}: unknown eval set format {suffix!r}; use .yaml, .yml, .jsonl or .json")


def _load_yaml(path: Path, text: str) -> list[EvalCase]:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise EvalSetError(
            f"{path}{line}: not valid YAML ({problem}); check quoting and indentation"
        ) from exc
    if data is None:
        return []
    if not isinstance(data, list):
        raise EvalSetError(
            f"{path}: the top level must be a list of cases (each starting with '- id: ...'), "
            f"not a {type(data).__name__}"
        )
    items = node.value if isinstance(node, yaml.SequenceNode) and len(node.value) == len(data) else []
    lines = [f":{item.start_mark.line + 1}" for item in items] or [""] * len(data)
    return [
        _parse_case(raw, path, f"{path}{line} (case {n})", n)
        for n, (raw, line) in enumerate(zip(data, lines, strict=True), start=1)
    ]


def _load_jsonl(path: Path, text: str) -> list[EvalCase]:
    cases = []
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as exc:
            raise EvalSetError(
                f"{path}:{line_no}: not valid JSON ({exc.msg}); write one case object per line"
            ) from exc
        cases.append(_parse_case(raw, path, f"{path}:{line_no} (case {len(cases) + 1})", len(cases) + 1))
    return cases


def _load_json(path: Path, text: str) -> list[EvalCase]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise EvalSetError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from exc
    if isinstance(data, list):
        return [_parse_case(raw, path, f"{path} (case {n})", n) for n, raw in enumerate(data, start=1)]
    if isinstance(data, dict) and isinstance(data.get("examples"), list):
        return [_parse_rag_example(raw, path, n) for n, raw in enumerate(data["examples"], start=1)]
    raise EvalSetError(
        f"{path}: expected a list of cases or a LabelledRagDataset object with an 'examples' list"
    )


def _parse_case(raw: Any, path: Path, where: str, n: int) -> EvalCase:
    if not isinstance(raw, dict):
        raise EvalSetError(f"{where}: a case must be a mapping of fields, not {type(raw).__name__}")
    case_id = raw.get("id")
    if case_id is None:
        case_id = f"{path.stem}-{n}"
    elif isinstance(case_id, int) and not isinstance(case_id, bool):
        case_id = str(case_id)
    elif not isinstance(case_id, str) or not case_id.strip():
        raise EvalSetError(f"{where}: field 'id' must be a non-empty string, got {case_id!r}")
    where = f"{where}, id {case_id!r}"

    for key in raw:
        if key not in CASE_FIELDS and key not in META_FIELDS:
            close = difflib.get_close_matches(str(key), CASE_FIELDS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            warnings.warn(f"{where}: unknown field {key!r} ignored{hint}", EvalSetWarning, stacklevel=2)

    question = raw.get("question")
    if question is None:
        raise EvalSetError(f"{where}: field 'question' is missing; add the question the analyst asks")
    if not isinstance(question, str) or not question.strip():
        raise EvalSetError(f"{where}: field 'question' must be a non-empty string, got {question!r}")

    answerable = raw.get("answerable", True)
    if not isinstance(answerable, bool):
        raise EvalSetError(f"{where}: field 'answerable' must be true or false, got {answerable!r}")
    key_facts = _str_list(raw, "key_facts", where, numbers_ok=True)
    if not answerable and key_facts:
        raise EvalSetError(
            f"{where}: field 'key_facts' is set but answerable is false; an unanswerable case "
            "expects a refusal: remove key_facts or set answerable: true"
        )
    reference = raw.get("reference_answer")
    if reference is not None and not isinstance(reference, str):
        raise EvalSetError(
            f"{where}: field 'reference_answer' must be a string, got {type(reference).__name__}"
        )
    span = _answer_span(raw.get("answer_span"), where)
    if span is not None and not answerable:
        raise EvalSetError(
            f"{where}: field 'answer_span' is set but answerable is false; an unanswerable case "
            "expects a refusal: remove answer_span or set answerable: true"
        )

    return EvalCase(
        id=case_id,
        question=question.strip(),
        answerable=answerable,
        key_facts=key_facts,
        source_doc_ids=_str_list(raw, "source_doc_ids", where),
        reference_answer=reference,
        tags=_str_list(raw, "tags", where),
        history=_history(raw.get("history"), where),
        reference_contexts=_str_list(raw, "reference_contexts", where),
        answer_span=span,
        source=where,
        meta={k: raw[k] for k in META_FIELDS if k in raw},
    )


def _parse_rag_example(raw: Any, path: Path, n: int) -> EvalCase:
    where = f"{path} (examples[{n - 1}])"
    if not isinstance(raw, dict):
        raise EvalSetError(f"{where}: an example must be an object, not {type(raw).__name__}")
    query = raw.get("query")
    if not isinstance(query, str) or not query.strip():
        raise EvalSetError(f"{where}: field 'query' must be a non-empty string, got {query!r}")
    reference = raw.get("reference_answer")
    if reference is not None and not isinstance(reference, str):
        raise EvalSetError(
            f"{where}: field 'reference_answer' must be a string, got {type(reference).__name__}"
        )
    case_id = raw.get("id") if isinstance(raw.get("id"), str) and raw["id"] else f"{path.stem}-{n}"
    return EvalCase(
        id=case_id,
        question=query.strip(),
        reference_answer=reference,
        reference_contexts=_str_list(raw, "reference_contexts", where),
        source=where,
    )


def _answer_span(value: Any, where: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise EvalSetError(f"{where}: field 'answer_span' must be a string, got {type(value).__name__}")
    if not tokens(value):
        raise EvalSetError(
            f"{where}: field 'answer_span' {value!r} has no words or numbers to match; "
            "quote the answer span from the document, or remove the field"
        )
    return value


def _str_list(raw: dict[str, Any], key: str, where: str, numbers_ok: bool = False) -> list[str]:
    value = raw.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise EvalSetError(
            f"{where}: field {key!r} must be a list of strings, got {type(value).__name__}; "
            f'write {key}: ["..."]'
        )
    out = []
    for i, item in enumerate(value):
        if numbers_ok and isinstance(item, int) and not isinstance(item, bool):
            item = str(item)
        if not isinstance(item, str) or not item.strip():
            hint = ' (quote numbers such as "1.50" so they are kept as written)' if numbers_ok else ""
            raise EvalSetError(f"{where}: field '{key}[{i}]' must be a non-empty string, got {item!r}{hint}")
        out.append(item)
    return out


def _history(value: Any, where: str) -> list[dict[str, str]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise EvalSetError(f"{where}: field 'history' must be a list of {{role, content}} turns")
    turns = []
    for i, turn in enumerate(value):
        if not isinstance(turn, dict):
            raise EvalSetError(f"{where}: field 'history[{i}]' must be a mapping with role and content")
        role, content = turn.get("role"), turn.get("content")
        if role not in HISTORY_ROLES:
            raise EvalSetError(
                f"{where}: field 'history[{i}].role' is {role!r}; use one of {', '.join(HISTORY_ROLES)}"
            )
        if not isinstance(content, str):
            raise EvalSetError(f"{where}: field 'history[{i}].content' must be a string, got {content!r}")
        turns.append({"role": role, "content": content})
    return turns
