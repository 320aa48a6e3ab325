"""Write a report as ``report.json``, ``report.md`` and a self-contained ``report.html``."""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path
from typing import Any

from assistant.evals.metrics import METRIC_NAMES

PLOTTED_METRICS = ("hit_rate", "mrr", "ndcg", "citation_recall", "key_fact_recall", "refusal_accuracy")
_CSS = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;vertical-align:top}
th{background:#f3f3f3}.fail{background:#fff0f0}.num{text-align:right;font-variant-numeric:tabular-nums}
.answer{max-width:40em;white-space:pre-wrap}.quote{color:#555;font-size:90%}img{max-width:100%}
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


def render_markdown(report: dict[str, Any]) -> str:
    """The Markdown report: run details, metrics, per-tag metrics, failing cases."""
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
        "",
        "## Metrics",
        "",
        "| metric | value |",
        "|---|---:|",
    ]
    lines += [f"| {name} | {_fmt(report['metrics'].get(name))} |" for name in names]
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


def _plots(report: dict[str, Any]) -> list[tuple[str, str]]:
    """``[(title, base64 PNG)]``; empty when matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    out: list[tuple[str, str]] = []
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


def _png(fig: Any, plt: Any) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def render_html(report: dict[str, Any]) -> str:
    """A self-contained HTML page: summary, plots (inline PNG), metric tables, every case."""
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
    ]
    for title, png in _plots(report):
        parts.append(f"<h2>{e(title)}</h2><img alt='{e(title)}' src='data:image/png;base64,{png}'>")

    by_tag = report.get("by_tag") or {}
    groups = {"all": report.get("metrics") or {}, **by_tag}
    parts.append("<h2>Metrics</h2><table><tr><th>metric</th>")
    parts += [f"<th>{e(g)}</th>" for g in groups]
    parts.append("</tr>")
    for name in names:
        cells = "".join(f"<td class='num'>{e(_fmt(g.get(name)))}</td>" for g in groups.values())
        parts.append(f"<tr><td>{e(name)}</td>{cells}</tr>")
    parts.append("</table>")

    parts.append(
        "<h2>Cases</h2><table><tr><th>id</th><th>question</th><th>answer</th><th>citations</th>"
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
        result = "pass" if case.get("passed", True) else "; ".join(failure_reasons(case)) or "fail"
        row_class = "" if case.get("passed", True) else " class='fail'"
        parts.append(
            f"<tr{row_class}><td>{e(str(case['id']))}</td><td>{e(case['question'])}</td>"
            f"<td class='answer'>{e(answer)}</td><td><ul>{citations}</ul></td>"
            f"<td>{e(', '.join(case.get('key_facts_missing') or ()))}</td>"
            f"<td>{e(_fmt(case.get('hit')))} / {e(_fmt(case.get('rank')))}</td>"
            f"<td class='num'>{e(_fmt(case.get('latency_ms')))}</td><td>{e(result)}</td></tr>"
        )
    parts.append("</table></body></html>\n")
    return "".join(parts)
