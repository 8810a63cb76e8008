"""The reads a verified fault needs of its target, and their answers as small typed records.

Shapes from ``faults-beyond-fas-protocol.md``: int64 ids are strings (§0.5); ``GetReplicas``
pages (``ReplicaId`` for a stateful replica, ``InstanceId`` for a stateless instance);
``GET /Nodes/{n}`` (204: unknown); the service's description (``ServiceKind``,
``HasPersistedState``, §1.2) found through its application's name (§2.1); the deployed
replica and its code package on a node (bare arrays, §2.1).  Every enum is an open string.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar
from urllib.parse import quote

import attrs

from .._errors import NotFoundError, ResponseFormatError
from .._ids import encode_service_id
from .._models import OperationRef
from .._wire.parsing import decode_json, page_of

__all__ = ["NODE_LIST_VERSION", "CodePackage", "Hosting", "NodeView", "Replica", "ServiceView", "TargetReads"]

T = TypeVar("T")
#: Most pages read of one list (a continuation token that never ends is an error).
_MAX_PAGES = 1000
NODE_LIST_VERSION = "6.3"


class Get(Protocol):
    """One GET under the gateway, retried like every call (``Calls.target_read``)."""

    def __call__(
        self, path: str, params: str, parse: Callable[[bytes, OperationRef | None], T], ref: OperationRef | None,
        version: str = "6.0",
    ) -> Awaitable[T]: ...


@attrs.frozen
class Replica:
    """One replica (or stateless instance) of a partition: id, role (``""`` for an instance), status, node."""

    id: str
    role: str
    status: str
    node: str


@attrs.frozen
class ServiceView:
    """A service's kind: stateful or not, and (stateful) whether its state is persisted."""

    stateful: bool
    persisted: bool
    application_id: str


@attrs.frozen
class NodeView:
    """A node: its status, InstanceId, whether stopped, its health state, seed flag, domains and type (as listed)."""

    name: str
    status: str
    instance_id: str
    stopped: bool
    health: str
    seed: bool = False
    fault_domain: str = ""
    upgrade_domain: str = ""
    node_type: str = ""


@attrs.frozen
class Hosting:
    """Where a replica's code runs on its node: service manifest, code package, activation id."""

    service_manifest: str
    code_package: str
    activation_id: str


@attrs.frozen
class CodePackage:
    """A deployed code package's running entry point: which (``Main``/``Setup``), its status and instance id."""

    entry_point: str
    status: str
    instance_id: str


def _object(body: bytes, ref: OperationRef | None, what: str) -> Any:
    if body == b"":
        raise NotFoundError(status=204, code=None, message=f"{what} does not exist (204)", ref=ref)
    return decode_json(body, ref)


def _text(item: dict[str, Any], key: str, body: bytes, ref: OperationRef | None) -> str:
    value = item.get(key)
    if type(value) is int:
        return str(value)  # accept numbers where strings are sent (§0.5)
    if not isinstance(value, str):
        raise ResponseFormatError(f"expected {key!r} (a string)", body=body, ref=ref)
    return value


def parse_replica_page(body: bytes, ref: OperationRef | None) -> tuple[list[Replica], str]:
    """One page of ``GetReplicas``: its replicas and its continuation token."""
    items, token = page_of(_object(body, ref, "the partition"), body, ref, "replicas")
    replicas = []
    for item in items:
        key = "ReplicaId" if "ReplicaId" in item else "InstanceId"
        role = item.get("ReplicaRole")
        replicas.append(
            Replica(
                _text(item, key, body, ref),
                role if isinstance(role, str) else "",
                _text(item, "ReplicaStatus", body, ref),
                _text(item, "NodeName", body, ref),
            )
        )
    return replicas, token


@attrs.frozen
class ListedPartition:
    """A partition as its service's list shows it (``GET /Services/{id}/$/GetPartitions``)."""

    stateful: bool
    status: str
    target: int | None  # TargetReplicaSetSize or InstanceCount (None: -1, every up node; or not said)
    epoch: str | None  # the primary's epoch as text ("ConfigurationVersion/DataLossVersion"), stateful only


