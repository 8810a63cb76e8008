"""Data loss, quorum loss and node transitions beside restarts, over a real loopback FakeCluster."""

from __future__ import annotations

import random
import uuid
from collections import Counter

import aiohttp
import pytest
from yarl import URL

from sf_progress import (
    BadRequestError,
    DataLossMode,
    FaultTarget,
    NodeTransitionProgress,
    NodeTransitionType,
    OperationKindError,
    OperationRef,
    OperationState,
    OperationType,
    OutcomeKind,
    PartitionDataLossProgress,
    PartitionQuorumLossProgress,
    PartitionRestartProgress,
    ProgressClient,
    QuorumLossMode,
)
from sf_progress.testing import HRESULTS, FakeCluster, Fault, Script

from .conftest import PID

SVC = "fabric:/app/svc"
PROGRESS_TYPES = {
    OperationType.PARTITION_RESTART: PartitionRestartProgress,
    OperationType.PARTITION_DATA_LOSS: PartitionDataLossProgress,
    OperationType.PARTITION_QUORUM_LOSS: PartitionQuorumLossProgress,
    OperationType.NODE_TRANSITION: NodeTransitionProgress,
}


async def test_data_loss_start_read_wait(client: ProgressClient, cluster: FakeCluster) -> None:
    """A data loss starts, reads Running, and ends Completed with its selected partition."""
    cluster.default_script = Script(duration=5)
    ref = await client.start(FaultTarget.data_loss(SVC, PID, mode="FullDataLoss"))
    assert ref.kind is OperationType.PARTITION_DATA_LOSS
    running = await client.get_progress(ref)
    assert (running.state, running.error_code, running.invoke_data_loss_result) == (OperationState.RUNNING, None, None)
    done = await client.wait_for_completion(ref)
    assert isinstance(done, PartitionDataLossProgress)
    assert done.state is OperationState.COMPLETED
    assert done.invoke_data_loss_result is not None
    assert done.invoke_data_loss_result.selected_partition is not None
    assert done.invoke_data_loss_result.selected_partition.partition_id == PID
    assert done.error_code == 0
    assert cluster.operation(ref.operation_id).mode == "FullDataLoss"
    assert str(PID) in repr(done)
    assert await client.get_progress(ref) == done


async def test_quorum_loss_stays_running_for_its_duration(client: ProgressClient, cluster: FakeCluster) -> None:
    """A quorum loss of 30 s is Running for at least 30 s, then Completed."""
    ref = await client.start(FaultTarget.quorum_loss(SVC, PID, duration=30, mode=QuorumLossMode.ALL_REPLICAS))
    started = client.clock.monotonic()
    done = await client.wait_for_completion(ref, coalesce=False)
    assert isinstance(done, PartitionQuorumLossProgress)
    assert done.state is OperationState.COMPLETED
    assert done.invoke_quorum_loss_result is not None
    assert client.clock.monotonic() - started >= 30
    assert (await client.get_progress(OperationRef.quorum_loss(SVC, PID, ref.operation_id))).state is OperationState.COMPLETED
    assert "QuorumLossDuration=30" in next(path for method, path in cluster.seen if method == "POST")


async def test_node_stop_reads_the_instance_id_and_reports_the_node(
    client: ProgressClient, cluster: FakeCluster
) -> None:
    """A node stop without node_instance_id asks GET /Nodes/{name}; the result names node and instance."""
    cluster.default_script = Script(duration=3)
    ref = await client.start(FaultTarget.node_transition("_Node_1", "STOP", stop_duration=300))
    assert ref.kind is OperationType.NODE_TRANSITION
    assert ref.node_name == "_Node_1"
    done = await client.wait_for_completion(ref)
    assert isinstance(done, NodeTransitionProgress)
    result = done.node_transition_result
    assert result is not None
    assert result.node_result is not None
    assert result.node_result.node_name == "_Node_1"
    assert result.node_result.node_instance_id == str(cluster.nodes["_Node_1"])
    assert ("GET", "/Nodes/_Node_1?api-version=6.0&timeout=60") in cluster.seen
    assert "_Node_1" in repr(done)
    again = await client.get_progress(OperationRef.node_transition("_Node_1", ref.operation_id))
    assert again == done


async def test_node_start_with_an_instance_id_sends_no_lookup(client: ProgressClient, cluster: FakeCluster) -> None:
    """With node_instance_id given, no node lookup is sent; start transitions carry it."""
    ref = await client.start(FaultTarget.node_transition("_Node_2", NodeTransitionType.START, node_instance_id=77))
    assert not any(path.startswith("/Nodes/") for _, path in cluster.seen)
    assert "NodeInstanceId=77" in cluster.seen[-1][1]
    assert (await client.wait_for_completion(ref)).state is OperationState.COMPLETED


