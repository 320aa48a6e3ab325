# ruff: noqa: E501
"""Render the results table of ``benchmarks/README.md`` from ``benchmarks/results/*.json``.

Only the part between ``<!-- results:start -->`` and ``<!-- results:end -->`` is replaced; the rest
of the README is written by hand.

    python benchmarks/report.py
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common

START = "<!-- results:start -->"
END = "<!-- results:end -->"
GIB_MIB = 1024.0


def _met(ok: bool | None) -> str:
    return "—" if ok is None else ("yes" if ok else "**no**")


def _f(x: Any, nd: int = 1) -> str:
    if x is None:
        return "n/a"
    if isinstance(x, float):
        return f"{x:,.{nd}f}"
    return str(x)


class Table:
    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str, str, str, str]] = []

    def add(
        self, row: str, command: str, measured: str, target: str, ok: bool | None, cause: str = ""
    ) -> None:
        self.rows.append((row, f"`{command}`" if command else "", measured, target, _met(ok), cause))

    def missing(self, row: str, command: str, target: str, why: str) -> None:
        self.rows.append((row, f"`{command}`", "not measured", target, "—", why))

    def markdown(self) -> str:
        head = "| row | command | measured | target | met? | measured cause of a miss / note |\n"
        head += "|---|---|---|---|---|---|\n"
        return head + "\n".join("| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in self.rows)


def ingest_rows(t: Table, name: str = "ingest") -> None:
    d = common.read_result(name)
    cmd_default = "python benchmarks/bench_ingest.py --sizes 1000 5000"
    if not d and name != "ingest":
        return
    if not d:
        t.missing("1. ingest throughput", cmd_default, "≥ 0.85 × raw, ≥ 1.0 × LlamaIndex", "run it")
        return
    rss: dict[str, float] = {}
    tag = f" [{name}, load avg {d['machine'].get('loadavg_1m')}]"
    for s in d["sizes"].values():
        cmd = s.get("command", d.get("command", cmd_default))
        med = s.get("median_chunks_per_s", {})
        n = s.get("chunks", s.get("target_chunks"))
        ours = s["runs"].get("ours", [{}])[0]
        phases = ours.get("phases_s", {})
        if "ratio_vs_raw" in s:
            r = s["ratio_vs_raw"]
            embed_share = phases.get("embed", 0) / ours["seconds"] if ours.get("seconds") else None
            cause = ""
            if r < 0.85:
                cause = (
                    f"ST.encode took {100 * embed_share:.0f}% of our ingest; load/parse {phases.get('load', 0):.0f}s, "
                    "the rest is contention noise between the two runs (single run each)"
                    if embed_share
                    else ""
                )
            t.add(
                f"1. ingest {n} chunks: ours vs raw `SentenceTransformer.encode` (same texts: {s.get('same_texts')}){tag}",
                cmd,
                f"{_f(med.get('ours'), 2)} vs {_f(med.get('raw'), 2)} chunks/s = **{r:.2f}×**",
                "≥ 0.85×",
                r >= 0.85,
                cause,
            )
        elif phases.get("embed") and ours.get("seconds"):
            share = phases["embed"] / ours["seconds"]
            t.add(
                f"1. ingest {n} chunks: ours vs raw encode (proxy){tag}",
                cmd,
                f"{_f(med.get('ours'), 2)} chunks/s; time inside ST.encode = {100 * share:.1f}% of ingest"
                " (raw run not done at this size)",
                "≥ 0.85×",
                None,
                "proxy only: upper bound of the ratio is the encode share; run with `--methods raw ours` for the real one",
            )
        for other, label in (
            ("li-default", "LlamaIndex default (1024/200 splitter, batch 10)"),
            ("li-200", "LlamaIndex, SentenceSplitter 200/32"),
        ):
            if f"ratio_vs_{other}" in s:
                r = s[f"ratio_vs_{other}"]
                li = s["runs"][other][0]
                note = f"{li['chunks']} chunks in {li['seconds']:.0f}s vs ours {ours.get('chunks')} in {ours.get('seconds', 0):.0f}s"
                if other == "li-default" and "corpus_time_ratio_li_default_over_ours" in s:
                    note += (
                        f"; per corpus LlamaIndex takes {s['corpus_time_ratio_li_default_over_ours']:.2f}× our time"
                        " because 1024-token chunks are cut to 256 word pieces: ~3/4 of the text is never embedded"
                    )
                if other == "li-200" and f"chars_ratio_vs_{other}" in s:
                    note += (
                        f"; mean embedded text {ours.get('mean_embedded_chars', 0):.0f} vs {li.get('mean_embedded_chars', 0):.0f} chars,"
                        f" so in characters/s ours is {s[f'chars_ratio_vs_{other}']:.2f}×"
                    )
                if other == "li-200" and r < 1.0:
                    note += (
                        "; not like for like: its chunks are shorter and a transformer's cost per character"
                        " falls with length; the same-text comparison is the raw-encode row"
                    )
                t.add(
                    f"1. ingest {n} chunks: ours vs {label}",
                    cmd,
                    f"{_f(med.get('ours'), 2)} vs {_f(med.get(other), 2)} chunks/s = **{r:.2f}×**",
                    "≥ 1.0×",
                    r >= 1.0,
                    note,
                )
        if "peak_rss_mib" in s:
            rss[str(n)] = s["peak_rss_mib"]
        if "reingest" in s and "percent_of_full" in s["reingest"]:
            ri = s["reingest"]
            ph = ri["runs"][0].get("phases_s", {})
            pct = ri["percent_of_full"]
            cause = ""
            if pct > 2:
                cause = (
                    f"re-ingest loads and re-parses every file before the docstore hash check: load "
                    f"{ph.get('load', 0):.1f}s of {ri['runs'][0]['seconds']:.1f}s (the PDF copies dominate)"
                )
            t.add(
                f"2. re-ingest of the unchanged {n}-chunk corpus",
                cmd,
                f"{ri['seconds_median']:.1f}s = **{pct:.1f}%** of the full {s['ingest_seconds_median']:.0f}s",
                "≤ 2%",
                pct <= 2,
                cause,
            )
    if rss:
        vals = list(rss.values())
        flat = max(vals) <= 1.25 * min(vals) if len(vals) > 1 else None
        ok = max(vals) <= 2 * GIB_MIB and (flat is not False)
        t.add(
            f"1. peak RSS of the ingest process{tag}",
            cmd_default,
            ", ".join(f"{k} chunks: {v:,.0f} MiB" for k, v in rss.items()),
            "≤ 2 GiB and flat (≤ 1.25× from smallest to largest)",
            ok if len(vals) > 1 else (max(vals) <= 2048 and None),
        )


def _pm(m: dict[str, Any]) -> str:
    return f"{m['p50_ms']:.0f} / {m['p95_ms']:.0f}"


def query_rows(t: Table, name: str = "query") -> None:
    d = common.read_result(name)
    if not d:
        if name == "query":
            t.missing(
                "3. retrieve latency",
                "python benchmarks/bench_query.py",
                "p50 ≤ 50 ms, p95 ≤ 100 ms at 100k",
                "run it",
            )
        return
    cmd = d.get("command", "")
    tag = f" [{name}, load avg {d['machine'].get('loadavg_1m')}]"
    for size, s in d["sizes"].items():
        big = int(size) >= 100000
        variants = [(("ONNX queries" if s.get("backend") == "onnx" else ""), s)]
        variants += [("torch queries", s["torch"])] if "torch" in s else []
        variants += [("torch, OMP_WAIT_POLICY=PASSIVE", s["passive"])] if "passive" in s else []
        for label, v in variants:
            rv = v["retrieve"]
            parts = [
                f"hybrid {_pm(rv['hybrid'])}",
                f"dense {_pm(rv['dense'])}",
                f"bm25 only {_pm(rv['bm25'])}",
            ]
            if "hybrid+doc" in rv:
                parts.append(f"hybrid+doc filter {_pm(rv['hybrid+doc'])}")
                parts.append(f"hybrid+date filter {_pm(rv['hybrid+date'])}")
            ok = all(rv[m]["p50_ms"] <= 50 and rv[m]["p95_ms"] <= 100 for m in ("hybrid", "dense"))
            cause = ""
            if not ok:
                cause = f"BM25 alone takes {rv['bm25']['p50_ms']:.0f} ms: the rest is embedding the question and Chroma"
            if "hybrid+date" in rv and rv["hybrid+date"]["p50_ms"] > 3 * rv["hybrid"]["p50_ms"]:
                cause += "; date filter: Chroma's `where` range query is the cost (1.5 s of 1.7 s profiled at 100k)"
            t.add(
                f"3. retrieve p50 / p95 ms, {s['chunks']:,} chunks{', ' + label if label else ''}{tag}",
                cmd,
                "; ".join(parts) + f" (n={rv['hybrid']['n']})",
                "hybrid and dense: p50 ≤ 50, p95 ≤ 100 ms" + ("" if big else " (target is at 100k)"),
                ok if big else None,
                cause,
            )
            if "ask_extractive" in v:
                a = v["ask_extractive"]
                ok = a["cold"]["p50_ms"] <= 150
                t.add(
                    f"3. ask (extractive), {s['chunks']:,} chunks{', ' + label if label else ''}{tag}",
                    cmd,
                    f"cold p50 {a['cold']['p50_ms']:.0f} / p95 {a['cold']['p95_ms']:.0f} ms; warm p50 {a['warm']['p50_ms']:.0f} ms"
                    + (
                        f"; cold without the sentence store p50 {a['cold_without_store']['p50_ms']:.0f} ms"
                        if "cold_without_store" in a
                        else ""
                    ),
                    "p50 ≤ 150 ms",
                    ok,
                    ""
                    if ok
                    else "cold: the answer embeds the candidate sentences of its passages at question time; "
                    "warm = sentences seen before are cached",
                )
    if "startup" in d:
        st = d["startup"]
        r0 = st["runs"][0]
        ok = st["median_to_first_answer_s"] <= 5  # the old start-up target; see the lean rows for 1.5 s
        bd = st.get("breakdown") or {}
        top = sorted(bd.items(), key=lambda kv: -kv[1])[:4]
        cause = ""
        if not ok:
            cause = (
                ("largest steps: " + ", ".join(f"{k} {v:.1f}s" for k, v in top))
                if top
                else (
                    "`open` = importing torch / sentence-transformers / llama-index / chromadb and loading the model"
                )
            )
        t.add(
            f"3. start-up: fresh process → `Assistant.open` → first answer, {st['index_chunks']:,} chunks{tag}",
            cmd,
            f"median {st['median_to_first_answer_s']:.1f}s (run 1: import assistant {r0['import_s']:.1f}s, open "
            f"{r0['open_s']:.1f}s, first ask {r0['first_ask_s']:.1f}s)",
            "≤ 5 s",
            ok,
            cause,
        )
    if "help" in d:
        h = d["help"]
        t.add(
            f"3. `assistant --help` wall time{tag}",
            cmd,
            f"median {h['median_s']:.2f}s (runs {h['runs']})",
            "well under 1 s (< 0.5 s)",
            h["median_s"] < 0.5,
            ""
            if h["median_s"] < 0.5
            else "`assistant.cli` imports `assistant.config` → pydantic + pydantic_settings",
        )


def threads_rows(t: Table, name: str = "threads") -> None:
    d = common.read_result(name)
    if not d:
        return
    s = d["summary"]
    t.add(
        f"extra: embedder threading, query p50 ms / chunks/s [{name}, load avg {d['machine'].get('loadavg_1m')}]",
        d.get("command", ""),
        "; ".join(f"{k}: {v['query_p50_ms']:.0f} ms / {v['chunks_per_s']}" for k, v in s.items()),
        "—",
        None,
        "fresh processes side by side, rotating order, medians",
    )


def onnx_rows(t: Table, name: str = "onnx") -> None:
    d = common.read_result(name)
    cmd = d.get("command", "") if d else "python benchmarks/bench_onnx.py"
    if not d or "throughput" not in d:
        t.missing(
            "4. ONNX Runtime embedder vs torch", cmd, "ingest ≥ torch; hit_rate/mrr within 0.01", "run it"
        )
        return
    tag = f" [{name}, load avg {d['machine'].get('loadavg_1m')}]"
    ex = d["export"]
    t.add(
        f"4. ONNX export (once, at `make install` or first ingest) and validated load{tag}",
        cmd,
        f"export {ex['export_s']}s, {ex['onnx_mib']} MiB; load + probe check {ex['validated_load_s']}s; "
        f"probe cosine to torch ≥ {ex['probe_min_cosine']:.6f}",
        "cosine ≥ 0.9999",
        ex["probe_min_cosine"] >= 0.9999,
    )
    th = d["throughput"]
    med = th["median_chunks_per_s"]
    t.add(
        f"4. ingest throughput: ONNX Runtime vs torch, {th['texts']} chunk texts, fresh processes alternating",
        cmd,
        f"{med['onnx']} vs {med['torch']} chunks/s = **{th['onnx_over_torch']:.2f}×** (int8 {med.get('int8')} = "
        f"{th.get('int8_over_torch', 0):.2f}×); question p50 "
        f"{th['query_p50_ms']['onnx']:.0f} vs {th['query_p50_ms']['torch']:.0f} ms; min cosine {th['min_cosine_onnx_torch']:.6f}",
        "ONNX ingests only where ≥ 1.0× (`embed_backend=auto`)",
        None,
        "auto ingests with " + ("ONNX" if th["onnx_over_torch"] >= 1.0 else "torch") + " by this row",
    )
    for evalset, e in d["eval"].items():
        ref = e["metrics"]["torch/torch"]
        parts, ok = [], True
        for conf, m in e["metrics"].items():
            parts.append(f"{conf}: hit@5 {m['hit_rate']} / MRR {m['mrr']}")
            ok &= (
                ref["hit_rate"] - m["hit_rate"] <= 0.01 and ref["mrr"] - m["mrr"] <= 0.01
            )  # a drop of at most 0.01
        same = "; ".join(
            f"{conf}: {len(v['differ'])} of {v['cases']} cases differ"
            + (f" ({', '.join(v['differ'][:4])})" if v["differ"] else "")
            for conf, v in e["identical_to_torch"].items()
        )
        t.add(
            f"4. {evalset} ({e['n_cases']} cases), index built / queried by",
            cmd,
            "; ".join(parts),
            "fp32: answers identical to torch; int8: hit@5/MRR drop ≤ 0.01",
            ok and all(not v["differ"] for k, v in e["identical_to_torch"].items() if "int8" not in k),
            same,
        )


def lean_rows(t: Table, name: str = "lean") -> None:
    d = common.read_result(name)
    cmd = d.get("command", "") if d else "python benchmarks/bench_lean.py"
    if not d:
        t.missing("3b. lean query path", cmd, "cold ask ≤ 2.0 s", "run it")
        return
    tag = f" [{name}, load avg {d['machine'].get('loadavg_1m')}]"
    p = d["paths"]
    lean, torch = p["lean"], p["torch"]
    t.add(
        f"3b. cold `assistant ask` on the shipped corpus, wall, median of {len(lean['cli_ask_s'])}{tag}",
        cmd,
        f"lean (ONNX) **{lean['cli_ask_median_s']:.2f}s** vs torch {torch['cli_ask_median_s']:.2f}s "
        f"(runs {lean['cli_ask_s']} vs {torch['cli_ask_s']})",
        "≤ 2.0 s",
        lean["cli_ask_median_s"] <= 2.0,
        "largest imports (lean): "
        + ", ".join(f"{k} {v:.2f}s" for k, v in list(lean["imports"]["largest_s"].items())[:5]),
    )
    t.add(
        "3b. `Assistant.open()` + first answer in a running interpreter (imports included)",
        cmd,
        f"lean **{lean['open_plus_first_answer_median_s']:.2f}s** vs torch {torch['open_plus_first_answer_median_s']:.2f}s",
        "≤ 1.5 s",
        lean["open_plus_first_answer_median_s"] <= 1.5,
        "lean run 1: import {import_s}s, open {open_s}s, first answer {first_answer_s}s".format(
            **lean["first_answer"][0]
        ),
    )
    t.add(
        "3b. import breakdown of a cold `assistant ask` (top-level packages, cumulative)",
        cmd,
        f"lean {lean['imports']['total_import_s']:.2f}s: "
        + ", ".join(f"{k} {v:.2f}" for k, v in lean["imports"]["largest_s"].items())
        + f"; torch {torch['imports']['total_import_s']:.2f}s: "
        + ", ".join(f"{k} {v:.2f}" for k, v in list(torch["imports"]["largest_s"].items())[:5]),
        "no torch, sentence-transformers, scikit-learn",
        not lean["imports"]["heavy_loaded"],
        f"heavy libraries loaded: lean {lean['imports']['heavy_loaded'] or 'none'}, torch {torch['imports']['heavy_loaded']}",
    )
    lm, tm = lean["memory"], torch["memory"]
    t.add(
        f"3b. memory of one assistant after {lm['questions']} questions (VmRSS / peak)",
        cmd,
        f"lean {lm['after_all']['VmRSS']:,.0f} / {lm['after_all']['VmHWM']:,.0f} MiB vs torch "
        f"{tm['after_all']['VmRSS']:,.0f} / {tm['after_all']['VmHWM']:,.0f} MiB",
        "report",
        None,
        f"after the first answer: lean {lm['after_first_answer']['VmRSS']:,.0f} MiB, torch {tm['after_first_answer']['VmRSS']:,.0f} MiB",
    )
    if "ask_ms_p50" in lm:
        t.add(
            f"3b. ask p50 / p95 on the shipped corpus, one assistant, {lm['questions']} eval questions",
            cmd,
            f"lean {lm['ask_ms_p50']:.0f} / {lm['ask_ms_p95']:.0f} ms vs torch "
            f"{tm['ask_ms_p50']:.0f} / {tm['ask_ms_p95']:.0f} ms",
            "p50 ≤ 150 ms",
            lm["ask_ms_p50"] <= 150,
            "retrieval and the extractive reader, after the first answer",
        )


def ui_rows(t: Table, name: str = "ui") -> None:
    d = common.read_result(name)
    cmd = d.get("command", "") if d else "python benchmarks/bench_ui.py --questions 20"
    if not d:
        t.missing("5. UI first streamed token", cmd, "report", "run it")
        return
    f = d["first_token"]
    t.add(
        f"5. UI: submit → first streamed token in Chromium ({f['n']} questions)",
        cmd,
        f"p50 {f['p50_ms']} / p95 {f['p95_ms']} ms; final answer p50 {d['final_answer']['p50_ms']} ms; errors {d['errors']}",
        "report (no target set)",
        None,
        f"placeholder shown p50 {d['placeholder_shown']['p50_ms']} ms",
    )


def load_rows(t: Table, name: str = "load") -> None:
    d = common.read_result(name)
    cmd = d.get("command", "") if d else "python benchmarks/bench_load.py --gradio 50 --api 200"
    if not d:
        t.missing("6. load", cmd, "0 errors", "run it")
        return
    for key, label in (("gradio", "Gradio API (`/ask`, gradio_client)"), ("api", "Python API from threads")):
        g = d.get(key)
        if not g:
            continue
        ok = g["errors"] == 0 and g["answers_equal_sequential"]
        t.add(
            f"6. {g['requests']} concurrent questions, {label}",
            cmd,
            f"errors {g['errors']}; p50 {g['concurrent']['p50_ms']} / p95 {g['concurrent']['p95_ms']} ms "
            f"(sequential p50 {g['sequential']['p50_ms']} ms); {g['throughput_qps']} q/s; "
            f"answers equal sequential: {g['answers_equal_sequential']} ({g['mismatches']} differ)",
            "0 errors, equal answers",
            ok,
            "; ".join(g.get("error_samples", [])[:2]),
        )


# every result file the report renders, in table order, with the function that renders it
RESULTS: tuple[tuple[str, Callable[[Table, str], None]], ...] = (
    ("ingest", ingest_rows),
    ("query", query_rows),
    ("lean", lean_rows),
    ("threads", threads_rows),
    ("onnx", onnx_rows),
    ("ui", ui_rows),
    ("load", load_rows),
)


def render() -> str:
    t = Table()
    for name, rows in RESULTS:
        rows(t, name)
    run = common.read_result("run_all")
    lines = [START, ""]
    if run:
        lines.append(
            f"Last `run_all.py` ({run.get('profile')}): {run.get('total_s', 0) / 60:.1f} min on {run['machine']['cpus']} cores, "
            f"load average at start {run.get('loadavg_start')}."
        )
        lines.append("")
    names = [name for name, _ in RESULTS]
    machines = {n: (common.read_result(n) or {}).get("machine", {}) for n in names}
    when = {n: (common.read_result(n) or {}).get("measured_at") for n in machines}
    lines.append(
        "Measured "
        + ", ".join(f"{n} {when[n]} (load avg {m.get('loadavg_1m')})" for n, m in machines.items() if m)
        + " (load average of the last minute when each file was written)."
    )
    lines += ["", t.markdown(), "", END]
    return "\n".join(lines)


def update_readme() -> Path:
    # a redirected results folder (BENCH_RESULTS_DIR) gets its own README, the real one is untouched
    default = (common.BENCH / "results").resolve() == common.RESULTS
    path = common.BENCH / "README.md" if default else common.RESULTS / "README.md"
    text = path.read_text(encoding="utf-8") if path.exists() else f"# Benchmarks\n\n{START}\n{END}\n"
    if START not in text or END not in text:
        text += f"\n{START}\n{END}\n"
    head, rest = text.split(START, 1)
    _old, tail = rest.split(END, 1)
    path.write_text(head + render() + tail, encoding="utf-8")
    return path


if __name__ == "__main__":
    print(update_readme())
