"""Recovered, not just ended: ``wait_for_recovery`` and ``recovery=True``, over the real loopback FakeCluster."""

from __future__ import annotations

import collections
import math
import uuid
from typing import Any

import pytest

from sf_progress import (
    Backoff,
    FaultTarget,
    HealthState,
    NodeTransitionType,
    NotFoundError,
    OperationRef,
    OutcomeKind,
    ProgressClient,
    Recovery,
    RecoveryTimeout,
    WaitTimeout,
)
from sf_progress._wait.recovery import judge_node, judge_partition
from sf_progress.testing import FakeCluster, Fault, Script

SVC = "fabric:/app/svc"
EVERY_HALF_SECOND = Backoff(initial=0.5, multiplier=1.0, maximum=0.5, jitter=0.0)


async def start_and_end(client: ProgressClient, cluster: FakeCluster, script: Script, kind: str = "restart") -> OperationRef:
    """Start one fault that follows *script*, and wait until the fault itself has ended."""
    target = {
        "restart": lambda: FaultTarget.restart(SVC, uuid.uuid4()),
        "data_loss": lambda: FaultTarget.data_loss(SVC, uuid.uuid4()),
        "quorum_loss": lambda: FaultTarget.quorum_loss(SVC, uuid.uuid4(), duration=3),
    }[kind]()
    cluster.plan(target.operation_id, script)
    ref = await client.start(target)
    await client.wait_for_completion(ref)
    return ref


@pytest.mark.parametrize("kind", ["restart", "data_loss", "quorum_loss"])
async def test_a_partition_recovers_when_its_scripted_time_has_passed(
    client: ProgressClient, cluster: FakeCluster, kind: str
) -> None:
    """Recovered within one check interval of the scripted recovery time, for every partition kind."""
    ref = await start_and_end(client, cluster, Script(duration=4, recovery=12), kind)
    ended = cluster.operation(ref.operation_id).state_at(client.clock.monotonic())[1]
    assert ended is not None
    started = client.clock.monotonic()
    recovery = await client.wait_for_recovery(ref, backoff=EVERY_HALF_SECOND)
    back = started + recovery.elapsed - ended  # seconds from the fault's end to the check that saw it back
    assert 12 <= back <= 12 + 0.5 + 0.25  # one check interval (+ the real time a loaded machine adds)
    assert recovery.recovered
    assert recovery.reason is None
    assert recovery.checks > 1
    assert recovery.partition is not None
    assert (recovery.partition.status, recovery.partition.ready, recovery.partition.in_build) == ("Ready", 3, 0)


async def test_health_alone_is_not_enough(client: ProgressClient, cluster: FakeCluster) -> None:
    """Health Ok while a replica is still InBuild: not recovered yet, and the reason says so."""
    ref = await start_and_end(client, cluster, Script(duration=1, recovery=100))
    with pytest.raises(RecoveryTimeout) as info:
        await client.wait_for_recovery(ref, deadline=70, backoff=EVERY_HALF_SECOND)  # inside the "late" half
    recovery = info.value.recovery
    assert not recovery.recovered
    assert recovery.reason == "2 of 3 replicas Ready, 1 InBuild"
    assert recovery.partition is not None
    assert recovery.partition.health is HealthState.OK


async def test_a_target_that_never_recovers_times_out_with_its_reason(
    client: ProgressClient, cluster: FakeCluster
) -> None:
    """RecoveryTimeout (a WaitTimeout) at the deadline, carrying the last Recovery and what was wrong."""
    ref = await start_and_end(client, cluster, Script(duration=1, recovery=math.inf))
    started = client.clock.monotonic()
    with pytest.raises(RecoveryTimeout) as info:
        await client.wait_for_recovery(ref, deadline=30)
    assert isinstance(info.value, WaitTimeout)
    assert 30 <= client.clock.monotonic() - started <= 31
    recovery = info.value.recovery
    assert (recovery.recovered, recovery.reason) == (False, "partition health Warning")
    assert recovery.ref == ref
    assert "did not recover within 30s: partition health Warning" in str(info.value)


