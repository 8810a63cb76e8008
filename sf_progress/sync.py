"""A blocking client for scripts: ``SyncProgressClient``, the async client on an event loop of its own.

One event loop runs in one daemon thread per client, so its connection pool lives from one
call to the next; every blocking method hands a coroutine to that loop and waits for it.
The methods are made from :class:`~sf_progress.ProgressClient`'s, one for each public
async method, with the same names, parameters and defaults (a test holds them equal):
a verb added there is here at once.  Hooks (``on_progress``, ``on_event``) are called on
the client's loop, in its thread, not in the caller's.
Calls may come from several threads at once, but not from a thread running an event loop
(it would freeze: such code awaits :class:`~sf_progress.ProgressClient` instead) — that,
a call after ``close()``, and a call in a process forked after the client was made (its
loop's thread is not there) are each a ``RuntimeError`` that says so.  Ctrl-C during a
blocking call stops it — the coroutine on the client's loop is cancelled, and with
``cancel_on_interrupt=True`` a wait also sends the fault's cancel — and raises
``KeyboardInterrupt``.  ``close()`` is idempotent and ends the calls still in flight in
other threads (each raises ``RuntimeError``); a client dropped without ``close()`` closes
its session and stops its thread as it is collected.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
import inspect
import logging
import os
import re
import threading
import typing
import weakref
from collections.abc import AsyncIterable, AsyncIterator, Callable, Coroutine, Iterable, Mapping
from types import TracebackType
from typing import Any, Concatenate, ParamSpec, TypeVar

from ._chaos_events import ChaosEvent
from ._client import ProgressClient
from ._config import Clock
from ._errors import SFProgressError
from ._models import OperationRef
from ._scenario.events import ScenarioEvent
from ._scenario.model import Scenario
from ._scenario.runner import ScenarioRun
from ._wait.batch import BatchWaiter
from ._wait.machine import Outcome

__all__ = ["SyncProgressClient"]

logger = logging.getLogger("sf_progress")
T = TypeVar("T")
P = ParamSpec("P")
#: How long ``close()`` waits for the client's loop to finish closing the session.
_CLOSE_WAIT = 30.0
#: How long a Ctrl-C waits for the faults' cancels (``cancel_on_interrupt``): a hung gateway must not
#: hold an interrupt for long.
_CANCEL_WAIT = 3.0


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
    RuntimeError: The client is (or was, during the call) closed; the call came from a thread
        running an event loop; or the process was forked after the client was made."""


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
        return self._run(method.__name__, lambda: method(self._client, *args, **kwargs), on_interrupt=refs)

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
        return self._run(method.__name__, collect, on_interrupt=refs)

    _named(call, method, _blocking_doc(method, returns), returns=list[Outcome])
    return call


