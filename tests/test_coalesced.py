"""Coalesced waiting: one list call per tick watches every wait on a client (real loopback FakeCluster)."""

from __future__ import annotations

import asyncio
import itertools
import random
import uuid

import pytest

from sf_progress import (
    Backoff,
    BatchSnapshot,
    Event,
    OperationRef,
    OperationState,
    Outcome,
    OutcomeKind,
    ProgressClient,
    StateChanged,
)
from sf_progress._progress import PartitionRestartProgress
from sf_progress.testing import FakeCluster, Fault, Script

from .conftest import PID, others

KIND = {
    OperationState.COMPLETED: OutcomeKind.COMPLETED,
    OperationState.FAULTED: OutcomeKind.FAULTED,
    OperationState.CANCELLED: OutcomeKind.CANCELLED,
    OperationState.FORCE_CANCELLED: OutcomeKind.CANCELLED,
}
NOISE = [
    Fault.service_unavailable(),
    Fault.gateway_timeout(),
    Fault.reset(),
    Fault.truncated(),
    Fault.malformed(b'[{"OperationId'),
]


def refs(n: int) -> list[OperationRef]:
    return [OperationRef.restart("app~svc", PID, uuid.uuid4()) for _ in range(n)]



async def collect(client: ProgressClient, ops: list[OperationRef], **kwargs: object) -> list[Outcome]:
    async with client.wait_many(ops, **kwargs) as batch:  # type: ignore[arg-type]
        return [o async for o in batch]


def assert_true_outcomes(outcomes: list[Outcome], cluster: FakeCluster, ops: list[OperationRef]) -> None:
    assert len(outcomes) == len(ops)
    assert {o.ref for o in outcomes} == set(ops)
    for outcome in outcomes:
        final = cluster.state_of(outcome.ref.operation_id)
        assert outcome.state is final, outcome
        assert outcome.kind is KIND[final]


async def test_2000_operations_through_faults_on_reads_and_on_the_list(
    client: ProgressClient, cluster: FakeCluster
) -> None:
    """10 % noise on progress reads and on the list: one true outcome each, none lost or doubled."""
    rng = random.Random(3)
    ops = refs(2000)
    for ref in ops:
        outcome = rng.choice([OperationState.COMPLETED] * 4 + [OperationState.FAULTED])
        cluster.add_operation(ref, Script(duration=rng.uniform(0.5, 60), outcome=outcome, rollback=rng.uniform(0, 3)))
    cluster.set_fault_rate(0.10, NOISE, routes=["progress", "list"], seed=4)
    async with client.wait_many(ops + ops[:50]) as batch:
        outcomes = [o async for o in batch]
        snap = batch.snapshot()
    assert_true_outcomes(outcomes, cluster, ops)
    assert snap.list_calls > 0
    assert snap.progress_reads < 1.4 * len(ops)  # about one read each, when it left the list
    assert others() == set()


async def test_active_operations_get_no_progress_read(client: ProgressClient, cluster: FakeCluster) -> None:
    """While the list shows an operation active it is not read; it is read once when it leaves."""
    ops = refs(20)
    for ref in ops:
        cluster.add_operation(ref, Script(duration=30))
    outcomes = await collect(client, ops)
    assert all(o.ok for o in outcomes)
    assert cluster.by_route["progress"] == 20
    assert 20 <= cluster.by_route["list"] <= 45  # one list call per ~1 s tick for the whole batch
    assert all(o.polls == 1 for o in outcomes)


async def test_rolling_back_seen_in_the_list_is_a_state_change(client: ProgressClient, cluster: FakeCluster) -> None:
    """Running -> RollingBack -> Faulted produces both state changes; RollingBack comes from the list."""
    ops = refs(4)
    for ref in ops:
        cluster.add_operation(ref, Script(duration=5, outcome=OperationState.FAULTED, rollback=10))
    events: list[Event] = []
    outcomes = await collect(client, ops, on_event=events.append)
    assert {o.kind for o in outcomes} == {OutcomeKind.FAULTED}
    states = [e.progress.raw_state for e in events if isinstance(e, StateChanged) and e.ref == ops[0]]
    assert states == ["Running", "RollingBack", "Faulted"]
    assert cluster.operation(ops[0].operation_id).polls == 1


