"""The fake cluster's partitions and nodes as its fault operations leave them: info, replicas, health.

Faithful to health-and-chaos-protocol.md in shapes and codes: ``GET /Partitions/{id}``
(``ServicePartitionInfo``; 204 and an empty body for an unknown partition),
``/$/GetReplicas`` (paged ``{"ContinuationToken", "Items"}``, sorted by ReplicaId; 404
``FABRIC_E_PARTITION_NOT_FOUND``), ``/$/GetHealth`` of partitions and nodes (404
``FABRIC_E_HEALTH_ENTITY_NOT_FOUND`` for an unknown entity or one with no report yet),
``GET /Nodes/{name}`` (``NodeInfo``; 204 when unknown) and ``GET /Nodes`` (paged).

What a fault does to its target, from its start (times on the cluster's clock; ``r`` is
the operation's ``Script.recovery``, seconds from the fault's end until the target is back):

- restart / data loss while Running: ``Reconfiguring``, the secondaries ``InBuild``,
  health ``Warning``; quorum loss: ``InQuorumLoss``, the secondaries ``Down``, health
  ``Error``.  Data loss bumps ``DataLossVersion`` when it ends.
- the first half of ``r``: ``Reconfiguring``, one replica ``Ready``, the others
  ``InBuild``, health ``Warning``; the second half: ``Ready`` and health ``Ok`` but one
  replica still ``InBuild`` (health alone is not enough, as on a real cluster); then all
  ``Ready``.  ``r = math.inf``: never back (stays in the first half).
- a node stop: ``Down``, ``IsStopped``, health ``Error`` from the start until its stop
  duration after it ended, then ``Up`` on a new instance; a start: ``Down`` until it ends,
  then ``Up`` on a new instance, health ``Error`` until ``r`` later, then ``Ok``.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from aiohttp import web

from .._models import OperationType
from ._answers import Answer
from ._answers import invalid as _invalid
from ._replicas import Layouts
from ._scripts import FakeOperation
from ._wire import strict_unquote

__all__ = ["ClusterState", "Targets", "node_name"]

PARTITION_ENTITY = re.compile(r"^/Partitions/(?P<pid>[^/]+)(?P<what>/\$/GetHealth|/\$/GetReplicas)?$")
SERVICE_HEALTH = re.compile(r"^/Services/(?P<sid>[^/]+)/\$/GetHealth$")
NODE_ENTITY = re.compile(r"^/Nodes(?:/(?P<node>[^/]+)(?P<what>/\$/GetHealth)?)?/?$")
HEALTH_NOT_FOUND = "FABRIC_E_HEALTH_ENTITY_NOT_FOUND"
#: Stateful partitions' replica set sizes (the spec examples' 3 and 2).
TARGET_REPLICAS, MIN_REPLICAS = 3, 2
_BASE_REPLICA_ID = 132_587_450_000_000_000
_PARTITION_HEALTH = {
    "Ok": "Partition is healthy.",
    "Warning": "Partition reconfiguration is taking longer than expected.",
    "Error": "Partition is in quorum loss.",
}


class ClusterState(Protocol):
    """What the targets read of the fake cluster (``FakeCluster``; this module does not import it)."""

    @property
    def clock(self) -> Callable[[], float]:
        """The fake's clock (seconds)."""

    @property
    def services(self) -> Mapping[str, tuple[frozenset[uuid.UUID], bool]]:
        """Declared services: their partitions and whether they are stateful."""

    @property
    def nodes(self) -> Mapping[str, int]:
        """Known nodes and their base instance ids."""

    @property
    def cluster_version(self) -> str:
        """The version ``GetClusterVersion`` answers."""


def node_name(raw: str) -> str:
    """A node name from its URL path segment (a bad escape: 400 ``FABRIC_E_INVALID_NAME_URI``)."""
    try:
        return strict_unquote(raw)
    except ValueError:
        raise _invalid(f"Invalid node name {raw!r}") from None


