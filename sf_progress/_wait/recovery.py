"""Did the faulted target recover?  Its facts, read from the cluster, and the judgement on them.

``Completed`` means the Fault Analysis Service's own step ended, not that the target is
healthy again (health-and-chaos-protocol.md §1).  Recovered means, per kind (its summary):

- a partition (restart, data loss, quorum loss): ``GetHealth`` ``AggregatedHealthState``
  ``Ok``; ``GET /Partitions/{id}`` ``PartitionStatus`` ``Ready`` (not ``InQuorumLoss``);
  every page of ``GetReplicas`` without an ``InBuild`` replica and with at least
  min(target, up nodes) ``Ready`` Primary/ActiveSecondary replicas (stateless: ``Ready``
  instances, ``InstanceCount`` ``-1`` meaning up nodes);
- a node after a start: ``GET /Nodes/{name}`` ``Up``, not stopped, an instance id other
  than the one the transition was given, and node health ``Ok``; after a stop the
  expected end state is ``Down`` and stopped.

Cheap first: health is read first and nothing else while it is not ``Ok``; the node list
(for the up-node count) only when the replicas fall short of the target.  A 204 from an
info read means the entity does not exist (``NotFoundError``); a 404
``FABRIC_E_HEALTH_ENTITY_NOT_FOUND`` from a health read means "not reported yet" unless
the info read then says the entity does not exist.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import attrs

from .._errors import NotFoundError, ResponseFormatError
from .._facts import _HEALTH_BY_WIRE, HealthState, NodeFacts, PartitionFacts
from .._ids import encode_service_id
from .._models import OperationRef, OperationType
from .._specs import NodeTransitionType
from .._wire.parsing import decode_json, page_of

__all__ = ["HEALTH_NOT_FOUND", "Verdict", "check_recovery", "parse_node"]

HEALTH_NOT_FOUND = "FABRIC_E_HEALTH_ENTITY_NOT_FOUND"
#: Node statuses the runtime's stability check counts as up (§6.1).
_UP_STATUSES = frozenset({"Up", "Disabled", "Disabling", "Enabling"})
_VALID_ROLES = frozenset({"Primary", "ActiveSecondary"})
#: Health reads ask for no events and no replica states (``None`` = 1) and no statistics: only the
#: aggregated state (a partition on 150 nodes otherwise lists 150 replica states).
_HEALTH_QUERY = "EventsHealthStateFilter=1&ReplicasHealthStateFilter=1&ExcludeHealthStatistics=true"
#: The node list is read in pages of at most this many nodes (a gateway's own pages are as large as
#: its message size allows).
_NODE_PAGE = 100
#: The most pages of replicas or nodes one check reads (a cluster answers in a few).
_MAX_PAGES = 100


@attrs.frozen
class Verdict:
    """One check's judgement (internal): ok or not, why not, and the facts."""

    ok: bool
    reason: str | None
    partition: PartitionFacts | None = None
    node: NodeFacts | None = None
    requests: int = 0  # sent for this check


# --- the JSON boundary -----------------------------------------------------------------------


def _object(body: bytes, ref: OperationRef | None, what: str) -> dict[str, Any]:
    if body == b"":
        # 204: the entity does not exist (§2).
        raise NotFoundError(status=204, code=None, message=f"{what} does not exist (204)", ref=ref)
    data = decode_json(body, ref)
    if not isinstance(data, dict):
        raise ResponseFormatError(f"expected a JSON object for {what}", body=body, ref=ref)
    return data


def parse_health(body: bytes, ref: OperationRef | None) -> HealthState:
    """``AggregatedHealthState`` of a health answer."""
    data = _object(body, ref, "the health entity")
    raw = data.get("AggregatedHealthState")
    if not isinstance(raw, str):
        raise ResponseFormatError("expected a health answer with 'AggregatedHealthState'", body=body, ref=ref)
    return _HEALTH_BY_WIRE.get(raw, HealthState.UNKNOWN)


