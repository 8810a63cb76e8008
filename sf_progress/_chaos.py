"""Service Fabric's own Chaos: its parameters, its status, and starting and stopping it, confirmed.

health-and-chaos-protocol.md §8.1: ``GET /Tools/Chaos`` (api 6.2) answers ``Status`` and
``ScheduleStatus``; ``POST /Tools/Chaos/$/Start`` (api 6.0, a ``ChaosParameters`` body) and
``/$/Stop`` answer 200 with an empty body — also when they did nothing: both wait 20 s for the
scheduler's lock and give up silently.  So every start and stop is confirmed by reading the
status back; one that did not take is a :class:`ChaosStateError`.  A start while a schedule is
active is 400 ``FABRIC_E_CHAOS_ALREADY_RUNNING`` (a :class:`BadRequestError`).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import attrs

from ._errors import ResponseFormatError, SFProgressError
from ._ids import to_seconds
from ._models import OperationRef

__all__ = ["ChaosParameters", "ChaosStateError", "ChaosStatus", "confirm", "parse_status"]

_UINT32 = 4294967295


def _whole_seconds(value: object, what: str) -> int:
    if isinstance(value, bool):
        raise TypeError(f"{what} must be seconds, not a bool")
    seconds = to_seconds(value, what)
    if seconds > _UINT32:
        raise ValueError(f"{what} must be at most {_UINT32} seconds, got {value!r}")
    return round(seconds)


def _time_to_run(value: object) -> int:
    return _whole_seconds(value, "time_to_run")


def _stabilization(value: object) -> int:
    return _whole_seconds(value, "max_cluster_stabilization_timeout")


def _between_faults(value: object) -> int:
    return _whole_seconds(value, "wait_time_between_faults")


def _between_iterations(value: object) -> int:
    return _whole_seconds(value, "wait_time_between_iterations")


def _count(_: object, attribute: attrs.Attribute[int], value: int) -> None:
    if type(value) is not int or not 0 <= value <= _UINT32:
        raise ValueError(f"{attribute.name} must be an int in 0..{_UINT32}, got {value!r}")


def _names(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    names = tuple(str(v).strip() for v in value)  # type: ignore[attr-defined]
    if any(not n for n in names):
        raise ValueError("names must not be empty")
    if len(names) > 100:
        raise ValueError("at most 100 names (the cluster's MaxNumberOfNodeTypesInChaosEntityFilter)")
    return names


def _context(value: Mapping[str, str] | None) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((str(k), str(v)) for k, v in (value or {}).items()))


def _percent(_: object, attribute: attrs.Attribute[int], value: int) -> None:
    if type(value) is not int or not 0 <= value <= 100:
        raise ValueError(f"{attribute.name} must be an int in 0..100, got {value!r}")


@attrs.frozen(kw_only=True)
class ChaosParameters:
    """How SF Chaos runs (``ChaosParameters``), every field checked before anything is sent.

    Durations are seconds (or a ``timedelta``), whole seconds on the wire.  ``include_node_types``
    and ``include_applications`` are the ``ChaosTargetFilter`` (empty: the whole cluster);
    ``context`` is free text kept with the run; the health fields are its ``ClusterHealthPolicy``.
    """

    time_to_run: int = attrs.field(default=_UINT32, converter=_time_to_run)
    max_cluster_stabilization_timeout: int = attrs.field(default=60, converter=_stabilization)
    max_concurrent_faults: int = attrs.field(default=1, validator=_count)
    enable_move_replica_faults: bool = attrs.field(default=True, validator=attrs.validators.instance_of(bool))
    wait_time_between_faults: int = attrs.field(default=20, converter=_between_faults)
    wait_time_between_iterations: int = attrs.field(default=30, converter=_between_iterations)
    include_node_types: tuple[str, ...] = attrs.field(default=(), converter=_names)
    include_applications: tuple[str, ...] = attrs.field(default=(), converter=_names)
    context: tuple[tuple[str, str], ...] = attrs.field(default=None, converter=_context)
    consider_warning_as_error: bool = attrs.field(default=False, validator=attrs.validators.instance_of(bool))
    max_percent_unhealthy_nodes: int = attrs.field(default=0, validator=_percent)
    max_percent_unhealthy_applications: int = attrs.field(default=0, validator=_percent)

    def __attrs_post_init__(self) -> None:
        if self.time_to_run == 0:
            raise ValueError("time_to_run must be more than 0 seconds")

    def as_body(self) -> dict[str, Any]:
        """The ``ChaosParameters`` body (``TimeToRunInSeconds`` a string, as the wire has it).

        Returns:
            The JSON-able body.
        """
        body: dict[str, Any] = {
            "TimeToRunInSeconds": str(self.time_to_run),
            "MaxClusterStabilizationTimeoutInSeconds": self.max_cluster_stabilization_timeout,
            "MaxConcurrentFaults": self.max_concurrent_faults,
            "EnableMoveReplicaFaults": self.enable_move_replica_faults,
            "WaitTimeBetweenFaultsInSeconds": self.wait_time_between_faults,
            "WaitTimeBetweenIterationsInSeconds": self.wait_time_between_iterations,
            "ClusterHealthPolicy": {
                "ConsiderWarningAsError": self.consider_warning_as_error,
                "MaxPercentUnhealthyNodes": self.max_percent_unhealthy_nodes,
                "MaxPercentUnhealthyApplications": self.max_percent_unhealthy_applications,
            },
            "Context": {"Map": dict(self.context)},
        }
        if self.include_node_types or self.include_applications:
            body["ChaosTargetFilter"] = {
                "NodeTypeInclusionList": list(self.include_node_types),
                "ApplicationInclusionList": list(self.include_applications),
            }
        return body


@attrs.frozen
class ChaosStatus:
    """What ``GET /Tools/Chaos`` says: ``status`` (``Running``, ``Stopped``), ``schedule_status``
    (``Stopped``, ``Active``, ``Expired``, ``Pending``) and the run's ``parameters`` as sent
    (raw JSON; empty when none)."""

    status: str
    schedule_status: str
    parameters: Mapping[str, Any] = attrs.field(factory=dict, eq=False)

    @property
    def running(self) -> bool:
        """Whether Chaos is running now."""
        return self.status == "Running"


class ChaosStateError(SFProgressError):
    """A Chaos start or stop was answered 200 but did not take (the scheduler's lock was busy).

    ``wanted`` is the status asked for, ``status`` the :class:`ChaosStatus` read back.
    """

    def __init__(self, text: str, *, wanted: str, status: ChaosStatus) -> None:
        super().__init__(text)
        self.wanted, self.status = wanted, status


def parse_status(body: bytes, ref: OperationRef | None) -> ChaosStatus:
    """A ``Chaos`` answer (statuses are open strings: a runtime may send one the spec lacks)."""
    try:
        data = json.loads(body)
        status, schedule = data["Status"], data.get("ScheduleStatus", "Invalid")
        if not isinstance(status, str) or not isinstance(schedule, str):
            raise TypeError
    except (ValueError, TypeError, KeyError):
        raise ResponseFormatError("expected a Chaos status ({'Status': ..., 'ScheduleStatus': ...})",
                                  body=body, ref=ref) from None
    parameters = data.get("ChaosParameters")
    return ChaosStatus(status, schedule, parameters if isinstance(parameters, dict) else {})


async def confirm(
    read: Callable[[], Awaitable[ChaosStatus]],
    sleep: Callable[[float], Awaitable[None]],
    wanted: str,
    what: str,
    tries: int = 5,
) -> ChaosStatus:
    """Read the status until it is *wanted* (a second apart, *tries* times); else :class:`ChaosStateError`."""
    status = await read()
    for _ in range(tries - 1):
        if status.status == wanted:
            return status
        await sleep(1.0)
        status = await read()
    if status.status == wanted:
        return status
    raise ChaosStateError(
        f"Chaos {what} was answered 200 but did not take: its status is still {status.status} (the cluster's "
        "Chaos scheduler was busy; try again)",
        wanted=wanted,
        status=status,
    )
