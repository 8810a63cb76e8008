"""Chaos Toolkit actions: start a Service Fabric fault and, by default, wait until it ended.

Each takes the library's own argument names, then ``wait`` (default true), then
``until_recovered`` (also wait until the partition or node is healthy again), then
``timeout`` (seconds; enforced here, since the toolkit does not), then ``configuration``
and ``secrets``.  Each returns a JSON-able dict: ``operation_id``, ``type``, the target,
``state``, ``error_code``, ``elapsed_s`` (and ``recovered``).  A fault that ends Faulted or
Cancelled, a timeout, or an sf_progress error raises ``ActivityFailed`` with a clear message.
"""

from typing import Any, Dict, List  # noqa: UP035 - Dict, List: what Chaos Toolkit reads as "mapping", "list"

from .. import (
    ChaosParameters,
    ChaosStatus,
    DataLossSpec,
    FaultTarget,
    NodeTransitionSpec,
    QuorumLossSpec,
    RestartSpec,
    SFProgressError,
    WaitOptions,
)
from ._common import failed, run_fault
from ._connect import client_for, logger

__all__ = [
    "induce_data_loss",
    "induce_quorum_loss",
    "inject_fault",
    "restart_partition",
    "start_chaos",
    "start_node",
    "stop_chaos",
    "stop_node",
]

# Every default is the library's own (the spec classes, WaitOptions), read once here.
_TIMEOUT = WaitOptions().deadline
_STOP_DURATION = float(NodeTransitionSpec("stop").stop_duration)


