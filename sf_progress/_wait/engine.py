"""The ``wait_many`` scheduler: one due-time heap, lazily started workers, and the client's observer.

Pending operations live in a heap ordered by the time of their next read, or are parked
with the client's ``Observer`` (which lists the cluster's active operations once per
tick); there is no task per operation.  One dispatcher task hands due operations to at
most ``concurrency`` worker tasks, paced by the rate bucket and the cluster's backpressure;
workers read once (the scheduler owns retries) and put it back (in the heap, or parked) or emit its ``Outcome``.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import heapq
import logging
import math
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable

from .. import _telemetry
from .._config import Clock, is_virtual, sleep_or_wake
from .._errors import FabricTransientError, SFProgressError
from .._models import OperationRef, OperationState, as_ref
from .._progress import FaultProgress
from .machine import (
    UNREAD,
    Abort,
    BadInput,
    EventHook,
    GaveUp,
    Listed,
    Outcome,
    OutcomeKind,
    Phase,
    Retrying,
    _Settings,
    _Tracker,
    call_hook,
    first_due,
    listed_progress,
    step,
)
from .observer import PROMPT_READ, Observer, Parkable
from .pacer import Pacer
from .recovering import Check, Recoveries
from .recovery import Verdict

__all__ = ["Poll"]

logger = logging.getLogger("sf_progress")

_DONE = object()
#: Timer slots: reads due within one slot of this many seconds are sent together (at most this much later).
_SLOT = 0.25
#: Prompt reads of a crowded cluster's operations go out in rounds this far apart (``PROMPT_READ`` on average).
_ROUND = 2 * _SLOT
_GAVE_UP = frozenset({OutcomeKind.NOT_FOUND, OutcomeKind.TIMED_OUT, OutcomeKind.FAILED})
#: A heap entry: (due, _GUARD or _READ, tracker).  At one instant a parked operation's
#: deadline guard comes before any read, so every guard due is taken back from the list at
#: once; small ints are shared objects, so the kind costs no allocation per entry.
_GUARD, _READ = 0, 1
_Entry = tuple[float, int, _Tracker]
Poll = Callable[[OperationRef, float], Awaitable[FaultProgress]]


class _Engine:
    """The one wait driver (every ``wait_many`` batch, and each ``wait_for_completion``).

    Tasks reference this, never the public ``BatchWaiter``.  It is handed a ``poll``
    function (one progress read, no retries) and the client's ``Observer``, and never
    touches the client that made it.  What to read next comes from one of two places: the
    due-time heap (per-operation reads, operations the list handed back, and the deadline
    of each parked operation), or the observer's list tick for operations parked with it.
    Whether an operation is parked is the observer's call (``lease.park``); its deadline
    stays here, so even an observer that stopped working degrades to reads, never to a hang.

    (One long class on purpose: the hot path -- take due, poll, step, place -- keeps plain
    attributes, one lookup each; pacing is ``pacer.Pacer``.)
    """

    def __init__(
        self,
        poll: Poll,
        cfg: _Settings,
        concurrency: int,
        max_rate: float | None,
        on_event: EventHook | None,
        clock: Clock,
        observer: Observer,
        coalesce: bool | None = None,
        check: Check | None = None,
    ) -> None:
        self.poll, self.cfg, self.observer = poll, cfg, observer
        self.recoveries = None if check is None else Recoveries(check, clock.monotonic, clock.sleep)  # recovery=True
        self.lease = observer.lease(self, coalesce, max_rate)
        # A crowded cluster's running operations may be read sooner than the default backoff says.
        self.prompt, self.on_event = cfg.default_backoff, on_event
        self.clock, self.sleep = clock.monotonic, clock.sleep
        self.virtual = is_virtual(clock)  # asked once: the testing clock needs answers in before time moves
        self.pacer = Pacer(concurrency, max_rate, retry_after_cap=cfg.retry.retry_after_cap, now=self.clock())
        # No sequence number per entry (32 bytes each at 100,000 pending): ties order by tracker.
        self.heap: list[_Entry] = []
        self.pending: dict[OperationRef, _Tracker] = {}
        self.ended: set[OperationRef] = set()  # operations whose wait ended (a duplicate is ignored)
        self.by_state: collections.Counter[OperationState | None] = collections.Counter()
        self.by_kind: collections.Counter[OutcomeKind] = collections.Counter()
        self.outcomes: asyncio.Queue[object] = asyncio.Queue()
        self.work: asyncio.Queue[_Tracker] = asyncio.Queue()
        self.events: asyncio.Queue[object] = asyncio.Queue()
        self.wake = asyncio.Event()
        self.in_flight = self.requests = self.retries = self.list_calls = self.progress_reads = 0
        self.idle = 0  # workers waiting for work
        self.phase = Phase.OPEN
        self.started = False  # start() ran: its tasks exist (until close)
        self.source: AsyncIterable[OperationRef] | None = None
        self.source_error: BaseException | None = None
        self.tasks: list[asyncio.Task[None]] = []
        self.dropped = False
        self.span: object = None  # the batch's sf_progress.wait_many span, while it runs

    @property
    def total(self) -> int:
        """Distinct operations added so far (pending and ended)."""
        return len(self.pending) + len(self.ended)

    # --- input -------------------------------------------------------------------------

    def add(self, ref: OperationRef) -> bool:
        return self.add_all((ref,)) == 1

    def add_recovering(self, ref: OperationRef) -> None:
        """Wait for *ref*'s target to recover, with no wait for the fault first (``wait_for_recovery``)."""
        now = self.clock()
        tracker = self.pending[ref] = _Tracker(ref, now, self.cfg.budget)
        self.by_state[None] += 1
        assert self.recoveries is not None
        self.recoveries.begin(tracker, None, now)
        heapq.heappush(self.heap, (now, _READ, tracker))
        self.wake.set()

    def add_all(self, refs: Iterable[OperationRef]) -> int:
        """Add operations (duplicates are ignored); return how many were new.

        All are counted with the observer before any is placed, so a large batch is
        listed from its first operation on.
        """
        now = self.clock()
        budget = self.cfg.budget
        deadline = now + budget
        trackers = []
        pending, ended = self.pending, self.ended
        for ref in refs:
            if ref in pending or ref in ended:
                continue
            tracker = _Tracker(ref, now, budget, deadline)
            pending[ref] = tracker
            trackers.append(tracker)
        if not trackers:
            return 0
        self.by_state[None] += len(trackers)
        for kind, count in collections.Counter(t.ref.kind for t in trackers).items():
            _telemetry.operation_started(kind, count)
        self.lease.add(sum(1 for t in trackers if not t.ref.kind.verified))  # the list shows only these
        for tracker in trackers:
            self.place(tracker, None, first_due(tracker, self.cfg))
        self.wake.set()
        return len(trackers)

    # --- what the observer says ------------------------------------------------------------

    def place(self, tracker: _Tracker, result: FaultProgress | SFProgressError | None, due: float) -> None:
        """Park *tracker* with the list if the observer takes it, else schedule its read at *due*."""
        if self.lease.park(tracker, result):
            if not tracker.guarded and tracker.deadline_at < math.inf:
                # Its deadline stays ours: read at it, whatever the observer does meanwhile.
                tracker.guarded = True
                heapq.heappush(self.heap, (tracker.deadline_at, _GUARD, tracker))
                self.wake.set()
        else:
            if self.prompt and isinstance(result, FaultProgress) and self.lease.crowded():
                # The list does not pay here: prompt reads instead, in rounds every _ROUND seconds.
                due = min(due, math.ceil((self.clock() + PROMPT_READ - _ROUND / 2) / _ROUND) * _ROUND)
            heapq.heappush(self.heap, (due, _READ, tracker))

    def on_listed(self, op: Parkable, raw_state: str) -> None:
        tracker = op
        assert isinstance(tracker, _Tracker)
        last = tracker.last
        if last is not None and last.raw_state == raw_state:
            return  # the usual tick: nothing changed
        before = last.state if last is not None else None
        progress = listed_progress(raw_state, tracker.ref.kind)
        _, event = step(tracker, Listed(progress), self.clock(), self.cfg)
        if event is not None:
            self.by_state[before] -= 1
            self.by_state[progress.state] += 1
            if self.on_event is not None:
                self.events.put_nowait(event)

    def on_gone(self, op: Parkable) -> None:
        assert isinstance(op, _Tracker)
        if self.pending.get(op.ref) is op and self.phase is not Phase.ENDED:
            heapq.heappush(self.heap, (self.clock(), _READ, op))
            self.wake.set()

    def on_list_call(self) -> None:
        self.list_calls += 1
        self.requests += 1
        # A list call counts against the batch's rate like a read, but never runs the
        # bucket into debt: the observer paces its ticks to half the rate.
        self.pacer.charge()

    def feed_from(self, source: AsyncIterable[OperationRef]) -> None:
        """Take operations from *source* once started (the batch is sealed when it ends)."""
        self.source, self.phase = source, Phase.FEEDING

    def seal(self) -> None:
        """No more operations will be added (a batch still reading its async input ends after it)."""
        if self.phase is Phase.OPEN:
            self.phase = Phase.SEALED
        self.wake.set()

    @property
    def accepting(self) -> bool:
        return self.phase is Phase.OPEN

    async def feed(self, source: AsyncIterable[OperationRef]) -> None:
        index = 0
        try:
            async for item in source:
                try:
                    self.add(as_ref(item))
                except (TypeError, ValueError) as exc:
                    # Raised by the iterator in its turn; the rest of the input still counts.
                    self.outcomes.put_nowait(BadInput(type(exc)(f"operations[{index}]: {exc}")))
                index += 1
        except Exception as exc:  # noqa: BLE001 - the user's source failed: raised after the outcomes so far
            self.source_error = exc
        finally:
            if self.phase is Phase.FEEDING:
                self.phase = Phase.SEALED
            self.wake.set()

    # --- scheduling ----------------------------------------------------------------------

    def start(self, *, batch_span: bool = True) -> None:
        if self.phase is Phase.ENDED:
            raise RuntimeError("this batch is closed")
        if self.started:
            return
        self.started = True
        if batch_span:
            self.span = _telemetry.batch_span()
        self.tasks.append(asyncio.ensure_future(self.dispatch()))
        if self.on_event is not None:
            self.tasks.append(asyncio.ensure_future(self.deliver_events()))
        if self.source is not None:
            self.tasks.append(asyncio.ensure_future(self.feed(self.source)))

    async def run_one(self, ref: OperationRef, *, recovering: bool = False) -> Outcome | Abort:
        """Wait for *ref* alone (``wait_for_completion``): its outcome once every event is delivered."""
        try:
            if recovering:
                self.add_recovering(ref)
            else:
                self.add(ref)
            self.seal()
            self.start(batch_span=False)
            outcome = await self.outcomes.get()
            await self.events.join()  # on_progress has seen the final state
        finally:
            await self.close()
        assert isinstance(outcome, (Outcome, Abort))
        return outcome

    async def dispatch(self) -> None:
        try:
            await self._dispatch()
        except Exception as exc:  # a bug must end the batch with an error, never strand its consumer
            logger.error("the wait driver failed; ending the batch", exc_info=True)
            if self.phase is not Phase.ENDED:
                self.outcomes.put_nowait(Abort(RuntimeError(f"the wait driver failed: {exc!r}")))

    async def _dispatch(self) -> None:
        pacer = self.pacer
        while True:
            self.wake.clear()
            if self.phase is Phase.SEALED and not self.pending and self.in_flight == 0:
                await self.events.join()  # every event is delivered before the iteration ends
                self.outcomes.put_nowait(_DONE)
                return
            if not self.heap:
                await self.wake.wait()
                continue
            if self.in_flight >= pacer.allowed_in_flight():
                await self.wake.wait()
                continue
            now = self.clock()
            tracker = self.take_due(now, keep_slot=False)
            if tracker is not None:
                self.hand_over(tracker)
                continue
            if not self.heap:
                continue  # take_due dropped the stale entries that were left: look again from the top
            if self.virtual:
                if self.in_flight:
                    # On the virtual clock, time may only jump once the answers on their
                    # way are in; otherwise they would be read "later" than they were sent.
                    await self.wake.wait()
                    continue
                due = self.heap[0][0]
            else:
                # Timer slots: reads due within the same 250 ms go out together, so the
                # gateway (and this process) wakes once for them, not once each.
                due = math.ceil(self.heap[0][0] / _SLOT) * _SLOT
            # Until then, or less when ``wake`` is set (a new, earlier operation).
            await sleep_or_wake(self.sleep, max(due, pacer.blocked_until()) - now, self.wake)

    def hand_over(self, tracker: _Tracker) -> None:
        """Give a due operation to an idle worker, or to a new one (never more than in flight)."""
        if self.idle:
            self.idle -= 1
            self.work.put_nowait(tracker)
        else:
            self.tasks.append(asyncio.ensure_future(self.worker(tracker)))

    async def worker(self, first: _Tracker) -> None:
        tracker: _Tracker | None = first
        while True:
            while tracker is not None:
                if tracker.recovering is not None:
                    assert self.recoveries is not None
                    checked = await self.recoveries.read(tracker, tracker.deadline_at - self.clock())
                    self.after_check(tracker, checked, self.clock())
                    tracker = self.take_due(self.clock(), keep_slot=True)
                    continue
                remaining = tracker.deadline_at - self.clock()
                result: FaultProgress | SFProgressError
                try:
                    result = await self.poll(tracker.ref, remaining)
                except SFProgressError as exc:
                    result = exc
                except Exception as exc:  # a bug must end one operation, not the whole batch
                    logger.exception("unexpected error polling %s", tracker.ref)
                    error = SFProgressError(f"unexpected error: {exc!r}", ref=tracker.ref)
                    error.__cause__ = exc
                    result = error
                except BaseException:
                    self.in_flight -= 1
                    raise
                now = self.clock()
                self.after_poll(tracker, result, now)
                # Under load, keep the slot and take the next due operation directly:
                # no round trip through the dispatcher on the hot path.
                tracker = self.take_due(now, keep_slot=True)
            self.in_flight -= 1
            self.wake.set()
            self.idle += 1
            tracker = await self.work.get()

    def compact(self) -> None:
        """Past its bound (2 x pending + 64), drop the heap's entries of operations that ended."""
        pending = self.pending
        if len(self.heap) > 2 * len(pending) + 64:
            self.heap = [entry for entry in self.heap if pending.get(entry[2].ref) is entry[2]]
            heapq.heapify(self.heap)

    def take_due(self, now: float, *, keep_slot: bool) -> _Tracker | None:
        """Pop the next operation if it is due and the budgets allow a request now."""
        self.compact()  # where due work is taken (by the dispatcher, and by busy workers directly)
        heap = self.heap
        while heap and heap[0][1] == _GUARD and heap[0][0] <= now:
            # A parked operation's deadline came: its final read, taken back from the list.
            due, _, tracker = heap[0]
            if self.pending.get(tracker.ref) is tracker and self.lease.unpark(tracker):
                heapq.heapreplace(heap, (due, _READ, tracker))
            else:
                heapq.heappop(heap)  # it ended, or is already due for a read (or being read)
        pacer = self.pacer
        if not heap or heap[0][0] > now or pacer.blocked_until() > now:
            return None
        if not keep_slot:
            if self.in_flight >= pacer.allowed_in_flight():
                return None
            self.in_flight += 1
        elif self.in_flight > pacer.allowed_in_flight():
            return None
        if not pacer.take(now):
            if not keep_slot:
                self.in_flight -= 1
            return None
        tracker = heapq.heappop(heap)[2]
        if tracker.recovering is None:  # a recovery check counts its own requests
            self.requests += 1
            self.progress_reads += 1
        return tracker

    def after_poll(self, tracker: _Tracker, result: FaultProgress | SFProgressError, now: float) -> None:
        """Account for one poll; queue the events for the hook, if there is one."""
        before = tracker.last.state if tracker.last is not None else None
        if result is UNREAD:  # a verified fault's look that sent nothing
            self.requests, self.progress_reads = self.requests - 1, self.progress_reads - 1
        elif isinstance(result, FaultProgress):
            self.pacer.healthy()
        elif isinstance(result, FabricTransientError):
            self.pacer.busy(now, result.retry_after)
        nxt, event = step(tracker, result, now, self.cfg)
        if isinstance(nxt, Outcome) and nxt.kind is OutcomeKind.COMPLETED and self.recoveries is not None:
            # The fault's own step ended: now its target, until it recovered (or the deadline).
            self.lease.done(tracker)
            self.by_state[before] -= 1
            self.by_state[OperationState.COMPLETED] += 1
            self.recoveries.begin(tracker, nxt, now)
            heapq.heappush(self.heap, (now, _READ, tracker))
        elif isinstance(nxt, Outcome):
            self.finish(tracker, nxt, before)
            self.lease.done(tracker)
        else:
            if tracker.last is not None and tracker.last.state is not before:
                self.by_state[before] -= 1
                self.by_state[tracker.last.state] += 1
            self.place(tracker, result, nxt)  # still running (or not readable yet): the list may watch it
        if isinstance(event, Retrying):
            self.retries += 1
            logger.debug("polling %s failed (%s); retrying in %.2fs", tracker.ref, event.error, event.delay)
        if self.on_event is None:
            return
        if event is not None:
            self.events.put_nowait(event)
        if isinstance(nxt, Outcome) and nxt.kind in _GAVE_UP:
            self.events.put_nowait(GaveUp(tracker.ref, nxt))

    def finish(self, tracker: _Tracker, outcome: Outcome, state: OperationState | None) -> None:
        """*tracker*'s wait ended with *outcome* (its last state counted was *state*)."""
        self.by_state[state] -= 1
        del self.pending[tracker.ref]
        self.compact()  # the heap stays within its bound whenever an operation ends
        self.ended.add(tracker.ref)
        self.by_kind[outcome.kind] += 1
        self.outcomes.put_nowait(outcome)
        _telemetry.operation_ended(tracker.ref.kind, outcome.kind.value, outcome.elapsed)

    def after_check(self, tracker: _Tracker, result: Verdict | SFProgressError, now: float) -> None:
        """Account for one recovery check: check again later, or end the operation's wait."""
        assert self.recoveries is not None
        self.requests += result.requests if isinstance(result, Verdict) else 1
        if isinstance(result, FabricTransientError):
            self.pacer.busy(now, result.retry_after)
        nxt = self.recoveries.after(tracker, result, now, self.cfg)
        if isinstance(nxt, Outcome):
            self.finish(tracker, nxt, tracker.last.state if tracker.last is not None else None)
            if self.on_event is not None and nxt.kind in _GAVE_UP:
                self.events.put_nowait(GaveUp(tracker.ref, nxt))
        else:
            heapq.heappush(self.heap, (nxt, _READ, tracker))

    async def deliver_events(self) -> None:
        """Call the ``on_event`` hook, in order, from its own task: a slow hook never holds a request slot."""
        while True:
            event = await self.events.get()
            try:
                await call_hook(self.on_event, event)
            except Exception:
                logger.exception("on_event hook raised for %r", event)
            finally:
                self.events.task_done()

    # --- views and shutdown ----------------------------------------------------------------

    def cancel(self) -> None:
        """End the batch now (sync): nothing of it runs any more; ``close()`` also awaits its tasks."""
        self.phase = Phase.ENDED
        # Whatever is still parked with the observer, or counted by it, is no longer waited on.
        self.lease.release(self.pending.values())
        if self.pending and not self.dropped:
            self.dropped = True  # the operations still pending end without an outcome
            for kind, count in collections.Counter(t.ref.kind for t in self.pending.values()).items():
                _telemetry.operation_dropped(kind, count)
        for task in self.tasks:
            if not task.done():
                with contextlib.suppress(RuntimeError):  # the loop is already closed: nothing to stop
                    task.cancel()

    async def close(self) -> None:
        self.cancel()
        if self.recoveries is not None:
            self.recoveries.close()
        span, self.span = self.span, None
        _telemetry.end_batch_span(span, self.total, {kind.value: n for kind, n in self.by_kind.items()})
        tasks, self.tasks = self.tasks, []
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    async def abort(self, error: BaseException) -> None:
        """End the batch from outside (its client closed): a waiting consumer gets *error*."""
        if self.phase is not Phase.ENDED:
            self.outcomes.put_nowait(Abort(error))
        await self.close()


