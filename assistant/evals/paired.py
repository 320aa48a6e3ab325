"""Paired comparison of two eval reports, case by case: the table behind the gate and ``eval compare``.

Cases are matched by id and question. For every metric of the catalogue the comparison gives,
on the shared cases: the difference with a paired bootstrap interval; a one-sided p-value of a
drop, the larger of the bootstrap's (a drop beyond the margin) and an exact count test's (more
cases worse than better: McNemar for yes/no outcomes, the sign test for graded ones),
Holm-corrected over the metrics (and, separately, over all slice comparisons); the smallest
drop the set could detect; and a verdict:

* ``FAIL``: the interval lies wholly below ``-margin`` and the drop is significant after Holm;
* ``PASS``: the interval's worse end is no worse than ``-margin`` (no drop beyond the margin);
* ``INCONCLUSIVE``: neither; the set cannot tell (compare the detectable drop).

Directions are applied: for a lower-is-better metric a rise is a drop. Metrics without a
direction (``median_answer_words``) and timing metrics (unless ``gate_latency``) are shown
with their interval but get no verdict.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from assistant.evals import fingerprint as fp
from assistant.evals import stats
from assistant.evals.catalogue import METRICS, status_of
from assistant.evals.registry import Mean, Metric, Record

PASS, FAIL, INCONCLUSIVE = "PASS", "FAIL", "INCONCLUSIVE"
MIN_SLICE = 10
_EPS = 1e-9


@dataclass
class MetricComparison:
    """One metric on one slice. Values are on the shared cases; ``difference`` is run minus
    baseline (raw units); ``low``/``high`` its interval. ``p_bootstrap``: one-sided p of a drop
    beyond the margin; ``case_test``: exact McNemar (yes/no values) or sign test (graded) on the
    cases that changed (``worse``, ``better``, p-values); ``p_value`` is the larger one-sided p
    of the two and ``p_holm`` its Holm-corrected value."""

    metric: str
    slice: str
    direction: str
    n: int
    baseline: float | None
    run: float | None
    difference: float | None = None
    low: float | None = None
    high: float | None = None
    p_value: float | None = None
    p_holm: float | None = None
    test: str | None = None
    p_bootstrap: float | None = None
    case_test: dict[str, Any] | None = None
    detectable_drop: float | None = None
    verdict: str | None = None
    gated: bool = True
    note: str = ""

    def worse_end(self) -> float | None:
        """The interval's worse end, oriented so that negative is worse."""
        if self.low is None or self.high is None:
            return None
        return -self.high if self.direction == "lower" else self.low

    def better_end(self) -> float | None:
        if self.low is None or self.high is None:
            return None
        return -self.low if self.direction == "lower" else self.high


@dataclass
class SliceComparison:
    """The paired test on one slice: ``kind`` is ``tag``, ``doc`` or ``answerable``."""

    name: str
    kind: str
    n: int
    metrics: list[MetricComparison]

    @property
    def regressed(self) -> bool:
        return any(m.verdict == FAIL for m in self.metrics)


@dataclass
class PairedComparison:
    """Everything the gate and the reports show about a run against its baseline."""

    settings: dict[str, Any]
    overlap: dict[str, Any]
    fingerprint_differences: list[str]
    metrics: list[MetricComparison]
    not_compared: dict[str, str] = field(default_factory=dict)
    key_facts: dict[str, Any] | None = None
    slices: list[SliceComparison] = field(default_factory=list)
    skipped_slices: dict[str, int] = field(default_factory=dict)
    cases: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    @property
    def failed(self) -> list[str]:
        return [m.metric for m in self.metrics if m.verdict == FAIL]

    @property
    def regressed_slices(self) -> list[str]:
        return [s.name for s in self.slices if s.regressed]

    @property
    def partial_overlap(self) -> bool:
        o = self.overlap
        return bool(o["only_baseline"] or o["only_run"] or o["question_changed"])

    @property
    def verdict(self) -> str:
        verdicts = [m.verdict for m in self.metrics if m.verdict is not None]
        if FAIL in verdicts:
            return FAIL
        return PASS if verdicts and all(v == PASS for v in verdicts) else INCONCLUSIVE

    def to_dict(self) -> dict[str, Any]:
        """The ``comparison`` object of ``report.json`` (see docs/INTERFACE.md)."""
        return {
            "verdict": self.verdict,
            "settings": self.settings,
            "overlap": self.overlap,
            "fingerprint_differences": self.fingerprint_differences,
            "metrics": [_row(m) for m in self.metrics],
            "not_compared": self.not_compared,
            "key_facts": self.key_facts,
            "slices": [
                {
                    "slice": s.name,
                    "kind": s.kind,
                    "n": s.n,
                    "regressed": s.regressed,
                    "metrics": [_row(m) for m in s.metrics],
                }
                for s in self.slices
            ],
            "regressed_slices": self.regressed_slices,
            "skipped_slices": self.skipped_slices,
            "cases": self.cases,
        }


