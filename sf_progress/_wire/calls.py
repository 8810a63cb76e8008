"""The requests of ``ProgressClient``: progress reads, starts, cancel, list, node lookup.

Thin: each validates its arguments (before any request), builds its URL with ``Urls``
and sends it through the transport; ``ProgressClient``'s public methods delegate here.
Starts are retried sequentially, never in parallel
(two concurrent starts with one OperationId can crash the service's primary).
"""

from __future__ import annotations

import asyncio
import logging
import math
import uuid
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

from .._errors import (
    NODE_BUSY,
    BadRequestError,
    NotFoundError,
    ResponseFormatError,
    TransportTimeout,
    UnsupportedFaultError,
)
from .._ids import check_node_name, check_server_timeout, encode_service_id, to_guid
from .._kinds import KINDS
from .._models import FaultOperation, OperationRef, OperationState, OperationType
from .._progress import FaultProgress
from .._safety.guard import Guard
from .._safety.rules import Rule
from .._specs import (
    DataLossSpec,
    NodeTransitionSpec,
    NodeTransitionType,
    QuorumLossMode,
    QuorumLossSpec,
    RestartSpec,
    instance_id,
)
from .._targets import FaultTarget
from .._verified import TICK
from .._verified.judge import Verifier
from .._verified.prepare import prepare
from .._verified.reads import TargetReads
from .._verified.sending import send
from .._wait.recovery import Verdict, check_recovery, parse_node
from .auth import AadMetadata, parse_aad_metadata
from .parsing import json_body, parse_active_list, parse_operation_list
from .transport import LAST_LOOK, MAX_LIST_BODY, Transport, ignore_body
from .urls import CONTROL_API_VERSION, Urls

__all__ = ["Calls"]


_Filter = Iterable[OperationState] | Iterable[OperationType] | OperationState | OperationType | None


def filter_mask(values: _Filter, what: str) -> int:
    """Return the bit mask for a state or type filter (``None`` means all: 65535)."""
    if values is None:
        return 65535
    items: Iterable[object] = [values] if isinstance(values, (OperationState, OperationType)) else values
    mask = 0
    for value in items:
        if isinstance(value, OperationType) and value.verified:
            raise ValueError(f"{what}: the cluster keeps no operation for a {value.value} (the client verifies it), "
                             "so the list call cannot show one")
        if not isinstance(value, (OperationState, OperationType)) or value.filter_bit == 0:
            raise ValueError(f"{what} takes members of OperationState/OperationType, got {value!r}")
        mask |= value.filter_bit
    if mask == 0:
        raise ValueError(f"{what} must name at least one value (or be None for all)")
    return mask


logger = logging.getLogger("sf_progress")

#: The quorum-loss mode spelling the runtime source accepts where the spec says QuorumReplicas.
_QUORUM_REPLICAS_RUNTIME = "QuorumLossReplicas"
# Running | RollingBack: the list then scans only the service's table of active operations.
_ACTIVE_STATES = OperationState.RUNNING.filter_bit | OperationState.ROLLING_BACK.filter_bit
_parse_list = json_body(parse_operation_list)
_parse_active = json_body(parse_active_list)
#: GetNodeInfoList's api-version (the spec's; it pages with ContinuationToken).
_NODE_LIST_VERSION = "6.3"
#: How many node transitions' kinds a client remembers for recovery checks.
_REMEMBERED = 100_000
#: Largest body read from an entity's info, health or a page of nodes or replicas.
MAX_ENTITY_BODY = 4 * 1024 * 1024
T = TypeVar("T")

