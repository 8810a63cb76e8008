"""Progress models: what a progress read answers, and the results of ended operations.

The JSON boundary where answers become these is ``_wire/parsing.py``.
"""

from __future__ import annotations

import uuid
from typing import Any

import attrs

from ._baseline import Baseline
from ._hresults import hresult_name
from ._models import OperationState

__all__ = [
    "FaultProgress",
    "InvokeDataLossResult",
    "InvokeQuorumLossResult",
    "NodeResult",
    "NodeTransitionProgress",
    "NodeTransitionResult",
    "PartitionDataLossProgress",
    "PartitionQuorumLossProgress",
    "PartitionRestartProgress",
    "RestartPartitionResult",
    "ResultOf",
    "SelectedPartition",
    "Verification",
    "VerifiedProgress",
]

@attrs.frozen
class SelectedPartition:
    """The partition an operation acted on (``ServiceName`` is a full ``fabric:/`` name)."""

    service_name: str
    partition_id: uuid.UUID


@attrs.frozen
class RestartPartitionResult:
    """``ErrorCode`` (0, or an HRESULT when Faulted) and the partition that was selected."""

    error_code: int
    selected_partition: SelectedPartition | None


@attrs.frozen
class InvokeDataLossResult:
    """``ErrorCode`` (0, or an HRESULT when Faulted) and the partition that lost data."""

    error_code: int
    selected_partition: SelectedPartition | None


@attrs.frozen
class InvokeQuorumLossResult:
    """``ErrorCode`` (0, or an HRESULT when Faulted) and the partition put into quorum loss."""

    error_code: int
    selected_partition: SelectedPartition | None


@attrs.frozen
class NodeResult:
    """The node a transition acted on; ``node_instance_id`` is the instance id it was given."""

    node_name: str
    node_instance_id: str


@attrs.frozen
class NodeTransitionResult:
    """``ErrorCode`` (0, or an HRESULT when Faulted) and the node."""

    error_code: int
    node_result: NodeResult | None


@attrs.frozen
class Verification:
    """How a verified fault's end was decided (the kinds the cluster keeps no operation for).

    ``error_code`` is 0 (the effect was seen), as the other kinds' results say it;
    ``signal`` says what was seen, in words (``"replica 1321 gone; replica 1325 Ready on
    _Node_3"``); ``after`` is the target as last read (the replica that replaced it, the
    new instance id, the primary's new node), in the baseline's fields.
    """

    error_code: int
    signal: str
    after: Baseline | None = None


ResultOf = (
    RestartPartitionResult | InvokeDataLossResult | InvokeQuorumLossResult | NodeTransitionResult | Verification
)


def _raw_state(self: Any) -> str:
    return str(self.state.value)


class FaultProgress:
    """What every progress answer has: ``state``, ``raw_state``, ``result`` and ``error_code``.

    ``raw_state`` is the state string as sent; it differs from ``state.value`` only when
    ``state`` is ``OperationState.UNKNOWN``.  The result object comes back only for
    Completed and Faulted operations.
    """

    __slots__ = ()
    state: OperationState
    raw_state: str

    @property
    def result(self) -> ResultOf | None:  # pragma: no cover - overridden
        raise NotImplementedError

    @property
    def is_terminal(self) -> bool:
        """True once the operation has ended (Completed, Faulted, Cancelled, ForceCancelled)."""
        return self.state.is_terminal

    @property
    def error_code(self) -> int | None:
        """The result's ``ErrorCode`` (an HRESULT when Faulted), or ``None`` without a result."""
        result = self.result
        return None if result is None else result.error_code

    @property
    def error_name(self) -> str | None:
        """The name of :attr:`error_code` (``FABRIC_E_TIMEOUT``...), or ``None`` when none is known."""
        return hresult_name(self.error_code)


@attrs.frozen
class PartitionRestartProgress(FaultProgress):
    """The answer of Get Partition Restart Progress."""

    state: OperationState
    restart_partition_result: RestartPartitionResult | None = None
    raw_state: str = attrs.field(default=attrs.Factory(_raw_state, takes_self=True), eq=False)

    @property
    def result(self) -> RestartPartitionResult | None:
        return self.restart_partition_result


@attrs.frozen
class PartitionDataLossProgress(FaultProgress):
    """The answer of Get Data Loss Progress."""

    state: OperationState
    invoke_data_loss_result: InvokeDataLossResult | None = None
    raw_state: str = attrs.field(default=attrs.Factory(_raw_state, takes_self=True), eq=False)

    @property
    def result(self) -> InvokeDataLossResult | None:
        return self.invoke_data_loss_result


@attrs.frozen
class PartitionQuorumLossProgress(FaultProgress):
    """The answer of Get Quorum Loss Progress."""

    state: OperationState
    invoke_quorum_loss_result: InvokeQuorumLossResult | None = None
    raw_state: str = attrs.field(default=attrs.Factory(_raw_state, takes_self=True), eq=False)

    @property
    def result(self) -> InvokeQuorumLossResult | None:
        return self.invoke_quorum_loss_result


@attrs.frozen
class NodeTransitionProgress(FaultProgress):
    """The answer of Get Node Transition Progress."""

    state: OperationState
    node_transition_result: NodeTransitionResult | None = None
    raw_state: str = attrs.field(default=attrs.Factory(_raw_state, takes_self=True), eq=False)

    @property
    def result(self) -> NodeTransitionResult | None:
        return self.node_transition_result


@attrs.frozen
class VerifiedProgress(FaultProgress):
    """A verified fault's progress, read from its target: ``Running`` until its effect is seen, then ``Completed``."""

    state: OperationState
    verification: Verification | None = None
    raw_state: str = attrs.field(default=attrs.Factory(_raw_state, takes_self=True), eq=False)

    @property
    def result(self) -> Verification | None:
        return self.verification
