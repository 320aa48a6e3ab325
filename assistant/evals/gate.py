"""The release gate: absolute floors, the paired comparison with a baseline, and the naive rule.

* ``fail_under`` holds the worst acceptable value per metric: the gate fails when a
  higher-is-better metric is below it or a lower-is-better one is above it
  (``false_refusal_rate=0.1`` fails at 0.15). A null metric with a floor fails (the floor then
  checks nothing).
* Against a baseline the gate runs the paired comparison of :mod:`assistant.evals.paired` and
  fails only on a ``FAIL`` verdict: a drop beyond ``margin`` whose interval lies wholly below
  ``-margin`` and that stays significant after the Holm correction. ``INCONCLUSIVE`` does not
  fail: the set is too small to tell (its detectable drop says how small).
* ``max_drop`` is the naive rule kept from earlier versions: fail when a metric is worse by
  more than ``max_drop`` (absolute), whatever the set size. Off unless given.
* ``strict``: fingerprints that differ, or reports that do not hold the same cases, fail
  instead of warning.

Latency is compared with the baseline only with ``gate_latency=True`` (machines differ).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from assistant.evals import paired, stats
from assistant.evals.catalogue import LOWER_IS_BETTER, METRIC_NAMES, METRICS, status_of
from assistant.evals.paired import PairedComparison, match_cases

_EPS = 1e-9


@dataclass
class GateResult:
    """Outcome of :func:`check_gate`.

    ``ok``; ``messages``: one per problem, naming the metric and then the cases that regressed;
    ``failed_metrics``: metric names, plus ``strict`` (fingerprints or cases differ under
    ``strict``) and ``baseline`` (no shared case); ``regressed_cases``: ``{metric: [case ids]}``;
    ``warnings``: fingerprint differences and partial overlap (failures under ``strict``); ``comparison``:
    the paired comparison (None without a baseline); ``verdicts``: ``{metric: verdict}``.
    """

    ok: bool
    messages: list[str] = field(default_factory=list)
    failed_metrics: list[str] = field(default_factory=list)
    regressed_cases: dict[str, list[str]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    comparison: PairedComparison | None = None
    verdicts: dict[str, str] = field(default_factory=dict)


def check_gate(
    report: dict[str, Any],
    baseline: dict[str, Any] | None = None,
    max_drop: float | None = None,
    fail_under: dict[str, float] | None = None,
    *,
    margin: float = 0.0,
    gate_latency: bool = False,
    strict: bool = False,
    confidence: float = stats.CONFIDENCE,
    resamples: int = stats.RESAMPLES,
    seed: int = stats.SEED,
    min_slice: int = paired.MIN_SLICE,
) -> GateResult:
    """Check ``report`` against floors and, when given, a baseline report (module docstring).

    Raises ValueError for a floor on an unknown metric.
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

    if baseline is None:
        return result
    comparison = paired.compare(
        baseline,
        report,
        margin=margin,
        confidence=confidence,
        resamples=resamples,
        seed=seed,
        min_slice=min_slice,
        gate_latency=gate_latency,
    )
    result.comparison = comparison
    result.verdicts = {m.metric: m.verdict for m in comparison.metrics if m.verdict}
    overlap = comparison.overlap
    if comparison.partial_overlap:
        result.warnings.append(
            f"the reports share {overlap['shared']} cases: {len(overlap['only_baseline'])} only in the "
            f"baseline, {len(overlap['only_run'])} only in this run, {len(overlap['question_changed'])} "
            "with a changed question; only the shared cases are compared"
        )
    result.warnings += [f"fingerprint differs: {d}" for d in comparison.fingerprint_differences]
    if strict and result.warnings:
        for warning in result.warnings:
            _fail(result, "strict", f"strict: {warning}")
    if overlap["shared"] == 0:
        _fail(
            result,
            "baseline",
            "no case is shared with the baseline (same id and question): nothing to compare",
        )
    for row in comparison.metrics:
        if row.verdict == paired.FAIL:
            cases = regressed_cases(baseline, report, row.metric)
            result.regressed_cases[row.metric] = cases
            listed = f"; regressed cases: {', '.join(cases)}" if cases else ""
            _fail(
                result,
                row.metric,
                f"{row.metric}: FAIL, {row.baseline:.4g} -> {row.run:.4g} ({row.difference:+.4g}, "
                f"{round(100 * confidence)}% interval [{row.low:+.4g}, {row.high:+.4g}], p(Holm) "
                f"{row.p_holm:.3g}){listed}",
            )

    if max_drop is not None:
        before = baseline.get("metrics") or {}
        for metric in METRICS:
            if metric.direction == "none" or (metric.timing and not gate_latency):
                continue
            old, new = before.get(metric.name), current.get(metric.name)
            if old is None or new is None:
                continue
            worse_by = (new - old) if metric.lower_is_better else (old - new)
            if worse_by > max_drop + _EPS:
                cases = regressed_cases(baseline, report, metric.name)
                result.regressed_cases.setdefault(metric.name, cases)
                listed = f"; regressed cases: {', '.join(cases)}" if cases else ""
                _fail(
                    result,
                    metric.name,
                    f"{metric.name} fell from {old:.4g} to {new:.4g} (allowed drop {max_drop:g}; naive "
                    f"rule --max-drop, blind to set size){listed}",
                )
    return result