def restart_partition(
    service_id: str,
    partition_id: str,
    mode: str = RestartSpec().mode.value,
    wait: bool = True,
    until_recovered: bool = False,
    timeout: float = _TIMEOUT,
    *,
    configuration: dict[str, Any] | None = None,
    secrets: dict[str, Any] | None = None,
) -> Dict[str, Any]:  # noqa: UP006
    """Restart the replicas of a partition.

    Args:
        service_id: The service (``fabric:/app/svc``, ``app/svc`` or ``app~svc``).
        partition_id: The partition's GUID.
        mode: ``AllReplicasOrInstances`` (the default) or ``OnlyActiveSecondaries``.
        wait: Wait until the fault ended (default ``True``); ``False`` returns once it started.
        until_recovered: Also wait until its target recovered.
        timeout: Seconds the whole action may take (enforced by the action).
        configuration: The experiment's configuration (``sf_endpoint`` and TLS settings).
        secrets: The experiment's secrets (certificates, token).

    Returns:
        A JSON-able dict: ``operation_id``, ``type``, the target, ``state``, ``error_code``,
        ``elapsed_s`` (the whole wait), ``time_to_end_s`` and, with ``until_recovered``,
        ``recovered``, ``recovery_s`` (and ``recovery_reason`` when it did not). A target that
        did not recover is a finding, not a failure: a steady-state probe
        (``partition_recovered``, ``node_recovered``) makes the run deviate.

    Raises:
        ActivityFailed: The fault was not applied: refused, ended Faulted or Cancelled, not
            ended within the timeout, or any sf_progress error (one clear line).
    """
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
    mode: str = DataLossSpec().mode.value,
    wait: bool = True,
    until_recovered: bool = False,
    timeout: float = _TIMEOUT,
    *,
    configuration: dict[str, Any] | None = None,
    secrets: dict[str, Any] | None = None,
) -> Dict[str, Any]:  # noqa: UP006
    """Make a partition lose data.

    Args:
        service_id: The service (``fabric:/app/svc``, ``app/svc`` or ``app~svc``).
        partition_id: The partition's GUID.
        mode: ``PartialDataLoss`` (the default) or ``FullDataLoss``.
        wait: Wait until the fault ended (default ``True``); ``False`` returns once it started.
        until_recovered: Also wait until its target recovered.
        timeout: Seconds the whole action may take (enforced by the action).
        configuration: The experiment's configuration (``sf_endpoint`` and TLS settings).
        secrets: The experiment's secrets (certificates, token).

    Returns:
        A JSON-able dict: ``operation_id``, ``type``, the target, ``state``, ``error_code``,
        ``elapsed_s`` (the whole wait), ``time_to_end_s`` and, with ``until_recovered``,
        ``recovered``, ``recovery_s`` (and ``recovery_reason`` when it did not). A target that
        did not recover is a finding, not a failure: a steady-state probe
        (``partition_recovered``, ``node_recovered``) makes the run deviate.

    Raises:
        ActivityFailed: The fault was not applied: refused, ended Faulted or Cancelled, not
            ended within the timeout, or any sf_progress error (one clear line).
    """
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
    mode: str = QuorumLossSpec(1).mode.value,
    wait: bool = True,
    until_recovered: bool = False,
    timeout: float = _TIMEOUT,
    *,
    configuration: dict[str, Any] | None = None,
    secrets: dict[str, Any] | None = None,
) -> Dict[str, Any]:  # noqa: UP006
    """Put a partition in quorum loss.

    Args:
        service_id: The service (``fabric:/app/svc``, ``app/svc`` or ``app~svc``).
        partition_id: The partition's GUID.
        duration: Seconds the quorum stays lost (whole, >= 1).
        mode: ``QuorumReplicas`` (the default) or ``AllReplicas``.
        wait: Wait until the fault ended (default ``True``); ``False`` returns once it started.
        until_recovered: Also wait until its target recovered.
        timeout: Seconds the whole action may take (enforced by the action).
        configuration: The experiment's configuration (``sf_endpoint`` and TLS settings).
        secrets: The experiment's secrets (certificates, token).

    Returns:
        A JSON-able dict: ``operation_id``, ``type``, the target, ``state``, ``error_code``,
        ``elapsed_s`` (the whole wait), ``time_to_end_s`` and, with ``until_recovered``,
        ``recovered``, ``recovery_s`` (and ``recovery_reason`` when it did not). A target that
        did not recover is a finding, not a failure: a steady-state probe
        (``partition_recovered``, ``node_recovered``) makes the run deviate.

    Raises:
        ActivityFailed: The fault was not applied: refused, ended Faulted or Cancelled, not
            ended within the timeout, or any sf_progress error (one clear line).
    """
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
    duration: float = _STOP_DURATION,
    node_instance_id: str = "",
    wait: bool = True,
    until_recovered: bool = False,
    timeout: float = _TIMEOUT,
    *,
    configuration: dict[str, Any] | None = None,
    secrets: dict[str, Any] | None = None,
) -> Dict[str, Any]:  # noqa: UP006
    """Stop a node for a while.

    Args:
        node_name: The node's name.
        duration: Seconds it stays down, 300..14400 (default 600).
        node_instance_id: Its current instance id (empty, the default: read from the cluster).
        wait: Wait until the fault ended (default ``True``); ``False`` returns once it started.
        until_recovered: Also wait until its target recovered.
        timeout: Seconds the whole action may take (enforced by the action).
        configuration: The experiment's configuration (``sf_endpoint`` and TLS settings).
        secrets: The experiment's secrets (certificates, token).

    Returns:
        A JSON-able dict: ``operation_id``, ``type``, the target, ``state``, ``error_code``,
        ``elapsed_s`` (the whole wait), ``time_to_end_s`` and, with ``until_recovered``,
        ``recovered``, ``recovery_s`` (and ``recovery_reason`` when it did not). A target that
        did not recover is a finding, not a failure: a steady-state probe
        (``partition_recovered``, ``node_recovered``) makes the run deviate.

    Raises:
        ActivityFailed: The fault was not applied: refused, ended Faulted or Cancelled, not
            ended within the timeout, or any sf_progress error (one clear line).
    """
    return run_fault(
        lambda: FaultTarget.node_transition(
            node_name, "stop", stop_duration=duration, node_instance_id=node_instance_id or None
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
    node_instance_id: str = "",
    wait: bool = True,
    until_recovered: bool = False,
    timeout: float = _TIMEOUT,
    *,
    configuration: dict[str, Any] | None = None,
    secrets: dict[str, Any] | None = None,
) -> Dict[str, Any]:  # noqa: UP006
    """Start a stopped node; with ``until_recovered``, wait until it is up on a new instance and healthy.

    Args:
        node_name: The node's name.
        node_instance_id: Its instance id (empty, the default: read from the cluster).
        wait: Wait until the fault ended (default ``True``); ``False`` returns once it started.
        until_recovered: Also wait until its target recovered.
        timeout: Seconds the whole action may take (enforced by the action).
        configuration: The experiment's configuration (``sf_endpoint`` and TLS settings).
        secrets: The experiment's secrets (certificates, token).

    Returns:
        A JSON-able dict: ``operation_id``, ``type``, the target, ``state``, ``error_code``,
        ``elapsed_s`` (the whole wait), ``time_to_end_s`` and, with ``until_recovered``,
        ``recovered``, ``recovery_s`` (and ``recovery_reason`` when it did not). A target that
        did not recover is a finding, not a failure: a steady-state probe
        (``partition_recovered``, ``node_recovered``) makes the run deviate.

    Raises:
        ActivityFailed: The fault was not applied: refused, ended Faulted or Cancelled, not
            ended within the timeout, or any sf_progress error (one clear line).
    """
    return run_fault(
        lambda: FaultTarget.node_transition(node_name, "start", node_instance_id=node_instance_id or None),
        "node start",
        wait,
        until_recovered,
        timeout,
        configuration,
        secrets,
    )


def inject_fault(
    type: str,
    parameters: Dict[str, Any],  # noqa: UP006
    wait: bool = True,
    until_recovered: bool = False,
    timeout: float = _TIMEOUT,
    *,
    configuration: dict[str, Any] | None = None,
    secrets: dict[str, Any] | None = None,
) -> Dict[str, Any]:  # noqa: UP006
    """Start a fault of any kind, named with its parameters (the action every kind has).

    The named actions above are conveniences for the common kinds; this one takes any kind
    the library knows, with the parameters :meth:`sf_progress.FaultTarget.parameters` lists
    (as :meth:`sf_progress.FaultTarget.of` takes them).

    Args:
        type: The fault kind: its short name (``restart``, ``data-loss``, ``quorum-loss``,
            ``node-transition``) or its wire name.
        parameters: Its target and parameters by name, e.g. ``{"service_id": ..., "partition_id":
            ..., "mode": "OnlyActiveSecondaries"}``.
        wait: Wait until the fault ended (default ``True``); ``False`` returns once it started.
        until_recovered: Also wait until its target recovered.
        timeout: Seconds the whole action may take (enforced by the action).
        configuration: The experiment's configuration (``sf_endpoint`` and TLS settings).
        secrets: The experiment's secrets (certificates, token).

    Returns:
        A JSON-able dict: ``operation_id``, ``type``, the target, ``state``, ``error_code``,
        ``elapsed_s`` (the whole wait), ``time_to_end_s`` and, with ``until_recovered``,
        ``recovered``, ``recovery_s`` (and ``recovery_reason`` when it did not). A target that
        did not recover is a finding, not a failure: a steady-state probe
        (``partition_recovered``, ``node_recovered``) makes the run deviate.

    Raises:
        ActivityFailed: An unknown kind or parameter, or the fault was not applied: refused,
            ended Faulted or Cancelled, not ended within the timeout, or any sf_progress error
            (one clear line).
    """
    return run_fault(
        lambda: FaultTarget.of(type, **parameters), f"{type} fault", wait, until_recovered, timeout, configuration,
        secrets,
    )


def _chaos_json(status: ChaosStatus) -> Dict[str, Any]:  # noqa: UP006
    return {"status": status.status, "schedule_status": status.schedule_status}


def start_chaos(
    time_to_run: float = 4294967295,
    max_concurrent_faults: int = 1,
    wait_time_between_iterations: float = 30,
    wait_time_between_faults: float = 20,
    max_cluster_stabilization_timeout: float = 60,
    include_node_types: List[str] = [],  # noqa: B006, UP006 - never changed; a list is what the toolkit reads
    include_applications: List[str] = [],  # noqa: B006, UP006
    *,
    configuration: dict[str, Any] | None = None,
    secrets: dict[str, Any] | None = None,
) -> Dict[str, Any]:  # noqa: UP006
    """Start Service Fabric's own Chaos, and confirm it runs.

    Args:
        time_to_run: Seconds it runs, then stops by itself (default: until stopped).
        max_concurrent_faults: Faults per iteration.
        wait_time_between_iterations: Seconds between iterations.
        wait_time_between_faults: Seconds between the faults of an iteration.
        max_cluster_stabilization_timeout: Seconds the cluster may take to be healthy between iterations.
        include_node_types: Only nodes of these types for node faults (empty: every node).
        include_applications: Only replicas of these applications (empty: every application).
        configuration: The experiment's configuration.
        secrets: The experiment's secrets.

    Returns:
        ``{"status": "Running", "schedule_status": ...}``, read back.

    Raises:
        ActivityFailed: Bad parameters, Chaos already running, a start that did not take, or any
            sf_progress error.
    """
    try:
        parameters = ChaosParameters(
            time_to_run=float(time_to_run), max_concurrent_faults=int(max_concurrent_faults),
            wait_time_between_iterations=float(wait_time_between_iterations),
            wait_time_between_faults=float(wait_time_between_faults),
            max_cluster_stabilization_timeout=float(max_cluster_stabilization_timeout),
            include_node_types=include_node_types, include_applications=include_applications,
            context={"started_by": "sf_progress chaostoolkit"},
        )
    except (ValueError, TypeError) as exc:
        raise failed("start_chaos: bad arguments", exc) from None
    with client_for(configuration, secrets) as client:
        try:
            status = client.start_chaos(parameters)
        except SFProgressError as exc:
            raise failed("start_chaos", exc) from None
    logger.info("sf_progress: Chaos is running")
    return _chaos_json(status)


def stop_chaos(
    *, configuration: dict[str, Any] | None = None, secrets: dict[str, Any] | None = None
) -> Dict[str, Any]:  # noqa: UP006
    """Stop Service Fabric's own Chaos (faults under way finish), and confirm it stopped.

    Args:
        configuration: The experiment's configuration.
        secrets: The experiment's secrets.

    Returns:
        ``{"status": "Stopped", "schedule_status": ...}``, read back.

    Raises:
        ActivityFailed: A stop that did not take, or any sf_progress error.
    """
    with client_for(configuration, secrets) as client:
        try:
            status = client.stop_chaos()
        except SFProgressError as exc:
            raise failed("stop_chaos", exc) from None
    logger.info("sf_progress: Chaos is stopped")
    return _chaos_json(status)
