"""``wait_many``'s public side: the ``BatchWaiter`` async iterator over one scheduler (``engine.py``)."""

from __future__ import annotations

from collections.abc import AsyncIterable, Iterable, Mapping
from types import TracebackType

import attrs

from .._models import OperationRef, OperationState, as_ref
from .engine import _Engine
from .machine import Abort, BadInput, Outcome, OutcomeKind, Phase

__all__ = ["BatchSnapshot", "BatchWaiter"]


@attrs.frozen
class BatchSnapshot:
    """A live view of a ``wait_many`` batch, cheap enough to draw progress bars from.

    ``by_state`` counts pending operations by their last state read (``None``: not read
    yet); ``by_kind`` counts finished operations.  ``oldest_pending`` is the age in seconds
    of the oldest pending operation.  ``throttle`` is the share of ``concurrency`` (and of
    ``max_rate``) in use after backpressure: 1.0 when the cluster is healthy.
    ``requests`` counts every request sent for the batch: ``progress_reads`` plus
    ``list_calls`` (fault-operation list calls that served it); ``coalescing`` says whether
    its pending operations are being watched through the list; ``recovering`` counts the
    pending operations whose fault Completed and whose target is being checked (waits with
    ``recovery=True``).
    """

    total: int
    pending: int
    finished: int
    in_flight: int
    by_state: Mapping[OperationState | None, int]
    by_kind: Mapping[OutcomeKind, int]
    requests: int
    retries: int
    oldest_pending: float | None
    throttle: float
    progress_reads: int = 0
    list_calls: int = 0
    coalescing: bool = False
    recovering: int = 0


class BatchWaiter:
    """The async iterator ``ProgressClient.wait_many`` returns: one ``Outcome`` per operation.

    Use it as ``async with client.wait_many(refs) as batch: async for outcome in batch:``.
    Operations can also arrive while it runs: pass an async iterable, or pass ``None`` and
    call :meth:`add`, then :meth:`seal` once no more will come.  Breaking out of the loop,
    :meth:`aclose` or cancelling the consumer stops every task it started; it never closes
    the client.
    """

    def __init__(
        self,
        engine: _Engine,
        operations: Iterable[OperationRef] | AsyncIterable[OperationRef] | None,
    ) -> None:
        self._engine = engine  # owns the batch's lifecycle (its Phase); this is the consumer's side
        self._finished = False
        self._consuming = False
        if operations is None:
            return
        if isinstance(operations, AsyncIterable):
            engine.feed_from(operations)
            return
        refs = []
        for index, item in enumerate(operations):
            try:
                refs.append(as_ref(item))
            except (TypeError, ValueError) as exc:
                raise type(exc)(f"operations[{index}]: {exc}") from None
        engine.add_all(refs)
        engine.seal()

    def _start(self) -> None:
        self._engine.start()

    def add(self, *operations: OperationRef) -> int:
        """Add operations to wait for (duplicates of ones already added are ignored).

        Args:
            *operations: :class:`OperationRef` objects, all checked before any is added.

        Returns:
            How many were new.

        Raises:
            RuntimeError: The batch is sealed or closed.
            TypeError: An operation that is not an :class:`OperationRef`.
        """
        if not self._engine.accepting:
            raise RuntimeError("this batch takes no more operations (sealed or closed)")
        refs = [as_ref(item) for item in operations]  # validate all before adding any
        return self._engine.add_all(refs)

    def seal(self) -> None:
        """Declare that no more operations will be added; iteration ends when all are done.

        A batch fed by an async iterable also waits for that iterable to end.
        """
        self._engine.seal()

    def snapshot(self) -> BatchSnapshot:
        """Take the batch's live counts.

        Returns:
            A :class:`BatchSnapshot`: counts by state, in flight, requests, retries, list calls
            and the oldest pending operation.
        """
        engine = self._engine
        oldest = next(iter(engine.pending.values()), None)
        recoveries = engine.recoveries
        return BatchSnapshot(
            total=engine.total,
            pending=len(engine.pending),
            finished=len(engine.ended),
            in_flight=engine.in_flight,
            by_state={k: v for k, v in engine.by_state.items() if v},
            by_kind=dict(engine.by_kind),
            requests=engine.requests,
            retries=engine.retries,
            oldest_pending=None if oldest is None else engine.clock() - oldest.added_at,
            throttle=engine.pacer.factor,
            progress_reads=engine.progress_reads,
            list_calls=engine.list_calls,
            coalescing=engine.lease.listing(),
            recovering=0 if recoveries is None else recoveries.count,
        )

    def __aiter__(self) -> BatchWaiter:
        return self

    async def __anext__(self) -> Outcome:
        if self._finished:
            raise StopAsyncIteration
        if self._consuming:
            raise RuntimeError("another task is already iterating this batch: a batch has one consumer")
        self._start()
        engine = self._engine
        self._consuming = True
        try:
            item = await engine.outcomes.get()
        except BaseException:
            # Like an async generator, a batch whose __anext__ is cancelled is finished:
            # nothing of it may keep polling once its consumer is gone.
            engine.cancel()
            raise
        finally:
            self._consuming = False
        if type(item) is Outcome:
            return item
        if isinstance(item, BadInput):
            raise item.error
        self._finished = True
        await self.aclose()
        if isinstance(item, Abort):
            raise item.error
        if engine.source_error is not None:
            raise engine.source_error
        raise StopAsyncIteration

    async def aclose(self) -> None:
        """Stop every task this batch started.  Safe to call more than once."""
        await self._engine.close()

    async def __aenter__(self) -> BatchWaiter:
        self._start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    def __del__(self) -> None:
        # Dropped without aclose (e.g. ``break`` out of ``async for``): stop the tasks.
        self._engine.cancel()

    def __repr__(self) -> str:
        snap = self.snapshot()
        engine = self._engine
        state = "closed" if engine.phase is Phase.ENDED else "running" if engine.started else "not started"
        return f"<BatchWaiter {state} pending={snap.pending} finished={snap.finished}>"
