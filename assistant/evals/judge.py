"""Optional judge metrics: a second model reads the answers (``ASSISTANT_JUDGE_*`` settings).

* ``judge_faithfulness``: every sentence of a non-refused answer is judged against the passages
  its markers cite (all the answer's cited passages for a sentence without a marker) with
  LlamaIndex's ``FaithfulnessEvaluator``; the per-case value is the share judged supported.
* ``judge_correctness``: the answer against ``reference_answer`` with LlamaIndex's
  ``CorrectnessEvaluator`` (a 1-5 score, scaled to 0-1); a refused answerable case scores 0
  without a call.

The judge speaks the OpenAI protocol (``OpenAILike``) or Ollama's (``Ollama``). Each
judgement is cached in ``judge_cache_dir/judgements.jsonl`` under a key of judge model,
prompt hash, case and the judged text, so a re-run asks only what changed. ``repeats`` > 1
asks each item that many times (each repeat cached on its own) and reports the share of items
whose verdicts differ (``flip_rate``). A reply that is not a verdict (not YES/NO, a score that
is not a number from 1 to 5) is a :class:`JudgeError` naming the case and the reply: never a
silent 0 or NaN. Judging with the answering backend's own model is refused unless forced.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assistant.evals.catalogue import status_of
from assistant.evals.matching import answer_sentences
from assistant.types import AssistantError

if TYPE_CHECKING:
    from assistant.config import Settings
    from assistant.evals.dataset import EvalCase
    from assistant.types import Answer

CACHE_FILE = "judgements.jsonl"
SCORE_RANGE = (1.0, 5.0)
_YES_NO = re.compile(r"^\W*(yes|no)\b", re.IGNORECASE)


class JudgeError(AssistantError):
    """The judge cannot be used or gave no usable verdict; the message says which case and why.

    ``report``: when raised by ``run_eval``, the report of the run without judge metrics.
    """

    report: dict[str, Any] | None = None


class _Verdict(ValueError):
    """A reply that is not a verdict (raised inside the evaluator, named with its case outside)."""


def parse_correctness(reply: str) -> tuple[float, str]:
    """``(score, reasoning)`` from a CorrectnessEvaluator reply: the first line must be a number
    from 1 to 5. Replaces LlamaIndex's ``default_parser``, which returns None for a bad score."""
    first, _, rest = reply.strip().partition("\n")
    try:
        score = float(first.strip().strip("*").strip())
    except ValueError:
        raise _Verdict(f"the first line {first.strip()[:60]!r} is not a score from 1 to 5") from None
    if not math.isfinite(score) or not SCORE_RANGE[0] <= score <= SCORE_RANGE[1]:
        raise _Verdict(f"the score {first.strip()[:20]} is outside 1-5")
    return score, rest.strip()


def parse_faithfulness(reply: str) -> float:
    """1.0 for YES, 0.0 for NO; anything else is not a verdict. (LlamaIndex's evaluator passes
    any reply containing "yes" anywhere, so its ``passing`` is not used.)"""
    match = _YES_NO.match(reply or "")
    if not match:
        raise _Verdict(f"the reply {(reply or '').strip()[:60]!r} is not YES or NO")
    return 1.0 if match.group(1).lower() == "yes" else 0.0


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


class JudgeCache:
    """Append-only JSONL of ``{"key", "verdict", "raw"}``; unreadable lines are skipped."""

    def __init__(self, directory: Path) -> None:
        self.path = Path(directory) / CACHE_FILE
        self.entries: dict[str, float] = {}
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError):
            lines = []
        for line in lines:
            try:
                item = json.loads(line)
                verdict = float(item["verdict"])
            except (ValueError, KeyError, TypeError):
                continue
            if math.isfinite(verdict):
                self.entries[str(item["key"])] = verdict

    def get(self, key: str) -> float | None:
        return self.entries.get(key)

    def put(self, key: str, verdict: float, raw: str) -> None:
        self.entries[key] = verdict
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(
                json.dumps({"key": key, "verdict": verdict, "raw": raw[:500]}, ensure_ascii=False) + "\n"
            )


