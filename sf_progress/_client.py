"""``ProgressClient``: the public calls, their arguments and URLs, and the two waits.

Requests go through ``_transport.Transport``, the single place where aiohttp errors
become sf_progress errors.
"""

from __future__ import annotations

import logging
import math
import uuid
import weakref
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable
from datetime import timedelta
from types import TracebackType
from typing import Any, overload

import aiohttp
from yarl import URL

from . import _config, _telemetry
from ._auth import TokenProvider
from ._batch import BatchWaiter
from ._calls import FaultCalls, ref_of
from ._config import RetryPolicy
from ._engine import MAX_CONCURRENCY, OperationLike, _Abort, _Engine
from ._errors import OperationNotCompleted
from ._ids import check_api_version, check_endpoint, check_header_value, check_server_timeout, to_seconds
from ._kinds import KINDS, Urls
from ._models import (
    FaultOperation,
    FaultProgress,
    OperationRef,
    OperationState,
    OperationType,
    PartitionRestartProgress,
)
from ._observer import Observer
from ._parsing import json_body, parse_active_list
from ._security import CertArg, TLSConfig, VerifyArg
from ._transport import LAST_LOOK, MAX_LIST_BODY, Transport
from ._waiting import (
    Backoff,
    Event,
    EventHook,
    Outcome,
    OutcomeKind,
    StateChanged,
    _Settings,
    settings,
)

__all__ = ["ProgressClient"]

logger = logging.getLogger("sf_progress")

#: ``on_progress(ref, progress)``: *progress* is the model of the ref's kind (``PartitionRestartProgress``, ...).
ProgressHook = Callable[[OperationRef, Any], Awaitable[None] | None]
# Running | RollingBack: the list then scans only the service's table of active operations.
_ACTIVE_STATES = OperationState.RUNNING.filter_bit | OperationState.ROLLING_BACK.filter_bit
_parse_list = json_body(parse_active_list)


