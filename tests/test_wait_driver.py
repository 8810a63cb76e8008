"""One wait driver that nothing can strand: single waits and batches over a misbehaving list (real FakeCluster)."""

from __future__ import annotations

import asyncio
import logging
import math
import time
import uuid

import aiohttp
import pytest

from sf_progress import (
    OperationRef,
    OperationState,
    OutcomeKind,
    ProgressClient,
    TransportError,
    WaitTimeout,
)
from sf_progress._config import RetryPolicy
from sf_progress._wait.machine import _Tracker
from sf_progress._wait.observer import Observer
from sf_progress.testing import FakeCluster, Fault, Script

from .conftest import PID, others

#: A wait that hangs fails the test instead of the suite (real seconds).
HANG = 30.0


def refs(n: int) -> list[OperationRef]:
    return [OperationRef.restart("app~svc", PID, uuid.uuid4()) for _ in range(n)]


def add(cluster: FakeCluster, ops: list[OperationRef], duration: float) -> None:
    for ref in ops:
        cluster.add_operation(ref, Script(duration=duration))


async def outcomes_of(client: ProgressClient, ops: list[OperationRef], **kwargs: object) -> dict[OperationRef, object]:
    async def run() -> dict[OperationRef, object]:
        async with client.wait_many(ops, **kwargs) as batch:  # type: ignore[arg-type]
            return {o.ref: o async for o in batch}

    return await asyncio.wait_for(run(), HANG)


# --- nothing strands a wait --------------------------------------------------------------


@pytest.mark.real_wait
async def test_a_closed_injected_session_ends_every_parked_wait_promptly(cluster: FakeCluster) -> None:
    """The user's own session closed under parked waits: each ends with a TransportError, well before its deadline."""
    singles, batch_ops = refs(3), refs(5)
    add(cluster, singles + batch_ops, 1_000)
    session = aiohttp.ClientSession()
    client = ProgressClient(cluster.url, session=session, list_interval=0.3)
    try:
        waits = [asyncio.ensure_future(client.wait_for_completion(r, deadline=10)) for r in singles]

        async def batch() -> list[object]:
            async with client.wait_many(batch_ops, deadline=10) as waiter:
                return [o async for o in waiter]

        batched = asyncio.ensure_future(batch())
        await asyncio.sleep(0.8)  # parked with the observer: a list call or two went out
        assert cluster.by_route["list"] >= 1
        started = time.monotonic()
        await session.close()
        results = await asyncio.wait_for(asyncio.gather(*waits, return_exceptions=True), HANG)
        outcomes = await asyncio.wait_for(batched, HANG)
        assert time.monotonic() - started < 5  # promptly: not at the 10 s deadline
        assert all(isinstance(r, TransportError) and "was closed" in str(r) for r in results), results
        assert [o.kind for o in outcomes] == [OutcomeKind.FAILED] * 5  # type: ignore[attr-defined]
        assert all(isinstance(o.error, TransportError) for o in outcomes)  # type: ignore[attr-defined]
    finally:
        await client.aclose()


async def test_aclose_ends_coalesced_single_waits(client: ProgressClient, cluster: FakeCluster) -> None:
    """Closing the client under parked wait_for_completion calls ends each with RuntimeError, as without listing."""
    ops = refs(3)
    add(cluster, ops, 1_000)
    waits = [asyncio.ensure_future(client.wait_for_completion(r, coalesce=True)) for r in ops]
    for _ in range(20):
        await asyncio.sleep(0)
    assert client._waits.observer is not None
    assert client._waits.observer.parked == 3
    await client.aclose()
    results = await asyncio.wait_for(asyncio.gather(*waits, return_exceptions=True), HANG)
    assert all(isinstance(r, RuntimeError) and "closed" in str(r) for r in results), results
    assert not others()


