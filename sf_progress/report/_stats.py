"""The report's one rule for a set of durations: min, median, p95 and max, in seconds to the millisecond."""

from __future__ import annotations

import statistics

__all__ = ["spread"]


def spread(values: list[float]) -> dict[str, float]:
    """``min``, ``median``, ``p95`` (the value at index ``int(0.95 n)``) and ``max`` of *values* (not empty)."""
    ordered = sorted(values)
    return {
        "min": round(ordered[0], 3),
        "median": round(statistics.median(ordered), 3),
        "p95": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))], 3),
        "max": round(ordered[-1], 3),
    }