def _row(m: MetricComparison) -> dict[str, Any]:
    row = asdict(m)
    for key in ("baseline", "run", "difference", "low", "high", "detectable_drop"):
        if row[key] is not None:
            row[key] = round(row[key], 6)
    for key in ("p_value", "p_holm", "p_bootstrap"):
        if row[key] is not None:
            row[key] = float(f"{row[key]:.4g}")
    return row


# ---------------------------------------------------------------------------------------- matching


def match_cases(
    baseline: Mapping[str, Any], run: Mapping[str, Any]
) -> tuple[list[Record], list[Record], dict[str, Any]]:
    """Shared cases (same id and question) as two aligned lists, plus the overlap summary."""
    cases_a = list(baseline.get("cases") or ())
    cases_b = list(run.get("cases") or ())
    by_id_a = {c["id"]: c for c in cases_a}
    by_id_b = {c["id"]: c for c in cases_b}
    shared_a: list[Record] = []
    shared_b: list[Record] = []
    changed: list[str] = []
    for case in cases_b:
        old = by_id_a.get(case["id"])
        if old is None:
            continue
        if " ".join(str(old.get("question", "")).split()) != " ".join(str(case.get("question", "")).split()):
            changed.append(case["id"])
            continue
        shared_a.append(old)
        shared_b.append(case)
    overlap = {
        "baseline_cases": len(cases_a),
        "run_cases": len(cases_b),
        "shared": len(shared_b),
        "only_baseline": [i for i in by_id_a if i not in by_id_b],
        "only_run": [i for i in by_id_b if i not in by_id_a],
        "question_changed": changed,
    }
    return shared_a, shared_b, overlap


# ------------------------------------------------------------------------------------- comparison


def compare(
    baseline: Mapping[str, Any],
    run: Mapping[str, Any],
    *,
    margin: float = 0.0,
    confidence: float = stats.CONFIDENCE,
    resamples: int = stats.RESAMPLES,
    seed: int = stats.SEED,
    min_slice: int = MIN_SLICE,
    gate_latency: bool = False,
    metrics: Sequence[str] | None = None,
    slices: bool = True,
) -> PairedComparison:
    """Compare ``run`` with ``baseline`` case by case (see the module docstring)."""
    if margin < 0:
        raise ValueError("margin must be zero or positive")
    chosen = [METRICS[name] for name in metrics] if metrics is not None else list(METRICS)
    shared_a, shared_b, overlap = match_cases(baseline, run)
    options = dict(margin=margin, confidence=confidence, resamples=resamples, seed=seed)
    result = PairedComparison(
        settings={
            "margin": margin,
            "confidence": confidence,
            "resamples": resamples,
            "seed": seed,
            "min_slice": min_slice,
            "power": stats.POWER,
            "correction": "holm",
            "gate_latency": gate_latency,
        },
        overlap=overlap,
        fingerprint_differences=fp.differences(baseline.get("fingerprint"), run.get("fingerprint")),
        metrics=[],
    )
    for metric in chosen:
        if not metric.available(list(baseline.get("cases") or ())):
            result.not_compared[metric.name] = "not in the baseline report (written by an older version)"
            continue
        if not metric.available(list(run.get("cases") or ())):
            result.not_compared[metric.name] = "not in this run's report"
            continue
        row = _compare_metric(metric, shared_a, shared_b, "all", **options)
        row.gated = metric.gated and (not metric.timing or gate_latency)
        if row.baseline is None and row.run is None:
            result.not_compared[metric.name] = "no eligible case"
            continue
        result.metrics.append(row)
    _decide(result.metrics, margin, confidence)
    result.key_facts = _key_fact_mcnemar(shared_a, shared_b)

    if slices:
        gated = [m for m in chosen if m.gated and not m.timing and m.name not in result.not_compared]
        for name, kind, index in _slices(shared_b):
            if len(index) < min_slice:
                result.skipped_slices[name] = len(index)
                continue
            sub_a = [shared_a[i] for i in index]
            sub_b = [shared_b[i] for i in index]
            rows = [_compare_metric(m, sub_a, sub_b, name, **options) for m in gated]
            rows = [r for r in rows if r.difference is not None]
            result.slices.append(SliceComparison(name, kind, len(index), rows))
        _decide([r for s in result.slices for r in s.metrics], margin, confidence)
    result.cases = case_changes(shared_a, shared_b, chosen)
    return result