def parse_partition_list(body: bytes, ref: OperationRef | None) -> tuple[dict[uuid.UUID, ListedPartition], str]:
    """One page of a service's partitions, by id (items without a valid id skipped), and the token."""
    items, token = page_of(decode_json(body, ref), body, ref, "partitions")
    found: dict[uuid.UUID, ListedPartition] = {}
    for item in items:
        info = item.get("PartitionInformation")
        try:
            pid = uuid.UUID(str(info["Id"]))  # type: ignore[index]
        except (TypeError, KeyError, ValueError):
            continue
        stateful = item.get("ServiceKind") == "Stateful"
        size = item.get("TargetReplicaSetSize") if stateful else item.get("InstanceCount")
        target = int(size) if isinstance(size, (int, str)) and str(size).lstrip("-").isdigit() else None
        epoch = item.get("PrimaryEpoch") or item.get("CurrentConfigurationEpoch")
        text = (f"{epoch.get('ConfigurationVersion')}/{epoch.get('DataLossVersion')}" if isinstance(epoch, dict)
                and epoch.get("ConfigurationVersion") is not None else None)
        found[pid] = ListedPartition(stateful, str(item.get("PartitionStatus")),
                                     None if target is None or target < 0 else target, text)
    return found, token


def parse_node_view(body: bytes, ref: OperationRef | None) -> NodeView:
    data = _object(body, ref, "the node")
    if not isinstance(data, dict):
        raise ResponseFormatError("expected a node", body=body, ref=ref)
    return _node(data, body, ref)


def _node(data: dict[str, Any], body: bytes, ref: OperationRef | None) -> NodeView:
    health = data.get("HealthState")
    return NodeView(
        _text(data, "Name", body, ref),
        _text(data, "NodeStatus", body, ref),
        _text(data, "InstanceId", body, ref),
        data.get("IsStopped") is True,
        health if isinstance(health, str) else "Unknown",
        data.get("IsSeedNode") is True,
        str(data.get("FaultDomain") or ""),
        str(data.get("UpgradeDomain") or ""),
        str(data.get("Type") or ""),
    )


def parse_node_page(body: bytes, ref: OperationRef | None) -> tuple[list[NodeView], str]:
    items, token = page_of(_object(body, ref, "the node list"), body, ref, "nodes")
    return [_node(item, body, ref) for item in items], token


def parse_name_id(body: bytes, ref: OperationRef | None) -> str:
    """``{"Id": ..., "Name": ...}`` (``GetApplicationName``): the id."""
    data = _object(body, ref, "the name")
    if not isinstance(data, dict):
        raise ResponseFormatError("expected {'Id', 'Name'}", body=body, ref=ref)
    return _text(data, "Id", body, ref)


def parse_service(body: bytes, ref: OperationRef | None) -> tuple[bool, bool]:
    """A ``ServiceInfo``: (stateful, persisted)."""
    data = _object(body, ref, "the service")
    if not isinstance(data, dict) or not isinstance(data.get("ServiceKind"), str):
        raise ResponseFormatError("expected a service with 'ServiceKind'", body=body, ref=ref)
    stateful = data["ServiceKind"] == "Stateful"
    return stateful, stateful and data.get("HasPersistedState") is True


def parse_hosting(body: bytes, ref: OperationRef | None) -> Hosting:
    """The deployed replicas of a partition on a node (a bare array; 204: none there)."""
    data = _object(body, ref, "the replica on that node")
    if not isinstance(data, list) or not data or not isinstance(data[0], dict):
        raise NotFoundError(status=204, code=None, message="no replica of the partition on that node", ref=ref)
    item = data[0]
    return Hosting(
        _text(item, "ServiceManifestName", body, ref),
        _text(item, "CodePackageName", body, ref),
        str(item.get("ServicePackageActivationId") or ""),
    )


