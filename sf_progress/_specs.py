"""Start specs: one frozen class per fault kind of the Fault Analysis Service, with its modes.

Every start parameter, its default and its validation is written here, once (the kinds the
client verifies itself have theirs in ``_verified/specs.py``).  A bad mode, a duration out
of range, a bad transition or a malformed id raises ``ValueError`` (a value of the wrong
type ``TypeError``) when the spec is made, before anything is written or sent.
"""

from __future__ import annotations

import enum
from datetime import timedelta
from typing import ClassVar, TypeVar

import attrs

from ._ids import to_seconds
from ._models import OperationType
from ._params import about

__all__ = [
    "DEFAULT_DATA_LOSS_MODE",
    "DEFAULT_QUORUM_LOSS_MODE",
    "DEFAULT_RESTART_MODE",
    "DEFAULT_STOP_DURATION",
    "FAS_SPECS",
    "STOP_DURATION_RANGE",
    "DataLossMode",
    "DataLossSpec",
    "NodeTransitionSpec",
    "NodeTransitionType",
    "QuorumLossMode",
    "QuorumLossSpec",
    "RestartPartitionMode",
    "RestartSpec",
    "instance_id",
    "whole_seconds",
]


class RestartPartitionMode(str, enum.Enum):
    """Which replicas ``StartPartitionRestart`` restarts."""

    ALL_REPLICAS_OR_INSTANCES = "AllReplicasOrInstances"
    ONLY_ACTIVE_SECONDARIES = "OnlyActiveSecondaries"

    def __str__(self) -> str:
        return self.value


class DataLossMode(str, enum.Enum):
    """How much data ``StartDataLoss`` loses."""

    PARTIAL_DATA_LOSS = "PartialDataLoss"
    FULL_DATA_LOSS = "FullDataLoss"

    def __str__(self) -> str:
        return self.value


class QuorumLossMode(str, enum.Enum):
    """Which replicas ``StartQuorumLoss`` puts into quorum loss."""

    QUORUM_REPLICAS = "QuorumReplicas"
    ALL_REPLICAS = "AllReplicas"

    def __str__(self) -> str:
        return self.value


class NodeTransitionType(str, enum.Enum):
    """Whether ``StartNodeTransition`` starts or stops a node."""

    START = "Start"
    STOP = "Stop"

    def __str__(self) -> str:
        return self.value


DEFAULT_RESTART_MODE = RestartPartitionMode.ALL_REPLICAS_OR_INSTANCES
DEFAULT_DATA_LOSS_MODE = DataLossMode.PARTIAL_DATA_LOSS
DEFAULT_QUORUM_LOSS_MODE = QuorumLossMode.QUORUM_REPLICAS
#: Seconds a stopped node stays down unless started earlier.
DEFAULT_STOP_DURATION = 600
#: The runtime's bounds on a node stop's duration (the docs say 600 s minimum; the runtime takes 300).
STOP_DURATION_RANGE = (300, 14400)
_MAX_SECONDS = 4294967295

_E = TypeVar("_E", RestartPartitionMode, DataLossMode, QuorumLossMode)


def _member(enum_type: type[_E], value: object, what: str) -> _E:
    if isinstance(value, enum_type):
        return value
    try:
        return enum_type(value)
    except ValueError:
        choices = ", ".join(m.value for m in enum_type)
        raise ValueError(f"{what} must be one of {choices}, got {value!r}") from None


def _restart_mode(value: object) -> RestartPartitionMode:
    return _member(RestartPartitionMode, value, "mode")


def _data_loss_mode(value: object) -> DataLossMode:
    return _member(DataLossMode, value, "mode")


def _quorum_loss_mode(value: object) -> QuorumLossMode:
    return _member(QuorumLossMode, value, "mode")


def _transition(value: object) -> NodeTransitionType:
    if isinstance(value, NodeTransitionType):
        return value
    if isinstance(value, str):
        for member in NodeTransitionType:
            if value.strip().lower() == member.value.lower():
                return member
    raise ValueError(f"transition must be 'stop' or 'start' (any case) or a NodeTransitionType, got {value!r}")


def whole_seconds(value: float | timedelta, what: str, *, minimum: int, maximum: int = _MAX_SECONDS) -> int:
    """*value* (seconds or a ``timedelta``) as whole seconds in ``minimum..maximum``."""
    seconds = to_seconds(value, what, finite=True)
    if seconds != int(seconds) or not minimum <= seconds <= maximum:
        raise ValueError(f"{what} must be a whole number of seconds in {minimum}..{maximum}, got {value!r}")
    return int(seconds)


def _duration(value: float | timedelta) -> int:
    return whole_seconds(value, "duration", minimum=1)


def _stop_duration(value: float | timedelta) -> int:
    low, high = STOP_DURATION_RANGE
    return whole_seconds(value, "stop_duration", minimum=low, maximum=high)


