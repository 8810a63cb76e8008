"""Before a verified fault is sent: read its target, refuse what the cluster would refuse, make the choices.

``prepare`` returns the target with its ``Baseline``: the replica (or node, or entry
point) the fault acts on as it was, and the choices left to sf_progress (which secondary,
which node to move to), made here, once, at random among the valid ones.  Nothing is sent
when it raises :class:`UnsupportedFaultError` (codes as the cluster would answer them,
``faults-beyond-fas-protocol.md`` §1.2, §2.2, §3.2, §4).
"""

from __future__ import annotations

import random

from .._baseline import Baseline
from .._errors import NotFoundError, UnsupportedFaultError
from .._models import OperationRef, OperationType
from .._targets import FaultTarget
from .reads import NodeView, Replica, ServiceView, TargetReads
from .specs import (
    PRIMARY,
    SECONDARY,
    CodePackageRestartSpec,
    InstanceMoveSpec,
    PrimaryMoveSpec,
    ReplicaRemoveSpec,
    ReplicaRestartSpec,
    SecondaryMoveSpec,
)

__all__ = ["prepare"]

_UP = "Up"
_PRIMARY_ROLE, _SECONDARY_ROLE = "Primary", "ActiveSecondary"


async def prepare(reads: TargetReads, target: FaultTarget) -> FaultTarget:
    """*target* with its baseline read from the cluster (a target already prepared is returned as it is)."""
    if target.baseline is not None or not target.kind.verified:
        return target
    ref = target.ref
    if target.kind is OperationType.NODE_RESTART:
        assert ref.node_name is not None
        node = await _node(reads, ref.node_name, ref, "restart")
        return target.with_baseline(Baseline(node_name=node.name, status=node.status, instance_id=node.instance_id))
    assert ref.service_id is not None
    assert ref.partition_id is not None
    service = await reads.service(ref.service_id, ref)
    _check_kind(target, service)
    replicas = await reads.replicas(ref.partition_id, ref)
    spec = target.spec
    if isinstance(spec, (ReplicaRestartSpec, ReplicaRemoveSpec, CodePackageRestartSpec)):
        replica = _pick(replicas, spec.replica, service, ref)
        baseline = _of(replica, service)
        if isinstance(spec, CodePackageRestartSpec):
            baseline = await _hosting(reads, baseline, service, ref)
        return target.with_baseline(baseline)
    if isinstance(spec, PrimaryMoveSpec):
        primary = _pick(replicas, PRIMARY, service, ref)
        to = await _destination(reads, spec.to_node, replicas, ref, swap=True)
        return target.with_baseline(_of(primary, service, to_node=to))
    assert isinstance(spec, (SecondaryMoveSpec, InstanceMoveSpec))
    moved = _source(replicas, spec.from_node, service, ref)
    to = await _destination(reads, spec.to_node, replicas, ref, swap=False)
    return target.with_baseline(_of(moved, service, to_node=to))


def _check_kind(target: FaultTarget, service: ServiceView) -> None:
    kind, ref = target.kind, target.ref
    if kind is OperationType.REPLICA_RESTART and not service.persisted:
        what = "a volatile (non-persisted) stateful replica" if service.stateful else "a stateless instance"
        raise UnsupportedFaultError(
            f"{ref.service_name}: {what} cannot be restarted; remove it instead "
            "(FaultTarget.remove_replica, sf-progress remove-replica): another one is built",
            code="FABRIC_E_INVALID_REPLICA_OPERATION", ref=ref,
        )
    if kind in (OperationType.PRIMARY_MOVE, OperationType.SECONDARY_MOVE) and not service.stateful:
        raise UnsupportedFaultError(
            f"{ref.service_name} is stateless: it has no primary or secondaries to move (use move_instance)",
            code="FABRIC_E_INVALID_PARTITION_OPERATION", ref=ref,
        )
    if kind is OperationType.INSTANCE_MOVE and service.stateful:
        raise UnsupportedFaultError(
            f"{ref.service_name} is stateful: move its primary or a secondary (move_primary, move_secondary)",
            code="FABRIC_E_INVALID_PARTITION_OPERATION", ref=ref,
        )


def _of(replica: Replica, service: ServiceView, *, to_node: str | None = None) -> Baseline:
    return Baseline(
        replica_id=replica.id,
        node_name=replica.node,
        role=replica.role or None,
        status=replica.status,
        to_node=to_node,
        persisted=service.persisted if service.stateful else None,
    )