def _listing(
    method: Callable[Concatenate[ProgressClient, P], AsyncIterator[ChaosEvent]],
) -> Callable[Concatenate[SyncProgressClient, P], list[ChaosEvent]]:
    """``chaos_events``, blocking: the same parameters; the events up to the run's ``Stopped``, as a list."""
    signature = inspect.signature(method)
    returns = "The :class:`~sf_progress.ChaosEvent` values, in order (up to the run's ``Stopped``, or now)."

    def call(self: SyncProgressClient, /, *args: P.args, **kwargs: P.kwargs) -> list[ChaosEvent]:
        if signature.bind(self, *args, **kwargs).arguments.get("until") == "never":
            raise ValueError("until='never' never ends: a blocking call cannot follow forever")

        async def collect() -> list[ChaosEvent]:
            return [event async for event in method(self._client, *args, **kwargs)]

        return self._run(method.__name__, collect)

    _named(call, method, _blocking_doc(method, returns), returns=list[ChaosEvent])
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
        if options.get("session") is not None:
            raise TypeError(
                "session= cannot be given to SyncProgressClient: an aiohttp session belongs to the event loop "
                "it was made on, and this client runs its own; give the connection options instead"
            )
        self.cancel_on_interrupt = cancel_on_interrupt
        self._client = ProgressClient(endpoint, **options)  # validates every option here, in the caller's thread
        self._loop = asyncio.new_event_loop()
        self._lock = threading.Lock()
        self._closed = False
        self._pid = os.getpid()
        self._calls = _Calls()
        self._thread = threading.Thread(target=_serve, args=(self._loop,), name="sf_progress-sync", daemon=True)
        self._thread.start()
        # Dropped without close(): its session is closed and its thread stopped as it is collected.
        self._finalizer = weakref.finalize(self, _drop, self._loop, self._client, self._calls, self._pid)

    # --- plumbing ------------------------------------------------------------------------

    def _check_caller(self, name: str) -> None:
        """Refuse a call that would hang: in a forked child, or from a thread running an event loop."""
        if os.getpid() != self._pid:
            raise RuntimeError(
                f"this SyncProgressClient was made in process {self._pid}, before a fork: its event loop's thread "
                "is not in this process; create a new client here"
            )
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return
        raise RuntimeError(
            f"SyncProgressClient.{name}() blocks, and this thread runs an event loop, which it would freeze (and "
            f"deadlock if that loop serves the gateway): await ProgressClient.{name}() there, or call it from "
            f"another thread (await asyncio.to_thread(client.{name}, ...))"
        )

    def _run(
        self, name: str, make: Callable[[], Coroutine[Any, Any, T]], on_interrupt: Iterable[OperationRef] = ()
    ) -> T:
        self._check_caller(name)
        # The caller's context (an OpenTelemetry span, say) goes with the call: spans nest under it.
        context = contextvars.copy_context()
        result: concurrent.futures.Future[T] = concurrent.futures.Future()
        tasks: list[asyncio.Task[T]] = []
        calls = self._calls

        def spawn() -> None:
            if not result.set_running_or_notify_cancel():
                return
            if calls.closing:  # closed between the check and this turn of the loop
                result.set_exception(_closed_during(name))
                return
            task = context.run(self._loop.create_task, make())  # the task runs in a copy of the context
            tasks.append(task)
            calls.tasks.add(task)
            task.add_done_callback(lambda done: _settle(done, result, calls, name))

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
        """Send each fault's cancel, for ``_CANCEL_WAIT`` seconds at most; a second Ctrl-C stops waiting at once.

        What is not confirmed in time is said (a warning per fault), never raised: the first
        Ctrl-C's ``KeyboardInterrupt`` follows either way.
        """
        outcome: dict[OperationRef, str] = {}

        async def cancel_all() -> None:
            async def one(ref: OperationRef) -> None:
                try:
                    await self._client.cancel_operation(ref, timeout=max(1, int(_CANCEL_WAIT)))
                    outcome[ref] = "sent"
                except SFProgressError as exc:  # already ended, or the cluster is unreachable: said, not raised
                    outcome[ref] = str(exc)

            tasks = [asyncio.ensure_future(one(ref)) for ref in refs]
            try:
                await asyncio.wait(tasks, timeout=_CANCEL_WAIT)
            finally:  # in time or not (or cancelled by a second Ctrl-C): nothing is left running
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)

        future = asyncio.run_coroutine_threadsafe(cancel_all(), self._loop)
        try:
            future.result(_CANCEL_WAIT + 2)
        except (concurrent.futures.TimeoutError, TimeoutError, concurrent.futures.CancelledError):
            future.cancel()
        except KeyboardInterrupt:  # a second Ctrl-C: stop waiting for the cancels
            future.cancel()
            logger.warning("second Ctrl-C: not waiting for the cancels any more")
        for ref in refs:
            said = outcome.get(ref)
            if said is None:
                logger.warning("the cancel of %s after Ctrl-C was not confirmed (it may not have been sent)", ref)
            elif said != "sent":
                logger.warning("the cancel of %s after Ctrl-C failed: %s", ref, said)

    def close(self) -> None:
        """End the calls still in flight (each raises ``RuntimeError``), close the session, stop the loop.

        Safe to call more than once.  In a process forked after the client was made it only
        marks the client closed (its loop's thread is not there).

        Raises:
            RuntimeError: Called from a hook, on the client's own loop (it would wait for itself).
        """
        if threading.current_thread() is self._thread:
            raise RuntimeError("a SyncProgressClient cannot be closed from its own loop (from a hook it calls)")
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._finalizer.detach()
        if os.getpid() != self._pid:
            return
        try:
            asyncio.run_coroutine_threadsafe(_shut(self._client, self._calls), self._loop).result(_CLOSE_WAIT)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)  # and its thread closes it
            self._thread.join(_CLOSE_WAIT)

    def __enter__(self) -> SyncProgressClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

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
    def cluster(self) -> str | None:
        """The cluster intended (``cluster=``), or ``None``."""
        return self._client.cluster

    @property
    def allow(self) -> frozenset[str]:
        """The safety rules this client waives (their names)."""
        return self._client.allow

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
    prepare = _blocking(ProgressClient.prepare)
    plan = _blocking(ProgressClient.plan)
    select_targets = _blocking(ProgressClient.select_targets)
    get_node_instance_id = _blocking(ProgressClient.get_node_instance_id)
    get_aad_metadata = _blocking(ProgressClient.get_aad_metadata)
    get_cluster_version = _blocking(ProgressClient.get_cluster_version)
    get_cluster_name = _blocking(ProgressClient.get_cluster_name)
    expect_cluster = _blocking(ProgressClient.expect_cluster)
    check = _blocking(ProgressClient.check)
    validate_service = _blocking(ProgressClient.validate_service)
    get_lever = _blocking(ProgressClient.get_lever)
    engage_lever = _blocking(ProgressClient.engage_lever)
    release_lever = _blocking(ProgressClient.release_lever)
    get_chaos = _blocking(ProgressClient.get_chaos)
    start_chaos = _blocking(ProgressClient.start_chaos)
    stop_chaos = _blocking(ProgressClient.stop_chaos)
    chaos_events = _listing(ProgressClient.chaos_events)
    get_chaos_schedule = _blocking(ProgressClient.get_chaos_schedule)
    set_chaos_schedule = _blocking(ProgressClient.set_chaos_schedule)
    wait_for_completion = _blocking(ProgressClient.wait_for_completion, cancels=True)
    wait_for_recovery = _blocking(ProgressClient.wait_for_recovery)

    def run_scenario(
        self,
        scenario: Scenario | Mapping[str, Any] | str | os.PathLike[str] | None,
        *,
        journal: str | os.PathLike[str] | None = None,
        hold_timeout: float | None = None,
        on_event: Callable[[ScenarioEvent], object] | None = None,
    ) -> list[ScenarioEvent]:
        """Blocking :class:`~sf_progress.ScenarioRun`: run a failover scenario to its end (or resume one).

        Args:
            scenario: A :class:`~sf_progress.Scenario`, a scenario file's object or path; ``None``
                to resume the run kept in *journal*.
            journal: The journal to create (or, with ``scenario=None``, to resume); ``None``: a
                scratch one, removed at the end.
            hold_timeout: How long a fault a safety rule forbids is held before the run stops.
            on_event: Called with each event as it happens (on the client's own thread).

        Returns:
            Every :class:`~sf_progress.ScenarioEvent`, the last the ``stopped`` one with the verdict.

        Raises:
            ValueError: A bad scenario, or ``scenario=None`` without a journal.
            JournalError: The journal cannot be created, or holds no scenario.
        """
        checked = ScenarioRun.drive(scenario, journal=journal, hold_timeout=hold_timeout, on_event=on_event)

        async def go() -> list[ScenarioEvent]:
            return await checked(self._client)

        return self._run("run_scenario", go)
    wait_many = _collecting(ProgressClient.wait_many)


