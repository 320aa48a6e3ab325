"""What a metric is: declared once, read by the runner, the reports, the plots, the gate and the tests.

A :class:`Metric` names the per-case value (a function of one case record of the report, None
where the metric does not apply to the case), how per-case values aggregate (:class:`Mean`,
:class:`Ratio`, :class:`Percentile`), its direction and unit. Aggregations work on numpy arrays
with a resample axis, so the report's value and the paired bootstrap of the gate run the same
code. The built-in metrics are declared in :mod:`assistant.evals.catalogue`; a new metric is one
:class:`Metric` (in that module or its own file) plus one ``register`` line there.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

Record = Mapping[str, Any]
CaseValue = Callable[[Record], "float | bool | None"]
Direction = Literal["higher", "lower", "none"]
Unit = Literal["rate", "ms", "words", "count"]


class Aggregation:
    """How the per-case values of a metric make one number (vectorised over a resample axis)."""

    label = "?"

    def arrays(self, metric: Metric, records: Sequence[Record]) -> tuple[np.ndarray, ...]:
        """Per-case arrays (one entry per record, zeros or NaN where the metric does not apply)."""
        raise NotImplementedError

    def statistic(self, *arrays: np.ndarray, axis: int = -1) -> np.ndarray:
        """The aggregate along ``axis``; NaN where nothing applies."""
        raise NotImplementedError


def _values(metric: Metric, records: Sequence[Record]) -> list[float | None]:
    return [metric.case_value(r) for r in records]


class Mean(Aggregation):
    """Mean of the per-case values over the cases where the metric applies."""

    label = "mean"

    def arrays(self, metric: Metric, records: Sequence[Record]) -> tuple[np.ndarray, ...]:
        values = _values(metric, records)
        v = np.array([0.0 if x is None else x for x in values], dtype=float)
        m = np.array([0.0 if x is None else 1.0 for x in values], dtype=float)
        return v, m

    def statistic(self, *arrays: np.ndarray, axis: int = -1) -> np.ndarray:
        v, m = arrays
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.sum(v, axis=axis) / np.sum(m, axis=axis)


@dataclass(frozen=True)
class Ratio(Aggregation):
    """Sum of per-case numerators over sum of per-case denominators (a micro-average)."""

    numerator: CaseValue
    denominator: CaseValue
    label: str = "micro"

    def arrays(self, metric: Metric, records: Sequence[Record]) -> tuple[np.ndarray, ...]:
        num = np.array([float(self.numerator(r) or 0.0) for r in records], dtype=float)
        den = np.array([float(self.denominator(r) or 0.0) for r in records], dtype=float)
        return num, den

    def statistic(self, *arrays: np.ndarray, axis: int = -1) -> np.ndarray:
        num, den = arrays
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.sum(num, axis=axis) / np.sum(den, axis=axis)


@dataclass(frozen=True)
class Percentile(Aggregation):
    """The ``q``-th percentile (linear interpolation) of the per-case values."""

    q: float
    label: str = "percentile"

    def arrays(self, metric: Metric, records: Sequence[Record]) -> tuple[np.ndarray, ...]:
        values = _values(metric, records)
        return (np.array([np.nan if x is None else x for x in values], dtype=float),)

    def statistic(self, *arrays: np.ndarray, axis: int = -1) -> np.ndarray:
        (v,) = arrays
        if not np.isnan(v).any():
            return np.percentile(v, self.q, axis=axis)
        # numpy's nanpercentile loops over the rows in Python when NaNs are present (seconds for
        # 10,000 resamples); the same linear interpolation, vectorised: NaNs sort last.
        rows = np.sort(np.moveaxis(v, axis, -1), axis=-1)
        n = np.sum(~np.isnan(rows), axis=-1)
        position = np.maximum(n - 1, 0) * self.q / 100.0
        low = np.floor(position).astype(int)
        high = np.minimum(low + 1, np.maximum(n - 1, 0))
        a = np.take_along_axis(rows, low[..., None], axis=-1)[..., 0]
        b = np.take_along_axis(rows, high[..., None], axis=-1)[..., 0]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            out = a + (b - a) * (position - low)
        return np.where(n > 0, out, np.nan)


MEAN = Mean()


@dataclass(frozen=True)
class Metric:
    """One metric of the report.

    ``value(record)``: the per-case value (bool or float), None where the metric does not
    apply to the case. ``requires``: record fields ``value`` reads; a report whose cases lack
    one (an older report) has no value for this metric, and comparisons skip it.
    ``case_field``: when set, the runner stores the per-case value in each record under that
    name. ``direction``: ``higher`` or ``lower`` is better; ``none`` is shown, never gated.
    ``binary``: per-case values are yes/no (an exact McNemar test applies). ``timing``:
    compared with a baseline only on request (machines differ). ``unit`` decides rounding,
    and whether per-case values lie in [0, 1] (``rate``).
    """

    name: str
    description: str
    value: CaseValue
    aggregation: Aggregation = MEAN
    direction: Direction = "higher"
    binary: bool = False
    requires: tuple[str, ...] = ()
    case_field: str | None = None
    timing: bool = False
    unit: Unit = "rate"
    plot: bool = False

    @property
    def lower_is_better(self) -> bool:
        return self.direction == "lower"

    @property
    def gated(self) -> bool:
        """Compared by the gate (timing metrics only when asked)."""
        return self.direction != "none"

    @property
    def digits(self) -> int:
        return 1 if self.unit in ("ms", "words") else 4

    def available(self, records: Sequence[Record]) -> bool:
        """False when some record lacks a field the metric reads (a report from an older version)."""
        return all(all(f in r for f in self.requires) for r in records)

    def aggregate(self, records: Sequence[Record]) -> float | None:
        """The metric over ``records``; None when no case is eligible (never NaN)."""
        if not records:
            return None
        result = float(self.aggregation.statistic(*self.aggregation.arrays(self, records)))
        return result if np.isfinite(result) else None

    def case_value(self, record: Record) -> float | None:
        """The per-case value as a float (None where it does not apply): the stored
        ``case_field`` when the record has it, else computed by ``value``."""
        v = record[self.case_field] if self.case_field and self.case_field in record else self.value(record)
        return None if v is None else float(v)


@dataclass
class MetricRegistry:
    """The ordered metrics of the report; iterate, look up by name, or ``register`` one more."""

    _metrics: dict[str, Metric] = field(default_factory=dict)

    def register(self, metric: Metric) -> Metric:
        """Add ``metric`` (its name must be new); returns it."""
        if metric.name in self._metrics:
            raise ValueError(f"metric {metric.name!r} is already registered")
        self._metrics[metric.name] = metric
        return metric

    def __iter__(self) -> Iterator[Metric]:
        return iter(list(self._metrics.values()))

    def __getitem__(self, name: str) -> Metric:
        return self._metrics[name]

    def __contains__(self, name: object) -> bool:
        return name in self._metrics

    def __len__(self) -> int:
        return len(self._metrics)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._metrics)
