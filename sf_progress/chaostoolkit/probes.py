"""Chaos Toolkit probes: a fault's progress, the list of faults, whether a partition or node recovered."""

from __future__ import annotations

import uuid
from typing import Any

from .. import (
    NodeTransitionType,
    NotFoundError,
    OperationRef,
    OperationState,
    OperationType,
    RecoveryTimeout,
    SFProgressError,
)
from ._common import failed, kind_of, progress_json
from ._connect import client_for

__all__ = ["fault_operations", "fault_progress", "node_recovered", "partition_recovered"]


def fault_progress(
    operation_id: str,
    type: str = "restart",
    service_id: str | None = None,
    partition_id: str | None = None,
    node_name: str | None = None,
    timeout: float = 60,
    configuration: dict[str, Any] | None = None,
    secrets: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The state of a fault operation: ``operation_id``, ``type``, its target, ``state``, ``error_code``.

    With the target (``service_id`` and ``partition_id``, or ``node_name``) its progress is
    read; without, it is looked for in the fault-operation list (any kind).
    """
    with client_for(configuration, secrets) as client:
        try:
            if node_name is None and (service_id is None or partition_id is None):
                for op in client.list_fault_operations(timeout=int(timeout)):
                    if str(op.operation_id) == str(uuid.UUID(str(operation_id))):
                        return {"operation_id": str(op.operation_id), "type": op.raw_type, "state": op.raw_state,
                                "error_code": None}
                raise failed("fault_progress", NotFoundError(status=404, code=None,
                                                             message=f"operation {operation_id} is not listed"))
            kind = kind_of(type)
            ref = (
                OperationRef.node_transition(node_name, operation_id)
                if node_name is not None
                else OperationRef(service_id, partition_id, operation_id, kind=kind)
            )
            return progress_json(ref, client.get_progress(ref, timeout=int(timeout)))
        except (ValueError, TypeError, SFProgressError) as exc:
            raise failed("fault_progress", exc) from None


def fault_operations(
    types: list[str] | None = None,
    states: list[str] | None = None,
    timeout: float = 60,
    configuration: dict[str, Any] | None = None,
    secrets: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """The cluster's fault operations (every kind and state unless narrowed): id, type and state of each."""
    with client_for(configuration, secrets) as client:
        try:
            type_filter = None if not types else [kind_of(name) for name in types]
            state_filter = None if not states else [OperationState(name) for name in states]
            ops = client.list_fault_operations(type_filter=type_filter, state_filter=state_filter, timeout=int(timeout))
        except (ValueError, TypeError, SFProgressError) as exc:
            raise failed("fault_operations", exc) from None
    return [{"operation_id": str(op.operation_id), "type": op.raw_type, "state": op.raw_state} for op in ops]


def partition_recovered(
    service_id: str,
    partition_id: str,
    timeout: float = 0,
    configuration: dict[str, Any] | None = None,
    secrets: dict[str, Any] | None = None,
) -> bool:
    """Whether the partition is healthy and fully built (``timeout`` > 0: wait up to that long for it)."""
    ref = _ref(lambda: OperationRef(service_id, partition_id, uuid.uuid4(), kind=OperationType.PARTITION_RESTART))
    return _recovered(ref, None, timeout, configuration, secrets)


def node_recovered(
    node_name: str,
    timeout: float = 0,
    configuration: dict[str, Any] | None = None,
    secrets: dict[str, Any] | None = None,
) -> bool:
    """Whether the node is up, not stopped and healthy (``timeout`` > 0: wait up to that long for it)."""
    ref = _ref(lambda: OperationRef.node_transition(node_name, uuid.uuid4()))
    return _recovered(ref, NodeTransitionType.START, timeout, configuration, secrets)


def _ref(make: Any) -> OperationRef:
    try:
        ref: OperationRef = make()
    except (ValueError, TypeError) as exc:
        raise failed("recovery probe: bad arguments", exc) from None
    return ref


def _recovered(
    ref: OperationRef,
    transition: NodeTransitionType | None,
    timeout: float,
    configuration: dict[str, Any] | None,
    secrets: dict[str, Any] | None,
) -> bool:
    with client_for(configuration, secrets) as client:
        try:
            return client.wait_for_recovery(ref, deadline=float(timeout), transition=transition).recovered
        except RecoveryTimeout:
            return False
        except (ValueError, TypeError, SFProgressError) as exc:
            raise failed("recovery probe", exc) from None
