"""FakeCluster's wire behaviour (sf-rest-api.md §7), scripting, faults and counters."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator

import aiohttp
import pytest
import pytest_asyncio
from yarl import URL

from sf_progress import (
    Event,
    FaultTarget,
    NotFoundError,
    OperationRef,
    OperationState,
    ProgressClient,
    RecoveryTimeout,
    Retrying,
    RetryPolicy,
)
from sf_progress.testing import HRESULTS, FakeCluster, Fault, Script

from .conftest import OID, PID

PROGRESS = f"/Faults/Services/a~b/$/GetPartitions/{PID}/$/GetRestartProgress"


@pytest_asyncio.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A raw aiohttp session, to send what ProgressClient never would."""
    async with aiohttp.ClientSession() as session:
        yield session


async def call(http: aiohttp.ClientSession, cluster: FakeCluster, method: str, path: str) -> tuple[int, str, object]:
    async with http.request(method, URL(cluster.url + path, encoded=True)) as response:
        body = await response.read()
        data = await response.json(content_type=None) if body and response.content_type == "application/json" else None
        return response.status, response.reason or "", data


@pytest.fixture
def clock(cluster: FakeCluster) -> list[float]:
    """A hand-stepped clock for the cluster."""
    now = [0.0]
    cluster.clock = lambda: now[0]
    return now


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("GET", "/Nope", 400, "E_INVALIDARG"),
        ("POST", f"{PROGRESS}?api-version=3.0&OperationId={OID}", 400, "E_INVALIDARG"),
        ("GET", f"{PROGRESS}?OperationId={OID}", 400, "E_INVALIDARG"),
        ("GET", f"{PROGRESS}?api-version=0.5&OperationId={OID}", 400, "E_INVALIDARG"),
        ("GET", f"{PROGRESS}?api-version=abc&OperationId={OID}", 400, "E_INVALIDARG"),
        ("GET", f"{PROGRESS}?api-version=3.0&OperationId=nope", 400, "E_INVALIDARG"),
        ("GET", f"{PROGRESS}?api-version=3.0", 404, "FABRIC_E_NAME_DOES_NOT_EXIST"),
        ("GET", f"{PROGRESS}?api-version=3.0&operationid={OID}", 404, "FABRIC_E_NAME_DOES_NOT_EXIST"),
        (
            "GET",
            f"/Faults/Services/a~b/$/GetPartitions/zzz/$/GetRestartProgress?api-version=3.0&OperationId={OID}",
            400,
            "E_INVALIDARG",
        ),
        (
            "GET",
            f"/Faults/Services/a~b/%24/GetPartitions/{PID}/%24/GetRestartProgress?api-version=3.0&OperationId={OID}",
            400,
            "E_INVALIDARG",
        ),
        (
            "POST",
            f"/Faults/Services/a~b/$/GetPartitions/{PID}/$/StartRestart?api-version=6.0&OperationId={OID}",
            404,
            "FABRIC_E_NAME_DOES_NOT_EXIST",
        ),
        (
            "POST",
            f"/Faults/Services/a~b/$/GetPartitions/{PID}/$/StartRestart?api-version=6.0&OperationId={OID}"
            "&RestartPartitionMode=Invalid",
            400,
            "E_INVALIDARG",
        ),
        (
            "POST",
            f"/Faults/Services/a~b/$/GetPartitions/{PID}/$/StartRestart?api-version=6.0&OperationId={OID}"
            "&RestartPartitionMode=allreplicasorinstances",
            400,
            "E_INVALIDARG",
        ),
        ("POST", f"/Faults/$/Cancel?api-version=6.0&OperationId={OID}", 400, "E_INVALIDARG"),
        ("GET", "/Faults/?api-version=6.0&TypeFilter=x", 400, "E_INVALIDARG"),
    ],
)
async def test_bad_requests_get_fabric_errors(
    http: aiohttp.ClientSession, cluster: FakeCluster, method: str, path: str, status: int, code: str
) -> None:
    """Bad paths, verbs, versions and arguments get the gateway's status, body and reason phrase."""
    got_status, reason, data = await call(http, cluster, method, path)
    assert (got_status, reason) == (status, code)
    assert isinstance(data, dict)
    assert data["Error"]["Code"] == code
    assert isinstance(data["Error"]["Message"], str)