def _compare_metric(
    metric: Metric,
    shared_a: Sequence[Record],
    shared_b: Sequence[Record],
    slice_name: str,
    *,
    margin: float,
    confidence: float,
    resamples: int,
    seed: int,
) -> MetricComparison:
    values_a = [metric.case_value(r) for r in shared_a]
    values_b = [metric.case_value(r) for r in shared_b]
    index = [
        i
        for i, (va, vb) in enumerate(zip(values_a, values_b, strict=True))
        if va is not None or vb is not None
    ]
    elig_a = [shared_a[i] for i in index]
    elig_b = [shared_b[i] for i in index]
    row = MetricComparison(
        metric=metric.name,
        slice=slice_name,
        direction=metric.direction,
        n=len(index),
        baseline=metric.aggregate(elig_a),
        run=metric.aggregate(elig_b),
        gated=metric.gated,
    )
    if row.baseline is None or row.run is None:
        row.note = "no eligible case in the " + ("baseline" if row.baseline is None else "run")
        return row
    agg = metric.aggregation
    boot = stats.paired_bootstrap(
        agg.arrays(metric, elig_a),
        agg.arrays(metric, elig_b),
        agg.statistic,
        lower_is_better=metric.lower_is_better,
        margin=margin,
        confidence=confidence,
        resamples=resamples,
        seed=seed,
    )
    if boot is None:
        row.note = "no resample had an eligible case on both sides"
        return row
    row.difference, row.low, row.high = boot.difference, boot.low, boot.high
    row.p_bootstrap = boot.p_worse
    both = [i for i in index if values_a[i] is not None and values_b[i] is not None]
    sign = stats.sign_test(
        [values_a[i] or 0.0 for i in both],
        [values_b[i] or 0.0 for i in both],
        lower_is_better=metric.lower_is_better,
    )
    name = "mcnemar" if metric.binary and isinstance(agg, Mean) else "sign"
    row.case_test = {
        "name": name,
        "cases": len(both),
        "worse": sign.worse,
        "better": sign.better,
        "p_two_sided": sign.p_two_sided,
        "p_worse": sign.p_worse,
    }
    # Both must show the drop: the bootstrap the size of the mean change beyond the margin, the
    # exact count test that more cases got worse than better (it keeps a few cases, where every
    # resample looks alike, from passing for a certainty).
    row.p_value = max(boot.p_worse, sign.p_worse)
    row.test = f"bootstrap+{name}"
    row.detectable_drop = stats.detectable_drop(
        boot.standard_error,
        len(index),
        binary=metric.binary,
        bounded=metric.unit == "rate",
        confidence=confidence,
    )
    return row


def _decide(rows: Sequence[MetricComparison], margin: float, confidence: float) -> None:
    """Holm over the gated rows with a p-value, then each row's verdict."""
    family = [r for r in rows if r.gated and r.direction != "none" and r.p_value is not None]
    for row, adjusted in zip(family, stats.holm([r.p_value or 1.0 for r in family]), strict=True):
        row.p_holm = adjusted
    alpha = (1.0 - confidence) / 2.0
    for row in family:
        worse, better = row.worse_end(), row.better_end()
        if worse is None or better is None:
            continue
        if better < -margin - _EPS and (row.p_holm or 1.0) < alpha:
            row.verdict = FAIL
        elif worse >= -margin - _EPS:
            row.verdict = PASS
        else:
            row.verdict = INCONCLUSIVE
            if better < -margin - _EPS:
                row.note = "interval below the margin, not significant after the Holm correction"


