"""``ProgressClient``: the session, the URLs, and the one request path.

This is the only module that touches aiohttp's request API, and the single place where
aiohttp (and ``json``) errors become sf_progress errors.
"""

from __future__ import annotations

import json
import logging
import math
import time
import uuid
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable
from datetime import timedelta
from types import TracebackType
from typing import Any, TypeVar, overload

import aiohttp
import tenacity as _t
from yarl import URL

from . import _config
from ._backoff import retry_after_seconds
from ._batch import BatchWaiter, OperationLike, _Engine
from ._config import RetryPolicy
from ._errors import (
    ConflictError,
    OperationFailed,
    ResponseFormatError,
    SFProgressError,
    TransportError,
    TransportTimeout,
    excerpt,
    fabric_error_class,
)
from ._errors import FabricError as _FabricError
from ._ids import (
    check_api_version,
    check_endpoint,
    check_server_timeout,
    to_guid,
    to_seconds,
)
from ._models import (
    FaultOperation,
    OperationRef,
    OperationState,
    OperationType,
    PartitionRestartProgress,
    RestartPartitionMode,
    filter_mask,
    parse_operation_list,
    parse_progress,
)
from ._version import __version__
from ._waiting import (
    Backoff,
    EventHook,
    Outcome,
    OutcomeKind,
    Retrying,
    StateChanged,
    _Tracker,
    call_hook,
    first_due,
    settings,
    step,
)

__all__ = ["ProgressClient"]

logger = logging.getLogger("sf_progress")

T = TypeVar("T")
_Parse = Callable[[Any, bytes, "OperationRef | None"], T]
ProgressHook = Callable[[OperationRef, PartitionRestartProgress], Awaitable[None] | None]
CONTROL_API_VERSION = "6.0"  # the 9.1 spec allows only 6.0 on the Faults control calls
ALREADY_EXISTS = "FABRIC_E_TEST_COMMAND_OPERATION_ID_ALREADY_EXISTS"
_STANDARD_PHRASES = frozenset(
    phrase.lower()
    for phrase in (
        "OK",
        "Bad Request",
        "Unauthorized",
        "Forbidden",
        "Not Found",
        "Conflict",
        "Internal Server Error",
        "Bad Gateway",
        "Service Unavailable",
        "Gateway Timeout",
        "Too Many Requests",
        "Request Timeout",
        "Method Not Allowed",
        "Not Implemented",
    )
)


def _is_transient(exc: BaseException) -> bool:
    return isinstance(exc, SFProgressError) and exc.transient


def _error_from_answer(
    status: int, reason: str, retry_after: str | None, body: bytes, ref: OperationRef | None
) -> _FabricError:
    """Build the ``FabricError`` for a non-2xx answer, whatever its body holds."""
    code: str | None = None
    message = ""
    if body:
        try:
            data = json.loads(body)
        except ValueError:
            data = None
        error = data.get("Error") if isinstance(data, dict) else None
        if isinstance(error, dict):
            raw_code, raw_message = error.get("Code"), error.get("Message")
            code = raw_code if isinstance(raw_code, str) and raw_code else None
            message = raw_message if isinstance(raw_message, str) else ""
        elif data is None:
            message = excerpt(body)
    # The gateway's reason phrase is the error code itself ("504 FABRIC_E_TIMEOUT").
    if code is None and reason and " " not in reason.strip() and reason.lower() not in _STANDARD_PHRASES:
        code = reason.strip()
    return fabric_error_class(status)(
        status=status,
        code=code,
        message=message or reason,
        reason=reason,
        retry_after=retry_after_seconds(retry_after, now=time.time()),
        ref=ref,
    )


def _truncated(body: bytes) -> bool:
    """Whether undecodable JSON looks cut short (worth a retry) rather than wrong.

    An empty body, or one that opens a JSON object/array but never closes it, is taken
    as truncated; an HTML page or other text is not.
    """
    text = body.strip()
    if not text:
        return True
    return text[:1] in (b"{", b"[") and text[-1:] not in (b"}", b"]")