async def test_an_absent_partition_is_not_found(client: ProgressClient, cluster: FakeCluster) -> None:
    """A partition the cluster does not know (health 404, then info 204): NotFoundError, at once."""
    ref = OperationRef.restart(SVC, uuid.uuid4(), uuid.uuid4())
    with pytest.raises(NotFoundError, match="204"):
        await client.wait_for_recovery(ref)
    assert cluster.by_route["health"] == 1
    assert cluster.by_route["info"] == 1


async def test_no_health_report_yet_is_waited_out(client: ProgressClient, cluster: FakeCluster) -> None:
    """404 FABRIC_E_HEALTH_ENTITY_NOT_FOUND on an existing partition means "not yet": then Ok, recovered."""
    ref = await start_and_end(client, cluster, Script(duration=1))
    assert ref.partition_id is not None
    cluster.targets.hide_health(ref.partition_id, 5)
    started = client.clock.monotonic()
    recovery = await client.wait_for_recovery(ref, backoff=EVERY_HALF_SECOND)
    assert recovery.recovered
    assert 5 <= client.clock.monotonic() - started <= 5.6


async def test_transient_answers_on_every_new_route_are_retried(client: ProgressClient, cluster: FakeCluster) -> None:
    """503s, resets and 504s on the health and info reads (and the node list) do not end the wait."""
    ref = await start_and_end(client, cluster, Script(duration=1, recovery=3))
    cluster.inject(Fault.service_unavailable(), Fault.reset(), Fault.service_unavailable("FABRIC_E_TIMEOUT"),
                   routes=["health", "info"], times=3)
    recovery = await client.wait_for_recovery(ref, backoff=EVERY_HALF_SECOND)
    assert recovery.recovered
    assert cluster.pending_faults == 0


async def test_replicas_are_read_on_every_page(client: ProgressClient, cluster: FakeCluster) -> None:
    """GetReplicas is paged (ContinuationToken): every page counts."""
    cluster.targets.page_size = 1
    ref = await start_and_end(client, cluster, Script(duration=1, recovery=100))
    seen_before = len(cluster.seen)
    with pytest.raises(RecoveryTimeout) as info:
        await client.wait_for_recovery(ref, deadline=60, backoff=EVERY_HALF_SECOND)
    assert info.value.recovery.reason == "2 of 3 replicas Ready, 1 InBuild"  # the InBuild one is on page 3
    pages = [path for _, path in cluster.seen[seen_before:] if "GetReplicas" in path]
    assert any("ContinuationToken=" in path for path in pages)


async def test_a_node_start_recovers_on_a_new_instance_and_a_stop_ends_stopped(
    client: ProgressClient, cluster: FakeCluster
) -> None:
    """Start: Up, not stopped, a new instance id, health Ok; stop: Down and stopped is its end state."""
    stop = FaultTarget.node_transition("_Node_1", "stop", stop_duration=600)
    cluster.plan(stop.operation_id, Script(duration=2))
    await client.start(stop)
    await client.wait_for_completion(stop.ref)
    stopped = await client.wait_for_recovery(stop.ref)
    assert stopped.node is not None
    assert (stopped.node.status, stopped.node.is_stopped, stopped.node.health) == ("Down", True, None)
    start = FaultTarget.node_transition("_Node_1", "start")
    cluster.plan(start.operation_id, Script(duration=3, recovery=8))
    await client.start(start)
    progress = await client.wait_for_completion(start.ref)
    given = progress.result.node_result.node_instance_id  # type: ignore[union-attr]
    ended = cluster.operation(start.operation_id).state_at(client.clock.monotonic())[1]
    assert ended is not None
    started = client.clock.monotonic()
    recovery = await client.wait_for_recovery(start.ref, backoff=EVERY_HALF_SECOND)
    assert recovery.node is not None
    assert (recovery.node.status, recovery.node.is_stopped, recovery.node.health) == ("Up", False, HealthState.OK)
    assert recovery.node.instance_id != given
    back = started + recovery.elapsed - ended  # from the fault's end (not from when its end was read)
    assert 8 <= back <= 8 + 0.5 + 0.25