def parse_partition(body: bytes, ref: OperationRef | None) -> dict[str, Any]:
    """A ``ServicePartitionInfo`` (checked for what the judgement reads)."""
    data = _object(body, ref, "the partition")
    if not isinstance(data.get("PartitionStatus"), str) or not isinstance(data.get("ServiceKind"), str):
        raise ResponseFormatError("expected a partition with 'ServiceKind' and 'PartitionStatus'", body=body, ref=ref)
    return data


def parse_page(body: bytes, ref: OperationRef | None) -> tuple[list[dict[str, Any]], str]:
    """One page of a paged list: its items (objects) and its continuation token (``""`` at the end)."""
    return page_of(_object(body, ref, "the list"), body, ref, "items")


def parse_node(body: bytes, ref: OperationRef | None) -> dict[str, Any]:
    """A ``NodeInfo``."""
    data = _object(body, ref, "the node")
    if not isinstance(data.get("NodeStatus"), str):
        raise ResponseFormatError("expected a node with 'NodeStatus'", body=body, ref=ref)
    return data


# --- the judgement (pure) ---------------------------------------------------------------------


def _count(value: object) -> int | None:
    return value if type(value) is int else None


def judge_partition(
    pid: uuid.UUID, kind: OperationType, info: dict[str, Any], replicas: list[dict[str, Any]], up_nodes: int | None
) -> Verdict:
    """The partition's verdict from its info and replicas (health was Ok); ``up_nodes`` if read."""
    status = str(info.get("PartitionStatus"))
    stateful = info.get("ServiceKind") == "Stateful"
    target = _count(info.get("TargetReplicaSetSize") if stateful else info.get("InstanceCount"))
    in_build = sum(1 for r in replicas if r.get("ReplicaStatus") == "InBuild")
    ready = sum(
        1
        for r in replicas
        if r.get("ReplicaStatus") == "Ready" and (not stateful or r.get("ReplicaRole") in _VALID_ROLES)
    )
    epoch = info.get("CurrentConfigurationEpoch") or info.get("PrimaryEpoch") or {}
    facts = PartitionFacts(
        pid,
        HealthState.OK,
        status,
        str(info.get("ServiceKind")),
        target,
        ready,
        in_build,
        len(replicas),
        None,
        str(epoch.get("DataLossVersion")) if isinstance(epoch, dict) and "DataLossVersion" in epoch else None,
    )
    if status == "InQuorumLoss":
        return Verdict(False, "partition InQuorumLoss", facts)
    if status != "Ready":
        return Verdict(False, f"partition {status}", facts)
    if in_build:
        of = target if target and target > 0 else "?"
        return Verdict(False, f"{ready} of {of} replicas Ready, {in_build} InBuild", facts)
    # Missing facts are "unknown", never "recovered": no Ready replica, no target size, no up node.
    what = "replicas" if stateful else "instances"
    if ready == 0:
        return Verdict(False, f"no {what} Ready", facts)
    if target is None or target == 0:
        return Verdict(False, f"the partition's target number of {what} is not known", facts)
    if target > 0 and ready >= target:
        return Verdict(True, None, facts)
    if up_nodes is None:
        return Verdict(False, "needs the up-node count", facts)  # the caller reads the nodes, then asks again
    if up_nodes <= 0:
        return Verdict(False, f"{ready} {what} Ready, and no node is known to be up", facts)
    expected = up_nodes if target < 0 else min(target, up_nodes)
    facts = attrs.evolve(facts, expected=expected)
    if ready >= expected:
        return Verdict(True, None, facts)
    return Verdict(False, f"{ready} of {expected} {what} Ready", facts)