def _slices(records: Sequence[Record]) -> list[tuple[str, str, list[int]]]:
    groups: dict[tuple[str, str], list[int]] = {}
    for i, r in enumerate(records):
        for tag in r.get("tags") or ():
            groups.setdefault((f"tag:{tag}", "tag"), []).append(i)
        for doc in dict.fromkeys(r.get("source_doc_ids") or ()):
            groups.setdefault((f"doc:{doc}", "doc"), []).append(i)
        key = "answerable" if r.get("answerable", True) else "unanswerable"
        groups.setdefault((key, "answerable"), []).append(i)
    order = {"answerable": 0, "tag": 1, "doc": 2}
    return [
        (name, kind, idx)
        for (name, kind), idx in sorted(groups.items(), key=lambda g: (order[g[0][1]], g[0][0]))
    ]


def _key_fact_mcnemar(shared_a: Sequence[Record], shared_b: Sequence[Record]) -> dict[str, Any] | None:
    """Exact McNemar over every key fact of the shared answerable cases (found before / after).

    Facts of one case are not independent, so this is shown beside key_fact_recall's per-case
    bootstrap, not gated."""
    before: list[bool] = []
    after: list[bool] = []
    for a, b in zip(shared_a, shared_b, strict=True):
        if not b.get("answerable", True):
            continue
        found_a = set(a.get("key_facts_found") or ())
        facts_a = found_a | set(a.get("key_facts_missing") or ())
        found_b = set(b.get("key_facts_found") or ())
        facts_b = found_b | set(b.get("key_facts_missing") or ())
        for fact in sorted(facts_a & facts_b):
            before.append(fact in found_a)
            after.append(fact in found_b)
    if not before:
        return None
    result = stats.mcnemar(before, after)
    return {
        "facts": len(before),
        "lost": result.worse,
        "found": result.better,
        "p_two_sided": result.p_two_sided,
    }


# ------------------------------------------------------------------------------------ case changes


def _show(value: float | None, binary: bool) -> str:
    if value is None:
        return "-"
    if binary:
        return "yes" if value else "no"
    return f"{value:.3g}"


def case_changes(
    shared_a: Sequence[Record], shared_b: Sequence[Record], chosen: Sequence[Metric] | None = None
) -> dict[str, list[dict[str, Any]]]:
    """Cases that regressed and improved: ``{"regressed": [...], "improved": [...]}``.

    Each entry: ``{"id", "question", "changes": [str], "worse": int, "better": int,
    "baseline": {"answer", "status", "passed"}, "run": {...}}``. A case regressed when it
    stopped passing, or more of its per-case values got worse than better (timing ignored).
    """
    metrics = [m for m in (chosen or list(METRICS)) if m.gated and not m.timing]
    out: dict[str, list[dict[str, Any]]] = {"regressed": [], "improved": []}
    for a, b in zip(shared_a, shared_b, strict=True):
        changes: list[str] = []
        worse = better = 0
        for m in metrics:
            if not (m.available([a]) and m.available([b])):
                continue
            va, vb = m.case_value(a), m.case_value(b)
            if va is None or vb is None or abs(va - vb) <= _EPS:
                continue
            gain = (va - vb) if m.lower_is_better else (vb - va)
            worse += gain < 0
            better += gain > 0
            changes.append(f"{m.name} {_show(va, m.binary)} -> {_show(vb, m.binary)}")
        if bool(a.get("error")) != bool(b.get("error")):
            changes.append(f"error {a.get('error') or '-'} -> {b.get('error') or '-'}")
            worse += bool(b.get("error"))
            better += bool(a.get("error"))
        if status_of(a) != status_of(b):
            changes.append(f"status {status_of(a) or 'error'} -> {status_of(b) or 'error'}")
        passed_a, passed_b = a.get("passed"), b.get("passed")
        if passed_a is not None and passed_b is not None and passed_a != passed_b:
            kind = "improved" if passed_b else "regressed"
        elif worse > better:
            kind = "regressed"
        elif better > worse:
            kind = "improved"
        else:
            continue
        out[kind].append(
            {
                "id": b["id"],
                "question": b.get("question", ""),
                "changes": changes,
                "worse": worse,
                "better": better,
                "baseline": {"answer": a.get("answer", ""), "status": status_of(a), "passed": passed_a},
                "run": {"answer": b.get("answer", ""), "status": status_of(b), "passed": passed_b},
            }
        )
    return out


# ------------------------------------------------------------------------------------------- text


