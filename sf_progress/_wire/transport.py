"""The one request path: session, TLS, bearer tokens, transient retries.

This is the only module that sends requests with aiohttp, and the single place where
aiohttp (and ``json``, ``ssl``) errors become sf_progress errors.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

import aiohttp
import tenacity as _t
from yarl import URL

from .. import _config, _telemetry
from .._backoff import retry_after_seconds
from .._config import RetryPolicy
from .._errors import (
    ALREADY_EXISTS,
    AuthError,
    ConflictError,
    GatewayUnreachable,
    ResponseFormatError,
    SFProgressError,
    TLSError,
    TransportError,
    TransportTimeout,
    excerpt,
    fabric_error_class,
)
from .._errors import FabricError as _FabricError
from .._ids import check_header_value, to_seconds
from .._models import OperationRef
from .._version import __version__
from .auth import TokenCache, TokenProvider
from .security import TLSConfig
from .wording import connection_words, failure_words, tls_failure, tls_words

__all__ = ["Transport"]

logger = logging.getLogger("sf_progress")

T = TypeVar("T")
Parse = Callable[[bytes, "OperationRef | None"], T]
#: Largest body read from a progress, start, cancel or other small answer (they are under 1 KB).
MAX_BODY = 64 * 1024
#: Largest body read from the fault-operation list (about 1.2 MB at its 10,000-item cap).
MAX_LIST_BODY = 8 * 1024 * 1024
#: A wait's last read may run this long past its deadline (a read started at the deadline).
LAST_LOOK = 1.0
_CODE = re.compile(r"[A-Za-z0-9_]+")
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
    # aiohttp decodes a non-ASCII reason phrase with surrogate escapes: make it printable.
    reason = reason.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    if body:
        try:
            data = json.loads(body)
        except (ValueError, RecursionError):  # not JSON, or nested too deep to decode
            data = None
        error = data.get("Error") if isinstance(data, dict) else None
        if isinstance(error, dict):
            raw_code, raw_message = error.get("Code"), error.get("Message")
            code = raw_code if isinstance(raw_code, str) and raw_code else None
            message = raw_message if isinstance(raw_message, str) else ""
        elif data is None:
            message = excerpt(body)
    # The gateway's reason phrase is the error code itself ("504 FABRIC_E_TIMEOUT").
    phrase = reason.strip()
    if code is None and _CODE.fullmatch(phrase) and phrase.lower() not in _STANDARD_PHRASES:
        code = phrase
    return fabric_error_class(status, code)(
        status=status,
        code=code,
        message=message or reason,
        reason=reason,
        retry_after=retry_after_seconds(retry_after, now=time.time()),
        ref=ref,
    )


class _Stop:
    """No more tries after *attempts*, nor once *budget* seconds passed since the first try began.

    *spent*: the seconds the first try took before tenacity saw it (it runs without the retry
    machinery, and is replayed into it at once).
    """

    def __init__(self, attempts: int, budget: float | None, spent: float) -> None:
        self.attempts, self.budget, self.spent = attempts, budget, spent

    def __call__(self, state: _t.RetryCallState) -> bool:
        if state.attempt_number >= self.attempts:
            return True
        elapsed = (state.seconds_since_start or 0.0) + self.spent
        return self.budget is not None and elapsed >= self.budget


class _Wait:
    def __init__(self, policy: RetryPolicy, spent: float) -> None:
        self.policy, self.spent = policy, spent

    def __call__(self, state: _t.RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome is not None else None
        retry_after = exc.retry_after if isinstance(exc, _FabricError) else None
        delay = self.policy.delay(state.attempt_number - 1, retry_after)
        if self.policy.budget is not None:
            delay = min(delay, max(0.0, self.policy.budget - (state.seconds_since_start or 0.0) - self.spent))
        return delay


def _log_retry(state: _t.RetryCallState) -> None:
    if logger.isEnabledFor(logging.INFO):
        exc = state.outcome.exception() if state.outcome is not None else None
        sleep = state.next_action.sleep if state.next_action is not None else 0.0
        logger.info("attempt %d failed (%s); retrying in %.2fs", state.attempt_number, exc, sleep)


class Transport:
    """Owns (or borrows) the session and sends requests for ``ProgressClient``."""

    def __init__(
        self,
        endpoint: str,
        *,
        session: aiohttp.ClientSession | None,
        margin: float,
        connect_timeout: float,
        retry: RetryPolicy,
        max_connections: int,
        user_agent: str | None,
        clock: _config.Clock,
        tls: TLSConfig | None,
        token_provider: TokenProvider | None,
    ) -> None:
        self.endpoint = endpoint
        self.session = session
        self.owns_session = session is None
        self.closed = False
        self.margin, self.connect_timeout = margin, connect_timeout
        self.retry, self.max_connections, self.clock = retry, max_connections, clock
        # Chosen once: only on the testing switch's virtual clock is a request counted while on its way.
        self.counted = _config.is_virtual(clock)
        self.headers = {
            "Accept": "application/json",
            "User-Agent": user_agent or f"sf_progress/{__version__} aiohttp/{aiohttp.__version__}",
        }
        https = endpoint.lower().startswith("https://")
        # Only https requests carry an SSL context (plain http skips aiohttp's ssl handling).
        self.options: dict[str, Any] = {"allow_redirects": False}  # never follow: no token to other hosts
        if https:
            self.options["ssl"] = (tls or TLSConfig()).ssl_context()
        self.tokens = None if token_provider is None else TokenCache(token_provider)
        self.timeouts: dict[int, aiohttp.ClientTimeout] = {}
        self.loop: asyncio.AbstractEventLoop | None = None

    @classmethod
    def checked(
        cls,
        endpoint: str,
        session: object,
        margin: float | timedelta,
        connect_timeout: float | timedelta,
        retry: RetryPolicy,
        max_connections: object,
        user_agent: str | None,
        clock: _config.Clock,
        tls: TLSConfig,
        token_provider: object,
    ) -> Transport:
        """A transport from a client's own arguments, each checked (before anything is sent)."""
        if session is not None and not isinstance(session, aiohttp.ClientSession):
            raise TypeError(f"session must be an aiohttp.ClientSession, not {type(session).__name__}")
        if user_agent is not None:
            check_header_value(user_agent, "user_agent")
        if type(max_connections) is not int or max_connections < 1:
            raise ValueError(f"max_connections must be an int >= 1, got {max_connections!r}")
        if token_provider is not None and not callable(token_provider):
            raise TypeError("token_provider must be a callable returning a token")
        return cls(
            endpoint,
            session=session,
            margin=to_seconds(margin, "timeout_margin", allow_zero=False, finite=True),
            connect_timeout=to_seconds(connect_timeout, "connect_timeout", allow_zero=False, finite=True),
            retry=retry,
            max_connections=max_connections,
            user_agent=user_agent,
            clock=clock,
            tls=tls,
            token_provider=token_provider,
        )

    def open(self) -> aiohttp.ClientSession:
        if self.closed:
            raise RuntimeError("this ProgressClient is closed; create a new one")
        session = self.session
        if session is None:
            self.loop = _running_loop()
            limit = self.max_connections
            connector = aiohttp.TCPConnector(limit=limit, limit_per_host=limit)
            session = self.session = aiohttp.ClientSession(connector=connector)
            return session
        if session.closed:
            # The user's own session, closed under us: no request can be sent on it again.
            error = TransportError(
                "the aiohttp.ClientSession given to this ProgressClient was closed; nothing can be sent on it"
            )
            error.transient = False
            raise error
        current = _running_loop()
        if self.loop is None:
            self.loop = current
        elif current is not self.loop and current is not None:
            raise RuntimeError(
                "this ProgressClient was first used on another event loop (for example an earlier "
                "asyncio.run()), and its connections belong to that loop; create one client per event "
                "loop, inside the code that runs on it"
            )
        return session

    async def aclose(self) -> None:
        if self.closed:
            return
        self.closed = True
        session, self.session = self.session, None
        if self.owns_session and session is not None:
            if self.loop is not None and self.loop is not _running_loop() and self.loop.is_closed():
                session.detach()  # its loop is gone, and its connections with it: nothing to close
                return
            await session.close()
            await asyncio.sleep(0)  # the closed connections' sockets are released on the loop's next turn

    def timeout(self, server_timeout: int, total: float | None = None) -> aiohttp.ClientTimeout:
        """The client-side timeout: the server's plus the margin, or *total* when given."""
        if total is not None:
            return aiohttp.ClientTimeout(total=total, sock_connect=min(total, self.connect_timeout))
        timeout = self.timeouts.get(server_timeout)
        if timeout is None:
            timeout = aiohttp.ClientTimeout(total=server_timeout + self.margin, sock_connect=self.connect_timeout)
            if len(self.timeouts) < 64:
                self.timeouts[server_timeout] = timeout
        return timeout

    def attempt(
        self,
        method: str,
        url: URL,
        server_timeout: int,
        ref: OperationRef | None,
        parse: Parse[T],
        *,
        anonymous: bool = False,
        limit: int = MAX_BODY,
        total: float | None = None,
        route: str = "other",
        body: bytes | None = None,
    ) -> Awaitable[T]:
        """Send one request; return the parsed answer; raise only sf_progress errors.

        With a token provider, a 401 draws one token refresh and one more try.  A body
        longer than *limit* bytes is not read.  *total* replaces the client-side timeout
        (a wait clips it to its deadline).  *body*: a JSON request body.  (A plain function
        returning the coroutine: one frame less on the hot path.)
        """
        if self.tokens is None or anonymous:
            return self._send(method, url, server_timeout, ref, parse, self.headers, limit, total, route, body)
        return self._send_with_token(
            self.tokens, method, url, server_timeout, ref, parse, limit, total, route, body
        )

    async def _send_with_token(
        self,
        tokens: TokenCache,
        method: str,
        url: URL,
        server_timeout: int,
        ref: OperationRef | None,
        parse: Parse[T],
        limit: int,
        total: float | None,
        route: str,
        body: bytes | None,
    ) -> T:
        authorization = await tokens.header()
        for last_try in (False, True):
            try:
                headers = {**self.headers, "Authorization": authorization}
                return await self._send(method, url, server_timeout, ref, parse, headers, limit, total, route, body)
            except AuthError as exc:
                if exc.status != 401 or last_try:
                    raise
                authorization = await tokens.refresh(authorization)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _send(
        self,
        method: str,
        url: URL,
        server_timeout: int,
        ref: OperationRef | None,
        parse: Parse[T],
        headers: dict[str, str],
        limit: int,
        total: float | None,
        route: str,
        data: bytes | None = None,
    ) -> T:
        session = self.open()
        if data is not None:
            headers = {**headers, "Content-Type": "application/json; charset=utf-8"}
        counted = self.counted
        if counted:
            _config.TESTING.busy += 1  # the virtual clock waits for this answer
        result = "error"  # for the requests counter: ok, transient or error
        try:
            async with session.request(
                method, url, headers=headers, data=data, timeout=self.timeout(server_timeout, total), **self.options
            ) as response:
                status = response.status
                length = response.content_length
                body: bytes | None
                if length is not None and length <= limit:
                    body = await response.read()
                else:
                    body = await _read_capped(response, limit)
                if status >= 300 or status < 200:
                    error = _error_from_answer(
                        status, response.reason or "", response.headers.get("Retry-After"), body or b"", ref
                    )
                    if error.transient:
                        result = "transient"
                    raise error
                if body is None:
                    raise ResponseFormatError(
                        f"the answer is larger than {limit:,} bytes, more than this call ever needs; not read",
                        ref=ref,
                    )
                result = "ok"
        except TimeoutError as exc:
            result = "transient"
            allowed = server_timeout + self.margin if total is None else total
            raise TransportTimeout(f"no answer from {self.endpoint} within {allowed:g}s", ref=ref) from exc
        except (aiohttp.ClientError, OSError) as exc:
            result = "transient"
            if tls_failure(exc):
                raise TLSError(f"TLS with {self.endpoint} failed: {tls_words(exc)}", ref=ref) from exc
            if isinstance(exc, aiohttp.ClientConnectorError):  # no connection at all: say why, in words
                raise GatewayUnreachable(f"cannot reach {self.endpoint}: {connection_words(exc)}", ref=ref) from exc
            hint = ""
            if "ssl" in self.options and isinstance(exc, (aiohttp.ServerDisconnectedError, ConnectionResetError)):
                # Over TLS 1.3 a refused client certificate shows up only as a closed connection.
                hint = " (over TLS: if the cluster requires a client certificate, it may have refused this one)"
            raise TransportError(f"{method} {self.endpoint}: {failure_words(exc)}{hint}", ref=ref) from exc
        finally:
            if counted:
                _config.TESTING.busy -= 1
            _telemetry.request(route, result)
        return parse(body, ref)

    async def call(
        self,
        method: str,
        url: URL,
        server_timeout: int,
        ref: OperationRef | None,
        parse: Parse[T],
        *,
        conflict_means_done: bool = False,
        anonymous: bool = False,
        limit: int = MAX_BODY,
        route: str = "other",
        body: bytes | None = None,
    ) -> T:
        """One request with transient retries.  The success path builds no retry machinery."""
        began = time.monotonic()  # the retry budget counts from here (tenacity's clock)
        try:
            return await self.attempt(
                method, url, server_timeout, ref, parse, anonymous=anonymous, limit=limit, route=route, body=body
            )
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
                return await self.attempt(
                    method, url, server_timeout, ref, parse, anonymous=anonymous, limit=limit, route=route,
                    body=body,
                )
            except ConflictError as exc:
                # A retried start that meets "already exists" means the earlier try landed.
                if conflict_means_done and exc.code == ALREADY_EXISTS:
                    return parse(b"", ref)
                exc.retried = True
                raise
            except _FabricError as exc:
                exc.retried = True
                raise

        return await self._retrying(time.monotonic() - began)(attempt)

    def _retrying(self, spent: float) -> _t.AsyncRetrying:
        policy = self.retry
        attempts = _config.testing_attempts() or policy.attempts
        return _t.AsyncRetrying(
            sleep=self.clock.sleep,
            stop=_Stop(attempts, policy.budget, spent),
            wait=_Wait(policy, spent),
            retry=_t.retry_if_exception(_is_transient),
            before_sleep=_log_retry,
            reraise=True,
        )


async def _read_capped(response: aiohttp.ClientResponse, limit: int) -> bytes | None:
    """Read a body of unknown or too large length: ``None`` once it passes *limit* bytes."""
    if response.content_length is not None:
        return None  # announced longer than the limit: not worth a byte
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_any():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:  # called outside a coroutine (e.g. wait_many() before the loop runs)
        return None


def ignore_body(body: bytes, ref: OperationRef | None) -> None:
    """The parse step of calls whose 2xx answer has no body worth reading."""
