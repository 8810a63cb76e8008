"""Start specs of the verified kinds: one frozen class each, every parameter checked when it is made."""

from __future__ import annotations

from typing import Any, ClassVar

import attrs

from .._ids import check_node_name
from .._models import OperationType
from .._params import about

__all__ = [
    "VERIFIED_SPECS",
    "CodePackageRestartSpec",
    "InstanceMoveSpec",
    "NodeRestartSpec",
    "PrimaryMoveSpec",
    "ReplicaRemoveSpec",
    "ReplicaRestartSpec",
    "SecondaryMoveSpec",
    "replica_choice",
]

PRIMARY, SECONDARY = "primary", "secondary"


def replica_choice(value: object) -> str:
    """``"primary"``, ``"secondary"`` (any case) or a replica id (a positive 64-bit integer) as text."""
    text = str(value) if type(value) is int else value
    if isinstance(text, str):
        text = text.strip()
        if text.lower() in (PRIMARY, SECONDARY):
            return text.lower()
        if text.isascii() and text.isdigit() and 0 < int(text) < 2**64:
            return text
    raise ValueError(f"replica must be 'primary', 'secondary' or a replica id (a positive integer), got {value!r}")


def _flag(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "yes", "1", "false", "no", "0"):
        return value.strip().lower() in ("true", "yes", "1")
    raise ValueError(f"expected true or false, got {value!r}")


def _optional_node(value: object) -> str | None:
    return None if value is None else check_node_name(value)


_REPLICA_HELP = "primary, secondary (one active secondary, chosen at the start) or a replica id."


def _node(help: str) -> Any:
    """A node-name parameter (``None``: chosen at the start)."""
    return attrs.field(default=None, converter=_optional_node, metadata=about(help))


@attrs.frozen
class ReplicaRestartSpec:
    """A replica restart (stateful persisted services only): which ``replica``."""

    kind: ClassVar[OperationType] = OperationType.REPLICA_RESTART
    target: ClassVar[str] = "partition"
    description: ClassVar[str] = "replica restart"
    replica: str = attrs.field(default=PRIMARY, converter=replica_choice, metadata=about(_REPLICA_HELP))


@attrs.frozen
class ReplicaRemoveSpec:
    """A replica (or stateless instance) removal: which ``replica``, and ``force`` (skip a graceful close)."""

    kind: ClassVar[OperationType] = OperationType.REPLICA_REMOVE
    target: ClassVar[str] = "partition"
    description: ClassVar[str] = "replica removal"
    replica: str = attrs.field(default=PRIMARY, converter=replica_choice, metadata=about(_REPLICA_HELP))
    force: bool = attrs.field(
        default=False, converter=_flag, metadata=about("Remove without a graceful close (ForceRemove).", switch=True)
    )


@attrs.frozen
class CodePackageRestartSpec:
    """A restart of the code package that hosts ``replica`` (every replica in that process restarts)."""

    kind: ClassVar[OperationType] = OperationType.CODE_PACKAGE_RESTART
    target: ClassVar[str] = "partition"
    description: ClassVar[str] = "code package restart"
    replica: str = attrs.field(default=PRIMARY, converter=replica_choice, metadata=about(_REPLICA_HELP))


@attrs.frozen
class PrimaryMoveSpec:
    """A move of the partition's primary, ``to_node`` (``None``: a node chosen at the start)."""

    kind: ClassVar[OperationType] = OperationType.PRIMARY_MOVE
    target: ClassVar[str] = "partition"
    description: ClassVar[str] = "primary move"
    to_node: str | None = _node("The node to move it to (default: chosen at the start).")


@attrs.frozen
class SecondaryMoveSpec:
    """A move of a secondary ``from_node`` ``to_node`` (either ``None``: chosen at the start)."""

    kind: ClassVar[OperationType] = OperationType.SECONDARY_MOVE
    target: ClassVar[str] = "partition"
    description: ClassVar[str] = "secondary move"
    from_node: str | None = _node("The node of the secondary to move (default: chosen).")
    to_node: str | None = _node("The node to move it to (default: chosen).")


@attrs.frozen
class InstanceMoveSpec:
    """A move of a stateless instance ``from_node`` ``to_node`` (either ``None``: chosen at the start)."""

    kind: ClassVar[OperationType] = OperationType.INSTANCE_MOVE
    target: ClassVar[str] = "partition"
    description: ClassVar[str] = "instance move"
    from_node: str | None = _node("The node of the instance to move (default: chosen).")
    to_node: str | None = _node("The node to move it to (default: chosen).")


@attrs.frozen
class NodeRestartSpec:
    """A node restart (its process exits and comes back on a new instance)."""

    kind: ClassVar[OperationType] = OperationType.NODE_RESTART
    target: ClassVar[str] = "node"
    description: ClassVar[str] = "node restart"


VerifiedSpec = (
    ReplicaRestartSpec
    | ReplicaRemoveSpec
    | CodePackageRestartSpec
    | PrimaryMoveSpec
    | SecondaryMoveSpec
    | InstanceMoveSpec
    | NodeRestartSpec
)
VERIFIED_SPECS = (
    ReplicaRestartSpec,
    ReplicaRemoveSpec,
    CodePackageRestartSpec,
    PrimaryMoveSpec,
    SecondaryMoveSpec,
    InstanceMoveSpec,
    NodeRestartSpec,
)