class ProgressClient(FaultCalls):
    """Async client for the Service Fabric fault-operation REST calls, for every fault kind.

    ``endpoint`` is the cluster's HTTP gateway, e.g. ``http://localhost:19080``.  The
    client owns one pooled ``aiohttp.ClientSession`` (at most ``max_connections``
    connections), created on first use, unless ``session`` is given; it closes only a
    session it owns.  Use it as ``async with ProgressClient(...) as client:`` or call
    :meth:`aclose`.

    ``server_timeout`` is the default ``timeout`` query parameter (seconds the cluster
    may spend); each request's client-side timeout is that plus ``timeout_margin``, so
    the client never gives up before the server does.  ``retry`` governs retries of
    transient failures of one request.  ``list_interval`` is the tick of the
    fault-operation list call that watches every wait's operations at once (about 1 s,
    jittered by ±20 %; see ``coalesce`` on the waits).  ``clock`` (monotonic seconds) and
    ``sleep`` (an async function) replace the ones waits and retries use, for
    deterministic tests; by default they follow :func:`sf_progress.set_testing`.
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
        cert_password: str | bytes | None = None,
        verify: VerifyArg = True,
        server_thumbprints: Iterable[str] | str | None = None,
        tls: TLSConfig | None = None,
        token_provider: TokenProvider | None = None,
        allow_insecure_http: bool = False,
        list_interval: float | timedelta = 1.0,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
    ) -> None:
        self._endpoint = check_endpoint(endpoint)
        self._list_interval = to_seconds(list_interval, "list_interval", allow_zero=False, finite=True)
        if session is not None and not isinstance(session, aiohttp.ClientSession):
            raise TypeError(f"session must be an aiohttp.ClientSession, not {type(session).__name__}")
        self._api_version = check_api_version(api_version)
        self._server_timeout = check_server_timeout(server_timeout)
        margin = to_seconds(timeout_margin, "timeout_margin", allow_zero=False, finite=True)
        if user_agent is not None:
            check_header_value(user_agent, "user_agent")
        if retry is not None and not isinstance(retry, RetryPolicy):
            raise TypeError(f"retry must be a RetryPolicy, not {type(retry).__name__}")
        self._retry = retry or RetryPolicy()
        if type(max_connections) is not int or max_connections < 1:
            raise ValueError(f"max_connections must be an int >= 1, got {max_connections!r}")
        tls = _tls_config(tls, cert, cert_password, verify, server_thumbprints)
        if token_provider is not None and not callable(token_provider):
            raise TypeError("token_provider must be a callable returning a token")
        secured = token_provider is not None or tls.cert is not None or bool(tls.server_thumbprints)
        if secured and self._endpoint.lower().startswith("http://") and not allow_insecure_http:
            raise ValueError(
                "a token or client certificate over plain http:// would travel in clear text; "
                "use an https:// endpoint, or pass allow_insecure_http=True if you really mean it"
            )
        self._transport = Transport(
            self._endpoint,
            session=session,
            margin=margin,
            connect_timeout=to_seconds(connect_timeout, "connect_timeout", allow_zero=False, finite=True),
            retry=self._retry,
            max_connections=max_connections,
            user_agent=user_agent,
            sleep=sleep,
            tls=tls,
            token_provider=token_provider,
        )
        attach = getattr(token_provider, "attach", None)
        if callable(attach):
            attach(self)
        self._urls = Urls(str(URL(self._endpoint)), self._api_version)
        # Resolved once: sf_progress's own clock already follows set_testing() on each call.
        self._clock = clock or _config.monotonic
        self._sleep = sleep
        self._engines: weakref.WeakSet[_Engine] = weakref.WeakSet()  # the running batches, stopped by aclose
        self._observer: Observer | None = None

    # --- lifecycle -------------------------------------------------------------------

    async def __aenter__(self) -> ProgressClient:
        self._transport.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop every batch of this client, then close the session if this client owns it.

        A consumer still iterating a batch gets a ``RuntimeError``.  Safe to call more than once.
        """
        engines, self._engines = list(self._engines), weakref.WeakSet()
        for engine in engines:
            await engine.abort(RuntimeError("the ProgressClient was closed while this batch was running"))
        if self._observer is not None:
            await self._observer.close()
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

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        auth = " token" if self._transport.tokens is not None else ""
        return f"<ProgressClient {self._endpoint!r} api_version={self._api_version!r}{auth} {state}>"

    # --- waiting --------------------------------------------------------------------------

    def _watcher(self) -> Observer:
        """The client's one observer (created on first use): one list call per tick for every wait."""
        observer = self._observer
        if observer is None:
            observer = self._observer = Observer(
                self._list_active,
                interval=self._list_interval,
                retry=self._retry,
                clock=self._clock,
                sleep=self._sleep or _config.sleep,
            )
        return observer

    async def _list_active(self, type_mask: int) -> tuple[list[FaultOperation], int]:
        """One list call of the active operations (``StateFilter=3``) of some types, not retried.

        Returns the well-formed items and the number of malformed ones skipped.
        """
        params = f"TypeFilter={type_mask}&StateFilter={_ACTIVE_STATES}"
        url = self._urls.control("/Faults/", params, self._server_timeout)
        return await self._transport.attempt(
            "GET", url, self._server_timeout, None, _parse_list, limit=MAX_LIST_BODY, route="list"
        )

    async def _poll_once(self, ref: OperationRef, remaining: float) -> FaultProgress:
        """One progress read without the per-request retry loop (the waits own retries).

        A wait's deadline is a wall-clock budget: with less than a full request's time
        left, the server timeout is clipped to it and so is the client-side one (to at
        least ``LAST_LOOK`` seconds, for the read a wait sends at its deadline).
        """
        transport = self._transport
        server_timeout = self._server_timeout
        parse = KINDS[ref.kind].parse
        if remaining >= server_timeout + transport.margin:  # the usual case (also no deadline)
            return await transport.attempt(
                "GET", self._urls.progress(ref, server_timeout), server_timeout, ref, parse, route="progress"
            )
        server_timeout = max(1, min(server_timeout, math.ceil(remaining)))
        return await transport.attempt(
            "GET",
            self._urls.progress(ref, server_timeout),
            server_timeout,
            ref,
            parse,
            total=max(remaining, LAST_LOOK),
            route="progress",
        )

    @overload
    async def wait_for_completion(
        self,
        service_id: OperationRef,
        /,
        *,
        deadline: float | timedelta | None = 600.0,
        backoff: Backoff | None = None,
        on_progress: ProgressHook | None = None,
        not_found_grace: float | timedelta = 10.0,
        raise_on_failure: bool = False,
        coalesce: bool | None = None,
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
        on_progress: ProgressHook | None = None,
        not_found_grace: float | timedelta = 10.0,
        raise_on_failure: bool = False,
        coalesce: bool | None = None,
    ) -> PartitionRestartProgress: ...

    async def wait_for_completion(
        self,
        service_id: str | OperationRef,
        partition_id: str | uuid.UUID | None = None,
        operation_id: str | uuid.UUID | None = None,
        *,
        deadline: float | timedelta | None = 600.0,
        backoff: Backoff | None = None,
        on_progress: ProgressHook | None = None,
        not_found_grace: float | timedelta = 10.0,
        raise_on_failure: bool = False,
        coalesce: bool | None = None,
    ) -> FaultProgress:
        """Poll until the operation reaches a terminal state; return that progress.

        Any kind: pass its ``OperationRef`` (the three ids name a partition restart); the
        progress returned is of that kind (``PartitionDataLossProgress``, ...).

        Returns for any terminal state (Completed, Faulted, Cancelled, ForceCancelled);
        with ``raise_on_failure=True`` the last three raise ``OperationNotCompleted`` instead.
        ``deadline`` is the overall budget in seconds (``None`` or ``math.inf``: no
        deadline): the last sleep is clipped so a final poll happens at the deadline, and
        that read may take at most ``LAST_LOOK`` (1 s) more; then ``WaitTimeout``
        (carrying the last progress) is raised.  Transient failures (503/504, resets, cut bodies) are retried within the
        budget; a 404 within ``not_found_grace`` seconds of the start of the wait is taken
        as "not readable yet".  ``on_progress(ref, progress)``, sync or async, is called
        on every state change.  Cancelling the caller leaves nothing behind.

        ``coalesce``: with ``True`` the operation is watched through the client's
        fault-operation list (one list call per tick for every wait on this client; one
        progress read when the operation leaves the list); with ``False`` it is read on
        its own backoff; ``None`` (the default) lets the client choose listing whenever it
        is cheaper for the cluster — from three operations waited on at once, unless the
        cluster's list of active operations is too long to pay off.
        """
        if isinstance(service_id, OperationRef) and partition_id is None and operation_id is None:
            ref = service_id
        else:
            ref = ref_of(OperationType.PARTITION_RESTART, service_id, partition_id, operation_id)
        cfg = settings(backoff, self._retry, not_found_grace, deadline)
        if type(raise_on_failure) is not bool:
            raise TypeError("raise_on_failure must be a bool")
        if on_progress is not None and not callable(on_progress):
            raise TypeError(f"on_progress must be callable, not {type(on_progress).__name__}")
        _check_coalesce(coalesce)
        hook = None if on_progress is None else _progress_hook(on_progress)
        engine = self._engine(cfg, 1, None, hook, coalesce)  # a one-operation batch: the same driver
        with _telemetry.wait_span(ref.kind, str(ref.operation_id)) as span:
            try:
                engine.add(ref)
                engine.sealed = True
                engine.start()
                outcome = await engine.outcomes.get()
                await engine.events.join()  # on_progress has seen the final state
            finally:
                await engine.close()
            if isinstance(outcome, _Abort):
                raise outcome.error
            assert isinstance(outcome, Outcome)
            _telemetry.end_wait_span(span, outcome.kind.value, outcome.polls)
            if outcome.error is not None:
                raise outcome.error
            progress = outcome.progress
            assert progress is not None
            if raise_on_failure and outcome.kind is not OutcomeKind.COMPLETED:
                raise OperationNotCompleted(f"operation ended {progress.state}", ref=ref, progress=progress)
            return progress

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
        each is read once when it leaves the list.
        """
        if type(concurrency) is not int or not 1 <= concurrency <= MAX_CONCURRENCY:
            raise ValueError(f"concurrency must be an int in 1..{MAX_CONCURRENCY}, got {concurrency!r}")
        if on_event is not None and not callable(on_event):
            raise TypeError(f"on_event must be callable, not {type(on_event).__name__}")
        _check_coalesce(coalesce)
        rate: object = max_rate
        if rate is not None and (type(rate) not in (int, float) or not rate > 0):  # type: ignore[operator]
            raise ValueError(f"max_rate must be a number > 0 or None, got {max_rate!r}")
        cfg = settings(backoff, self._retry, not_found_grace, deadline)
        engine = self._engine(cfg, concurrency, None if max_rate is None else float(max_rate), on_event, coalesce)
        return BatchWaiter(engine, operations)

    def _engine(
        self,
        cfg: _Settings,
        concurrency: int,
        max_rate: float | None,
        on_event: EventHook | None,
        coalesce: bool | None,
    ) -> _Engine:
        """A new wait driver on this client's session and observer (stopped by :meth:`aclose`)."""
        self._transport.open()
        engine = _Engine(
            self._poll_once,
            cfg,
            concurrency,
            max_rate,
            on_event,
            self._clock,
            self._sleep or _config.sleep,
            self._watcher(),
            coalesce,
        )
        self._engines.add(engine)
        return engine


def _check_coalesce(coalesce: object) -> None:
    if coalesce is not None and type(coalesce) is not bool:
        raise TypeError(f"coalesce must be None, True or False, not {coalesce!r}")


def _progress_hook(on_progress: ProgressHook) -> EventHook:
    """``wait_for_completion``'s ``on_progress(ref, progress)`` as an engine event hook."""

    def hook(event: Event) -> Awaitable[None] | None:
        if isinstance(event, StateChanged):
            return on_progress(event.ref, event.progress)
        return None

    return hook


def _tls_config(
    tls: TLSConfig | None,
    cert: CertArg | None,
    cert_password: str | bytes | None,
    verify: VerifyArg,
    server_thumbprints: Iterable[str] | str | None,
) -> TLSConfig:
    if tls is None:
        return TLSConfig(cert=cert, cert_password=cert_password, verify=verify, server_thumbprints=server_thumbprints)
    if not isinstance(tls, TLSConfig):
        raise TypeError(f"tls must be a TLSConfig, not {type(tls).__name__}")
    if cert is not None or cert_password is not None or verify is not True or server_thumbprints is not None:
        raise TypeError("pass either tls=TLSConfig(...) or cert/verify/server_thumbprints, not both")
    return tls