def instance_id(value: object) -> str:
    """A node instance id (a positive 64-bit integer, as ``int`` or decimal ``str``) as a string."""
    text = str(value) if type(value) is int else value
    if not isinstance(text, str) or not text.isascii() or not text.isdigit() or not 0 < int(text) < 2**64:
        raise ValueError(f"node_instance_id must be a positive 64-bit integer, got {value!r}")
    return text


def _optional_instance_id(value: object) -> str | None:
    return None if value is None else instance_id(value)


@attrs.frozen
class RestartSpec:
    """What a partition restart restarts: ``mode`` (all replicas, or only active secondaries)."""

    kind: ClassVar[OperationType] = OperationType.PARTITION_RESTART
    target: ClassVar[str] = "partition"
    description: ClassVar[str] = "partition restart"
    mode: RestartPartitionMode = attrs.field(
        default=DEFAULT_RESTART_MODE, converter=_restart_mode, metadata=about("Which replicas restart.")
    )

    def query(self) -> str:
        """The start call's own query parameters.

        Returns:
            ``RestartPartitionMode=...``.
        """
        return f"RestartPartitionMode={self.mode.value}"


@attrs.frozen
class DataLossSpec:
    """How much data a partition loses: ``mode`` (partial or full)."""

    kind: ClassVar[OperationType] = OperationType.PARTITION_DATA_LOSS
    target: ClassVar[str] = "partition"
    description: ClassVar[str] = "partition data loss"
    mode: DataLossMode = attrs.field(
        default=DEFAULT_DATA_LOSS_MODE,
        converter=_data_loss_mode,
        metadata=about("How much data is lost.", aliases={"partial": "PartialDataLoss", "full": "FullDataLoss"}),
    )

    def query(self) -> str:
        """The start call's own query parameters.

        Returns:
            ``DataLossMode=...``.
        """
        return f"DataLossMode={self.mode.value}"


@attrs.frozen
class QuorumLossSpec:
    """A quorum loss: ``duration`` (whole seconds >= 1, or a ``timedelta``) and ``mode``."""

    kind: ClassVar[OperationType] = OperationType.PARTITION_QUORUM_LOSS
    target: ClassVar[str] = "partition"
    description: ClassVar[str] = "partition quorum loss"
    duration: int = attrs.field(
        converter=_duration, metadata=about("Seconds the partition stays in quorum loss.", number=True)
    )
    mode: QuorumLossMode = attrs.field(
        default=DEFAULT_QUORUM_LOSS_MODE,
        converter=_quorum_loss_mode,
        metadata=about("Which replicas lose quorum.", aliases={"quorum": "QuorumReplicas", "all": "AllReplicas"}),
    )

    def query(self, mode: str | None = None) -> str:
        """The start call's own query parameters.

        Args:
            mode: Another spelling of the mode (the runtime's ``QuorumLossReplicas``), if given.

        Returns:
            ``QuorumLossMode=...&QuorumLossDuration=...``.
        """
        return f"QuorumLossMode={mode or self.mode.value}&QuorumLossDuration={self.duration}"


@attrs.frozen
class NodeTransitionSpec:
    """A node stop or start.

    ``transition`` is ``NodeTransitionType`` or ``"stop"``/``"start"`` (any case);
    ``stop_duration`` (seconds, 300..14400) is how long a stopped node stays down;
    ``node_instance_id`` is the node's current instance id, or ``None`` to have
    ``ProgressClient.start`` read it from ``GET /Nodes/{node}`` just before the start.
    """

    kind: ClassVar[OperationType] = OperationType.NODE_TRANSITION
    target: ClassVar[str] = "node"
    description: ClassVar[str] = "node transition (a stop or a start)"
    transition: NodeTransitionType = attrs.field(
        converter=_transition,
        metadata=about("stop or start.", positional=True, choices=NodeTransitionType,
                       aliases={"stop": "Stop", "start": "Start"}),
    )
    stop_duration: int = attrs.field(
        default=DEFAULT_STOP_DURATION,
        converter=_stop_duration,
        metadata=about("For a stop: seconds until the node starts again (the runtime takes 300-14400).",
                       flag="--duration", column="duration", number=True),
    )
    node_instance_id: str | None = attrs.field(
        default=None,
        converter=_optional_instance_id,
        metadata=about("The node's InstanceId (default: read from the cluster).", flag="--instance-id"),
    )

    def query(self, node_instance_id: str) -> str:
        """The start call's own query parameters.

        Args:
            node_instance_id: The node's current instance id (decimal).

        Returns:
            ``NodeTransitionType=...&NodeInstanceId=...&StopDurationInSeconds=...``.
        """
        return (
            f"NodeTransitionType={self.transition.value}&NodeInstanceId={node_instance_id}"
            f"&StopDurationInSeconds={self.stop_duration}"
        )


FasSpec = RestartSpec | DataLossSpec | QuorumLossSpec | NodeTransitionSpec
FAS_SPECS = (RestartSpec, DataLossSpec, QuorumLossSpec, NodeTransitionSpec)
