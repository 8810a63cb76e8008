"""Every public call over real loopback HTTP against FakeCluster, fault injection included."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import Awaitable, Callable

import aiohttp
import pytest

from sf_progress import (
    AuthError,
    BadRequestError,
    ConflictError,
    FabricError,
    FabricTransientError,
    FaultTarget,
    NotFoundError,
    OperationRef,
    OperationState,
    OperationType,
    ProgressClient,
    ResponseFormatError,
    RetryPolicy,
    TransportError,
    TransportTimeout,
)
from sf_progress.testing import HRESULTS, FakeCluster, Fault, Script

from .conftest import OID, PID


async def test_start_then_progress_to_completion(client: ProgressClient, cluster: FakeCluster) -> None:
    """A started restart reads Running, then Completed with the selected partition."""
    clock = [0.0]
    cluster.clock = lambda: clock[0]
    cluster.default_script = Script(duration=5.0)
    ref = await client.start(FaultTarget.restart("fabric:/myapp/myservice", PID))
    assert (await client.get_progress(ref)).state is OperationState.RUNNING
    clock[0] = 5.0
    done = await client.get_restart_progress(ref.service_id, ref.partition_id, ref.operation_id)
    assert done.state is OperationState.COMPLETED
    assert done.restart_partition_result is not None
    assert done.restart_partition_result.selected_partition is not None
    assert done.restart_partition_result.selected_partition.service_name == "fabric:/myapp/myservice"
    assert done.restart_partition_result.selected_partition.partition_id == PID
    assert cluster.operation(ref.operation_id).polls == 2


async def test_exact_wire_urls(client: ProgressClient, cluster: FakeCluster, ref: OperationRef) -> None:
    """The server sees the documented paths and query order, with ``$`` and ``~`` literal."""
    cluster.add_operation(ref, Script(duration=100))
    await client.get_restart_progress("fabric:/myapp/myservice", PID, OID)
    async with ProgressClient(cluster.url, allow="all") as unguarded:  # (the safety rules read more)
        await unguarded.start(FaultTarget.restart("my app/svc", PID))
    await client.cancel_operation(OID)
    await client.list_fault_operations()
    progress, start, cancel, listing = [seen for seen in cluster.seen if "/Names/" not in seen[1]]  # (the lever)
    assert progress == (
        "GET",
        f"/Faults/Services/myapp~myservice/$/GetPartitions/{PID}/$/GetRestartProgress"
        f"?api-version=3.0&OperationId={OID}&timeout=60",
    )
    assert start[0] == "POST"
    assert start[1].startswith(
        f"/Faults/Services/my%20app~svc/$/GetPartitions/{PID}/$/StartRestart?api-version=6.0&OperationId="
    )
    assert start[1].endswith("&RestartPartitionMode=AllReplicasOrInstances&timeout=60")
    assert cancel == ("POST", f"/Faults/$/Cancel?api-version=6.0&OperationId={OID}&Force=false&timeout=60")
    assert listing == ("GET", "/Faults/?api-version=6.0&TypeFilter=65535&StateFilter=65535&timeout=60")


async def test_encoded_name_round_trips(client: ProgressClient, cluster: FakeCluster) -> None:
    """Characters that must be encoded reach the cluster as the same Fabric name."""
    ref = await client.start(FaultTarget.restart("fabric:/app/we%ird & name+1", PID))
    assert cluster.operation(ref.operation_id).ref.service_name == "fabric:/app/we%ird & name+1"


async def test_unknown_operation_is_not_found(client: ProgressClient, ref: OperationRef) -> None:
    """An unknown OperationId is a NotFoundError with the cluster's code, message and the ref."""
    with pytest.raises(NotFoundError) as info:
        await client.get_progress(ref)
    assert info.value.code == "FABRIC_E_KEY_NOT_FOUND"
    assert info.value.reason == "FABRIC_E_KEY_NOT_FOUND"
    assert str(OID) in info.value.message
    assert info.value.ref == ref