class Targets:
    """The fake's view of partitions and nodes (``FakeCluster.targets``)."""

    def __init__(self, cluster: ClusterState) -> None:
        self.cluster = cluster
        self.by_partition: dict[uuid.UUID, FakeOperation] = {}  # the last fault of each partition
        self.node_ops: dict[str, FakeOperation] = {}  # the last transition of each node
        self._hidden: dict[str, float] = {}
        self.layouts: Layouts | None = None  # the replicas the verified faults touched (set by the cluster)
        self.page_size = 100  # items per page of GetReplicas and of the node list
        self.node_fields: dict[str, dict[str, Any]] = {}  # a node's listed fields as set_node changed them

    def track(self, op: FakeOperation) -> None:
        """A fault was started (or added) on its target."""
        if op.ref.partition_id is not None:
            self.by_partition[op.ref.partition_id] = op
        if op.ref.node_name is not None:
            self.node_ops[op.ref.node_name] = op

    def hide_health(self, target: str | uuid.UUID, seconds: float) -> None:
        """Health reads of this partition (a GUID) or node (a name) answer 404 "no report yet" for *seconds*."""
        key = str(uuid.UUID(str(target))) if not isinstance(target, str) or _is_guid(target) else target
        self._hidden[key] = self.cluster.clock() + seconds

    # --- routing ---------------------------------------------------------------------------

    @staticmethod
    def route(path: str) -> tuple[str, re.Match[str]] | None:
        match = PARTITION_ENTITY.match(path) or NODE_ENTITY.match(path) or SERVICE_HEALTH.match(path)
        if match is None:
            return None
        return ("health" if match.re is SERVICE_HEALTH or match["what"] == "/$/GetHealth" else "info"), match

    def answer(self, match: re.Match[str], query: dict[str, str]) -> web.Response:
        groups = match.groupdict()
        if match.re is SERVICE_HEALTH:
            return self._service_health(node_name(groups["sid"]), query)
        if "pid" in groups:
            try:
                pid = uuid.UUID(groups["pid"])
            except ValueError:
                raise Answer(400, "E_INVALIDARG", f"Invalid partition id {groups['pid']!r}") from None
            what = groups["what"]
            if what == "/$/GetHealth":
                return self._partition_health(pid, query)
            if what == "/$/GetReplicas":
                return self._replicas(pid, query)
            return self._partition_info(pid)
        if groups["node"] is None:
            return self._node_list(query)
        name = node_name(groups["node"])
        return self._node_health(name) if groups["what"] else self._node_info(name)

    # --- partitions --------------------------------------------------------------------------

    def _stateful(self, pid: uuid.UUID) -> bool | None:
        """Whether the partition is stateful; ``None`` if the cluster knows no such partition."""
        for partitions, stateful in self.cluster.services.values():
            if pid in partitions:
                return stateful
        return True if pid in self.by_partition else None

    def _phase(self, op: FakeOperation | None) -> str:
        if op is None:
            return "ok"
        now = self.cluster.clock()
        _, ended = op.state_at(now)
        if ended is None:
            return "fault"
        back = op.script.recovery
        if now >= ended + back:
            return "ok"
        return "early" if math.isinf(back) or now < ended + back / 2 else "late"

    def _partition(self, pid: uuid.UUID) -> tuple[bool, str, str, list[str]]:
        """(stateful, PartitionStatus, health, replica statuses: the primary's first)."""
        stateful = self._stateful(pid)
        if stateful is None:
            raise LookupError(pid)
        op = self.by_partition.get(pid)
        phase = self._phase(op)
        layout = None if self.layouts is None or phase != "ok" else self.layouts.layout(pid)
        if layout is not None:  # a verified fault's replicas, as they are now
            statuses = [r.status for r in sorted(layout.replicas, key=lambda r: r.role != "Primary")]
            ok = all(s == "Ready" for s in statuses)
            return stateful, "Ready" if ok else "Reconfiguring", "Ok" if ok else "Warning", statuses
        size = TARGET_REPLICAS if stateful else self._up_nodes()
        if phase == "ok":
            return stateful, "Ready", "Ok", ["Ready"] * size
        assert op is not None
        if phase == "fault":
            if op.kind is OperationType.PARTITION_QUORUM_LOSS:
                return stateful, "InQuorumLoss", "Error", ["Ready"] + ["Down"] * (size - 1)
            return stateful, "Reconfiguring", "Warning", ["Ready"] + ["InBuild"] * (size - 1)
        if phase == "early":
            return stateful, "Reconfiguring", "Warning", ["Ready"] + ["InBuild"] * (size - 1)
        return stateful, "Ready", "Ok", ["Ready"] * (size - 1) + ["InBuild"]

    def _configuration(self, pid: uuid.UUID) -> int:
        layout = None if self.layouts is None else self.layouts.layouts.get(pid)
        return 0 if layout is None else layout.version

    def _data_loss_version(self, pid: uuid.UUID) -> int:
        op = self.by_partition.get(pid)
        if op is not None and op.kind is OperationType.PARTITION_DATA_LOSS and op.state_at(self.cluster.clock())[1]:
            return 2
        return 1

    def _partition_info(self, pid: uuid.UUID) -> web.Response:
        try:
            stateful, status, health, _ = self._partition(pid)
        except LookupError:
            return web.Response(status=204)  # an unknown partition: an empty 204 (§2)
        body: dict[str, Any] = {
            "ServiceKind": "Stateful" if stateful else "Stateless",
            "PartitionInformation": {"ServicePartitionKind": "Singleton", "Id": str(pid)},
            "HealthState": health,
            "PartitionStatus": status,
        }
        if stateful:
            body.update(
                TargetReplicaSetSize=TARGET_REPLICAS,
                MinReplicaSetSize=MIN_REPLICAS,
                LastQuorumLossDurationInSeconds="0",
                CurrentConfigurationEpoch={
                    "ConfigurationVersion": str(8589934592 + self._configuration(pid)),
                    "DataLossVersion": str(131_000_000_000_000_000 + self._data_loss_version(pid)),
                },
            )
        else:
            count = None if self.layouts is None else self.layouts.instance_count
            body["InstanceCount"] = -1 if count is None else count
        return web.json_response(body)

    def _replicas(self, pid: uuid.UUID, query: dict[str, str]) -> web.Response:
        try:
            stateful, _, _, statuses = self._partition(pid)
        except LookupError:
            raise Answer(404, "FABRIC_E_PARTITION_NOT_FOUND", f"Partition {pid} was not found") from None
        layouts = self.layouts
        layout = None if layouts is None else layouts.layout(pid)
        if layouts is not None and layout is not None and self._phase(self.by_partition.get(pid)) == "ok":
            key = "ReplicaId" if stateful else "InstanceId"
            return self._page(layouts.replica_items(layout), query, lambda item: int(item[key]), int)
        nodes = sorted(self.cluster.nodes)
        items = []
        for index, status in enumerate(statuses):
            item: dict[str, Any] = {
                "ServiceKind": "Stateful" if stateful else "Stateless",
                "ReplicaStatus": status,
                "HealthState": "Ok" if status == "Ready" else "Warning",
                "NodeName": nodes[index % len(nodes)],
                "Address": "",
                "LastInBuildDurationInSeconds": "0",
            }
            replica_id = str(_BASE_REPLICA_ID + index)
            if stateful:
                item.update(ReplicaId=replica_id, ReplicaRole="Primary" if index == 0 else "ActiveSecondary")
            else:
                item["InstanceId"] = replica_id
            items.append(item)
        key = "ReplicaId" if stateful else "InstanceId"
        return self._page(items, query, lambda item: int(item[key]), int)

    def _partition_health(self, pid: uuid.UUID, query: dict[str, str]) -> web.Response:
        try:
            stateful, _, health, statuses = self._partition(pid)
        except LookupError:
            raise Answer(404, HEALTH_NOT_FOUND, "Entity not found in Health Store.") from None
        self._check_hidden(str(pid))
        description = _PARTITION_HEALTH[health]
        # One state per replica, as the gateway lists them unless ReplicasHealthStateFilter is None (1).
        key = "ReplicaId" if stateful else "InstanceId"
        replicas = [] if query.get("ReplicasHealthStateFilter") == "1" else [
            {"PartitionId": str(pid), key: str(_BASE_REPLICA_ID + i), "AggregatedHealthState": "Ok"}
            for i in range(len(statuses))
        ]
        return web.json_response(
            {
                "HealthEvents": [_event(health, description)],
                "AggregatedHealthState": health,
                "UnhealthyEvaluations": [],
                "PartitionId": str(pid),
                "ReplicaHealthStates": replicas,
            }
        )

    def partition_status(self, pid: uuid.UUID) -> tuple[str, str]:
        """(PartitionStatus, health) of a declared partition now, whatever fault touched it last."""
        _, status, health, _ = self._partition(pid)
        return status, health

    def _service_health(self, sid: str, query: dict[str, str]) -> web.Response:
        """A service's health (health-and-chaos §5): the worst of its partitions', those not Ok evaluated."""
        key = sid.removeprefix("fabric:/").replace("/", "~")
        declared = self.cluster.services.get(key)
        if declared is None:
            raise Answer(404, HEALTH_NOT_FOUND, "Entity not found in Health Store.")
        states = {pid: self._partition(pid)[2] for pid in sorted(declared[0])}
        worst = max(states.values(), key=_SEVERITY.__getitem__, default="Ok")
        bits = int(query.get("PartitionsHealthStateFilter") or 0)
        shown = [{"PartitionId": str(pid), "AggregatedHealthState": state} for pid, state in states.items()
                 if not bits or bits & _FILTER_BITS[state]]
        bad = [(pid, state) for pid, state in states.items() if state != "Ok"]
        evaluations = [] if not bad else [{"HealthEvaluation": {
            "Kind": "Partitions", "AggregatedHealthState": worst, "MaxPercentUnhealthyPartitionsPerService": 0,
            "TotalCount": len(states),
            "Description": f"{len(bad)} of {len(states)} partitions are unhealthy (0% allowed).",
            "UnhealthyEvaluations": [{"HealthEvaluation": {
                "Kind": "Partition", "PartitionId": str(pid), "AggregatedHealthState": state,
                "Description": f"Partition {pid}: {_PARTITION_HEALTH[state]}"}} for pid, state in bad]}}]
        counts = {name: sum(1 for state in states.values() if state == name) for name in ("Ok", "Warning", "Error")}
        return web.json_response({
            "Name": f"fabric:/{key.replace('~', '/')}", "AggregatedHealthState": worst, "HealthEvents": [],
            "UnhealthyEvaluations": evaluations, "PartitionHealthStates": shown,
            "HealthStatistics": {"HealthStateCountList": [{"EntityKind": "Partition", "HealthStateCount": {
                "OkCount": counts["Ok"], "WarningCount": counts["Warning"], "ErrorCount": counts["Error"]}}]},
        })

    # --- nodes ----------------------------------------------------------------------------

    def node_state(self, name: str) -> tuple[str, bool, int, str]:
        """(NodeStatus, IsStopped, InstanceId, health) of a known node, now."""
        base = self.cluster.nodes[name]
        if self.layouts is not None:  # node restarts: down for a while, then up on a larger instance
            down, restarts = self.layouts.node_down(name)
            base += restarts
            if down:
                return "Down", False, base, "Error"
        op = self.node_ops.get(name)
        if op is None:
            return "Up", False, base, "Ok"
        now = self.cluster.clock()
        _, ended = op.state_at(now)
        if op.mode == "Stop":
            stop = float(op.node_stop_duration or 0)
            if ended is None or now < ended + stop:
                return "Down", True, base, "Error"
            return "Up", False, base + 1, "Ok"
        if ended is None:
            return "Down", True, base, "Error"
        return "Up", False, base + 1, ("Ok" if now >= ended + op.script.recovery else "Error")

    def _up_nodes(self) -> int:
        return sum(1 for name in self.cluster.nodes if self.node_state(name)[0] == "Up")

    def _node_body(self, name: str) -> dict[str, Any]:
        status, stopped, instance, health = self.node_state(name)
        index = sorted(self.cluster.nodes).index(name)
        return {
            "Name": name,
            "IpAddressOrFQDN": f"10.0.0.{4 + index}",
            "Type": "NodeType0",
            "CodeVersion": self.cluster.cluster_version,
            "ConfigVersion": "1.0",
            "NodeStatus": status,
            "NodeUpTimeInSeconds": "0" if status != "Up" else "3600",
            "NodeDownTimeInSeconds": "0" if status == "Up" else "60",
            "HealthState": health,
            "IsSeedNode": index < 3,
            "UpgradeDomain": str(index),
            "FaultDomain": f"fd:/{index}",
            "Id": {"Id": f"{index + 1:032x}"},
            "InstanceId": str(instance),
            "IsStopped": stopped,
            **self.node_fields.get(name, {}),
        }

    def set_node(
        self,
        name: str,
        *,
        node_type: str | None = None,
        fault_domain: str | None = None,
        upgrade_domain: str | None = None,
        seed: bool | None = None,
    ) -> None:
        """Change how a node is listed: its type (``NodeType0`` by default), fault domain (``fd:/N``),
        upgrade domain (``N``) and seed flag (the first three nodes by name)."""
        fields = self.node_fields.setdefault(name, {})
        for key, value in (("Type", node_type), ("FaultDomain", fault_domain), ("UpgradeDomain", upgrade_domain),
                           ("IsSeedNode", seed)):
            if value is not None:
                fields[key] = value

    def _node_info(self, name: str) -> web.Response:
        if name not in self.cluster.nodes:
            return web.Response(status=204)  # an unknown node: an empty 204 (§2)
        return web.json_response(self._node_body(name))

    def _node_list(self, query: dict[str, str]) -> web.Response:
        items = [self._node_body(name) for name in sorted(self.cluster.nodes)]
        return self._page(items, query, lambda item: str(item["Name"]), str, _max_results(query))

    def _node_health(self, name: str) -> web.Response:
        if name not in self.cluster.nodes:
            raise Answer(404, HEALTH_NOT_FOUND, "Entity not found in Health Store.")
        self._check_hidden(name)
        health = self.node_state(name)[3]
        description = "Fabric node is up." if health == "Ok" else "Fabric node is down."
        events = [_event(health, description)]
        return web.json_response(
            {"Name": name, "HealthEvents": events, "AggregatedHealthState": health, "UnhealthyEvaluations": []}
        )

    # --- helpers ----------------------------------------------------------------------------

    def _check_hidden(self, key: str) -> None:
        until = self._hidden.get(key)
        if until is not None and self.cluster.clock() < until:
            raise Answer(404, HEALTH_NOT_FOUND, "Entity has no System report.")

    def _page(
        self, items: list[dict[str, Any]], query: dict[str, str], key: Any, parse: Any, most: int | None = None
    ) -> web.Response:
        """One page of *items* (sorted by *key*) after the ``ContinuationToken`` (a key, as text)."""
        token = query.get("ContinuationToken", "")
        if token:
            try:
                after = parse(token)
            except ValueError:
                raise Answer(400, "E_INVALIDARG", f"Invalid ContinuationToken {token!r}") from None
            items = [item for item in items if key(item) > after]
        size = self.page_size if most is None else min(most, self.page_size)
        page, rest = items[:size], items[size:]
        return web.json_response({"ContinuationToken": str(key(page[-1])) if rest else "", "Items": page})


def _max_results(query: dict[str, str]) -> int | None:
    """``MaxResults`` of a query: 0 or absent means no limit but the gateway's own (400 if not a number >= 0)."""
    text = query.get("MaxResults", "")
    if not text:
        return None
    if not text.isdigit():
        raise Answer(400, "E_INVALIDARG", f"Invalid MaxResults {text!r}")
    return int(text) or None


def _event(health: str, description: str) -> dict[str, Any]:
    return {
        "SourceId": "System.FM",
        "Property": "State",
        "HealthState": health,
        "Description": description,
        "SequenceNumber": "191",
        "RemoveWhenExpired": False,
        "IsExpired": False,
    }


_SEVERITY = {"Ok": 0, "Warning": 1, "Error": 2}
_FILTER_BITS = {"Ok": 2, "Warning": 4, "Error": 8}


def _is_guid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True