async def test_operations_added_while_the_batch_runs(client: ProgressClient, cluster: FakeCluster) -> None:
    """Operations added later join the same list ticks and each ends with its true outcome."""
    ops = refs(30)
    for ref in ops:
        cluster.add_operation(ref, Script(duration=random.uniform(1, 20)))
    batch = client.wait_many(None)
    async with batch:
        batch.add(*ops[:10])
        outcomes = [await batch.__anext__()]
        batch.add(*ops[10:])
        batch.seal()
        outcomes += [o async for o in batch]
    assert_true_outcomes(outcomes, cluster, ops)
    assert batch.snapshot().list_calls > 0


async def test_list_unsupported_falls_back_to_reads_logged_once(
    client: ProgressClient, cluster: FakeCluster, caplog: pytest.LogCaptureFixture
) -> None:
    """A gateway answering the list with 405: per-operation reads for that client, logged once."""
    cluster.list_unsupported = 405
    ops = refs(10)
    for ref in ops:
        cluster.add_operation(ref, Script(duration=20))
    outcomes = await collect(client, ops)
    outcomes += await collect(client, refs(0) + ops)
    assert all(o.ok for o in outcomes)
    assert cluster.by_route["list"] == 1
    assert caplog.text.count("does not answer the fault-operation list") == 1


async def test_a_truncated_list_means_reads_for_what_it_did_not_show(
    client: ProgressClient, cluster: FakeCluster
) -> None:
    """A list of exactly 10,000 items (others' operations first): ours are read, and end correctly."""
    crowd = refs(10_000)
    for ref in crowd:
        cluster.add_operation(ref, Script(duration=10_000))
    ops = refs(5)
    for ref in ops:
        cluster.add_operation(ref, Script(duration=6))
    outcomes = await collect(client, ops, coalesce=True)
    assert all(o.ok for o in outcomes)
    assert cluster.by_route["progress"] > 5  # read on each tick, since the list could not show them


async def test_an_operation_purged_while_pending_is_not_found(client: ProgressClient) -> None:
    """An operation purged (retention) before its final read: not found, with its last state."""
    # Purged a microsecond after it ends: a list tick (jittered) never lands in that window.
    async with FakeCluster(retention=1e-6) as cluster:
        ops = refs(3)
        for ref in ops:
            cluster.add_operation(ref, Script(duration=3))
        async with ProgressClient(cluster.url) as client2:
            outcomes = await collect(client2, ops, coalesce=True)
    assert {o.kind for o in outcomes} == {OutcomeKind.NOT_FOUND}
    assert {o.state for o in outcomes} == {OperationState.RUNNING}


async def test_leaving_the_list_while_still_running_parks_it_again(
    client: ProgressClient, cluster: FakeCluster
) -> None:
    """An operation missing from the list while its read says Running is read once per tick, then ends."""
    ops = refs(3)
    for ref in ops:
        cluster.add_operation(ref, Script(duration=8))
    cluster._active.pop(ops[0].operation_id)  # the list stops showing it; reads still say Running
    outcomes = await collect(client, ops)
    assert all(o.ok for o in outcomes)
    polls = {o.ref: o.polls for o in outcomes}
    assert polls[ops[1]] == polls[ops[2]] == 1
    assert 4 <= polls[ops[0]] <= 12  # about one read per tick for 8 s


async def test_concurrent_wait_for_completion_calls_share_one_list_call(
    client: ProgressClient, cluster: FakeCluster
) -> None:
    """100 concurrent wait_for_completion calls on one client: one list call per tick serves them all."""
    ops = refs(100)
    for ref in ops:
        cluster.add_operation(ref, Script(duration=20))
    results = await asyncio.gather(*(client.wait_for_completion(ref) for ref in ops))
    assert {p.state for p in results} == {OperationState.COMPLETED}
    assert cluster.by_route["progress"] <= 110  # about one read each
    assert cluster.by_route["list"] <= 35  # not 100 per tick
    assert others() == set()


async def test_cancelling_one_waiter_leaves_the_others_running(client: ProgressClient, cluster: FakeCluster) -> None:
    """Cancelling one of several coalesced waits does not disturb the others."""
    ops = refs(5)
    for ref in ops:
        cluster.add_operation(ref, Script(duration=10))
    tasks = [asyncio.ensure_future(client.wait_for_completion(ref, coalesce=True)) for ref in ops]
    for _ in range(20):
        await asyncio.sleep(0)
    tasks[0].cancel()
    done = await asyncio.gather(*tasks, return_exceptions=True)
    assert isinstance(done[0], asyncio.CancelledError)
    assert all(isinstance(p, PartitionRestartProgress) and p.state is OperationState.COMPLETED for p in done[1:])
    assert others() == set()