async def test_lookup_by_operation_id_only(
    http: aiohttp.ClientSession, cluster: FakeCluster, ref: OperationRef
) -> None:
    """Progress is found by OperationId alone; service and partition in the path are ignored."""
    cluster.add_operation(ref)
    other = (
        f"/Faults/Services/x~y/$/GetPartitions/{uuid.uuid4()}/$/GetRestartProgress?api-version=3.0&OperationId={OID}"
    )
    status, _, data = await call(http, cluster, "GET", other)
    assert status == 200
    assert data == {
        "State": "Completed",
        "RestartPartitionResult": {
            "ErrorCode": 0,
            "SelectedPartition": {"ServiceName": "fabric:/myapp/myservice", "PartitionId": str(PID)},
        },
    }


async def test_query_first_occurrence_wins_and_timeout_ignored(
    http: aiohttp.ClientSession, cluster: FakeCluster, ref: OperationRef
) -> None:
    """The first OperationId counts; a non-numeric timeout is ignored."""
    cluster.add_operation(ref)
    path = f"{PROGRESS}?api-version=3.0&OperationId={OID}&OperationId={uuid.uuid4()}&timeout=soon"
    assert (await call(http, cluster, "GET", path))[0] == 200


async def test_hierarchical_and_slash_service_ids_route(http: aiohttp.ClientSession, cluster: FakeCluster) -> None:
    """Pre-6.0 ``a/b`` and raw ``fabric:/a/b`` service ids still route to StartRestart."""
    for sid in ("app/svc", "fabric:/app/svc"):
        op = uuid.uuid4()
        path = (
            f"/Faults/Services/{sid}/$/GetPartitions/{PID}/$/StartRestart?api-version=6.0&OperationId={op}"
            "&RestartPartitionMode=AllReplicasOrInstances"
        )
        assert (await call(http, cluster, "POST", path))[0] == 202
        assert cluster.operation(op).ref.service_id == "app~svc"


async def test_root_and_version(http: aiohttp.ClientSession, cluster: FakeCluster) -> None:
    """GET / answers 200; GetClusterVersion returns the configured version."""
    assert (await call(http, cluster, "GET", "/"))[0] == 200
    assert (await call(http, cluster, "GET", "/$/GetClusterVersion?api-version=6.0"))[2] == {"Version": "9.1.1436.9590"}


async def test_enums_as_integers_below_3(http: aiohttp.ClientSession, cluster: FakeCluster, ref: OperationRef) -> None:
    """Below api-version 3.0, State and Type go out as integers."""
    cluster.add_operation(ref)
    assert (await call(http, cluster, "GET", "/Faults/?api-version=2.0&StateFilter=65535"))[2] == [
        {"OperationId": str(OID), "State": 3, "Type": 4}
    ]


async def test_rolling_back_then_faulted(
    client: ProgressClient, cluster: FakeCluster, clock: list[float], ref: OperationRef
) -> None:
    """A Faulted script runs, rolls back, then reports Faulted with its HRESULT."""
    cluster.add_operation(
        ref,
        Script(duration=2, outcome=OperationState.FAULTED, rollback=3, error_code=HRESULTS["FABRIC_E_NOT_READY"]),
    )
    states = []
    for t in (0, 2, 4.9, 5):
        clock[0] = t
        states.append((await client.get_progress(ref)).state)
    assert states == [
        OperationState.RUNNING,
        OperationState.ROLLING_BACK,
        OperationState.ROLLING_BACK,
        OperationState.FAULTED,
    ]
    assert (await client.get_progress(ref)).error_code == HRESULTS["FABRIC_E_NOT_READY"]


async def test_result_while_running(client: ProgressClient, cluster: FakeCluster, ref: OperationRef) -> None:
    """With result_while_running, Running answers carry a zero result and the empty GUID."""
    cluster.add_operation(ref, Script(duration=100, result_while_running=True))
    progress = await client.get_progress(ref)
    assert progress.state is OperationState.RUNNING
    assert progress.restart_partition_result is not None
    assert progress.restart_partition_result.selected_partition is not None
    assert progress.restart_partition_result.selected_partition.partition_id == uuid.UUID(int=0)