def _pick(replicas: list[Replica], which: str, service: ServiceView, ref: OperationRef) -> Replica:
    """The replica *which* names: the primary, one active secondary at random, or the one with that id."""
    if which not in (PRIMARY, SECONDARY):
        for replica in replicas:
            if replica.id == which:
                return replica
        raise UnsupportedFaultError(
            f"partition {ref.partition_id} has no replica {which}", code="FABRIC_E_REPLICA_DOES_NOT_EXIST", ref=ref
        )
    if not service.stateful:  # an instance: primary or secondary both mean one Ready instance
        ready = [r for r in replicas if r.status == "Ready"]
        if ready:
            return random.choice(ready)
        raise UnsupportedFaultError(f"partition {ref.partition_id} has no Ready instance", ref=ref,
                                    code="FABRIC_E_REPLICA_DOES_NOT_EXIST")
    role = _PRIMARY_ROLE if which == PRIMARY else _SECONDARY_ROLE
    found = [r for r in replicas if r.role == role and r.status == "Ready"]
    if not found:
        raise UnsupportedFaultError(
            f"partition {ref.partition_id} has no Ready {'primary' if which == PRIMARY else 'active secondary'} "
            f"now ({_summary(replicas)})",
            code="FABRIC_E_INVALID_REPLICA_STATE", ref=ref,
        )
    return random.choice(found)


def _source(replicas: list[Replica], from_node: str | None, service: ServiceView, ref: OperationRef) -> Replica:
    if from_node is None:
        return _pick(replicas, SECONDARY, service, ref)
    on_node = [r for r in replicas if r.node == from_node]
    if not on_node:
        raise UnsupportedFaultError(f"node {from_node} holds no replica of partition {ref.partition_id}",
                                    code="FABRIC_E_REPLICA_DOES_NOT_EXIST", ref=ref)
    if on_node[0].role == _PRIMARY_ROLE:
        raise UnsupportedFaultError(
            f"node {from_node} holds the primary of partition {ref.partition_id} (use move_primary)",
            code="FABRIC_E_INVALID_REPLICA_STATE", ref=ref,
        )
    return on_node[0]


async def _destination(
    reads: TargetReads, to_node: str | None, replicas: list[Replica], ref: OperationRef, *, swap: bool
) -> str:
    """The node to move to: the one given (checked: known, Up, not holding the role), or one chosen."""
    holders = {r.node: r for r in replicas}
    if to_node is not None:
        await _node(reads, to_node, ref, "move to", code="FABRIC_E_NODE_NOT_FOUND")
        held = holders.get(to_node)
        if held is not None and (held.role == _PRIMARY_ROLE or not swap):
            primary = held.role == _PRIMARY_ROLE
            code = "FABRIC_E_PRIMARY_ALREADY_EXISTS" if primary else "FABRIC_E_SECONDARY_ALREADY_EXISTS"
            raise UnsupportedFaultError(
                f"node {to_node} already holds the {held.role or 'instance'} of partition {ref.partition_id}",
                code=code, ref=ref,
            )
        return to_node
    if swap:  # a primary moves best to a node with a Ready secondary: a swap, no copy of the state
        secondaries = [r.node for r in replicas if r.role == _SECONDARY_ROLE and r.status == "Ready"]
        if secondaries:
            return random.choice(secondaries)
    free = [node.name for node in await reads.nodes(ref) if node.status == _UP and node.name not in holders]
    if not free:
        raise UnsupportedFaultError(
            f"no node to move to: every Up node holds a replica of partition {ref.partition_id}",
            code="FABRIC_E_CONSTRAINT_NOT_SATISFIED", ref=ref,
        )
    return random.choice(free)


async def _node(
    reads: TargetReads, name: str, ref: OperationRef, what: str, code: str = "FABRIC_E_INVALID_ADDRESS"
) -> NodeView:
    try:
        node = await reads.node(name, ref)
    except NotFoundError:
        raise UnsupportedFaultError(f"cannot {what} node {name}: the cluster has no such node", code=code,
                                    ref=ref) from None
    if node.status != _UP:
        raise UnsupportedFaultError(f"cannot {what} node {name}: it is {node.status}, not Up", code=code, ref=ref)
    return node


async def _hosting(reads: TargetReads, baseline: Baseline, service: ServiceView, ref: OperationRef) -> Baseline:
    """The code package hosting the replica, and its running entry point's instance id (sent with the restart)."""
    assert baseline.node_name is not None
    assert ref.partition_id is not None
    hosting = await reads.hosting(baseline.node_name, service.application_id, ref.partition_id, ref)
    entry = await reads.code_package(baseline.node_name, service.application_id, hosting, ref)
    if entry.status != "Started":
        raise UnsupportedFaultError(
            f"the code package {hosting.code_package} on {baseline.node_name} is not running "
            f"(its {entry.entry_point} entry point is {entry.status})",
            code="FABRIC_E_CODE_PACKAGE_NOT_FOUND", ref=ref,
        )
    return Baseline(
        **{**baseline.as_dict(), "instance_id": entry.instance_id},
        application_id=service.application_id,
        service_manifest=hosting.service_manifest,
        code_package=hosting.code_package,
        activation_id=hosting.activation_id,
    )


def _summary(replicas: list[Replica]) -> str:
    return ", ".join(f"{r.role or 'instance'} {r.status} on {r.node}" for r in replicas) or "no replicas"
