"""The per-client observer: one fault-operation list call per tick answers every wait.

``GET /Faults/?StateFilter=3`` lists every *active* fault operation of the cluster (Running
or RollingBack, queued ones included) and reads only the Fault Analysis Service's active
table.  An operation is persisted before its start is answered 202, so a tracked
operation that is absent from that list has ended (or was purged): one progress read
then fetches its result.  Waits *park* their operations here between reads; each tick
tells a parked operation either "still active, in this state" (no read) or "gone" (read
it now).  A parked operation whose deadline comes is handed back for its final read.

What the observer needs is handed to it (a ``list_active`` function, a clock, a sleep);
it knows nothing of the client, the batches or the waits beyond the ``Subscription``
callbacks.  Whether listing pays off is decided here, per client, from what it knows.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import math
import random
import uuid
from collections.abc import Awaitable, Callable, Iterable
from typing import Protocol

from ._config import RetryPolicy, sleep_or_wake
from ._errors import FabricError, SFProgressError
from ._models import FaultOperation, OperationState

__all__ = ["LIST_CAP", "ListClient", "Observer", "Subscription"]

logger = logging.getLogger("sf_progress")

#: The service returns at most this many items, without paging: a full list may be cut.
LIST_CAP = 10_000
#: Statuses of a list call that mean "this gateway has no list call" (older runtime, proxy).
_UNSUPPORTED = frozenset({400, 404, 405})
_ACTIVE = frozenset({OperationState.RUNNING, OperationState.ROLLING_BACK})
#: Gateway work of one listed item, in progress reads: measured on the fake cluster's own
#: CPU (``bench_cluster_load.py``, calibration: 31 ms for a list of 10,100 items, 0.18 ms
#: per read, so 0.018), rounded up because the real service also deserializes every
#: active row.  Used only to choose between listing and reading.
ITEM_COST = 0.02
#: How often, on average, the default backoff reads one pending operation (seconds).
_READ_INTERVAL = 4.0
#: Listing needs at least this many operations waited on to be worth it.
MIN_OPERATIONS = 3
#: While per-operation reads are chosen for a crowded list, look again this often.
_PROBE_EVERY = 30.0
#: After an unexpected list failure, per-operation reads for this long.
_DEGRADED_FOR = 30.0

ListActive = Callable[[int], Awaitable[list[FaultOperation]]]


class ListClient(Protocol):
    """A wait that parks operations: told what the list says of them, and of each list call."""

    def on_listed(self, sub: Subscription, item: FaultOperation) -> None:
        """A tick showed the operation active (in ``item.state``): no read is needed."""

    def on_gone(self, sub: Subscription) -> None:
        """The operation must be read now: it left the list, its deadline came, or listing stopped."""

    def on_list_call(self) -> None:
        """A list call was sent on this wait's behalf (counted; charged to its rate)."""


class _Nobody:
    """The owner of a subscription no wait parks (a tracker used on its own)."""

    def on_listed(self, sub: Subscription, item: FaultOperation) -> None:
        return None

    def on_gone(self, sub: Subscription) -> None:
        return None

    def on_list_call(self) -> None:
        return None


NOBODY: ListClient = _Nobody()


class Subscription:
    """One parked operation of one wait; waits subclass it for what they remember.

    ``owner`` is told what the list says of it (``on_listed``) and when to read it
    (``on_gone``); ``force`` is true when its wait asked for listing (``coalesce=True``),
    so a listing decision does not release it.
    """

    __slots__ = ("force", "owner", "parked", "seq")

    def __init__(self, owner: ListClient = NOBODY, force: bool = False) -> None:
        self.owner, self.force = owner, force
        self.parked = False
        self.seq = 0

    @property
    def op_id(self) -> uuid.UUID:  # pragma: no cover - overridden
        raise NotImplementedError

    @property
    def deadline(self) -> float:  # pragma: no cover - overridden
        raise NotImplementedError

    @property
    def type_bit(self) -> int:
        """The operation's bit in the list's ``TypeFilter`` (4: PartitionRestart)."""
        return 4


