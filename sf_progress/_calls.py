"""The fault calls of ``ProgressClient``: progress reads, starts, cancel, list, node lookup.

Thin: each validates its arguments (before any request), builds its URL with ``Urls``
and sends it through the transport.  Starts are retried sequentially, never in parallel
(two concurrent starts with one OperationId can crash the service's primary).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Iterable
from datetime import timedelta
from typing import Any, cast, overload

from ._auth import AadMetadata, parse_aad_metadata
from ._errors import BadRequestError, NotFoundError, ResponseFormatError
from ._ids import check_node_name, check_server_timeout, encode_service_id, to_guid, to_seconds
from ._kinds import KINDS, Urls
from ._models import (
    DataLossMode,
    FaultOperation,
    FaultProgress,
    NodeTransitionProgress,
    NodeTransitionType,
    OperationRef,
    OperationState,
    OperationType,
    PartitionDataLossProgress,
    PartitionQuorumLossProgress,
    PartitionRestartProgress,
    QuorumLossMode,
    RestartPartitionMode,
    filter_mask,
)
from ._parsing import json_body, parse_operation_list
from ._transport import MAX_LIST_BODY, Transport, ignore_body

__all__ = ["FaultCalls"]

logger = logging.getLogger("sf_progress")

#: The runtime's bounds on a node stop's duration (the docs say 600 s minimum; the runtime takes 300).
STOP_DURATION_RANGE = (300, 14400)
#: The quorum-loss mode spelling the runtime source accepts where the spec says QuorumReplicas.
_QUORUM_REPLICAS_RUNTIME = "QuorumLossReplicas"
_NODE_BUSY = "FABRIC_E_NODE_TRANSITION_IN_PROGRESS"
_parse_list = json_body(parse_operation_list)

class FaultCalls:
    """The calls; ``ProgressClient`` adds the lifecycle and the waits."""

    _transport: Transport
    _urls: Urls
    _server_timeout: int

    def _server_timeout_of(self, timeout: int | None) -> int:
        return self._server_timeout if timeout is None else check_server_timeout(timeout)

    # --- progress reads --------------------------------------------------------------------

    async def get_progress(self, ref: OperationRef, *, timeout: int | None = None) -> FaultProgress:
        """Read the progress of any fault operation, by the kind its ``OperationRef`` names."""
        if not isinstance(ref, OperationRef):
            raise TypeError(f"ref must be an OperationRef, not {type(ref).__name__}")
        return await self._read(ref, timeout)

    def _read(self, ref: OperationRef, timeout: int | None) -> Awaitable[FaultProgress]:
        """The progress read (a plain function returning the awaitable: one frame less on the hot path)."""
        server_timeout = self._server_timeout if timeout is None else check_server_timeout(timeout)
        url = self._urls.progress(ref, server_timeout)
        return self._transport.call("GET", url, server_timeout, ref, KINDS[ref.kind].parse, route="progress")

    @overload
    async def get_restart_progress(
        self, service_id: OperationRef, /, *, timeout: int | None = None
    ) -> PartitionRestartProgress: ...

    @overload
    async def get_restart_progress(
        self,
        service_id: str,
        partition_id: str | uuid.UUID,
        operation_id: str | uuid.UUID,
        *,
        timeout: int | None = None,
    ) -> PartitionRestartProgress: ...

    async def get_restart_progress(
        self,
        service_id: str | OperationRef,
        partition_id: str | uuid.UUID | None = None,
        operation_id: str | uuid.UUID | None = None,
        *,
        timeout: int | None = None,
    ) -> PartitionRestartProgress:
        """Read the progress of a partition restart (Get Partition Restart Progress).

        Pass the service id, partition id and operation id, or one ``OperationRef``.
        ``timeout`` overrides the server timeout for this call (int seconds).
        """
        ref = ref_of(OperationType.PARTITION_RESTART, service_id, partition_id, operation_id)
        return cast(PartitionRestartProgress, await self._read(ref, timeout))

    async def get_data_loss_progress(
        self,
        service_id: str | OperationRef,
        partition_id: str | uuid.UUID | None = None,
        operation_id: str | uuid.UUID | None = None,
        *,
        timeout: int | None = None,
    ) -> PartitionDataLossProgress:
        """Read the progress of a partition data loss (a ref, or the three ids)."""
        ref = ref_of(OperationType.PARTITION_DATA_LOSS, service_id, partition_id, operation_id)
        return cast(PartitionDataLossProgress, await self._read(ref, timeout))

    async def get_quorum_loss_progress(
        self,
        service_id: str | OperationRef,
        partition_id: str | uuid.UUID | None = None,
        operation_id: str | uuid.UUID | None = None,
        *,
        timeout: int | None = None,
    ) -> PartitionQuorumLossProgress:
        """Read the progress of a partition quorum loss (a ref, or the three ids)."""
        ref = ref_of(OperationType.PARTITION_QUORUM_LOSS, service_id, partition_id, operation_id)
        return cast(PartitionQuorumLossProgress, await self._read(ref, timeout))

    async def get_node_transition_progress(
        self,
        node_name: str | OperationRef,
        operation_id: str | uuid.UUID | None = None,
        *,
        timeout: int | None = None,
    ) -> NodeTransitionProgress:
        """Read the progress of a node transition (a ref, or the node name and operation id)."""
        if isinstance(node_name, OperationRef):
            if operation_id is not None:
                raise TypeError("pass either an OperationRef or the node name and operation id, not both")
            ref = _same_kind(node_name, OperationType.NODE_TRANSITION)
        else:
            if operation_id is None:
                raise TypeError("operation_id is required")
            ref = OperationRef.node_transition(node_name, operation_id)
        return cast(NodeTransitionProgress, await self._read(ref, timeout))

    # --- starts -------------------------------------------------------------------------

    async def start_partition_restart(
        self,
        service_id: str,
        partition_id: str | uuid.UUID,
        *,
        mode: RestartPartitionMode | str = RestartPartitionMode.ALL_REPLICAS_OR_INSTANCES,
        operation_id: str | uuid.UUID | None = None,
        timeout: int | None = None,
    ) -> OperationRef:
        """Start a partition restart and return the ``OperationRef`` to follow it with.

        A fresh OperationId is generated unless ``operation_id`` is given.  Retries of the
        same start are safe: a retry that meets 409 "already exists" means an earlier try
        landed.  An explicit ``operation_id`` that already exists raises ``ConflictError``.
        """
        ref = OperationRef.restart(service_id, partition_id, _new_id(operation_id))
        restart_mode = _member(RestartPartitionMode, mode, "mode")
        await self._start(ref, f"RestartPartitionMode={restart_mode.value}", timeout)
        return ref

    async def start_data_loss(
        self,
        service_id: str,
        partition_id: str | uuid.UUID,
        mode: DataLossMode | str = DataLossMode.PARTIAL_DATA_LOSS,
        *,
        operation_id: str | uuid.UUID | None = None,
        timeout: int | None = None,
    ) -> OperationRef:
        """Start a partition data loss (``PartialDataLoss`` or ``FullDataLoss``); return its ref."""
        ref = OperationRef.data_loss(service_id, partition_id, _new_id(operation_id))
        loss_mode = _member(DataLossMode, mode, "mode")
        await self._start(ref, f"DataLossMode={loss_mode.value}", timeout)
        return ref

    async def start_quorum_loss(
        self,
        service_id: str,
        partition_id: str | uuid.UUID,
        duration: float | timedelta,
        mode: QuorumLossMode | str = QuorumLossMode.QUORUM_REPLICAS,
        *,
        operation_id: str | uuid.UUID | None = None,
        timeout: int | None = None,
    ) -> OperationRef:
        """Start a partition quorum loss lasting *duration* seconds; return its ref.

        The spec's ``QuorumReplicas`` is sent; a gateway that refuses it with 400
        ``E_INVALIDARG`` (the runtime source accepts ``QuorumLossReplicas``) is asked once
        more with that spelling.
        """
        ref = OperationRef.quorum_loss(service_id, partition_id, _new_id(operation_id))
        seconds = _whole_seconds(duration, "duration", minimum=1)
        loss_mode = _member(QuorumLossMode, mode, "mode")
        try:
            await self._start(ref, f"QuorumLossMode={loss_mode.value}&QuorumLossDuration={seconds}", timeout)
        except BadRequestError as exc:
            if loss_mode is not QuorumLossMode.QUORUM_REPLICAS or exc.code != "E_INVALIDARG":
                raise
            logger.info("the gateway refused QuorumLossMode=QuorumReplicas; trying %s", _QUORUM_REPLICAS_RUNTIME)
            params = f"QuorumLossMode={_QUORUM_REPLICAS_RUNTIME}&QuorumLossDuration={seconds}"
            await self._start(ref, params, timeout)
        return ref

    async def start_node_transition(
        self,
        node_name: str,
        transition: NodeTransitionType | str,
        *,
        stop_duration: float | timedelta = 600,
        node_instance_id: int | str | None = None,
        operation_id: str | uuid.UUID | None = None,
        timeout: int | None = None,
    ) -> OperationRef:
        """Stop or start a node (``"stop"``/``"start"``, any case); return the ref to follow it.

        ``stop_duration`` (seconds, for a stop) must be within the runtime's bounds,
        300..14400 (the docs say at least 600; the runtime takes 300).  Without
        ``node_instance_id`` it is read from ``GET /Nodes/{node}``, as the official docs tell
        you to do by hand.  A retried start answered 400 ``FABRIC_E_NODE_TRANSITION_IN_PROGRESS``
        may be our own first try: its progress decides.
        """
        ref = OperationRef.node_transition(node_name, _new_id(operation_id))
        kind = _transition(transition)
        seconds = _whole_seconds(stop_duration, "stop_duration", minimum=STOP_DURATION_RANGE[0])
        if seconds > STOP_DURATION_RANGE[1]:
            raise ValueError(f"stop_duration must be at most {STOP_DURATION_RANGE[1]} s, got {stop_duration!r}")
        instance = None if node_instance_id is None else _instance_id(node_instance_id)
        server_timeout = self._server_timeout_of(timeout)
        if instance is None:
            instance = await self.get_node_instance_id(node_name, timeout=server_timeout)
        params = f"NodeTransitionType={kind.value}&NodeInstanceId={instance}&StopDurationInSeconds={seconds}"
        try:
            await self._start(ref, params, server_timeout)
        except BadRequestError as exc:
            if exc.code != _NODE_BUSY or not exc.retried:
                raise
            # Our own first try may have landed before its answer was lost: is it there?
            try:
                await self.get_progress(ref, timeout=server_timeout)
            except NotFoundError:
                raise exc from None
        return ref

    async def get_node_instance_id(self, node_name: str, *, timeout: int | None = None) -> str:
        """The node's current ``InstanceId`` (``GET /Nodes/{node}``), as a decimal string."""
        name = check_node_name(node_name)
        server_timeout = self._server_timeout_of(timeout)
        url = self._urls.control(f"/Nodes/{encode_service_id(name)}", "", server_timeout)
        return await self._transport.call("GET", url, server_timeout, None, json_body(_parse_instance))

    async def _start(self, ref: OperationRef, params: str, timeout: int | None) -> None:
        server_timeout = self._server_timeout_of(timeout)
        url = self._urls.start(ref, params, server_timeout)
        await self._transport.call(
            "POST", url, server_timeout, ref, ignore_body, conflict_means_done=True, route="start"
        )

    # --- the rest -------------------------------------------------------------------------

    async def cancel_operation(
        self,
        operation_id: str | uuid.UUID | OperationRef,
        *,
        force: bool = False,
        timeout: int | None = None,
    ) -> None:
        """Cancel a running fault operation (``force=True`` only after a graceful cancel)."""
        ref = operation_id if isinstance(operation_id, OperationRef) else None
        op_id = ref.operation_id if ref is not None else to_guid(operation_id, "operation_id")
        if type(force) is not bool:
            raise TypeError(f"force must be a bool, not {type(force).__name__}")
        server_timeout = self._server_timeout_of(timeout)
        params = f"OperationId={op_id}&Force={'true' if force else 'false'}"
        url = self._urls.control("/Faults/$/Cancel", params, server_timeout)
        await self._transport.call("POST", url, server_timeout, ref, ignore_body, route="cancel")

    async def list_fault_operations(
        self,
        *,
        type_filter: Iterable[OperationType] | OperationType | None = None,
        state_filter: Iterable[OperationState] | OperationState | None = None,
        timeout: int | None = None,
    ) -> list[FaultOperation]:
        """List fault operations of every kind (at most 10,000), optionally filtered by type and state."""
        types = filter_mask(type_filter, "type_filter")
        states = filter_mask(state_filter, "state_filter")
        server_timeout = self._server_timeout_of(timeout)
        url = self._urls.control("/Faults/", f"TypeFilter={types}&StateFilter={states}", server_timeout)
        return await self._transport.call(
            "GET", url, server_timeout, None, _parse_list, limit=MAX_LIST_BODY, route="list"
        )

    async def get_aad_metadata(self, *, timeout: int | None = None) -> AadMetadata:
        """Read the cluster's Azure AD settings (``GET /$/GetAadMetadata``, sent anonymously)."""
        server_timeout = self._server_timeout_of(timeout)
        url = self._urls.control("/$/GetAadMetadata", "", server_timeout)
        return await self._transport.call(
            "GET", url, server_timeout, None, json_body(parse_aad_metadata), anonymous=True
        )

    async def get_cluster_version(self, *, timeout: int | None = None) -> str:
        """Return the cluster's code version (``GET /$/GetClusterVersion``)."""
        server_timeout = self._server_timeout_of(timeout)
        url = self._urls.control("/$/GetClusterVersion", "", server_timeout)
        return await self._transport.call("GET", url, server_timeout, None, json_body(_parse_version))