async def test_cancel_during_fault_rollback(
    client: ProgressClient, cluster: FakeCluster, clock: list[float], ref: OperationRef
) -> None:
    """A graceful cancel while rolling back a fault ends Cancelled after the rollback."""
    cluster.add_operation(ref, Script(duration=1, outcome=OperationState.FAULTED, rollback=4))
    clock[0] = 2
    await client.cancel_operation(ref)
    clock[0] = 5
    assert (await client.get_progress(ref)).state is OperationState.CANCELLED


async def test_force_cancel_allowed_while_rolling_back(
    client: ProgressClient, cluster: FakeCluster, clock: list[float], ref: OperationRef
) -> None:
    """Force cancel without a graceful one is allowed while RollingBack."""
    cluster.add_operation(ref, Script(duration=1, outcome=OperationState.FAULTED, rollback=4))
    clock[0] = 2
    await client.cancel_operation(ref, force=True)
    assert (await client.get_progress(ref)).state is OperationState.FORCE_CANCELLED


async def test_retention_purges_and_id_is_reusable(
    client: ProgressClient, clock: list[float], cluster: FakeCluster
) -> None:
    """After the retention time a terminal operation is 404 and its id can be started again."""
    cluster.retention = 10
    ref = await client.start(FaultTarget.restart("a~b", PID, operation_id=OID))
    clock[0] = 9
    assert (await client.get_progress(ref)).state is OperationState.COMPLETED
    clock[0] = 10
    with pytest.raises(Exception, match="FABRIC_E_KEY_NOT_FOUND"):
        await client.get_progress(ref)
    assert await client.start(FaultTarget.restart("a~b", PID, operation_id=OID)) == ref
    clock[0] = 30
    assert await client.list_fault_operations() == []


async def test_service_validation(client: ProgressClient, cluster: FakeCluster, clock: list[float]) -> None:
    """Unknown partitions and stateless + OnlyActiveSecondaries are accepted, then Faulted."""
    cluster.add_service("fabric:/app/stateless", [PID], stateful=False)
    cluster.add_service("fabric:/app/stateful", [PID])
    wrong_partition = await client.start(FaultTarget.restart("app~stateful", uuid.uuid4()))
    stateless = await client.start(FaultTarget.restart("app~stateless", PID, mode="OnlyActiveSecondaries"))
    fine = await client.start(FaultTarget.restart("app~stateless", PID))
    clock[0] = 1
    assert (await client.get_progress(wrong_partition)).error_code == HRESULTS["FABRIC_E_PARTITION_NOT_FOUND"]
    assert (await client.get_progress(stateless)).error_code == HRESULTS["E_INVALIDARG"]
    assert (await client.get_progress(fine)).state is OperationState.COMPLETED


async def test_plan_and_planner(client: ProgressClient, clock: list[float]) -> None:
    """plan() scripts one id; a planner scripts the rest."""
    planned_cluster = FakeCluster(planner=lambda ref: Script(duration=50), clock=lambda: clock[0])
    async with planned_cluster as cluster, ProgressClient(cluster.url) as own:
        cluster.plan(OID, Script(duration=1))
        planned = await own.start(FaultTarget.restart("a~b", PID, operation_id=OID))
        other = await own.start(FaultTarget.restart("a~b", PID))
        clock[0] = 2
        assert (await own.get_progress(planned)).state is OperationState.COMPLETED
        assert (await own.get_progress(other)).state is OperationState.RUNNING


async def test_detection_lag_and_poll_counts(
    client: ProgressClient, cluster: FakeCluster, clock: list[float], ref: OperationRef
) -> None:
    """The fake records polls per operation and the lag from completion to the first poll seeing it."""
    cluster.add_operation(ref, Script(duration=3))
    for t in (1, 2, 4.5, 6):
        clock[0] = t
        await client.get_progress(ref)
    op = cluster.operation(OID)
    assert op.polls == 4
    assert op.detection_lag == pytest.approx(1.5)
    assert cluster.detection_lags() == [pytest.approx(1.5)]
    assert cluster.requests == 4
    assert cluster.by_route["progress"] == 4
    assert "operations=1" in repr(cluster)


