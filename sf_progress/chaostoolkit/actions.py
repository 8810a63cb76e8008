"""Chaos Toolkit actions: start a Service Fabric fault and, by default, wait until it ended.

Each takes the library's own argument names, then ``wait`` (default true), then
``until_recovered`` (also wait until the partition or node is healthy again), then
``timeout`` (seconds; enforced here, since the toolkit does not), then ``configuration``
and ``secrets``.  Each returns a JSON-able dict: ``operation_id``, ``type``, the target,
``state``, ``error_code``, ``elapsed_s`` (and ``recovered``).  A fault that ends Faulted or
Cancelled, a timeout, or an sf_progress error raises ``ActivityFailed`` with a clear message.
"""

from __future__ import annotations

from typing import Any

from .. import FaultTarget
from ._common import run_fault

__all__ = ["induce_data_loss", "induce_quorum_loss", "restart_partition", "start_node", "stop_node"]


def restart_partition(
    service_id: str,
    partition_id: str,
    mode: str = "AllReplicasOrInstances",
    wait: bool = True,
    until_recovered: bool = False,
    timeout: float = 600,
    configuration: dict[str, Any] | None = None,
    secrets: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Restart the replicas of a partition (``mode``: ``AllReplicasOrInstances`` or ``OnlyActiveSecondaries``)."""
    return run_fault(
        lambda: FaultTarget.restart(service_id, partition_id, mode=mode),
        "partition restart",
        wait,
        until_recovered,
        timeout,
        configuration,
        secrets,
    )


def induce_data_loss(
    service_id: str,
    partition_id: str,
    mode: str = "PartialDataLoss",
    wait: bool = True,
    until_recovered: bool = False,
    timeout: float = 600,
    configuration: dict[str, Any] | None = None,
    secrets: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Make a partition lose data (``mode``: ``PartialDataLoss`` or ``FullDataLoss``)."""
    return run_fault(
        lambda: FaultTarget.data_loss(service_id, partition_id, mode=mode),
        "data loss",
        wait,
        until_recovered,
        timeout,
        configuration,
        secrets,
    )


def induce_quorum_loss(
    service_id: str,
    partition_id: str,
    duration: float,
    mode: str = "QuorumReplicas",
    wait: bool = True,
    until_recovered: bool = False,
    timeout: float = 600,
    configuration: dict[str, Any] | None = None,
    secrets: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Put a partition in quorum loss for ``duration`` seconds (``mode``: ``QuorumReplicas`` or ``AllReplicas``)."""
    return run_fault(
        lambda: FaultTarget.quorum_loss(service_id, partition_id, duration=duration, mode=mode),
        "quorum loss",
        wait,
        until_recovered,
        timeout,
        configuration,
        secrets,
    )


def stop_node(
    node_name: str,
    duration: float = 600,
    node_instance_id: str | None = None,
    wait: bool = True,
    until_recovered: bool = False,
    timeout: float = 600,
    configuration: dict[str, Any] | None = None,
    secrets: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Stop a node for ``duration`` seconds (300..14400); its instance id is read from the cluster unless given."""
    return run_fault(
        lambda: FaultTarget.node_transition(
            node_name, "stop", stop_duration=duration, node_instance_id=node_instance_id
        ),
        "node stop",
        wait,
        until_recovered,
        timeout,
        configuration,
        secrets,
    )


def start_node(
    node_name: str,
    node_instance_id: str | None = None,
    wait: bool = True,
    until_recovered: bool = False,
    timeout: float = 600,
    configuration: dict[str, Any] | None = None,
    secrets: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Start a stopped node; with ``until_recovered``, wait until it is up on a new instance and healthy."""
    return run_fault(
        lambda: FaultTarget.node_transition(node_name, "start", node_instance_id=node_instance_id),
        "node start",
        wait,
        until_recovered,
        timeout,
        configuration,
        secrets,
    )
