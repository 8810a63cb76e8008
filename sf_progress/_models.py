"""Frozen value objects: states, kinds, operation refs, the list call's items (progress models: ``_progress.py``).

The JSON boundary where answers become these is ``_wire/parsing.py``.
"""

from __future__ import annotations

import enum
import uuid

import attrs

from ._baseline import Baseline
from ._ids import check_node_name, encode_service_id, normalize_service_id, to_guid

__all__ = [
    "FaultOperation",
    "OperationRef",
    "OperationState",
    "OperationType",
]


class OperationState(str, enum.Enum):
    """The state of a fault operation; values are the wire strings.

    ``UNKNOWN`` stands for a state string this version does not know (a newer cluster
    may add some); the string itself stays visible as ``raw_state`` on the progress.
    """

    INVALID = "Invalid"
    RUNNING = "Running"
    ROLLING_BACK = "RollingBack"
    COMPLETED = "Completed"
    FAULTED = "Faulted"
    CANCELLED = "Cancelled"
    FORCE_CANCELLED = "ForceCancelled"
    UNKNOWN = "Unknown"

    @property
    def is_terminal(self) -> bool:
        """True for Completed, Faulted, Cancelled and ForceCancelled."""
        return self in _TERMINAL

    @property
    def filter_bit(self) -> int:
        """The bit of this state in ``GetFaultOperationList``'s ``StateFilter``."""
        return _STATE_BITS[self]

    def __str__(self) -> str:
        return self.value


_TERMINAL = frozenset(
    {
        OperationState.COMPLETED,
        OperationState.FAULTED,
        OperationState.CANCELLED,
        OperationState.FORCE_CANCELLED,
    }
)
_STATE_BITS = {
    OperationState.RUNNING: 1,
    OperationState.ROLLING_BACK: 2,
    OperationState.COMPLETED: 8,
    OperationState.FAULTED: 16,
    OperationState.CANCELLED: 32,
    OperationState.FORCE_CANCELLED: 64,
    OperationState.INVALID: 0,
    OperationState.UNKNOWN: 0,
}
_STATE_BY_WIRE = {s.value: s for s in OperationState if s is not OperationState.UNKNOWN}


class OperationType(str, enum.Enum):
    """The kind of a fault operation, as ``GetFaultOperationList`` reports it."""

    INVALID = "Invalid"
    PARTITION_DATA_LOSS = "PartitionDataLoss"
    PARTITION_QUORUM_LOSS = "PartitionQuorumLoss"
    PARTITION_RESTART = "PartitionRestart"
    NODE_TRANSITION = "NodeTransition"
    REPLICA_RESTART = "ReplicaRestart"
    REPLICA_REMOVE = "ReplicaRemove"
    CODE_PACKAGE_RESTART = "CodePackageRestart"
    PRIMARY_MOVE = "PrimaryMove"
    SECONDARY_MOVE = "SecondaryMove"
    INSTANCE_MOVE = "InstanceMove"
    NODE_RESTART = "NodeRestart"
    UNKNOWN = "Unknown"

    @property
    def verified(self) -> bool:
        """True for the kinds the cluster keeps no operation for (a replica, code-package, move or node
        restart fault): the client makes their OperationId and verifies their effect by reading the target."""
        return self in VERIFIED_KINDS

    @property
    def on_node(self) -> bool:
        """True for the kinds that act on a node (a node transition or restart), not on a partition."""
        return self in _NODE_KINDS

    @property
    def filter_bit(self) -> int:
        """The bit of this type in ``GetFaultOperationList``'s ``TypeFilter``."""
        return _TYPE_BITS[self][0]

    @property
    def short_name(self) -> str:
        """The kind's short name (``restart``, ``data-loss``, ...), as the command line, reports and
        Chaos Toolkit arguments write it (the wire name for a type that is no fault kind)."""
        return _TYPE_BITS[self][1] or self.value

    @classmethod
    def named(cls, name: str) -> OperationType:
        """A fault kind from its short name (``restart``) or its wire name (``PartitionRestart``).

        Args:
            name: The name (surrounding spaces are ignored).

        Returns:
            The kind.

        Raises:
            ValueError: *name* names no fault kind (the message lists them).
        """
        kind = _KIND_BY_NAME.get(str(name).strip())
        if kind is None:
            names = ", ".join(kind.short_name for kind in FAULT_KINDS)
            raise ValueError(f"unknown fault kind {name!r}: use one of {names} (or their wire names)")
        return kind

    @classmethod
    def fault_kinds(cls) -> tuple[OperationType, ...]:
        """The kinds of fault this client starts and reads (not ``INVALID`` or ``UNKNOWN``).

        Returns:
            The kinds, in the order the command line lists them.
        """
        return FAULT_KINDS

    def __str__(self) -> str:
        return self.value