def judge_node(
    name: str, info: dict[str, Any], health: HealthState | None, transition: NodeTransitionType, given: str | None
) -> Verdict:
    """The node's verdict after a start (Up, not stopped, a new instance, health Ok) or a stop (Down, stopped)."""
    status = str(info.get("NodeStatus"))
    stopped = info.get("IsStopped") is True
    instance = info.get("InstanceId")
    facts = NodeFacts(name, health, status, stopped, None if instance is None else str(instance))
    if transition is NodeTransitionType.STOP:
        if status == "Down" and stopped:
            return Verdict(True, None, node=facts)
        state = "stopped" if stopped else "not stopped"
        return Verdict(False, f"node {status}, {state} (a stop ends Down, stopped)", node=facts)
    if status != "Up":
        return Verdict(False, f"node {status}{' (stopped)' if stopped else ''}", node=facts)
    if stopped:
        return Verdict(False, "node Up but still marked stopped", node=facts)
    if given is not None and facts.instance_id == given:
        return Verdict(False, f"node still on instance {given} (not restarted yet)", node=facts)
    if health is not HealthState.OK:
        return Verdict(False, f"node health {health}", node=facts)
    return Verdict(True, None, node=facts)


# --- one check ------------------------------------------------------------------------------

#: ``get(path, params, route, parse)``: one GET under the gateway, retried like every call.
Get = Callable[[str, str, str, Callable[[bytes, OperationRef | None], Any], OperationRef], Awaitable[Any]]


async def check_recovery(
    get: Get, ref: OperationRef, transition: NodeTransitionType | None, given_instance: str | None
) -> Verdict:
    """Read what is needed (cheap first) and judge whether *ref*'s target has recovered."""
    sent = 0

    def counted(*args: Any) -> Awaitable[Any]:
        nonlocal sent
        sent += 1
        return get(*args)

    verdict = await _check(counted, ref, transition, given_instance)
    return attrs.evolve(verdict, requests=sent)


async def _check(get: Get, ref: OperationRef, transition: NodeTransitionType | None, given: str | None) -> Verdict:
    if ref.node_name is not None:
        return await _check_node(get, ref, transition, given)
    pid = ref.partition_id
    assert pid is not None
    base = f"/Partitions/{pid}"
    try:
        health = await get(f"{base}/$/GetHealth", _HEALTH_QUERY, "health", parse_health, ref)
    except NotFoundError as exc:
        if exc.code != HEALTH_NOT_FOUND:
            raise
        await get(base, "", "info", parse_partition, ref)  # 204 here: it does not exist
        return Verdict(False, "partition health not reported yet", PartitionFacts(pid))
    if health is not HealthState.OK:
        return Verdict(False, f"partition health {health}", PartitionFacts(pid, health))
    info = await get(base, "", "info", parse_partition, ref)
    replicas = await _all_pages(get, f"{base}/$/GetReplicas", ref)
    verdict = judge_partition(pid, ref.kind, info, replicas, None)
    if not verdict.ok and verdict.reason == "needs the up-node count":
        nodes = await _all_pages(get, "/Nodes", ref, f"MaxResults={_NODE_PAGE}")
        up = sum(1 for node in nodes if node.get("NodeStatus") in _UP_STATUSES)
        verdict = judge_partition(pid, ref.kind, info, replicas, up)
    return verdict


async def _check_node(
    get: Get, ref: OperationRef, transition: NodeTransitionType | None, given: str | None
) -> Verdict:
    name = ref.node_name
    assert name is not None
    path = f"/Nodes/{encode_service_id(name)}"
    info = await get(path, "", "info", parse_node, ref)
    if transition is None:  # not known: a stopped node is taken as the end of a stop
        transition = NodeTransitionType.STOP if info.get("IsStopped") is True else NodeTransitionType.START
    health = None
    if transition is NodeTransitionType.START and info.get("NodeStatus") == "Up":
        try:
            health = await get(f"{path}/$/GetHealth", "EventsHealthStateFilter=1", "health", parse_health, ref)
        except NotFoundError as exc:
            if exc.code != HEALTH_NOT_FOUND:
                raise
            health = None
    return judge_node(name, info, health, transition, given)


async def _all_pages(get: Get, path: str, ref: OperationRef, params: str = "") -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    token = ""
    for _ in range(_MAX_PAGES):
        query = "&".join(part for part in (params, f"ContinuationToken={token}" if token else "") if part)
        page, token = await get(path, query, "info", parse_page, ref)
        items.extend(page)
        if not token:
            return items
    raise ResponseFormatError(f"{path}: more than {_MAX_PAGES} pages (a continuation token that never ends)", ref=ref)
