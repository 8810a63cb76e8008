"""What the safety rules read of the cluster, at most once per ``TICK`` for every start of a client.

``faults-beyond-fas-protocol.md`` §5: the cluster upgrade's ``UpgradeState`` (§5.1), an
application's (§5.2), the active repair tasks (``StateFilter=63``, §5.3; the Repair Manager
probed first: without it the list would time out), the nodes with their seed flag and
domains (§5.4), the cluster's health (§5.5), SF Chaos's status (§5.9), and the stop lever
(§6.4; never waived: read for every start).  Only what the rules still in force need is read;
each read is shared by the starts of one tick.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import attrs

from .._errors import NotFoundError, ResponseFormatError, SFProgressError
from .._ids import encode_service_id
from .._lever import PROPERTY_PATH, PROPERTY_QUERY, RELEASED, LeverState, parse_lever
from .._models import OperationRef
from .._ticked import TickCache
from .._verified.reads import NodeView, TargetReads
from .._wire.parsing import decode_json

__all__ = ["TICK", "Inputs", "SafetyReads"]

#: Seconds one read of the rules' inputs answers for (the lever's bound is 3 s).
TICK = 2.0
#: ``get(path, params, api-version, parse)``: one GET of the control plane, retried like every call.
Get = Callable[[str, str, str, Callable[[bytes, OperationRef | None], Any]], Awaitable[Any]]


@attrs.frozen
class Repair:
    """An active repair task: its id, state and the nodes it targets or impacts."""

    task_id: str
    state: str
    nodes: frozenset[str]


@attrs.frozen
class Inputs:
    """The rules' inputs as read (``None``: not needed, or could not be read -- said in ``unread``)."""

    upgrade: str | None = None
    app_upgrades: Mapping[str, str] = attrs.field(factory=dict)
    repairs: tuple[Repair, ...] | None = None
    chaos: str | None = None
    health: str | None = None
    nodes: Mapping[str, NodeView] | None = None
    lever: LeverState | None = None
    unread: Mapping[str, str] = attrs.field(factory=dict)  # rule input -> why it could not be read


def _json_object(body: bytes, ref: OperationRef | None) -> dict[str, Any]:
    data = decode_json(body, ref)
    if not isinstance(data, dict):
        raise ResponseFormatError("expected a JSON object", body=body, ref=ref)
    return data


def _field(name: str) -> Callable[[bytes, OperationRef | None], str]:
    def parse(body: bytes, ref: OperationRef | None) -> str:
        value = _json_object(body, ref).get(name)
        if not isinstance(value, str):
            raise ResponseFormatError(f"expected {name!r} (a string)", body=body, ref=ref)
        return value

    return parse


def _repairs(body: bytes, ref: OperationRef | None) -> tuple[Repair, ...]:
    data = decode_json(body, ref)
    if not isinstance(data, list):
        raise ResponseFormatError("expected a list of repair tasks", body=body, ref=ref)
    found = []
    for task in data:
        if not isinstance(task, dict):
            continue
        target, impact = task.get("Target") or {}, task.get("Impact") or {}
        nodes = set(target.get("NodeNames") or []) if isinstance(target, dict) else set()
        if isinstance(impact, dict):
            nodes |= {i.get("NodeName") for i in impact.get("NodeImpactList") or [] if isinstance(i, dict)}
        found.append(Repair(str(task.get("TaskId")), str(task.get("State")), frozenset(str(n) for n in nodes if n)))
    return tuple(found)


def _present(body: bytes, ref: OperationRef | None) -> bool:
    return bool(body)  # 200 ServiceInfo: present; 204: absent (§5.8)


class SafetyReads:
    """A client's reads of the rules' inputs."""

    def __init__(self, get: Get, reads: TargetReads, clock: Callable[[], float]) -> None:
        self.get, self.reads, self.clock = get, reads, clock
        self.cache = TickCache(clock, TICK)
        self.repair_manager: bool | None = None  # probed once

    def read_at(self, key: str) -> float:
        """When the input *key* was last read (a very old time: never)."""
        return self.cache.read_at(key)

    async def read(self, needs: frozenset[str], apps: frozenset[str]) -> Inputs:
        """Read what *needs* names (``lever``, ``upgrade``, ``repairs``, ``chaos``, ``health``, ``nodes``) and
        *apps*' upgrades."""
        fields: dict[str, Any] = {}
        unread: dict[str, str] = {}

        async def one(name: str, read: Callable[[], Awaitable[Any]]) -> None:
            try:
                fields[name] = await self.cache.get(name, read)
            except SFProgressError as exc:  # said in the refusal, never a crash
                unread[name] = str(exc)

        jobs = []
        if "lever" in needs:
            jobs.append(one("lever", self.lever))
        if "upgrade" in needs:
            jobs.append(one("upgrade", lambda: self.get("/$/GetUpgradeProgress", "", "6.0", _field("UpgradeState"))))
        if "chaos" in needs:
            jobs.append(one("chaos", lambda: self.get("/Tools/Chaos", "", "6.2", _field("Status"))))
        if "health" in needs:
            params = "NodesHealthStateFilter=0&ApplicationsHealthStateFilter=0&EventsHealthStateFilter=0"
            jobs.append(one("health", lambda: self.get("/$/GetClusterHealth", params, "6.0",
                                                       _field("AggregatedHealthState"))))
        if "repairs" in needs:
            jobs.append(one("repairs", self._repairs))
        if "nodes" in needs:
            jobs.append(one("nodes", self._nodes))
        app_states: dict[str, str] = {}
        for app in sorted(apps):
            async def app_read(app: str = app) -> None:
                try:
                    app_states[app] = await self.cache.get(f"app:{app}", lambda: self.get(
                        f"/Applications/{encode_service_id(app)}/$/GetUpgradeProgress", "", "6.0",
                        _field("UpgradeState")))
                except SFProgressError as exc:
                    unread[f"app-upgrade {app}"] = str(exc)

            jobs.append(app_read())
        await asyncio.gather(*jobs)
        return Inputs(app_upgrades=app_states, unread=unread, **fields)

    async def lever(self) -> LeverState:
        """The stop lever now (a missing property or name: released)."""
        try:
            state: LeverState = await self.get(PROPERTY_PATH, PROPERTY_QUERY, "6.0", parse_lever)
        except NotFoundError:
            return RELEASED
        return state

    async def _repairs(self) -> tuple[Repair, ...] | None:
        if self.repair_manager is None:
            self.repair_manager = await self.get(
                "/Applications/System/$/GetServices/System~RepairManagerService", "", "6.0", _present)
        if not self.repair_manager:
            return None  # no Repair Manager: no repair tasks (the list would time out)
        found: tuple[Repair, ...] = await self.get("/$/GetRepairTaskList", "StateFilter=63", "6.0", _repairs)
        return found

    async def _nodes(self) -> Mapping[str, NodeView]:
        return {node.name: node for node in await self.reads.nodes(None)}
