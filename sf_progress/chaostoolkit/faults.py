"""Chaos Toolkit actions for the faults the cluster keeps no operation for.

Replica restart and removal, code-package restart, primary, secondary and instance moves,
node restart: each reads its target first (and makes the choices left to it: which
secondary, which node), sends the fault, and by default waits until its effect is seen
(the wait is the verification).  Same conventions as ``sf_progress.chaostoolkit.actions``:
the library's argument names, then ``wait``, ``until_recovered``, ``timeout``,
``configuration`` and ``secrets``; a JSON-able dict back (``operation_id``, ``type``, the
target, its ``baseline``, ``state``, ``signal`` -- what was seen --, ``elapsed_s``, and
``recovered``); ``ActivityFailed`` only when the fault was not applied.  None can be
cancelled: ``cancel_started_faults`` leaves them out.
"""

from collections.abc import Callable
from typing import Any, Dict  # noqa: UP035 - Dict: what Chaos Toolkit reads as "mapping"

from .. import FaultTarget, WaitOptions
from ._common import run_fault

__all__ = [
    "move_instance",
    "move_primary",
    "move_secondary",
    "remove_replica",
    "restart_code_package",
    "restart_node",
    "restart_replica",
]

_TIMEOUT = WaitOptions().deadline
_COMMON = """
    Args:
{args}
        wait: Wait until the fault's effect is seen (default ``True``); ``False`` returns once it is sent.
        until_recovered: Also wait until its target recovered.
        timeout: Seconds the whole action may take (enforced by the action).
        configuration: The experiment's configuration (``sf_endpoint`` and TLS settings).
        secrets: The experiment's secrets (certificates, token).

    Returns:
        A JSON-able dict: ``operation_id``, ``type``, the target, ``baseline`` (the target as
        read before the fault, with the choices made), ``state``, ``signal`` (what was seen),
        ``elapsed_s``, ``time_to_end_s`` and, with ``until_recovered``, ``recovered`` and
        ``recovery_s``.  A target that did not recover is a finding, not a failure.

    Raises:
        ActivityFailed: The fault was not applied: it does not apply to its target (a restart
            of a volatile replica...), the cluster refused it, its effect was not seen within
            the timeout, or any sf_progress error (one clear line).
"""
_PARTITION = """        service_id: The service (``fabric:/app/svc``, ``app/svc`` or ``app~svc``).
        partition_id: The partition's GUID."""
_REPLICA = """
        replica: ``primary`` (the default), ``secondary`` (one active secondary, chosen at the
            start) or a replica id."""


def _documented(summary: str, args: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def document(action: Callable[..., Any]) -> Callable[..., Any]:
        action.__doc__ = summary + "\n" + _COMMON.format(args=args)
        return action

    return document


@_documented("Restart a replica of a stateful service with persisted state (it keeps its id).", _PARTITION + _REPLICA)
def restart_replica(
    service_id: str,
    partition_id: str,
    replica: str = "primary",
    wait: bool = True,
    until_recovered: bool = False,
    timeout: float = _TIMEOUT,
    *,
    configuration: dict[str, Any] | None = None,
    secrets: dict[str, Any] | None = None,
) -> Dict[str, Any]:  # noqa: UP006
    return run_fault(
        lambda: FaultTarget.restart_replica(service_id, partition_id, replica=replica),
        "replica restart", wait, until_recovered, timeout, configuration, secrets,
    )


@_documented(
    "Remove a replica (or a stateless instance): it is dropped and another one is built.",
    _PARTITION + _REPLICA + "\n        force: Remove without a graceful close (``ForceRemove``).",
)
def remove_replica(
    service_id: str,
    partition_id: str,
    replica: str = "primary",
    force: bool = False,
    wait: bool = True,
    until_recovered: bool = False,
    timeout: float = _TIMEOUT,
    *,
    configuration: dict[str, Any] | None = None,
    secrets: dict[str, Any] | None = None,
) -> Dict[str, Any]:  # noqa: UP006
    return run_fault(
        lambda: FaultTarget.remove_replica(service_id, partition_id, replica=replica, force=force),
        "replica removal", wait, until_recovered, timeout, configuration, secrets,
    )


@_documented("Restart the code package hosting a replica (every replica in that process restarts).",
             _PARTITION + _REPLICA)
def restart_code_package(
    service_id: str,
    partition_id: str,
    replica: str = "primary",
    wait: bool = True,
    until_recovered: bool = False,
    timeout: float = _TIMEOUT,
    *,
    configuration: dict[str, Any] | None = None,
    secrets: dict[str, Any] | None = None,
) -> Dict[str, Any]:  # noqa: UP006
    return run_fault(
        lambda: FaultTarget.restart_code_package(service_id, partition_id, replica=replica),
        "code package restart", wait, until_recovered, timeout, configuration, secrets,
    )


@_documented(
    "Move a stateful partition's primary to another node.",
    _PARTITION + "\n        to_node: The node to move it to (empty, the default: chosen at the start).",
)
def move_primary(
    service_id: str,
    partition_id: str,
    to_node: str = "",
    wait: bool = True,
    until_recovered: bool = False,
    timeout: float = _TIMEOUT,
    *,
    configuration: dict[str, Any] | None = None,
    secrets: dict[str, Any] | None = None,
) -> Dict[str, Any]:  # noqa: UP006
    return run_fault(
        lambda: FaultTarget.move_primary(service_id, partition_id, to_node=to_node or None),
        "primary move", wait, until_recovered, timeout, configuration, secrets,
    )


_FROM_TO = """
        from_node: The node of the replica to move (empty, the default: chosen at the start).
        to_node: The node to move it to (empty, the default: chosen at the start)."""


@_documented("Move one of a stateful partition's secondaries to another node.", _PARTITION + _FROM_TO)
def move_secondary(
    service_id: str,
    partition_id: str,
    from_node: str = "",
    to_node: str = "",
    wait: bool = True,
    until_recovered: bool = False,
    timeout: float = _TIMEOUT,
    *,
    configuration: dict[str, Any] | None = None,
    secrets: dict[str, Any] | None = None,
) -> Dict[str, Any]:  # noqa: UP006
    return run_fault(
        lambda: FaultTarget.move_secondary(service_id, partition_id, from_node=from_node or None,
                                           to_node=to_node or None),
        "secondary move", wait, until_recovered, timeout, configuration, secrets,
    )


@_documented("Move one of a stateless partition's instances to another node.", _PARTITION + _FROM_TO)
def move_instance(
    service_id: str,
    partition_id: str,
    from_node: str = "",
    to_node: str = "",
    wait: bool = True,
    until_recovered: bool = False,
    timeout: float = _TIMEOUT,
    *,
    configuration: dict[str, Any] | None = None,
    secrets: dict[str, Any] | None = None,
) -> Dict[str, Any]:  # noqa: UP006
    return run_fault(
        lambda: FaultTarget.move_instance(service_id, partition_id, from_node=from_node or None,
                                          to_node=to_node or None),
        "instance move", wait, until_recovered, timeout, configuration, secrets,
    )


@_documented("Restart a node: it goes down and comes back up on a new instance.",
             "        node_name: The node's name.")
def restart_node(
    node_name: str,
    wait: bool = True,
    until_recovered: bool = False,
    timeout: float = _TIMEOUT,
    *,
    configuration: dict[str, Any] | None = None,
    secrets: dict[str, Any] | None = None,
) -> Dict[str, Any]:  # noqa: UP006
    return run_fault(
        lambda: FaultTarget.restart_node(node_name), "node restart", wait, until_recovered, timeout,
        configuration, secrets,
    )
