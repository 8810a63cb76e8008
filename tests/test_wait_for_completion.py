"""wait_for_completion over real loopback against FakeCluster."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable

import pytest

from sf_progress import (
    AuthError,
    Backoff,
    FaultTarget,
    NotFoundError,
    OperationNotCompleted,
    OperationRef,
    OperationState,
    PartitionRestartProgress,
    ProgressClient,
    SFProgressError,
    WaitTimeout,
    set_testing,
)
from sf_progress.testing import FakeCluster, Fault, Script

from .conftest import PID


class ManualTime:
    """An injected clock and sleep: sleeping advances the clock, nothing waits."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += max(0.0, seconds)
        await asyncio.sleep(0)


def record_polls(client: ProgressClient, clock: Callable[[], float]) -> list[float]:
    """Record the clock time of every poll the waits send."""
    times: list[float] = []
    original: Callable[[OperationRef, float], Awaitable[PartitionRestartProgress]] = client._calls.poll_once

    async def poll(ref: OperationRef, remaining: float) -> PartitionRestartProgress:
        times.append(clock())
        return await original(ref, remaining)

    client._calls.poll_once = poll  # type: ignore[method-assign]
    return times


async def test_waits_until_completed(client: ProgressClient, cluster: FakeCluster) -> None:
    """The wait returns the Completed progress once the operation ends (virtual time)."""
    cluster.default_script = Script(duration=42)
    ref = await client.start(FaultTarget.restart("a~b", PID))
    progress = await client.wait_for_completion(ref)
    assert progress.state is OperationState.COMPLETED
    assert cluster.state_of(ref.operation_id) is OperationState.COMPLETED
    polls = cluster.operation(ref.operation_id).polls
    assert 5 <= polls <= 12  # 1 s growing by 1.5x to 10 s over 42 s
    assert cluster.operation(ref.operation_id).detection_lag is not None


async def test_a_ref_is_the_one_spelling(client: ProgressClient, cluster: FakeCluster, ref: OperationRef) -> None:
    """The wait takes a ref, positionally or as ``ref=``; the three ids and tuples are refused before any request."""
    cluster.add_operation(ref)
    a = await client.wait_for_completion(OperationRef.restart(str(ref.service_name), ref.partition_id, ref.operation_id))
    b = await client.wait_for_completion(ref=ref)
    assert a == b
    before = cluster.requests
    with pytest.raises(TypeError):
        await client.wait_for_completion(ref.service_id, ref.partition_id, ref.operation_id)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match=r"OperationRef\.restart"):
        await client.wait_for_completion((ref.service_id, ref.partition_id, ref.operation_id))  # type: ignore[arg-type]
    assert cluster.requests == before


@pytest.mark.parametrize("outcome", [OperationState.FAULTED])
async def test_faulted_is_returned_or_raised(
    client: ProgressClient, cluster: FakeCluster, ref: OperationRef, outcome: OperationState
) -> None:
    """A Faulted end is returned by default, and raised as OperationNotCompleted on request."""
    cluster.add_operation(ref, Script(duration=3, outcome=outcome, error_code=-2147017729))
    progress = await client.wait_for_completion(ref)
    assert progress.state is OperationState.FAULTED
    assert progress.error_code == -2147017729
    with pytest.raises(OperationNotCompleted) as info:
        await client.wait_for_completion(ref, raise_on_failure=True)
    assert info.value.progress == progress
    assert info.value.ref == ref


async def test_cancelled_raises_operation_failed_on_request(client: ProgressClient, cluster: FakeCluster) -> None:
    """Cancelled ends count as failures for raise_on_failure."""
    cluster.default_script = Script(duration=100)
    ref = await client.start(FaultTarget.restart("a~b", PID))
    await client.cancel_operation(ref)
    with pytest.raises(OperationNotCompleted, match="Cancelled"):
        await client.wait_for_completion(ref, raise_on_failure=True)


async def test_final_poll_at_deadline_then_wait_timeout(cluster: FakeCluster, ref: OperationRef) -> None:
    """With an injected clock the last sleep is clipped so the final poll is exactly at the deadline."""
    time = ManualTime()
    cluster.clock = time.clock
    cluster.add_operation(ref, Script(duration=10_000))
    async with ProgressClient(cluster.url, clock=time) as client:
        polls = record_polls(client, time.clock)
        start = time.now
        with pytest.raises(WaitTimeout) as info:
            await client.wait_for_completion(ref, deadline=30, backoff=Backoff(initial=4, multiplier=2, jitter=0))
    assert [t - start for t in polls] == [4, 12, 22, 30]  # 4, +8, +10 (cap), then +8 clipped to the deadline
    assert info.value.last_progress is not None
    assert info.value.last_progress.state is OperationState.RUNNING
    assert isinstance(info.value, TimeoutError)
    assert isinstance(info.value, SFProgressError)
    assert info.value.ref == ref


