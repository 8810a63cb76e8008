"""``FaultTarget`` and the per-kind specs: validated when made, sent by ``client.start`` for every kind."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest

from sf_progress import (
    DataLossMode,
    DataLossSpec,
    FaultRun,
    FaultTarget,
    NodeTransitionSpec,
    NodeTransitionType,
    OperationRef,
    OperationState,
    OperationType,
    OutcomeKind,
    ProgressClient,
    QuorumLossMode,
    QuorumLossSpec,
    RestartPartitionMode,
    RestartSpec,
)
from sf_progress.testing import FakeCluster, Script

from .conftest import PID

SERVICE = "fabric:/app/svc"


def test_the_factories_build_typed_targets_with_the_refs_id_types() -> None:
    """Factories validate and normalise: ids are UUIDs as in OperationRef, modes are enums."""
    op = uuid.uuid4()
    target = FaultTarget.restart(SERVICE, str(PID), mode="OnlyActiveSecondaries", operation_id=str(op))
    assert target.ref == OperationRef.restart("app~svc", PID, op)
    assert target.ref.partition_id == PID
    assert target.operation_id == op
    assert target.kind is OperationType.PARTITION_RESTART
    assert target.spec == RestartSpec(RestartPartitionMode.ONLY_ACTIVE_SECONDARIES)
    assert FaultTarget.data_loss(SERVICE, PID).spec == DataLossSpec(DataLossMode.PARTIAL_DATA_LOSS)
    quorum = FaultTarget.quorum_loss(SERVICE, PID, duration=timedelta(minutes=1), mode="AllReplicas")
    assert quorum.spec == QuorumLossSpec(60, QuorumLossMode.ALL_REPLICAS)
    node = FaultTarget.node_transition("_Node_0", " STOP ", stop_duration=300.0, node_instance_id=42)
    assert node.spec == NodeTransitionSpec(NodeTransitionType.STOP, 300, "42")
    assert node.ref.node_name == "_Node_0"
    assert FaultTarget.restart(SERVICE, PID).operation_id != FaultTarget.restart(SERVICE, PID).operation_id


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda: FaultTarget.restart(SERVICE, PID, mode="Everything"), ValueError, "mode must be one of"),
        (lambda: FaultTarget.data_loss(SERVICE, PID, mode="partial"), ValueError, "PartialDataLoss"),
        (lambda: FaultTarget.quorum_loss(SERVICE, PID, duration=0), ValueError, "duration"),
        (lambda: FaultTarget.quorum_loss(SERVICE, PID, duration=2.5), ValueError, "whole number"),
        (lambda: FaultTarget.quorum_loss(SERVICE, PID, duration="10"), TypeError, "duration"),
        (lambda: FaultTarget.quorum_loss(SERVICE, PID, duration=5, mode="Some"), ValueError, "mode"),
        (lambda: FaultTarget.node_transition("_Node_0", "restart"), ValueError, "transition"),
        (lambda: FaultTarget.node_transition("_Node_0", "stop", stop_duration=299), ValueError, "300..14400"),
        (lambda: FaultTarget.node_transition("_Node_0", "stop", stop_duration=14401), ValueError, "300..14400"),
        (lambda: FaultTarget.node_transition("_Node_0", "start", node_instance_id=0), ValueError, "instance"),
        (lambda: FaultTarget.node_transition("_Node_0", "start", node_instance_id="12a"), ValueError, "instance"),
        (lambda: FaultTarget.node_transition("", "start"), ValueError, "node"),
        (lambda: FaultTarget.restart(SERVICE, "not-a-guid"), ValueError, "partition_id"),
        (lambda: FaultTarget.restart(SERVICE, PID, operation_id="nope"), ValueError, "operation_id"),
        (lambda: FaultTarget(OperationRef.restart(SERVICE, PID, uuid.uuid4()), DataLossSpec()), ValueError, "ref names"),
        (lambda: FaultTarget(OperationRef.restart(SERVICE, PID, uuid.uuid4()), {"mode": "x"}), TypeError, "spec"),
        (lambda: FaultTarget("app~svc", RestartSpec()), TypeError, "OperationRef"),
    ],
)
def test_a_bad_target_is_refused_when_made(make: Any, error: type[Exception], match: str) -> None:
    """Every parameter is checked when the target is made, with a clear message (nothing to send yet)."""
    with pytest.raises(error, match=match):
        make()


def test_specs_are_frozen_values() -> None:
    """Specs and targets are hashable, comparable and immutable."""
    target = FaultTarget.quorum_loss(SERVICE, PID, duration=5)
    assert {target, target} == {target}
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        target.spec.duration = 6  # type: ignore[misc]


async def test_start_sends_every_kind_with_its_parameters(client: ProgressClient, cluster: FakeCluster) -> None:
    """``client.start(target)`` sends each kind's start with its spec; the ref it returns is the target's."""
    cluster.default_script = Script(duration=2)
    plan = [
        FaultTarget.restart(SERVICE, uuid.uuid4(), mode=RestartPartitionMode.ONLY_ACTIVE_SECONDARIES),
        FaultTarget.data_loss(SERVICE, uuid.uuid4(), mode="FullDataLoss"),
        FaultTarget.quorum_loss(SERVICE, uuid.uuid4(), duration=7, mode="AllReplicas"),
        FaultTarget.node_transition("_Node_1", "stop", stop_duration=400),
        FaultTarget.node_transition("_Node_2", "start", node_instance_id=987654321),
    ]
    refs = [await client.start(target) for target in plan]
    assert refs == [target.ref for target in plan]
    modes = [cluster.operation(ref.operation_id).mode for ref in refs]
    assert modes == ["OnlyActiveSecondaries", "FullDataLoss", "AllReplicas", "Stop", "Start"]
    posts = [path for method, path in cluster.seen if method == "POST"]
    assert "QuorumLossDuration=7" in posts[2]
    assert "StopDurationInSeconds=400" in posts[3]
    assert "NodeInstanceId=987654321" in posts[4]
    async with client.wait_many(refs, deadline=60) as batch:
        assert {outcome.state async for outcome in batch} == {OperationState.COMPLETED}


async def test_start_refuses_what_is_not_a_target_before_any_request(
    client: ProgressClient, cluster: FakeCluster
) -> None:
    """A ref or a dict is not a start request: TypeError, nothing sent."""
    with pytest.raises(TypeError, match="FaultTarget"):
        await client.start(OperationRef.restart(SERVICE, PID, uuid.uuid4()))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="FaultTarget"):
        await client.start({"service_id": SERVICE})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="timeout"):
        await client.start(FaultTarget.restart(SERVICE, PID), timeout=0)
    assert cluster.requests == 0


async def test_the_conveniences_are_start_of_a_target(client: ProgressClient, cluster: FakeCluster) -> None:
    """``start_*`` and ``start(FaultTarget.*)`` send the same request, with the same defaults."""
    await client.start(FaultTarget.quorum_loss(SERVICE, PID, duration=30))
    await client.start(FaultTarget.quorum_loss(SERVICE, PID, duration=30))
    await client.start(FaultTarget.node_transition("_Node_3", "stop"))
    await client.start(FaultTarget.node_transition("_Node_4", "stop"))
    posts = [path for method, path in cluster.seen if method == "POST"]

    def params(path: str) -> set[str]:
        return {p for p in path.split("?", 1)[1].split("&") if not p.startswith(("OperationId=", "NodeInstanceId="))}

    assert params(posts[0]) == params(posts[1])
    assert {"QuorumLossMode=QuorumReplicas", "QuorumLossDuration=30"} <= params(posts[0])
    assert params(posts[2]) == params(posts[3])
    assert {"NodeTransitionType=Stop", "StopDurationInSeconds=600"} <= params(posts[2])
    for node, post in (("_Node_3", posts[2]), ("_Node_4", posts[3])):
        assert f"NodeInstanceId={cluster.nodes[node]}" in post  # looked up, as the docs tell you to


async def test_a_version_1_journal_is_read_and_resumed(tmp_path: Path, client: ProgressClient, cluster: FakeCluster) -> None:
    """A journal written by 0.x before format 2 (``type``/``kind``/``params``/``record``) resumes as it was."""
    cluster.default_script = Script(duration=1)
    done, pending = uuid.uuid4(), uuid.uuid4()
    lines = [
        {"v": 1, "type": "journal", "endpoint": client.endpoint, "created": "2026-11-30T10:00:00Z"},
        {"type": "target", "n": 0, "kind": "quorum-loss", "service_id": "app~svc", "partition_id": str(PID),
         "params": {"mode": "QuorumReplicas", "duration": 5}, "operation_id": str(done)},
        {"type": "target", "n": 1, "kind": "node-transition", "node_name": "_Node_0",
         "params": {"transition": "stop", "stop_duration": 600, "node_instance_id": None}, "operation_id": str(pending)},
        {"type": "intent", "n": 0},
        {"type": "accepted", "n": 0},
        {"type": "outcome", "n": 0, "record": {"event": "finished", "type": "quorum-loss", "kind": "completed",
         "state": "Completed", "error_code": 0, "error": None, "polls": 2, "elapsed_s": 6.5}},
    ]
    path = tmp_path / "v1.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    async with await FaultRun.resume(path, client) as run:
        await run.start_pending()
        results = sorted([r async for r in run.results(deadline=60)], key=lambda r: r.number)
    first, second = results
    assert (first.outcome, first.state, first.polls, first.elapsed) == (OutcomeKind.COMPLETED, OperationState.COMPLETED, 2, 6.5)
    assert first.target.spec == QuorumLossSpec(5, QuorumLossMode.QUORUM_REPLICAS)
    assert second.ok
    assert second.ref == OperationRef.node_transition("_Node_0", pending)
    assert list(cluster.operations) == [pending]  # the finished one was not started again
    appended = [json.loads(line) for line in path.read_text().splitlines()[len(lines):]]
    assert appended
    assert all("event" in line for line in appended)  # new lines in the new spelling
    async with await FaultRun.resume(path, client) as again:  # a journal of both spellings reads back whole
        await again.start_pending()
        replay = sorted([r async for r in again.results()], key=lambda r: r.number)
    assert replay == results
    assert len(cluster.operations) == 1


@pytest.mark.parametrize("kind", list(OperationType.fault_kinds()))
def test_of_and_parameters_describe_every_kind(kind: OperationType) -> None:
    """FaultTarget.of builds any kind from the names FaultTarget.parameters lists; the factories agree."""
    parameters = FaultTarget.parameters(kind)
    assert FaultTarget.parameters(kind.short_name) == parameters == FaultTarget.parameters(kind.value)
    values: dict[str, object] = {
        "service_id": SERVICE, "partition_id": PID, "node_name": "_Node_0", "transition": "stop", "duration": 5,
    }
    given = {p.name: values[p.name] for p in parameters if p.required}
    target = FaultTarget.of(kind, operation_id=PID, **given)
    assert target.kind is kind
    assert target.operation_id == uuid.UUID(str(PID))
    # Every optional parameter's default is the spec's own.
    for p in parameters:
        if not p.required:
            default = getattr(target.spec, p.name)
            assert (default.value if hasattr(default, "value") else default) == p.default, p.name
    with pytest.raises(ValueError, match="takes no"):
        FaultTarget.of(kind, bogus=1, **given)
    if any(p.required and not p.positional for p in parameters) or len(given) > 1:
        with pytest.raises(ValueError, match="missing"):
            FaultTarget.of(kind)


def test_parameter_values_from_text() -> None:
    """A command line's or a file's text: aliases resolved, numbers read, bad numbers said plainly."""
    (duration,) = [p for p in FaultTarget.parameters("quorum-loss") if p.name == "duration"]
    (mode,) = [p for p in FaultTarget.parameters("data-loss") if p.name == "mode"]
    assert (duration.value("20"), duration.value("1.5"), mode.value("full"), mode.value("FullDataLoss")) == (
        20, 1.5, "FullDataLoss", "FullDataLoss"
    )
    with pytest.raises(ValueError, match="duration must be a number"):
        duration.value("soon")
    with pytest.raises(ValueError, match="unknown fault kind"):
        FaultTarget.parameters("nap")