async def test_an_unexpected_error_in_the_observer_degrades_to_reads(
    client: ProgressClient, cluster: FakeCluster, caplog: pytest.LogCaptureFixture
) -> None:
    """A bug in the list path (not an SFProgressError) is logged once; parked waits carry on with reads."""
    ops = refs(6)
    add(cluster, ops, 3)

    async def broken(mask: int) -> tuple[dict[int, str], int]:
        raise ZeroDivisionError("a bug")

    client._calls.list_active = broken  # type: ignore[method-assign]
    with caplog.at_level(logging.WARNING, logger="sf_progress"):
        results = await outcomes_of(client, ops, coalesce=True, deadline=None)
        single = await asyncio.wait_for(client.wait_for_completion(refs_with(cluster, 3), coalesce=True), HANG)
    assert all(o.kind is OutcomeKind.COMPLETED for o in results.values())  # type: ignore[attr-defined]
    assert single.state is OperationState.COMPLETED
    assert caplog.text.count("the fault-operation list loop failed") == 1


def refs_with(cluster: FakeCluster, duration: float) -> OperationRef:
    ref = refs(1)[0]
    cluster.add_operation(ref, Script(duration=duration))
    return ref


# --- a list that misbehaves ----------------------------------------------------------------


@pytest.mark.parametrize(
    "fault", [Fault.service_unavailable(), Fault.error(429, "E_TOO_MANY"), Fault.reset(), Fault.truncated()]
)
async def test_a_list_failing_transiently_hands_parked_operations_back(
    client: ProgressClient, cluster: FakeCluster, fault: Fault
) -> None:
    """Every list call failing transiently: 1 s restarts are learnt within seconds, even with no deadline."""
    ops = refs(5)
    add(cluster, ops, 1)
    cluster.set_fault_rate(1.0, [fault], routes=["list"])
    results = await outcomes_of(client, ops, coalesce=True, deadline=None)
    assert all(o.kind is OutcomeKind.COMPLETED for o in results.values())  # type: ignore[attr-defined]
    assert max(o.elapsed for o in results.values()) < 15  # type: ignore[attr-defined]
    single = refs_with(cluster, 1)
    started = client.clock.monotonic()
    await asyncio.wait_for(client.wait_for_completion(single, coalesce=True, deadline=None), HANG)
    assert client.clock.monotonic() - started < 15


async def test_a_stale_list_never_holds_an_ended_operation_for_good(
    client: ProgressClient, cluster: FakeCluster
) -> None:
    """A list stuck showing ended operations as Running: a confirming read ends each wait (bounded, no deadline)."""
    ops = refs(4)
    add(cluster, ops, 1)
    cluster.list_lag = 1e9
    results = await outcomes_of(client, ops, coalesce=True, deadline=None)
    assert all(o.kind is OutcomeKind.COMPLETED for o in results.values())  # type: ignore[attr-defined]
    assert max(o.elapsed for o in results.values()) <= 125  # type: ignore[attr-defined]
    assert max(o.polls for o in results.values()) <= 2  # type: ignore[attr-defined]


@pytest.mark.real_wait
async def test_a_hung_list_call_never_holds_a_wait_past_its_deadline(cluster: FakeCluster) -> None:
    """The gateway accepts the list call and never answers: the wait still ends at its deadline (plus its last look)."""
    ref = refs_with(cluster, 1_000)
    cluster.inject(Fault.slow(15), routes=["list"], times=3)
    async with ProgressClient(cluster.url, list_interval=0.2) as client:
        started = time.monotonic()
        with pytest.raises(WaitTimeout):
            await asyncio.wait_for(client.wait_for_completion(ref, deadline=3, coalesce=True), HANG)
        assert time.monotonic() - started < 3 + 1 + 1.0  # deadline + LAST_LOOK + scheduling


async def test_max_rate_below_the_tick_rate_never_delays_deadline_reads(
    client: ProgressClient, cluster: FakeCluster
) -> None:
    """max_rate=0.5 with listing: ticks are paced to the rate, no debt builds, timeouts come at the deadline."""
    ops = refs(2)
    add(cluster, ops, 1_000)
    results = await outcomes_of(client, ops, coalesce=True, deadline=30, max_rate=0.5)
    assert {o.kind for o in results.values()} == {OutcomeKind.TIMED_OUT}  # type: ignore[attr-defined]
    assert max(o.elapsed for o in results.values()) <= 34  # type: ignore[attr-defined]
    times = sorted(cluster.request_times)
    for i in range(len(times)):  # the batch's rate holds, list calls included (a 1-request burst)
        assert sum(1 for t in times[i:] if t < times[i] + 10) <= 6


