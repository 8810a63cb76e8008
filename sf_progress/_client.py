"""``ProgressClient``: the public calls and the waits, each a thin method over ``_calls`` or the engine.

Requests go through ``_transport.Transport``, the single place where aiohttp errors
become sf_progress errors.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterable, Iterable
from datetime import timedelta
from types import TracebackType
from typing import Any, cast, overload

import aiohttp
from yarl import URL

from . import _config
from ._auth import AadMetadata, TokenProvider
from ._batch import BatchWaiter
from ._calls import Calls, node_ref_of, ref_of
from ._config import Clock, RetryPolicy
from ._engine import OperationLike
from ._ids import check_api_version, check_endpoint, check_server_timeout, to_seconds
from ._kinds import Urls
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
)
from ._recovery import Recovery
from ._security import CertArg, TLSConfig, VerifyArg, tls_config
from ._targets import (
    DEFAULT_DATA_LOSS_MODE,
    DEFAULT_QUORUM_LOSS_MODE,
    DEFAULT_RESTART_MODE,
    DEFAULT_STOP_DURATION,
    FaultTarget,
    NodeTransitionSpec,
)
from ._transport import Transport
from ._waiting import Backoff, EventHook, settings
from ._waits import ProgressHook, Waits, check_batch_options, recover_one, single_wait_hook, wait_one

__all__ = ["ProgressClient"]

logger = logging.getLogger("sf_progress")


class ProgressClient:
    """Async client for the Service Fabric fault-operation REST calls, for every fault kind.

    ``endpoint`` is the cluster's HTTP gateway, e.g. ``http://localhost:19080``.  The
    client owns one pooled ``aiohttp.ClientSession`` (at most ``max_connections``
    connections), created on first use, unless ``session`` is given; it closes only a
    session it owns.  Use it as ``async with ProgressClient(...) as client:`` or call
    :meth:`aclose`.

    ``server_timeout`` is the default ``timeout`` query parameter (seconds the cluster
    may spend); each request's client-side timeout is that plus ``timeout_margin``, so
    the client never gives up before the server does.  ``retry`` governs retries of
    transient failures of one request.  ``cert`` and ``verify`` follow ``requests``;
    the rest of TLS (a key password, pinned thumbprints, plain http with credentials)
    is said with ``tls=TLSConfig(...)`` instead.  ``list_interval`` is the tick of the
    fault-operation list call that watches every wait's operations at once (see
    ``coalesce`` on the waits): ``None`` (the default) adapts it to what each list call
    costs -- 0.2 s to 5 s, listing at most a tenth of what reading every operation once a
    second would cost the gateway, about one list call per ten operations it finds ended,
    longer at once on transient answers or slow lists; a number fixes it (jittered ±20 %).  ``clock`` (a :class:`Clock`:
    ``monotonic()`` and async ``sleep()``) is what every deadline, backoff, retry and
    tick of this client waits by; by default the real one, or the virtual one of
    :func:`sf_progress.set_testing` when that is on as the client is made.

    (A long class on purpose: it is the public surface, one documented method per call,
    each a thin delegate to ``_calls.Calls`` or the wait engine; no logic lives here.)
    """

    def __init__(
        self,
        endpoint: str,
        *,
        session: aiohttp.ClientSession | None = None,
        api_version: str = "3.0",
        server_timeout: int = 60,
        timeout_margin: float | timedelta = 5.0,
        connect_timeout: float | timedelta = 10.0,
        retry: RetryPolicy | None = None,
        max_connections: int = 64,
        user_agent: str | None = None,
        cert: CertArg | None = None,
        verify: VerifyArg = True,
        tls: TLSConfig | None = None,
        token_provider: TokenProvider | None = None,
        list_interval: float | timedelta | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._endpoint = check_endpoint(endpoint)
        self._list_interval = (
            None if list_interval is None else to_seconds(list_interval, "list_interval", allow_zero=False, finite=True)
        )
        self._api_version = check_api_version(api_version)
        server_timeout = check_server_timeout(server_timeout)
        if retry is not None and not isinstance(retry, RetryPolicy):
            raise TypeError(f"retry must be a RetryPolicy, not {type(retry).__name__}")
        self._retry = retry or RetryPolicy()
        self._clock = _config.check_clock(clock)
        tls = tls_config(self._endpoint, tls, cert, verify, secured=token_provider is not None)
        self._transport = Transport.checked(  # the session, timeouts, pool, user agent and token: checked there
            self._endpoint, session, timeout_margin, connect_timeout, self._retry, max_connections, user_agent,
            self._clock, tls, token_provider,
        )
        attach = getattr(token_provider, "attach", None)
        if callable(attach):
            attach(self)
        self._calls = Calls(self._transport, Urls(str(URL(self._endpoint)), self._api_version), server_timeout)
        self._waits = Waits(self._calls, self._transport, self._retry, self._list_interval, self._clock)

    # --- lifecycle -------------------------------------------------------------------

    async def __aenter__(self) -> ProgressClient:
        self._transport.open()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop every batch of this client, then close the session if this client owns it.

        A consumer still iterating a batch gets a ``RuntimeError``.  Safe to call more than once."""
        await self._waits.close()
        await self._transport.aclose()

    @property
    def closed(self) -> bool:
        """True once :meth:`aclose` has been called."""
        return self._transport.closed

    @property
    def endpoint(self) -> str:
        """The gateway URL requests go to (no trailing slash)."""
        return self._endpoint

    @property
    def api_version(self) -> str:
        """The ``api-version`` sent with progress reads."""
        return self._api_version

    @property
    def request_timeout(self) -> float:
        """How long one request may take at most, in seconds (the server timeout plus ``timeout_margin``)."""
        return self._calls.server_timeout + self._transport.margin

    @property
    def clock(self) -> Clock:
        """The clock this client waits by."""
        return self._clock

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        auth = " token" if self._transport.tokens is not None else ""
        return f"<ProgressClient {self._endpoint!r} api_version={self._api_version!r}{auth} {state}>"

    async def get_progress(self, ref: OperationRef, *, timeout: int | None = None) -> FaultProgress:
        """Read the progress of any fault operation (``timeout``: this call's server timeout, int s)."""
        if not isinstance(ref, OperationRef):
            raise TypeError(f"ref must be an OperationRef, not {type(ref).__name__}")
        return await self._calls.read(ref, timeout)

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
        return cast(PartitionRestartProgress, await self._calls.read(ref, timeout))

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
        return cast(PartitionDataLossProgress, await self._calls.read(ref, timeout))

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
        return cast(PartitionQuorumLossProgress, await self._calls.read(ref, timeout))

    async def get_node_transition_progress(
        self, node_name: str | OperationRef, operation_id: str | uuid.UUID | None = None, *, timeout: int | None = None
    ) -> NodeTransitionProgress:
        """Read the progress of a node transition (a ref, or the node name and operation id)."""
        ref = node_ref_of(node_name, operation_id)
        return cast(NodeTransitionProgress, await self._calls.read(ref, timeout))

    async def start(self, target: FaultTarget, *, timeout: int | None = None) -> OperationRef:
        """Start the fault *target* describes, of any kind; return the ``OperationRef`` to follow it.

        Its OperationId is the target's.  Retries of the same start are safe: a retry that
        meets 409 "already exists" means an earlier try landed; a first try that meets it
        raises ``ConflictError``.  A quorum loss whose gateway refuses the spec's
        ``QuorumReplicas`` with 400 ``E_INVALIDARG`` is asked once more with the runtime's
        ``QuorumLossReplicas``.  A node transition without ``node_instance_id`` reads it
        from ``GET /Nodes/{node}`` first (as the official docs tell you to do by hand); a
        retried one answered 400 ``FABRIC_E_NODE_TRANSITION_IN_PROGRESS`` may be our own
        first try: its progress decides.
        """
        return await self._calls.start(target, timeout)

    async def start_partition_restart(
        self,
        service_id: str,
        partition_id: str | uuid.UUID,
        *,
        mode: RestartPartitionMode | str = DEFAULT_RESTART_MODE,
        operation_id: str | uuid.UUID | None = None,
        timeout: int | None = None,
    ) -> OperationRef:
        """``start(FaultTarget.restart(...))``: start a partition restart, return its ref."""
        target = FaultTarget.restart(service_id, partition_id, mode=mode, operation_id=operation_id)
        return await self._calls.start(target, timeout)

    async def start_data_loss(
        self,
        service_id: str,
        partition_id: str | uuid.UUID,
        mode: DataLossMode | str = DEFAULT_DATA_LOSS_MODE,
        *,
        operation_id: str | uuid.UUID | None = None,
        timeout: int | None = None,
    ) -> OperationRef:
        """``start(FaultTarget.data_loss(...))``: start a partition data loss, return its ref."""
        target = FaultTarget.data_loss(service_id, partition_id, mode=mode, operation_id=operation_id)
        return await self._calls.start(target, timeout)

    async def start_quorum_loss(
        self,
        service_id: str,
        partition_id: str | uuid.UUID,
        duration: float | timedelta,
        mode: QuorumLossMode | str = DEFAULT_QUORUM_LOSS_MODE,
        *,
        operation_id: str | uuid.UUID | None = None,
        timeout: int | None = None,
    ) -> OperationRef:
        """``start(FaultTarget.quorum_loss(...))``: a quorum loss of *duration* seconds, return its ref."""
        target = FaultTarget.quorum_loss(
            service_id, partition_id, duration=duration, mode=mode, operation_id=operation_id
        )
        return await self._calls.start(target, timeout)

    async def start_node_transition(
        self,
        node_name: str,
        transition: NodeTransitionType | str,
        *,
        stop_duration: float | timedelta = DEFAULT_STOP_DURATION,
        node_instance_id: int | str | None = None,
        operation_id: str | uuid.UUID | None = None,
        timeout: int | None = None,
    ) -> OperationRef:
        """``start(FaultTarget.node_transition(...))``: stop or start a node, return its ref.

        ``stop_duration`` (seconds, for a stop) must be within the runtime's bounds,
        300..14400 (the docs say at least 600; the runtime takes 300).
        """
        target = FaultTarget.node_transition(
            node_name,
            transition,
            stop_duration=stop_duration,
            node_instance_id=node_instance_id,
            operation_id=operation_id,
        )
        return await self._calls.start(target, timeout)

    async def get_node_instance_id(self, node_name: str, *, timeout: int | None = None) -> str:
        """The node's current ``InstanceId`` (``GET /Nodes/{node}``), as a decimal string."""
        return await self._calls.node_instance_id(node_name, timeout)

    async def cancel_operation(
        self, operation_id: str | uuid.UUID | OperationRef, *, force: bool = False, timeout: int | None = None
    ) -> None:
        """Cancel a running fault operation (``force=True`` only after a graceful cancel)."""
        await self._calls.cancel(operation_id, force, timeout)

    async def list_fault_operations(
        self,
        *,
        type_filter: Iterable[OperationType] | OperationType | None = None,
        state_filter: Iterable[OperationState] | OperationState | None = None,
        timeout: int | None = None,
    ) -> list[FaultOperation]:
        """List fault operations of every kind (at most 10,000), optionally filtered by type and state."""
        return await self._calls.list_operations(type_filter, state_filter, timeout)

    async def get_aad_metadata(self, *, timeout: int | None = None) -> AadMetadata:
        """Read the cluster's Azure AD settings (``GET /$/GetAadMetadata``, sent anonymously)."""
        return await self._calls.aad_metadata(timeout)

    async def get_cluster_version(self, *, timeout: int | None = None) -> str:
        """Return the cluster's code version (``GET /$/GetClusterVersion``)."""
        return await self._calls.cluster_version(timeout)

    # --- waiting --------------------------------------------------------------------------

    # With a ref, on_progress gets the model of the ref's kind, known only at run time: Any.
    @overload
    async def wait_for_completion(
        self,
        service_id: OperationRef,
        /,
        *,
        deadline: float | timedelta | None = 600.0,
        backoff: Backoff | None = None,
        on_progress: ProgressHook[Any] | None = None,
        not_found_grace: float | timedelta = 10.0,
        raise_on_failure: bool = False,
        coalesce: bool | None = None,
        recovery: bool = False,
    ) -> FaultProgress: ...

    @overload
    async def wait_for_completion(
        self,
        service_id: str,
        partition_id: str | uuid.UUID,
        operation_id: str | uuid.UUID,
        *,
        deadline: float | timedelta | None = 600.0,
        backoff: Backoff | None = None,
        on_progress: ProgressHook[Any] | None = None,
        not_found_grace: float | timedelta = 10.0,
        raise_on_failure: bool = False,
        coalesce: bool | None = None,
        recovery: bool = False,
    ) -> PartitionRestartProgress: ...

    async def wait_for_completion(
        self,
        service_id: str | OperationRef,
        partition_id: str | uuid.UUID | None = None,
        operation_id: str | uuid.UUID | None = None,
        *,
        deadline: float | timedelta | None = 600.0,
        backoff: Backoff | None = None,
        on_progress: ProgressHook[Any] | None = None,
        not_found_grace: float | timedelta = 10.0,
        raise_on_failure: bool = False,
        coalesce: bool | None = None,
        recovery: bool = False,
    ) -> FaultProgress:
        """Poll until the operation reaches a terminal state; return that progress.

        Any kind: pass its ``OperationRef`` (the three ids name a partition restart); the
        progress returned is of that kind (``PartitionDataLossProgress``, ...).

        Returns for any terminal state (Completed, Faulted, Cancelled, ForceCancelled);
        with ``raise_on_failure=True`` the last three raise ``OperationNotCompleted`` instead.
        ``deadline`` is the overall budget in seconds (``None`` or ``math.inf``: no
        deadline): the last sleep is clipped so a final poll happens at the deadline, and
        that read may take at most ``LAST_LOOK`` (1 s) more; then ``WaitTimeout``
        (carrying the last progress) is raised.  Transient failures (503/504, resets, cut
        bodies) are retried within the budget; a 404 within ``not_found_grace`` seconds of
        the start of the wait is taken as "not readable yet".  ``on_progress(ref, progress)``,
        sync or async, is called on every state change.  Cancelling the caller leaves
        nothing behind.

        ``coalesce``: with ``True`` the operation is watched through the client's
        fault-operation list (one list call per tick for every wait on this client; one
        progress read when the operation leaves the list); with ``False`` it is read on
        its own backoff; ``None`` (the default) lets the client choose listing whenever it
        is cheaper for the cluster — from three operations waited on at once, unless the
        cluster's list of active operations is too long to pay off.

        ``recovery=True``: once the operation Completed, also wait (within the same deadline)
        until its target recovered, as :meth:`wait_for_recovery` does; a target that has not
        by the deadline raises ``RecoveryTimeout``.
        """
        if isinstance(service_id, OperationRef) and partition_id is None and operation_id is None:
            ref = service_id
        else:
            ref = ref_of(OperationType.PARTITION_RESTART, service_id, partition_id, operation_id)
        cfg = settings(backoff, self._retry, not_found_grace, deadline, recovery)
        hook = single_wait_hook(on_progress, raise_on_failure, coalesce)
        engine = self._waits.engine(cfg, 1, None, hook, coalesce)  # a one-operation batch: the same driver
        return await wait_one(engine, ref, raise_on_failure=raise_on_failure, deadline=cfg.budget)

    async def wait_for_recovery(
        self,
        ref: OperationRef,
        *,
        deadline: float | timedelta | None = 600.0,
        backoff: Backoff | None = None,
        transition: NodeTransitionType | str | None = None,
    ) -> Recovery:
        """Wait until the target of a fault *ref* names is healthy again; return the ``Recovery``.

        A partition (restart, data loss, quorum loss) has recovered when its health is Ok,
        it is Ready (not in quorum loss) and its replicas are all built, at least
        min(target replica set size, up nodes) of them Ready; a node after a start when it
        is Up, not stopped, on a new instance and healthy; after a stop when it is Down
        and stopped.  ``transition`` says which a node transition was (known without it
        for the ones this client started; otherwise a stopped node is taken as a stop).
        Checks are spaced by ``backoff``; at ``deadline`` ``RecoveryTimeout`` is raised,
        carrying the last ``Recovery`` and its ``reason``.  An absent partition or node
        (204) raises ``NotFoundError``.
        """
        if not isinstance(ref, OperationRef):
            raise TypeError(f"ref must be an OperationRef, not {type(ref).__name__}")
        if transition is not None:
            self._calls.remember(ref, NodeTransitionSpec(transition).transition)
        cfg = settings(backoff, self._retry, 0.0, deadline, True)
        return await recover_one(self._waits.engine(cfg, 1, None, None, None), ref, cfg.budget)

    def wait_many(
        self,
        operations: Iterable[OperationLike] | AsyncIterable[OperationLike] | None,
        *,
        concurrency: int = 64,
        max_rate: float | None = None,
        deadline: float | timedelta | None = 600.0,
        backoff: Backoff | None = None,
        not_found_grace: float | timedelta = 10.0,
        on_event: EventHook | None = None,
        coalesce: bool | None = None,
        recovery: bool = False,
    ) -> BatchWaiter:
        """Wait for many operations at once; iterate the result for one ``Outcome`` each.

        ``operations``: ``OperationRef``s or ``(service_id, partition_id, operation_id)``
        tuples, as an iterable (validated here, before anything is sent), an async
        iterable (consumed while the batch runs), or ``None`` (then call ``add()`` and
        ``seal()``).  Each distinct operation yields exactly one outcome, as soon as it
        ends; a failure of one never disturbs the others.  At most ``concurrency``
        requests are in flight (workers are started only as work needs them, up to
        10,000), and at most ``max_rate`` per second for the whole batch (a token bucket
        holding 50 ms of requests, so the rate holds without a burst at the start);
        503/504 answers slow the whole batch down until the cluster recovers.  Each
        operation has its own ``deadline`` from when it was added.  ``on_event`` receives
        ``StateChanged``, ``Retrying`` and ``GaveUp`` events, in order, from a task of its
        own: a slow hook delays other events, never a request; all events are delivered
        before the iteration ends.  Closing the client stops the batch: a consumer still
        iterating gets a ``RuntimeError``.  A failing async iterable's exception is raised
        after the outcomes of the operations it gave.  ``coalesce`` is as for
        :meth:`wait_for_completion`: by default the batch's running operations are watched
        through one list call per tick, shared with every other wait on this client, and
        each is read once when it leaves the list.  ``recovery=True``: an operation that
        Completed is then waited on until its target recovered (or its deadline); its
        ``Outcome.recovery`` says which, and it is yielded only then.
        """
        rate = check_batch_options(concurrency, max_rate, on_event, coalesce)
        cfg = settings(backoff, self._retry, not_found_grace, deadline, recovery)
        return BatchWaiter(self._waits.engine(cfg, concurrency, rate, on_event, coalesce), operations)