async def test_a_node_transition_started_elsewhere_takes_its_transition_from_the_caller(
    cluster: FakeCluster,
) -> None:
    """Another client's stop: ``transition="stop"`` says what end state to expect."""
    async with ProgressClient(cluster.url) as starter:
        ref = await starter.start(FaultTarget.node_transition("_Node_2", "stop", stop_duration=600))
        await starter.wait_for_completion(ref)
    async with ProgressClient(cluster.url) as other:
        recovery = await other.wait_for_recovery(ref, transition=NodeTransitionType.STOP)
        assert recovery.recovered
        with pytest.raises(RecoveryTimeout, match="a stop ends Down"):
            await other.wait_for_recovery(OperationRef.node_transition("_Node_3", uuid.uuid4()), deadline=3,
                                          transition="stop")


async def test_wait_for_completion_with_recovery(client: ProgressClient, cluster: FakeCluster) -> None:
    """``recovery=True``: returns once recovered; a target that never recovers raises RecoveryTimeout."""
    good = await client.start(FaultTarget.restart(SVC, uuid.uuid4()))
    progress = await client.wait_for_completion(good, recovery=True)
    assert progress.state.value == "Completed"
    bad = FaultTarget.restart(SVC, uuid.uuid4())
    cluster.plan(bad.operation_id, Script(duration=2, recovery=math.inf))
    await client.start(bad)
    with pytest.raises(RecoveryTimeout) as info:
        await client.wait_for_completion(bad.ref, recovery=True, deadline=40)
    assert info.value.last_progress is not None
    assert info.value.last_progress.state.value == "Completed"


async def test_a_batch_of_mixed_kinds_where_some_never_recover(client: ProgressClient, cluster: FakeCluster) -> None:
    """300 faults of every kind with recovery=True: one outcome each, decided by recovery; the others unaffected."""
    for i in range(40):
        cluster.add_node(f"_Extra_{i}", 133_000_000_000_000_000 + i)
    targets: list[FaultTarget] = []
    for i in range(260):
        pid = uuid.uuid4()
        targets.append([FaultTarget.restart, FaultTarget.data_loss][i % 2](SVC, pid))
    targets += [FaultTarget.quorum_loss(SVC, uuid.uuid4(), duration=5) for _ in range(20)]
    targets += [FaultTarget.node_transition(f"_Extra_{i}", "stop") for i in range(20)]
    never = {t.operation_id for t in targets[::10]}
    for i, target in enumerate(targets):
        recovery = math.inf if target.operation_id in never else float(i % 7)
        cluster.plan(target.operation_id, Script(duration=1 + i % 5, recovery=recovery))
    refs = [await client.start(target) for target in targets]
    async with client.wait_many(refs, recovery=True, deadline=120) as batch:
        outcomes = {o.ref.operation_id: o async for o in batch}
        snapshot = batch.snapshot()
    assert len(outcomes) == 300
    assert snapshot.recovering == 0
    kinds = collections.Counter(o.kind for o in outcomes.values())
    assert kinds == {OutcomeKind.COMPLETED: 300}
    for op_id, outcome in outcomes.items():
        assert isinstance(outcome.recovery, Recovery)
        node = outcome.ref.node_name is not None
        expected = node or op_id not in never  # a stop's end state is reached at once
        assert outcome.recovery.recovered is expected, (outcome.ref, outcome.recovery)
        if not expected:
            assert outcome.recovery.reason


async def test_operations_on_one_partition_share_one_check(client: ProgressClient, cluster: FakeCluster) -> None:
    """Three faults on one partition, waited on together: one check per round, not three."""
    pid = uuid.uuid4()
    refs = []
    for _ in range(3):
        target = FaultTarget.restart(SVC, pid)
        cluster.plan(target.operation_id, Script(duration=1, recovery=20))
        refs.append(await client.start(target))
    async with client.wait_many(refs, recovery=True, backoff=EVERY_HALF_SECOND, coalesce=False) as batch:
        outcomes = [o async for o in batch]
    assert all(o.recovery is not None and o.recovery.recovered for o in outcomes)
    checks = max(o.recovery.checks for o in outcomes if o.recovery is not None)
    assert cluster.by_route["health"] <= checks + 3  # shared: about one health read per round


def test_faulted_or_cancelled_operations_are_not_waited_on_for_recovery() -> None:
    """Only Completed faults enter the recovery phase (the engine's rule, read in the code path)."""
    from sf_progress._wait.machine import Outcome

    outcome = Outcome(OperationRef.restart(SVC, uuid.uuid4(), uuid.uuid4()), OutcomeKind.FAULTED, None, None, 1, 1.0)
    assert outcome.recovery is None