#: Each type's bit in the list call's ``TypeFilter`` and, for the fault kinds, its short name.
_TYPE_BITS = {
    OperationType.PARTITION_RESTART: (4, "restart"),
    OperationType.PARTITION_DATA_LOSS: (1, "data-loss"),
    OperationType.PARTITION_QUORUM_LOSS: (2, "quorum-loss"),
    OperationType.NODE_TRANSITION: (8, "node-transition"),
    # Not Fault Analysis operations: the list call does not know them (no bit).
    OperationType.REPLICA_RESTART: (0, "restart-replica"),
    OperationType.REPLICA_REMOVE: (0, "remove-replica"),
    OperationType.CODE_PACKAGE_RESTART: (0, "restart-code-package"),
    OperationType.PRIMARY_MOVE: (0, "move-primary"),
    OperationType.SECONDARY_MOVE: (0, "move-secondary"),
    OperationType.INSTANCE_MOVE: (0, "move-instance"),
    OperationType.NODE_RESTART: (0, "restart-node"),
    OperationType.INVALID: (0, ""),
    OperationType.UNKNOWN: (0, ""),
}
#: The kinds of fault this client starts and reads, in the order the command line lists them.
FAULT_KINDS = tuple(kind for kind, (_, short) in _TYPE_BITS.items() if short)
VERIFIED_KINDS = frozenset(kind for kind, (bit, short) in _TYPE_BITS.items() if short and not bit)
_NODE_KINDS = frozenset({OperationType.NODE_TRANSITION, OperationType.NODE_RESTART})
_KIND_BY_NAME = {**{k.short_name: k for k in FAULT_KINDS}, **{k.value: k for k in FAULT_KINDS}}
_TYPE_BY_WIRE = {t.value: t for t in OperationType if t is not OperationType.UNKNOWN}


def _operation_id(value: object) -> uuid.UUID:
    return to_guid(value, "operation_id")


def _optional_service_id(value: str | None) -> str | None:
    return None if value is None else normalize_service_id(value)


def _optional_partition_id(value: object) -> uuid.UUID | None:
    return None if value is None else to_guid(value, "partition_id")


def _optional_node_name(value: object) -> str | None:
    return None if value is None else check_node_name(value)


def _check_baseline(ref: OperationRef, _: attrs.Attribute[Baseline | None], value: Baseline | None) -> None:
    if value is not None and not isinstance(value, Baseline):
        raise TypeError(f"baseline must be a Baseline, not {type(value).__name__}")
    if value is not None and not ref.kind.verified:
        raise ValueError(f"a {ref.kind.value} has no baseline (only the faults the client verifies do)")


def _kind(value: object) -> OperationType:
    if value is OperationType.PARTITION_RESTART:  # the common case, first
        return value
    try:
        kind = OperationType(value)
    except ValueError:
        raise ValueError(f"kind must be an OperationType, got {value!r}") from None
    if kind not in FAULT_KINDS:
        raise ValueError(f"kind must be one of {', '.join(k.value for k in FAULT_KINDS)}, got {value!r}")
    return kind


