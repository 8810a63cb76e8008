"""The waits' argument checks, and one ``wait_for_completion`` run over its one-operation engine."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from . import _telemetry
from ._engine import MAX_CONCURRENCY, _Abort, _Engine
from ._errors import OperationNotCompleted
from ._models import FaultProgress, OperationRef
from ._waiting import Event, EventHook, OutcomeKind, StateChanged

__all__ = ["ProgressHook", "check_batch_options", "single_wait_hook", "wait_one"]

P = TypeVar("P", bound=FaultProgress)
#: ``on_progress(ref, progress)``, sync or async: *progress* is the model of the ref's kind
#: (``ProgressHook[PartitionRestartProgress]``, ...).
ProgressHook = Callable[[OperationRef, P], Awaitable[None] | None]


def _check_coalesce(coalesce: object) -> None:
    if coalesce is not None and type(coalesce) is not bool:
        raise TypeError(f"coalesce must be None, True or False, not {coalesce!r}")


def single_wait_hook(
    on_progress: ProgressHook[Any] | None, raise_on_failure: object, coalesce: object
) -> EventHook | None:
    """Check ``wait_for_completion``'s options; its ``on_progress`` as an engine event hook."""
    if type(raise_on_failure) is not bool:
        raise TypeError("raise_on_failure must be a bool")
    if on_progress is not None and not callable(on_progress):
        raise TypeError(f"on_progress must be callable, not {type(on_progress).__name__}")
    _check_coalesce(coalesce)
    if on_progress is None:
        return None

    def hook(event: Event) -> Awaitable[None] | None:
        if isinstance(event, StateChanged):
            return on_progress(event.ref, event.progress)
        return None

    return hook


def check_batch_options(concurrency: object, max_rate: object, on_event: object, coalesce: object) -> float | None:
    """Check ``wait_many``'s options; return ``max_rate`` as a float (or ``None``)."""
    if type(concurrency) is not int or not 1 <= concurrency <= MAX_CONCURRENCY:
        raise ValueError(f"concurrency must be an int in 1..{MAX_CONCURRENCY}, got {concurrency!r}")
    if on_event is not None and not callable(on_event):
        raise TypeError(f"on_event must be callable, not {type(on_event).__name__}")
    _check_coalesce(coalesce)
    if max_rate is None:
        return None
    if type(max_rate) not in (int, float) or not max_rate > 0:  # type: ignore[operator]
        raise ValueError(f"max_rate must be a number > 0 or None, got {max_rate!r}")
    return float(max_rate)  # type: ignore[arg-type]


async def wait_one(engine: _Engine, ref: OperationRef, *, raise_on_failure: bool) -> FaultProgress:
    """Run *engine* for *ref* alone; return its final progress or raise as ``wait_for_completion`` does."""
    with _telemetry.wait_span(ref.kind, str(ref.operation_id)) as span:
        outcome = await engine.run_one(ref)
        if isinstance(outcome, _Abort):
            raise outcome.error
        _telemetry.end_wait_span(span, outcome.kind.value, outcome.polls)
    if outcome.error is not None:
        raise outcome.error
    progress = outcome.progress
    assert progress is not None
    if raise_on_failure and outcome.kind is not OutcomeKind.COMPLETED:
        raise OperationNotCompleted(f"operation ended {progress.state}", ref=ref, progress=progress)
    return progress