@pytest.mark.parametrize("coalesce", [True, None])
async def test_a_list_that_does_not_show_running_operations_costs_no_read_per_tick(
    client: ProgressClient, cluster: FakeCluster, coalesce: bool | None
) -> None:
    """A list answering [] while the operations run: they go back to their own backoff, not a read every tick."""
    ops = refs(50)
    add(cluster, ops, 30)
    cluster.set_fault_rate(1.0, [Fault.malformed(b"[]")], routes=["list"])
    results = await outcomes_of(client, ops, coalesce=coalesce)
    assert all(o.kind is OutcomeKind.COMPLETED for o in results.values())  # type: ignore[attr-defined]
    assert cluster.by_route["progress"] / len(ops) < 12  # a read per tick would be about 30
    assert max(o.elapsed for o in results.values()) < 42  # type: ignore[attr-defined]


async def test_a_list_cut_by_other_users_operations_costs_no_read_per_tick(
    client: ProgressClient, cluster: FakeCluster
) -> None:
    """10,000 others' operations fill the list: ours, unseen, are read on their own backoff, not every tick."""
    add(cluster, refs(10_000), 10_000)
    ops = refs(100)
    add(cluster, ops, 30)
    results = await outcomes_of(client, ops, coalesce=True)
    assert all(o.kind is OutcomeKind.COMPLETED for o in results.values())  # type: ignore[attr-defined]
    assert cluster.by_route["progress"] / len(ops) < 12


async def test_a_crowded_list_is_looked_at_again_only_as_its_share_of_the_reads_allows(
    client: ProgressClient, cluster: FakeCluster
) -> None:
    """4,000 others' operations, 20 of ours: reads are chosen, and the list is probed every ~120 s, not 30 s.

    One look costs 4,020 x ITEM_COST = 80 reads; at most LIST_SHARE of the prompt reads made
    meanwhile (20 waits / PROMPT_READ 1.5 s = 13.3 a second) allows one every 80 / 0.67 = 120 s.
    """
    add(cluster, refs(4_000), 10_000)
    ops = refs(20)
    add(cluster, ops, 200)
    results = await outcomes_of(client, ops, deadline=None)
    assert all(o.kind is OutcomeKind.COMPLETED for o in results.values())  # type: ignore[attr-defined]
    assert 2 <= cluster.by_route["list"] <= 3  # the first look, then one per ~120 s over 200 s (30 s: 7)


async def test_a_failing_list_with_coalesce_true_is_not_called_every_tick(
    client: ProgressClient, cluster: FakeCluster
) -> None:
    """coalesce=True and a list answering 500: one failing list call per degraded spell, reads on backoff."""
    ops = refs(10)
    add(cluster, ops, 40)
    cluster.set_fault_rate(1.0, [Fault.error(500, "E_FAIL")], routes=["list"])
    results = await outcomes_of(client, ops, coalesce=True)
    assert all(o.kind is OutcomeKind.COMPLETED for o in results.values())  # type: ignore[attr-defined]
    assert cluster.by_route["list"] <= 3  # about one per 30 s, not 40
    assert cluster.by_route["progress"] / len(ops) < 12


async def test_the_heap_stays_proportional_to_what_is_pending(client: ProgressClient, cluster: FakeCluster) -> None:
    """Re-parked operations never pile up entries: the driver's heap stays within 2 x pending + 64."""
    ops = refs(100)
    add(cluster, ops, 150)
    cluster.set_fault_rate(0.5, [Fault.malformed(b"[]")], routes=["list"], seed=3)
    sizes: list[tuple[int, int]] = []
    async with client.wait_many(ops, coalesce=True) as batch:
        engine = batch._engine
        after_poll = engine.after_poll

        def measured(tracker: _Tracker, result: object, now: float) -> None:
            after_poll(tracker, result, now)  # type: ignore[arg-type]
            sizes.append((len(engine.heap), len(engine.pending)))

        engine.after_poll = measured  # type: ignore[method-assign]
        outcomes = await asyncio.wait_for(_drain(batch), HANG)
    assert len(outcomes) == 100
    assert len(sizes) > 1000  # many re-parks: the list shows them only every other tick
    assert all(heap <= 2 * pending + 64 + 1 for heap, pending in sizes)


