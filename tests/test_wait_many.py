"""wait_many over real loopback against FakeCluster."""

from __future__ import annotations

import asyncio
import gc
import random
import uuid
from collections import Counter
from collections.abc import AsyncIterator

import pytest

from sf_progress import (
    AuthError,
    Backoff,
    FaultTarget,
    GaveUp,
    NotFoundError,
    OperationRef,
    OperationState,
    Outcome,
    OutcomeKind,
    ProgressClient,
    Retrying,
    StateChanged,
    WaitTimeout,
    set_testing,
)
from sf_progress.testing import FakeCluster, Fault, Script

from .conftest import PID, others

KIND = {
    OperationState.COMPLETED: OutcomeKind.COMPLETED,
    OperationState.FAULTED: OutcomeKind.FAULTED,
    OperationState.CANCELLED: OutcomeKind.CANCELLED,
    OperationState.FORCE_CANCELLED: OutcomeKind.CANCELLED,
}


def refs(n: int) -> list[OperationRef]:
    return [OperationRef.restart("app~svc", PID, uuid.uuid4()) for _ in range(n)]



async def collect(batch: AsyncIterator[Outcome]) -> list[Outcome]:
    return [outcome async for outcome in batch]


async def test_2000_operations_through_faults(client: ProgressClient, cluster: FakeCluster) -> None:
    """2,000 mixed operations through 503/504/resets/cut bodies/slow answers: one true outcome each."""
    rng = random.Random(5)
    outcomes = [OperationState.COMPLETED] * 6 + [OperationState.FAULTED] * 3

    def planner(ref: OperationRef) -> Script:
        return Script(
            duration=rng.uniform(0.5, 120),
            outcome=rng.choice(outcomes),
            rollback=rng.uniform(0, 5),
            result_while_running=rng.random() < 0.3,
        )

    cluster.planner = planner
    started = [await client.start(FaultTarget.restart("app~svc", PID)) for _ in range(2000)]
    for ref in started[::50]:
        await client.cancel_operation(ref)
    cluster.set_fault_rate(
        0.15,
        [
            Fault.service_unavailable(),
            Fault.service_unavailable("FABRIC_E_SERVICE_TOO_BUSY"),
            Fault.gateway_timeout(),
            Fault.gateway_timeout("FABRIC_E_COMMUNICATION_ERROR"),
            Fault.reset(),
            Fault.truncated(),
            Fault.slow(0.05),
            Fault.malformed(b'{"State":"Run'),
        ],
        seed=11,
    )
    async with client.wait_many(started + started[:100], concurrency=32) as batch:
        results = await collect(batch)
    assert len(results) == 2000
    assert {o.ref for o in results} == set(started)
    for outcome in results:
        final = cluster.state_of(outcome.ref.operation_id)
        assert outcome.state is final, outcome
        assert outcome.kind is KIND[final]
        assert outcome.error is None
    kinds = Counter(o.kind for o in results)
    assert kinds[OutcomeKind.CANCELLED] == 40
    assert kinds[OutcomeKind.FAULTED] > 300
    snap = batch.snapshot()
    assert (snap.total, snap.pending, snap.finished, snap.in_flight) == (2000, 0, 2000, 0)
    assert snap.retries > 0
    # aiohttp re-sends once on a reused, reset connection, so the cluster may count more.
    assert snap.progress_reads <= cluster.by_route["progress"]
    assert snap.list_calls <= cluster.by_route["list"]
    assert snap.requests == snap.progress_reads + snap.list_calls
    assert snap.progress_reads < 1.5 * 2000  # watched through the list: about one read each, at its end
    assert others() == set()


async def test_one_outcome_per_distinct_operation(client: ProgressClient, cluster: FakeCluster) -> None:
    """Duplicates (also equal refs spelled otherwise) yield one outcome."""
    ops = refs(3)
    for ref in ops:
        cluster.add_operation(ref)
    items = [*ops, OperationRef.restart(ops[0].service_name, str(ops[0].partition_id), str(ops[0].operation_id)), ops[1]]
    async with client.wait_many(items) as batch:
        results = await collect(batch)
    assert sorted(str(o.ref.operation_id) for o in results) == sorted(str(r.operation_id) for r in ops)


