"""Chaos Toolkit probes: a fault's progress, the list of faults, whether a partition or node recovered."""

import uuid
from pathlib import Path
from typing import Any, Dict, List  # noqa: UP035 - the types Chaos Toolkit reads

from chaoslib.exceptions import ActivityFailed

from .. import (
    JournalError,
    NodeTransitionType,
    OperationRef,
    OperationState,
    RecoveryTimeout,
    SFProgressError,
    read_journal,
)
from ._common import failed, kind_of, progress_json, server_timeout
from ._connect import client_for, logger

__all__ = [
    "chaos_run_passed", "fault_operations", "fault_progress", "node_recovered", "partition_recovered",
    "scenario_passed",
]


def fault_progress(
    operation_id: str,
    type: str = "restart",
    service_id: str = "",
    partition_id: str = "",
    node_name: str = "",
    timeout: float = 60,
    *,
    configuration: dict[str, Any] | None = None,
    secrets: dict[str, Any] | None = None,
) -> Dict[str, Any]:  # noqa: UP006
    """The state of a fault operation.

    With the target (``service_id`` and ``partition_id``, or ``node_name``) its progress is
    read; without, it is looked for in the fault-operation list (any kind).

    Args:
        operation_id: The operation's GUID.
        type: Its kind: ``restart``, ``data-loss``, ``quorum-loss`` or ``node-transition``.
        service_id: Its service, for a partition fault.
        partition_id: Its partition, for a partition fault.
        node_name: Its node, for a node transition.
        timeout: The call's server timeout, seconds.
        configuration: The experiment's configuration.
        secrets: The experiment's secrets.

    Returns:
        ``operation_id``, ``type``, its target, ``state`` and ``error_code``.

    Raises:
        ActivityFailed: The operation is unknown, or any sf_progress error.
    """
    with client_for(configuration, secrets) as client:
        try:
            if not node_name and not (service_id and partition_id):
                for op in client.list_fault_operations(timeout=server_timeout(timeout)):
                    if str(op.operation_id) == str(uuid.UUID(str(operation_id))):
                        return {"operation_id": str(op.operation_id), "type": op.raw_type, "state": op.raw_state,
                                "error_code": None}
                raise ActivityFailed(  # no request answered 404: the list does not hold it
                    f"fault_progress: operation {operation_id} is not in the cluster's fault-operation list "
                    "(give its target to read its progress)"
                )
            kind = kind_of(type)
            ref = (
                OperationRef.node_transition(node_name, operation_id)
                if node_name
                else OperationRef(
                    service_id=service_id, partition_id=partition_id, operation_id=operation_id, kind=kind
                )
            )
            return progress_json(ref, client.get_progress(ref, timeout=server_timeout(timeout)))
        except (ValueError, TypeError, SFProgressError) as exc:
            raise failed("fault_progress", exc) from None


def fault_operations(
    types: List[str] = [],  # noqa: B006, UP006 - never changed; a list is what the toolkit reads
    states: List[str] = [],  # noqa: B006, UP006
    timeout: float = 60,
    *,
    configuration: dict[str, Any] | None = None,
    secrets: dict[str, Any] | None = None,
) -> List[Dict[str, Any]]:  # noqa: UP006
    """The cluster's fault operations (every kind and state unless narrowed).

    Args:
        types: Only these kinds (``restart``, ``data-loss``, ...).
        states: Only these states (``Running``, ``Completed``, ...).
        timeout: The call's server timeout, seconds.
        configuration: The experiment's configuration.
        secrets: The experiment's secrets.

    Returns:
        One dict per operation: ``operation_id``, ``type``, ``state``.

    Raises:
        ActivityFailed: A bad filter or any sf_progress error.
    """
    with client_for(configuration, secrets) as client:
        try:
            type_filter = None if not types else [kind_of(name) for name in types]
            state_filter = None if not states else [OperationState(name) for name in states]
            ops = client.list_fault_operations(
                type_filter=type_filter, state_filter=state_filter, timeout=server_timeout(timeout)
            )
        except (ValueError, TypeError, SFProgressError) as exc:
            raise failed("fault_operations", exc) from None
    return [{"operation_id": str(op.operation_id), "type": op.raw_type, "state": op.raw_state} for op in ops]


