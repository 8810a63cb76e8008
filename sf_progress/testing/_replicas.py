"""The fake cluster's replicas, code packages and node restarts, as the verified faults change them.

Faithful to ``faults-beyond-fas-protocol.md`` (§7 is its checklist): every start answers 200
with an empty body; a persisted replica's restart keeps its id and goes ``Down`` then
``InBuild`` then ``Ready`` (a restarted primary comes back a secondary, another one
promoted); a removal drops the id (gone from ``GetReplicas``) and builds a new, larger one;
restarting a volatile replica or a stateless instance is 400
``FABRIC_E_INVALID_REPLICA_OPERATION``, a stale replica id 404
``FABRIC_E_REPLICA_DOES_NOT_EXIST``, a replica already closing 400
``FABRIC_E_INVALID_REPLICA_STATE``; moves answer once the move is seen (a primary moved to
a node holding a secondary swaps roles; a secondary or instance moved gets a new id on its
new node, ``InBuild`` then ``Ready``), 409 ``FABRIC_E_PRIMARY_ALREADY_EXISTS`` /
``..._SECONDARY_...`` when the node already holds it, 404 ``FABRIC_E_NODE_NOT_FOUND`` for a
node not up, 400 ``FABRIC_E_INVALID_PARTITION_OPERATION`` for the wrong service kind; a code
package restart needs the running entry point's exact instance id (409
``FABRIC_E_INSTANCE_ID_MISMATCH``) and comes back ``Started`` on a larger one; a node
restart needs the node's instance id (or ``"0"``), goes ``Down`` and comes back ``Up`` on a
larger one (400 ``FABRIC_E_INVALID_ADDRESS`` while down or for an unknown node).

Times on the cluster's clock: ``delay`` seconds from the 200 until the replica or node goes
down (the code package's new start), ``rebuild`` seconds until it is back.  A partition or
node in ``never`` takes every fault (200) and never shows its effect.
"""

from __future__ import annotations

import heapq
import itertools
import json
import random
import re
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import attrs
from aiohttp import web

from ._answers import Answer
from ._answers import invalid as _invalid
from ._wire import strict_unquote

__all__ = ["VERIFIED_ROUTES", "Layouts"]

_ID = r"[^/]+"
_PATHS = (
    ("partitions", "GET", re.compile(rf"^/Services/(?P<sid>{_ID})/\$/GetPartitions$")),
    ("app_name", "GET", re.compile(rf"^/Services/(?P<sid>{_ID})/\$/GetApplicationName$")),
    ("service", "GET", re.compile(rf"^/Applications/(?!System/)(?P<app>{_ID})/\$/GetServices/(?P<sid>{_ID})$")),
    ("services", "GET", re.compile(rf"^/Applications/(?!System/)(?P<app>{_ID})/\$/GetServices$")),
    ("deployed", "GET", re.compile(rf"^/Nodes/(?P<node>{_ID})/\$/GetApplications/(?P<app>{_ID})/\$/GetReplicas$")),
    ("packages", "GET", re.compile(rf"^/Nodes/(?P<node>{_ID})/\$/GetApplications/(?P<app>{_ID})/\$/GetCodePackages$")),
    ("package_restart", "POST",
     re.compile(rf"^/Nodes/(?P<node>{_ID})/\$/GetApplications/(?P<app>{_ID})/\$/GetCodePackages/\$/Restart$")),
    ("replica", "POST", re.compile(
        rf"^/Nodes/(?P<node>{_ID})/\$/GetPartitions/(?P<pid>{_ID})/\$/GetReplicas/(?P<rid>{_ID})/\$/"
        r"(?P<action>Restart|Delete|Remove)$")),
    ("move", "POST",
     re.compile(rf"^/Partitions/(?P<pid>{_ID})/\$/(?P<action>MovePrimaryReplica|MoveSecondaryReplica)$")),
    ("move", "POST",
     re.compile(rf"^/Services/(?P<sid>{_ID})/\$/GetPartitions/(?P<pid>{_ID})/\$/(?P<action>MoveInstance)$")),
    ("node_restart", "POST", re.compile(rf"^/Nodes/(?P<node>{_ID})/\$/Restart$")),
)
#: The fake's route names of these calls: ``fault`` for the starts, ``target`` for the reads.
VERIFIED_ROUTES = ("fault", "target")
_BASE_REPLICA_ID = 132_587_450_000_000_000
_BASE_ENTRY_POINT = 133_126_558_467_080_230
_TARGET_REPLICAS = 3
_MIN_VERSION = {"MovePrimaryReplica": 6.5, "MoveSecondaryReplica": 6.5, "MoveInstance": 8.0}


