"""The waits of a client: their engines and observer, their argument checks, and the single waits' runs."""

from __future__ import annotations

import weakref
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from . import _telemetry
from ._calls import Calls
from ._config import Clock, RetryPolicy
from ._engine import MAX_CONCURRENCY, _Abort, _Engine
from ._errors import OperationNotCompleted, RecoveryTimeout
from ._models import FaultProgress, OperationRef
from ._observer import Observer
from ._recovery import Recovery
from ._transport import Transport
from ._waiting import Event, EventHook, OutcomeKind, StateChanged, _Settings

__all__ = ["ProgressHook", "Waits", "check_batch_options", "recover_one", "single_wait_hook", "wait_one"]

P = TypeVar("P", bound=FaultProgress)
#: ``on_progress(ref, progress)``, sync or async: *progress* is the model of the ref's kind
#: (``ProgressHook[PartitionRestartProgress]``, ...).
ProgressHook = Callable[[OperationRef, P], Awaitable[None] | None]


class Waits:
    """A client's wait drivers: its one observer (one list call per tick for every wait) and its running engines."""

    def __init__(
        self, calls: Calls, transport: Transport, retry: RetryPolicy, interval: float | None, clock: Clock
    ) -> None:
        self.calls, self.transport, self.retry, self.interval, self.clock = calls, transport, retry, interval, clock
        self.engines: weakref.WeakSet[_Engine] = weakref.WeakSet()  # the running batches, stopped by close()
        self.observer: Observer | None = None

    def engine(
        self,
        cfg: _Settings,
        concurrency: int,
        max_rate: float | None,
        on_event: EventHook | None,
        coalesce: bool | None,
    ) -> _Engine:
        """A new wait driver on the client's session and observer (stopped by :meth:`close`)."""
        self.transport.open()
        observer = self.observer
        if observer is None:
            observer = self.observer = Observer(
                self.calls.list_active, interval=self.interval, retry=self.retry, clock=self.clock
            )
        check = self.calls.check if cfg.recovery else None
        calls = self.calls
        engine = _Engine(calls.poll_once, cfg, concurrency, max_rate, on_event, self.clock, observer, coalesce, check)
        self.engines.add(engine)
        return engine

    async def close(self) -> None:
        """Stop every running batch (a consumer still iterating one gets a ``RuntimeError``), then the observer."""
        engines, self.engines = list(self.engines), weakref.WeakSet()
        for engine in engines:
            await engine.abort(RuntimeError("the ProgressClient was closed while this batch was running"))
        if self.observer is not None:
            await self.observer.close()


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


async def wait_one(engine: _Engine, ref: OperationRef, *, raise_on_failure: bool, deadline: float) -> FaultProgress:
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
    recovery = outcome.recovery
    if recovery is not None and not recovery.recovered:
        raise RecoveryTimeout(
            f"{ref} completed, but its target did not recover within {deadline:g}s: {recovery.reason}",
            ref=ref,
            deadline=deadline,
            recovery=recovery,
            last_progress=progress,
        )
    if raise_on_failure and outcome.kind is not OutcomeKind.COMPLETED:
        raise OperationNotCompleted(f"operation ended {progress.state}", ref=ref, progress=progress)
    return progress


async def recover_one(engine: _Engine, ref: OperationRef, deadline: float) -> Recovery:
    """Run *engine* for the recovery of *ref*'s target alone (``wait_for_recovery``)."""
    outcome = await engine.run_one(ref, recovering=True)
    if isinstance(outcome, _Abort):
        raise outcome.error
    recovery = outcome.recovery
    assert recovery is not None
    if outcome.error is not None:
        raise outcome.error
    if not recovery.recovered:
        raise RecoveryTimeout(
            f"the target of {ref} did not recover within {deadline:g}s: {recovery.reason}",
            ref=ref,
            deadline=deadline,
            recovery=recovery,
        )
    return recovery
