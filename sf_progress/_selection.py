"""Target selectors: a service's or an application's partitions, or the nodes of a type, picked at random.

``ProgressClient.select_targets`` reads the candidates (an application's services, each
service's partitions, the node list; all paged), keeps those the fault applies to (a move of
a primary needs a stateful service, a move of an instance a stateless one...), and picks
``count`` of them with ``random.Random(seed)`` over the candidates in a fixed order, so that
the same seed picks the same targets.  Nodes: only ``Up`` ones (stopped ones for a node
start), seed nodes skipped unless asked, and picked across fault domains in turn, so that a
pick of N nodes spans as many fault domains as it can.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Mapping

from ._errors import UnsupportedFaultError
from ._ids import encode_service_id, normalize_service_id
from ._models import OperationRef, OperationType
from ._targets import FaultTarget, spec_of
from ._verified.reads import NodeView, TargetReads, parse_partition_list
from ._wire.parsing import decode_json, page_of

__all__ = ["check_kind", "select_targets"]

#: What a partition fault needs of its service (the others apply to any service).
_NEEDS = {
    OperationType.PARTITION_DATA_LOSS: "stateful",
    OperationType.PARTITION_QUORUM_LOSS: "stateful",
    OperationType.REPLICA_RESTART: "persisted",
    OperationType.PRIMARY_MOVE: "stateful",
    OperationType.SECONDARY_MOVE: "stateful",
    OperationType.INSTANCE_MOVE: "stateless",
}
_NEED_WORDS = {"stateful": "a stateful service", "persisted": "a stateful service with persisted state",
               "stateless": "a stateless service"}
Service = tuple[str, bool, bool]  # (id, stateful, persisted)


def _service_page(body: bytes, ref: OperationRef | None) -> tuple[list[Service], str]:
    items, token = page_of(decode_json(body, ref), body, ref, "services")
    found = []
    for item in items:
        if isinstance(item.get("Id"), str):
            stateful = item.get("ServiceKind") == "Stateful"
            found.append((item["Id"], stateful, stateful and item.get("HasPersistedState") is True))
    return found, token


def _applies(need: str | None, stateful: bool, persisted: bool) -> bool:
    return need is None or ((need == "stateless") != stateful and (need != "persisted" or persisted))


def check_kind(kind: OperationType | str, service: str, stateful: bool, persisted: bool) -> None:
    """Refuse a partition fault its service's kind does not allow (a move of a primary on a stateless service...).

    Raises:
        UnsupportedFaultError: The fault needs another kind of service.
    """
    kind = spec_of(kind).kind
    need = _NEEDS.get(kind)
    if not _applies(need, stateful, persisted):
        words = f"a {kind.short_name} fault needs {_NEED_WORDS[str(need)]}; {service} is not one"
        raise UnsupportedFaultError(words, code="FABRIC_E_INVALID_SERVICE_TYPE")


def _check(
    target: str, kind: OperationType, service: str | None, application: str | None, node_type: str | None,
    count: int | None, seed: object, seed_nodes: bool, parameters: Mapping[str, object],
) -> None:
    """Every argument checked before anything is read (the parameters: by a target built on a stand-in)."""
    if count is not None and (type(count) is not int or count < 1):
        raise ValueError(f"count must be an int >= 1 (or None: all), got {count!r}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, str))):
        raise TypeError(f"seed must be an int or a str, not {type(seed).__name__}")
    if target == "partition":
        if (service is None) == (application is None):
            raise ValueError(f"a {kind.short_name} fault is selected by service= or application= (one of them)")
        if node_type is not None or seed_nodes:
            raise ValueError(f"node_type and seed_nodes select nodes; a {kind.short_name} fault acts on partitions")
        FaultTarget.of(kind, service_id="sf-progress~selection", partition_id=uuid.UUID(int=1), **parameters)
    else:
        if service is not None or application is not None:
            raise ValueError(f"service and application select partitions; a {kind.short_name} fault acts on nodes "
                             "(select them by node_type=, or all)")
        FaultTarget.of(kind, node_name="sf-progress-selection", **parameters)


async def select_targets(
    reads: TargetReads,
    kind: OperationType | str,
    *,
    service: str | None,
    application: str | None,
    node_type: str | None,
    count: int | None,
    seed: int | str | None,
    seed_nodes: bool,
    parameters: Mapping[str, object],
) -> list[FaultTarget]:
    """The targets a selector names (see ``ProgressClient.select_targets``)."""
    spec = spec_of(kind)
    kind = spec.kind
    _check(spec.target, kind, service, application, node_type, count, seed, seed_nodes, parameters)
    rng = random.Random(seed)
    if spec.target == "node":
        nodes = _node_candidates(await reads.nodes(None), kind, node_type, seed_nodes, parameters)
        picked = _spread(nodes, count, rng)
        return [FaultTarget.of(kind, node_name=node.name, **parameters) for node in picked]
    pairs = await _partition_candidates(reads, kind, service, application)
    if count is not None:
        if count > len(pairs):
            raise ValueError(f"count={count}, but only {len(pairs)} partition(s) to choose from")
        pairs = sorted(rng.sample(pairs, count))
    return [FaultTarget.of(kind, service_id=sid, partition_id=pid, **parameters) for sid, pid in pairs]


async def _partition_candidates(
    reads: TargetReads, kind: OperationType, service: str | None, application: str | None
) -> list[tuple[str, uuid.UUID]]:
    need = _NEEDS.get(kind)
    if service is not None:
        sid = normalize_service_id(service)
        view = await reads.service(sid, None)
        check_kind(kind, service, view.stateful, view.persisted)
        services = [sid]
    else:
        assert application is not None
        app = normalize_service_id(application)
        listed = await reads.pages(f"/Applications/{encode_service_id(app)}/$/GetServices", _service_page, None)
        every = [s for page in listed for s in page]
        services = sorted(sid for sid, stateful, persisted in every if _applies(need, stateful, persisted))
        if not services:
            words = f" (a {kind.short_name} fault needs {_NEED_WORDS[need]})" if need and every else ""
            raise ValueError(f"application {application} has no service to select{words}")
    pairs: list[tuple[str, uuid.UUID]] = []
    for sid in services:
        pages = await reads.pages(f"/Services/{encode_service_id(sid)}/$/GetPartitions", parse_partition_list,
                                  None, "6.4")
        pairs.extend((sid, pid) for page in pages for pid in sorted(page))
    if not pairs:
        raise ValueError(f"{service or application} has no partition to select")
    return pairs


def _node_candidates(
    nodes: list[NodeView], kind: OperationType, node_type: str | None, seed_nodes: bool,
    parameters: Mapping[str, object],
) -> list[NodeView]:
    if node_type is not None and not any(n.node_type == node_type for n in nodes):
        types = ", ".join(sorted({n.node_type for n in nodes if n.node_type})) or "none listed"
        raise ValueError(f"no node of type {node_type!r} (the node types: {types})")
    transition = parameters.get("transition")
    starting = kind is OperationType.NODE_TRANSITION and str(transition).strip().lower() == "start"
    found = [
        n for n in nodes
        if (node_type is None or n.node_type == node_type) and (seed_nodes or not n.seed)
        and (n.stopped if starting else n.status == "Up" and not n.stopped)
    ]
    if not found:
        state = "stopped" if starting else "up"
        seeds = "" if seed_nodes else ", seed nodes left out (seed_nodes=True takes them)"
        raise ValueError(f"no {state} node to select" + (f" of type {node_type!r}" if node_type else "") + seeds)
    return sorted(found, key=lambda n: n.name)


def _spread(nodes: list[NodeView], count: int | None, rng: random.Random) -> list[NodeView]:
    """*count* of *nodes* (all: ``None``), one fault domain after another in a random order."""
    if count is not None and count > len(nodes):
        raise ValueError(f"count={count}, but only {len(nodes)} node(s) to choose from")
    domains: dict[str, list[NodeView]] = {}
    for node in nodes:
        domains.setdefault(node.fault_domain, []).append(node)
    groups = [domains[d] for d in sorted(domains)]
    rng.shuffle(groups)
    for group in groups:
        rng.shuffle(group)
    picked: list[NodeView] = []
    while groups and (count is None or len(picked) < count):
        for group in list(groups):
            if count is not None and len(picked) >= count:
                break
            picked.append(group.pop())
            if not group:
                groups.remove(group)
    return picked