def _fail(result: GateResult, name: str, message: str) -> None:
    result.ok = False
    result.messages.append(message)
    if name not in result.failed_metrics:
        result.failed_metrics.append(name)


def regressed_cases(baseline: dict[str, Any], report: dict[str, Any], metric: str) -> list[str]:
    """Ids of shared cases whose per-case value behind ``metric`` got worse, or that now raise.

    For example a case that was a hit and no longer is, that was refused correctly and no
    longer is, or that had all its key facts and lost one.
    """
    if metric not in METRICS:
        return []
    m = METRICS[metric]
    shared_a, shared_b, _ = match_cases(baseline, report)
    out = []
    for old, case in zip(shared_a, shared_b, strict=True):
        if case.get("error") and not old.get("error"):
            if m.case_value(case) is not None or m.case_value(old) is not None:
                out.append(case["id"])
            continue
        if not (m.available([old]) and m.available([case])):
            continue
        before, after = m.case_value(old), m.case_value(case)
        if before is None or after is None:
            continue
        if (after > before + _EPS) if m.lower_is_better else (after < before - _EPS):
            out.append(case["id"])
    return out


def compare_reports(a: dict[str, Any], b: dict[str, Any], **options: Any) -> str:
    """A text comparison of report ``a`` (before) with ``b`` (after): the paired table, then cases."""
    lines = [
        *(
            f"{label}: {', '.join(r.get('eval_sets') or ())} backend={r.get('backend')} k={r.get('k')} "
            f"n={r.get('n_cases')} ({r.get('created_at')})"
            for label, r in (("A", a), ("B", b))
        ),
        "",
        paired.format_table(paired.compare(a, b, **options)),
    ]
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
    lines += ["", f"case details: {len(changed)} changed, {len(only_a)} only in A, {len(only_b)} only in B"]
    lines += changed
    if only_a:
        lines.append(f"  only in A: {', '.join(only_a)}")
    if only_b:
        lines.append(f"  only in B: {', '.join(only_b)}")
    return "\n".join(lines)


def _case_diffs(ca: dict[str, Any], cb: dict[str, Any]) -> list[str]:
    diffs = []
    for key in ("passed", "hit", "rank"):
        if ca.get(key) != cb.get(key):
            diffs.append(f"{key} {_fmt(ca.get(key))} -> {_fmt(cb.get(key))}")
    if status_of(ca) != status_of(cb):
        diffs.append(f"status {status_of(ca) or 'error'} -> {status_of(cb) or 'error'}")
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