async def test_failures_do_not_disturb_others(client: ProgressClient, cluster: FakeCluster) -> None:
    """Not found, timed out and failed operations each get their outcome; the rest complete."""
    good, missing, slow, broken = refs(4)
    cluster.add_operation(good, Script(duration=5))
    cluster.add_operation(slow, Script(duration=10_000))
    cluster.add_operation(broken)
    cluster.inject(Fault.error(500, "FMFailoverUnitNotFound", ""), operation_id=broken.operation_id)
    events: list[object] = []
    async with client.wait_many(
        [good, missing, slow, broken], deadline=60, not_found_grace=2, on_event=events.append
    ) as batch:
        results = {o.ref: o for o in await collect(batch)}
    assert results[good].kind is OutcomeKind.COMPLETED
    assert results[missing].kind is OutcomeKind.NOT_FOUND
    assert isinstance(results[missing].error, NotFoundError)
    assert results[slow].kind is OutcomeKind.TIMED_OUT
    assert isinstance(results[slow].error, WaitTimeout)
    assert results[slow].progress is not None
    assert results[broken].kind is OutcomeKind.FAILED
    assert results[broken].error is not None
    assert results[broken].error.code == "FMFailoverUnitNotFound"  # type: ignore[attr-defined]
    gave_up = [e.outcome.kind for e in events if isinstance(e, GaveUp)]
    assert sorted(gave_up) == sorted([OutcomeKind.NOT_FOUND, OutcomeKind.TIMED_OUT, OutcomeKind.FAILED])
    assert any(isinstance(e, StateChanged) for e in events)


async def test_auth_failure_is_an_outcome_not_an_exception(ref: OperationRef) -> None:
    """A 401 ends the operation as FAILED with AuthError; the iterator itself never raises."""
    async with FakeCluster(token="x") as cluster, ProgressClient(cluster.url) as client:
        cluster.add_operation(ref)
        async with client.wait_many([ref]) as batch:
            (outcome,) = await collect(batch)
    assert outcome.kind is OutcomeKind.FAILED
    assert isinstance(outcome.error, AuthError)


async def test_invalid_input_raises_before_any_request(client: ProgressClient, cluster: FakeCluster) -> None:
    """A bad item in an iterable, or bad options, raise at once and send nothing."""
    with pytest.raises(TypeError, match=r"operations\[1\].*OperationRef.restart"):
        client.wait_many([refs(1)[0], ("app~svc", PID, uuid.uuid4())])  # type: ignore[list-item]
    with pytest.raises(TypeError, match=r"operations\[0\]"):
        client.wait_many(["just-a-string"])  # type: ignore[list-item]
    for kwargs in ({"concurrency": 0}, {"max_rate": 0}, {"max_rate": "fast"}, {"deadline": -1}):
        with pytest.raises((ValueError, TypeError)):
            client.wait_many([], **kwargs)  # type: ignore[arg-type]
    await asyncio.sleep(0)
    assert cluster.requests == 0


async def test_async_iterable_input(client: ProgressClient, cluster: FakeCluster) -> None:
    """Operations arriving from an async iterable are waited for as they come."""
    cluster.default_script = Script(duration=3)

    async def starts() -> AsyncIterator[OperationRef]:
        for _ in range(20):
            yield await client.start(FaultTarget.restart("app~svc", PID))
            await asyncio.sleep(0)

    async with client.wait_many(starts()) as batch:
        results = await collect(batch)
    assert len(results) == 20
    assert all(o.kind is OutcomeKind.COMPLETED for o in results)


async def test_bad_item_in_async_input_is_reported_once(client: ProgressClient, cluster: FakeCluster) -> None:
    """A bad item from an async iterable is raised once by the iterator; the others still finish."""
    good = refs(2)
    for ref in good:
        cluster.add_operation(ref)

    async def items() -> AsyncIterator[object]:
        yield good[0]
        yield ("app~svc", PID, "nope")
        yield good[1]

    results: list[Outcome] = []
    async with client.wait_many(items()) as batch:  # type: ignore[arg-type]
        while True:
            try:
                results.append(await batch.__anext__())
            except TypeError as exc:
                assert "operations[1]" in str(exc)  # noqa: PT017 - raised mid-iteration on purpose
                break
        results += await collect(batch)
    assert {o.ref for o in results} == set(good)


async def test_add_and_seal(client: ProgressClient, cluster: FakeCluster) -> None:
    """With operations=None, add() feeds the batch and seal() lets it finish."""
    first, second = refs(2)
    for ref in (first, second):
        cluster.add_operation(ref, Script(duration=2))
    batch = client.wait_many(None)
    assert batch.add(first) == 1
    assert batch.add(first) == 0
    results = []
    async with batch:
        results.append(await batch.__anext__())
        with pytest.raises(TypeError):
            batch.add((second.service_id, second.partition_id, second.operation_id))  # type: ignore[arg-type]
        batch.add(second)
        batch.seal()
        results += await collect(batch)
        with pytest.raises(RuntimeError, match="sealed"):
            batch.add(refs(1)[0])
    assert [o.ref for o in results] == [first, second]
    assert "closed" in repr(batch)


async def test_break_early_stops_every_task(cluster: FakeCluster) -> None:
    """Breaking out of the loop (no async with) stops the batch's tasks; the client stays open."""
    cluster.default_script = Script(duration=5)
    ops = refs(50)
    for ref in ops:
        cluster.add_operation(ref, Script(duration=1 if ref is ops[0] else 10_000))
    async with ProgressClient(cluster.url) as client:
        async for outcome in client.wait_many(ops):
            assert outcome.ref == ops[0]
            break
        gc.collect()
        for _ in range(5):
            await asyncio.sleep(0)
        assert others() == set()
        assert not client.closed
        assert (await client.get_progress(ops[0])).state is OperationState.COMPLETED


