"""A scenario's events and verdict: what the runner yields, journals and ends with."""

from __future__ import annotations

import enum
from typing import Any

import attrs

__all__ = ["ScenarioEvent", "ScenarioEventKind", "ScenarioVerdict", "StopReason"]


class ScenarioEventKind(str, enum.Enum):
    """What happened in a scenario."""

    STARTED = "started"
    FAULT_STARTED = "fault_started"
    FAULT_ENDED = "fault_ended"
    VALIDATION_PASSED = "validation_passed"
    VALIDATION_FAILED = "validation_failed"
    WAITING = "waiting"
    STOPPED = "stopped"

    def __str__(self) -> str:
        return self.value


class ScenarioVerdict(str, enum.Enum):
    """How a scenario ended: ``passed`` (exit 0), ``failed`` its validation (exit 9), or ``aborted`` (exit 8)."""

    PASSED = "passed"
    FAILED = "failed"
    ABORTED = "aborted"

    def __str__(self) -> str:
        return self.value

    @property
    def exit_code(self) -> int:
        """What the command line exits with (0 passed, 9 failed validation, 8 aborted)."""
        return {"passed": 0, "failed": 9, "aborted": 8}[self.value]


class StopReason(str, enum.Enum):
    """Why a scenario stopped."""

    ROUNDS_DONE = "rounds done"
    BUDGET_SPENT = "budget spent"
    VALIDATION_FAILED = "validation failed"
    FAULT_ERRORS = "too many fault errors"
    NOT_STABLE = "not stable before the first fault"
    LEVER = "stop lever"
    HELD_OUT = "held by a safety rule past the hold timeout"
    INTERRUPTED = "interrupted"  # (never journaled: an interrupted run resumes)

    def __str__(self) -> str:
        return self.value

    @property
    def verdict(self) -> ScenarioVerdict:
        """The verdict a scenario stopped for this reason gets."""
        if self in (StopReason.ROUNDS_DONE, StopReason.BUDGET_SPENT):
            return ScenarioVerdict.PASSED
        return ScenarioVerdict.FAILED if self is StopReason.VALIDATION_FAILED else ScenarioVerdict.ABORTED


@attrs.frozen
class ScenarioEvent:
    """One event of a scenario run (a JSON line with ``-o json``).

    Attributes:
        kind: What happened.
        at: When (Unix time, seconds).
        step: The step's number (from 0; ``None`` for the run's own events, -1 for the check
            before the first fault).
        fault: The step's fault (``restart-replica (replica=secondary)``...).
        partition: The partition it took.
        operation_id: The fault's OperationId.
        ok: For a fault's end: whether it completed (verified); for a validation: stable.
        seconds: A validation's time to stable (or its timeout), a wait's length.
        detail: What it said, in words.
        evidence: For a failed validation: what was unhealthy (the cluster's evaluations).
        progress: The share of the run done (rounds, or the time budget), 0 to 1.
        verdict: For ``stopped``: the verdict.
        reason: For ``stopped``: why.
    """

    kind: ScenarioEventKind
    at: float
    step: int | None = None
    fault: str | None = None
    partition: str | None = None
    operation_id: str | None = None
    ok: bool | None = None
    seconds: float | None = None
    detail: str = ""
    evidence: tuple[str, ...] = ()
    progress: float | None = None
    verdict: ScenarioVerdict | None = None
    reason: StopReason | None = None

    def as_dict(self) -> dict[str, Any]:
        """The event as plain JSON (its fields that are set, ``event`` first).

        Returns:
            ``{"event": kind, "at": ..., ...}``.
        """
        fields = attrs.asdict(self, recurse=False)
        out: dict[str, Any] = {"event": self.kind.value}
        for key, value in fields.items():
            if key == "kind" or value is None or value in ((), ""):
                continue
            out[key] = value.value if isinstance(value, enum.Enum) else list(value) if isinstance(
                value, tuple) else round(value, 3) if isinstance(value, float) else value
        return out
