"""Write a report as ``report.json``, ``report.md`` and a self-contained ``report.html``.

Every table and plot takes its metrics from the catalogue (:mod:`assistant.evals.catalogue`).
A report with a ``comparison`` (a run gated against a baseline) also shows the paired table,
its intervals as error bars, the slices and the cases that regressed or improved with both
answers.
"""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path
from typing import Any

from assistant.evals.catalogue import METRIC_NAMES, METRICS, PLOTTED_METRICS
from assistant.evals.metrics import STATUSES

__all__ = ["PLOTTED_METRICS", "failure_reasons", "render_html", "render_markdown", "write_report"]
_CSS = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;vertical-align:top}
th{background:#f3f3f3}.fail{background:#fff0f0}.num{text-align:right;font-variant-numeric:tabular-nums}
.answer{max-width:40em;white-space:pre-wrap}.quote{color:#555;font-size:90%}img{max-width:100%}
.FAIL{background:#ffd9d9;font-weight:bold}.PASS{background:#e3f6e3}.INCONCLUSIVE{background:#fff6d6}
.warn{color:#8a4b00}
"""


def write_report(report: dict[str, Any], out_dir: str | Path) -> dict[str, Path]:
    """Write the three report files into ``out_dir`` (created); returns ``{"json", "md", "html"}`` paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "report.json", "md": out / "report.md", "html": out / "report.html"}
    paths["json"].write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    paths["md"].write_text(render_markdown(report), encoding="utf-8")
    paths["html"].write_text(render_html(report), encoding="utf-8")
    return paths


def _fmt(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"
    return str(value)


def _md(text: Any) -> str:
    """Markdown-safe inline text: one line, pipes escaped, ``<``/``>``/``&`` as entities."""
    return html.escape(" ".join(str(text).split()), quote=False).replace("|", "\\|")


def _metric_names(report: dict[str, Any]) -> list[str]:
    present = report.get("metrics") or {}
    return [m for m in METRIC_NAMES if m in present] + sorted(set(present) - set(METRIC_NAMES))


def failure_reasons(case: dict[str, Any]) -> list[str]:
    """Why a case failed, in words (empty for a passing case)."""
    if case.get("error"):
        return [f"error: {case['error']}"]
    reasons = []
    if not case.get("answerable", True):
        if not case.get("refused"):
            reasons.append("answered an unanswerable question")
        return reasons
    if case.get("refused"):
        reasons.append("refused an answerable question")
    if case.get("hit") is False:
        reasons.append("no source document in the top k")
    if case.get("key_facts_missing"):
        reasons.append("missing facts: " + ", ".join(case["key_facts_missing"]))
    return reasons


def _direction(name: str) -> str:
    return (
        {"higher": "higher", "lower": "lower"}.get(METRICS[name].direction, "-") if name in METRICS else "-"
    )


def _num(value: Any, metric: str, signed: bool = False) -> str:
    if value is None:
        return "-"
    unit = METRICS[metric].unit if metric in METRICS else "rate"
    return format(value, ("+" if signed else "") + (".1f" if unit in ("ms", "words") else ".3f"))


def _interval(row: dict[str, Any]) -> str:
    if row.get("low") is None:
        return "-"
    return f"[{_num(row['low'], row['metric'], True)}, {_num(row['high'], row['metric'], True)}]"


def _p(value: Any) -> str:
    return "-" if value is None else f"{value:.3g}"


def _verdict(row: dict[str, Any]) -> str:
    if row.get("verdict"):
        return str(row["verdict"])
    if row.get("direction") == "none":
        return "info"
    return "not gated" if not row.get("gated", True) else "-"


def _fingerprint_lines(report: dict[str, Any]) -> list[str]:
    fp = report.get("fingerprint")
    if not fp:
        return ["fingerprint: none (report written before fingerprints)"]
    es = fp.get("eval_set") or {}
    corpus = fp.get("corpus") or {}
    emb = fp.get("embedding") or {}
    backend = fp.get("backend") or {}
    retrieval = fp.get("retrieval") or {}
    index = fp.get("index") or {}
    return [
        f"eval set: {es.get('n_cases')} cases, hash {str(es.get('hash'))[:12]}",
        f"corpus: {corpus.get('n_documents', '-')} documents, hash {str(corpus.get('hash') or '-')[:12]}",
        f"index: chunks of {index.get('chunk_tokens', '-')} tokens "
        f"(overlap {index.get('chunk_overlap', '-')}); embedding {emb.get('model', '-')} "
        f"({emb.get('backend', '-')}, hash {str(emb.get('hash') or '-')[:12]})",
        f"retrieval: {retrieval.get('retrieval_mode', '-')}, fusion {retrieval.get('fusion_mode', '-')}, "
        f"k {retrieval.get('k', '-')}; backend {backend.get('name', '-')}"
        + (f" ({backend['model']})" if backend.get("model") else ""),
        f"package: {(fp.get('package') or {}).get('version', '-')}",
    ]


def _abstention_rows(report: dict[str, Any]) -> list[tuple[str, list[int]]]:
    matrix = report.get("abstention") or {}
    return [(row, [int((matrix.get(row) or {}).get(s, 0)) for s in STATUSES]) for row in matrix]


def render_markdown(report: dict[str, Any]) -> str:
    """The Markdown report: run details, metrics, abstention, comparison, per-tag metrics, failing cases."""
    names = _metric_names(report)
    lines = [
        "# Eval report",
        "",
        f"- eval sets: {', '.join(report.get('eval_sets') or ()) or '-'}",
        f"- index: {report.get('index') or '-'}; backend: {report.get('backend') or '-'}; "
        f"k: {report.get('k')}",
        (
            f"- created: {report.get('created_at')}; cases: {report.get('n_cases')}; "
            f"errors: {report.get('n_errors', 0)}; failed: {report.get('n_failed', '-')}"
        ),
        *(f"- {_md(line)}" for line in _fingerprint_lines(report)),
        "",
        "## Metrics",
        "",
        "| metric | value | better |",
        "|---|---:|---|",
    ]
    lines += [f"| {name} | {_fmt(report['metrics'].get(name))} | {_direction(name)} |" for name in names]
    rows = _abstention_rows(report)
    if rows:
        lines += ["", "## Answers by status", "", "| cases | " + " | ".join(STATUSES) + " |"]
        lines.append("|---" + "|---:" * len(STATUSES) + "|")
        lines += [f"| {row} | " + " | ".join(map(str, counts)) + " |" for row, counts in rows]
    judge = report.get("judge")
    if judge:
        lines += [
            "",
            "## Judge",
            "",
            f"model {_md(judge.get('model'))} ({judge.get('backend')}), "
            f"prompt hash {judge.get('prompt_hash')}, "
            f"{judge.get('repeats')} repeat(s), {judge.get('items')} items, {judge.get('calls')} calls, "
            f"{judge.get('cached')} cached; flip rate: {_fmt(judge.get('flip_rate'))}",
        ]
    lines += _markdown_comparison(report.get("comparison"))
    by_tag = report.get("by_tag") or {}
    if by_tag:
        lines += [
            "",
            "## By tag",
            "",
            "| tag | " + " | ".join(names) + " |",
            "|---" + "|---:" * len(names) + "|",
        ]
        for tag, values in by_tag.items():
            lines.append(f"| {_md(tag)} | " + " | ".join(_fmt(values.get(n)) for n in names) + " |")
    failing = [c for c in report.get("cases") or () if not c.get("passed", True)]
    lines += ["", f"## Failing cases ({len(failing)})", ""]
    if not failing:
        lines.append("None.")
    for case in failing:
        lines.append(f"- **{_md(case['id'])}**: {_md(case['question'])}")
        lines += [f"  - {_md(reason)}" for reason in failure_reasons(case)]
    return "\n".join(lines) + "\n"


def _markdown_comparison(comparison: dict[str, Any] | None) -> list[str]:
    if not comparison:
        return []
    o = comparison["overlap"]
    lines = [
        "",
        f"## Comparison with the baseline: {comparison['verdict']}",
        "",
        f"Baseline {_md(comparison.get('baseline') or '-')}; {o['shared']} shared cases "
        f"({len(o['only_baseline'])} only in the baseline, {len(o['only_run'])} only in this run, "
        f"{len(o['question_changed'])} with a changed question). "
        f"Margin {comparison['settings']['margin']:g}; "
        "PASS: no drop beyond the margin; FAIL: a significant drop beyond it; INCONCLUSIVE: the set "
        "cannot tell (see the detectable drop).",
    ]
    lines += [
        f"- warning: fingerprint differs: {_md(d)}" for d in comparison.get("fingerprint_differences") or ()
    ]
    lines += [
        "",
        "| metric | better | baseline | run | change | 95% interval | p (Holm) | detectable drop | verdict |",
        "|---|---|---:|---:|---:|---|---:|---:|---|",
    ]
    for row in comparison["metrics"]:
        m = row["metric"]
        lines.append(
            f"| {m} | {_direction(m)} | {_num(row['baseline'], m)} | {_num(row['run'], m)} | "
            f"{_num(row['difference'], m, True)} | {_interval(row)} | {_p(row['p_holm'])} | "
            f"{_num(row['detectable_drop'], m) if row.get('verdict') else '-'} | {_verdict(row)} |"
        )
    for name, reason in (comparison.get("not_compared") or {}).items():
        lines.append(f"| {name} | | | | | | | | not compared: {_md(reason)} |")
    kf = comparison.get("key_facts")
    if kf:
        lines += [
            "",
            f"Key facts (exact McNemar over {kf['facts']} facts): {kf['lost']} lost, {kf['found']} found, "
            f"p = {_p(kf['p_two_sided'])}.",
        ]
    slices = comparison.get("slices") or []
    lines += [
        "",
        f"### Slices ({len(slices)} compared, {len(comparison.get('skipped_slices') or {})} under "
        f"{comparison['settings']['min_slice']} cases); regressed: "
        f"{', '.join(comparison.get('regressed_slices') or ()) or 'none'}",
        "",
    ]
    if slices:
        lines += [
            "| slice | cases | fail | inconclusive | pass | worst change |",
            "|---|---:|---:|---:|---:|---|",
        ]
        for sl in slices:
            counts = {
                v: sum(1 for r in sl["metrics"] if r.get("verdict") == v)
                for v in ("FAIL", "INCONCLUSIVE", "PASS")
            }
            worst = _worst(sl["metrics"])
            lines.append(
                f"| {_md(sl['slice'])} | {sl['n']} | {counts['FAIL']} | {counts['INCONCLUSIVE']} | "
                f"{counts['PASS']} | {worst} |"
            )
    for kind in ("regressed", "improved"):
        items = (comparison.get("cases") or {}).get(kind) or []
        lines += ["", f"### Cases that {kind} ({len(items)})", ""]
        for item in items:
            lines.append(f"- **{_md(item['id'])}**: {_md(item['question'])}")
            lines.append(f"  - {_md('; '.join(item['changes']))}")
            lines.append(f"  - baseline ({item['baseline']['status']}): {_md(item['baseline']['answer'])}")
            lines.append(f"  - run ({item['run']['status']}): {_md(item['run']['answer'])}")
    return lines


def _worst(rows: list[dict[str, Any]]) -> str:
    """The slice row whose interval's worse end is lowest, as text."""
    scored = []
    for row in rows:
        if row.get("low") is None:
            continue
        worse = -row["high"] if row.get("direction") == "lower" else row["low"]
        scored.append((worse, row))
    if not scored:
        return "-"
    _, row = min(scored, key=lambda x: x[0])
    return f"{row['metric']} {_num(row['difference'], row['metric'], True)} {_interval(row)} {_verdict(row)}"


def _plots(report: dict[str, Any]) -> list[tuple[str, str]]:
    """``[(title, base64 PNG)]``; empty when matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    out: list[tuple[str, str]] = []
    comparison = report.get("comparison")
    if comparison:
        rows = [
            r
            for r in comparison["metrics"]
            if r.get("low") is not None and METRICS[r["metric"]].unit == "rate"
        ]
        if rows:
            out.append(
                ("Paired differences with 95% intervals", _png(_error_bars(plt, rows, comparison), plt))
            )
    groups = {"all": report.get("metrics") or {}, **(report.get("by_tag") or {})}
    names = [m for m in PLOTTED_METRICS if any(g.get(m) is not None for g in groups.values())]
    if names:
        fig, ax = plt.subplots(figsize=(max(6.0, 1.2 * len(groups) * len(names) / 3), 4))
        width = 0.8 / len(names)
        for i, name in enumerate(names):
            xs = [j + i * width for j in range(len(groups))]
            ax.bar(xs, [g.get(name) or 0.0 for g in groups.values()], width, label=name)
        ax.set_xticks(
            [j + 0.4 - width / 2 for j in range(len(groups))], list(groups), rotation=30, ha="right"
        )
        ax.set_ylim(0, 1.05)
        ax.set_title("Metrics by tag (missing bars: no eligible case)")
        ax.legend(fontsize="small", loc="center left", bbox_to_anchor=(1.01, 0.5))
        fig.tight_layout()
        out.append(("Metrics by tag", _png(fig, plt)))
    latencies = [c["latency_ms"] for c in report.get("cases") or () if c.get("latency_ms") is not None]
    if latencies:
        fig, ax = plt.subplots(figsize=(6, 3.5))
        ax.hist(latencies, bins=min(30, max(5, len(latencies) // 2)))
        ax.set_xlabel("latency (ms)")
        ax.set_ylabel("cases")
        ax.set_title("Latency per case")
        fig.tight_layout()
        out.append(("Latency", _png(fig, plt)))
    return out


def _error_bars(plt: Any, rows: list[dict[str, Any]], comparison: dict[str, Any]) -> Any:
    """Run minus baseline per metric with its interval, oriented so that left is worse."""
    colours = {"FAIL": "#c0392b", "PASS": "#2e8b57", "INCONCLUSIVE": "#d4a017"}
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(rows) + 1.2))
    margin = comparison["settings"]["margin"]
    for y, row in enumerate(reversed(rows)):
        sign = -1.0 if row.get("direction") == "lower" else 1.0
        centre = sign * row["difference"]
        low, high = sorted((sign * row["low"], sign * row["high"]))
        ax.errorbar(
            centre,
            y,
            xerr=[[centre - low], [high - centre]],
            fmt="o",
            capsize=4,
            color=colours.get(row.get("verdict") or "", "#888888"),
        )
    ax.axvline(0.0, color="#444444", linewidth=0.8)
    if margin:
        ax.axvline(-margin, color="#c0392b", linewidth=0.8, linestyle="--")
    ax.set_yticks(range(len(rows)), [f"{r['metric']} ({_verdict(r)})" for r in reversed(rows)])
    ax.set_xlabel("change against the baseline (right is better; dashed: -margin)")
    fig.tight_layout()
    return fig


def _png(fig: Any, plt: Any) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def render_html(report: dict[str, Any]) -> str:
    """A self-contained HTML page: summary, plots (inline PNG), metric tables, comparison, every case."""
    e = html.escape
    names = _metric_names(report)
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>Eval report</title>",
        f"<style>{_CSS}</style></head><body><h1>Eval report</h1><p>",
        f"eval sets: {e(', '.join(report.get('eval_sets') or ()))}<br>",
        f"index: {e(str(report.get('index')))}; backend: {e(str(report.get('backend')))}; ",
        f"k: {e(str(report.get('k')))}<br>created: {e(str(report.get('created_at')))}; ",
        f"cases: {e(str(report.get('n_cases')))}; errors: {e(str(report.get('n_errors', 0)))}; ",
        f"failed: {e(str(report.get('n_failed', '-')))}</p>",
        "<p>" + "<br>".join(e(line) for line in _fingerprint_lines(report)) + "</p>",
    ]
    comparison = report.get("comparison")
    if comparison:
        parts.append(
            f"<h2>Comparison with the baseline: <span class='{e(comparison['verdict'])}'>"
            f"{e(comparison['verdict'])}</span></h2>"
        )
    for title, png in _plots(report):
        parts.append(f"<h2>{e(title)}</h2><img alt='{e(title)}' src='data:image/png;base64,{png}'>")
    if comparison:
        parts.append(_html_comparison(comparison))

    rows = _abstention_rows(report)
    if rows:
        parts.append("<h2>Answers by status</h2><table><tr><th>cases</th>")
        parts += [f"<th>{e(s)}</th>" for s in STATUSES]
        parts.append("</tr>")
        for row, counts in rows:
            parts.append(
                f"<tr><td>{e(row)}</td>" + "".join(f"<td class='num'>{c}</td>" for c in counts) + "</tr>"
            )
        parts.append("</table>")
    judge = report.get("judge")
    if judge:
        parts.append(
            f"<h2>Judge</h2><p>model {e(str(judge.get('model')))} ({e(str(judge.get('backend')))}), "
            "prompt hash "
            f"{e(str(judge.get('prompt_hash')))}, {e(str(judge.get('repeats')))} repeat(s), "
            f"{e(str(judge.get('items')))} items; flip rate {e(_fmt(judge.get('flip_rate')))}</p>"
        )

    by_tag = report.get("by_tag") or {}
    groups = {"all": report.get("metrics") or {}, **by_tag}
    parts.append("<h2>Metrics</h2><table><tr><th>metric</th><th>better</th>")
    parts += [f"<th>{e(g)}</th>" for g in groups]
    parts.append("</tr>")
    for name in names:
        cells = "".join(f"<td class='num'>{e(_fmt(g.get(name)))}</td>" for g in groups.values())
        parts.append(f"<tr><td>{e(name)}</td><td>{e(_direction(name))}</td>{cells}</tr>")
    parts.append("</table>")

    parts.append(
        "<h2>Cases</h2><table><tr><th>id</th><th>question</th><th>status</th><th>answer</th><th>citations</th>"
        "<th>missing facts</th><th>hit / rank</th><th>ms</th><th>result</th></tr>"
    )
    for case in report.get("cases") or ():
        citations = "".join(
            f"<li>[{e(str(c.get('n')))}] {e(str(c.get('doc_id')))}"
            f"<div class='quote'>{e(str(c.get('quote') or '')[:300])}</div></li>"
            for c in case.get("citations") or ()
        )
        answer = case.get("answer") or ""
        if case.get("refused"):
            answer = f"(refused) {answer}"
        status = case.get("status") or ("error" if case.get("error") else "")
        if case.get("not_stated"):
            status += " (not stated: " + "; ".join(case["not_stated"]) + ")"
        result = "pass" if case.get("passed", True) else "; ".join(failure_reasons(case)) or "fail"
        row_class = "" if case.get("passed", True) else " class='fail'"
        parts.append(
            f"<tr{row_class}><td>{e(str(case['id']))}</td><td>{e(case['question'])}</td><td>{e(status)}</td>"
            f"<td class='answer'>{e(answer)}</td><td><ul>{citations}</ul></td>"
            f"<td>{e(', '.join(case.get('key_facts_missing') or ()))}</td>"
            f"<td>{e(_fmt(case.get('hit')))} / {e(_fmt(case.get('rank')))}</td>"
            f"<td class='num'>{e(_fmt(case.get('latency_ms')))}</td><td>{e(result)}</td></tr>"
        )
    parts.append("</table></body></html>\n")
    return "".join(parts)


def _html_row(row: dict[str, Any], first: str) -> str:
    e = html.escape
    m = row["metric"]
    verdict = _verdict(row)
    note = f"<div class='quote'>{e(row['note'])}</div>" if row.get("note") else ""
    return (
        f"<tr>{first}<td>{e(m)}</td><td>{e(_direction(m))}</td>"
        f"<td class='num'>{e(_num(row['baseline'], m))}</td><td class='num'>{e(_num(row['run'], m))}</td>"
        f"<td class='num'>{e(_num(row['difference'], m, True))}</td>"
        f"<td class='num'>{e(_interval(row))}</td><td class='num'>{e(_p(row.get('p_holm')))}</td>"
        f"<td class='num'>{e(_num(row.get('detectable_drop'), m) if row.get('verdict') else '-')}</td>"
        f"<td class='{e(verdict)}'>{e(verdict)}{note}</td></tr>"
    )


def _html_comparison(comparison: dict[str, Any]) -> str:
    e = html.escape
    o = comparison["overlap"]
    s = comparison["settings"]
    head = (
        "<th>metric</th><th>better</th><th>baseline</th><th>run</th><th>change</th>"
        f"<th>{round(100 * s['confidence'])}% interval</th><th>p (Holm)</th><th>detectable drop</th>"
        "<th>verdict</th>"
    )
    parts = [
        f"<p>Baseline {e(str(comparison.get('baseline') or '-'))}: {o['shared']} shared cases "
        f"({len(o['only_baseline'])} only in the baseline, {len(o['only_run'])} only in this run, "
        f"{len(o['question_changed'])} with a changed question). "
        f"Paired bootstrap ({s['resamples']} resamples, seed {s['seed']}), Holm-corrected; "
        f"margin {s['margin']:g}. PASS: no drop beyond the margin; FAIL: a significant drop beyond it; "
        "INCONCLUSIVE: the set cannot tell. Detectable drop: the smallest true drop "
        f"this set flags {round(100 * s['power'])}% of the time.</p>"
    ]
    parts += [
        f"<p class='warn'>fingerprint differs: {e(d)}</p>"
        for d in comparison.get("fingerprint_differences") or ()
    ]
    parts.append(f"<h3>Paired table</h3><table><tr>{head}</tr>")
    parts += [_html_row(row, "") for row in comparison["metrics"]]
    for name, reason in (comparison.get("not_compared") or {}).items():
        parts.append(f"<tr><td>{e(name)}</td><td colspan='8'>not compared: {e(reason)}</td></tr>")
    parts.append("</table>")
    kf = comparison.get("key_facts")
    if kf:
        parts.append(
            f"<p>Key facts (exact McNemar over {kf['facts']} facts): {kf['lost']} lost, {kf['found']} found, "
            f"p = {e(_p(kf['p_two_sided']))}</p>"
        )
    slices = comparison.get("slices") or []
    regressed = comparison.get("regressed_slices") or []
    parts.append(
        f"<h3>Slices</h3><p>{len(slices)} compared (at least {s['min_slice']} shared cases), "
        f"{len(comparison.get('skipped_slices') or {})} too small; "
        f"regressed: {e(', '.join(regressed) or 'none')}</p>"
    )
    if slices:
        parts.append(f"<table><tr><th>slice</th><th>cases</th>{head}</tr>")
        for sl in slices:
            for i, row in enumerate(sl["metrics"]):
                first = (
                    f"<td rowspan='{len(sl['metrics'])}'>{e(sl['slice'])}</td>"
                    f"<td rowspan='{len(sl['metrics'])}' class='num'>{sl['n']}</td>"
                    if i == 0
                    else ""
                )
                parts.append(_html_row(row, first))
        parts.append("</table>")
    for kind in ("regressed", "improved"):
        items = (comparison.get("cases") or {}).get(kind) or []
        parts.append(f"<h3>Cases that {kind} ({len(items)})</h3>")
        if not items:
            continue
        parts.append(
            "<table><tr><th>id</th><th>question</th><th>what changed</th><th>baseline answer</th>"
            "<th>this run's answer</th></tr>"
        )
        for item in items:
            parts.append(
                f"<tr><td>{e(item['id'])}</td><td>{e(item['question'])}</td>"
                f"<td>{'<br>'.join(e(c) for c in item['changes'])}</td>"
                f"<td class='answer'>({e(str(item['baseline']['status']))}) "
                f"{e(item['baseline']['answer'])}</td>"
                f"<td class='answer'>({e(str(item['run']['status']))}) {e(item['run']['answer'])}</td></tr>"
            )
        parts.append("</table>")
    return "".join(parts)