# --- argument checks (all before any request) ----------------------------------------------


def ref_of(
    kind: OperationType,
    service_id: str | OperationRef,
    partition_id: str | uuid.UUID | None,
    operation_id: str | uuid.UUID | None,
) -> OperationRef:
    """The ref a call was given, or the one its three ids make, of *kind*."""
    if isinstance(service_id, OperationRef):
        if partition_id is not None or operation_id is not None:
            raise TypeError("pass either an OperationRef or the three ids, not both")
        return _same_kind(service_id, kind)
    if partition_id is None or operation_id is None:
        raise TypeError("partition_id and operation_id are required")
    return OperationRef(service_id, partition_id, operation_id, kind=kind)


def _same_kind(ref: OperationRef, kind: OperationType) -> OperationRef:
    if ref.kind is not kind:
        raise ValueError(
            f"this call reads a {kind.value}, but the ref names a {ref.kind.value} (another kind): "
            "use get_progress(ref)"
        )
    return ref


def _new_id(operation_id: str | uuid.UUID | None) -> str | uuid.UUID:
    return uuid.uuid4() if operation_id is None else operation_id


def _member(enum_type: Any, value: object, what: str) -> Any:
    try:
        return enum_type(value)
    except ValueError:
        choices = ", ".join(m.value for m in enum_type)
        raise ValueError(f"{what} must be one of {choices}, got {value!r}") from None