async def test_transient_failures_never_end_the_wait(
    client: ProgressClient, cluster: FakeCluster, ref: OperationRef
) -> None:
    """503/504/resets/truncated bodies during the wait are retried within the deadline."""
    cluster.add_operation(ref, Script(duration=20))
    cluster.inject(
        Fault.service_unavailable(),
        Fault.gateway_timeout(),
        Fault.reset(),
        Fault.truncated(),
        Fault.service_unavailable("FABRIC_E_NOT_PRIMARY"),
        Fault.html(502),
        routes=["progress"],
        times=3,
    )
    assert (await client.wait_for_completion(ref)).state is OperationState.COMPLETED
    assert cluster.pending_faults == 0


async def test_not_found_grace_period(client: ProgressClient, cluster: FakeCluster, ref: OperationRef) -> None:
    """404s right after a start are tolerated for the grace period; then the wait succeeds."""
    cluster.add_operation(ref, Script(duration=5))
    cluster.inject(Fault.error(404, "FABRIC_E_KEY_NOT_FOUND"), routes=["progress"], times=3)
    assert (await client.wait_for_completion(ref, not_found_grace=30)).state is OperationState.COMPLETED


async def test_not_found_after_grace(cluster: FakeCluster, ref: OperationRef) -> None:
    """An operation that never appears raises NotFoundError once the grace period is over."""
    time = ManualTime()
    async with ProgressClient(cluster.url, clock=time) as client:
        start = time.now
        with pytest.raises(NotFoundError):
            await client.wait_for_completion(ref, not_found_grace=7)
    assert time.now - start >= 7


async def test_non_transient_error_is_raised(ref: OperationRef) -> None:
    """An auth failure ends the wait with AuthError (never retried)."""
    async with FakeCluster(token="t0ken") as cluster, ProgressClient(cluster.url) as client:
        cluster.add_operation(ref)
        with pytest.raises(AuthError):
            await client.wait_for_completion(ref)
        assert cluster.requests == 1


async def test_on_progress_sync_and_async(client: ProgressClient, cluster: FakeCluster, ref: OperationRef) -> None:
    """on_progress is called once per state change, sync or async."""
    cluster.add_operation(ref, Script(duration=20, outcome=OperationState.FAULTED, rollback=20))
    seen: list[OperationState] = []
    await client.wait_for_completion(ref, on_progress=lambda r, p: seen.append(p.state))
    assert seen == [OperationState.RUNNING, OperationState.ROLLING_BACK, OperationState.FAULTED]
    assert cluster.operation(ref.operation_id).polls > 3

    seen_async: list[OperationRef] = []

    async def hook(r: OperationRef, p: PartitionRestartProgress) -> None:
        await asyncio.sleep(0)
        seen_async.append(r)

    await client.wait_for_completion(ref, on_progress=hook)
    assert seen_async == [ref]


async def test_cancelling_the_wait_leaves_nothing_behind(ref: OperationRef) -> None:
    """Cancelling the awaiting task mid-wait leaves no task and no open connection."""
    async with FakeCluster() as cluster:
        cluster.add_operation(ref, Script(duration=1000))
        async with ProgressClient(cluster.url) as client:
            with set_testing(False):
                task = asyncio.create_task(client.wait_for_completion(ref, backoff=Backoff(initial=0.01)))
                await asyncio.sleep(0.3)
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
            assert cluster.operation(ref.operation_id).polls >= 1
    assert {t for t in asyncio.all_tasks() if t is not asyncio.current_task()} == set()


async def test_bad_arguments_before_any_request(
    client: ProgressClient, cluster: FakeCluster, ref: OperationRef
) -> None:
    """Bad ids, deadlines, backoffs and flags raise before anything is sent."""
    with pytest.raises(ValueError, match="service"):
        OperationRef.restart("", PID, uuid.uuid4())
    for call in (
        lambda: client.wait_for_completion(ref, deadline=-1),
        lambda: client.wait_for_completion(ref, backoff=5),  # type: ignore[arg-type]
        lambda: client.wait_for_completion(ref, not_found_grace="x"),  # type: ignore[arg-type]
        lambda: client.wait_for_completion(ref, raise_on_failure="yes"),  # type: ignore[arg-type]
        lambda: client.wait_for_completion(ref, coalesce="yes"),  # type: ignore[arg-type]
    ):
        with pytest.raises((ValueError, TypeError)):
            await call()
    assert cluster.requests == 0
