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

__all__ = [
    "ChaosParameters",
    "ChaosSchedule",
    "ChaosScheduleJob",
    "ChaosStateError",
    "ChaosStatus",
    "confirm",
    "parse_schedule",
    "parse_status",
]

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

    @classmethod
    def from_body(cls, data: Mapping[str, Any], **overrides: Any) -> ChaosParameters:
        """The parameters a ``ChaosParameters`` JSON object holds (its PascalCase fields), checked.

        Args:
            data: The JSON object (as GET /Tools/Chaos, a schedule or a file has it).
            **overrides: Fields of this class that replace the object's (``None`` and empty ones ignored).

        Returns:
            The parameters.

        Raises:
            ValueError: A field out of range.
            TypeError: A field of the wrong type.
        """
        if not isinstance(data, Mapping):
            raise TypeError(f"ChaosParameters must be a JSON object, not {type(data).__name__}")
        policy = data.get("ClusterHealthPolicy") or {}
        target = data.get("ChaosTargetFilter") or {}
        run = data.get("TimeToRunInSeconds")
        fields = {
            "time_to_run": int(run) if isinstance(run, str) else run,
            "max_cluster_stabilization_timeout": data.get("MaxClusterStabilizationTimeoutInSeconds"),
            "max_concurrent_faults": data.get("MaxConcurrentFaults"),
            "enable_move_replica_faults": data.get("EnableMoveReplicaFaults"),
            "wait_time_between_faults": data.get("WaitTimeBetweenFaultsInSeconds"),
            "wait_time_between_iterations": data.get("WaitTimeBetweenIterationsInSeconds"),
            "include_node_types": tuple(target.get("NodeTypeInclusionList") or ()),
            "include_applications": tuple(target.get("ApplicationInclusionList") or ()),
            "context": (data.get("Context") or {}).get("Map"),
            "consider_warning_as_error": policy.get("ConsiderWarningAsError"),
            "max_percent_unhealthy_nodes": policy.get("MaxPercentUnhealthyNodes"),
            "max_percent_unhealthy_applications": policy.get("MaxPercentUnhealthyApplications"),
            **overrides,
        }
        return cls(**{k: v for k, v in fields.items() if v not in (None, ())})

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


_START, _EXPIRY = "1601-01-01T00:00:00Z", "9999-12-31T23:59:59.999Z"
_DAYS = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")


def _days(value: object) -> frozenset[str]:
    days = frozenset(str(d) for d in value)  # type: ignore[attr-defined]
    unknown = days - set(_DAYS)
    if unknown:
        raise ValueError(f"days must be among {', '.join(_DAYS)}, got {sorted(unknown)}")
    return days


def _hhmm(text: str) -> tuple[int, int]:
    hour, sep, minute = str(text).partition(":")
    if not sep or not hour.isdigit() or not minute.isdigit() or int(hour) > 23 or int(minute) > 59:
        raise ValueError(f"a time of day is HH:MM (00:00..23:59), got {text!r}")
    return int(hour), int(minute)


def _times(value: object) -> tuple[tuple[str, str], ...]:
    times = tuple((str(a), str(b)) for a, b in value)  # type: ignore[attr-defined]
    for start, end in times:
        _hhmm(start)
        _hhmm(end)
    return times


@attrs.frozen(kw_only=True)
class ChaosScheduleJob:
    """One job of a Chaos schedule: the ``parameters`` it runs (a key of the schedule's), on which
    ``days`` (``"Monday"``...), and in which ``times`` of day (``("09:00", "17:00")`` pairs, UTC)."""

    parameters: str
    days: frozenset[str] = attrs.field(converter=_days)
    times: tuple[tuple[str, str], ...] = attrs.field(converter=_times)


@attrs.frozen(kw_only=True)
class ChaosSchedule:
    """Chaos's schedule: ``version`` (the server's, which a new schedule must name), ``start`` and
    ``expiry`` (ISO 8601, UTC), named ``parameters`` and the ``jobs`` that run them."""

    version: int = 0
    start: str = "1601-01-01T00:00:00Z"  # (the wire's defaults: _START, _EXPIRY)
    expiry: str = "9999-12-31T23:59:59.999Z"
    parameters: Mapping[str, ChaosParameters] = attrs.field(factory=dict)
    jobs: tuple[ChaosScheduleJob, ...] = ()

    def __attrs_post_init__(self) -> None:
        if type(self.version) is not int or not 0 <= self.version <= 2**31 - 1:
            raise ValueError(f"version must be an int in 0..2147483647, got {self.version!r}")
        missing = {job.parameters for job in self.jobs} - set(self.parameters)
        if missing:
            raise ValueError(f"jobs name parameters the schedule lacks: {sorted(missing)}")

    def as_body(self) -> dict[str, Any]:
        """The ``ChaosScheduleDescription`` body.

        Returns:
            ``{"Version": ..., "Schedule": {...}}``.
        """
        jobs = [{
            "ChaosParameters": job.parameters,
            "Days": {day: day in job.days for day in _DAYS},
            "Times": [{"StartTime": dict(zip(("Hour", "Minute"), _hhmm(a), strict=True)),
                       "EndTime": dict(zip(("Hour", "Minute"), _hhmm(b), strict=True))} for a, b in job.times],
        } for job in self.jobs]
        return {"Version": self.version, "Schedule": {
            "StartDate": self.start, "ExpiryDate": self.expiry,
            "ChaosParametersDictionary": [{"Key": k, "Value": v.as_body()} for k, v in self.parameters.items()],
            "Jobs": jobs,
        }}

    @classmethod
    def from_body(cls, data: Mapping[str, Any]) -> ChaosSchedule:
        """The schedule a ``ChaosScheduleDescription`` JSON object holds, checked.

        Args:
            data: ``{"Version": ..., "Schedule": {...}}``.

        Returns:
            The schedule.

        Raises:
            ValueError: A field out of range, or a shape that is not a schedule's.
            TypeError: A field of the wrong type.
        """
        schedule = data.get("Schedule") or {}
        try:
            jobs = tuple(ChaosScheduleJob(
                parameters=str(job["ChaosParameters"]),
                days=[day for day, on in (job.get("Days") or {}).items() if on],
                times=[(f"{t['StartTime']['Hour']:02d}:{t['StartTime']['Minute']:02d}",
                        f"{t['EndTime']['Hour']:02d}:{t['EndTime']['Minute']:02d}") for t in job.get("Times") or ()],
            ) for job in schedule.get("Jobs") or ())
            parameters = {str(item["Key"]): ChaosParameters.from_body(item["Value"])
                          for item in schedule.get("ChaosParametersDictionary") or ()}
        except (KeyError, AttributeError) as exc:
            raise ValueError(f"not a Chaos schedule ({exc})") from None
        return cls(version=int(data.get("Version", 0)), start=str(schedule.get("StartDate", _START)),
                   expiry=str(schedule.get("ExpiryDate", _EXPIRY)), parameters=parameters, jobs=jobs)


def parse_schedule(body: bytes, ref: OperationRef | None) -> ChaosSchedule:
    """A ``ChaosScheduleDescription`` answer."""
    try:
        data = json.loads(body)
        if not isinstance(data, dict):
            raise TypeError
        return ChaosSchedule.from_body(data)
    except (ValueError, TypeError) as exc:
        raise ResponseFormatError(f"expected a Chaos schedule ({exc})", body=body, ref=ref) from None
