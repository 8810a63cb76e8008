"""A blocking client for scripts: ``SyncProgressClient``, the async client on an event loop of its own.

One event loop runs in one daemon thread per client, so its connection pool lives from one
call to the next; every blocking method hands a coroutine to that loop and waits for it.
The methods are made from :class:`~sf_progress.ProgressClient`'s, one for each public
async method, with the same names, parameters and defaults (a test holds them equal):
a verb added there is here at once.  Hooks (``on_progress``, ``on_event``) are called on
the client's loop, in its thread, not in the caller's.
Calls may come from several threads at once, and from a thread of a program that already
runs an event loop of its own (the client's loop is never that one).  Ctrl-C during a
blocking call stops it — the coroutine on the client's loop is cancelled, and with
``cancel_on_interrupt=True`` a wait also sends the fault's cancel — and raises
``KeyboardInterrupt``.  ``close()`` is idempotent; a closed client raises ``RuntimeError``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import inspect
import logging
import re
import threading
import typing
from collections.abc import AsyncIterable, Callable, Coroutine, Iterable
from types import TracebackType
from typing import Any, Concatenate, ParamSpec, TypeVar

from ._client import ProgressClient
from ._config import Clock
from ._errors import SFProgressError
from ._models import OperationRef
from ._wait.batch import BatchWaiter
from ._wait.machine import Outcome

__all__ = ["SyncProgressClient"]

logger = logging.getLogger("sf_progress")
T = TypeVar("T")
P = ParamSpec("P")
#: How long ``close()`` waits for the client's loop to finish closing the session.
_CLOSE_WAIT = 30.0


def _blocking_doc(method: Callable[..., Any], returns: str | None = None) -> str:
    """The async method's docstring, as the blocking method's (Google style, its sections kept)."""
    doc = inspect.cleandoc(method.__doc__ or "")
    summary, _, rest = doc.partition("\n")
    head = f"Blocking :meth:`~sf_progress.ProgressClient.{method.__name__}`: {summary[0].lower()}{summary[1:]}"
    if returns is not None:
        before, _, after = rest.partition("Returns:\n")
        after = after.split("\n\n", 1)[1] if "\n\n" in after else ""
        rest = f"{before}Returns:\n    {returns}\n\n{after}"
    if "Raises:" not in rest:
        rest += "\n\nRaises:"
    text = f"{head}\n{rest.rstrip()}\n{_BLOCKING_RAISES}"
    return re.sub(r":(class|exc|meth|attr|func):`(\w+)", _qualified, text)


def _qualified(match: re.Match[str]) -> str:
    """A cross-reference to an export of ``sf_progress``, written from this module: named in full."""
    import sf_progress

    role, name = match.groups()
    return f":{role}:`~sf_progress.{name}" if name in sf_progress.__all__ else match.group(0)


_BLOCKING_RAISES = """    KeyboardInterrupt: Ctrl-C during the call (with ``cancel_on_interrupt=True`` a wait's
        faults are cancelled first).
    RuntimeError: The client is closed."""


def _named(call: Callable[..., Any], method: Callable[..., Any], doc: str, returns: object = None) -> None:
    """Give *call* the name, docstring and signature of *method* (its annotations resolved, so the
    API reference links them); *returns*, if given, replaces the return annotation."""
    hints = typing.get_type_hints(method)
    if returns is not None:
        hints["return"] = returns
    if hints.get("return") is type(None):
        hints["return"] = None  # as written: ``-> None``
    signature = inspect.signature(method)
    signature = signature.replace(
        parameters=[p.replace(annotation=hints.get(p.name, p.annotation)) for p in signature.parameters.values()],
        return_annotation=hints.get("return", signature.return_annotation),
    )
    call.__name__ = method.__name__
    call.__qualname__ = f"SyncProgressClient.{method.__name__}"
    call.__module__ = __name__
    call.__doc__ = doc
    call.__annotations__ = hints
    call.__signature__ = signature  # type: ignore[attr-defined]


def _blocking(
    method: Callable[Concatenate[ProgressClient, P], Coroutine[Any, Any, T]], *, cancels: bool = False
) -> Callable[Concatenate[SyncProgressClient, P], T]:
    """The blocking method of *method*: same name, parameters and defaults, run on the client's loop.

    *cancels*: the call waits on its ``ref`` argument, which ``cancel_on_interrupt`` cancels on Ctrl-C.
    """
    signature = inspect.signature(method)

    def call(self: SyncProgressClient, /, *args: P.args, **kwargs: P.kwargs) -> T:
        refs: list[OperationRef] = []
        if cancels:
            ref = signature.bind(self, *args, **kwargs).arguments.get("ref")
            refs = [ref] if isinstance(ref, OperationRef) else []
        return self._run(lambda: method(self._client, *args, **kwargs), on_interrupt=refs)

    _named(call, method, _blocking_doc(method))
    return call


def _collecting(
    method: Callable[Concatenate[ProgressClient, P], BatchWaiter],
) -> Callable[Concatenate[SyncProgressClient, P], list[Outcome]]:
    """``wait_many``, blocking: the same parameters; returns the batch's outcomes as a list."""
    signature = inspect.signature(method)
    returns = "One :class:`~sf_progress.Outcome` per distinct operation, in the order they ended."

    def call(self: SyncProgressClient, /, *args: P.args, **kwargs: P.kwargs) -> list[Outcome]:
        bound = signature.bind(self, *args, **kwargs)
        operations = bound.arguments.get("operations")
        if operations is None:
            raise ValueError("operations is required here (a blocking wait cannot be added to while it runs)")
        if not isinstance(operations, AsyncIterable):
            bound.arguments["operations"] = operations = list(operations)  # every item checked before sending
        batch_args, batch_kwargs = bound.args[1:], bound.kwargs

        async def collect() -> list[Outcome]:
            async with method(self._client, *batch_args, **batch_kwargs) as batch:
                return [outcome async for outcome in batch]

        refs = [item for item in operations if isinstance(item, OperationRef)] if isinstance(operations, list) else []
        return self._run(collect, on_interrupt=refs)

    _named(call, method, _blocking_doc(method, returns), returns=list[Outcome])
    return call