@attrs.define
class FakeReplica:
    """One replica (``role`` empty for a stateless instance) of a partition the verified faults touched."""

    id: int
    role: str
    node: str
    status: str = "Ready"


@attrs.define
class Layout:
    """A partition's replicas and their changes to come (``(at, seq, change)``, applied when due)."""

    stateful: bool
    replicas: list[FakeReplica]
    due: list[tuple[float, int, Callable[[], None]]] = attrs.Factory(list)
    version: int = 0  # the configuration's version: one more at each change (a reconfiguration)

    def advance(self, now: float) -> None:
        while self.due and self.due[0][0] <= now:
            heapq.heappop(self.due)[2]()
            self.version += 1

    @property
    def epoch(self) -> dict[str, str]:
        """``{ConfigurationVersion, DataLossVersion}`` (int64 strings)."""
        return {"ConfigurationVersion": str(8589934592 + self.version), "DataLossVersion": "131000000000000001"}

    def find(self, replica_id: int) -> FakeReplica | None:
        return next((r for r in self.replicas if r.id == replica_id), None)


class Layouts:
    """The fake's replicas, code packages and node restarts (``FakeCluster.replicas``).

    Attributes:
        delay: Seconds from a fault's 200 until its effect shows (a replica or node down).
        rebuild: Seconds from then until the replica, entry point or node is back.
        never: Partition ids (as strings) and node names whose faults never take effect.
        volatile: Service ids (``app~svc``) whose stateful replicas are not persisted.
        instance_count: Stateless partitions' ``InstanceCount`` (``None``, the default: -1, an
            instance on every up node -- and so no node to move one to).
    """

    def __init__(self, clock: Callable[[], float], nodes: Mapping[str, int],
                 services: Mapping[str, tuple[frozenset[uuid.UUID], bool]]) -> None:
        self.clock, self._nodes, self.services = clock, nodes, services
        self.delay, self.rebuild = 1.0, 3.0
        self.jitter = 0.0  # each fault's delay is longer by up to this many seconds (seeded: ``seed``)
        self.rng = random.Random(0)
        self.effects: dict[str, float] = {}  # when each target's last fault showed its effect (for lags)
        self.page_size = 100  # partitions per page of a service's list
        self.instance_count: int | None = None  # stateless partitions' InstanceCount (None: -1, every up node)
        self.never: set[str] = set()
        self.volatile: set[str] = set()
        self.layouts: dict[uuid.UUID, Layout] = {}
        self.node_restarts: dict[str, list[float]] = {}  # when each restart of a node was taken
        self.entry_points: dict[tuple[str, str], tuple[int, float | None]] = {}  # (node, app): (instance, restarted)
        self._ids = itertools.count(_BASE_REPLICA_ID + 1000)
        self.status_of: Callable[[uuid.UUID], tuple[str, str]] | None = None  # (status, health); set by the cluster
        self._seq = itertools.count()

    def reset(self) -> None:
        """Forget every change (the partitions and nodes as new)."""
        self.layouts.clear()
        self.node_restarts.clear()
        self.entry_points.clear()
        self.effects.clear()

    # --- what the other reads see -------------------------------------------------------

    def layout(self, pid: uuid.UUID, *, create: bool = False) -> Layout | None:
        """A declared partition's replicas now (``None`` for one no service declares, unless *create*: 404)."""
        found = self.layouts.get(pid)
        if found is None and (create or self.stateful(pid) is not None):
            stateful = self.stateful(pid)
            if stateful is None:
                raise Answer(404, "FABRIC_E_PARTITION_NOT_FOUND", f"Partition {pid} was not found")
            up = [n for n in sorted(self.nodes()) if self.node_down(n)[0] is False]
            count = self.instance_count
            size = _TARGET_REPLICAS if stateful else len(up) if count is None else min(count, len(up))
            replicas = [
                FakeReplica(_BASE_REPLICA_ID + i, ("Primary" if i == 0 else "ActiveSecondary") if stateful else "",
                            up[i % len(up)])
                for i in range(size)
            ]
            found = self.layouts[pid] = Layout(stateful, replicas)
        if found is not None:
            found.advance(self.clock())
        return found

    def node_down(self, name: str) -> tuple[bool, int]:
        """(down now, restarts done) of a node: its InstanceId grows by the restarts done."""
        now, down, done = self.clock(), False, 0
        for at in self.node_restarts.get(name, ()):
            if now >= at + self.delay + self.rebuild:
                done += 1
            elif now >= at + self.delay:
                down = True
        return down, done

    def replica_items(self, layout: Layout) -> list[dict[str, Any]]:
        items = []
        for r in sorted(layout.replicas, key=lambda r: r.id):
            item: dict[str, Any] = {
                "ServiceKind": "Stateful" if layout.stateful else "Stateless",
                "ReplicaStatus": r.status, "HealthState": "Ok" if r.status == "Ready" else "Warning",
                "NodeName": r.node, "Address": "", "LastInBuildDurationInSeconds": "1",
            }
            if layout.stateful:
                item.update(ReplicaId=str(r.id), ReplicaRole=r.role)
            else:
                item["InstanceId"] = str(r.id)
            items.append(item)
        return items

    # --- the wire ------------------------------------------------------------------------

    @staticmethod
    def route(method: str, path: str) -> tuple[str, re.Match[str]] | None:
        for _, verb, pattern in _PATHS:
            match = pattern.match(path)
            if match is not None and verb == method:
                return ("fault" if verb == "POST" else "target"), match
        return None

    def answer(self, match: re.Match[str], query: dict[str, str], body: bytes, version: float) -> web.Response:
        what = next(name for name, _, pattern in _PATHS if pattern is match.re)
        groups = {k: strict_unquote(v) for k, v in match.groupdict().items() if v is not None}
        handler = getattr(self, f"_{what}")
        return handler(groups, query, body, version)  # type: ignore[no-any-return]

    # --- reads -----------------------------------------------------------------------------

    def _partitions(self, g: dict[str, str], query: dict[str, str], body: bytes, version: float) -> web.Response:
        """A service's partitions, paged by partition id, with their status and (stateful) ``PrimaryEpoch``."""
        sid = g["sid"]
        declared = self.services.get(sid)
        if declared is None:
            raise Answer(404, "FABRIC_E_SERVICE_DOES_NOT_EXIST", f"Service fabric:/{sid.replace('~', '/')} not found")
        pids, stateful = sorted(declared[0]), declared[1]
        token = query.get("ContinuationToken", "")
        if token:
            pids = [pid for pid in pids if str(pid) > token]
        page, rest = pids[:self.page_size], pids[self.page_size:]
        items = []
        for pid in page:
            layout = self.layout(pid)
            assert layout is not None
            ready = all(r.status == "Ready" for r in layout.replicas)
            status, health = ("Ready", "Ok") if ready else ("Reconfiguring", "Warning")
            if ready and self.status_of is not None:  # a Fault Analysis fault's effect, if one is under way
                status, health = self.status_of(pid)
            item: dict[str, Any] = {
                "ServiceKind": "Stateful" if stateful else "Stateless",
                "PartitionInformation": {"ServicePartitionKind": "Singleton", "Id": str(pid)},
                "HealthState": health, "PartitionStatus": status,
            }
            if stateful:
                item.update(TargetReplicaSetSize=_TARGET_REPLICAS, MinReplicaSetSize=2, PrimaryEpoch=layout.epoch)
            else:
                item["InstanceCount"] = -1 if self.instance_count is None else self.instance_count
            items.append(item)
        return web.json_response({"ContinuationToken": str(page[-1]) if rest else "", "Items": items})

    def _app_name(self, g: dict[str, str], query: dict[str, str], body: bytes, version: float) -> web.Response:
        sid = g["sid"]
        if not any(self.service_of(pid) == sid for pid in self._declared()):
            raise Answer(404, "FABRIC_E_SERVICE_DOES_NOT_EXIST", f"Service fabric:/{sid.replace('~', '/')} not found")
        app = sid.split("~")[0]
        return web.json_response({"Id": app, "Name": f"fabric:/{app}"})

    def _service(self, g: dict[str, str], query: dict[str, str], body: bytes, version: float) -> web.Response:
        sid, app = g["sid"], g["app"]
        info = self._service_info(sid)
        if info is None or sid.split("~")[0] != app:
            return web.Response(status=204)
        return web.json_response(info)

    def _services(self, g: dict[str, str], query: dict[str, str], body: bytes, version: float) -> web.Response:
        """An application's services, paged by id (an application with none: 404, as the gateway says)."""
        app, token = g["app"], query.get("ContinuationToken", "")
        sids = sorted({sid for pid in self._declared() if (sid := self.service_of(pid)) and sid.split("~")[0] == app})
        if not sids:
            raise Answer(404, "FABRIC_E_APPLICATION_NOT_FOUND", f"Application fabric:/{app} not found")
        sids = [sid for sid in sids if sid > token]
        page, rest = sids[:self.page_size], sids[self.page_size:]
        items = [self._service_info(sid) for sid in page]
        return web.json_response({"ContinuationToken": page[-1] if rest else "", "Items": items})

    def _service_info(self, sid: str) -> dict[str, Any] | None:
        pids = [pid for pid in self._declared() if self.service_of(pid) == sid]
        if not pids:
            return None
        stateful = bool(self.stateful(pids[0]))
        info: dict[str, Any] = {
            "ServiceKind": "Stateful" if stateful else "Stateless", "Id": sid,
            "Name": f"fabric:/{sid.replace('~', '/')}", "TypeName": f"{sid.split('~')[-1]}Type",
            "ManifestVersion": "1.0.0", "HealthState": "Ok", "ServiceStatus": "Active", "IsServiceGroup": False,
        }
        if stateful:
            info["HasPersistedState"] = sid not in self.volatile
        return info

    def _deployed(self, g: dict[str, str], query: dict[str, str], body: bytes, version: float) -> web.Response:
        node, pid = g["node"], _guid(query.get("PartitionId", ""))
        layout = self.layout(pid, create=True)
        assert layout is not None
        mine = [r for r in layout.replicas if r.node == node]
        sid = self.service_of(pid) or ""
        if not mine or sid.split("~")[0] != g["app"]:
            return web.Response(status=204)
        r = mine[0]
        item = {"ServiceKind": "Stateful" if layout.stateful else "Stateless", "ServiceName": f"fabric:/{sid}",
                "ServiceManifestName": _manifest(sid), "CodePackageName": "Code", "PartitionId": str(pid),
                "ReplicaStatus": r.status, "Address": "", "ServicePackageActivationId": "", "HostProcessId": "2996"}
        item.update({"ReplicaId": str(r.id), "ReplicaRole": r.role} if layout.stateful else {"InstanceId": str(r.id)})
        return web.json_response([item])

    def _packages(self, g: dict[str, str], query: dict[str, str], body: bytes, version: float) -> web.Response:
        self._node_up(g["node"])
        status, instance = self._entry_point(g["node"], g["app"])
        manifest = query.get("ServiceManifestName", "")
        return web.json_response([{
            "Name": query.get("CodePackageName") or "Code", "Version": "1.0.0", "ServiceManifestName": manifest,
            "Status": "Active", "RunFrequencyInterval": 0, "HasSetupEntryPoint": False,
            "SetupEntryPoint": {"ProcessId": "0", "Status": "Invalid", "InstanceId": "0"},
            "MainEntryPoint": {"ProcessId": "2996", "Status": status, "InstanceId": str(instance)},
            "ServicePackageActivationId": "", "HostType": "ExeHost", "HostIsolationMode": "None",
        }])

    def _entry_point(self, node: str, app: str) -> tuple[str, int]:
        instance, restarted = self.entry_points.get((node, app), (_BASE_ENTRY_POINT, None))
        if restarted is None or f"{node}" in self.never:
            return "Started", instance
        now = self.clock()
        if now < restarted + self.delay:
            return "Stopped", instance
        return "Started", instance + 1

    # --- starts ----------------------------------------------------------------------------

    def _replica(self, g: dict[str, str], query: dict[str, str], body: bytes, version: float) -> web.Response:
        pid, node = _guid(g["pid"]), g["node"]
        if not g["rid"].isdigit():
            raise _invalid(f"Invalid replica id {g['rid']!r}")
        self._node_up(node)
        layout = self.layout(pid, create=True)
        assert layout is not None
        mine = next((r for r in layout.replicas if r.node == node), None)
        if mine is None:
            raise Answer(404, "FABRIC_E_REPLICA_DOES_NOT_EXIST",
                         "Cannot close replica as provided partition does not exist.")
        if mine.id != int(g["rid"]):
            raise Answer(404, "FABRIC_E_REPLICA_DOES_NOT_EXIST",
                         "Cannot close replica as provided ReplicaId do not match.")
        force = query.get("ForceRemove", "").lower() == "true"
        if g["action"] == "Restart":
            if force:
                raise Answer(500, "FABRIC_E_FORCE_NOT_SUPPORTED_FOR_REPLICA_OPERATION",
                             "Force parameter not supported for restarting replica.")
            if not layout.stateful or self.service_of(pid) in self.volatile:
                raise Answer(400, "FABRIC_E_INVALID_REPLICA_OPERATION",
                             "Non persisted replica cannot be restarted. Please remove this replica.")
        if mine.status != "Ready":
            raise Answer(400, "FABRIC_E_INVALID_REPLICA_STATE",
                         "Cannot close replica that is not open or has close in progress.")
        if str(pid) not in self.never:
            self._fault(pid, layout, mine, remove=g["action"] != "Restart")
        return web.Response(status=200)

    def _fault(self, pid: uuid.UUID, layout: Layout, replica: FakeReplica, *, remove: bool) -> None:
        start = self.clock() + self.delay + self.rng.uniform(0.0, self.jitter)
        self.effects[str(pid)] = start

        def down() -> None:
            if replica.role == "Primary":
                self._promote(layout, replica)
            if remove:
                layout.replicas.remove(replica)
                role = "ActiveSecondary" if layout.stateful else ""
                new = FakeReplica(next(self._ids), role, replica.node, "InBuild")
                layout.replicas.append(new)
                self._at(layout, start + self.rebuild, lambda: setattr(new, "status", "Ready"))
            else:
                replica.status = "Down"
                self._at(layout, start + self.rebuild / 2, lambda: setattr(replica, "status", "InBuild"))
                self._at(layout, start + self.rebuild, lambda: setattr(replica, "status", "Ready"))

        self._at(layout, start, down)

    def _promote(self, layout: Layout, primary: FakeReplica) -> None:
        other = next((r for r in layout.replicas if r.role == "ActiveSecondary" and r.status == "Ready"), None)
        if other is not None:
            other.role, primary.role = "Primary", "ActiveSecondary"

    def _move(self, g: dict[str, str], query: dict[str, str], body: bytes, version: float) -> web.Response:
        action, pid = g["action"], _guid(g["pid"])
        if version < _MIN_VERSION[action]:
            raise _invalid(f"{action} needs api-version {_MIN_VERSION[action]} or later")
        layout = self.layout(pid, create=True)
        assert layout is not None
        if layout.stateful == (action == "MoveInstance"):
            raise Answer(400, "FABRIC_E_INVALID_PARTITION_OPERATION", f"{action} does not apply to this partition")
        to = query.get("NodeName" if action == "MovePrimaryReplica" else "NewNodeName", "")
        if not to:
            raise Answer(504, "FABRIC_E_TIMEOUT", "Operation timed out.")  # PLB picks, in the snapshot: assume 504
        self._node_up(to, code="FABRIC_E_NODE_NOT_FOUND", status=404)
        held = next((r for r in layout.replicas if r.node == to), None)
        if action == "MovePrimaryReplica":
            primary = next(r for r in layout.replicas if r.role == "Primary")
            if held is primary:
                raise Answer(409, "FABRIC_E_PRIMARY_ALREADY_EXISTS", "The primary is already on that node.")
            if str(pid) not in self.never:
                if held is not None:
                    held.role, primary.role = "Primary", "ActiveSecondary"  # a swap: ids stay
                else:
                    primary.node = to
                layout.version += 1
                self.effects[str(pid)] = self.clock()
            return web.Response(status=200)
        source = query.get("CurrentNodeName", "")
        moved = next((r for r in layout.replicas if r.node == source), None)
        if moved is None:
            raise Answer(404, "FABRIC_E_REPLICA_DOES_NOT_EXIST", f"No replica on node {source}")
        if moved.role == "Primary":
            raise Answer(400, "FABRIC_E_INVALID_REPLICA_STATE", "The replica on that node is the primary.")
        if held is not None:
            code = "FABRIC_E_PRIMARY_ALREADY_EXISTS" if held.role == "Primary" else "FABRIC_E_SECONDARY_ALREADY_EXISTS"
            raise Answer(409, code, "That node already holds a replica of the partition.")
        if str(pid) not in self.never:
            layout.replicas.remove(moved)
            new = FakeReplica(next(self._ids), moved.role, to, "InBuild")
            layout.replicas.append(new)
            layout.version += 1
            self._at(layout, self.clock() + self.rebuild, lambda: setattr(new, "status", "Ready"))
        return web.Response(status=200)

    def _package_restart(self, g: dict[str, str], query: dict[str, str], body: bytes, version: float) -> web.Response:
        node, app = g["node"], g["app"]
        self._node_up(node)
        try:
            request = json.loads(body or b"null")
            wanted = request["CodePackageInstanceId"]
            assert isinstance(wanted, str)
            assert wanted.isdigit()
            assert request.get("CodePackageName")
        except (ValueError, KeyError, TypeError, AssertionError):
            raise _invalid("Invalid code package restart description") from None
        status, instance = self._entry_point(node, app)
        if status != "Started":
            raise Answer(404, "FABRIC_E_CODE_PACKAGE_NOT_FOUND", "The code package is not running.")
        if wanted != "0" and int(wanted) != instance:
            raise Answer(409, "FABRIC_E_INSTANCE_ID_MISMATCH", "Instance id mismatch.")
        if node not in self.never:
            self.entry_points[(node, app)] = (instance, self.clock())
            for pid, layout in self.layouts.items():  # the replicas in that process restart with it
                if (self.service_of(pid) or "").split("~")[0] == app:
                    for r in layout.replicas:
                        if r.node == node:
                            r.status = "InBuild"
                            layout.version += 1
                            self._at(layout, self.clock() + self.delay + self.rebuild,
                                     lambda r=r: setattr(r, "status", "Ready"))  # type: ignore[misc]
        return web.Response(status=200)

    def _node_restart(self, g: dict[str, str], query: dict[str, str], body: bytes, version: float) -> web.Response:
        name = g["node"]
        try:
            request = json.loads(body or b"null")
            wanted = request["NodeInstanceId"]
            assert isinstance(wanted, str)
            assert wanted.isdigit()
        except (ValueError, KeyError, TypeError, AssertionError):
            raise _invalid("Invalid node restart description") from None
        base = self._node_up(name)
        if wanted != "0" and int(wanted) != base:
            raise Answer(409, "FABRIC_E_INSTANCE_ID_MISMATCH", "Instance id mismatch.")
        if name not in self.never:
            self.node_restarts.setdefault(name, []).append(self.clock())
            self.effects[name] = self.clock() + self.delay
        return web.Response(status=200)

    # --- helpers ---------------------------------------------------------------------------

    def _node_up(self, name: str, *, code: str = "FABRIC_E_INVALID_ADDRESS", status: int = 400) -> int:
        """The node's InstanceId now, if it is known and up; else the call's "node down" answer."""
        base = self.nodes().get(name)
        down, done = self.node_down(name) if base is not None else (True, 0)
        if base is None or down:
            raise Answer(status, code, f"Node {name} is not found or not up")
        return base + done

    def _at(self, layout: Layout, at: float, change: Callable[[], None]) -> None:
        heapq.heappush(layout.due, (at, next(self._seq), change))

    def nodes(self) -> Mapping[str, int]:
        return self._nodes

    def stateful(self, pid: uuid.UUID) -> bool | None:
        """Whether a declared partition is stateful (``None``: no declared service has it)."""
        return next((stateful for partitions, stateful in self.services.values() if pid in partitions), None)

    def service_of(self, pid: uuid.UUID) -> str | None:
        return next((sid for sid, (partitions, _) in self.services.items() if pid in partitions), None)

    def _declared(self) -> list[uuid.UUID]:
        return [pid for partitions, _ in self.services.values() for pid in partitions]


def _guid(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        raise _invalid(f"Invalid partition id {text!r}") from None


def _manifest(sid: str) -> str:
    return f"{sid.split('~')[-1]}Pkg"