class Observer:
    """One per client: the list tick, the parked operations and the listing decision."""

    def __init__(
        self,
        list_active: ListActive,
        *,
        interval: float,
        retry: RetryPolicy,
        clock: Callable[[], float],
        sleep: Callable[[float], Awaitable[None]],
    ) -> None:
        self.list_active = list_active
        self.interval, self.retry, self.clock, self.sleep = interval, retry, clock, sleep
        self.subs: dict[uuid.UUID, list[Subscription]] = {}
        self.parked = 0
        self.deadlines: list[tuple[float, int, Subscription]] = []
        self.seq = itertools.count(1)
        self.waiting = 0  # operations waited on that may be listed (coalesce None or True)
        self.supported = True
        self.degraded_until = -math.inf
        self.last_size: int | None = None
        self.last_list_at = -math.inf
        self.list_calls = 0
        self.failures = 0
        self.changed = asyncio.Event()
        self.wake_at = math.inf  # when the loop wakes up next
        self.task: asyncio.Task[None] | None = None
        self.closed = False

    # --- the decision ------------------------------------------------------------------

    def coalescing(self, force: bool | None) -> bool:
        """Whether an operation of a wait with ``coalesce=force`` is parked between reads."""
        if force is False or not self.supported or self.closed:
            return False
        if force is True:
            return True
        return self.prefers_list()

    def prefers_list(self) -> bool:
        """Listing is cheaper than reading each operation (the rule ``coalesce=None`` follows).

        A list call costs the gateway about one request plus ``ITEM_COST`` reads' worth per
        active operation of the whole cluster, once per tick; per-operation reads cost one
        read per operation every ``_READ_INTERVAL`` seconds, and find an ended operation
        later.  From ``MIN_OPERATIONS`` operations on, the request itself is taken as paid
        for by the lag it saves (reads as prompt would cost a request per operation per
        tick), so the list is chosen unless its items alone outweigh the reads: a cluster
        crowded with other users' operations, known after the first list call.
        """
        if self.waiting < MIN_OPERATIONS or self.clock() < self.degraded_until:
            return False
        if self.last_size is None:
            return True
        return self.last_size * ITEM_COST / self.interval <= self.waiting / _READ_INTERVAL

    # --- subscriptions -----------------------------------------------------------------

    def count(self, delta: int) -> None:
        """An operation that may be listed began (+1) or ended (-1) its wait."""
        self.waiting += delta
        if self.waiting <= 0 and not self.subs:
            self.waiting = 0
            self.stop()
        elif delta > 0:
            self.ensure_running()

    def subscribe(self, sub: Subscription) -> None:
        """Park an operation until the list shows it gone (or its deadline comes)."""
        sub.parked = True
        sub.seq = next(self.seq)
        self.subs.setdefault(sub.op_id, []).append(sub)
        self.parked += 1
        deadline = sub.deadline
        if deadline < math.inf:
            heapq.heappush(self.deadlines, (deadline, sub.seq, sub))
        self.ensure_running()
        if deadline < self.wake_at or self.parked == 1:
            self.changed.set()  # due before the loop's next wake-up, or the first one parked

    def unsubscribe(self, sub: Subscription) -> None:
        """Forget a parked operation (its wait ended); safe if it is no longer parked."""
        if not sub.parked:
            return
        sub.parked = False
        self.parked -= 1
        subs = self.subs.get(sub.op_id)
        if subs is not None:
            with contextlib.suppress(ValueError):
                subs.remove(sub)
            if not subs:
                del self.subs[sub.op_id]
        if not self.subs and self.waiting <= 0:
            self.stop()

    def _release(self, subs: Iterable[Subscription]) -> None:
        """Hand parked operations back to their waits for a read."""
        for sub in list(subs):
            if sub.parked:
                self.unsubscribe(sub)
                sub.owner.on_gone(sub)

    def release_auto(self) -> None:
        """Listing stopped paying off: every wait that let us choose reads its operations again."""
        self._release([sub for subs in self.subs.values() for sub in subs if not sub.force])

    # --- the loop ----------------------------------------------------------------------

    def ensure_running(self) -> None:
        if self.task is None and not self.closed:
            self.task = asyncio.ensure_future(self._run())

    def stop(self) -> None:
        task, self.task = self.task, None
        if task is not None and not task.done() and task is not _current_task():
            with contextlib.suppress(RuntimeError):  # the loop is closed: nothing to stop
                task.cancel()

    async def close(self) -> None:
        self.closed = True
        task, self.task = self.task, None
        if task is not None and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    def _jittered(self) -> float:
        return self.interval * random.uniform(0.8, 1.2)

    async def _run(self) -> None:
        next_tick = self.clock() + self._jittered()
        try:
            while self.subs or self.waiting > 0:
                now = self.clock()
                self._expire(now)
                if self.subs:
                    if now >= next_tick:
                        next_tick = self.clock() + await self._tick()
                        continue
                    self.wake_at = next_tick if not self.deadlines else min(next_tick, self.deadlines[0][0])
                elif self.supported and self.waiting >= MIN_OPERATIONS and now >= self.degraded_until:
                    # Nothing parked, reads chosen for a crowded list: look at its size now and then.
                    probe_at = self.last_list_at + _PROBE_EVERY
                    if now >= probe_at:
                        await self._tick()
                        continue
                    self.wake_at = probe_at
                else:
                    self.wake_at = math.inf  # per-operation reads: wait for a subscription
                self.changed.clear()
                await self._nap(self.wake_at - now)
                if self.subs and next_tick < self.clock():
                    next_tick = self.clock()  # parked after an idle spell: list at once
        finally:
            self.wake_at = math.inf
            if self.task is _current_task():
                self.task = None

    async def _nap(self, delay: float) -> None:
        """Sleep *delay*, or less when a subscription changes what is due first."""
        if delay == math.inf:
            await self.changed.wait()
            return
        await sleep_or_wake(self.sleep, delay, self.changed)

    def _expire(self, now: float) -> None:
        heap = self.deadlines
        while heap and (heap[0][0] <= now or heap[0][1] != heap[0][2].seq or not heap[0][2].parked):
            _, seq, sub = heapq.heappop(heap)
            if sub.parked and seq == sub.seq:
                self._release([sub])

    async def _tick(self) -> float:
        """One list call; return the delay until the next one."""
        cutoff = next(self.seq)  # only operations parked before the call was sent are judged
        owners = {id(sub.owner): sub.owner for subs in self.subs.values() for sub in subs}.values()
        for owner in owners:
            owner.on_list_call()
        self.list_calls += 1
        mask = 0
        for subs in self.subs.values():
            for sub in subs:
                mask |= sub.type_bit
        try:
            items = await self.list_active(mask or 4)
        except SFProgressError as exc:
            return self._list_failed(exc)
        self.failures = 0
        self.last_list_at = self.clock()
        self.last_size = len(items)
        active: dict[uuid.UUID, FaultOperation] = {}
        ended: set[uuid.UUID] = set()
        for item in items:  # filters are over-inclusive: each item's own State decides
            if item.state in _ACTIVE:
                active.setdefault(item.operation_id, item)
            else:
                ended.add(item.operation_id)
        if len(items) >= LIST_CAP:
            logger.info("the fault-operation list is full (%d items): it may be cut short", len(items))
        gone: list[Subscription] = []
        for op_id, subs in list(self.subs.items()):
            shown = None if op_id in ended else active.get(op_id)
            for sub in list(subs):
                if sub.seq > cutoff or not sub.parked:
                    continue
                if shown is None:
                    gone.append(sub)
                else:
                    sub.owner.on_listed(sub, shown)
        self._release(gone)
        if not self.prefers_list():
            self.release_auto()
        return self._jittered()

    def _list_failed(self, exc: SFProgressError) -> float:
        if exc.transient:
            # Soon again, never a whole tick later; the waits carry on parked.
            self.failures += 1
            retry_after = exc.retry_after if isinstance(exc, FabricError) else None
            return min(self.retry.delay(self.failures - 1, retry_after), max(self.interval, retry_after or 0.0))
        self.failures = 0
        if isinstance(exc, FabricError) and exc.status in _UNSUPPORTED:
            self.supported = False
            logger.warning(
                "this gateway does not answer the fault-operation list (%s); reading each operation instead", exc
            )
        else:
            self.degraded_until = self.clock() + _DEGRADED_FOR
            logger.warning("the fault-operation list failed (%s); reading each operation for %gs", exc, _DEGRADED_FOR)
        self.last_list_at = self.clock()
        self._release([sub for subs in self.subs.values() for sub in subs])
        return self._jittered()


def _current_task() -> asyncio.Task[object] | None:
    try:
        return asyncio.current_task()
    except RuntimeError:
        return None
