"""The fake cluster's cluster-wide state, as ``sf-progress check`` and the safety rules read it.

Faithful to faults-beyond-fas-protocol.md §5 and health-and-chaos-protocol.md §8 in shapes and
codes: ``GET /$/GetUpgradeProgress`` (``UpgradeState``, the runtime's ``RollingBackPending``
included), ``/Applications/{app}/$/GetUpgradeProgress``, ``/$/GetClusterManifest`` (one JSON
string of XML; the name is the root's ``Name``), ``/$/GetClusterHealth``,
``/Applications/System/$/GetServices/System~{name}`` (200 ``ServiceInfo``, or 204 and an empty
body when the system service is absent), ``GET /Tools/Chaos`` (``Status``, ``ScheduleStatus``)
and the naming calls (§6: names, properties and batches, in ``_naming.py``).  Without the Fault
Analysis Service every ``/Faults`` call answers 500 ``FMFailoverUnitNotFound`` (§5.8).

``GET /$/GetRepairTaskList`` answers the repair tasks (a bare array; ``StateFilter`` bits,
``TaskIdFilter`` a prefix, ``ExecutorFilter`` exact; 504 without the Repair Manager, §5.3).

Script it through ``FakeCluster.control``: ``upgrade_state`` (or ``upgrade(state, until=...)``
for one that ends by itself), ``add_repair_task``, ``app_upgrades``,
``system_services``, ``service_health``, ``chaos_status``, ``health``, ``cluster_name`` and
``set_property`` / ``delete_property``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any
from xml.sax.saxutils import quoteattr

from aiohttp import web

from ._answers import Answer, invalid
from ._chaos import ChaosRuns
from ._naming import NAMING_PATHS, NamingStore
from ._wire import strict_unquote

__all__ = ["CONTROL_ROUTE", "ControlPlane"]

CONTROL_ROUTE = "control"
_PATHS = (
    ("upgrade", re.compile(r"^/\$/GetUpgradeProgress$")),
    ("manifest", re.compile(r"^/\$/GetClusterManifest$")),
    ("cluster_health", re.compile(r"^/\$/GetClusterHealth$")),
    ("app_upgrade", re.compile(r"^/Applications/(?P<app>[^/]+)/\$/GetUpgradeProgress$")),
    ("system_service", re.compile(r"^/Applications/System/\$/GetServices/(?P<service>[^/]+)$")),
    ("chaos", re.compile(r"^/Tools/Chaos$")),
    ("chaos_start", re.compile(r"^/Tools/Chaos/\$/Start$")),
    ("chaos_stop", re.compile(r"^/Tools/Chaos/\$/Stop$")),
    ("chaos_events", re.compile(r"^/Tools/Chaos/Events$")),
    ("chaos_schedule", re.compile(r"^/Tools/Chaos/Schedule$")),
    ("repair_tasks", re.compile(r"^/\$/GetRepairTaskList$")),
    *NAMING_PATHS,
)
_NAMING = {what for what, _ in NAMING_PATHS}
#: Repair task states and their bits in ``StateFilter`` (§5.3); 63 is every active state.
REPAIR_STATES = {"Created": 1, "Claimed": 2, "Preparing": 4, "Approved": 8, "Executing": 16, "Restoring": 32,
                 "Completed": 64}
#: The system services a default cluster runs (a Linux or one-node cluster may lack the first two).
DEFAULT_SYSTEM_SERVICES = frozenset({
    "FaultAnalysisService", "RepairManagerService", "ClusterManagerService", "FailoverManagerService",
    "NamingService", "ImageStoreService", "UpgradeService",
})
FAS_MISSING = "FMFailoverUnitNotFound"


class ControlPlane:
    """Cluster-wide state of the fake (``FakeCluster.control``), changed by tests as they please."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.upgrade_state = "RollingForwardCompleted"
        self.upgrade_changes: list[tuple[float, str]] = []  # (at, UpgradeState) to come, by time
        self.repair_tasks: list[dict[str, Any]] = []  # as GetRepairTaskList answers them
        self.app_upgrades: dict[str, str] = {}  # application id (app~x or app) -> UpgradeState
        self.system_services: set[str] = set(DEFAULT_SYSTEM_SERVICES)
        self.service_health: dict[str, str] = {}  # system service -> HealthState (default Ok)
        self.chaos_status = "Stopped"  # (scripted; a run started through the API decides by itself)
        self.chaos_parameters: dict[str, Any] = {}
        self.chaos = ChaosRuns(clock)  # the runs started through the API, and their events
        self.chaos_lock_busy = 0  # the next N starts or stops are answered 200 without acting (§8.1)
        self.chaos_schedule: dict[str, Any] = {"Version": 0, "Schedule": {
            "StartDate": "1601-01-01T00:00:00Z", "ExpiryDate": "9999-12-31T23:59:59.999Z",
            "ChaosParametersDictionary": [], "Jobs": []}}
        self.health = "Ok"
        self.cluster_name = "DevCluster"
        self.names = NamingStore()  # names and their properties (the stop lever's among them)

    def upgrade(self, state: str, *, until: float | None = None, then: str = "RollingForwardCompleted") -> None:
        """Set the cluster's ``UpgradeState`` now and, with *until* (seconds), *then* that much later."""
        self.upgrade_state = state
        self.upgrade_changes = [] if until is None else [(self.clock() + until, then)]

    def current_upgrade_state(self) -> str:
        """The ``UpgradeState`` now (the scripted changes that came due applied)."""
        now = self.clock()
        while self.upgrade_changes and self.upgrade_changes[0][0] <= now:
            self.upgrade_state = self.upgrade_changes.pop(0)[1]
        return self.upgrade_state

    def add_repair_task(
        self,
        task_id: str,
        nodes: list[str],
        *,
        state: str = "Executing",
        impact: str = "Restart",
        executor: str = "fabric:/System/InfrastructureService/NS",
        action: str = "System.Azure.Job.TenantUpdate",
    ) -> dict[str, Any]:
        """Add a repair task targeting *nodes* (its impact: *impact* on each), as the Repair Manager lists it."""
        if state not in REPAIR_STATES:
            raise ValueError(f"state must be one of {', '.join(REPAIR_STATES)}")
        task: dict[str, Any] = {
            "Scope": {"Kind": "Cluster"}, "TaskId": task_id,
            "Version": str(132362216205208555 + len(self.repair_tasks)),
            "Description": "", "State": state, "Flags": 0, "Action": action,
            "Target": {"Kind": "Node", "NodeNames": list(nodes)}, "Executor": executor, "ExecutorData": "",
            "Impact": {"Kind": "Node", "NodeImpactList": [{"NodeName": n, "ImpactLevel": impact} for n in nodes]},
            "ResultStatus": "Pending" if state != "Completed" else "Succeeded", "ResultCode": 0, "ResultDetails": "",
            "History": {"CreatedUtcTimestamp": "2026-12-07T10:00:00.000Z"},
            "PreparingHealthCheckState": "Skipped", "RestoringHealthCheckState": "NotStarted",
            "PerformPreparingHealthCheck": False, "PerformRestoringHealthCheck": False,
        }
        self.repair_tasks.append(task)
        return task

    @property
    def fault_analysis(self) -> bool:
        """Whether the Fault Analysis Service runs (without it, ``/Faults`` calls fail)."""
        return "FaultAnalysisService" in self.system_services

    def set_property(self, name: str, prop: str, value: str, kind: str = "String") -> None:
        """Put a naming property (``name`` with or without ``fabric:/``; the name is created too)."""
        self.names.set_property(name, prop, value, kind)

    def delete_property(self, name: str, prop: str) -> None:
        """Delete a naming property (nothing if it is not there)."""
        self.names.delete_property(name, prop)

    # --- the wire ------------------------------------------------------------------------

    @staticmethod
    def route(path: str) -> tuple[str, re.Match[str]] | None:
        """The control route of *path*, or ``None``."""
        for _, pattern in _PATHS:
            match = pattern.match(path)
            if match is not None:
                return CONTROL_ROUTE, match
        return None

    async def answer(self, request: web.Request, match: re.Match[str], query: dict[str, str]) -> web.Response:
        what = next(name for name, pattern in _PATHS if pattern is match.re)
        if what in _NAMING:
            name = strict_unquote(match["name"]) if "name" in match.re.groupindex else None
            return await self.names.answer(what, request, match, query, name)
        posts = ("chaos_start", "chaos_stop") + (("chaos_schedule",) if request.method == "POST" else ())
        if request.method != ("POST" if what in posts else "GET"):
            raise invalid("The request is not supported: unknown path or verb")
        if what == "chaos_schedule":
            return self._schedule(await request.read() if request.method == "POST" else None)
        if what == "chaos_start":
            return self._start_chaos(await request.read())
        if what == "chaos_stop":
            return self._stop_chaos()
        if what == "chaos_events":
            return self.chaos.answer(query)
        if what == "upgrade":
            return web.json_response(_upgrade(self.current_upgrade_state()))
        if what == "repair_tasks":
            return self._repair_tasks(query)
        if what == "app_upgrade":
            app = strict_unquote(match["app"])
            return web.json_response({"Name": f"fabric:/{app.replace('~', '/')}", **_upgrade(
                self.app_upgrades.get(app, "RollingForwardCompleted"))})
        if what == "manifest":
            xml = (f"<ClusterManifest xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\" "
                   f"Name={quoteattr(self.cluster_name)} Version=\"1.0\" "
                   "xmlns=\"http://schemas.microsoft.com/2011/01/fabric\"><NodeTypes/></ClusterManifest>")
            return web.json_response({"Manifest": xml})
        if what == "cluster_health":
            return web.json_response({"AggregatedHealthState": self.health, "HealthEvents": [],
                                      "UnhealthyEvaluations": [], "NodeHealthStates": [],
                                      "ApplicationHealthStates": []})
        if what == "system_service":
            return self._system_service(strict_unquote(match["service"]))
        if what == "chaos":
            running = self.chaos_running
            return web.json_response({"ChaosParameters": self.chaos_parameters if running else {},
                                      "Status": "Running" if running else "Stopped",
                                      "ScheduleStatus": "Active" if running else "Stopped"})
        raise invalid("The request is not supported: unknown path or verb")

    @property
    def chaos_running(self) -> bool:
        """Whether SF Chaos runs now (set ``chaos_status`` to script it; a start runs until its TimeToRun)."""
        running = self.chaos.running
        return self.chaos_status == "Running" if running is None else running

    def _start_chaos(self, body: bytes) -> web.Response:
        try:
            parameters = json.loads(body)
            seconds = float(parameters.get("TimeToRunInSeconds", "4294967295"))
            if not isinstance(parameters, dict):
                raise TypeError
        except (ValueError, TypeError, AttributeError):
            raise invalid("The ChaosParameters body is not valid") from None
        if self.chaos_running:
            raise Answer(400, "FABRIC_E_CHAOS_ALREADY_RUNNING", "Chaos is already running; to run Chaos with a "
                         "different set of parameters, please first stop Choas and then start with the new parameters.")
        if self.chaos_lock_busy:
            self.chaos_lock_busy -= 1
            return web.Response(status=200)  # the scheduler's lock was busy: 200, and nothing done
        self.chaos_parameters = parameters
        self.chaos.start(parameters, seconds)
        return web.Response(status=200)

    def _stop_chaos(self) -> web.Response:
        if self.chaos_lock_busy and self.chaos_running:
            self.chaos_lock_busy -= 1
            return web.Response(status=200)
        self.chaos.stop()  # a stopped Chaos: a silent no-op
        self.chaos_status = "Stopped"
        return web.Response(status=200)

    def _schedule(self, body: bytes | None) -> web.Response:
        """GET: the schedule and its version; POST: a new one, naming the current version (§8.1)."""
        if body is None:
            return web.json_response(self.chaos_schedule)
        try:
            posted = json.loads(body)
            version = int(posted["Version"])
            schedule = posted["Schedule"]
            if not isinstance(schedule, dict):
                raise TypeError
        except (ValueError, TypeError, KeyError):
            raise invalid("The ChaosScheduleDescription body is not valid") from None
        if self.chaos_running:
            raise Answer(400, "FABRIC_E_CHAOS_ALREADY_RUNNING", "Chaos is already running.")
        current = int(self.chaos_schedule["Version"])
        if version != current:
            raise invalid("The provided schedule has a version mismatch with the existing schedule. "
                          f"Expected: {current} Got: {version}.")
        self.chaos_schedule = {"Version": 0 if current >= 2**31 - 1 else current + 1, "Schedule": schedule}
        return web.Response(status=200)

    def _system_service(self, service_id: str) -> web.Response:
        name = service_id.removeprefix("System~")
        if name not in self.system_services:
            return web.Response(status=204)  # the FM's list of system services has no such service
        return web.json_response({
            "ServiceKind": "Stateful", "Id": f"System~{name}", "Name": f"fabric:/System/{name}",
            "TypeName": f"{name}Type", "ManifestVersion": "9.1.1436.9590",
            "HealthState": self.service_health.get(name, "Ok"), "ServiceStatus": "Active",
            "IsServiceGroup": False, "HasPersistedState": True,
        })

    def _repair_tasks(self, query: dict[str, str]) -> web.Response:
        """The repair tasks: a bare array in TaskId order; ``StateFilter`` bits, ``TaskIdFilter`` a prefix (§5.3)."""
        if "RepairManagerService" not in self.system_services:  # the gateway retries a missing system service
            raise Answer(504, "FABRIC_E_TIMEOUT", "Operation timed out.")
        text = query.get("StateFilter", "") or "0"
        if not text.isdigit() or int(text) & ~0x7F:
            raise invalid(f"Invalid StateFilter {text!r}")
        bits = int(text) or 0x7F
        prefix, executor = query.get("TaskIdFilter", ""), query.get("ExecutorFilter")
        tasks = [task for task in sorted(self.repair_tasks, key=lambda task: str(task["TaskId"]))
                 if REPAIR_STATES[task["State"]] & bits and str(task["TaskId"]).startswith(prefix)
                 and (executor is None or task["Executor"] == executor)]
        return web.Response(text=json.dumps(tasks), content_type="application/json")

def _upgrade(state: str) -> dict[str, Any]:
    return {"CodeVersion": "9.1.1436.9590", "ConfigVersion": "3", "UpgradeDomains": [], "UpgradeState": state,
            "NextUpgradeDomain": "", "RollingUpgradeMode": "Monitored", "FailureReason": "None",
            "UpgradeDurationInMilliseconds": "PT0H10M0.1752S", "StartTimestampUtc": "2026-12-07T09:00:00.000Z"}