async def _drain(batch: object) -> list[object]:
    return [o async for o in batch]  # type: ignore[attr-defined]


async def test_malformed_list_items_of_other_users_are_skipped(
    client: ProgressClient, cluster: FakeCluster, caplog: pytest.LogCaptureFixture
) -> None:
    """Null or non-GUID ids, a missing Type, numeric enums: those items are skipped and counted; listing goes on."""
    cluster.list_extra_items = [
        {"OperationId": None, "State": "Running", "Type": "PartitionRestart"},
        {"OperationId": "not-a-guid", "State": "Running", "Type": "PartitionRestart"},
        {"OperationId": str(uuid.uuid4()), "State": "Running"},
        {"OperationId": str(uuid.uuid4()), "State": 1, "Type": 4},
        "junk",
    ]
    ops = refs(10)
    add(cluster, ops, 5)
    with caplog.at_level(logging.WARNING, logger="sf_progress"):
        async with client.wait_many(ops, coalesce=True) as batch:
            results = [o async for o in batch]
            snap = batch.snapshot()
    assert all(o.ok for o in results)
    assert snap.list_calls >= 3
    assert snap.progress_reads <= 13  # about one read each: listing was not dropped
    assert client._waits.observer is not None
    assert client._waits.observer.skipped_items >= 5 * 3
    assert caplog.text.count("malformed item") == 1
    assert "reading each operation" not in caplog.text


async def test_an_active_state_the_client_does_not_know_is_not_ended() -> None:
    """A listed operation in a future state (say 'Pending') stays parked: it is active, not gone."""
    op_id = uuid.uuid4()
    told: list[str] = []

    async def list_active(mask: int) -> tuple[dict[int, str], int]:
        return {op_id.int: "Pending"}, 0

    class StillClock:
        def monotonic(self) -> float:
            return 0.0

        async def sleep(self, _: float) -> None:
            await asyncio.sleep(0)

    class Owner:
        def on_listed(self, op: object, raw_state: str) -> None:
            told.append(raw_state)

        def on_gone(self, op: object) -> None:
            told.append("gone")

        def on_list_call(self) -> None:
            return None

    observer = Observer(list_active, interval=1.0, retry=RetryPolicy(), clock=StillClock())
    lease = observer.lease(Owner(), True)
    tracker = _Tracker(OperationRef.restart("app~svc", PID, op_id), 0.0, math.inf)
    lease.add(1)
    assert lease.park(tracker, None)
    await observer._tick()
    assert told == ["Pending"]
    lease.release([tracker])
    assert observer.waiting == 0
    assert observer.parked == 0
    lease.release([tracker])  # a lease ends exactly once, however often it is released
    assert observer.waiting == 0
    await observer.close()


async def test_stale_deadline_entries_left_alone_in_the_heap_do_not_strand_the_batch(
    client: ProgressClient, cluster: FakeCluster
) -> None:
    """Regression: the driver dropped the heap's last (stale) entries and then read ``heap[0]``.

    A parked operation's deadline entry stays in the heap after it ended; when only such
    entries were left, due, while another operation was still pending elsewhere (being
    read, or recovering), ``take_due`` emptied the heap and the driver died with an
    IndexError: the consumer then waited forever (seen once under load in the recovery
    example of the docs).
    """
    ended, pending = refs(2)
    cluster.add_operation(pending, Script(duration=2))
    batch = client.wait_many(None, deadline=60)
    engine = batch._engine
    engine.add(pending)
    stale = _Tracker(ended, engine.clock(), engine.clock())  # not pending: an operation that has ended
    engine.heap[:] = [(engine.clock() - 1.0, 0, stale)]  # a deadline guard  # the pending one is off the heap (as while read)
    engine.start()
    for _ in range(20):
        await asyncio.sleep(0)
    dispatch = engine.tasks[0]
    assert not dispatch.done(), dispatch  # before the fix: IndexError, and the batch never ended
    assert engine.outcomes.empty()
    engine.heap.append((engine.clock(), 1, engine.pending[pending]))  # its read is due again
    engine.wake.set()
    batch.seal()
    async with batch:
        outcomes = [o async for o in batch]
    assert [o.ref for o in outcomes] == [pending]