@attrs.frozen(cache_hash=True, kw_only=True)
class OperationRef:
    """Names one fault operation: its kind, what it targets, and its id.

    Name one with the factory of its kind -- :meth:`restart`, :meth:`data_loss`,
    :meth:`quorum_loss` or :meth:`node_transition` -- or with keywords
    (``OperationRef(service_id=..., partition_id=..., operation_id=..., kind=...)``; ``kind``
    is an ``OperationType``, a partition restart by default).  ``service_id`` accepts
    ``fabric:/app/svc``, ``app/svc`` or ``app~svc`` and is kept in the ``~`` form; the GUIDs
    accept ``str`` or ``uuid.UUID``.  A node transition has a ``node_name`` and no service
    or partition.  Invalid values raise ``ValueError`` or ``TypeError`` here, before
    anything is sent.
    """

    service_id: str | None = attrs.field(default=None, converter=_optional_service_id)
    partition_id: uuid.UUID | None = attrs.field(default=None, converter=_optional_partition_id)
    operation_id: uuid.UUID = attrs.field(converter=_operation_id)
    kind: OperationType = attrs.field(default=OperationType.PARTITION_RESTART, converter=_kind)
    node_name: str | None = attrs.field(default=None, converter=_optional_node_name)
    baseline: Baseline | None = attrs.field(default=None, eq=False, validator=_check_baseline)

    def __attrs_post_init__(self) -> None:
        partition = self.node_name is None and self.partition_id is not None and self.service_id is not None
        if partition and not self.kind.on_node:
            return  # a partition operation, as it should be
        if self.kind.on_node:
            if self.node_name is None or self.service_id is not None or self.partition_id is not None:
                raise ValueError(f"a {self.kind.value} names a node_name (and no service or partition)")
        elif self.service_id is None or self.partition_id is None or self.node_name is not None:
            raise ValueError(f"a {self.kind.value} names a service_id and a partition_id (and no node_name)")

    @classmethod
    def restart(cls, service_id: str, partition_id: str | uuid.UUID, operation_id: str | uuid.UUID) -> OperationRef:
        """Name a partition restart.

        Args:
            service_id: The service (``fabric:/app/svc``, ``app/svc`` or ``app~svc``).
            partition_id: The partition's GUID (a string or :class:`uuid.UUID`).
            operation_id: The operation's GUID.

        Returns:
            The ref, of kind ``PARTITION_RESTART``.

        Raises:
            ValueError: An id that is empty or not a GUID.
        """
        return cls(service_id=service_id, partition_id=partition_id, operation_id=operation_id)

    @classmethod
    def data_loss(cls, service_id: str, partition_id: str | uuid.UUID, operation_id: str | uuid.UUID) -> OperationRef:
        """Name a partition data loss.

        Args:
            service_id: The service (``fabric:/app/svc``, ``app/svc`` or ``app~svc``).
            partition_id: The partition's GUID (a string or :class:`uuid.UUID`).
            operation_id: The operation's GUID.

        Returns:
            The ref, of kind ``PARTITION_DATA_LOSS``.

        Raises:
            ValueError: An id that is empty or not a GUID.
        """
        return cls(
            service_id=service_id,
            partition_id=partition_id,
            operation_id=operation_id,
            kind=OperationType.PARTITION_DATA_LOSS,
        )

    @classmethod
    def quorum_loss(
        cls, service_id: str, partition_id: str | uuid.UUID, operation_id: str | uuid.UUID
    ) -> OperationRef:
        """Name a partition quorum loss.

        Args:
            service_id: The service (``fabric:/app/svc``, ``app/svc`` or ``app~svc``).
            partition_id: The partition's GUID (a string or :class:`uuid.UUID`).
            operation_id: The operation's GUID.

        Returns:
            The ref, of kind ``PARTITION_QUORUM_LOSS``.

        Raises:
            ValueError: An id that is empty or not a GUID.
        """
        return cls(
            service_id=service_id,
            partition_id=partition_id,
            operation_id=operation_id,
            kind=OperationType.PARTITION_QUORUM_LOSS,
        )

    @classmethod
    def node_transition(cls, node_name: str, operation_id: str | uuid.UUID) -> OperationRef:
        """Name a node transition (a node stop or start).

        Args:
            node_name: The node's name.
            operation_id: The operation's GUID.

        Returns:
            The ref, of kind ``NODE_TRANSITION``.

        Raises:
            ValueError: An id that is empty or not a GUID.
        """
        return cls(
            service_id=None,
            partition_id=None,
            operation_id=operation_id,
            kind=OperationType.NODE_TRANSITION,
            node_name=node_name,
        )

    @property
    def service_name(self) -> str:
        """The service's full name, ``fabric:/app/svc`` (for a node transition: the node's name)."""
        if self.service_id is None:
            return self.node_name or ""
        return "fabric:/" + self.service_id.replace("~", "/")

    @property
    def target(self) -> str:
        """What the operation acts on, in words for people (``fabric:/app/svc partition <id>`` or ``node <name>``)."""
        if self.node_name is not None:
            return f"node {self.node_name}"
        return f"{self.service_name} partition {self.partition_id}"

    @property
    def path(self) -> str:
        """The URL path of the operation's target under ``/Faults``, ids encoded for the wire."""
        if self.node_name is not None:
            return f"/Faults/Nodes/{encode_service_id(self.node_name)}/$/"
        assert self.service_id is not None
        return f"/Faults/Services/{encode_service_id(self.service_id)}/$/GetPartitions/{self.partition_id}/$/"

    def as_dict(self) -> dict[str, str]:
        """The fields that name this operation in plain JSON (journals, Chaos Toolkit results).

        Returns:
            ``type`` (the wire name of its kind), ``service_id`` and ``partition_id`` or
            ``node_name``, and ``operation_id``, all strings.
        """
        fields = {"type": self.kind.value}
        if self.node_name is not None:
            fields["node_name"] = self.node_name
        else:
            fields["service_id"] = str(self.service_id)
            fields["partition_id"] = str(self.partition_id)
        fields["operation_id"] = str(self.operation_id)
        return fields

    def with_baseline(self, baseline: Baseline) -> OperationRef:
        """This ref with *baseline* (what its target looked like before the fault, and the choices made).

        Args:
            baseline: The target as read just before the start.

        Returns:
            A ref equal to this one (same kind, target and id) that carries *baseline*.
        """
        return attrs.evolve(self, baseline=baseline)

    def __str__(self) -> str:
        kind = "" if self.kind is OperationType.PARTITION_RESTART else f"{self.kind.value} "
        return f"{kind}operation {self.operation_id} on {self.target}"


@attrs.frozen
class FaultOperation:
    """One item of ``GetFaultOperationList``."""

    operation_id: uuid.UUID
    state: OperationState
    type: OperationType
    raw_state: str = attrs.field(eq=False)
    raw_type: str = attrs.field(eq=False)


def as_ref(item: object) -> OperationRef:
    """*item*, checked to be an :class:`OperationRef` (what every wait takes)."""
    if isinstance(item, OperationRef):
        return item
    hint = " (name it with OperationRef.restart(...) and the other factories)" if isinstance(item, tuple) else ""
    raise TypeError(f"expected an OperationRef, got {type(item).__name__}: {item!r}{hint}")
