"""Evaluation harness: eval sets, metrics, runs, reports, the quality gate and feedback drafts.

The click group lives in :mod:`assistant.evals.cli` (``eval_group``), kept out of this module so
importing the harness stays light.
"""

from assistant.evals.dataset import EvalCase, EvalSetError, EvalSetWarning, load_eval_sets, select_cases
from assistant.evals.feedback import drafts_from_feedback
from assistant.evals.gate import GateResult, check_gate, compare_reports
from assistant.evals.metrics import METRIC_NAMES, aggregate, fact_found, normalise
from assistant.evals.report import write_report
from assistant.evals.runner import run_eval

__all__ = [
    "METRIC_NAMES",
    "EvalCase",
    "EvalSetError",
    "EvalSetWarning",
    "GateResult",
    "aggregate",
    "check_gate",
    "compare_reports",
    "drafts_from_feedback",
    "fact_found",
    "load_eval_sets",
    "normalise",
    "run_eval",
    "select_cases",
    "write_report",
]