async def test_a_faulted_fault_is_delivered_without_a_recovery(client: ProgressClient, cluster: FakeCluster) -> None:
    """A Faulted operation in a recovery batch: its outcome at once, with recovery None."""
    from sf_progress import OperationState

    target = FaultTarget.restart(SVC, uuid.uuid4())
    cluster.plan(target.operation_id, Script(duration=1, outcome=OperationState.FAULTED, recovery=math.inf))
    await client.start(target)
    async with client.wait_many([target.ref], recovery=True, deadline=30) as batch:
        (outcome,) = [o async for o in batch]
    assert outcome.kind is OutcomeKind.FAULTED
    assert outcome.recovery is None


@pytest.mark.parametrize(
    ("info", "replicas", "up", "ok", "reason"),
    [
        ({"ServiceKind": "Stateful", "PartitionStatus": "Ready", "TargetReplicaSetSize": 3}, ["Ready"] * 3, None, True, None),
        ({"ServiceKind": "Stateful", "PartitionStatus": "InQuorumLoss", "TargetReplicaSetSize": 3}, [], None, False,
         "partition InQuorumLoss"),
        ({"ServiceKind": "Stateful", "PartitionStatus": "Ready", "TargetReplicaSetSize": 5}, ["Ready"] * 3, 3, True, None),
        ({"ServiceKind": "Stateful", "PartitionStatus": "Ready", "TargetReplicaSetSize": 5}, ["Ready"] * 3, 4, False,
         "3 of 4 replicas Ready"),
        ({"ServiceKind": "Stateless", "PartitionStatus": "Ready", "InstanceCount": -1}, ["Ready"] * 4, 5, False,
         "4 of 5 instances Ready"),
        ({"ServiceKind": "Stateless", "PartitionStatus": "Ready", "InstanceCount": -1}, ["Ready"] * 5, 5, True, None),
        # Issue 35, item 21: missing facts are "unknown", never "recovered".
        ({"ServiceKind": "Stateless", "PartitionStatus": "Ready", "InstanceCount": -1}, [], 0, False,
         "no instances Ready"),
        ({"ServiceKind": "Stateless", "PartitionStatus": "Ready", "InstanceCount": -1}, ["Down"], 0, False,
         "no instances Ready"),
        ({"ServiceKind": "Stateful", "PartitionStatus": "Ready"}, [], None, False, "no replicas Ready"),
        ({"ServiceKind": "Stateful", "PartitionStatus": "Ready"}, ["Ready"] * 2, None, False,
         "the partition's target number of replicas is not known"),
        ({"ServiceKind": "Stateless", "PartitionStatus": "Ready", "InstanceCount": -1}, ["Ready"], 0, False,
         "1 instances Ready, and no node is known to be up"),
    ],
)
def test_the_partition_judgement(
    info: dict[str, Any], replicas: list[str], up: int | None, ok: bool, reason: str | None
) -> None:
    """min(target, up nodes) Ready Primary/ActiveSecondary replicas (stateless: instances, -1 = up nodes)."""
    stateful = info["ServiceKind"] == "Stateful"
    items = [
        {"ReplicaStatus": status, **({"ReplicaRole": "Primary" if i == 0 else "ActiveSecondary"} if stateful else {})}
        for i, status in enumerate(replicas)
    ]
    from sf_progress import OperationType

    verdict = judge_partition(uuid.uuid4(), OperationType.PARTITION_RESTART, info, items, up)
    assert (verdict.ok, verdict.reason) == (ok, reason)


def test_idle_secondaries_do_not_count() -> None:
    """An IdleSecondary is not part of the write quorum: it does not make the count."""
    from sf_progress import OperationType

    info = {"ServiceKind": "Stateful", "PartitionStatus": "Ready", "TargetReplicaSetSize": 3}
    items = [{"ReplicaStatus": "Ready", "ReplicaRole": role} for role in ("Primary", "ActiveSecondary", "IdleSecondary")]
    verdict = judge_partition(uuid.uuid4(), OperationType.PARTITION_RESTART, info, items, 5)
    assert (verdict.ok, verdict.reason) == (False, "2 of 3 replicas Ready")


