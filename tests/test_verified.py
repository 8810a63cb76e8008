"""The seven faults the cluster keeps no operation for, end to end over the real loopback FakeCluster.

Replica restart and removal, code-package restart, primary, secondary and instance moves,
node restart: started (their target read and choices made first), verified by reading the
target, refused where the cluster would refuse, never hanging past a deadline, recovered.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest

from sf_progress import (
    Baseline,
    ConflictError,
    FabricError,
    FaultTarget,
    OperationState,
    OperationType,
    ProgressClient,
    UnsupportedFaultError,
    VerifiedProgress,
    WaitTimeout,
)
from sf_progress.testing import FakeCluster, Fault

SVC, VOLATILE, WEB = "fabric:/app/svc", "fabric:/app/cache", "fabric:/app/web"
P, V, W = uuid.UUID(int=1), uuid.UUID(int=2), uuid.UUID(int=3)

#: One target of each kind, on a service that allows it.
KINDS: dict[str, Callable[[], FaultTarget]] = {
    "restart-replica": lambda: FaultTarget.restart_replica(SVC, P),
    "remove-replica": lambda: FaultTarget.remove_replica(SVC, P, replica="secondary"),
    "restart-code-package": lambda: FaultTarget.restart_code_package(SVC, P),
    "move-primary": lambda: FaultTarget.move_primary(SVC, P),
    "move-secondary": lambda: FaultTarget.move_secondary(SVC, P),
    "move-instance": lambda: FaultTarget.move_instance(WEB, W),
    "restart-node": lambda: FaultTarget.restart_node("_Node_3"),
}


@pytest.fixture(autouse=True)
def services(cluster: FakeCluster) -> None:
    cluster.add_service(SVC, [P])
    cluster.add_service(VOLATILE, [V], persisted=False)
    cluster.add_service(WEB, [W], stateful=False)
    cluster.replicas.instance_count = 3  # room to move an instance on the five nodes


def test_every_new_kind_has_its_factory_name_and_no_list_bit() -> None:
    for name, make in KINDS.items():
        target = make()
        assert target.kind.short_name == name
        assert target.kind.verified
        assert target.kind in OperationType.fault_kinds()
        assert target.baseline is None
    assert not OperationType.PARTITION_RESTART.verified


@pytest.mark.parametrize("name", list(KINDS))
async def test_a_fault_is_verified_by_reading_its_target(client: ProgressClient, cluster: FakeCluster, name: str) -> None:
    """The start returns a ref with the target as it was; the wait ends Completed once the effect is seen."""
    ref = await client.start(KINDS[name]())
    assert ref.baseline is not None
    before = cluster.by_route["fault"]
    progress = await client.wait_for_completion(ref, deadline=60)
    assert isinstance(progress, VerifiedProgress)
    assert progress.state is OperationState.COMPLETED
    assert progress.verification is not None
    assert progress.verification.error_code == 0
    assert progress.verification.signal
    assert cluster.by_route["fault"] == before == 1  # one start sent, and nothing more


@pytest.mark.parametrize("name", list(KINDS))
async def test_the_target_recovers_after_the_fault(client: ProgressClient, cluster: FakeCluster, name: str) -> None:
    ref = await client.start(KINDS[name]())
    await client.wait_for_completion(ref, deadline=120, recovery=True)
    recovery = await client.wait_for_recovery(ref, deadline=60)
    assert recovery.recovered


@pytest.mark.parametrize("name", list(KINDS))
async def test_an_effect_that_never_comes_ends_the_wait_at_its_deadline(
    client: ProgressClient, cluster: FakeCluster, name: str
) -> None:
    cluster.replicas.never.update({str(P), str(W), "_Node_3", "_Node_0", "_Node_1", "_Node_2", "_Node_4"})
    ref = await client.start(KINDS[name]())
    with pytest.raises(WaitTimeout) as caught:
        await client.wait_for_completion(ref, deadline=10)  # within SETTLE: a restart never seen is not done
    assert caught.value.ref == ref
    assert caught.value.last_progress is not None
    assert caught.value.last_progress.state is OperationState.RUNNING


@pytest.mark.parametrize("name", list(KINDS))
async def test_a_refused_start_raises_the_clusters_error(client: ProgressClient, cluster: FakeCluster, name: str) -> None:
    cluster.inject(Fault.error(400, "FABRIC_E_CONSTRAINT_NOT_SATISFIED", "placement forbids it"), routes=["fault"])
    with pytest.raises(FabricError) as caught:
        await client.start(KINDS[name]())
    assert caught.value.code == "FABRIC_E_CONSTRAINT_NOT_SATISFIED"


async def test_prepare_reads_the_target_and_sends_nothing(client: ProgressClient, cluster: FakeCluster) -> None:
    target = FaultTarget.move_secondary(SVC, P)
    prepared = await client.prepare(target)
    assert cluster.by_route["fault"] == 0
    assert prepared.operation_id == target.operation_id
    baseline = prepared.baseline
    assert isinstance(baseline, Baseline)
    assert baseline.role == "ActiveSecondary"
    assert baseline.node_name not in (None, baseline.to_node)
    assert baseline.persisted is True
    ref = await client.start(prepared)  # the choices made stay: exactly that move is sent
    assert ref.baseline == baseline
    assert f"CurrentNodeName={baseline.node_name}&NewNodeName={baseline.to_node}" in cluster.seen[-1][1]


@pytest.mark.parametrize(
    ("make", "code", "words"),
    [
        (lambda: FaultTarget.restart_replica(VOLATILE, V), "FABRIC_E_INVALID_REPLICA_OPERATION", "remove"),
        (lambda: FaultTarget.restart_replica(WEB, W), "FABRIC_E_INVALID_REPLICA_OPERATION", "remove"),
        (lambda: FaultTarget.move_primary(WEB, W), "FABRIC_E_INVALID_PARTITION_OPERATION", "stateless"),
        (lambda: FaultTarget.move_instance(SVC, P), "FABRIC_E_INVALID_PARTITION_OPERATION", "stateful"),
        (lambda: FaultTarget.move_primary(SVC, P, to_node="nowhere"), "FABRIC_E_NODE_NOT_FOUND", "no such node"),
        (lambda: FaultTarget.move_primary(SVC, P, to_node="_Node_0"), "FABRIC_E_PRIMARY_ALREADY_EXISTS", "already"),
        (lambda: FaultTarget.move_secondary(SVC, P, from_node="_Node_0"), "FABRIC_E_INVALID_REPLICA_STATE", "primary"),
        (lambda: FaultTarget.remove_replica(SVC, P, replica=42), "FABRIC_E_REPLICA_DOES_NOT_EXIST", "no replica 42"),
        (lambda: FaultTarget.restart_node("nowhere"), "FABRIC_E_INVALID_ADDRESS", "no such node"),
    ],
)
async def test_what_the_cluster_would_refuse_is_refused_before_anything_is_sent(
    client: ProgressClient, cluster: FakeCluster, make: Callable[[], FaultTarget], code: str, words: str
) -> None:
    with pytest.raises(UnsupportedFaultError) as caught:
        await client.start(make())
    assert caught.value.code == code
    assert words in str(caught.value)
    assert cluster.by_route["fault"] == 0


async def test_a_volatile_restart_the_gateway_gets_anyway_is_its_400(client: ProgressClient, cluster: FakeCluster) -> None:
    """The fake refuses as the runtime does, for a client that sends without reading (a stale baseline)."""
    good = await client.prepare(FaultTarget.restart_replica(SVC, P))
    assert good.baseline is not None
    cluster.replicas.volatile.add("app~svc")
    with pytest.raises(FabricError) as caught:
        await client.start(good)
    assert caught.value.code == "FABRIC_E_INVALID_REPLICA_OPERATION"
    assert "Please remove this replica" in caught.value.message


async def test_a_code_package_restart_sent_twice_is_refused_by_the_cluster(
    client: ProgressClient, cluster: FakeCluster
) -> None:
    """The exact entry-point instance id goes with the start: a duplicate cannot restart it again."""
    prepared = await client.prepare(FaultTarget.restart_code_package(SVC, P))
    await client.wait_for_completion(await client.start(prepared), deadline=60)
    with pytest.raises(ConflictError) as caught:
        await client.start(prepared)
    assert caught.value.code == "FABRIC_E_INSTANCE_ID_MISMATCH"


async def test_a_node_restart_sent_twice_is_refused_by_the_cluster(client: ProgressClient, cluster: FakeCluster) -> None:
    prepared = await client.prepare(FaultTarget.restart_node("_Node_3"))
    await client.wait_for_completion(await client.start(prepared), deadline=60)
    with pytest.raises(ConflictError) as caught:
        await client.start(prepared)
    assert caught.value.code == "FABRIC_E_INSTANCE_ID_MISMATCH"


async def test_a_restarted_primary_returns_a_secondary_and_the_signal_says_so(
    client: ProgressClient, cluster: FakeCluster
) -> None:
    ref = await client.start(FaultTarget.restart_replica(SVC, P))
    assert ref.baseline is not None
    assert ref.baseline.role == "Primary"
    progress = await client.wait_for_completion(ref, deadline=60)
    assert progress.result is not None
    assert isinstance(progress, VerifiedProgress)
    after = progress.verification.after if progress.verification else None
    assert after is not None
    assert after.replica_id == ref.baseline.replica_id  # a persisted restart keeps the id
    assert "after the restart" in progress.verification.signal  # type: ignore[union-attr]


async def test_a_quick_restart_never_seen_ends_once_settled(client: ProgressClient, cluster: FakeCluster) -> None:
    """No Down or InBuild read (the restart was quicker than the reads): done after the settle time, said so."""
    cluster.replicas.delay, cluster.replicas.rebuild = 0.0, 0.01
    ref = await client.start(FaultTarget.restart_replica(SVC, P, replica="secondary"))
    progress = await client.wait_for_completion(ref, deadline=120)
    assert progress.state is OperationState.COMPLETED
    assert "no restart seen within 15s" in progress.result.signal  # type: ignore[union-attr]


async def test_cancel_and_the_list_call_say_they_do_not_apply(client: ProgressClient, cluster: FakeCluster) -> None:
    ref = await client.start(FaultTarget.restart_node("_Node_1"))
    with pytest.raises(UnsupportedFaultError, match="cannot be cancelled"):
        await client.cancel_operation(ref)
    with pytest.raises(ValueError, match="keeps no operation"):
        await client.list_fault_operations(type_filter=OperationType.NODE_RESTART)
    assert cluster.by_route["cancel"] == cluster.by_route["list"] == 0


async def test_a_ref_without_its_baseline_cannot_be_verified(client: ProgressClient) -> None:
    ref = FaultTarget.restart_node("_Node_1").ref
    with pytest.raises(ValueError, match="no baseline"):
        await client.get_progress(ref)


async def test_many_verified_faults_wait_together(client: ProgressClient, cluster: FakeCluster) -> None:
    partitions = [uuid.uuid4() for _ in range(20)]
    cluster.add_service("fabric:/app/many", partitions)
    refs = [await client.start(FaultTarget.remove_replica("fabric:/app/many", p)) for p in partitions]
    async with client.wait_many(refs, deadline=60) as batch:
        outcomes = [outcome async for outcome in batch]
    assert len(outcomes) == 20
    assert all(o.ok for o in outcomes)


def test_a_baseline_round_trips_through_plain_json() -> None:
    baseline = Baseline(replica_id="1", node_name="n", to_node="m", persisted=True)
    assert Baseline.from_dict({**baseline.as_dict(), "newer": 1}) == baseline
    with pytest.raises(TypeError):
        Baseline(persisted="yes")  # type: ignore[arg-type]
    ref = FaultTarget.restart_node("n").ref
    assert ref.with_baseline(Baseline(instance_id="5")) == ref  # the baseline is no part of the ref's identity
    with pytest.raises(ValueError, match="no baseline"):
        FaultTarget.restart("fabric:/a/b", P).ref.with_baseline(baseline)


def test_bad_parameters_are_refused_when_the_target_is_made() -> None:
    with pytest.raises(ValueError, match="replica must be"):
        FaultTarget.restart_replica(SVC, P, replica="tertiary")
    with pytest.raises(ValueError, match="replica must be"):
        FaultTarget.remove_replica(SVC, P, replica=0)
    with pytest.raises(ValueError, match="true or false"):
        FaultTarget.of("remove-replica", service_id=SVC, partition_id=P, force="maybe")
    assert FaultTarget.of("remove-replica", service_id=SVC, partition_id=P, force="true").spec.force  # type: ignore[union-attr]
    assert FaultTarget.restart_replica(SVC, P, replica=" Secondary ").spec.replica == "secondary"  # type: ignore[union-attr]