class _Stop:
    def __init__(self, attempts: int, budget: float | None) -> None:
        self.attempts, self.budget = attempts, budget

    def __call__(self, state: _t.RetryCallState) -> bool:
        if state.attempt_number >= self.attempts:
            return True
        elapsed = state.seconds_since_start or 0.0
        return self.budget is not None and elapsed >= self.budget


class _Wait:
    def __init__(self, policy: RetryPolicy) -> None:
        self.policy = policy

    def __call__(self, state: _t.RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome is not None else None
        retry_after = exc.retry_after if isinstance(exc, _FabricError) else None
        delay = self.policy.delay(state.attempt_number - 1, retry_after)
        if self.policy.timeout is not None:
            delay = min(delay, max(0.0, self.policy.timeout - (state.seconds_since_start or 0.0)))
        return delay


def _log_retry(state: _t.RetryCallState) -> None:
    if logger.isEnabledFor(logging.INFO):
        exc = state.outcome.exception() if state.outcome is not None else None
        sleep = state.next_action.sleep if state.next_action is not None else 0.0
        logger.info("attempt %d failed (%s); retrying in %.2fs", state.attempt_number, exc, sleep)


class ProgressClient:
    """Async client for the Service Fabric fault-operation REST calls.

    ``endpoint`` is the cluster's HTTP gateway, e.g. ``http://localhost:19080``.  The
    client owns one pooled ``aiohttp.ClientSession`` (at most ``max_connections``
    connections), created on first use, unless ``session`` is given; it closes only a
    session it owns.  Use it as ``async with ProgressClient(...) as client:`` or call
    :meth:`aclose`.

    ``server_timeout`` is the default ``timeout`` query parameter (seconds the cluster
    may spend); each request's client-side timeout is that plus ``timeout_margin``, so
    the client never gives up before the server does.  ``retry`` governs retries of
    transient failures of one request.  ``clock`` (monotonic seconds) and ``sleep`` (an
    async function) replace the ones waits and retries use, for deterministic tests; by
    default they follow :func:`sf_progress.set_testing`.
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
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
    ) -> None:
        self._endpoint = check_endpoint(endpoint)
        if session is not None and not isinstance(session, aiohttp.ClientSession):
            raise TypeError(f"session must be an aiohttp.ClientSession, not {type(session).__name__}")
        self._api_version = check_api_version(api_version)
        self._server_timeout = check_server_timeout(server_timeout)
        self._margin = to_seconds(timeout_margin, "timeout_margin", allow_zero=False)
        self._connect_timeout = to_seconds(connect_timeout, "connect_timeout", allow_zero=False)
        if retry is not None and not isinstance(retry, RetryPolicy):
            raise TypeError(f"retry must be a RetryPolicy, not {type(retry).__name__}")
        self._retry = retry or RetryPolicy()
        if type(max_connections) is not int or max_connections < 1:
            raise ValueError(f"max_connections must be an int >= 1, got {max_connections!r}")
        self._max_connections = max_connections
        self._session = session
        self._owns_session = session is None
        self._closed = False
        self._base = str(URL(self._endpoint))
        self._headers = {
            "Accept": "application/json",
            "User-Agent": user_agent or f"sf_progress/{__version__} aiohttp/{aiohttp.__version__}",
        }
        self._progress_query = f"GetRestartProgress?api-version={self._api_version}&OperationId="
        self._timeouts: dict[int, aiohttp.ClientTimeout] = {}
        self._clock = clock
        self._sleep = sleep

    # --- lifecycle -------------------------------------------------------------------

    async def __aenter__(self) -> ProgressClient:
        self._open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the session if this client owns it.  Safe to call more than once."""
        if self._closed:
            return
        self._closed = True
        session, self._session = self._session, None
        if self._owns_session and session is not None:
            await session.close()

    @property
    def closed(self) -> bool:
        """True once :meth:`aclose` has been called."""
        return self._closed

    @property
    def endpoint(self) -> str:
        """The gateway URL requests go to (no trailing slash)."""
        return self._endpoint

    @property
    def api_version(self) -> str:
        """The ``api-version`` sent with progress reads."""
        return self._api_version

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<ProgressClient {self._endpoint!r} api_version={self._api_version!r} {state}>"

    def _open(self) -> aiohttp.ClientSession:
        if self._closed:
            raise RuntimeError("this ProgressClient is closed; create a new one")
        session = self._session
        if session is None:
            limit = self._max_connections
            connector = aiohttp.TCPConnector(limit=limit, limit_per_host=limit)
            session = self._session = aiohttp.ClientSession(connector=connector)
        return session

    def _timeout(self, server_timeout: int) -> aiohttp.ClientTimeout:
        timeout = self._timeouts.get(server_timeout)
        if timeout is None:
            timeout = aiohttp.ClientTimeout(
                total=server_timeout + self._margin, sock_connect=self._connect_timeout
            )
            if len(self._timeouts) < 64:
                self._timeouts[server_timeout] = timeout
        return timeout

    # --- the one request path ----------------------------------------------------------

    async def _attempt(
        self, method: str, url: URL, server_timeout: int, ref: OperationRef | None, parse: _Parse[T]
    ) -> T:
        """Send one request; return the parsed answer; raise only sf_progress errors."""
        session = self._open()
        try:
            async with session.request(
                method,
                url,
                headers=self._headers,
                timeout=self._timeout(server_timeout),
                allow_redirects=False,
            ) as response:
                body = await response.read()
                status = response.status
                if status >= 300 or status < 200:
                    raise _error_from_answer(
                        status, response.reason or "", response.headers.get("Retry-After"), body, ref
                    )
        except TimeoutError as exc:
            raise TransportTimeout(
                f"no answer from {self._endpoint} within {server_timeout + self._margin:g}s", ref=ref
            ) from exc
        except aiohttp.ClientError as exc:
            raise TransportError(f"{method} {self._endpoint}: {type(exc).__name__}: {exc}", ref=ref) from exc
        except OSError as exc:
            raise TransportError(f"{method} {self._endpoint}: {exc}", ref=ref) from exc
        if parse is _ignore_body:
            return parse(None, body, ref)
        try:
            data = json.loads(body)
        except ValueError as exc:
            raise ResponseFormatError(
                f"HTTP {status} answer is not valid JSON ({exc})",
                body=body,
                truncated=_truncated(body),
                ref=ref,
            ) from None
        return parse(data, body, ref)

    async def _call(
        self,
        method: str,
        url: URL,
        server_timeout: int,
        ref: OperationRef | None,
        parse: _Parse[T],
        *,
        conflict_means_done: bool = False,
    ) -> T:
        """One request with transient retries.  The success path builds no retry machinery."""
        try:
            return await self._attempt(method, url, server_timeout, ref, parse)
        except SFProgressError as exc:
            if not exc.transient:
                raise
            first: SFProgressError | None = exc

        async def attempt() -> T:
            nonlocal first
            if first is not None:  # replay the first failure so tenacity counts it
                failure, first = first, None
                raise failure
            try:
                return await self._attempt(method, url, server_timeout, ref, parse)
            except ConflictError as exc:
                # A retried start that meets "already exists" means the earlier try landed.
                if conflict_means_done and exc.code == ALREADY_EXISTS:
                    return parse(None, b"", ref)
                raise

        return await self._retrying()(attempt)

    def _retrying(self) -> _t.AsyncRetrying:
        policy = self._retry
        attempts = _config.testing_attempts() or policy.attempts
        return _t.AsyncRetrying(
            sleep=self._sleep or _config.sleep,
            stop=_Stop(attempts, policy.timeout),
            wait=_Wait(policy),
            retry=_t.retry_if_exception(_is_transient),
            before_sleep=_log_retry,
            reraise=True,
        )

    def _server_timeout_of(self, timeout: int | None) -> int:
        return self._server_timeout if timeout is None else check_server_timeout(timeout)

    # --- the calls -------------------------------------------------------------------------

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
        ref = _ref_of(service_id, partition_id, operation_id)
        server_timeout = self._server_timeout if timeout is None else check_server_timeout(timeout)
        url = URL(
            f"{self._base}{ref.path}{self._progress_query}{ref.operation_id}&timeout={server_timeout}",
            encoded=True,
        )
        return await self._call("GET", url, server_timeout, ref, parse_progress)

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
        ref = OperationRef(service_id, partition_id, uuid.uuid4() if operation_id is None else operation_id)
        try:
            mode = RestartPartitionMode(mode)
        except ValueError:
            choices = ", ".join(m.value for m in RestartPartitionMode)
            raise ValueError(f"mode must be one of {choices}, got {mode!r}") from None
        server_timeout = self._server_timeout_of(timeout)
        url = URL(
            f"{self._base}{ref.path}StartRestart?api-version={CONTROL_API_VERSION}"
            f"&OperationId={ref.operation_id}&RestartPartitionMode={mode.value}&timeout={server_timeout}",
            encoded=True,
        )
        await self._call("POST", url, server_timeout, ref, _ignore_body, conflict_means_done=True)
        return ref

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
        url = URL(
            f"{self._base}/Faults/$/Cancel?api-version={CONTROL_API_VERSION}&OperationId={op_id}"
            f"&Force={'true' if force else 'false'}&timeout={server_timeout}",
            encoded=True,
        )
        await self._call("POST", url, server_timeout, ref, _ignore_body)

    async def list_fault_operations(
        self,
        *,
        type_filter: Iterable[OperationType] | OperationType | None = None,
        state_filter: Iterable[OperationState] | OperationState | None = None,
        timeout: int | None = None,
    ) -> list[FaultOperation]:
        """List fault operations (at most 10,000), optionally filtered by type and state."""
        types = filter_mask(type_filter, "type_filter")
        states = filter_mask(state_filter, "state_filter")
        server_timeout = self._server_timeout_of(timeout)
        url = URL(
            f"{self._base}/Faults/?api-version={CONTROL_API_VERSION}&TypeFilter={types}"
            f"&StateFilter={states}&timeout={server_timeout}",
            encoded=True,
        )
        return await self._call("GET", url, server_timeout, None, parse_operation_list)

    # --- waiting --------------------------------------------------------------------------

    def _now(self) -> float:
        return (self._clock or _config.monotonic)()

    async def _poll_once(self, ref: OperationRef, remaining: float) -> PartitionRestartProgress:
        """One progress read without the per-request retry loop (the waits own retries).

        The server timeout is clipped to the time left, so a poll never runs far past a
        wait's deadline.
        """
        server_timeout = max(1, min(self._server_timeout, math.ceil(remaining)))
        url = URL(
            f"{self._base}{ref.path}{self._progress_query}{ref.operation_id}&timeout={server_timeout}",
            encoded=True,
        )
        return await self._attempt("GET", url, server_timeout, ref, parse_progress)

    async def wait_for_completion(
        self,
        service_id: str | OperationRef,
        partition_id: str | uuid.UUID | None = None,
        operation_id: str | uuid.UUID | None = None,
        *,
        deadline: float | timedelta = 600.0,
        backoff: Backoff | None = None,
        on_progress: ProgressHook | None = None,
        not_found_grace: float | timedelta = 10.0,
        raise_on_failure: bool = False,
    ) -> PartitionRestartProgress:
        """Poll until the operation reaches a terminal state; return that progress.

        Returns for any terminal state (Completed, Faulted, Cancelled, ForceCancelled);
        with ``raise_on_failure=True`` the last three raise ``OperationFailed`` instead.
        ``deadline`` is the overall budget in seconds: the last sleep is clipped so a final
        poll happens at the deadline, then ``WaitTimeout`` (carrying the last progress) is
        raised.  Transient failures (503/504, resets, cut bodies) are retried within the
        budget; a 404 within ``not_found_grace`` seconds of the start of the wait is taken
        as "not readable yet".  ``on_progress(ref, progress)``, sync or async, is called
        on every state change.  Cancelling the caller leaves nothing behind.
        """
        ref = _ref_of(service_id, partition_id, operation_id)
        cfg = settings(backoff, self._retry, not_found_grace, deadline)
        if type(raise_on_failure) is not bool:
            raise TypeError("raise_on_failure must be a bool")
        self._open()
        sleep = self._sleep or _config.sleep
        tracker = _Tracker(ref, self._now(), cfg.budget)
        due = first_due(tracker, cfg)
        while True:
            await sleep(max(0.0, due - self._now()))
            result: PartitionRestartProgress | SFProgressError
            try:
                result = await self._poll_once(ref, tracker.deadline - self._now())
            except SFProgressError as exc:
                result = exc
            nxt, event = step(tracker, result, self._now(), cfg)
            if isinstance(event, StateChanged):
                await call_hook(on_progress, ref, event.progress)
            elif isinstance(event, Retrying):
                logger.info("polling %s failed (%s); retrying in %.2fs", ref, event.error, event.delay)
            if not isinstance(nxt, Outcome):
                due = nxt
                continue
            if nxt.error is not None:
                raise nxt.error
            progress = nxt.progress
            assert progress is not None
            if raise_on_failure and nxt.kind is not OutcomeKind.COMPLETED:
                raise OperationFailed(f"operation ended {progress.state}", ref=ref, progress=progress)
            return progress

    def wait_many(
        self,
        operations: Iterable[OperationLike] | AsyncIterable[OperationLike] | None,
        *,
        concurrency: int = 64,
        max_rate: float | None = None,
        deadline: float | timedelta = 600.0,
        backoff: Backoff | None = None,
        not_found_grace: float | timedelta = 10.0,
        on_event: EventHook | None = None,
    ) -> BatchWaiter:
        """Wait for many operations at once; iterate the result for one ``Outcome`` each.

        ``operations``: ``OperationRef``s or ``(service_id, partition_id, operation_id)``
        tuples, as an iterable (validated here, before anything is sent), an async
        iterable (consumed while the batch runs), or ``None`` (then call ``add()`` and
        ``seal()``).  Each distinct operation yields exactly one outcome, as soon as it
        ends; a failure of one never disturbs the others.  At most ``concurrency``
        requests are in flight, and at most ``max_rate`` per second for the whole batch;
        503/504 answers slow the whole batch down until the cluster recovers.  Each
        operation has its own ``deadline`` from when it was added.  ``on_event`` receives
        ``StateChanged``, ``Retrying`` and ``GaveUp`` events.
        """
        if type(concurrency) is not int or concurrency < 1:
            raise ValueError(f"concurrency must be an int >= 1, got {concurrency!r}")
        rate: object = max_rate
        if rate is not None and (type(rate) not in (int, float) or not rate > 0):  # type: ignore[operator]
            raise ValueError(f"max_rate must be a number > 0 or None, got {max_rate!r}")
        self._open()
        cfg = settings(backoff, self._retry, not_found_grace, deadline)
        engine = _Engine(
            self,
            cfg,
            concurrency,
            None if max_rate is None else float(max_rate),
            on_event,
            self._now,
            self._sleep or _config.sleep,
        )
        return BatchWaiter(engine, operations)

    async def get_cluster_version(self, *, timeout: int | None = None) -> str:
        """Return the cluster's code version (``GET /$/GetClusterVersion``)."""
        server_timeout = self._server_timeout_of(timeout)
        url = URL(
            f"{self._base}/$/GetClusterVersion?api-version={CONTROL_API_VERSION}&timeout={server_timeout}",
            encoded=True,
        )
        return await self._call("GET", url, server_timeout, None, _parse_version)


def _ignore_body(data: object, body: bytes, ref: OperationRef | None) -> None:
    """The parse step of calls whose 2xx answer has no body worth reading."""


def _parse_version(data: object, body: bytes, ref: OperationRef | None) -> str:
    version = data.get("Version") if isinstance(data, dict) else None
    if not isinstance(version, str):
        raise ResponseFormatError("expected {'Version': <string>}", body=body, ref=ref)
    return version


def _ref_of(
    service_id: str | OperationRef,
    partition_id: str | uuid.UUID | None,
    operation_id: str | uuid.UUID | None,
) -> OperationRef:
    if isinstance(service_id, OperationRef):
        if partition_id is not None or operation_id is not None:
            raise TypeError("pass either an OperationRef or the three ids, not both")
        return service_id
    if partition_id is None or operation_id is None:
        raise TypeError("partition_id and operation_id are required")
    return OperationRef(service_id, partition_id, operation_id)