@pytest.mark.parametrize(
    "fault",
    [
        Fault.service_unavailable("E_ABORT"),
        Fault.service_unavailable("FABRIC_E_SERVICE_TOO_BUSY"),
        Fault.service_unavailable("FABRIC_E_NOT_PRIMARY"),
        Fault.service_unavailable("FABRIC_E_NOT_READY"),
        Fault.service_unavailable("FABRIC_E_RECONFIGURATION_PENDING"),
        Fault.gateway_timeout("FABRIC_E_TIMEOUT"),
        Fault.gateway_timeout("FABRIC_E_COMMUNICATION_ERROR"),
        Fault.html(502, "Bad Gateway"),
        Fault.reset(),
        Fault.truncated(),
        Fault.malformed(b'{"State": "Runn'),
        Fault.malformed(b""),
    ],
)
async def test_transient_faults_are_retried(
    client: ProgressClient, cluster: FakeCluster, ref: OperationRef, fault: Fault
) -> None:
    """Each transient fault, injected twice, is retried and the real answer returned."""
    cluster.add_operation(ref)
    cluster.inject(fault, routes=["progress"], times=2)
    progress = await client.get_progress(ref)
    assert progress.state is OperationState.COMPLETED
    assert cluster.by_route["progress"] == 3
    assert cluster.pending_faults == 0


async def test_persistent_503_raises_transient_error(
    client: ProgressClient, cluster: FakeCluster, ref: OperationRef
) -> None:
    """A 503 on every try ends as FabricTransientError with the body's code, after 5 tries."""
    cluster.add_operation(ref)
    cluster.inject(Fault.service_unavailable("E_ABORT"), times=10)
    with pytest.raises(FabricTransientError) as info:
        await client.get_progress(ref)
    assert (info.value.status, info.value.code) == (503, "E_ABORT")
    assert cluster.requests == 5


async def test_persistent_reset_raises_transport_error(
    client: ProgressClient, cluster: FakeCluster, ref: OperationRef
) -> None:
    """Resets on every try end as TransportError, with aiohttp's error only as the cause."""
    cluster.add_operation(ref)
    cluster.inject(Fault.reset(), times=20)  # aiohttp itself retries a reused connection once
    with pytest.raises(TransportError) as info:
        await client.get_progress(ref)
    assert cluster.pending_faults > 0
    assert isinstance(info.value.__cause__, aiohttp.ClientError)
    assert info.value.ref == ref


@pytest.mark.parametrize(
    ("fault", "cls", "status"),
    [
        (Fault.unauthorized(), AuthError, 401),
        (Fault.forbidden(), AuthError, 403),
        (Fault.error(400, "E_INVALIDARG"), BadRequestError, 400),
        (Fault.error(500, "FMFailoverUnitNotFound", ""), FabricError, 500),
        (Fault.html(500, "Internal Server Error"), FabricError, 500),
    ],
)
async def test_non_transient_errors_are_not_retried(
    client: ProgressClient,
    cluster: FakeCluster,
    ref: OperationRef,
    fault: Fault,
    cls: type[FabricError],
    status: int,
) -> None:
    """401/403/400/500 raise at once, typed, even with empty or HTML bodies."""
    cluster.add_operation(ref)
    cluster.inject(fault)
    with pytest.raises(cls) as info:
        await client.get_progress(ref)
    assert type(info.value) is cls
    assert info.value.status == status
    assert cluster.requests == 1


async def test_html_200_is_a_format_error(client: ProgressClient, cluster: FakeCluster, ref: OperationRef) -> None:
    """An HTML page with status 200 (a login proxy, say) is a ResponseFormatError with an excerpt."""
    cluster.add_operation(ref)
    cluster.inject(Fault.malformed(b"<html><body>Please sign in</body></html>"))
    with pytest.raises(ResponseFormatError, match="Please sign in"):
        await client.get_progress(ref)
    assert cluster.requests == 1