@pytest.mark.parametrize(
    ("start", "code"),
    [
        ("node", "FABRIC_E_NODE_NOT_FOUND"),
        ("stateless", "FABRIC_E_INVALID_FOR_STATELESS_SERVICES"),
        ("scripted", "FABRIC_E_NODE_IS_UP"),
    ],
)
async def test_asynchronous_failures_are_faulted_with_their_code(
    client: ProgressClient, cluster: FakeCluster, start: str, code: str
) -> None:
    """Bad targets are accepted (202) and end Faulted with the HRESULT of the problem."""
    if start == "node":
        ref = await client.start(FaultTarget.node_transition("_Nowhere", "stop", node_instance_id=5))
    elif start == "stateless":
        cluster.add_service(SVC, [PID], stateful=False)
        ref = await client.start(FaultTarget.data_loss(SVC, PID))
    else:
        op_id = uuid.uuid4()
        cluster.plan(op_id, Script(duration=1, outcome=OperationState.FAULTED, error_code=HRESULTS[code]))
        ref = await client.start(FaultTarget.node_transition("_Node_0", "start", operation_id=op_id))
    done = await client.wait_for_completion(ref)
    assert done.state is OperationState.FAULTED
    assert done.error_code == HRESULTS[code]


async def test_cancel_a_data_loss(client: ProgressClient, cluster: FakeCluster) -> None:
    """A data loss can be cancelled like a restart; a cancelled operation carries no result."""
    cluster.default_script = Script(duration=100, rollback=2)
    ref = await client.start(FaultTarget.data_loss(SVC, PID))
    await client.cancel_operation(ref)
    done = await client.wait_for_completion(ref)
    assert done.state is OperationState.CANCELLED
    assert done.error_code is None


async def test_a_retried_node_start_that_meets_busy_is_confirmed_by_its_progress(
    client: ProgressClient, cluster: FakeCluster
) -> None:
    """The first try lands but its answer is cut; the retry meets 400 busy; the progress read confirms it."""
    cluster.default_script = Script(duration=50)
    cluster.inject(Fault.truncated(), routes=["start"])
    ref = await client.start(FaultTarget.node_transition("_Node_3", "stop", node_instance_id=9))
    assert cluster.by_route["start"] == 2
    assert cluster.state_of(ref.operation_id) is OperationState.RUNNING
    assert len(cluster.operations) == 1


async def test_a_busy_node_is_an_error_for_another_transition(client: ProgressClient, cluster: FakeCluster) -> None:
    """A second transition on a node that is still transitioning: 400 FABRIC_E_NODE_TRANSITION_IN_PROGRESS."""
    cluster.default_script = Script(duration=50)
    await client.start(FaultTarget.node_transition("_Node_4", "stop", node_instance_id=9))
    with pytest.raises(BadRequestError) as info:
        await client.start(FaultTarget.node_transition("_Node_4", "start", node_instance_id=9))
    assert info.value.code == "FABRIC_E_NODE_TRANSITION_IN_PROGRESS"


async def test_quorum_loss_falls_back_to_the_runtime_spelling(client: ProgressClient, cluster: FakeCluster) -> None:
    """A gateway refusing QuorumReplicas (400 E_INVALIDARG) is asked once more with QuorumLossReplicas."""
    cluster.quorum_loss_modes = ("QuorumLossReplicas", "AllReplicas")
    ref = await client.start(FaultTarget.quorum_loss(SVC, PID, duration=5))
    posts = [path for method, path in cluster.seen if method == "POST"]
    assert ["QuorumLossMode=QuorumReplicas" in posts[0], "QuorumLossMode=QuorumLossReplicas" in posts[1]] == [
        True,
        True,
    ]
    assert cluster.operation(ref.operation_id).mode == "QuorumLossReplicas"


async def test_a_read_of_another_kind_is_one_request_and_a_typed_error(
    client: ProgressClient, cluster: FakeCluster
) -> None:
    """Reading a data loss as a restart (or a restart as a node transition): one request, OperationKindError."""
    ref = await client.start(FaultTarget.data_loss(SVC, PID))
    before = cluster.requests
    with pytest.raises(OperationKindError, match="kind") as info:
        await client.get_restart_progress(SVC, PID, ref.operation_id)
    assert info.value.status == 500
    assert cluster.requests == before + 1
    restart = await client.start(FaultTarget.restart(SVC, PID))
    with pytest.raises(OperationKindError):
        await client.get_progress(OperationRef.data_loss(SVC, PID, restart.operation_id))
    with pytest.raises(TypeError):  # the ref goes to get_progress, which reads it as its own kind
        await client.get_restart_progress(ref)  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda c: c.start(FaultTarget.node_transition("_Node_0", "stop", stop_duration=100)), "stop_duration"),
        (lambda c: c.start(FaultTarget.node_transition("_Node_0", "stop", stop_duration=20000)), "stop_duration"),
        (lambda c: c.start(FaultTarget.node_transition("_Node_0", "pause")), "transition"),
        (lambda c: c.start(FaultTarget.node_transition("_Node_0", "stop", node_instance_id=0)), "node_instance_id"),
        (lambda c: c.start(FaultTarget.node_transition("bad/name", "stop")), "node_name"),
        (lambda c: c.start(FaultTarget.quorum_loss(SVC, PID, duration=0)), "duration"),
        (lambda c: c.start(FaultTarget.quorum_loss(SVC, PID, duration=1.5)), "duration"),
        (lambda c: c.start(FaultTarget.quorum_loss(SVC, PID, duration=10, mode="Most")), "mode"),
        (lambda c: c.start(FaultTarget.data_loss(SVC, PID, mode="SomeDataLoss")), "mode"),
    ],
)
async def test_bad_arguments_fail_before_any_request(
    client: ProgressClient, cluster: FakeCluster, call: object, match: str
) -> None:
    """Bad durations, modes, transitions and instance ids are ValueErrors; nothing (not even a lookup) is sent."""
    with pytest.raises(ValueError, match=match):
        await call(client)  # type: ignore[operator]
    assert cluster.requests == 0