async def test_closing_the_client_ends_the_observer(cluster: FakeCluster) -> None:
    """Closing the client stops the observer and every coalesced wait: no task left."""
    ops = refs(5)
    for ref in ops:
        cluster.add_operation(ref, Script(duration=10_000))
    client = ProgressClient(cluster.url)
    waits = [asyncio.ensure_future(client.wait_for_completion(ref, coalesce=True, deadline=None)) for ref in ops]
    for _ in range(50):
        await asyncio.sleep(0)
    await client.aclose()
    for wait in waits:
        wait.cancel()
    await asyncio.gather(*waits, return_exceptions=True)
    for _ in range(5):
        await asyncio.sleep(0)
    assert others() == set()


async def test_coalesce_false_never_lists_and_two_operations_are_read(
    client: ProgressClient, cluster: FakeCluster
) -> None:
    """coalesce=False sends no list call; so does the automatic choice for one or two operations."""
    ops = refs(6)
    for ref in ops:
        cluster.add_operation(ref, Script(duration=5))
    await collect(client, ops, coalesce=False)
    await collect(client, ops[:2])
    await client.wait_for_completion(ops[0])
    assert cluster.by_route["list"] == 0


def crowded(cluster: FakeCluster, others: int, ours: int, duration: float) -> list[OperationRef]:
    """*others* long-running operations of other users, and *ours* of *duration* seconds (returned)."""
    for ref in refs(others):
        cluster.add_operation(ref, Script(duration=10_000))
    ops = refs(ours)
    for ref in ops:
        cluster.add_operation(ref, Script(duration=duration))
    return ops


async def outcomes_and_snapshot(client: ProgressClient, ops: list[OperationRef]) -> tuple[list[Outcome], BatchSnapshot]:
    async with client.wait_many(ops) as batch:
        return [o async for o in batch], batch.snapshot()


def answer_times(cluster: FakeCluster, part: str) -> list[float]:
    """When the fake cluster answered requests whose path holds *part* (seconds, its clock)."""
    return [t for (_, path), t in zip(cluster.seen, cluster.request_times, strict=True) if part in path]


def list_call_times(cluster: FakeCluster) -> list[float]:
    return answer_times(cluster, "/Faults/?")


async def test_a_crowded_cluster_switches_to_reads(client: ProgressClient, cluster: FakeCluster) -> None:
    """With 9,000 other active operations the first list shows listing does not pay: reads instead."""
    outcomes, snap = await outcomes_and_snapshot(client, crowded(cluster, 9000, 10, 60))
    assert all(o.ok for o in outcomes)
    assert cluster.by_route["list"] <= 3  # the first one, and a look now and then
    assert not snap.coalescing


def read_times(cluster: FakeCluster, ref: OperationRef) -> list[float]:
    return answer_times(cluster, f"OperationId={ref.operation_id}")


async def test_a_crowded_clusters_operations_are_read_promptly_with_the_default_backoff(
    client: ProgressClient, cluster: FakeCluster
) -> None:
    """2,000 others' operations: listing does not pay, so reads come every 1.25-1.75 s, not on Backoff().

    Each end is then seen within 1.75 s (a round late at most); with an explicit
    ``Backoff()`` the reads thin out to 10 s apart, and ``coalesce=False`` keeps its backoff.
    """
    ops = crowded(cluster, 2000, 15, 30)
    prompt, given, never = ops[:5], ops[5:10], ops[10:]
    results = await asyncio.gather(
        collect(client, prompt), collect(client, given, backoff=Backoff()), collect(client, never, coalesce=False)
    )
    assert all(o.ok for batch in results for o in batch)
    for ref in prompt:
        gaps = [b - a for a, b in itertools.pairwise(read_times(cluster, ref))]
        assert len(gaps) >= 15, gaps
        assert max(gaps[2:]) <= 1.8, gaps  # after the first list call: prompt rounds
    assert all(o.elapsed <= 30 + 1.8 for o in results[0])
    for ref in given + never:
        gaps = [b - a for a, b in itertools.pairwise(read_times(cluster, ref))]
        assert max(gaps) >= 5, gaps  # their own backoff, growing towards 10 s
    assert cluster.by_route["list"] <= 3