async def test_slow_answer_times_out_then_retries(cluster: FakeCluster, ref: OperationRef) -> None:
    """An answer slower than server timeout + margin is a TransportTimeout, retried."""
    cluster.add_operation(ref)
    cluster.inject(Fault.slow(2.0))
    async with ProgressClient(cluster.url, server_timeout=1, timeout_margin=0.3) as client:
        assert (await client.get_progress(ref)).state is OperationState.COMPLETED
        cluster.inject(Fault.slow(2.0), times=2)
        async with ProgressClient(
            cluster.url, server_timeout=1, timeout_margin=0.3, retry=RetryPolicy(attempts=2)
        ) as strict:
            with pytest.raises(TransportTimeout) as info:
                await strict.get_progress(ref)
    assert isinstance(info.value, TimeoutError)
    assert cluster.requests == 4


async def test_connection_refused_is_transport_error(ref: OperationRef) -> None:
    """Nothing listening on the port gives a TransportError after retries."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with ProgressClient(f"http://127.0.0.1:{port}", retry=RetryPolicy(attempts=2)) as client:
        with pytest.raises(TransportError) as info:
            await client.get_progress(ref)
    assert not isinstance(info.value, TransportTimeout)


async def test_start_with_existing_id_is_conflict(client: ProgressClient, cluster: FakeCluster) -> None:
    """Starting an id that exists (active or history) raises ConflictError 409."""
    ref = await client.start(FaultTarget.restart("a~b", PID, operation_id=OID))
    assert ref.operation_id == OID
    with pytest.raises(ConflictError) as info:
        await client.start(FaultTarget.restart("a~b", PID, operation_id=OID))
    assert info.value.code == "FABRIC_E_TEST_COMMAND_OPERATION_ID_ALREADY_EXISTS"


async def test_start_retried_after_landing_succeeds(client: ProgressClient, cluster: FakeCluster) -> None:
    """A start whose answer is lost (the start landed) is retried, meets 409, and succeeds."""
    cluster.inject(Fault.truncated(), routes=["start"])
    ref = await client.start(FaultTarget.restart("a~b", PID, operation_id=OID))
    assert cluster.by_route["start"] == 2
    assert cluster.operation(ref.operation_id).mode == "AllReplicasOrInstances"


async def test_start_only_active_secondaries(client: ProgressClient, cluster: FakeCluster) -> None:
    """The mode reaches the cluster."""
    ref = await client.start(FaultTarget.restart("a~b", PID, mode="OnlyActiveSecondaries"))
    assert cluster.operation(ref.operation_id).mode == "OnlyActiveSecondaries"


async def test_start_on_unknown_service_faults_later(client: ProgressClient, cluster: FakeCluster) -> None:
    """As on a real cluster, a bad target is accepted (202) and then Faulted with an HRESULT."""
    cluster.add_service("fabric:/app/real", [PID])
    clock = [0.0]
    cluster.clock = lambda: clock[0]
    ref = await client.start(FaultTarget.restart("fabric:/app/ghost", PID))
    clock[0] = 1.0
    progress = await client.get_progress(ref)
    assert progress.state is OperationState.FAULTED
    assert progress.error_code == HRESULTS["FABRIC_E_SERVICE_DOES_NOT_EXIST"]


async def test_cancel_and_force_cancel(client: ProgressClient, cluster: FakeCluster) -> None:
    """Graceful cancel rolls back to Cancelled; force first is refused; force after works."""
    clock = [0.0]
    cluster.clock = lambda: clock[0]
    cluster.default_script = Script(duration=100, rollback=10)
    a = await client.start(FaultTarget.restart("a~b", PID))
    with pytest.raises(BadRequestError) as info:
        await client.cancel_operation(a.operation_id, force=True)
    assert info.value.code == "FABRIC_E_INVALID_TEST_COMMAND_STATE"
    await client.cancel_operation(a)
    assert (await client.get_progress(a)).state is OperationState.ROLLING_BACK
    clock[0] = 10
    assert (await client.get_progress(a)).state is OperationState.CANCELLED
    b = await client.start(FaultTarget.restart("a~b", PID))
    await client.cancel_operation(b)
    await client.cancel_operation(b, force=True)
    assert (await client.get_progress(b)).state is OperationState.FORCE_CANCELLED
    with pytest.raises(NotFoundError):
        await client.cancel_operation(b)


async def test_list_with_filters(client: ProgressClient, cluster: FakeCluster) -> None:
    """The list returns typed items and honours state and type filters."""
    clock = [0.0]
    cluster.clock = lambda: clock[0]
    done = await client.start(FaultTarget.restart("a~b", PID))
    cluster.default_script = Script(duration=100)
    running = await client.start(FaultTarget.restart("a~b", PID))
    everything = await client.list_fault_operations()
    assert {(i.operation_id, i.state) for i in everything} == {
        (done.operation_id, OperationState.COMPLETED),
        (running.operation_id, OperationState.RUNNING),
    }
    assert all(i.type is OperationType.PARTITION_RESTART for i in everything)
    only_running = await client.list_fault_operations(state_filter=OperationState.RUNNING)
    assert [i.operation_id for i in only_running] == [running.operation_id]
    assert await client.list_fault_operations(type_filter=[OperationType.NODE_TRANSITION]) == []


async def test_cluster_version(client: ProgressClient) -> None:
    """get_cluster_version reads the fake's version."""
    assert await client.get_cluster_version() == "9.1.1436.9590"