async def test_fault_routes_and_retry_after(
    http: aiohttp.ClientSession, cluster: FakeCluster, ref: OperationRef
) -> None:
    """Faults only hit their routes; an injected Retry-After header is sent."""
    cluster.add_operation(ref)
    cluster.inject(Fault.service_unavailable("FABRIC_E_SERVICE_TOO_BUSY", retry_after="2"), routes=["list"])
    assert (await call(http, cluster, "GET", f"{PROGRESS}?api-version=3.0&OperationId={OID}"))[0] == 200
    async with http.get(cluster.url + "/Faults/?api-version=6.0") as response:
        assert (response.status, response.reason, response.headers["Retry-After"]) == (
            503,
            "FABRIC_E_SERVICE_TOO_BUSY",
            "2",
        )
    with pytest.raises(ValueError, match="routes"):
        cluster.inject(Fault.reset(), routes=["nowhere"])


async def test_fault_rate_is_seeded(http: aiohttp.ClientSession, cluster: FakeCluster, ref: OperationRef) -> None:
    """A random fault rate hits about that share of matching requests, and clear_faults stops it."""
    cluster.add_operation(ref)
    cluster.set_fault_rate(0.5, [Fault.gateway_timeout()], seed=3)
    statuses = [
        (await call(http, cluster, "GET", f"{PROGRESS}?api-version=3.0&OperationId={OID}"))[0] for _ in range(100)
    ]
    assert 30 < statuses.count(504) < 70
    cluster.clear_faults()
    assert (await call(http, cluster, "GET", f"{PROGRESS}?api-version=3.0&OperationId={OID}"))[0] == 200


def test_script_validation() -> None:
    """Scripts refuse negative durations and non-terminal outcomes."""
    with pytest.raises(ValueError, match="duration"):
        Script(duration=-1)
    with pytest.raises(ValueError, match="outcome"):
        Script(outcome=OperationState.RUNNING)
    assert Script(outcome=OperationState.FAULTED).final_error_code == HRESULTS["E_ABORT"]


async def test_close_is_idempotent() -> None:
    """FakeCluster.close can be called twice; repr works before start."""
    cluster = FakeCluster()
    assert "not started" in repr(cluster)
    await cluster.start()
    await cluster.close()
    await cluster.close()


async def test_fake_cluster_as_a_process(ref: OperationRef) -> None:
    """``python -m sf_progress.testing`` serves until its stdin closes."""
    import asyncio
    import sys

    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "sf_progress.testing",
        "--duration",
        "0",
        "--watch-stdin",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    assert proc.stdin is not None
    url = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode().strip()
    async with ProgressClient(url) as client:
        started = await client.start(FaultTarget.restart(ref.service_id, ref.partition_id))
        assert (await client.get_progress(started)).state is OperationState.COMPLETED
    proc.stdin.close()
    assert await asyncio.wait_for(proc.wait(), 30) == 0


@pytest.mark.real_wait
async def test_the_process_scripts_outcomes_503s_and_slow_recovery() -> None:
    """From the shell: ``--outcome faulted --recovery inf --inject 503@progress*2`` do what they say.

    (Issue 35, item 26: the fake started from the shell could not script faults, 503s or slow recovery.)
    """
    import sys

    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sf_progress.testing", "--watch-stdin", "--duration", "0.2", "--outcome", "faulted",
        "--inject", "503@progress*2", "--inject", "slow:0.2@start",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    assert proc.stdin is not None
    url = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode().strip()
    events: list[Event] = []
    async with ProgressClient(url, retry=RetryPolicy(initial=0.01, maximum=0.05)) as client:
        ref = await client.start(FaultTarget.restart("fabric:/app/svc", uuid.uuid4()))
        async with client.wait_many([ref], deadline=30, on_event=events.append, coalesce=False) as batch:
            (outcome,) = [o async for o in batch]
    assert outcome.state is OperationState.FAULTED
    assert sum(isinstance(e, Retrying) for e in events) == 2  # the two 503s, retried
    proc.stdin.close()
    assert await asyncio.wait_for(proc.wait(), 30) == 0
    never = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sf_progress.testing", "--watch-stdin", "--recovery", "inf",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )
    assert never.stdout is not None
    assert never.stdin is not None
    url = (await asyncio.wait_for(never.stdout.readline(), 30)).decode().strip()
    async with ProgressClient(url) as client:
        ref = await client.start(FaultTarget.restart("fabric:/app/svc", uuid.uuid4()))
        with pytest.raises(RecoveryTimeout):
            await client.wait_for_completion(ref, deadline=2, recovery=True)
    never.stdin.close()
    assert await asyncio.wait_for(never.wait(), 30) == 0


