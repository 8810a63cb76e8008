"""Start requests: one frozen spec class per fault kind, and ``FaultTarget`` (a ref plus its spec).

Every start parameter, its default and its validation is written here, once: the client's
``start_*`` conveniences, ``FaultTarget``'s factories, ``FaultRun`` and the command line all
build one of these, and ``ProgressClient.start`` sends it.  A bad mode, a duration out of
range, a bad transition or a malformed id raises ``ValueError`` (a value of the wrong type
``TypeError``) when the spec is made, before anything is written or sent.
"""

from __future__ import annotations

import enum
import uuid
from datetime import timedelta
from typing import Any, ClassVar, TypeVar

import attrs

from ._ids import to_seconds
from ._models import (
    OperationRef,
    OperationType,
)
from ._params import TARGET_PARAMETERS, Parameter, about, parameters_of

__all__ = [
    "DEFAULT_DATA_LOSS_MODE",
    "DEFAULT_QUORUM_LOSS_MODE",
    "DEFAULT_RESTART_MODE",
    "DEFAULT_STOP_DURATION",
    "STOP_DURATION_RANGE",
    "DataLossMode",
    "DataLossSpec",
    "FaultTarget",
    "NodeTransitionSpec",
    "NodeTransitionType",
    "QuorumLossMode",
    "QuorumLossSpec",
    "RestartPartitionMode",
    "RestartSpec",
    "StartSpec",
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


StartSpec = RestartSpec | DataLossSpec | QuorumLossSpec | NodeTransitionSpec
_SPECS = (RestartSpec, DataLossSpec, QuorumLossSpec, NodeTransitionSpec)


def _check_spec(target: FaultTarget, _: attrs.Attribute[StartSpec], spec: StartSpec) -> None:
    if not isinstance(spec, _SPECS):
        raise TypeError(f"spec must be a RestartSpec, DataLossSpec, QuorumLossSpec or NodeTransitionSpec, got {spec!r}")
    if spec.kind is not target.ref.kind:
        name, kind = type(spec).__name__, target.ref.kind.value
        raise ValueError(f"a {name} starts a {spec.kind.value}, but the ref names a {kind}")


def _check_ref(_: FaultTarget, __: attrs.Attribute[OperationRef], ref: OperationRef) -> None:
    if not isinstance(ref, OperationRef):
        raise TypeError(f"ref must be an OperationRef, not {type(ref).__name__}")


def _new_id(operation_id: str | uuid.UUID | None) -> str | uuid.UUID:
    return uuid.uuid4() if operation_id is None else operation_id


@attrs.frozen
class FaultTarget:
    """One fault to start: the ``OperationRef`` it will have and its kind's spec.

    Build them with :meth:`restart`, :meth:`data_loss`, :meth:`quorum_loss` and
    :meth:`node_transition` (each validates everything at once), or from a ref and a spec.
    The OperationId is chosen here, client-side (a new random one unless given), so that a
    journal can hold it before the start is sent and a resumed run sends the same one.
    Send it with ``await client.start(target)``.
    """

    ref: OperationRef = attrs.field(validator=_check_ref)
    spec: StartSpec = attrs.field(validator=_check_spec)

    @property
    def kind(self) -> OperationType:
        """The fault's kind (the ref's)."""
        return self.ref.kind

    @property
    def operation_id(self) -> uuid.UUID:
        """The OperationId the start sends."""
        return self.ref.operation_id

    @classmethod
    def restart(
        cls,
        service_id: str,
        partition_id: str | uuid.UUID,
        *,
        mode: RestartPartitionMode | str = DEFAULT_RESTART_MODE,
        operation_id: str | uuid.UUID | None = None,
    ) -> FaultTarget:
        """A partition restart.

        Args:
            service_id: The service (``fabric:/app/svc``, ``app/svc`` or ``app~svc``).
            partition_id: The partition's GUID.
            mode: ``AllReplicasOrInstances`` (the default) or ``OnlyActiveSecondaries``.
            operation_id: The OperationId to use (default: a new random one).

        Returns:
            The checked target.

        Raises:
            ValueError: A bad id, mode, duration or transition.
            TypeError: An argument of the wrong type.
        """
        return cls(OperationRef.restart(service_id, partition_id, _new_id(operation_id)), RestartSpec(mode))

    @classmethod
    def data_loss(
        cls,
        service_id: str,
        partition_id: str | uuid.UUID,
        *,
        mode: DataLossMode | str = DEFAULT_DATA_LOSS_MODE,
        operation_id: str | uuid.UUID | None = None,
    ) -> FaultTarget:
        """A partition data loss.

        Args:
            service_id: The service (``fabric:/app/svc``, ``app/svc`` or ``app~svc``).
            partition_id: The partition's GUID.
            mode: ``PartialDataLoss`` (the default) or ``FullDataLoss``.
            operation_id: The OperationId to use (default: a new random one).

        Returns:
            The checked target.

        Raises:
            ValueError: A bad id, mode, duration or transition.
            TypeError: An argument of the wrong type.
        """
        return cls(OperationRef.data_loss(service_id, partition_id, _new_id(operation_id)), DataLossSpec(mode))

    @classmethod
    def quorum_loss(
        cls,
        service_id: str,
        partition_id: str | uuid.UUID,
        *,
        duration: float | timedelta,
        mode: QuorumLossMode | str = DEFAULT_QUORUM_LOSS_MODE,
        operation_id: str | uuid.UUID | None = None,
    ) -> FaultTarget:
        """A partition quorum loss.

        Args:
            service_id: The service (``fabric:/app/svc``, ``app/svc`` or ``app~svc``).
            partition_id: The partition's GUID.
            duration: How long the quorum stays lost: whole seconds in 1..4294967295, or a
                :class:`datetime.timedelta`.
            mode: ``QuorumReplicas`` (the default) or ``AllReplicas``.
            operation_id: The OperationId to use (default: a new random one).

        Returns:
            The checked target.

        Raises:
            ValueError: A bad id, mode, duration or transition.
            TypeError: An argument of the wrong type.
        """
        ref = OperationRef.quorum_loss(service_id, partition_id, _new_id(operation_id))
        return cls(ref, QuorumLossSpec(duration, mode))

    @classmethod
    def node_transition(
        cls,
        node_name: str,
        transition: NodeTransitionType | str,
        *,
        stop_duration: float | timedelta = DEFAULT_STOP_DURATION,
        node_instance_id: int | str | None = None,
        operation_id: str | uuid.UUID | None = None,
    ) -> FaultTarget:
        """A node stop or start.

        Args:
            node_name: The node's name.
            transition: ``"stop"`` or ``"start"`` (any case), or a :class:`NodeTransitionType`.
            stop_duration: For a stop, seconds the node stays down, 300..14400 (default 600).
            node_instance_id: The node's current instance id, or ``None`` to have
                :meth:`ProgressClient.start` read it just before the start.
            operation_id: The OperationId to use (default: a new random one).

        Returns:
            The checked target.

        Raises:
            ValueError: A bad id, mode, duration or transition.
            TypeError: An argument of the wrong type.
        """
        ref = OperationRef.node_transition(node_name, _new_id(operation_id))
        return cls(ref, NodeTransitionSpec(transition, stop_duration, node_instance_id))

    @classmethod
    def of(cls, kind: OperationType | str, /, **values: object) -> FaultTarget:
        """A fault of any kind from its parameters by name (as :meth:`parameters` lists them).

        The one generic spelling, for front ends and files of targets: ``FaultTarget.of("restart",
        service_id=..., partition_id=...)`` is ``FaultTarget.restart(...)``.

        Args:
            kind: The fault kind, or its short or wire name.
            **values: The target's fields, the spec's parameters and ``operation_id``.

        Returns:
            The checked target.

        Raises:
            ValueError: An unknown kind or parameter, a missing one, or a bad value.
            TypeError: A value of the wrong type.
        """
        spec_type = _spec_of(kind)
        operation_id = values.pop("operation_id", None)
        parameters = cls.parameters(spec_type.kind)
        names = [p.name for p in parameters]
        unknown = sorted(set(values) - set(names))
        if unknown:
            raise ValueError(f"a {spec_type.description} takes no {', '.join(unknown)} (it takes {', '.join(names)})")
        missing = [p.name for p in parameters if p.required and values.get(p.name) is None]
        if missing:
            raise ValueError(f"missing {', '.join(missing)}")
        given: dict[str, Any] = {name: value for name, value in values.items() if value is not None}
        fields = {p.name for p in TARGET_PARAMETERS[spec_type.target]}
        target = {k: v for k, v in given.items() if k in fields}  # what it acts on: its ref's fields
        ref = OperationRef(kind=spec_type.kind, operation_id=_new_id(operation_id), **target)  # type: ignore[arg-type]
        return cls(ref, spec_type(**{k: v for k, v in given.items() if k not in fields}))

    @staticmethod
    def parameters(kind: OperationType | str) -> tuple[Parameter, ...]:
        """What a fault of *kind* takes: its target's fields, then its spec's parameters.

        Args:
            kind: The fault kind, or its short or wire name.

        Returns:
            One :class:`Parameter` each, in the order the command line takes them.

        Raises:
            ValueError: *kind* is no fault kind.
        """
        spec_type = _spec_of(kind)
        found = _PARAMETERS.get(spec_type.kind)
        if found is None:  # read once per kind: a --from file asks on every row
            found = _PARAMETERS[spec_type.kind] = TARGET_PARAMETERS[spec_type.target] + parameters_of(spec_type)
        return found

    def __str__(self) -> str:
        return str(self.ref)


_PARAMETERS: dict[OperationType, tuple[Parameter, ...]] = {}


def _spec_of(kind: OperationType | str) -> type[StartSpec]:
    if not isinstance(kind, OperationType):
        kind = OperationType.named(kind)
    for spec_type in _SPECS:
        if spec_type.kind is kind:
            return spec_type
    raise ValueError(f"{kind!r} is not a fault kind this client starts")