async def test_api_version_6(cluster: FakeCluster, ref: OperationRef) -> None:
    """Progress reads also work with api-version 6.0."""
    cluster.add_operation(ref)
    async with ProgressClient(cluster.url, api_version="6.0") as client:
        assert (await client.get_progress(ref)).state is OperationState.COMPLETED
    assert "api-version=6.0" in cluster.seen[0][1]


async def test_api_version_above_runtime_is_bad_request(cluster: FakeCluster, ref: OperationRef) -> None:
    """An api-version newer than the runtime gets 400 E_INVALIDARG."""
    cluster.add_operation(ref)
    async with ProgressClient(cluster.url, api_version="10.0") as client:
        with pytest.raises(BadRequestError) as info:
            await client.get_progress(ref)
    assert info.value.code == "E_INVALIDARG"


async def test_bearer_token_required(ref: OperationRef) -> None:
    """A cluster that wants a token answers 401 with an empty body; the error is typed."""
    async with FakeCluster(token="s3cret-token") as cluster, ProgressClient(cluster.url) as client:
        cluster.add_operation(ref)
        with pytest.raises(AuthError) as info:
            await client.get_progress(ref)
    assert info.value.status == 401
    assert "s3cret" not in str(info.value) + repr(info.value)


async def test_bad_input_sends_nothing(client: ProgressClient, cluster: FakeCluster) -> None:
    """Every bad argument is rejected before a request reaches the cluster."""
    bad_calls: list[Callable[[], Awaitable[object]]] = [
        lambda: client.get_restart_progress("", PID, OID),
        lambda: client.get_restart_progress("a/b#c", PID, OID),
        lambda: client.get_restart_progress("a\x00b", PID, OID),
        lambda: client.get_restart_progress("a~b", "123", OID),
        lambda: client.get_restart_progress("a~b", PID, OID, timeout=0),
        lambda: client.start(FaultTarget.restart("a~b", PID, mode="Invalid")),
        lambda: client.start(FaultTarget.restart("a~b", "x")),
        lambda: client.start(FaultTarget.restart("a~b", PID, operation_id="x")),
        lambda: client.cancel_operation("x"),
        lambda: client.list_fault_operations(state_filter=[]),
        lambda: client.list_fault_operations(timeout=-1),
        lambda: client.wait_for_completion(("a~b", PID, OID)),  # type: ignore[arg-type]
    ]
    for call in bad_calls:
        with pytest.raises((ValueError, TypeError)):
            await call()
    assert cluster.requests == 0


