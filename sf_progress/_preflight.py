"""Before injecting: ``ProgressClient.check()`` reads what decides whether faults may go in now.

One read each, sent at once (faults-beyond-fas-protocol.md §5, health-and-chaos-protocol.md §8):
the cluster version (the gateway answers; the credentials are accepted), the manifest's
``Name``, the Fault Analysis Service and the Repair Manager (present, healthy), SF Chaos's
status, the cluster upgrade's ``UpgradeState``, the cluster's health, and the stop lever (the
``sfprogress/control`` naming property ``killswitch``).  Each becomes a :class:`Check`;
:class:`Preflight` says whether faults may be injected.  Nothing here is sent twice, and no
check raises: what a read could not tell is said in the check.
"""

from __future__ import annotations

import asyncio
import enum
import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

import attrs

from ._errors import AuthError, NotFoundError, ResponseFormatError, SFProgressError, TransportError
from ._lever import PROPERTY_PATH, PROPERTY_QUERY, parse_lever
from ._models import OperationRef

__all__ = [
    "UPGRADE_DONE", "Check", "CheckStatus", "Preflight", "manifest_name", "run_checks",
]

#: ``UpgradeState`` values of an upgrade that is over (SF Chaos injects only then; §5.1).
UPGRADE_DONE = frozenset({"RollingForwardCompleted", "RollingBackCompleted"})
_MANIFEST_NAME = re.compile(r"<ClusterManifest\b[^>]*?\sName\s*=\s*(['\"])(?P<name>[^'\"]*)\1")
_FAS_ABSENT = (
    "the Fault Analysis Service is not in this cluster: every fault call would fail with 0x80071D0A "
    "(FMFailoverUnitNotFound). It is off by default on Linux and one-node clusters: enable it in the cluster "
    "manifest (the FaultAnalysisService section, TargetReplicaSetSize/MinReplicaSetSize) and upgrade the cluster"
)


class CheckStatus(str, enum.Enum):
    """What one check found."""

    #: Fine for faults.
    OK = "ok"
    #: Worth knowing, not in the way (Repair Manager absent, cluster health Warning...).
    WARN = "warn"
    #: Faults must not go in now (an upgrade, SF Chaos running, the lever engaged...).
    FORBIDS = "forbids"
    #: The cluster could not be asked (unreachable, credentials refused).
    FAILED = "failed"

    def __str__(self) -> str:
        return self.value


@attrs.frozen
class Check:
    """One check of :meth:`ProgressClient.check`: its ``name``, ``status`` and what it saw (``detail``).

    ``value`` is the fact read (``"9.1.1436.9590"``, ``"RollingForwardInProgress"``, ``True``...),
    ``None`` when it could not be read.
    """

    name: str
    status: CheckStatus
    detail: str
    value: str | bool | None = None

    def as_dict(self) -> dict[str, Any]:
        """The check as plain JSON (``sf-progress check -o json`` writes one per line).

        Returns:
            ``{"check", "status", "detail", "value"}``.
        """
        return {"check": self.name, "status": self.status.value, "detail": self.detail, "value": self.value}


@attrs.frozen
class Preflight:
    """What :meth:`ProgressClient.check` found, check by check (``checks``, in a fixed order)."""

    checks: tuple[Check, ...]

    @property
    def reachable(self) -> bool:
        """Whether the cluster answered with the credentials given."""
        return not any(c.status is CheckStatus.FAILED for c in self.checks)

    @property
    def allowed(self) -> bool:
        """Whether faults may be injected now (reachable, and no check forbids it)."""
        return self.reachable and not any(c.status is CheckStatus.FORBIDS for c in self.checks)

    @property
    def forbidding(self) -> tuple[Check, ...]:
        """The checks that forbid faults now."""
        return tuple(c for c in self.checks if c.status is CheckStatus.FORBIDS)

    def __getitem__(self, name: str) -> Check:
        return next(c for c in self.checks if c.name == name)


#: A read of the control plane: (path, params, api-version) → the answer's raw body (b"" for a 204).
Get = Callable[[str, str, str], Awaitable[bytes]]