async def test_aclose_and_cancelled_consumer(client: ProgressClient, cluster: FakeCluster) -> None:
    """aclose() and cancelling the consuming task leave no task behind."""
    ops = refs(10)
    for ref in ops:
        cluster.add_operation(ref, Script(duration=10_000))
    batch = client.wait_many(ops, deadline=10_000)
    consumer = asyncio.create_task(collect(batch))
    for _ in range(20):
        await asyncio.sleep(0)
    consumer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await consumer
    await batch.aclose()
    await batch.aclose()
    assert others() == set()
    with pytest.raises(RuntimeError, match="closed"):
        await batch.__anext__()


@pytest.mark.real_wait
async def test_rate_budget_is_respected(cluster: FakeCluster) -> None:
    """max_rate bounds the requests per second the cluster sees, whatever the number of operations."""
    ops = refs(40)
    for ref in ops:
        cluster.add_operation(ref, Script(duration=10_000))
    async with ProgressClient(cluster.url) as client:
        batch = client.wait_many(ops, max_rate=40, backoff=Backoff(initial=0.01, maximum=0.05), deadline=1.5)
        async with batch:
            await collect(batch)
    times = sorted(cluster.request_times)
    span = times[-1] - times[0]
    assert len(times) >= 40  # the batch really tried to go fast
    assert len(times) <= 40 * span + 2
    for start in times:
        in_window = sum(1 for t in times if start <= t < start + 0.5)
        assert in_window <= 40 * 0.5 + 2


async def test_backpressure_pauses_the_whole_batch(client: ProgressClient, cluster: FakeCluster) -> None:
    """A 503 with Retry-After pauses every operation's polls, then the batch recovers."""
    ops = refs(30)
    for ref in ops:
        cluster.add_operation(ref, Script(duration=60))
    cluster.inject(Fault.service_unavailable("FABRIC_E_SERVICE_TOO_BUSY", retry_after="20"), routes=["progress"])
    backoff = Backoff(initial=1, maximum=2, jitter=0.0)
    async with client.wait_many(ops, backoff=backoff, concurrency=1, coalesce=False) as batch:
        results = await collect(batch)
    assert all(o.kind is OutcomeKind.COMPLETED for o in results)
    times = cluster.request_times
    gap_after_busy = times[1] - times[0]
    assert gap_after_busy >= 20
    assert batch.snapshot().throttle == 1.0


async def test_snapshot_while_running(client: ProgressClient, cluster: FakeCluster) -> None:
    """The snapshot counts pending operations by state and finished ones by kind."""
    ops = refs(6)
    for i, ref in enumerate(ops):
        cluster.add_operation(ref, Script(duration=5 if i < 3 else 10_000))
    snapshots = []
    async with client.wait_many(ops, deadline=100, coalesce=False) as batch:
        assert batch.snapshot().by_state == {None: 6}
        async for _ in batch:
            snapshots.append(batch.snapshot())
    first = snapshots[0]
    assert first.total == 6
    assert first.finished == 1
    assert first.pending == 5
    assert sum(first.by_state.values()) == 5
    assert first.oldest_pending is not None
    last = snapshots[-1]
    assert last.by_kind == {OutcomeKind.COMPLETED: 3, OutcomeKind.TIMED_OUT: 3}
    assert last.oldest_pending is None
    assert last.requests >= 6


async def test_retry_events_and_hook_errors(
    client: ProgressClient, cluster: FakeCluster, caplog: pytest.LogCaptureFixture
) -> None:
    """Retrying events are typed; an async hook that raises is logged and changes nothing."""
    (ref,) = refs(1)
    cluster.add_operation(ref, Script(duration=3))
    cluster.inject(Fault.reset(), routes=["progress"], times=3)
    events: list[object] = []

    async def hook(event: object) -> None:
        events.append(event)
        raise RuntimeError("hook bug")

    async with client.wait_many([ref], on_event=hook) as batch:
        (outcome,) = await collect(batch)
    assert outcome.kind is OutcomeKind.COMPLETED
    assert any(isinstance(e, Retrying) for e in events)
    assert "hook bug" in caplog.text


async def test_waits_are_instant_in_testing_mode(client: ProgressClient, cluster: FakeCluster) -> None:
    """With set_testing(True), a batch of 10-minute restarts finishes at once in real time."""
    loop = asyncio.get_running_loop()
    cluster.default_script = Script(duration=600)
    ops = [await client.start(FaultTarget.restart("a~b", PID)) for _ in range(50)]
    started = loop.time()
    with set_testing(True):
        async with client.wait_many(ops, deadline=900) as batch:
            results = await collect(batch)
    assert all(o.ok for o in results)
    assert loop.time() - started < 30