def _transition(value: object) -> NodeTransitionType:
    if isinstance(value, NodeTransitionType):
        return value
    if isinstance(value, str):
        for member in NodeTransitionType:
            if value.strip().lower() == member.value.lower():
                return member
    raise ValueError(f"transition must be 'stop' or 'start' (any case) or a NodeTransitionType, got {value!r}")


def _whole_seconds(value: float | timedelta, what: str, *, minimum: int) -> int:
    seconds = to_seconds(value, what, finite=True)
    if seconds != int(seconds) or seconds < minimum or seconds > 4294967295:
        raise ValueError(f"{what} must be a whole number of seconds >= {minimum}, got {value!r}")
    return int(seconds)


def _instance_id(value: object) -> str:
    text = str(value) if type(value) is int else value
    if not isinstance(text, str) or not text.isascii() or not text.isdigit() or not 0 < int(text) < 2**64:
        raise ValueError(f"node_instance_id must be a positive 64-bit integer, got {value!r}")
    return text


def _parse_instance(data: object, body: bytes, ref: OperationRef | None) -> str:
    instance = data.get("InstanceId") if isinstance(data, dict) else None
    if type(instance) is int:
        instance = str(instance)
    if not isinstance(instance, str) or not instance.isdigit():
        raise ResponseFormatError("expected a node with a numeric 'InstanceId'", body=body, ref=ref)
    return instance


def _parse_version(data: object, body: bytes, ref: OperationRef | None) -> str:
    version = data.get("Version") if isinstance(data, dict) else None
    if not isinstance(version, str):
        raise ResponseFormatError("expected {'Version': <string>}", body=body, ref=ref)
    return version

