"""``ProgressClient``: the one canonical verb set -- read, start, cancel, list, wait, recover, cluster reads.

Each method is a thin delegate to ``_wire.calls.Calls`` or the wait driver (``_wait``); no
logic lives here.  The blocking client, the command line, the Chaos Toolkit layer and
``FaultRun`` all forward to these methods.  Requests go through
``_wire.transport.Transport``, the single place where aiohttp errors become ours.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterable, Iterable
from datetime import timedelta
from types import TracebackType
from typing import Any, cast

import aiohttp
from yarl import URL

from . import _config
from ._client_reads import ClusterReads
from ._config import Clock, RetryPolicy
from ._facts import Recovery
from ._ids import (
    DEFAULT_API_VERSION,
    DEFAULT_SERVER_TIMEOUT,
    check_api_version,
    check_cluster_name,
    check_endpoint,
    check_server_timeout,
    to_seconds,
)
from ._models import FaultOperation, OperationRef, OperationState, OperationType, as_ref
from ._progress import FaultProgress, PartitionRestartProgress
from ._specs import NodeTransitionSpec, NodeTransitionType
from ._targets import FaultTarget
from ._wait.batch import BatchWaiter
from ._wait.machine import Backoff, EventHook
from ._wait.options import DEFAULT, WaitOptions
from ._wait.waits import ProgressHook, Waits, progress_hook, recover_one, wait_one
from ._wire.auth import TokenProvider
from ._wire.calls import Calls
from ._wire.security import CertArg, TLSConfig, VerifyArg, tls_config
from ._wire.transport import Transport
from ._wire.urls import Urls

__all__ = ["ProgressClient"]

logger = logging.getLogger("sf_progress")


class ProgressClient(ClusterReads):
    """Async client for the Service Fabric fault-operation REST calls, for every fault kind.

    The client owns one pooled ``aiohttp.ClientSession``, created on first use, unless
    ``session`` is given; it closes only a session it owns.  Use it as ``async with
    ProgressClient(...) as client:`` or call :meth:`aclose`.  Every argument is checked
    here, before any request: a bad one is a ``ValueError`` or ``TypeError``.

    Args:
        endpoint: The cluster's HTTP gateway, e.g. ``http://localhost:19080`` or
            ``https://mycluster:19080``.
        session: An ``aiohttp.ClientSession`` to use instead of the client's own (not
            closed by the client).
        api_version: The ``api-version`` of progress reads, ``N.M`` >= 3.0 (start, cancel
            and list always use 6.0).
        server_timeout: The default ``timeout`` query parameter: whole seconds the cluster
            may spend on one call, 1..4294967295 (default 60).
        timeout_margin: Seconds (or a timedelta) the client waits beyond
            ``server_timeout``, so that it never gives up before the server (default 5).
        connect_timeout: Seconds to open a connection (default 10).
        retry: How transient failures of one request are retried (default
            :class:`RetryPolicy`: 5 tries within 60 s).
        max_connections: Pooled connections at most (default 64).
        user_agent: The ``User-Agent`` header (default ``sf_progress/<version>``).
        cert: A client certificate, as ``requests`` takes it: ``"client.pem"``,
            ``("client.crt", "client.key")`` or a ``.pfx``.
        verify: ``True`` (the system's CAs), a CA bundle file or directory, or ``False``
            (no verification, logged).
        tls: The rest of TLS (a key password, pinned thumbprints, plain http with
            credentials), as one :class:`TLSConfig`, instead of ``cert``/``verify``.
        token_provider: A callable (sync or async) returning a bearer token (a ``str`` or
            an object with ``token`` and ``expires_on``), e.g. :class:`AadTokenProvider`.
        list_interval: The tick of the list call that watches every wait's operations at
            once.  ``None`` (the default) adapts it to what each list call costs, 0.2 s to
            5 s ("Waiting" in the docs says how); seconds (or a timedelta) fix it.
        clock: What every deadline, backoff, retry and tick of this client waits by (a
            :class:`Clock`); by default the real one, or the virtual one of
            :func:`set_testing` when that is on as the client is made.
        cluster: The cluster intended: its manifest's ``Name`` must be this before the first
            start, or :class:`ClusterMismatchError` (nothing sent). ``None``: not checked.
        allow: Safety rules to waive (every start is held to the others, read at most once
            per 2 s, and refused with :class:`SafetyError` when one forbids it): a rule's name
            (``upgrade``, ``app-upgrade``, ``repair``, ``chaos``, ``health``, ``node-health``,
            ``seed-quorum``, ``domains``), ``"all"``, or a collection of them.
        forbid_health: The cluster health that forbids faults: ``"Error"`` (the default) or ``"Warning"``.

    Raises:
        ValueError: A bad endpoint, timeout, certificate file or password.
        TypeError: An argument of the wrong type.
    """

    def __init__(
        self,
        endpoint: str,
        *,
        session: aiohttp.ClientSession | None = None,
        api_version: str = DEFAULT_API_VERSION,
        server_timeout: int = DEFAULT_SERVER_TIMEOUT,
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
        cluster: str | None = None,
        allow: str | Iterable[str] | None = None,
        forbid_health: str = "Error",
    ) -> None:
        self._endpoint = check_endpoint(endpoint)
        interval = None if list_interval is None else to_seconds(list_interval, "list_interval", allow_zero=False,
                                                                  finite=True)
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
        urls = Urls(str(URL(self._endpoint)), self._api_version)
        self._calls = Calls(self._transport, urls, server_timeout, allow, forbid_health)
        self._partition_sizes = {}
        self._waits = Waits(self._calls, self._transport, self._retry, interval, self._clock)
        self._cluster = check_cluster_name(cluster)
        self._cluster_seen = False  # its manifest's name was read and matched

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
    def allow(self) -> frozenset[str]:
        """The safety rules this client waives (their names)."""
        return frozenset(rule.value for rule in self._calls.guard.waived)

    @property
    def cluster(self) -> str | None:
        """The cluster intended (``cluster=``), or ``None``."""
        return self._cluster

    @property
    def clock(self) -> Clock:
        """The clock this client waits by."""
        return self._clock

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        auth = " token" if self._transport.tokens is not None else ""
        return f"<ProgressClient {self._endpoint!r} api_version={self._api_version!r}{auth} {state}>"

    async def get_progress(self, ref: OperationRef, *, timeout: int | None = None) -> FaultProgress:
        """Read the progress of any fault operation, of the kind its ref names.

        Args:
            ref: The operation.
            timeout: This call's server timeout, whole seconds (default: ``server_timeout``).

        Returns:
            The progress model of the ref's kind (:class:`PartitionRestartProgress`, ...).

        Raises:
            NotFoundError: The cluster does not know the operation (never started, or purged).
            OperationKindError: The operation is of another kind than this read.
            FabricError: Any other error answer, after retrying transient ones.
            TransportError: The gateway could not be reached or cut the answer.
            ValueError: A bad id or timeout (nothing is sent).
        """
        return await self._calls.read(as_ref(ref), timeout)

    async def get_restart_progress(
        self,
        service_id: str,
        partition_id: str | uuid.UUID,
        operation_id: str | uuid.UUID,
        *,
        timeout: int | None = None,
    ) -> PartitionRestartProgress:
        """Read the progress of a partition restart by its three ids (Get Partition Restart Progress).

        The one named convenience of :meth:`get_progress`: ``get_progress(OperationRef.restart(service_id,
        partition_id, operation_id))`` is the same call.

        Args:
            service_id: The service, as ``fabric:/app/svc``, ``app/svc`` or ``app~svc``.
            partition_id: The partition's GUID (a string or :class:`uuid.UUID`).
            operation_id: The operation's GUID.
            timeout: This call's server timeout, whole seconds (default: ``server_timeout``).

        Returns:
            Its :class:`PartitionRestartProgress`: the state and, once Completed or Faulted, the result.

        Raises:
            NotFoundError: The cluster does not know the operation (never started, or purged).
            OperationKindError: The operation is of another kind than this read.
            FabricError: Any other error answer, after retrying transient ones.
            TransportError: The gateway could not be reached or cut the answer.
            ValueError: A bad id or timeout (nothing is sent).
        """
        ref = OperationRef.restart(service_id, partition_id, operation_id)
        return cast(PartitionRestartProgress, await self._calls.read(ref, timeout))

    async def start(self, target: FaultTarget, *, timeout: int | None = None) -> OperationRef:
        """Start the fault *target* describes, of any kind.

        Its OperationId is the target's.  Retries of the same start are safe: a retry that
        meets 409 "already exists" means an earlier try landed; a first try that meets it
        raises :class:`ConflictError`.  A quorum loss whose gateway refuses the spec's
        ``QuorumReplicas`` with 400 ``E_INVALIDARG`` is asked once more with the runtime's
        ``QuorumLossReplicas``.  A node transition without ``node_instance_id`` reads it
        from ``GET /Nodes/{node}`` first (as the official docs tell you to do by hand); a
        retried one answered 400 ``FABRIC_E_NODE_TRANSITION_IN_PROGRESS`` may be our own
        first try: its progress decides.

        Args:
            target: What to fault and how (:class:`FaultTarget`).
            timeout: This call's server timeout, whole seconds (default: ``server_timeout``).

        Returns:
            The :class:`OperationRef` to follow it (``target.ref``).

        Raises:
            ConflictError: A first try answered 409: the OperationId is already used.
            FabricError: The cluster refused the start (a 400 names the bad parameter).
            TransportError: The gateway could not be reached; the start may or may not have landed
                (waiting on the ref tells).
            ValueError: A bad parameter (nothing is sent).
            ClusterMismatchError: The client names its ``cluster`` and the gateway serves another
                (checked once, before the first start; nothing is sent).
        """
        if self._cluster is not None and not self._cluster_seen:
            await self.expect_cluster(self._cluster)
            self._cluster_seen = True
        return await self._calls.start(target, timeout)

    async def cancel_operation(
        self, operation_id: str | uuid.UUID | OperationRef, *, force: bool = False, timeout: int | None = None
    ) -> None:
        """Cancel a running fault operation (``POST /Faults/$/Cancel``).

        Args:
            operation_id: The operation's GUID, or its :class:`OperationRef`.
            force: Force the cancel (allowed only after a graceful cancel of the same operation).
            timeout: This call's server timeout, whole seconds (default: ``server_timeout``).

        Raises:
            NotFoundError: The cluster does not know the operation.
            FabricError: The cluster refused the cancel (a forced cancel first, say).
        """
        await self._calls.cancel(operation_id, force, timeout)

    async def list_fault_operations(
        self,
        *,
        type_filter: Iterable[OperationType] | OperationType | None = None,
        state_filter: Iterable[OperationState] | OperationState | None = None,
        timeout: int | None = None,
    ) -> list[FaultOperation]:
        """List fault operations of every kind (``GET /Faults/``; at most 10,000, without paging).

        Args:
            type_filter: Only these kinds (default: every kind).
            state_filter: Only these states (default: every state).
            timeout: This call's server timeout, whole seconds (default: ``server_timeout``).

        Returns:
            One :class:`FaultOperation` per listed operation.  The service's filters are
            over-inclusive: look at each item's ``state`` and ``type``.

        Raises:
            FabricError: An error answer (a gateway without the call answers 400/404/405).
            ResponseFormatError: The answer is not a list of operations.
        """
        return await self._calls.list_operations(type_filter, state_filter, timeout)

    # --- waiting --------------------------------------------------------------------------

    async def wait_for_completion(
        self,
        ref: OperationRef,
        *,
        deadline: float | timedelta | None = DEFAULT.deadline,
        backoff: Backoff | None = DEFAULT.backoff,
        not_found_grace: float | timedelta = DEFAULT.not_found_grace,
        coalesce: bool | None = DEFAULT.coalesce,
        recovery: bool = DEFAULT.recovery,
        raise_on_failure: bool = False,
        on_progress: ProgressHook[Any] | None = None,
    ) -> FaultProgress:
        """Wait until a fault operation ends; return its final progress.

        Returns for any terminal state (Completed, Faulted, Cancelled, ForceCancelled); with
        ``raise_on_failure=True`` the last three raise :class:`OperationNotCompleted` instead.
        The last sleep is clipped so a final poll happens at the deadline, and that read may
        take at most 1 s more.  Transient failures (503/504, resets, cut bodies) are retried
        within the budget.  Cancelling the caller leaves nothing behind.  The wait options
        are :class:`WaitOptions`'s (defaults and checks written there once).

        Args:
            ref: The operation, of any kind.
            deadline: The overall budget, seconds or a timedelta (``None``: none; default 600).
            backoff: How reads are spaced (``None``: the client chooses; see :class:`WaitOptions`).
            not_found_grace: Seconds during which a 404 means "not readable yet" (default 10).
            coalesce: Watch through the client's list (``True``), read alone (``False``), or
                whichever costs the cluster less (``None``, the default).
            recovery: Once Completed, also wait (within the deadline) until the target recovered.
            raise_on_failure: Raise :class:`OperationNotCompleted` for Faulted and Cancelled.
            on_progress: Called as ``on_progress(ref, progress)`` (sync or async) on every state
                change, from a task of its own; what it raises is logged.

        Returns:
            The final progress, of the ref's kind.

        Raises:
            WaitTimeout: The deadline passed (``last_progress`` holds what was last seen).
            RecoveryTimeout: With ``recovery=True``, the target had not recovered by the deadline.
            NotFoundError: Every answer was a 404, past the grace period.
            OperationNotCompleted: With ``raise_on_failure=True``, it ended Faulted or Cancelled.
            FabricError: A non-transient error answer (401, 403, 400, ...).
            ValueError: A bad option (nothing is sent).
            TypeError: *ref* is not an :class:`OperationRef`, or an option of the wrong type.
        """
        ref = as_ref(ref)
        hook = progress_hook(on_progress, raise_on_failure)
        options = WaitOptions(
            deadline=deadline,
            backoff=backoff,
            not_found_grace=not_found_grace,
            coalesce=coalesce,
            recovery=recovery,
            concurrency=1,
            on_event=hook,
        )
        engine = self._waits.engine(options)  # a one-operation batch: the same driver
        return await wait_one(engine, ref, raise_on_failure=raise_on_failure, deadline=options.deadline)

    async def wait_for_recovery(
        self,
        ref: OperationRef,
        *,
        deadline: float | timedelta | None = DEFAULT.deadline,
        backoff: Backoff | None = DEFAULT.backoff,
        transition: NodeTransitionType | str | None = None,
    ) -> Recovery:
        """Wait until the target of a fault is healthy again.

        A partition (restart, data loss, quorum loss) has recovered when its health is Ok, it
        is Ready (not in quorum loss) and its replicas are all built, at least min(target
        replica set size, up nodes) of them Ready; a node after a start when it is Up, not
        stopped, on a new instance and healthy; after a stop when it is Down and stopped.
        Checks read health first, the rest only once it is Ok.

        Args:
            ref: The fault whose target to watch.
            deadline: Seconds (or a timedelta) to wait at most (``None``: none; default 600).
            backoff: How checks are spaced (default :class:`Backoff`).
            transition: For a node transition, whether it was a ``"stop"`` or a ``"start"``
                (known without it for the ones this client started; otherwise a stopped node is
                taken as a stop).

        Returns:
            The :class:`Recovery`: ``recovered``, ``elapsed`` seconds, the last facts seen.

        Raises:
            RecoveryTimeout: The deadline passed first (``recovery`` holds the last verdict and
                its ``reason``).
            NotFoundError: The cluster does not know the partition or node (204).
            TypeError: *ref* is not an :class:`OperationRef`.
        """
        ref = as_ref(ref)
        options = WaitOptions(deadline=deadline, backoff=backoff, not_found_grace=0.0, recovery=True, concurrency=1)
        if transition is not None:
            self._calls.remember(ref, NodeTransitionSpec(transition).transition)
        return await recover_one(self._waits.engine(options), ref, options.deadline)

    def wait_many(
        self,
        operations: Iterable[OperationRef] | AsyncIterable[OperationRef] | None,
        *,
        deadline: float | timedelta | None = DEFAULT.deadline,
        backoff: Backoff | None = DEFAULT.backoff,
        not_found_grace: float | timedelta = DEFAULT.not_found_grace,
        coalesce: bool | None = DEFAULT.coalesce,
        recovery: bool = DEFAULT.recovery,
        concurrency: int = DEFAULT.concurrency,
        max_rate: float | None = DEFAULT.max_rate,
        on_event: EventHook | None = DEFAULT.on_event,
    ) -> BatchWaiter:
        """Wait for many operations at once; iterate the result for one :class:`Outcome` each.

        Each distinct operation yields exactly one outcome, as soon as it ends; a failure of
        one never disturbs the others.  503/504 answers slow the whole batch down until the
        cluster recovers.  Closing the client stops the batch: a consumer still iterating gets
        a :class:`RuntimeError`.  A failing async iterable's exception is raised after the
        outcomes of the operations it gave.  The options are :class:`WaitOptions`'s.

        Args:
            operations: :class:`OperationRef` objects, as an iterable (validated here, before
                anything is sent), an async iterable (consumed while the batch runs), or ``None``
                (then call :meth:`BatchWaiter.add` and :meth:`BatchWaiter.seal`).
            deadline: Each operation's budget from when it was added (``None``: none; default 600).
            backoff: How reads are spaced (``None``: the client chooses; see :class:`WaitOptions`).
            not_found_grace: Seconds during which a 404 means "not readable yet" (default 10).
            coalesce: As for :meth:`wait_for_completion`.
            recovery: Yield a Completed operation only once its target recovered (or its
                deadline passed); ``Outcome.recovery`` says which.
            concurrency: Requests in flight at most, 1..10,000 (default 64).
            max_rate: Requests per second at most for the whole batch; ``None``: unpaced.
            on_event: Receives :class:`StateChanged`, :class:`Retrying` and :class:`GaveUp`
                events in order, all before the iteration ends.

        Returns:
            The :class:`BatchWaiter`: use it as ``async with client.wait_many(...) as batch:``
            and iterate ``batch``.

        Raises:
            ValueError: A bad option or operation (nothing is sent).
            TypeError: An item that is not an :class:`OperationRef`.
        """
        options = WaitOptions(
            deadline=deadline,
            backoff=backoff,
            not_found_grace=not_found_grace,
            coalesce=coalesce,
            recovery=recovery,
            concurrency=concurrency,
            max_rate=max_rate,
            on_event=on_event,
        )
        return BatchWaiter(self._waits.engine(options), operations)
