"""What a recovery check saw, and its verdict, as values: health, partition and node facts, ``Recovery``.

Nothing here reads or decides; ``_recovery`` does (and the errors module names
``Recovery`` without importing the checks).
"""

from __future__ import annotations

import enum
import uuid

import attrs

from ._models import OperationRef

__all__ = ["HealthState", "NodeFacts", "PartitionFacts", "Recovery"]


class HealthState(str, enum.Enum):
    """An entity's aggregated health; values are the wire strings (unknown strings: ``UNKNOWN``)."""

    INVALID = "Invalid"
    OK = "Ok"
    WARNING = "Warning"
    ERROR = "Error"
    UNKNOWN = "Unknown"

    def __str__(self) -> str:
        return self.value


_HEALTH_BY_WIRE = {h.value: h for h in HealthState}


@attrs.frozen
class PartitionFacts:
    """What the last check saw of a partition (``None``: not read in that check).

    ``status`` is ``PartitionStatus``; ``ready`` counts Ready Primary/ActiveSecondary
    replicas (stateless: Ready instances), ``in_build`` InBuild ones, ``expected`` is
    min(target, up nodes) when it was computed; ``data_loss_version`` is from the epoch.
    """

    partition_id: uuid.UUID
    health: HealthState | None = None
    status: str | None = None
    service_kind: str | None = None
    target: int | None = None
    ready: int | None = None
    in_build: int | None = None
    replicas: int | None = None
    expected: int | None = None
    data_loss_version: str | None = None


@attrs.frozen
class NodeFacts:
    """What the last check saw of a node (``None``: not read in that check)."""

    name: str
    health: HealthState | None = None
    status: str | None = None
    is_stopped: bool | None = None
    instance_id: str | None = None


@attrs.frozen
class Recovery:
    """Whether a faulted target recovered, and how long it took.

    ``recovered`` is the verdict; ``elapsed`` the seconds from when waiting for recovery
    began (the call, or the fault's end in a wait with ``recovery=True``) to the check that
    decided; ``reason`` what was still not right, in words (``None`` once recovered);
    ``checks`` how many checks were made; ``partition`` / ``node`` the last facts seen.
    """

    ref: OperationRef
    recovered: bool
    elapsed: float
    reason: str | None = None
    checks: int = 0
    partition: PartitionFacts | None = None
    node: NodeFacts | None = None


def before_recovery(elapsed: float, recovery: Recovery | None) -> float:
    """Seconds of a wait (*elapsed*) up to its fault's end: less the recovery wait that followed, if any."""
    return elapsed if recovery is None else max(0.0, elapsed - recovery.elapsed)
