"""The recovery phase of a wait: after a fault Completed, check its target until it recovered or the deadline.

Scheduled by the engine like progress reads (its heap, its workers, its pacer): no task
per operation.  Operations on one target share one check in flight (a partition restarted
by three operations is read once per round).  Pure decisions in :meth:`Recoveries.after`.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
from collections.abc import Awaitable, Callable

import attrs

from .._errors import NotFoundError, SFProgressError, TransportTimeout
from .._facts import Recovery
from .._models import OperationRef, OperationType
from .._progress import NodeTransitionResult
from .._wire.transport import LAST_LOOK
from .machine import Outcome, OutcomeKind, Recovering, _Settings, _Tracker, unreachable_for_good
from .recovery import Verdict

__all__ = ["Check", "Recoveries"]

logger = logging.getLogger("sf_progress")

#: A check's verdict answers the other operations on its target for this long (seconds):
#: operations on one partition are checked once per round, in flight or just done.
SHARE_FOR = 0.25
_RECENT = 4096
#: One recovery check of a ref's target: ``check(ref, given_instance)``.
Check = Callable[[OperationRef, "str | None"], Awaitable[Verdict]]


def _given_instance(ref: OperationRef, outcome: Outcome | None) -> str | None:
    if ref.kind is OperationType.NODE_RESTART and ref.baseline is not None:
        return ref.baseline.instance_id  # recovered: Up on another instance than before the restart
    result = None if outcome is None or outcome.progress is None else outcome.progress.result
    if isinstance(result, NodeTransitionResult) and result.node_result is not None:
        return result.node_result.node_instance_id
    return None


class Recoveries:
    """One engine's operations waiting for their targets to recover."""

    def __init__(self, check: Check, clock: Callable[[], float], sleep: Callable[[float], Awaitable[None]]) -> None:
        self.check, self.clock, self.sleep = check, clock, sleep
        self.in_flight: dict[object, tuple[float, asyncio.Future[Verdict]]] = {}  # when each was sent
        self.recent: dict[object, tuple[float, Verdict]] = {}  # the last verdict per target, and when
        self.count = 0  # operations recovering now

    def begin(self, tracker: _Tracker, outcome: Outcome | None, now: float) -> None:
        """*tracker*'s fault ended with *outcome* (``None``: a bare recovery wait); check from *now*."""
        tracker.recovering = Recovering(now, outcome, _given_instance(tracker.ref, outcome))
        self.count += 1

    async def read(self, tracker: _Tracker, remaining: float = math.inf) -> Verdict | SFProgressError:
        """One check of *tracker*'s target, shared with the other operations on it.

        The wait gives up on it after *remaining* seconds (its deadline; at least ``LAST_LOOK``)
        with a transient ``TransportTimeout``: a slow health or replica read never holds a
        wait past its deadline (the check itself goes on for the other waits on its target).
        """
        rec = tracker.recovering
        assert rec is not None
        ref = tracker.ref
        key = (ref.partition_id, None, None) if ref.node_name is None else (None, ref.node_name, rec.given)
        recent = self.recent.get(key)
        # Another operation on this target just checked it — after this one's fault ended (a
        # verdict from before that says nothing of what this fault did).
        if recent is not None and recent[0] >= rec.since and self.clock() - recent[0] <= SHARE_FOR:
            return attrs.evolve(recent[1], requests=0)
        flying = self.in_flight.get(key)
        if flying is not None and flying[0] >= rec.since:
            future = flying[1]
        else:
            future = asyncio.ensure_future(self.check(ref, rec.given))
            self.in_flight[key] = (self.clock(), future)
            future.add_done_callback(lambda done: self._forget(key, done))
        try:
            return await self._within(future, remaining, ref)
        except SFProgressError as exc:
            return exc
        except Exception as exc:  # a bug must end one operation, not the whole batch
            logger.exception("unexpected error checking the recovery of %s", ref)
            error = SFProgressError(f"unexpected error: {exc!r}", ref=ref)
            error.__cause__ = exc
            return error

    async def _within(self, future: asyncio.Future[Verdict], remaining: float, ref: OperationRef) -> Verdict:
        if remaining == math.inf:
            return await asyncio.shield(future)
        timer = asyncio.ensure_future(self.sleep(max(remaining, LAST_LOOK)))
        try:
            await asyncio.wait((future, timer), return_when=asyncio.FIRST_COMPLETED)
        finally:
            timer.cancel()
        if not future.done():
            raise TransportTimeout(f"the recovery check got no answer within the {remaining:.3g} s left", ref=ref)
        return future.result()

    def _forget(self, key: object, done: asyncio.Future[Verdict]) -> None:
        flying = self.in_flight.get(key)
        sent_at = flying[0] if flying is not None and flying[1] is done else None
        if sent_at is not None:
            del self.in_flight[key]
        if not done.cancelled() and done.exception() is None and sent_at is not None:  # (each waiter got any error)
            if len(self.recent) >= _RECENT:
                self.recent.clear()
            self.recent[key] = (sent_at, done.result())  # as old as the reads it made

    def after(
        self, tracker: _Tracker, result: Verdict | SFProgressError, now: float, cfg: _Settings
    ) -> float | Outcome:
        """Account for one check: when to check again, or the final ``Outcome`` (with its ``Recovery``)."""
        rec = tracker.recovering
        assert rec is not None
        rec.checks += 1
        if isinstance(result, Verdict):
            rec.last = result
            if result.ok:
                return self._end(tracker, rec, now, None)
            reason = result.reason
        elif isinstance(result, NotFoundError):
            return self._end(tracker, rec, now, str(result), OutcomeKind.NOT_FOUND, result)
        elif unreachable_for_good(result, rec.last is None, rec.checks, now - rec.since, cfg):
            return self._end(tracker, rec, now, str(result), OutcomeKind.FAILED, result)
        elif result.transient:
            reason = f"could not check: {result}"
        else:
            return self._end(tracker, rec, now, str(result), OutcomeKind.FAILED, result)
        if now >= tracker.deadline_at:
            return self._end(tracker, rec, now, reason, OutcomeKind.TIMED_OUT)
        return min(now + cfg.backoff.delay(rec.checks - 1, random.random()), tracker.deadline_at)

    def _end(
        self,
        tracker: _Tracker,
        rec: Recovering,
        now: float,
        reason: str | None,
        kind: OutcomeKind = OutcomeKind.COMPLETED,
        error: SFProgressError | None = None,
    ) -> Outcome:
        self.count -= 1
        last = rec.last
        recovery = Recovery(
            tracker.ref,
            reason is None,
            now - rec.since,
            reason,
            rec.checks,
            None if last is None else last.partition,
            None if last is None else last.node,
        )
        elapsed = now - tracker.added_at
        if rec.outcome is None:  # a bare recovery wait: its own outcome
            return Outcome(tracker.ref, kind, None, error, 0, elapsed, recovery)
        if kind is OutcomeKind.TIMED_OUT:
            kind = OutcomeKind.COMPLETED  # the fault did complete; its target did not recover in time
        return attrs.evolve(rec.outcome, kind=kind, error=error, elapsed=elapsed, recovery=recovery)

    def close(self) -> None:
        for _, future in list(self.in_flight.values()):
            future.cancel()
        self.in_flight.clear()
        self.recent.clear()