async def test_a_list_chosen_over_prompt_reads_ticks_no_slower_than_they_would_read(
    client: ProgressClient, cluster: FakeCluster
) -> None:
    """1,000 others' operations for 100 waits: the list still pays, and ticks at most every 1.5 s (not 4 s)."""
    ops = crowded(cluster, 1000, 100, 20)
    outcomes, snap = await outcomes_and_snapshot(client, ops)
    assert all(o.ok for o in outcomes)
    assert snap.list_calls >= 12
    gaps = [b - a for a, b in itertools.pairwise(list_call_times(cluster))]
    assert max(gaps) <= 1.5 * 1.1 + 0.05, gaps
    assert cluster.by_route["progress"] <= 1.3 * len(ops)  # one final read each, about


async def test_transient_list_answers_are_retried_soon_and_end_no_wait(cluster: FakeCluster) -> None:
    """A fixed tick: every list call failing transiently for a while, waits go on and the list is retried soon."""
    ops = refs(5)
    for ref in ops:
        cluster.add_operation(ref, Script(duration=4))
    cluster.inject(Fault.service_unavailable(), routes=["list"], times=6)
    async with ProgressClient(cluster.url, list_interval=1.0) as client:
        outcomes = await collect(client, ops, coalesce=True)
    assert all(o.ok for o in outcomes)
    times = [b - a for a, b in itertools.pairwise(list_call_times(cluster))]
    assert min(times[:5]) < 0.5  # retried soon, not a whole tick later


async def test_the_adaptive_tick_backs_off_at_once_on_transient_list_answers(
    client: ProgressClient, cluster: FakeCluster
) -> None:
    """The default tick: each transient list answer doubles the next interval; no wait is stranded."""
    ops = refs(5)
    for ref in ops:
        cluster.add_operation(ref, Script(duration=30))
    cluster.inject(Fault.service_unavailable(), routes=["list"], times=2)
    outcomes = await collect(client, ops, coalesce=True)
    assert all(o.ok for o in outcomes)
    times = [b - a for a, b in itertools.pairwise(list_call_times(cluster))]
    # five waits tick at about 1 s; after the first 503 about 2 s, after the second about 4 s, then it relaxes
    assert 1.7 <= times[0] <= 2.3, times[:4]
    assert 3.5 <= times[1] <= 4.5, times[:4]
    assert times[2] < times[1]


async def test_snapshot_shows_list_calls_and_reads(client: ProgressClient, cluster: FakeCluster) -> None:
    """snapshot() counts list calls and progress reads, and says whether the batch is coalescing."""
    ops = refs(5)
    for ref in ops:
        cluster.add_operation(ref, Script(duration=5))
    snaps = []
    async with client.wait_many(ops) as batch:
        async for _ in batch:
            snaps.append(batch.snapshot())
    assert snaps[0].coalescing
    final = batch.snapshot()
    assert final.list_calls >= 4
    assert final.progress_reads == 5
    assert final.requests == final.list_calls + final.progress_reads


async def test_list_filters_sent(client: ProgressClient, cluster: FakeCluster) -> None:
    """The list call asks for active operations only (StateFilter=3) of the kinds waited on (TypeFilter=4)."""
    ops = refs(3)
    for ref in ops:
        cluster.add_operation(ref, Script(duration=2))
    await collect(client, ops)
    lists = {path for method, path in cluster.seen if path.startswith("/Faults/?")}
    assert lists == {"/Faults/?api-version=6.0&TypeFilter=4&StateFilter=3&timeout=60"}


# --- virtual clock: the tick and the backpressure rule ------------------------------------


async def test_tick_is_about_one_second_and_tunable(cluster: FakeCluster) -> None:
    """List calls come about every list_interval seconds (jittered by up to 20 %)."""
    for interval in (1.0, 3.0):
        ops = refs(4)
        for ref in ops:
            cluster.add_operation(ref, Script(duration=30))
        cluster.request_times.clear()
        cluster.seen.clear()
        async with ProgressClient(cluster.url, list_interval=interval) as client:
            await collect(client, ops, coalesce=True)
        list_times = [t for (_, path), t in zip(cluster.seen, cluster.request_times, strict=False) if "/Faults/?" in path]
        gaps = [b - a for a, b in itertools.pairwise(list_times)]
        assert gaps
        assert all(0.79 * interval <= gap <= 1.21 * interval + 0.05 for gap in gaps)


