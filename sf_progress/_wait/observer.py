"""The per-client observer: one fault-operation list call per tick answers every wait.

``GET /Faults/?StateFilter=3`` lists every *active* fault operation of the cluster (Running
or RollingBack, queued ones included) and reads only the Fault Analysis Service's active
table.  An operation is persisted before its start is answered 202, so a tracked
operation that is absent from that list has ended (or was purged): one progress read
then fetches its result.  Waits *park* their operations here between reads; each tick
tells a parked operation either "still active, in this state" (no read) or "gone" (read
it now).

Each wait holds one ``Lease`` (``lease.py``): its interest, the one call that decides
"park or read", and the release that ends it exactly once.

Nothing strands a wait here: deadlines are the waits' own (their driver reads a parked
operation at its deadline, whatever the observer does); a list that keeps failing, that
contradicts progress reads, or a loop that meets an unexpected error hands every parked
operation back to its wait's own backoff; and no operation stays parked longer than
``MAX_PARKED`` seconds without a confirming read.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
from collections.abc import Awaitable, Callable, Iterable

from .._config import Clock, RetryPolicy, sleep_or_wake
from .._errors import FabricError, SFProgressError
from .._wire.parsing import _ENDED_WIRE
from .lease import CONFIRM, GONE, NONE, Lease, ListClient, Park, Parkable, record_of
from .tick import CEILING, LIST_SHARE, Ticker

__all__ = ["LIST_CAP", "MAX_PARKED", "PROMPT_READ", "Lease", "ListClient", "Observer", "Parkable"]

logger = logging.getLogger("sf_progress")

#: The service returns at most this many items, without paging: a full list may be cut.
LIST_CAP = 10_000
#: Statuses of a list call that mean "this gateway has no list call" (older runtime, proxy).
_UNSUPPORTED = frozenset({400, 404, 405})
#: Gateway work of one listed item, in progress reads (measured: ``docs/performance.md``).
#: Used only to choose between listing and reading.
ITEM_COST = 0.02
#: When the list does not pay (a cluster crowded with other users' operations), a running
#: operation waited on with ``coalesce=None`` and the default backoff is read this often on
#: average (seconds; the driver sends these reads in rounds, ``engine._ROUND``): an end is
#: seen about half this later, near a 1 s loop's lag, at about two thirds of its reads.  Listing is chosen when it costs
#: the gateway no more than these reads, and its tick then never exceeds this either.
PROMPT_READ = 1.5
#: With the adaptive tick, listing is chosen (or not) as if it ticked this often; the tick
#: then only shortens a list that is cheap (why not at the adaptive tick: ``docs/performance.md``).
_CHOICE_TICK = 1.0
#: Listing needs at least this many operations waited on to be worth it.
MIN_OPERATIONS = 3
#: While per-operation reads are chosen for a crowded list, look at its size again this
#: often at least, and so rarely that one look costs at most ``LIST_SHARE`` of the reads made
#: meanwhile (prompt reads: a 4,020-item list answering 20 waits every 120 s), up to ``_PROBE_MAX``.
_PROBE_EVERY = 30.0
_PROBE_MAX = 300.0
#: Operations parked within this many seconds of each other share one "parked at" instant
#: (the earliest): a confirming read may come this much early.
_PARKED_AT_STEP = 1.0
#: After an unexpected list failure (or a list that contradicts the reads), per-operation
#: reads for this long.
_DEGRADED_FOR = 30.0
#: A list failing transiently this many ticks in a row, or for this many seconds, hands
#: parked operations back to their own backoff (and lists again after ``_DEGRADED_FOR``).
_FAILED_TICKS = 3
_FAILING_FOR = 5.0
#: No operation stays parked longer than this without a read that confirms what the list
#: says (a list stuck showing an ended operation as active); the first confirmation comes
#: after ``FIRST_CONFIRM`` seconds (``lease.py``), each next one twice as late.
MAX_PARKED = 600.0
#: Contradictions are a moving share of the reads made for operations the list showed gone;
#: above ``_CONTRADICTED`` the list is taken as wrong (lagging, cut, stale) for everyone.
_CONTRA_ALPHA = 0.1
_CONTRADICTED = 0.5
#: A batch's list calls may use at most this share of its ``max_rate``.
_LIST_SHARE_OF_RATE = 0.5


ListActive = Callable[[int], Awaitable[tuple[dict[int, str], int]]]


class Observer:
    """One per client: the list tick, the parked operations and the listing decision.

    *interval* ``None`` (the default) makes the tick adaptive (``tick.Ticker``); a number
    fixes it (jittered by 20 %).
    """

    def __init__(
        self,
        list_active: ListActive,
        *,
        interval: float | None,
        retry: RetryPolicy,
        clock: Clock,
    ) -> None:
        self.list_active = list_active
        self.interval, self.retry, self.clock, self.sleep = interval, retry, clock.monotonic, clock.sleep
        self.ticker = Ticker(ITEM_COST)
        # Parked operations by their id's 128-bit number (the ref's own ``uuid.UUID.int``: no
        # new object per operation); one operation alone, or a list when several waits park it.
        self.subs: dict[int, Parkable | list[Parkable]] = {}
        self.parked = 0
        # Parked operations share these two objects (no int and float of their own: 56 bytes
        # each at 100,000 parked): the list calls sent so far + 1, and when parking last moved on.
        self.generation = 1
        self.parked_since = -math.inf
        self.waiting = 0  # operations waited on that may be listed (the leases' counts)
        self.supported = True
        self.lists_again_at = -math.inf
        self.last_size: int | None = None
        self.last_list_at = -math.inf
        self.last_ok_at = -math.inf
        self.list_calls = 0
        self.failures = 0
        self.skipped_items = 0  # malformed list items skipped, over the client's life
        self.contradicted = 0.0  # moving share of reads that contradicted the list
        self.changed = asyncio.Event()
        self.wake_at = math.inf  # when the loop wakes up next
        self.task: asyncio.Task[None] | None = None
        self.closed = False
        self._logged: set[str] = set()

    # --- the decision ------------------------------------------------------------------

    def lease(self, owner: ListClient, coalesce: bool | None, max_rate: float | None = None) -> Lease:
        """A new wait's lease (release it exactly once, when the wait ends)."""
        return Lease(self, owner, coalesce, max_rate)

    def usable(self) -> bool:
        """The list works here now (supported, not closed, not degraded after failures)."""
        return self.supported and not self.closed and self.clock() >= self.lists_again_at

    def prefers_list(self) -> bool:
        """Listing is cheaper than reading each operation (the rule ``coalesce=None`` follows).

        A list call costs the gateway about one request plus ``ITEM_COST`` reads' worth per
        active operation of the whole cluster, once per tick; the alternative, prompt
        per-operation reads, costs one read per operation every ``PROMPT_READ`` seconds.
        From ``MIN_OPERATIONS`` operations on, the request itself is taken as paid for by the
        lag it saves, so the list is chosen unless its items alone outweigh the reads: a
        cluster crowded with other users' operations, known after the first list call.
        """
        if self.waiting < MIN_OPERATIONS or self.clock() < self.lists_again_at:
            return False
        return self.last_size is None or not self._items_outweigh_reads()

    def crowded(self) -> bool:
        """The list works but is known to cost more than prompt reads of the operations waited on."""
        return self.last_size is not None and self.usable() and self._items_outweigh_reads()

    def _items_outweigh_reads(self) -> bool:
        tick = self.interval if self.interval is not None else _CHOICE_TICK
        size = self.last_size or 0
        return size * ITEM_COST / tick > max(self.waiting, MIN_OPERATIONS) / PROMPT_READ

    def _probe_every(self) -> float:
        """Seconds between looks at a crowded list's size while reads are chosen."""
        if self.last_size is None:
            return _PROBE_EVERY
        reads_per_s = max(self.waiting, 1) / PROMPT_READ
        share = self.last_size * ITEM_COST / (LIST_SHARE * reads_per_s)
        return min(_PROBE_MAX, max(_PROBE_EVERY, share))

    def judge(self, *, contradicted: bool) -> None:
        """A read made because the list showed an operation gone: did it agree?"""
        self.contradicted += _CONTRA_ALPHA * ((1.0 if contradicted else 0.0) - self.contradicted)
        if self.contradicted > _CONTRADICTED and self.usable():
            self._degrade(
                "contradicts",
                "the fault-operation list disagrees with progress reads (operations missing from it are "
                "still running: a lagging or cut list); reading each operation for %gs",
                _DEGRADED_FOR,
            )

    # --- interest and parking ------------------------------------------------------------

    def interest(self, delta: int) -> None:
        """Operations that may be listed began (+) or ended (-) their waits."""
        self.waiting = max(0, self.waiting + delta)
        if self.waiting == 0 and not self.subs:
            self.stop()
        elif delta > 0:
            self.ensure_running()

    def subscribe(self, op: Parkable, rec: Park) -> None:
        """Park an operation until the list shows it gone (or it needs confirming)."""
        now = self.clock()
        if now - self.parked_since > _PARKED_AT_STEP:
            self.parked_since = now
        rec.seq = self.generation  # > 0: parked; judged by a list call sent after this one
        rec.parked_at = self.parked_since  # at most _PARKED_AT_STEP early
        subs, key = self.subs, rec.key
        held = subs.get(key)
        if held is None:
            subs[key] = op
        elif isinstance(held, list):
            held.append(op)
        else:
            subs[key] = [held, op]
        self.parked += 1
        self.ensure_running()
        if self.parked == 1:
            self.changed.set()  # the first one parked: the loop lists from now on

    def unsubscribe(self, op: Parkable, rec: Park) -> None:
        rec.seq = 0
        self.parked -= 1
        held = self.subs.get(rec.key)
        if held is op:
            del self.subs[rec.key]
        elif isinstance(held, list):
            with contextlib.suppress(ValueError):
                held.remove(op)
            if not held:
                del self.subs[rec.key]
        if not self.subs and self.waiting <= 0:
            self.stop()

    def _release(self, ops: Iterable[Parkable], reason: int = NONE) -> None:
        """Hand parked operations back to their waits for a read."""
        for op in list(ops):
            rec = record_of(op)
            if rec is not None and rec.seq:
                self.unsubscribe(op, rec)
                rec.reason = reason
                rec.lease.owner.on_gone(op)

    def release_all(self, *, only_auto: bool = False) -> None:
        """Hand every parked operation back (only those whose wait let us choose, with *only_auto*)."""
        ops = [op for held in self.subs.values() for op in _each(held)]
        if only_auto:
            ops = [op for op in ops if (rec := record_of(op)) is not None and rec.lease.coalesce is not True]
        self._release(ops)

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
        self.release_all()

    def _jittered(self) -> float:
        if self.interval is None:
            return self.ticker.tick * random.uniform(0.9, 1.1)
        return self.interval * random.uniform(0.8, 1.2)

    @staticmethod
    def _rate_floor(leases: Iterable[Lease]) -> float:
        """The shortest tick the batches' ``max_rate`` allow (list calls take at most half of it)."""
        rates = [lease.max_rate for lease in leases if lease.max_rate is not None]
        return 1.0 / (min(rates) * _LIST_SHARE_OF_RATE) if rates else 0.0

    async def _run(self) -> None:
        tick_at = self.clock() + self._jittered()
        try:
            while self.subs or self.waiting > 0:
                try:
                    now = self.clock()
                    if self.subs and self.usable():
                        if now >= tick_at:
                            tick_at = self.clock() + await self._tick()
                            continue
                        self.wake_at = tick_at
                    elif self.subs:
                        self.release_all()  # listing stopped working for them: their own reads
                        continue
                    elif self.usable() and self.waiting >= MIN_OPERATIONS:
                        # Nothing parked, reads chosen for a crowded list: look at its size now and then.
                        probe_at = self.last_list_at + self._probe_every()
                        if now >= probe_at:
                            await self._tick()
                            continue
                        self.wake_at = probe_at
                    elif self.usable() or not self.supported:
                        self.wake_at = math.inf  # per-operation reads: wait for a subscription
                    else:
                        self.wake_at = self.lists_again_at  # listing may pay again after this
                    self.changed.clear()
                    await self._nap(self.wake_at - now)
                    if self.subs and tick_at < self.clock():
                        tick_at = self.clock()  # parked after an idle spell: list at once
                except Exception as exc:
                    logger.debug("the fault-operation list loop failed", exc_info=True)
                    self._degrade(
                        "loop", "the fault-operation list loop failed (%r); reading each operation for %gs", exc,
                        _DEGRADED_FOR,
                    )
                    tick_at = self.clock() + self._jittered()
        finally:
            self.wake_at = math.inf
            if self.task is _current_task():
                self.task = None
            self.release_all()  # nothing stays parked without a loop to watch it

    async def _nap(self, delay: float) -> None:
        """Sleep *delay*, or less when a subscription changes what is due first."""
        if delay == math.inf:
            await self.changed.wait()
            return
        await sleep_or_wake(self.sleep, max(0.0, delay), self.changed)

    async def _tick(self) -> float:
        """One list call; return the delay until the next one."""
        cutoff = self.generation  # only operations parked before the call was sent are judged
        self.generation = cutoff + 1
        leases: dict[int, Lease] = {}
        mask = 0
        for held in self.subs.values():
            for op in _each(held):
                mask |= op.ref.kind.filter_bit
                rec = record_of(op)
                if rec is not None:
                    leases.setdefault(id(rec.lease), rec.lease)
        for lease in leases.values():
            lease.owner.on_list_call()
        self.list_calls += 1
        floor = self._rate_floor(leases.values())
        sent_at = self.clock()
        try:
            states, skipped = await self.list_active(mask or 4)
        except SFProgressError as exc:
            return max(floor, self._list_failed(exc))
        now = self.last_list_at = self.last_ok_at = self.clock()
        self.failures = 0
        size = self.last_size = len(states) + skipped
        if skipped:
            self.skipped_items += skipped
            self._log_once("skipped", "the fault-operation list had %d malformed item(s); skipped them", skipped)
        if size >= LIST_CAP:
            logger.info("the fault-operation list is full (%d items): it may be cut short", size)
        watched = self.parked
        gone: list[Parkable] = []
        confirm: list[Parkable] = []
        ended = _ENDED_WIRE
        for key, held in self.subs.items():  # nothing below changes them: releases come after
            shown = states.get(key)  # filters are over-inclusive: each item's own State decides
            if shown in ended:
                shown = None
            for op in _each(held):
                rec = record_of(op)
                if rec is None or not rec.seq or rec.seq > cutoff:
                    continue
                if shown is None:
                    gone.append(op)
                elif now - rec.parked_at >= rec.confirm_after:
                    rec.confirm_after = min(MAX_PARKED, 2 * rec.confirm_after)
                    confirm.append(op)  # listed for long: one read confirms what the list says
                else:
                    rec.lease.owner.on_listed(op, shown)
        self._release(gone, GONE)
        self._release(confirm, CONFIRM)
        chosen = self.prefers_list()
        if not chosen:
            self.release_all(only_auto=True)
        if self.interval is not None:
            return max(floor, self._jittered())
        # A list chosen over prompt reads is never slower than they would be.
        ceiling = PROMPT_READ if chosen else CEILING
        delay = self.ticker.listed(
            now, size=size, waiting=watched, gone=len(gone), answer_s=now - sent_at, rand=random.random(),
            ceiling=ceiling,
        )
        return max(floor, delay)

    def _list_failed(self, exc: SFProgressError) -> float:
        self.last_list_at = self.clock()
        if exc.transient:
            # Soon again, never a whole tick later; the waits carry on parked for a few ticks.
            self.failures += 1
            since = self.last_ok_at if self.last_ok_at > -math.inf else self.last_list_at
            if self.failures >= _FAILED_TICKS or (self.clock() - since >= _FAILING_FOR and self.failures > 1):
                self.failures = 0
                self._degrade(
                    "transient", "the fault-operation list keeps failing (%s); reading each operation for %gs", exc,
                    _DEGRADED_FOR,
                )
                return self._jittered()
            retry_after = exc.retry_after if isinstance(exc, FabricError) else None
            if self.interval is None:  # adaptive: a struggling gateway is listed less, at once
                return max(self.ticker.failed(random.random()), min(retry_after or 0.0, self.retry.retry_after_cap))
            return min(self.retry.delay(self.failures - 1, retry_after), max(self.interval, retry_after or 0.0))
        self.failures = 0
        if isinstance(exc, FabricError) and exc.status in _UNSUPPORTED:
            self.supported = False
            logger.warning(
                "this gateway does not answer the fault-operation list (%s); reading each operation instead", exc
            )
            self.release_all()
        else:
            self._degrade(
                "failed", "the fault-operation list failed (%s); reading each operation for %gs", exc, _DEGRADED_FOR,
                once=False,
            )
        return self._jittered()

    def _degrade(self, key: str, message: str, *args: object, once: bool = True) -> None:
        """Stop listing for ``_DEGRADED_FOR`` seconds: every parked operation goes back to its wait's reads."""
        self.lists_again_at = self.clock() + _DEGRADED_FOR
        self.contradicted = 0.0
        if once:
            self._log_once(key, message, *args)
        else:
            logger.warning(message, *args)
        self.release_all()

    def _log_once(self, key: str, message: str, *args: object) -> None:
        if key not in self._logged:
            self._logged.add(key)
            logger.warning(message, *args)
        else:
            logger.debug(message, *args)


def _each(held: Parkable | list[Parkable]) -> list[Parkable] | tuple[Parkable]:
    return held if isinstance(held, list) else (held,)


def _current_task() -> asyncio.Task[object] | None:
    try:
        return asyncio.current_task()
    except RuntimeError:
        return None
