"""PDF reading and ingest throughput of text PDFs: this checkout against a baseline commit.

Issue 15's target: reading multi-column PDFs in order (and their tables) keeps ingest throughput of
text PDFs within 10% of what it was. Two PDFs: the shipped one (``corpus/*.pdf``) and a generated
one (``--pages`` pages of two-column text, a running header, page numbers and a borderless table
every fourth page). For each code version, in alternating order, ``--repeats`` times:

* ``load``: ``load_document`` of each PDF in a fresh interpreter (best of ``--inner`` reads), pages
  per wall second and per CPU second;
* ``ingest``: ``assistant ingest`` of a folder holding the two PDFs into a new index (load, chunk,
  embed, store), pages per second of the ingest's own ``seconds`` and per CPU second of the whole
  process, and the chunks written.

Wall times swing with other work on the machine; CPU times much less: compare those.

The baseline is ``git archive <ref> assistant`` unpacked under ``results/tmp`` and put first on
``PYTHONPATH`` (same virtualenv, same model).

    python benchmarks/bench_loaders.py --baseline-ref 714132d [--pages 40] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common

TMP = common.TMP / "loaders"
WORDS = (
    "harbour quay barge grain timber copper ore delta channel survey cargo tonnes season river port "
    "council rail spur marsh breakwater basin storm winter spring ice dredging pier berth vessel crew "
    "trade market price contract freight ship coast north south east west inner outer new old long"
).split()


def _sentence(rng: random.Random) -> str:
    words = [rng.choice(WORDS) for _ in range(rng.randint(8, 18))]
    return " ".join(words).capitalize() + "."


def generated_pdf(path: Path, pages: int) -> Path:
    """A two-column report of ``pages`` pages (deterministic text)."""
    from reportlab.lib.pagesizes import letter
    from reportlab.pdfbase.pdfmetrics import stringWidth
    from reportlab.pdfgen import canvas

    if path.exists():
        return path
    rng = random.Random(15)
    width, height = letter
    c = canvas.Canvas(str(path), pagesize=letter)
    col_w, gutter, margin = (width - 144 - 24) / 2, 24, 72
    for n in range(1, pages + 1):
        c.setFont("Helvetica", 9)
        c.drawString(margin, height - 40, "Delta Harbour Survey: annual report")
        c.drawCentredString(width / 2, 36, str(n))
        c.setFont("Helvetica", 10)
        top = height - margin
        if n % 4 == 0:  # a borderless table across the page, the columns below it
            c.setFont("Helvetica", 9)
            c.drawString(300, top, "Cargo 2023")
            c.drawString(390, top, "Cargo 2024")
            c.drawString(480, top, "Berths")
            for r in range(8):
                y = top - 11.5 * (r + 1)
                c.drawString(margin, y, f"Quay {rng.choice(WORDS)} {r + 1}")
                values = (rng.randint(100, 9000), rng.randint(100, 9000), rng.randint(1, 30))
                for k, value in enumerate(values):
                    c.drawRightString(350 + k * 90, y, f"{value:,}")
            top -= 11.5 * 10
            c.setFont("Helvetica", 10)
        for col in range(2):
            x, y = margin + col * (col_w + gutter), top
            line = ""
            while y > 60:
                word = rng.choice(WORDS) if rng.random() > 0.08 else _sentence(rng).split()[0] + "."
                trial = f"{line} {word}".strip()
                if stringWidth(trial, "Helvetica", 10) > col_w:
                    c.drawString(x, y, line)
                    y -= 12.5
                    line = word
                else:
                    line = trial
        c.showPage()
    c.save()
    return path


def baseline_code(ref: str) -> Path:
    """``git archive <ref> assistant`` unpacked under results/tmp (reused when present)."""
    dest = TMP / f"baseline-{ref}"
    if not (dest / "assistant" / "__init__.py").exists():
        dest.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(
            ["git", "archive", ref, "assistant"], capture_output=True, cwd=common.REPO, check=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest


def worker_load(files: list[str], inner: int) -> None:
    from assistant.loaders import load_document

    out: dict[str, Any] = {}
    for name in files:
        path = Path(name)
        best = cpu_best = float("inf")
        doc = None
        for _ in range(inner):
            t, c = time.perf_counter(), time.process_time()
            doc = load_document(path, path.parent)
            best = min(best, time.perf_counter() - t)
            cpu_best = min(cpu_best, time.process_time() - c)
        assert doc is not None
        pages = len({s[2] for s in doc.sections})
        out[path.name] = {
            "seconds": round(best, 4),
            "cpu_seconds": round(cpu_best, 4),
            "pages": pages,
            "pages_per_s": round(pages / best, 2),
            "pages_per_cpu_s": round(pages / cpu_best, 2),
        }
    import assistant

    common.emit({"files": out, "code": str(Path(assistant.__file__).parent.parent)})


def _env(code: Path | None) -> dict[str, str]:
    env = common.offline_env()
    if code is not None:
        env["PYTHONPATH"] = str(code)
    return env


def run_ingest(corpus: Path, code: Path | None, label: str, run: int) -> dict[str, Any]:
    index = common.fresh_dir(TMP / f"index-{label}-{run}")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(
        [*common.assistant_cli(), "ingest", str(corpus), "--index", str(index), "--json"],
        capture_output=True,
        text=True,
        env=_env(code),
        cwd=TMP,
        timeout=3600,
    )
    if done.returncode != 0:
        raise RuntimeError(f"ingest failed ({done.returncode}): {done.stderr[-2000:]}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    report = json.loads(done.stdout.strip().splitlines()[-1])
    # CPU time of the whole ingest process (start-up included): steadier than wall time when
    # other work shares the cores
    return {"seconds": report["seconds"], "cpu_seconds": round(cpu, 2), "chunks": report["chunks_written"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--files", nargs="*", default=[], help=argparse.SUPPRESS)
    ap.add_argument("--inner", type=int, default=3, help="reads per file and worker (best is kept)")
    ap.add_argument("--baseline-ref", default=None, help="git commit to compare with (e.g. main)")
    ap.add_argument("--pages", type=int, default=40, help="pages of the generated PDF")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--name", default="loaders", help="result file name (results/<name>.json)")
    args = ap.parse_args()
    if args.worker:
        worker_load(args.files, args.inner)
        return

    TMP.mkdir(parents=True, exist_ok=True)
    shipped = sorted(common.CORPUS.glob("*.pdf"))
    generated = generated_pdf(TMP / f"generated-{args.pages}p.pdf", args.pages)
    corpus = TMP / "pdf-corpus"
    if not corpus.exists():
        corpus.mkdir()
        for pdf in [*shipped, generated]:
            (corpus / pdf.name).write_bytes(pdf.read_bytes())
    pages = {p.name: _page_count(p) for p in [*shipped, generated]}
    versions: list[tuple[str, Path | None]] = [("current", None)]
    if args.baseline_ref:
        versions.insert(0, (f"baseline {args.baseline_ref}", baseline_code(args.baseline_ref)))
    results: dict[str, dict[str, list[Any]]] = {label: {"load": [], "ingest": []} for label, _ in versions}
    for run in range(args.repeats):
        order = versions if run % 2 == 0 else versions[::-1]
        for label, code in order:
            common.progress(f"run {run + 1}/{args.repeats}: {label}: load")
            load = common.run_worker(
                "bench_loaders.py",
                ["--files", *[str(p) for p in [*shipped, generated]], "--inner", str(args.inner)],
                env=_env(code),
            )
            results[label]["load"].append(load["files"])
            common.progress(f"run {run + 1}/{args.repeats}: {label}: ingest")
            results[label]["ingest"].append(run_ingest(corpus, code, label.split()[0], run))
    summary: dict[str, Any] = {}
    total_pages = sum(pages.values())
    for label, res in results.items():
        names = list(res["load"][0])
        ingest_s = common.median([r["seconds"] for r in res["ingest"]])
        ingest_cpu = common.median([r["cpu_seconds"] for r in res["ingest"]])
        summary[label] = {
            "load_pages_per_s": {n: common.median([r[n]["pages_per_s"] for r in res["load"]]) for n in names},
            "load_pages_per_cpu_s": {
                n: common.median([r[n]["pages_per_cpu_s"] for r in res["load"]]) for n in names
            },
            "ingest_seconds": ingest_s,
            "ingest_pages_per_s": round(total_pages / ingest_s, 2),
            "ingest_cpu_seconds": ingest_cpu,
            "ingest_pages_per_cpu_s": round(total_pages / ingest_cpu, 3),
            "chunks": res["ingest"][-1]["chunks"],
        }
    if args.baseline_ref:
        base, cur = summary[versions[0][0]], summary["current"]
        summary["ratio_current_to_baseline"] = {
            key: round(cur[key] / base[key], 3) for key in ("ingest_pages_per_s", "ingest_pages_per_cpu_s")
        } | {
            f"{key} {name}": round(cur[key][name] / base[key][name], 3)
            for key in ("load_pages_per_s", "load_pages_per_cpu_s")
            for name in cur[key]
        }
    common.write_result(
        args.name,
        {
            "command": " ".join(["python", "benchmarks/bench_loaders.py", *sys.argv[1:]]),
            "pdf_pages": pages,
            "repeats": args.repeats,
            "summary": summary,
            "runs": results,
        },
    )
    print(json.dumps(summary, indent=2))


def _page_count(path: Path) -> int:
    import pdfplumber

    with pdfplumber.open(str(path)) as pdf:
        return len(pdf.pages)


if __name__ == "__main__":
    main()