@pytest.mark.parametrize("coalesce", [None, False])
async def test_noise_costs_little_detection_lag(coalesce: bool | None) -> None:
    """With 10 % transient answers the mean detection lag stays within 1.5 s of the calm run's.

    (The virtual clock moves once the requests under way have their answers, so retries' timing
    varies a little with the machine's load: CI once saw 1.01 s. The bound is generous on purpose.)
    """
    lags: dict[float, float] = {}
    for noise in (0.0, 0.1):
        rng = random.Random(8)
        async with FakeCluster() as cluster, ProgressClient(cluster.url) as client:
            ops = refs(300)
            for ref in ops:
                cluster.add_operation(ref, Script(duration=rng.uniform(0.5, 5)))
            cluster.set_fault_rate(noise, NOISE[:3], routes=["progress", "list"], seed=2)
            outcomes = await collect(client, ops, coalesce=coalesce)
            assert_true_outcomes(outcomes, cluster, ops)
            lags[noise] = sum(cluster.detection_lags()) / len(ops)
    assert lags[0.1] - lags[0.0] < 1.5


async def test_deadline_and_not_found_grace_hold_when_listing(client: ProgressClient, cluster: FakeCluster) -> None:
    """Listed waits keep their deadline (a final read at it) and the 404 grace, as per-operation reads do."""
    slow, unknown = refs(3), refs(3)
    for ref in slow:
        cluster.add_operation(ref, Script(duration=1_000))
    started = client.clock.monotonic()
    outcomes = await collect(client, slow + unknown, deadline=30, coalesce=True)
    kinds = {o.ref: o.kind for o in outcomes}
    assert {kinds[r] for r in slow} == {OutcomeKind.TIMED_OUT}
    assert {kinds[r] for r in unknown} == {OutcomeKind.NOT_FOUND}
    by_ref = {o.ref: o for o in outcomes}
    assert all(29.9 <= by_ref[r].elapsed <= 31.5 for r in slow)
    assert all(by_ref[r].polls == 1 for r in slow)  # only the final read at the deadline
    assert all(10 <= by_ref[r].elapsed <= 12.5 for r in unknown)
    assert client.clock.monotonic() - started < 40


def test_the_observer_reads_list_ids_in_any_spelling() -> None:
    """Upper case, braces or the canonical form: one key, the id's number; malformed items are counted."""
    from sf_progress._wire.parsing import parse_active_list

    op_id = uuid.uuid4()
    data = [
        {"OperationId": str(op_id).upper(), "State": "Running", "Type": "PartitionRestart"},
        {"OperationId": "{" + str(uuid.uuid4()) + "}", "State": "Completed"},
        {"OperationId": "not-a-guid", "State": "Running"},
        {"OperationId": None, "State": "Running"},
        {"OperationId": str(uuid.uuid4()), "State": 2},
        {"OperationId": "x" * 36, "State": "Running"},
        "not an object",
    ]
    states, skipped = parse_active_list(data, b"")
    assert states[op_id.int] == "Running"
    assert uuid.UUID(data[1]["OperationId"]).int in states  # type: ignore[arg-type]
    assert len(states) == 2
    assert skipped == 5


async def test_two_waits_on_one_operation_both_end_through_the_list(client: ProgressClient, cluster: FakeCluster) -> None:
    """Two batches park the same operations with the observer (several waits under one key): both end."""
    ops = refs(5)
    for i, ref in enumerate(ops):
        cluster.add_operation(ref, Script(duration=2 + i))
    first = client.wait_many(ops, coalesce=True)
    second = client.wait_many(ops[:3], coalesce=True)
    async with first, second:
        a, b = await asyncio.gather(_all(first), _all(second))
    assert sorted(str(o.ref.operation_id) for o in a) == sorted(str(r.operation_id) for r in ops)
    assert sorted(str(o.ref.operation_id) for o in b) == sorted(str(r.operation_id) for r in ops[:3])
    assert all(o.kind is OutcomeKind.COMPLETED for o in a + b)
    assert first.snapshot().list_calls > 0
    assert client._waits.observer is None or not client._waits.observer.subs  # nothing left parked


async def _all(batch: object) -> list[Outcome]:
    return [o async for o in batch]  # type: ignore[attr-defined]