async def run_checks(get: Get, endpoint: str) -> Preflight:
    """Read everything at once through *get*; turn each answer into its check."""
    reads = {
        "version": get("/$/GetClusterVersion", "", "6.0"),
        "name": get("/$/GetClusterManifest", "", "6.0"),
        "fault-analysis": get("/Applications/System/$/GetServices/System~FaultAnalysisService", "", "6.0"),
        "repair-manager": get("/Applications/System/$/GetServices/System~RepairManagerService", "", "6.0"),
        "chaos": get("/Tools/Chaos", "", "6.2"),
        "upgrade": get("/$/GetUpgradeProgress", "", "6.0"),
        "health": get("/$/GetClusterHealth", "NodesHealthStateFilter=0&ApplicationsHealthStateFilter=0", "6.0"),
        "lever": get(PROPERTY_PATH, PROPERTY_QUERY, "6.0"),
    }
    answers = dict(zip(reads, await asyncio.gather(*reads.values(), return_exceptions=True), strict=True))
    first = answers["version"]
    if isinstance(first, (TransportError, AuthError)):  # nothing else is worth saying
        what = "credentials" if isinstance(first, AuthError) else "gateway"
        return Preflight((Check(what, CheckStatus.FAILED, str(first)),))
    checks = [Check("gateway", CheckStatus.OK, f"{endpoint} answers; the credentials are accepted", True)]
    for name, judge in _JUDGES.items():
        answer = answers[name]
        if isinstance(answer, BaseException) and not isinstance(answer, (SFProgressError, ValueError)):
            raise answer  # a cancellation, or a bug: not a check's finding
        checks.append(_judged(name, judge, answer))
    return Preflight(tuple(checks))


def _judged(name: str, judge: Callable[[bytes], Check], answer: bytes | BaseException) -> Check:
    if isinstance(answer, NotFoundError) and name == "lever":
        return Check("lever", CheckStatus.OK, "released", False)
    if isinstance(answer, BaseException):
        return Check(name, CheckStatus.WARN, f"could not be read: {answer}")
    try:
        return judge(answer)
    except (ValueError, TypeError, KeyError, AttributeError, ResponseFormatError):
        return Check(name, CheckStatus.WARN, "could not be read: an answer of an unexpected shape")


def _json(body: bytes) -> dict[str, Any]:
    data = json.loads(body)
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    return data


def _version(body: bytes) -> Check:
    version = str(_json(body)["Version"])
    return Check("version", CheckStatus.OK, f"Service Fabric {version}", version)


def manifest_name(body: bytes, ref: OperationRef | None = None) -> str | None:
    """The cluster's name: the ``Name`` of a ``GetClusterManifest`` answer's root element (``None`` if none)."""
    try:
        manifest = str(_json(body)["Manifest"])
    except (ValueError, TypeError, KeyError):
        raise ResponseFormatError("expected {'Manifest': <the cluster manifest's XML>}", body=body, ref=ref) from None
    match = _MANIFEST_NAME.search(manifest)
    return None if match is None else match["name"]


def _name(body: bytes) -> Check:
    name = manifest_name(body)
    if name is None:
        return Check("name", CheckStatus.WARN, "the cluster manifest names no cluster")
    return Check("name", CheckStatus.OK, f"cluster {name!r}", name)


def _system_service(name: str, absent: str, absent_status: CheckStatus) -> Callable[[bytes], Check]:
    def judge(body: bytes) -> Check:
        if not body:  # 204: the FM knows no such system service
            return Check(name, absent_status, absent, False)
        health = str(_json(body).get("HealthState", "Unknown"))
        if health in ("Ok", "Warning"):
            return Check(name, CheckStatus.OK if health == "Ok" else CheckStatus.WARN, f"present, health {health}",
                         True)
        return Check(name, CheckStatus.FORBIDS if name == "fault-analysis" else CheckStatus.WARN,
                     f"present, health {health}", True)

    return judge


def _chaos(body: bytes) -> Check:
    status = str(_json(body)["Status"])
    if status == "Running":
        return Check("chaos", CheckStatus.FORBIDS, "SF Chaos is running: its faults and ours would mix", status)
    return Check("chaos", CheckStatus.OK, f"SF Chaos is {status.lower()}", status)


def _upgrade(body: bytes) -> Check:
    state = str(_json(body)["UpgradeState"])
    if state in UPGRADE_DONE:
        return Check("upgrade", CheckStatus.OK, f"no cluster upgrade in progress ({state})", state)
    return Check("upgrade", CheckStatus.FORBIDS, f"a cluster upgrade is in progress ({state})", state)


def _health(body: bytes) -> Check:
    state = str(_json(body)["AggregatedHealthState"])
    status = {"Ok": CheckStatus.OK, "Warning": CheckStatus.WARN}.get(state, CheckStatus.FORBIDS)
    return Check("health", status, f"cluster health {state}", state)


def _lever(body: bytes) -> Check:
    state = parse_lever(body)
    return Check("lever", CheckStatus.FORBIDS, f"{state} (sf-progress lever release)", True)


_JUDGES: dict[str, Callable[[bytes], Check]] = {
    "version": _version,
    "name": _name,
    "fault-analysis": _system_service("fault-analysis", _FAS_ABSENT, CheckStatus.FORBIDS),
    "repair-manager": _system_service(
        "repair-manager", "the Repair Manager is not in this cluster: repair tasks cannot be read", CheckStatus.WARN
    ),
    "chaos": _chaos,
    "upgrade": _upgrade,
    "health": _health,
    "lever": _lever,
}


def raw_body(body: bytes, ref: OperationRef | None) -> bytes:
    """The parse step of the control-plane reads: the body as it came (the transport caps its size; the
    checks read it themselves)."""
    return body