def parse_code_packages(activation_id: str) -> Callable[[bytes, OperationRef | None], CodePackage]:
    """The entry point to restart in a code-package list: ``Main`` if ``Started``, else ``Setup`` if so (§2.3)."""

    def parse(body: bytes, ref: OperationRef | None) -> CodePackage:
        data = decode_json(body, ref)
        if not isinstance(data, list):
            raise ResponseFormatError("expected a list of code packages", body=body, ref=ref)
        for item in data:
            if not isinstance(item, dict) or str(item.get("ServicePackageActivationId") or "") != activation_id:
                continue
            found = None
            for key, name in (("MainEntryPoint", "Main"), ("SetupEntryPoint", "Setup")):
                point = item.get(key)
                if isinstance(point, dict) and isinstance(point.get("Status"), str):
                    entry = CodePackage(name, point["Status"], _text(point, "InstanceId", body, ref))
                    if entry.status == "Started":
                        return entry
                    found = found or entry
            if found is not None:
                return found
        raise NotFoundError(status=404, code="FABRIC_E_CODE_PACKAGE_NOT_FOUND",
                            message="the code package is not deployed on that node", ref=ref)

    return parse


class TargetReads:
    """A client's reads of verified faults' targets; a service's kind and application are read once."""

    def __init__(self, get: Get) -> None:
        self.get = get
        self.services: dict[str, ServiceView] = {}
        self.applications: dict[str, str] = {}  # service id -> its application's id

    async def replicas(self, partition_id: uuid.UUID, ref: OperationRef | None) -> list[Replica]:
        """Every replica of the partition (all pages)."""
        pages = await self.pages(f"/Partitions/{partition_id}/$/GetReplicas", parse_replica_page, ref)
        return [replica for page in pages for replica in page]

    async def pages(
        self, path: str, parse: Callable[[bytes, OperationRef | None], tuple[T, str]], ref: OperationRef | None,
        version: str = "6.0",
    ) -> list[T]:
        """Every page of a paged list (each page as *parse* reads it), following its continuation tokens."""
        found: list[T] = []
        token = ""
        for _ in range(_MAX_PAGES):
            page, token = await self.get(path, f"ContinuationToken={token}" if token else "", parse, ref, version)
            found.append(page)
            if not token:
                return found
        raise ResponseFormatError(f"{path}: more than {_MAX_PAGES} pages", ref=ref)

    async def application(self, service_id: str, ref: OperationRef | None) -> str:
        """The id of the service's application (``GetApplicationName``, read once per client)."""
        known = self.applications.get(service_id)
        if known is None:
            path = f"/Services/{encode_service_id(service_id)}/$/GetApplicationName"
            known = self.applications[service_id] = await self.get(path, "", parse_name_id, ref)
        return known

    async def service(self, service_id: str, ref: OperationRef | None) -> ServiceView:
        """The service's kind and application (read once per client)."""
        known = self.services.get(service_id)
        if known is not None:
            return known
        encoded = encode_service_id(service_id)
        app = await self.application(service_id, ref)
        stateful, persisted = await self.get(
            f"/Applications/{encode_service_id(app)}/$/GetServices/{encoded}", "", parse_service, ref
        )
        view = self.services[service_id] = ServiceView(stateful, persisted, app)
        return view

    async def node(self, name: str, ref: OperationRef | None) -> NodeView:
        return await self.get(f"/Nodes/{encode_service_id(name)}", "", parse_node_view, ref)

    async def nodes(self, ref: OperationRef | None) -> list[NodeView]:
        pages = await self.pages("/Nodes", parse_node_page, ref, NODE_LIST_VERSION)
        return [node for page in pages for node in page]

    async def hosting(self, node: str, application_id: str, partition_id: uuid.UUID, ref: OperationRef) -> Hosting:
        path = f"/Nodes/{encode_service_id(node)}/$/GetApplications/{encode_service_id(application_id)}/$/GetReplicas"
        return await self.get(path, f"PartitionId={partition_id}", parse_hosting, ref)

    async def code_package(
        self, node: str, application_id: str, hosting: Hosting, ref: OperationRef | None
    ) -> CodePackage:
        app = encode_service_id(application_id)
        path = f"/Nodes/{encode_service_id(node)}/$/GetApplications/{app}/$/GetCodePackages"
        params = (f"ServiceManifestName={quote(hosting.service_manifest, safe='')}"
                  f"&CodePackageName={quote(hosting.code_package, safe='')}")
        return await self.get(path, params, parse_code_packages(hosting.activation_id), ref)