async def test_the_fake_gateway_checks_node_starts(cluster: FakeCluster) -> None:
    """NodeInstanceId=0 and an out-of-range stop duration are refused as the runtime does."""
    base = f"{cluster.url}/Faults/Nodes/_Node_0/$/StartTransition/?api-version=6.0&OperationId={uuid.uuid4()}"
    async with aiohttp.ClientSession() as http:
        async with http.post(
            URL(base + "&NodeTransitionType=Stop&NodeInstanceId=0&StopDurationInSeconds=600", encoded=True)
        ) as r:
            assert (r.status, r.reason) == (400, "FABRIC_E_INVALID_INSTANCE_ID")
        async with http.post(
            URL(base + "&NodeTransitionType=Stop&NodeInstanceId=3&StopDurationInSeconds=99", encoded=True)
        ) as r:
            assert (r.status, r.reason) == (400, "FABRIC_E_INVALID_DURATION")
        async with http.post(URL(base + "&NodeTransitionType=Pause&NodeInstanceId=3", encoded=True)) as r:
            assert (r.status, r.reason) == (400, "E_INVALIDARG")
        async with http.get(f"{cluster.url}/Nodes/_Node_9?api-version=6.0") as r:
            assert (r.status, await r.read()) == (204, b"")  # an unknown node: an empty 204 (the spec)


async def test_list_takes_every_type(client: ProgressClient, cluster: FakeCluster) -> None:
    """list_fault_operations lists and filters all four kinds."""
    cluster.default_script = Script(duration=100)
    await client.start(FaultTarget.restart(SVC, PID))
    await client.start(FaultTarget.data_loss(SVC, PID))
    await client.start(FaultTarget.quorum_loss(SVC, PID, duration=100))
    await client.start(FaultTarget.node_transition("_Node_0", "stop", node_instance_id=1))
    listed = await client.list_fault_operations()
    assert Counter(op.type for op in listed) == Counter(list(PROGRESS_TYPES))
    only = await client.list_fault_operations(
        type_filter=[OperationType.NODE_TRANSITION, OperationType.PARTITION_DATA_LOSS]
    )
    assert {op.type for op in only} == {OperationType.NODE_TRANSITION, OperationType.PARTITION_DATA_LOSS}


@pytest.mark.parametrize("coalesce", [None, False])
async def test_a_mixed_batch_of_400_through_faults(
    client: ProgressClient, cluster: FakeCluster, coalesce: bool | None
) -> None:
    """400 operations of four kinds in one wait_many, through transient faults: one true outcome each, of its kind."""
    rng = random.Random(9)

    def planner(ref: OperationRef) -> Script:
        outcome = OperationState.FAULTED if rng.random() < 0.2 else OperationState.COMPLETED
        return Script(duration=rng.uniform(0.5, 30), outcome=outcome, rollback=rng.uniform(0, 3))

    cluster.planner = planner
    for i in range(20):
        cluster.add_node(f"n{i}", 1000 + i)
    refs: list[OperationRef] = []
    for i in range(100):
        refs.append(await client.start(FaultTarget.restart(SVC, PID)))
        refs.append(await client.start(FaultTarget.data_loss(SVC, PID, mode=DataLossMode.PARTIAL_DATA_LOSS)))
        refs.append(await client.start(FaultTarget.quorum_loss(SVC, PID, duration=1)))
        refs.append(OperationRef.node_transition(f"n{i % 20}", uuid.uuid4()))
        if i < 20:
            refs[-1] = await client.start(FaultTarget.node_transition(f"n{i}", "stop", node_instance_id=1000 + i))
    cluster.set_fault_rate(
        0.1, [Fault.service_unavailable(), Fault.reset(), Fault.gateway_timeout()], routes=["progress", "list"]
    )
    async with client.wait_many(refs, coalesce=coalesce) as batch:
        outcomes = [o async for o in batch]
    assert len(outcomes) == 400
    assert {o.ref for o in outcomes} == set(refs)
    for outcome in outcomes:
        if outcome.ref.operation_id not in cluster.operations:  # never started: not found
            assert outcome.kind is OutcomeKind.NOT_FOUND
            continue
        assert isinstance(outcome.progress, PROGRESS_TYPES[outcome.ref.kind])
        assert outcome.state is cluster.state_of(outcome.ref.operation_id)
    kinds = Counter(o.kind for o in outcomes)
    assert kinds[OutcomeKind.NOT_FOUND] == 80
    assert kinds[OutcomeKind.FAULTED] > 20
