"""The waits of a client: their engines and observer, their argument checks, and the single waits' runs."""

from __future__ import annotations

import weakref
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from .. import _telemetry
from .._config import Clock, RetryPolicy
from .._errors import OperationNotCompleted, RecoveryTimeout
from .._facts import Recovery
from .._models import OperationRef
from .._progress import FaultProgress
from .._wire.calls import Calls
from .._wire.transport import Transport
from .engine import _Engine
from .machine import Abort, Event, EventHook, OutcomeKind, StateChanged
from .observer import Observer
from .options import WaitOptions, engine_settings

__all__ = ["ProgressHook", "Waits", "progress_hook", "recover_one", "wait_one"]

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

    def engine(self, options: WaitOptions) -> _Engine:
        """A new wait driver for *options* on the client's session and observer (stopped by :meth:`close`)."""
        self.transport.open()
        observer = self.observer
        if observer is None:
            observer = self.observer = Observer(
                self.calls.list_active, interval=self.interval, retry=self.retry, clock=self.clock
            )
        cfg = engine_settings(options, self.retry)
        check = self.calls.check if cfg.recovery else None
        engine = _Engine(
            self.calls.poll_once,
            cfg,
            options.concurrency,
            options.max_rate,
            options.on_event,
            self.clock,
            observer,
            options.coalesce,
            check,
        )
        self.engines.add(engine)
        return engine

    async def close(self) -> None:
        """Stop every running batch (a consumer still iterating one gets a ``RuntimeError``), then the observer."""
        engines, self.engines = list(self.engines), weakref.WeakSet()
        for engine in engines:
            await engine.abort(RuntimeError("the ProgressClient was closed while this batch was running"))
        if self.observer is not None:
            await self.observer.close()


def progress_hook(on_progress: ProgressHook[Any] | None, raise_on_failure: object) -> EventHook | None:
    """Check ``wait_for_completion``'s own options; its ``on_progress`` as an engine event hook."""
    if type(raise_on_failure) is not bool:
        raise TypeError("raise_on_failure must be a bool")
    if on_progress is not None and not callable(on_progress):
        raise TypeError(f"on_progress must be callable, not {type(on_progress).__name__}")
    if on_progress is None:
        return None

    def hook(event: Event) -> Awaitable[None] | None:
        if isinstance(event, StateChanged):
            return on_progress(event.ref, event.progress)
        return None

    return hook


async def wait_one(engine: _Engine, ref: OperationRef, *, raise_on_failure: bool, deadline: float) -> FaultProgress:
    """Run *engine* for *ref* alone; return its final progress or raise as ``wait_for_completion`` does."""
    with _telemetry.wait_span(ref.kind, str(ref.operation_id)) as span:
        outcome = await engine.run_one(ref)
        if isinstance(outcome, Abort):
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
    if isinstance(outcome, Abort):
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