class _Calls:
    """The calls in flight on a client's loop (touched on that loop only), and whether it is closing."""

    def __init__(self) -> None:
        self.tasks: set[asyncio.Task[Any]] = set()
        self.closing = False
        self.dropper: asyncio.Task[None] | None = None


def _closed_during(name: str) -> RuntimeError:
    return RuntimeError(f"this SyncProgressClient was closed while {name}() ran; create a new one")


def _settle(task: asyncio.Task[T], result: concurrent.futures.Future[T], calls: _Calls, name: str) -> None:
    """Hand a finished task's result (or error, or cancellation) to the caller's future."""
    calls.tasks.discard(task)
    if task.cancelled():
        result.set_exception(_closed_during(name) if calls.closing else concurrent.futures.CancelledError())
    elif task.exception() is not None:
        result.set_exception(task.exception())
    else:
        result.set_result(task.result())


async def _shut(client: ProgressClient, calls: _Calls) -> None:
    """On the client's loop: end the calls in flight (their callers get ``RuntimeError``), close the session."""
    calls.closing = True
    pending = list(calls.tasks)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    await client.aclose()


def _drop(loop: asyncio.AbstractEventLoop, client: ProgressClient, calls: _Calls, pid: int) -> None:
    """A client collected without ``close()``: close its session and stop its loop, without waiting."""
    if os.getpid() != pid or loop.is_closed():
        return

    async def shut_and_stop() -> None:
        try:
            await _shut(client, calls)
        finally:
            loop.stop()

    def begin() -> None:
        calls.dropper = loop.create_task(shut_and_stop())  # held: a task only weakly referenced may vanish

    with contextlib.suppress(RuntimeError):  # the loop is closed already (interpreter exit)
        loop.call_soon_threadsafe(begin)


def _serve(loop: asyncio.AbstractEventLoop) -> None:
    """The client's thread: its loop, until stopped (by ``close()`` or as the client is collected), then closed."""
    try:
        loop.run_forever()
    finally:
        loop.close()
