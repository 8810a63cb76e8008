"""``FaultTarget``: one fault to start, of any kind: the ``OperationRef`` it will have and its kind's spec.

The specs are in ``_specs.py`` (the Fault Analysis kinds) and ``_verified/specs.py`` (the
kinds the client verifies); ``FaultTarget``'s factories, ``FaultRun`` and the command line
all build one of these, and ``ProgressClient.start`` sends it.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import attrs

from ._baseline import Baseline
from ._models import OperationRef, OperationType
from ._params import TARGET_PARAMETERS, Parameter, parameters_of
from ._specs import (
    DEFAULT_DATA_LOSS_MODE,
    DEFAULT_QUORUM_LOSS_MODE,
    DEFAULT_RESTART_MODE,
    DEFAULT_STOP_DURATION,
    FAS_SPECS,
    DataLossMode,
    DataLossSpec,
    FasSpec,
    NodeTransitionSpec,
    NodeTransitionType,
    QuorumLossMode,
    QuorumLossSpec,
    RestartPartitionMode,
    RestartSpec,
)
from ._verified.specs import (
    VERIFIED_SPECS,
    CodePackageRestartSpec,
    InstanceMoveSpec,
    NodeRestartSpec,
    PrimaryMoveSpec,
    ReplicaRemoveSpec,
    ReplicaRestartSpec,
    SecondaryMoveSpec,
    VerifiedSpec,
)

__all__ = ["FaultTarget", "StartSpec", "spec_of"]

StartSpec = FasSpec | VerifiedSpec
_SPECS: tuple[type[StartSpec], ...] = FAS_SPECS + VERIFIED_SPECS


def _check_spec(target: FaultTarget, _: attrs.Attribute[StartSpec], spec: StartSpec) -> None:
    if not isinstance(spec, _SPECS):
        names = ", ".join(spec_type.__name__ for spec_type in _SPECS)
        raise TypeError(f"spec must be one of {names}, got {spec!r}")
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
    def restart_replica(
        cls,
        service_id: str,
        partition_id: str | uuid.UUID,
        *,
        replica: str | int = "primary",
        operation_id: str | uuid.UUID | None = None,
    ) -> FaultTarget:
        """A replica restart: the replica closes and opens again on its node, keeping its id.

        Only a stateful service with persisted state allows it (a volatile replica or a
        stateless instance: use :meth:`remove_replica`); the start says so before sending.

        Args:
            service_id: The service (``fabric:/app/svc``, ``app/svc`` or ``app~svc``).
            partition_id: The partition's GUID.
            replica: ``"primary"`` (the default), ``"secondary"`` (one active secondary,
                chosen at the start) or a replica id.
            operation_id: The OperationId to use (default: a new random one; the cluster has none).

        Returns:
            The checked target.

        Raises:
            ValueError: A bad id or replica.
        """
        return cls._verified(OperationType.REPLICA_RESTART, service_id, partition_id, operation_id,
                             ReplicaRestartSpec(replica))

    @classmethod
    def remove_replica(
        cls,
        service_id: str,
        partition_id: str | uuid.UUID,
        *,
        replica: str | int = "primary",
        force: bool = False,
        operation_id: str | uuid.UUID | None = None,
    ) -> FaultTarget:
        """A replica (or stateless instance) removal: it is dropped and another is built.

        Args:
            service_id: The service (``fabric:/app/svc``, ``app/svc`` or ``app~svc``).
            partition_id: The partition's GUID.
            replica: ``"primary"`` (the default), ``"secondary"`` or a replica (instance) id;
                for a stateless service ``"primary"`` and ``"secondary"`` both mean one instance.
            force: Remove without a graceful close (``ForceRemove=true``).
            operation_id: The OperationId to use (default: a new random one).

        Returns:
            The checked target.

        Raises:
            ValueError: A bad id or replica.
        """
        return cls._verified(OperationType.REPLICA_REMOVE, service_id, partition_id, operation_id,
                             ReplicaRemoveSpec(replica, force))

    @classmethod
    def restart_code_package(
        cls,
        service_id: str,
        partition_id: str | uuid.UUID,
        *,
        replica: str | int = "primary",
        operation_id: str | uuid.UUID | None = None,
    ) -> FaultTarget:
        """A restart of the code package hosting a replica (found from the partition at the start).

        Args:
            service_id: The service (``fabric:/app/svc``, ``app/svc`` or ``app~svc``).
            partition_id: The partition's GUID.
            replica: ``"primary"`` (the default), ``"secondary"`` or a replica id.
            operation_id: The OperationId to use (default: a new random one).

        Returns:
            The checked target.

        Raises:
            ValueError: A bad id or replica.
        """
        return cls._verified(OperationType.CODE_PACKAGE_RESTART, service_id, partition_id, operation_id,
                             CodePackageRestartSpec(replica))

    @classmethod
    def move_primary(
        cls,
        service_id: str,
        partition_id: str | uuid.UUID,
        *,
        to_node: str | None = None,
        operation_id: str | uuid.UUID | None = None,
    ) -> FaultTarget:
        """A move of a stateful partition's primary to another node.

        Args:
            service_id: The service (``fabric:/app/svc``, ``app/svc`` or ``app~svc``).
            partition_id: The partition's GUID.
            to_node: The node to move it to (default: one chosen at the start, preferring
                a node that holds a secondary, and recorded).
            operation_id: The OperationId to use (default: a new random one).

        Returns:
            The checked target.

        Raises:
            ValueError: A bad id or node name.
        """
        return cls._verified(OperationType.PRIMARY_MOVE, service_id, partition_id, operation_id,
                             PrimaryMoveSpec(to_node))

    @classmethod
    def move_secondary(
        cls,
        service_id: str,
        partition_id: str | uuid.UUID,
        *,
        from_node: str | None = None,
        to_node: str | None = None,
        operation_id: str | uuid.UUID | None = None,
    ) -> FaultTarget:
        """A move of one of a stateful partition's secondaries to a node that holds none of its replicas.

        Args:
            service_id: The service (``fabric:/app/svc``, ``app/svc`` or ``app~svc``).
            partition_id: The partition's GUID.
            from_node: The node of the secondary to move (default: chosen at the start).
            to_node: The node to move it to (default: chosen at the start).
            operation_id: The OperationId to use (default: a new random one).

        Returns:
            The checked target.

        Raises:
            ValueError: A bad id or node name.
        """
        return cls._verified(OperationType.SECONDARY_MOVE, service_id, partition_id, operation_id,
                             SecondaryMoveSpec(from_node, to_node))

    @classmethod
    def move_instance(
        cls,
        service_id: str,
        partition_id: str | uuid.UUID,
        *,
        from_node: str | None = None,
        to_node: str | None = None,
        operation_id: str | uuid.UUID | None = None,
    ) -> FaultTarget:
        """A move of one of a stateless partition's instances to a node that holds none.

        Args:
            service_id: The service (``fabric:/app/svc``, ``app/svc`` or ``app~svc``).
            partition_id: The partition's GUID.
            from_node: The node of the instance to move (default: chosen at the start).
            to_node: The node to move it to (default: chosen at the start).
            operation_id: The OperationId to use (default: a new random one).

        Returns:
            The checked target.

        Raises:
            ValueError: A bad id or node name.
        """
        return cls._verified(OperationType.INSTANCE_MOVE, service_id, partition_id, operation_id,
                             InstanceMoveSpec(from_node, to_node))

    @classmethod
    def restart_node(cls, node_name: str, *, operation_id: str | uuid.UUID | None = None) -> FaultTarget:
        """A node restart: its process exits and comes back on a larger InstanceId.

        Args:
            node_name: The node's name.
            operation_id: The OperationId to use (default: a new random one).

        Returns:
            The checked target.

        Raises:
            ValueError: A bad node name.
        """
        ref = OperationRef(kind=OperationType.NODE_RESTART, node_name=node_name, operation_id=_new_id(operation_id))
        return cls(ref, NodeRestartSpec())

    @classmethod
    def _verified(
        cls,
        kind: OperationType,
        service_id: str,
        partition_id: str | uuid.UUID,
        operation_id: str | uuid.UUID | None,
        spec: StartSpec,
    ) -> FaultTarget:
        ref = OperationRef(kind=kind, service_id=service_id, partition_id=partition_id,
                           operation_id=_new_id(operation_id))
        return cls(ref, spec)

    @property
    def baseline(self) -> Baseline | None:
        """A verified fault's target as read before its start (``None`` until :meth:`ProgressClient.prepare`)."""
        return self.ref.baseline

    def with_baseline(self, baseline: Baseline) -> FaultTarget:
        """This target, its ref carrying *baseline* (what :meth:`ProgressClient.prepare` returns).

        Args:
            baseline: The target as read just before the start, with the choices made.

        Returns:
            The same fault (same OperationId), prepared.
        """
        return FaultTarget(self.ref.with_baseline(baseline), self.spec)

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
        spec_type = spec_of(kind)
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
        spec_type = spec_of(kind)
        found = _PARAMETERS.get(spec_type.kind)
        if found is None:  # read once per kind: a --from file asks on every row
            found = _PARAMETERS[spec_type.kind] = TARGET_PARAMETERS[spec_type.target] + parameters_of(spec_type)
        return found

    def __str__(self) -> str:
        return str(self.ref)


_PARAMETERS: dict[OperationType, tuple[Parameter, ...]] = {}


def spec_of(kind: OperationType | str) -> type[StartSpec]:
    """The spec class of a fault kind (or its short or wire name)."""
    if not isinstance(kind, OperationType):
        kind = OperationType.named(kind)
    for spec_type in _SPECS:
        if spec_type.kind is kind:
            return spec_type
    raise ValueError(f"{kind!r} is not a fault kind this client starts")