def make_llm(settings: Settings) -> Any:
    """The judge's LlamaIndex LLM for ``settings.judge_backend`` (imported on use)."""
    key = settings.judge_api_key.get_secret_value() if settings.judge_api_key else None
    base_url = str(settings.judge_base_url).rstrip("/")
    if settings.judge_backend == "openai":
        from llama_index.llms.openai_like import OpenAILike

        return OpenAILike(
            model=settings.judge_model,
            api_base=base_url,
            api_key=key or "no-key",
            is_chat_model=True,
            context_window=settings.judge_context_window,
            temperature=0.0,
            max_retries=0,
            timeout=settings.judge_timeout,
        )
    from llama_index.llms.ollama import Ollama

    return Ollama(
        model=settings.judge_model,
        base_url=base_url,
        request_timeout=settings.judge_timeout,
        context_window=settings.judge_context_window,  # set, so it never calls /api/show
        temperature=0.0,
        headers={"Authorization": f"Bearer {key}"} if key else None,
    )


class Judge:
    """Judges the answers of a run; see the module docstring."""

    def __init__(self, llm: Any, *, model: str, backend: str, cache_dir: Path, repeats: int = 1) -> None:
        from llama_index.core.evaluation import CorrectnessEvaluator, FaithfulnessEvaluator

        if repeats < 1:
            raise JudgeError("--judge-repeats must be 1 or more")
        self.model = model
        self.backend = backend
        self.repeats = repeats
        self.faithfulness = FaithfulnessEvaluator(llm=llm)
        self.correctness = CorrectnessEvaluator(llm=llm, parser_function=parse_correctness)
        templates = {
            f"{kind}.{name}": prompt.get_template()
            for kind, evaluator in (("faithfulness", self.faithfulness), ("correctness", self.correctness))
            for name, prompt in sorted(evaluator.get_prompts().items())
        }
        self.prompt_hash = _digest(templates)[:16]
        self.cache = JudgeCache(cache_dir)
        self.calls = 0
        self.cached = 0

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        answer_backend: str | None,
        repeats: int = 1,
        force: bool = False,
    ) -> Judge | None:
        """The configured judge, or None when ``judge_base_url``/``judge_model`` are unset.

        Raises :class:`JudgeError` when the judge model is the answering backend's own model
        (a model grading its own answers favours them) unless ``force``.
        """
        if not settings.judge_base_url or not settings.judge_model:
            if settings.judge_base_url or settings.judge_model:
                missing = "ASSISTANT_JUDGE_MODEL" if settings.judge_base_url else "ASSISTANT_JUDGE_BASE_URL"
                raise JudgeError(f"the judge is half configured: set {missing} as well, or unset both")
            return None
        generative = answer_backend not in (None, "extractive")
        same = (settings.llm_model or "").strip().casefold() == settings.judge_model.strip().casefold()
        if generative and same and not force:
            raise JudgeError(
                f"the judge model {settings.judge_model!r} is the model that wrote the answers "
                f"(backend {answer_backend}); a model judging its own answers favours them. Set "
                "ASSISTANT_JUDGE_MODEL to another model, or pass --force-judge"
            )
        return cls(
            make_llm(settings),
            model=settings.judge_model,
            backend=settings.judge_backend,
            cache_dir=settings.judge_cache_dir,
            repeats=repeats,
        )

    # ------------------------------------------------------------------ one judgement

    def _ask(self, kind: str, case_id: str, payload: dict[str, Any], repeat: int) -> float:
        key = _digest([kind, self.backend, self.model, self.prompt_hash, case_id, payload, repeat])
        cached = self.cache.get(key)
        if cached is not None:
            self.cached += 1
            return cached
        self.calls += 1
        try:
            if kind == "faithfulness":
                result = self.faithfulness.evaluate(
                    response=payload["sentence"], contexts=payload["contexts"]
                )
                verdict, raw = parse_faithfulness(result.feedback or ""), result.feedback or ""
            else:
                result = self.correctness.evaluate(
                    query=payload["question"], response=payload["answer"], reference=payload["reference"]
                )
                if result.score is None:
                    raise _Verdict("no score")
                verdict, raw = float(result.score), f"{result.score}\n{result.feedback or ''}"
        except _Verdict as exc:
            raise JudgeError(
                f"case {case_id!r}: the judge {self.model} gave no usable {kind} verdict: {exc}. "
                "Use a judge model that follows the evaluation prompt; nothing was cached for this case"
            ) from None
        except Exception as exc:  # connection refused, timeout, HTTP error from the endpoint
            raise JudgeError(
                f"case {case_id!r}: the judge request failed ({type(exc).__name__}: {exc}); check "
                "ASSISTANT_JUDGE_BASE_URL and that the judge server is running"
            ) from exc
        self.cache.put(key, verdict, raw)
        return verdict

    def _repeated(self, kind: str, case_id: str, payload: dict[str, Any]) -> list[float]:
        return [self._ask(kind, case_id, payload, r) for r in range(self.repeats)]

    # ------------------------------------------------------------------ a run

    def judge_case(
        self, case: EvalCase, record: dict[str, Any], answer: Answer | None
    ) -> dict[str, Any] | None:
        """Judge one case; returns its ``judge`` record (None for a case that raised)."""
        if record.get("error") or answer is None:
            return None
        out: dict[str, Any] = {
            "faithfulness": None,
            "sentences": 0,
            "supported": 0.0,
            "correctness": None,
            "correctness_score": None,
            "flipped": 0,
            "items": 0,
        }
        answered = status_of(record) in ("answered", "partial")
        passages = {c.n: (c.passage or c.quote) for c in answer.citations}
        if answered and passages:
            verdicts = []
            for sentence, numbers in answer_sentences(answer.text):
                contexts = [passages[n] for n in dict.fromkeys(numbers) if n in passages] or list(
                    passages.values()
                )
                votes = self._repeated("faithfulness", case.id, {"sentence": sentence, "contexts": contexts})
                verdicts.append(sum(votes) / len(votes))
                out["flipped"] += len(set(votes)) > 1
                out["items"] += 1
            if verdicts:
                out["sentences"] = len(verdicts)
                out["supported"] = round(sum(verdicts), 4)
                out["faithfulness"] = round(sum(verdicts) / len(verdicts), 4)
        if case.answerable and case.reference_answer:
            if not answered:
                out["correctness"] = 0.0
            else:
                payload = {
                    "question": case.question,
                    "answer": answer.text,
                    "reference": case.reference_answer,
                }
                scores = self._repeated("correctness", case.id, payload)
                mean = sum(scores) / len(scores)
                out["correctness_score"] = round(mean, 4)
                out["correctness"] = round((mean - SCORE_RANGE[0]) / (SCORE_RANGE[1] - SCORE_RANGE[0]), 4)
                out["flipped"] += len(set(scores)) > 1
                out["items"] += 1
        return out

    def judge_run(
        self,
        cases: Sequence[EvalCase],
        records: Sequence[dict[str, Any]],
        answers: Sequence[Answer | None],
        *,
        progress: bool = False,
    ) -> dict[str, Any]:
        """Judge every case (sets ``record["judge"]``) and return the run's judge summary:
        ``{"model", "backend", "prompt_hash", "repeats", "items", "calls", "cached", "flip_rate"}``
        (``flip_rate``: share of judged items whose repeated verdicts differ; None with one repeat)."""
        items = flipped = 0
        for case, record, answer in _progress(list(zip(cases, records, answers, strict=True)), progress):
            judged = self.judge_case(case, record, answer)
            record["judge"] = judged
            if judged:
                items += judged["items"]
                flipped += judged["flipped"]
        return {
            "model": self.model,
            "backend": self.backend,
            "prompt_hash": self.prompt_hash,
            "repeats": self.repeats,
            "items": items,
            "calls": self.calls,
            "cached": self.cached,
            "flip_rate": (round(flipped / items, 4) if items else None) if self.repeats > 1 else None,
        }


def _progress(items: list[Any], enabled: bool) -> Iterable[Any]:
    if not enabled:
        return items
    from tqdm import tqdm

    return tqdm(items, desc="judge", unit="case", file=sys.stderr)