def test_a_sync_fake_cluster_needs_no_loop_of_yours() -> None:
    """SyncFakeCluster: a FakeCluster for blocking code, scripted through call(), closed twice safely."""
    from sf_progress.sync import SyncProgressClient
    from sf_progress.testing import SyncFakeCluster

    with SyncFakeCluster(default_script=Script(duration=0.2)) as fake:
        fake.call(fake.cluster.inject, Fault.service_unavailable(), routes=["progress"])
        with SyncProgressClient(fake.url, retry=RetryPolicy(initial=0.01)) as client:
            ref = client.start(FaultTarget.restart("fabric:/app/svc", uuid.uuid4()))
            assert client.wait_for_completion(ref, deadline=30).state is OperationState.COMPLETED
        assert fake.cluster.by_route["progress"] >= 2  # the 503, then the reads
        assert fake.url in repr(fake)
    fake.close()


@pytest.mark.real_wait
async def test_the_process_declares_partitions_from_the_start() -> None:
    """``--partition SERVICE=GUID`` (repeatable): those partitions exist (and recover) before any fault."""
    import asyncio
    import sys
    import uuid

    first, second = uuid.uuid4(), uuid.uuid4()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sf_progress.testing", "--watch-stdin",
        "--partition", f"fabric:/app/svc={first}", "--partition", f"fabric:/app/svc={second}",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    assert proc.stdin is not None
    url = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode().strip()
    async with ProgressClient(url) as client:
        for pid in (first, second):
            recovery = await client.wait_for_recovery(OperationRef.restart("fabric:/app/svc", pid, uuid.uuid4()))
            assert recovery.recovered
        with pytest.raises(NotFoundError):
            await client.wait_for_recovery(OperationRef.restart("fabric:/app/svc", uuid.uuid4(), uuid.uuid4()))
    proc.stdin.close()
    assert await asyncio.wait_for(proc.wait(), 30) == 0


async def test_ipv6_host_url_has_brackets() -> None:
    """FakeCluster(host='::1').url is a usable URL: the IPv6 literal is bracketed."""
    cluster = FakeCluster(host="::1")
    try:
        await cluster.start()
    except OSError:
        pytest.skip("no IPv6 loopback on this machine")
    try:
        assert cluster.url.startswith("http://[::1]:")
        async with ProgressClient(cluster.url) as client:
            assert await client.get_cluster_version()
    finally:
        await cluster.close()


@pytest.mark.parametrize("sid", ["app~sv%ZZc", "app~svc%F", "app~sv%FFc"])
async def test_start_with_malformed_percent_encoding_is_refused(cluster: FakeCluster, sid: str) -> None:
    """A service id with a bad or non-UTF-8 percent escape is a 400, not a 202."""
    async with aiohttp.ClientSession() as session:
        url = (
            f"{cluster.url}/Faults/Services/{sid}/$/GetPartitions/{PID}/$/StartRestart"
            f"?api-version=6.0&OperationId={uuid.uuid4()}&RestartPartitionMode=AllReplicasOrInstances"
        )
        async with session.post(URL(url, encoded=True)) as response:
            assert response.status == 400
    assert not cluster.operations


