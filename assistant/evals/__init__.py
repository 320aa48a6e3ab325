"""Evaluation harness: eval sets, metrics, runs, reports, the paired quality gate and feedback drafts.

The click group lives in :mod:`assistant.evals.cli` (``eval_group``). Names below load on first
use, so ``assistant --help`` does not import numpy and scipy. Metrics are declared once in
:mod:`assistant.evals.catalogue`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from assistant.evals.catalogue import METRICS
    from assistant.evals.dataset import EvalCase, EvalSetError, EvalSetWarning, load_eval_sets, select_cases
    from assistant.evals.feedback import drafts_from_feedback
    from assistant.evals.gate import GateResult, check_gate, compare_reports
    from assistant.evals.judge import JudgeError
    from assistant.evals.metrics import METRIC_NAMES, aggregate, fact_found, normalise
    from assistant.evals.paired import PairedComparison, compare
    from assistant.evals.registry import Metric
    from assistant.evals.report import write_report
    from assistant.evals.runner import run_eval

_WHERE = {
    "METRICS": "catalogue",
    "METRIC_NAMES": "metrics",
    "EvalCase": "dataset",
    "EvalSetError": "dataset",
    "EvalSetWarning": "dataset",
    "GateResult": "gate",
    "JudgeError": "judge",
    "Metric": "registry",
    "PairedComparison": "paired",
    "aggregate": "metrics",
    "check_gate": "gate",
    "compare": "paired",
    "compare_reports": "gate",
    "drafts_from_feedback": "feedback",
    "fact_found": "metrics",
    "load_eval_sets": "dataset",
    "normalise": "metrics",
    "run_eval": "runner",
    "select_cases": "dataset",
    "write_report": "report",
}
__all__ = [
    "METRICS",
    "METRIC_NAMES",
    "EvalCase",
    "EvalSetError",
    "EvalSetWarning",
    "GateResult",
    "JudgeError",
    "Metric",
    "PairedComparison",
    "aggregate",
    "check_gate",
    "compare",
    "compare_reports",
    "drafts_from_feedback",
    "fact_found",
    "load_eval_sets",
    "normalise",
    "run_eval",
    "select_cases",
    "write_report",
]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'assistant.evals' has no attribute {name!r}")
    return getattr(importlib.import_module(f"assistant.evals.{_WHERE[name]}"), name)