def partition_recovered(
    service_id: str,
    partition_id: str,
    timeout: float = 0,
    *,
    configuration: dict[str, Any] | None = None,
    secrets: dict[str, Any] | None = None,
) -> bool:
    """Whether the partition is healthy and fully built (for a steady-state hypothesis).

    Args:
        service_id: The service (``fabric:/app/svc``, ``app/svc`` or ``app~svc``).
        partition_id: The partition's GUID.
        timeout: Seconds to wait for it (0: look once).
        configuration: The experiment's configuration.
        secrets: The experiment's secrets.

    Returns:
        ``True`` once it recovered; ``False`` if not by the timeout.

    Raises:
        ActivityFailed: Bad arguments, an unknown partition, or any other sf_progress error.
    """
    ref = _ref(lambda: OperationRef.restart(service_id, partition_id, uuid.uuid4()))
    return _recovered(ref, None, timeout, configuration, secrets)


def node_recovered(
    node_name: str,
    timeout: float = 0,
    *,
    configuration: dict[str, Any] | None = None,
    secrets: dict[str, Any] | None = None,
) -> bool:
    """Whether the node is up, not stopped and healthy (for a steady-state hypothesis).

    Args:
        node_name: The node's name.
        timeout: Seconds to wait for it (0: look once).
        configuration: The experiment's configuration.
        secrets: The experiment's secrets.

    Returns:
        ``True`` once it recovered; ``False`` if not by the timeout.

    Raises:
        ActivityFailed: Bad arguments, an unknown node, or any other sf_progress error.
    """
    ref = _ref(lambda: OperationRef.node_transition(node_name, uuid.uuid4()))
    return _recovered(ref, NodeTransitionType.START, timeout, configuration, secrets)


def chaos_run_passed(
    *, configuration: dict[str, Any] | None = None, secrets: dict[str, Any] | None = None
) -> bool:
    """Whether Service Fabric Chaos's current (or last) run has had no ``ValidationFailed`` or ``TestError``.

    Reads the run's events up to now (from its ``Started``): a steady-state hypothesis with
    ``"tolerance": true`` makes the experiment deviate once Chaos found the cluster unhealthy.

    Args:
        configuration: The experiment's configuration.
        secrets: The experiment's secrets.

    Returns:
        ``True`` when no validation failed (so far); ``False`` otherwise (each problem is logged).

    Raises:
        ActivityFailed: Any sf_progress error.
    """
    with client_for(configuration, secrets) as client:
        try:
            events = client.chaos_events(until="now")
        except SFProgressError as exc:
            raise failed("chaos_run_passed", exc) from None
    problems = [event for event in events if event.is_problem]
    for event in problems:
        logger.warning("sf_progress: Chaos %s at %s: %s", event.raw_kind, event.time_text, event.reason)
    return not problems


def scenario_passed(
    journal: str, *, configuration: dict[str, Any] | None = None, secrets: dict[str, Any] | None = None
) -> bool:
    """Whether the failover scenario kept in *journal* passed (``run_scenario(..., journal=...)``).

    Reads the journal only (nothing is sent): a steady-state hypothesis with ``"tolerance":
    true`` makes the experiment deviate when a validation failed.  A journal with no scenario
    yet (before the method ran) passes: the service is as it was.

    Args:
        journal: The scenario's journal.
        configuration: The experiment's configuration (unused).
        secrets: The experiment's secrets (unused).

    Returns:
        ``False`` once the scenario stopped with a failed validation (its evidence is logged);
        ``True`` otherwise.

    Raises:
        ActivityFailed: The file is not an sf_progress journal.
    """
    if not Path(journal).exists():
        return True  # the method has not run yet: nothing faulted
    try:
        records = read_journal(journal).scenario
    except (OSError, JournalError) as exc:
        raise failed("scenario_passed", exc) from None
    stopped = [r for r in records if r.get("what") == "stopped"]
    if stopped and stopped[-1].get("verdict") == "failed":
        evidence = "; ".join(stopped[-1].get("evidence") or ())
        logger.warning("sf_progress: the scenario's validation failed: %s", evidence)
        return False
    return True


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
