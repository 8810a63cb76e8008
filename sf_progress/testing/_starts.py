"""How the fake gateway reads each kind's start call (faults-protocol.md §3.2-3.3).

Pure checks of the query: mode strings compared exactly, durations and instance ids
parsed as the gateway does; each raises the ``Answer`` a real gateway sends.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping

import attrs

from .._models import OperationRef, OperationState, OperationType
from ._answers import Answer, invalid
from ._scripts import HRESULTS, Script

__all__ = ["StartArgs", "read_start", "validated"]

RESTART_MODES = ("AllReplicasOrInstances", "OnlyActiveSecondaries")
DATA_LOSS_MODES = ("PartialDataLoss", "FullDataLoss")
# The spec (and every client) sends QuorumReplicas; the runtime source accepts QuorumLossReplicas.
QUORUM_LOSS_MODES = ("QuorumReplicas", "QuorumLossReplicas", "AllReplicas")
TRANSITIONS = ("Start", "Stop")
STOP_DURATION = (300, 14400)
_DWORD = 4294967295


@attrs.frozen
class StartArgs:
    """What a start asked for: its mode, and for the kinds that have them, durations and the node."""

    mode: str
    min_duration: float = 0.0  # quorum loss stays Running at least this long
    node_instance_id: str | None = None
    stop_duration: int | None = None


def _required(query: dict[str, str], name: str) -> str:
    value = query.get(name)
    if value is None:
        raise Answer(404, "FABRIC_E_NAME_DOES_NOT_EXIST", f"{name} is missing")
    return value


def _dword(query: dict[str, str], name: str) -> int:
    text = _required(query, name)
    if not text.isascii() or not text.isdigit() or int(text) > _DWORD:
        raise invalid(f"Invalid {name} {text!r}")
    return int(text)


def read_start(kind: OperationType, query: dict[str, str], *, quorum_modes: tuple[str, ...]) -> StartArgs:
    """The arguments of a start call of *kind*, or the error answer the gateway sends."""
    if kind is OperationType.PARTITION_RESTART:
        mode = _required(query, "RestartPartitionMode")
        if mode not in RESTART_MODES:
            raise invalid(f"Invalid RestartPartitionMode {mode!r}")
        return StartArgs(mode)
    if kind is OperationType.PARTITION_DATA_LOSS:
        mode = _required(query, "DataLossMode")
        if mode not in DATA_LOSS_MODES:
            raise invalid(f"Invalid DataLossMode {mode!r}")
        return StartArgs(mode)
    if kind is OperationType.PARTITION_QUORUM_LOSS:
        mode = _required(query, "QuorumLossMode")
        if mode not in quorum_modes:
            raise invalid(f"Invalid QuorumLossMode {mode!r}")
        return StartArgs(mode, min_duration=float(_dword(query, "QuorumLossDuration")))
    transition = _required(query, "NodeTransitionType")
    if transition not in TRANSITIONS:
        raise invalid(f"Invalid NodeTransitionType {transition!r}")
    instance = _required(query, "NodeInstanceId")
    if not instance.isascii() or not instance.isdigit() or int(instance) >= 2**64:
        raise invalid(f"Invalid NodeInstanceId {instance!r}")
    if int(instance) == 0:
        raise Answer(400, "FABRIC_E_INVALID_INSTANCE_ID", "NodeInstanceId must not be 0")
    stop = None
    if transition == "Stop":  # read only for Stop
        stop = _dword(query, "StopDurationInSeconds")
        if not STOP_DURATION[0] <= stop <= STOP_DURATION[1]:
            raise Answer(400, "FABRIC_E_INVALID_DURATION", f"StopDurationInSeconds {stop} is out of range")
    return StartArgs(transition, node_instance_id=instance, stop_duration=stop)


def validated(
    ref: OperationRef,
    args: StartArgs,
    script: Script,
    nodes: Mapping[str, int],
    services: Mapping[str, tuple[frozenset[uuid.UUID], bool]],
) -> Script:
    """The script a real cluster would follow: 202 first, Faulted later if the target is bad."""
    if args.min_duration > script.duration:  # quorum loss stays Running for its duration
        script = attrs.evolve(script, duration=args.min_duration)
    problem = None
    if ref.node_name is not None:
        if ref.node_name not in nodes:
            problem = "FABRIC_E_NODE_NOT_FOUND"
    elif services:
        known = services.get(ref.service_id or "")
        if known is None:
            problem = "FABRIC_E_SERVICE_DOES_NOT_EXIST"
        elif ref.partition_id not in known[0]:
            problem = "FABRIC_E_PARTITION_NOT_FOUND"
        elif not known[1] and ref.kind is not OperationType.PARTITION_RESTART:
            problem = "FABRIC_E_INVALID_FOR_STATELESS_SERVICES"
        elif not known[1] and args.mode == "OnlyActiveSecondaries":
            problem = "E_INVALIDARG"
    if problem is None:
        return script
    return Script(duration=min(script.duration, 0.05), outcome=OperationState.FAULTED, error_code=HRESULTS[problem])
