"""The table of fault kinds: for each, its progress read, its start call and spec, and its progress parser.

A new kind is one entry here, its spec class (and ``FaultTarget`` factory) in
``_targets.py``, and its ``OperationType`` member (list bit, short name) and progress model
in ``_models.py``; ``docs/development.md`` lists the places.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Mapping

import attrs

from ._models import OperationRef, OperationType
from ._progress import (
    FaultProgress,
    InvokeDataLossResult,
    InvokeQuorumLossResult,
    NodeTransitionProgress,
    PartitionDataLossProgress,
    PartitionQuorumLossProgress,
    PartitionRestartProgress,
    RestartPartitionResult,
)
from ._specs import DataLossSpec, NodeTransitionSpec, QuorumLossSpec, RestartSpec
from ._targets import StartSpec
from ._wire.parsing import Shape, node_result, partition_result, progress_parser

__all__ = ["KINDS", "FaultKind"]



@attrs.frozen
class FaultKind:
    """What differs between the kinds of fault operation: one entry of the table below."""

    type: OperationType
    progress_action: str  # the last path segment of the progress read
    start_action: str  # ... and of the start call
    spec: builtins.type[StartSpec]  # the start's parameters, their defaults and validation
    shape: Shape  # the progress model, its result's key, and how that result is read
    parse: Callable[[bytes, OperationRef | None], FaultProgress] = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "parse", progress_parser(self.shape))

    @property
    def progress(self) -> builtins.type[FaultProgress]:
        """The kind's progress model class."""
        return self.shape.model  # type: ignore[no-any-return]


KINDS: Mapping[OperationType, FaultKind] = {
    kind.type: kind
    for kind in (
        FaultKind(
            OperationType.PARTITION_RESTART,
            "GetRestartProgress",
            "StartRestart",
            RestartSpec,
            Shape(PartitionRestartProgress, "RestartPartitionResult", partition_result(RestartPartitionResult)),
        ),
        FaultKind(
            OperationType.PARTITION_DATA_LOSS,
            "GetDataLossProgress",
            "StartDataLoss",
            DataLossSpec,
            Shape(PartitionDataLossProgress, "InvokeDataLossResult", partition_result(InvokeDataLossResult)),
        ),
        FaultKind(
            OperationType.PARTITION_QUORUM_LOSS,
            "GetQuorumLossProgress",
            "StartQuorumLoss",
            QuorumLossSpec,
            Shape(PartitionQuorumLossProgress, "InvokeQuorumLossResult", partition_result(InvokeQuorumLossResult)),
        ),
        FaultKind(
            OperationType.NODE_TRANSITION,
            "GetTransitionProgress",
            "StartTransition/",
            NodeTransitionSpec,
            Shape(NodeTransitionProgress, "NodeTransitionResult", node_result),
        ),
    )
}