class SyncProgressClient:
    """Blocking twin of :class:`~sf_progress.ProgressClient` (takes the same keyword options).

    Use it as ``with SyncProgressClient(endpoint) as client:`` or call :meth:`close`.  One
    event loop runs in one background thread per client, so its connection pool lives from
    one call to the next; calls may come from several threads at once.

    Args:
        endpoint: The cluster's HTTP gateway, as for :class:`~sf_progress.ProgressClient`.
        cancel_on_interrupt: On a Ctrl-C during ``wait_for_completion`` or ``wait_many``,
            also send each waited-on fault's cancel (best effort, a few seconds at most)
            before ``KeyboardInterrupt`` is raised.
        **options: Any keyword option of :class:`~sf_progress.ProgressClient`.

    Raises:
        ValueError: A bad endpoint or option (checked here, in the caller's thread).
        TypeError: An option of the wrong type.
    """

    def __init__(self, endpoint: str, *, cancel_on_interrupt: bool = False, **options: Any) -> None:
        if type(cancel_on_interrupt) is not bool:
            raise TypeError("cancel_on_interrupt must be a bool")
        self.cancel_on_interrupt = cancel_on_interrupt
        self._client = ProgressClient(endpoint, **options)  # validates every option here, in the caller's thread
        self._loop = asyncio.new_event_loop()
        self._lock = threading.Lock()
        self._closed = False
        self._thread = threading.Thread(target=self._loop.run_forever, name="sf_progress-sync", daemon=True)
        self._thread.start()

    # --- plumbing ------------------------------------------------------------------------

    def _run(self, make: Callable[[], Coroutine[Any, Any, T]], on_interrupt: Iterable[OperationRef] = ()) -> T:
        # The caller's context (an OpenTelemetry span, say) goes with the call: spans nest under it.
        context = contextvars.copy_context()
        result: concurrent.futures.Future[T] = concurrent.futures.Future()
        tasks: list[asyncio.Task[T]] = []

        def spawn() -> None:
            if not result.set_running_or_notify_cancel():
                return
            task = context.run(self._loop.create_task, make())  # the task runs in a copy of the context
            tasks.append(task)
            task.add_done_callback(lambda done: _settle(done, result))

        with self._lock:
            if self._closed:
                raise RuntimeError("this SyncProgressClient is closed; create a new one")
            self._loop.call_soon_threadsafe(spawn)
        try:
            return result.result()
        except KeyboardInterrupt:
            self._loop.call_soon_threadsafe(lambda: [task.cancel() for task in tasks])
            refs = list(on_interrupt)
            if refs and self.cancel_on_interrupt:
                self._cancel_quietly(refs)
            raise

    def _cancel_quietly(self, refs: list[OperationRef]) -> None:
        async def cancel_all() -> None:
            async def one(ref: OperationRef) -> None:
                try:
                    await self._client.cancel_operation(ref, timeout=5)
                except SFProgressError as exc:  # already ended, or the cluster is unreachable: said, not raised
                    logger.warning("cancel of %s after Ctrl-C failed: %s", ref, exc)

            await asyncio.wait_for(asyncio.gather(*(one(ref) for ref in refs)), 10)

        future = asyncio.run_coroutine_threadsafe(cancel_all(), self._loop)
        try:
            future.result(15)
        except (concurrent.futures.TimeoutError, TimeoutError, KeyboardInterrupt):
            future.cancel()
            logger.warning("the cancels after Ctrl-C did not finish in time")

    def close(self) -> None:
        """Close the session and stop the client's loop.  Safe to call more than once."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        try:
            asyncio.run_coroutine_threadsafe(self._client.aclose(), self._loop).result(_CLOSE_WAIT)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(_CLOSE_WAIT)
            if not self._thread.is_alive():
                self._loop.close()

    def __enter__(self) -> SyncProgressClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __del__(self) -> None:
        if not getattr(self, "_closed", True) and getattr(self, "_thread", None) is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)

    @property
    def closed(self) -> bool:
        """True once :meth:`close` has been called."""
        return self._closed

    @property
    def endpoint(self) -> str:
        """The gateway URL requests go to (no trailing slash)."""
        return self._client.endpoint

    @property
    def api_version(self) -> str:
        """The ``api-version`` sent with progress reads."""
        return self._client.api_version

    @property
    def request_timeout(self) -> float:
        """How long one request may take at most, in seconds."""
        return self._client.request_timeout

    @property
    def clock(self) -> Clock:
        """The clock the client waits by (on its own loop)."""
        return self._client.clock

    def __repr__(self) -> str:
        return f"<SyncProgressClient {self.endpoint!r} {'closed' if self._closed else 'open'}>"

    # --- the calls: every public async method of ProgressClient, blocking ----------------------

    get_progress = _blocking(ProgressClient.get_progress)
    get_restart_progress = _blocking(ProgressClient.get_restart_progress)
    start = _blocking(ProgressClient.start)
    cancel_operation = _blocking(ProgressClient.cancel_operation)
    list_fault_operations = _blocking(ProgressClient.list_fault_operations)
    get_node_instance_id = _blocking(ProgressClient.get_node_instance_id)
    get_aad_metadata = _blocking(ProgressClient.get_aad_metadata)
    get_cluster_version = _blocking(ProgressClient.get_cluster_version)
    wait_for_completion = _blocking(ProgressClient.wait_for_completion, cancels=True)
    wait_for_recovery = _blocking(ProgressClient.wait_for_recovery)
    wait_many = _collecting(ProgressClient.wait_many)


def _settle(task: asyncio.Task[T], result: concurrent.futures.Future[T]) -> None:
    """Hand a finished task's result (or error, or cancellation) to the caller's future."""
    if task.cancelled():
        result.set_exception(concurrent.futures.CancelledError())
    elif task.exception() is not None:
        result.set_exception(task.exception())
    else:
        result.set_result(task.result())
