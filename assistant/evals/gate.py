"""Quality gate over a report (thresholds, baseline regressions) and report comparison.

Direction: every metric is higher-is-better except ``false_refusal_rate`` and the latencies.
``fail_under`` holds the worst acceptable value per metric: the gate fails when a
higher-is-better metric is below it or a lower-is-better one is above it
(``false_refusal_rate=0.1`` fails at 0.15). Against a baseline the gate fails when a metric is
worse by more than ``max_drop`` (absolute: 0.02 is two percentage points). Latency is not
compared with the baseline unless ``gate_latency=True``: machines differ, so a baseline taken
elsewhere says little about timing; give latency an absolute limit in ``fail_under`` instead.
A metric that is null (no eligible case) on either side is not compared; a null metric that
has a threshold fails, since the threshold then checks nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from assistant.evals.metrics import LOWER_IS_BETTER, METRIC_NAMES

_EPS = 1e-9
CASE_KEYS: dict[str, str] = {
    "hit_rate": "hit",
    "mrr": "reciprocal_rank",
    "ndcg": "ndcg",
    "citation_precision": "citation_precision",
    "citation_recall": "cites_source",
    "key_fact_recall": "key_fact_recall",
    "answer_token_f1": "answer_token_f1",
    "answer_similarity": "answer_similarity",
    "context_recall": "context_recall",
    "refusal_accuracy": "refusal_correct",
    "false_refusal_rate": "refusal_correct",
}
"""The per-case value behind each metric, used to name the cases that regressed."""


@dataclass
class GateResult:
    """Outcome of :func:`check_gate`.

    ``ok``; ``messages``: one per problem, naming the metric and then the cases that regressed;
    ``failed_metrics``: names; ``regressed_cases``: ``{metric: [case ids]}`` (baseline checks).
    """

    ok: bool
    messages: list[str] = field(default_factory=list)
    failed_metrics: list[str] = field(default_factory=list)
    regressed_cases: dict[str, list[str]] = field(default_factory=dict)


def check_gate(
    report: dict[str, Any],
    baseline: dict[str, Any] | None = None,
    max_drop: float = 0.02,
    fail_under: dict[str, float] | None = None,
    *,
    gate_latency: bool = False,
) -> GateResult:
    """Check ``report`` against thresholds and, when given, a baseline report.

    Raises ValueError for a threshold on an unknown metric.
    """
    fail_under = fail_under or {}
    unknown = sorted(set(fail_under) - set(METRIC_NAMES))
    if unknown:
        raise ValueError(f"unknown metric(s) {', '.join(unknown)}; choose from {', '.join(METRIC_NAMES)}")
    current = report.get("metrics") or {}
    result = GateResult(ok=True)

    for name, limit in fail_under.items():
        value = current.get(name)
        if value is None:
            _fail(result, name, f"{name} is null (no eligible case) but has the limit {limit:g}")
        elif name in LOWER_IS_BETTER and value > limit + _EPS:
            _fail(result, name, f"{name} {value:.4g} is above the limit {limit:g} (lower is better)")
        elif name not in LOWER_IS_BETTER and value < limit - _EPS:
            _fail(result, name, f"{name} {value:.4g} is under the threshold {limit:g}")

    if baseline is not None:
        before = baseline.get("metrics") or {}
        for name in METRIC_NAMES:
            if name.startswith("latency") and not gate_latency:
                continue
            old, new = before.get(name), current.get(name)
            if old is None or new is None:
                continue
            worse_by = (new - old) if name in LOWER_IS_BETTER else (old - new)
            if worse_by > max_drop + _EPS:
                cases = regressed_cases(baseline, report, name)
                result.regressed_cases[name] = cases
                listed = f"; regressed cases: {', '.join(cases)}" if cases else ""
                _fail(
                    result,
                    name,
                    f"{name} fell from {old:.4g} to {new:.4g} (allowed drop {max_drop:g}){listed}",
                )
    return result


def _fail(result: GateResult, name: str, message: str) -> None:
    result.ok = False
    result.messages.append(message)
    if name not in result.failed_metrics:
        result.failed_metrics.append(name)


def regressed_cases(baseline: dict[str, Any], report: dict[str, Any], metric: str) -> list[str]:
    """Ids of cases (present in both reports) whose value behind ``metric`` got worse.

    For example a case that was a hit and no longer is, that was refused correctly and no
    longer is, that had all its key facts and lost one, or that now raises an error.
    """
    key = CASE_KEYS.get(metric)
    if key is None:
        return []
    old_cases = {c["id"]: c for c in baseline.get("cases") or ()}
    out = []
    for case in report.get("cases") or ():
        old = old_cases.get(case["id"])
        if old is None:
            continue
        if metric == "refusal_accuracy" and case.get("answerable", True):
            continue
        if metric == "false_refusal_rate" and not case.get("answerable", True):
            continue
        before, after = old.get(key), case.get(key)
        if before is None:
            continue
        if (case.get("error") and not old.get("error")) or (
            after is not None and float(after) < float(before) - _EPS
        ):
            out.append(case["id"])
    return out


def compare_reports(a: dict[str, Any], b: dict[str, Any]) -> str:
    """A text comparison of report ``a`` (before) with ``b`` (after): metrics, then cases."""
    lines = [
        *(
            f"{label}: {', '.join(r.get('eval_sets') or ())} backend={r.get('backend')} k={r.get('k')} "
            f"n={r.get('n_cases')} ({r.get('created_at')})"
            for label, r in (("A", a), ("B", b))
        ),
        "",
        f"{'metric':<20} {'A':>9} {'B':>9} {'change':>9}",
    ]
    ma, mb = a.get("metrics") or {}, b.get("metrics") or {}
    for name in [*METRIC_NAMES, *sorted((set(ma) | set(mb)) - set(METRIC_NAMES))]:
        va, vb = ma.get(name), mb.get(name)
        change, verdict = "", ""
        if isinstance(va, int | float) and isinstance(vb, int | float):
            delta = vb - va
            change = f"{delta:+.4g}" if abs(delta) > _EPS else "0"
            if abs(delta) > _EPS:
                better = delta < 0 if name in LOWER_IS_BETTER else delta > 0
                verdict = " better" if better else " worse"
        lines.append(f"{name:<20} {_fmt(va):>9} {_fmt(vb):>9} {change:>9}{verdict}")

    cases_a = {c["id"]: c for c in a.get("cases") or ()}
    cases_b = {c["id"]: c for c in b.get("cases") or ()}
    only_a = [i for i in cases_a if i not in cases_b]
    only_b = [i for i in cases_b if i not in cases_a]
    changed = []
    for case_id, cb in cases_b.items():
        ca = cases_a.get(case_id)
        if ca is not None:
            diffs = _case_diffs(ca, cb)
            if diffs:
                changed.append(f"  {case_id}: {'; '.join(diffs)}")
    lines += ["", f"cases: {len(changed)} changed, {len(only_a)} only in A, {len(only_b)} only in B"]
    lines += changed
    if only_a:
        lines.append(f"  only in A: {', '.join(only_a)}")
    if only_b:
        lines.append(f"  only in B: {', '.join(only_b)}")
    return "\n".join(lines)


def _case_diffs(ca: dict[str, Any], cb: dict[str, Any]) -> list[str]:
    diffs = []
    for key in ("passed", "hit", "rank", "refused"):
        if ca.get(key) != cb.get(key):
            diffs.append(f"{key} {_fmt(ca.get(key))} -> {_fmt(cb.get(key))}")
    lost = [f for f in cb.get("key_facts_missing") or () if f not in (ca.get("key_facts_missing") or ())]
    gained = [f for f in ca.get("key_facts_missing") or () if f not in (cb.get("key_facts_missing") or ())]
    if lost:
        diffs.append("lost facts " + ", ".join(repr(f) for f in lost))
    if gained:
        diffs.append("found facts " + ", ".join(repr(f) for f in gained))
    if ca.get("cited_doc_ids") != cb.get("cited_doc_ids"):
        diffs.append(f"cited {ca.get('cited_doc_ids')} -> {cb.get('cited_doc_ids')}")
    if ca.get("error") != cb.get("error"):
        diffs.append(f"error {ca.get('error') or '-'} -> {cb.get('error') or '-'}")
    if ca.get("answer") != cb.get("answer") and not diffs:
        diffs.append("answer text changed")
    return diffs


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