def test_the_node_judgement() -> None:
    """A start needs Up, not stopped, another instance and health Ok; a stop ends Down and stopped."""
    up = {"NodeStatus": "Up", "IsStopped": False, "InstanceId": "8"}
    assert judge_node("n", up, HealthState.OK, NodeTransitionType.START, "7").ok
    assert judge_node("n", up, HealthState.OK, NodeTransitionType.START, "8").reason == (
        "node still on instance 8 (not restarted yet)"
    )
    assert judge_node("n", up, HealthState.ERROR, NodeTransitionType.START, "7").reason == "node health Error"
    down = {"NodeStatus": "Down", "IsStopped": True, "InstanceId": "7"}
    assert judge_node("n", down, None, NodeTransitionType.STOP, "7").ok
    assert not judge_node("n", down, None, NodeTransitionType.START, "7").ok


async def test_a_stateless_partition_counts_its_instances_against_the_up_nodes(
    client: ProgressClient, cluster: FakeCluster
) -> None:
    """InstanceCount -1: recovered when as many instances are Ready as nodes are up (the node list is read, paged)."""
    pid = uuid.uuid4()
    cluster.add_service("fabric:/app/web", [pid], stateful=False)
    cluster.targets.page_size = 2
    target = FaultTarget.restart("fabric:/app/web", pid)
    cluster.plan(target.operation_id, Script(duration=1, recovery=4))
    await client.start(target)
    await client.wait_for_completion(target.ref)
    recovery = await client.wait_for_recovery(target.ref, backoff=EVERY_HALF_SECOND)
    assert recovery.recovered
    assert recovery.partition is not None
    facts = recovery.partition
    assert (facts.service_kind, facts.target, facts.ready, facts.expected) == ("Stateless", -1, 5, 5)
    nodes = [path for _, path in cluster.seen if path.startswith("/Nodes?")]
    assert any("ContinuationToken=" in path for path in nodes)  # every page of the node list


@pytest.mark.real_wait
async def test_a_slow_recovery_check_never_holds_a_wait_past_its_deadline() -> None:
    """A health read that answers only after 30 s: the recovery waits end at their deadline (+ the last look).

    (Issue 35, item 1: ``wait_for_recovery(deadline=3)`` took 104 s, ``recovery=True`` with a 4 s
    deadline about 16 s.)
    """
    import time

    async with FakeCluster() as cluster, ProgressClient(cluster.url) as client:
        done = OperationRef.restart("app~svc", uuid.uuid4(), uuid.uuid4())
        cluster.add_operation(done, Script(duration=0))
        cluster.inject(Fault.slow(30), routes=["health"], times=20)
        started = time.monotonic()
        with pytest.raises(RecoveryTimeout):
            await client.wait_for_recovery(done, deadline=3)
        assert time.monotonic() - started < 3 + 1 + 3  # deadline, LAST_LOOK, and a generous margin
        started = time.monotonic()
        with pytest.raises(RecoveryTimeout):
            await client.wait_for_completion(done, deadline=4, recovery=True)
        assert time.monotonic() - started < 4 + 1 + 3


async def test_recovery_checks_work_on_a_real_sized_cluster(cluster: FakeCluster, client: ProgressClient) -> None:
    """200 nodes, a stateless partition on all of them, a gateway that pages only at its message size:
    the checks page the node list and ask for no replica states, so no answer passes a size cap.

    (Issue 35, item 2: every check of a stateless partition failed with ResponseFormatError on 150 nodes.)
    """
    for i in range(200):
        cluster.add_node(f"nt1vm_{i:03}", 132_000_000_000 + i)
    cluster.targets.page_size = 10_000  # one page, as a real gateway answers without MaxResults
    pid = uuid.uuid4()
    cluster.add_service(SVC, [pid], stateful=False)
    ref = await client.start(FaultTarget.restart(SVC, pid))
    recovery = await client.wait_for_completion(ref, deadline=120, recovery=True)
    assert recovery.state.is_terminal
    node_pages = [path for method, path in cluster.seen if path.startswith("/Nodes?")]
    assert node_pages
    assert all("MaxResults=100" in path for path in node_pages)
    pages_per_count = math.ceil(len(cluster.nodes) / 100)
    assert pages_per_count >= 3
    assert len(node_pages) % pages_per_count == 0  # every count read every page