async def test_concurrent_polls_share_one_session(client: ProgressClient, cluster: FakeCluster) -> None:
    """Many concurrent reads over the pooled session all succeed, and one failure hides none."""
    refs = [OperationRef.restart("a~b", PID, uuid.uuid4()) for _ in range(200)]
    for r in refs[:-1]:
        cluster.add_operation(r)
    results = await asyncio.gather(*(client.get_progress(r) for r in refs), return_exceptions=True)
    assert all(not isinstance(r, BaseException) and r.state is OperationState.COMPLETED for r in results[:-1])
    assert isinstance(results[-1], NotFoundError)


async def test_cancelling_a_call_leaves_nothing_behind(ref: OperationRef) -> None:
    """Cancelling an in-flight request raises CancelledError and leaves no task running."""
    async with FakeCluster() as cluster:
        cluster.add_operation(ref)
        cluster.inject(Fault.slow(5.0))
        async with ProgressClient(cluster.url) as client:
            task = asyncio.create_task(client.get_progress(ref))
            await asyncio.sleep(0.1)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert (await client.get_progress(ref)).state is OperationState.COMPLETED
    assert {t for t in asyncio.all_tasks() if t is not asyncio.current_task()} == set()


async def test_enums_as_integers_below_api_3(cluster: FakeCluster, ref: OperationRef) -> None:
    """The fake answers integer enums below api-version 3.0, which the client refuses to ask for."""
    cluster.add_operation(ref)
    async with aiohttp.ClientSession() as session:
        url = f"{cluster.url}{ref.path}GetRestartProgress?api-version=2.0&OperationId={OID}"
        async with session.get(url) as response:
            assert (await response.json())["State"] == 3
    with pytest.raises(ValueError, match="api_version"):
        ProgressClient(cluster.url, api_version="2.0")


async def test_an_unreachable_gateway_is_said_promptly_not_as_a_timeout() -> None:
    """Nothing listens on the endpoint: the wait ends after the retry policy, with GatewayUnreachable in words.

    (Issue 35, item 7: it spun until the 600 s deadline and then said "timed out (last state: none read)".)
    """
    import socket

    from sf_progress import GatewayUnreachable, Outcome, OutcomeKind, RetryPolicy

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    ref = OperationRef.restart("app~svc", PID, OID)
    async with ProgressClient(f"http://127.0.0.1:{port}", retry=RetryPolicy(attempts=3, budget=5)) as client:
        with pytest.raises(GatewayUnreachable, match=f"connection refused .*port {port}") as info:
            await client.wait_for_completion(ref, deadline=600)
        assert "ClientConnectorError" not in str(info.value)
        assert "ssl:" not in str(info.value)
        async with client.wait_many([ref], deadline=600) as batch:
            outcomes: list[Outcome] = [o async for o in batch]
        assert [o.kind for o in outcomes] == [OutcomeKind.FAILED]
        assert isinstance(outcomes[0].error, GatewayUnreachable)
        assert outcomes[0].elapsed < 60  # the retry policy's budget (virtual seconds), not the 600 s deadline


async def test_an_unreachable_gateway_ends_a_recovery_wait_promptly_too() -> None:
    """wait_for_recovery against nothing: GatewayUnreachable after the retry policy, not a RecoveryTimeout at 600 s."""
    import socket

    from sf_progress import GatewayUnreachable, RetryPolicy

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    ref = OperationRef.restart("app~svc", PID, OID)
    async with ProgressClient(f"http://127.0.0.1:{port}", retry=RetryPolicy(attempts=3, budget=5)) as client:
        with pytest.raises(GatewayUnreachable, match="connection refused"):
            await client.wait_for_recovery(ref, deadline=600)
