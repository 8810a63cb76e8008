"""wait_many under hostile inputs and interruptions: nothing lost, nothing left running, no hang."""

from __future__ import annotations

import asyncio
import gc
import logging
import uuid
from collections.abc import AsyncIterator

import pytest

from sf_progress import Event, OperationRef, Outcome, OutcomeKind, ProgressClient, StateChanged
from sf_progress.testing import FakeCluster, Script

from .conftest import PID, others


def refs(n: int) -> list[OperationRef]:
    return [OperationRef.restart("app~svc", PID, uuid.uuid4()) for _ in range(n)]



async def settle() -> None:
    gc.collect()
    for _ in range(10):
        await asyncio.sleep(0)


async def test_failing_async_source_is_raised_after_its_outcomes(client: ProgressClient, cluster: FakeCluster) -> None:
    """An async source that raises: the outcomes of what it gave first, then its exception."""
    (ref,) = refs(1)
    cluster.add_operation(ref)

    async def source() -> AsyncIterator[OperationRef]:
        yield ref
        raise OSError("upstream died")

    outcomes: list[Outcome] = []

    async def consume() -> None:
        async with client.wait_many(source()) as batch:
            async for outcome in batch:
                outcomes.append(outcome)

    with pytest.raises(OSError, match="upstream died"):
        await consume()
    assert [o.ref for o in outcomes] == [ref]


async def test_bad_item_after_the_good_ones_finished_is_reported(
    client: ProgressClient, cluster: FakeCluster
) -> None:
    """A bad item that arrives once every good operation has finished is still raised."""
    (ref,) = refs(1)
    cluster.add_operation(ref, Script(duration=1))
    first_done = asyncio.Event()

    async def source() -> AsyncIterator[object]:
        yield ref
        await first_done.wait()
        yield ("app~svc", PID, "not-a-guid")

    outcomes: list[Outcome] = []

    async def consume() -> None:
        async with client.wait_many(source()) as batch:  # type: ignore[arg-type]
            async for outcome in batch:
                outcomes.append(outcome)
                first_done.set()

    with pytest.raises(TypeError, match=r"operations\[1\]"):
        await consume()
    assert [o.ref for o in outcomes] == [ref]


async def test_seal_on_an_async_fed_batch_loses_nothing(client: ProgressClient, cluster: FakeCluster) -> None:
    """seal() on a batch fed by an async iterable still waits for every operation the iterable gives."""
    ops = refs(10)
    for op in ops:
        cluster.add_operation(op)

    async def source() -> AsyncIterator[OperationRef]:
        for op in ops:
            await asyncio.sleep(0.001)
            yield op

    async with client.wait_many(source()) as batch:
        batch.seal()
        outcomes = [o async for o in batch]
    assert {o.ref for o in outcomes} == set(ops)


async def test_a_second_consumer_gets_a_clear_error(client: ProgressClient, cluster: FakeCluster) -> None:
    """Two tasks iterating one batch: the second gets a RuntimeError instead of hanging forever."""
    (ref,) = refs(1)
    cluster.add_operation(ref, Script(duration=5))
    async with client.wait_many([ref]) as batch:
        first = asyncio.ensure_future(batch.__anext__())
        await asyncio.sleep(0)
        with pytest.raises(RuntimeError, match="one consumer"):
            await batch.__anext__()
        outcome = await first
    assert outcome.kind is OutcomeKind.COMPLETED


async def test_cancelling_the_consumer_stops_every_task(cluster: FakeCluster, caplog: pytest.LogCaptureFixture) -> None:
    """Cancelling the task that iterates a batch (no async with, no aclose) stops its workers."""
    ops = refs(20)
    for op in ops:
        cluster.add_operation(op, Script(duration=10_000))
    async with ProgressClient(cluster.url) as client:
        batch = client.wait_many(ops, deadline=10_000)

        async def consume() -> None:
            async for _ in batch:
                pass

        consumer = asyncio.ensure_future(consume())
        for _ in range(30):
            await asyncio.sleep(0)
        consumer.cancel()
        with pytest.raises(asyncio.CancelledError):
            await consumer
        await settle()
        assert others() == set()
        sent = cluster.requests
        await asyncio.sleep(0.05)
    assert cluster.requests == sent
    assert "unexpected error" not in caplog.text


@pytest.mark.parametrize("how", ["client_close", "async_with_client"])
async def test_closing_the_client_stops_its_batches(
    cluster: FakeCluster, caplog: pytest.LogCaptureFixture, how: str
) -> None:
    """Closing the client stops every batch on it; a consumer still iterating gets a RuntimeError."""
    caplog.set_level(logging.INFO, logger="sf_progress")
    ops = refs(20)
    for op in ops:
        cluster.add_operation(op, Script(duration=10_000))
    client = ProgressClient(cluster.url)
    batches = [client.wait_many(ops[:10], deadline=10_000), client.wait_many(ops[10:], deadline=10_000)]

    async def consume(index: int) -> None:
        async for _ in batches[index]:
            pass

    consumers = [asyncio.ensure_future(consume(i)) for i in range(2)]
    for _ in range(30):
        await asyncio.sleep(0)
    if how == "client_close":
        await client.aclose()
    else:
        async with client:
            pass
    for consumer in consumers:
        with pytest.raises(RuntimeError, match="ProgressClient was closed"):
            await asyncio.wait_for(consumer, 10)
    await settle()
    assert others() == set()
    assert "unexpected error" not in caplog.text


async def test_concurrency_is_bounded_and_workers_are_lazy(client: ProgressClient, cluster: FakeCluster) -> None:
    """concurrency above 10,000 is refused; a huge concurrency for one operation starts one worker."""
    with pytest.raises(ValueError, match="concurrency"):
        client.wait_many([], concurrency=200_000)
    (ref,) = refs(1)
    cluster.add_operation(ref, Script(duration=3))
    async with client.wait_many([ref], concurrency=10_000) as batch:
        outcomes = [o async for o in batch]
        assert len(batch._engine.tasks) <= 2  # the dispatcher and one worker
    assert outcomes[0].ok


async def test_a_blocked_hook_does_not_freeze_the_batch(client: ProgressClient, cluster: FakeCluster) -> None:
    """A hook that waits for the consumer holds no request slot: every outcome still arrives."""
    ops = refs(5)
    for op in ops:
        cluster.add_operation(op, Script(duration=2))
    release = asyncio.Event()
    events: list[Event] = []

    async def hook(event: Event) -> None:
        await release.wait()  # waits until the consumer has seen every outcome
        events.append(event)

    outcomes: list[Outcome] = []
    async with client.wait_many(ops, on_event=hook, concurrency=1) as batch:
        async for outcome in batch:
            outcomes.append(outcome)
            if len(outcomes) == len(ops):
                release.set()
    assert len(outcomes) == 5
    assert sum(isinstance(e, StateChanged) for e in events) >= 5  # delivered before the iteration ended


async def test_hooks_must_be_callable_before_any_request(client: ProgressClient, cluster: FakeCluster) -> None:
    """A hook that is not callable is a TypeError before anything is sent."""
    (ref,) = refs(1)
    with pytest.raises(TypeError, match="on_event"):
        client.wait_many([ref], on_event="print")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="on_progress"):
        await client.wait_for_completion(ref, on_progress=42)  # type: ignore[arg-type]
    assert cluster.requests == 0