def _num(value: float | None, metric: str, signed: bool = False) -> str:
    if value is None:
        return "-"
    unit = METRICS[metric].unit if metric in METRICS else "rate"
    spec = ("+" if signed else "") + (".1f" if unit in ("ms", "words") else ".3f")
    return format(value, spec)


def format_table(comparison: PairedComparison, *, cases: int = 10) -> str:
    """The paired table as text (what ``eval run --baseline`` and ``eval compare`` print)."""
    s, o = comparison.settings, comparison.overlap
    lines = [
        f"paired comparison on {o['shared']} shared cases (baseline {o['baseline_cases']}, run "
        f"{o['run_cases']}; {len(o['only_baseline'])} only in the baseline, {len(o['only_run'])} only in "
        f"this run, {len(o['question_changed'])} with a changed question)",
        f"{round(100 * s['confidence'])}% paired bootstrap intervals ({s['resamples']} resamples, seed "
        f"{s['seed']}); p: one-sided, drop beyond margin {s['margin']:g}, Holm-corrected over "
        f"{sum(1 for m in comparison.metrics if m.p_holm is not None)} metrics; detectable: smallest drop "
        f"found {round(100 * s['power'])}% of the time",
    ]
    if o["only_baseline"] or o["only_run"] or o["question_changed"]:
        lines.append("warning: the reports do not hold the same cases; only the shared cases are compared")
    for difference in comparison.fingerprint_differences:
        lines.append(f"warning: fingerprint differs: {difference}")
    header = (
        f"{'metric':<21} {'better':<6} {'baseline':>9} {'run':>9} {'change':>8}  "
        f"{'interval':<19} {'p(Holm)':>8} {'detect':>7}  verdict"
    )
    lines += ["", header]
    for m in comparison.metrics:
        interval = (
            f"[{_num(m.low, m.metric, True)}, {_num(m.high, m.metric, True)}]" if m.low is not None else "-"
        )
        p = f"{m.p_holm:.3g}" if m.p_holm is not None else "-"
        detect = _num(m.detectable_drop, m.metric) if m.verdict else "-"
        verdict = m.verdict or ("(info)" if m.direction == "none" else "(not gated)" if not m.gated else "-")
        if m.note and m.verdict in (None, INCONCLUSIVE):
            verdict += f"  {m.note}"
        direction = {"higher": "higher", "lower": "lower"}.get(m.direction, "-")
        lines.append(
            f"{m.metric:<21} {direction:<6} {_num(m.baseline, m.metric):>9} {_num(m.run, m.metric):>9} "
            f"{_num(m.difference, m.metric, True):>8}  {interval:<19} {p:>8} {detect:>7}  {verdict}"
        )
    for name, reason in comparison.not_compared.items():
        lines.append(f"{name:<21} not compared: {reason}")
    kf = comparison.key_facts
    if kf:
        lines.append(
            f"key facts (exact McNemar over {kf['facts']} facts): {kf['lost']} lost, {kf['found']} found, "
            f"p = {kf['p_two_sided']:.3g} (two-sided)"
        )
    lines.append(
        f"overall: {comparison.verdict}"
        + (f" (failed: {', '.join(comparison.failed)})" if comparison.failed else "")
    )
    lines.append("")
    compared = len(comparison.slices)
    skipped = len(comparison.skipped_slices)
    regressed = comparison.regressed_slices
    lines.append(
        f"slices: {compared} compared (at least {s['min_slice']} shared cases), {skipped} too small; "
        f"regressed: {', '.join(regressed) if regressed else 'none'}"
    )
    for sl in comparison.slices:
        for m in sl.metrics:
            if m.verdict == FAIL:
                lines.append(
                    f"  {sl.name} {m.metric}: {_num(m.baseline, m.metric)} -> {_num(m.run, m.metric)} "
                    f"[{_num(m.low, m.metric, True)}, {_num(m.high, m.metric, True)}] p(Holm) {m.p_holm:.3g}"
                )
    reg, imp = comparison.cases.get("regressed", []), comparison.cases.get("improved", [])
    lines.append(f"cases: {len(reg)} regressed, {len(imp)} improved")
    for label, items in (("regressed", reg), ("improved", imp)):
        for item in items[:cases]:
            lines.append(f"  {label} {item['id']}: {'; '.join(item['changes'])}")
        if len(items) > cases:
            lines.append(f"  ... and {len(items) - cases} more {label} (see report.html)")
    return "\n".join(lines)