async def test_options_star_is_a_fabric_error(cluster: FakeCluster) -> None:
    """`OPTIONS *` (what aiohttp itself would answer with plain text) gets a FabricError body."""
    host, port = cluster.url.removeprefix("http://").rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(b"OPTIONS * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    answer = await reader.read()
    writer.close()
    await writer.wait_closed()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 E_INVALIDARG")
    assert json.loads(body)["Error"]["Code"] == "E_INVALIDARG"


@pytest.mark.parametrize(
    "args",
    [["--port", "-1"], ["--port", "99999"], ["--duration", "nan"], ["--duration", "-2"], ["--host", "no.such.invalid"],
     ["--outcome", "exploded"], ["--recovery", "nan"], ["--inject", "418"], ["--inject", "503@nowhere"],
     ["--inject", "503*0"], ["--inject", "slow:soon"], ["--flaky", "2"]],
)
def test_server_module_bad_arguments_give_messages_not_tracebacks(args: list[str]) -> None:
    """python -m sf_progress.testing with a bad --port/--duration/--host: a message and exit 1 or 2."""
    proc = subprocess.run(
        [sys.executable, "-m", "sf_progress.testing", *args], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode in (1, 2)
    assert "Traceback" not in proc.stderr
    assert "python -m sf_progress.testing" in proc.stderr


async def _listed(http: aiohttp.ClientSession, cluster: FakeCluster, query: str) -> list[dict[str, object]]:
    status, _, body = await call(http, cluster, "GET", f"/Faults/?api-version=6.0{query}")
    assert status == 200
    assert isinstance(body, list)
    return body


async def test_list_filters_as_the_gateway_reads_them(http: aiohttp.ClientSession, cluster: FakeCluster) -> None:
    """A missing or 0 StateFilter lists nothing; TypeFilter 0 (or missing) means every type."""
    ref = OperationRef.restart("app~svc", PID, uuid.uuid4())
    cluster.add_operation(ref, Script(duration=100))
    assert await _listed(http, cluster, "") == []
    assert await _listed(http, cluster, "&TypeFilter=4&StateFilter=0") == []
    assert len(await _listed(http, cluster, "&StateFilter=1")) == 1
    assert len(await _listed(http, cluster, "&TypeFilter=0&StateFilter=3")) == 1
    assert await _listed(http, cluster, "&TypeFilter=1&StateFilter=3") == []  # data loss only


async def test_list_filters_are_over_inclusive(
    http: aiohttp.ClientSession, cluster: FakeCluster, clock: list[float]
) -> None:
    """StateFilter=Running also lists RollingBack operations; Faulted also lists cancelled ones."""
    rolling, cancelled = (OperationRef.restart("app~svc", PID, uuid.uuid4()) for _ in range(2))
    cluster.add_operation(rolling, Script(duration=1, outcome=OperationState.FAULTED, rollback=100))
    cluster.add_operation(cancelled, Script(duration=100, rollback=0))
    cluster.operation(cancelled.operation_id).cancelled_at = clock[0]
    clock[0] += 2
    assert await _listed(http, cluster, "&StateFilter=1") == [
        {"OperationId": str(rolling.operation_id), "State": "RollingBack", "Type": "PartitionRestart"}
    ]
    assert await _listed(http, cluster, "&StateFilter=16") == [
        {"OperationId": str(cancelled.operation_id), "State": "Cancelled", "Type": "PartitionRestart"}
    ]


async def test_list_caps_at_10000_with_active_operations_first(
    http: aiohttp.ClientSession, cluster: FakeCluster, clock: list[float]
) -> None:
    """At most 10,000 items, no paging; the active table comes before the history."""
    for i in range(10_050):
        cluster.add_operation(OperationRef.restart("app~svc", PID, uuid.uuid4()), Script(duration=0 if i < 60 else 100))
    clock[0] += 1
    items = await _listed(http, cluster, "&StateFilter=65535")
    assert len(items) == 10_000
    assert [item["State"] for item in items[:9_990]] == ["Running"] * 9_990
    assert {item["State"] for item in items[9_990:]} == {"Completed"}


@pytest.mark.parametrize("status", [400, 404, 405])
async def test_list_can_be_unsupported(http: aiohttp.ClientSession, cluster: FakeCluster, status: int) -> None:
    """list_unsupported makes the list call answer as a gateway without it does."""
    cluster.list_unsupported = status
    assert (await call(http, cluster, "GET", "/Faults/?api-version=6.0&StateFilter=3"))[0] == status