class Calls:
    """The requests of one client, on its transport and URLs (``ProgressClient`` delegates here)."""

    def __init__(
        self,
        transport: Transport,
        urls: Urls,
        server_timeout: int,
        allow: str | Rule | Iterable[str | Rule] | None = None,
        forbid_health: str = "Error",
    ) -> None:
        self.transport, self.urls, self.server_timeout = transport, urls, server_timeout
        # The transition of each node transition this client started (a recovery check needs it).
        self.transitions: dict[uuid.UUID, NodeTransitionType] = {}
        # The verified kinds' target reads (a service's kind read once) and their judge.
        self.reads = TargetReads(self.target_read)
        self.verifier = Verifier(self.reads, transport.clock.monotonic)
        # The safety rules every start is held to (those not waived by allow).
        self.guard = Guard(self.control_read, self.reads, transport.clock.monotonic, allow, forbid_health)

    def timeout_of(self, timeout: int | None) -> int:
        return self.server_timeout if timeout is None else check_server_timeout(timeout)

    def read(self, ref: OperationRef, timeout: int | None) -> Awaitable[FaultProgress]:
        """The progress read (a plain function returning the awaitable: one frame less on the hot path)."""
        server_timeout = self.server_timeout if timeout is None else check_server_timeout(timeout)
        if ref.kind.verified:
            return self.verifier.read(ref)
        url = self.urls.progress(ref, server_timeout)
        return self.transport.call("GET", url, server_timeout, ref, KINDS[ref.kind].parse, route="progress")

    def poll_once(self, ref: OperationRef, remaining: float) -> Awaitable[FaultProgress]:
        """One progress read without the per-request retry loop (the waits own retries).

        A wait's deadline is a wall-clock budget: with less than a full request's time
        left, the server timeout is clipped to it and so is the client-side one (to at
        least ``LAST_LOOK`` seconds, for the read a wait sends at its deadline).
        """
        if ref.kind.verified:
            return self._verify_once(ref, remaining)
        transport = self.transport
        server_timeout = self.server_timeout
        parse = KINDS[ref.kind].parse
        if remaining >= server_timeout + transport.margin:  # the usual case (also no deadline)
            return transport.attempt(
                "GET", self.urls.progress(ref, server_timeout), server_timeout, ref, parse, route="progress"
            )
        server_timeout = max(1, min(server_timeout, math.ceil(remaining)))
        return transport.attempt(
            "GET",
            self.urls.progress(ref, server_timeout),
            server_timeout,
            ref,
            parse,
            total=max(remaining, LAST_LOOK),
            route="progress",
        )

    async def _verify_once(self, ref: OperationRef, remaining: float) -> FaultProgress:
        """A verified fault's read within a wait: never past its deadline (plus ``LAST_LOOK``)."""
        if remaining == math.inf:
            return await self.verifier.read(ref, waiting=True)
        final = remaining <= TICK  # the read at the deadline: the target itself
        try:
            return await asyncio.wait_for(self.verifier.read(ref, waiting=True, final=final), max(remaining, LAST_LOOK))
        except TimeoutError as exc:
            if isinstance(exc, TransportTimeout):
                raise
            raise TransportTimeout(f"the target's read took longer than the wait's {remaining:.1f}s left",
                                   ref=ref) from None

    async def prepare(self, target: FaultTarget) -> FaultTarget:
        """A verified fault's target read and its choices made (its baseline); other kinds as they are."""
        if not isinstance(target, FaultTarget):
            raise TypeError(f"target must be a FaultTarget, not {type(target).__name__}")
        return await prepare(self.reads, target)

    async def start(self, target: FaultTarget, timeout: int | None) -> OperationRef:
        """Send *target*'s start call (its kind's quirks included); return its ref."""
        if not isinstance(target, FaultTarget):
            raise TypeError(f"target must be a FaultTarget, not {type(target).__name__}")
        server_timeout = self.timeout_of(timeout)
        if target.kind.verified:
            prepared = await prepare(self.reads, target)
            await self.guard.check(prepared)  # (the nodes it touches are known once prepared)
            await self.verifier.seed(prepared.ref)  # its partition's hint before the fault: a wait reads on change
            await send(self.target_post, prepared)
            self.guard.started(prepared)
            return prepared.ref
        await self.guard.check(target)
        ref, spec = target.ref, target.spec
        if isinstance(spec, NodeTransitionSpec):
            await self._start_node_transition(ref, spec, server_timeout)
        elif isinstance(spec, QuorumLossSpec):
            try:
                await self._start(ref, spec.query(), server_timeout)
            except BadRequestError as exc:
                if spec.mode is not QuorumLossMode.QUORUM_REPLICAS or exc.code != "E_INVALIDARG":
                    raise
                logger.info("the gateway refused QuorumLossMode=QuorumReplicas; trying %s", _QUORUM_REPLICAS_RUNTIME)
                await self._start(ref, spec.query(_QUORUM_REPLICAS_RUNTIME), server_timeout)
        else:
            assert isinstance(spec, (RestartSpec, DataLossSpec))
            await self._start(ref, spec.query(), server_timeout)
        self.guard.started(target)
        return ref

    async def _start_node_transition(self, ref: OperationRef, spec: NodeTransitionSpec, server_timeout: int) -> None:
        assert ref.node_name is not None
        self.remember(ref, spec.transition)
        instance = spec.node_instance_id
        if instance is None:
            instance = await self.node_instance_id(ref.node_name, server_timeout)
        try:
            await self._start(ref, spec.query(instance), server_timeout)
        except BadRequestError as exc:
            if exc.code != NODE_BUSY or not exc.retried:
                raise
            # Our own first try may have landed before its answer was lost: is it there?
            try:
                await self.read(ref, server_timeout)
            except NotFoundError:
                raise exc from None

    def remember(self, ref: OperationRef, transition: NodeTransitionType) -> None:
        """Keep *ref*'s transition (at most ``_REMEMBERED`` of them, the oldest forgotten first)."""
        if len(self.transitions) >= _REMEMBERED:
            del self.transitions[next(iter(self.transitions))]
        self.transitions[ref.operation_id] = transition

    def check(self, ref: OperationRef, given_instance: str | None) -> Awaitable[Verdict]:
        """One recovery check of *ref*'s target (``_wait.recovery.check_recovery``)."""
        return check_recovery(self.entity, ref, self.transitions.get(ref.operation_id), given_instance)

    async def entity(
        self, path: str, params: str, route: str, parse: Callable[[bytes, OperationRef | None], T], ref: OperationRef
    ) -> T:
        """A read of an entity's info or health (``/Partitions``, ``/Nodes``), retried like every call."""
        version = _NODE_LIST_VERSION if path == "/Nodes" else CONTROL_API_VERSION
        url = self.urls.control(path, params, self.server_timeout, version=version)
        # Entity answers grow with the cluster (pages of nodes and replicas): a larger cap than progress reads.
        return await self.transport.call(
            "GET", url, self.server_timeout, ref, parse, route=route, limit=MAX_ENTITY_BODY
        )

    async def _start(self, ref: OperationRef, params: str, server_timeout: int) -> None:
        url = self.urls.start(ref, params, server_timeout)
        await self.transport.call(
            "POST", url, server_timeout, ref, ignore_body, conflict_means_done=True, route="start"
        )

    async def node_instance_id(self, node_name: str, timeout: int | None) -> str:
        name = check_node_name(node_name)
        server_timeout = self.timeout_of(timeout)
        url = self.urls.control(f"/Nodes/{encode_service_id(name)}", "", server_timeout)
        return await self.transport.call("GET", url, server_timeout, None, _parse_instance, route="info")

    async def cancel(self, operation_id: str | uuid.UUID | OperationRef, force: bool, timeout: int | None) -> None:
        ref = operation_id if isinstance(operation_id, OperationRef) else None
        if ref is not None and ref.kind.verified:
            raise UnsupportedFaultError(
                f"a {ref.kind.value} cannot be cancelled: the cluster keeps no operation for it", ref=ref
            )
        op_id = ref.operation_id if ref is not None else to_guid(operation_id, "operation_id")
        if type(force) is not bool:
            raise TypeError(f"force must be a bool, not {type(force).__name__}")
        server_timeout = self.timeout_of(timeout)
        params = f"OperationId={op_id}&Force={'true' if force else 'false'}"
        url = self.urls.control("/Faults/$/Cancel", params, server_timeout)
        await self.transport.call("POST", url, server_timeout, ref, ignore_body, route="cancel")

    async def list_operations(
        self,
        type_filter: Iterable[OperationType] | OperationType | None,
        state_filter: Iterable[OperationState] | OperationState | None,
        timeout: int | None,
    ) -> list[FaultOperation]:
        types = filter_mask(type_filter, "type_filter")
        states = filter_mask(state_filter, "state_filter")
        server_timeout = self.timeout_of(timeout)
        url = self.urls.control("/Faults/", f"TypeFilter={types}&StateFilter={states}", server_timeout)
        return await self.transport.call(
            "GET", url, server_timeout, None, _parse_list, limit=MAX_LIST_BODY, route="list"
        )

    async def list_active(self, type_mask: int) -> tuple[dict[int, str], int]:
        """One list call of the active operations (``StateFilter=3``) of some types, not retried.

        Returns each well-formed item's wire state by operation id (its 128-bit number), and
        the number of malformed items skipped.
        """
        params = f"TypeFilter={type_mask}&StateFilter={_ACTIVE_STATES}"
        url = self.urls.control("/Faults/", params, self.server_timeout)
        return await self.transport.attempt(
            "GET", url, self.server_timeout, None, _parse_active, limit=MAX_LIST_BODY, route="list"
        )

    async def control_read(
        self, path: str, params: str, version: str, parse: Callable[[bytes, OperationRef | None], T]
    ) -> T:
        """A GET of the cluster's control plane (upgrade, manifest, system services, Chaos, health, names)."""
        url = self.urls.control(path, params, self.server_timeout, version=version)
        return await self.transport.call(
            "GET", url, self.server_timeout, None, parse, route="control", limit=MAX_ENTITY_BODY
        )

    async def control_post(
        self, path: str, body: bytes | None, version: str = CONTROL_API_VERSION, *, method: str = "POST",
        params: str = "",
    ) -> None:
        """A write of the cluster's control plane (*body*: JSON; a POST, or *method*), its answer's body ignored."""
        url = self.urls.control(path, params, self.server_timeout, version=version)
        await self.transport.call(method, url, self.server_timeout, None, ignore_body, route="control", body=body)

    async def target_read(
        self, path: str, params: str, parse: Callable[[bytes, OperationRef | None], T], ref: OperationRef | None,
        version: str = CONTROL_API_VERSION,
    ) -> T:
        """A GET of a verified fault's target (replicas, nodes, services, code packages), retried like every call."""
        url = self.urls.control(path, params, self.server_timeout, version=version)
        return await self.transport.call(
            "GET", url, self.server_timeout, ref, parse, route="target", limit=MAX_ENTITY_BODY
        )

    async def target_post(self, path: str, params: str, body: bytes | None, version: str, ref: OperationRef) -> None:
        """A verified fault's start (a POST whose answer's body is ignored), retried on transient failures."""
        url = self.urls.control(path, params, self.server_timeout, version=version)
        await self.transport.call("POST", url, self.server_timeout, ref, ignore_body, route="start", body=body)

    async def aad_metadata(self, timeout: int | None) -> AadMetadata:
        server_timeout = self.timeout_of(timeout)
        url = self.urls.control("/$/GetAadMetadata", "", server_timeout)
        return await self.transport.call(
            "GET", url, server_timeout, None, json_body(parse_aad_metadata), anonymous=True
        )

    async def cluster_version(self, timeout: int | None) -> str:
        server_timeout = self.timeout_of(timeout)
        url = self.urls.control("/$/GetClusterVersion", "", server_timeout)
        return await self.transport.call("GET", url, server_timeout, None, json_body(_parse_version))


# --- answers ----------------------------------------------------------------------------


def _parse_instance(body: bytes, ref: OperationRef | None) -> str:
    instance = parse_node(body, ref).get("InstanceId")  # 204, an unknown node: NotFoundError
    try:
        return instance_id(instance)  # the same check as a given one: a positive 64-bit decimal
    except ValueError:
        raise ResponseFormatError(
            f"expected a node with a positive 64-bit 'InstanceId', got {instance!r}", body=body, ref=ref
        ) from None


def _parse_version(data: object, body: bytes, ref: OperationRef | None) -> str:
    version = data.get("Version") if isinstance(data, dict) else None
    if not isinstance(version, str):
        raise ResponseFormatError("expected {'Version': <string>}", body=body, ref=ref)
    return version

