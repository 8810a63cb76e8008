"""A blocking client for scripts: ``SyncProgressClient``, the async client on an event loop of its own.

One event loop runs in one daemon thread per client, so its connection pool lives from one
call to the next; every blocking method hands a coroutine to that loop and waits for it.
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
import logging
import threading
import uuid
from collections.abc import Callable, Coroutine, Iterable
from datetime import timedelta
from types import TracebackType
from typing import Any, TypeVar

from ._client import ProgressClient
from ._errors import SFProgressError
from ._models import (
    DataLossMode,
    FaultOperation,
    FaultProgress,
    NodeTransitionType,
    OperationLike,
    OperationRef,
    OperationState,
    OperationType,
    QuorumLossMode,
    RestartPartitionMode,
)
from ._recovery import Recovery
from ._targets import (
    DEFAULT_DATA_LOSS_MODE,
    DEFAULT_QUORUM_LOSS_MODE,
    DEFAULT_RESTART_MODE,
    DEFAULT_STOP_DURATION,
    FaultTarget,
)
from ._waiting import Backoff, Outcome

__all__ = ["SyncProgressClient"]

logger = logging.getLogger("sf_progress")
T = TypeVar("T")
#: How long ``close()`` waits for the client's loop to finish closing the session.
_CLOSE_WAIT = 30.0


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
        """The gateway URL requests go to."""
        return self._client.endpoint

    def __repr__(self) -> str:
        return f"<SyncProgressClient {self.endpoint!r} {'closed' if self._closed else 'open'}>"

    # --- the calls ------------------------------------------------------------------------

    def start(self, target: FaultTarget, *, timeout: int | None = None) -> OperationRef:
        """Start the fault *target* describes, of any kind; blocking :meth:`~sf_progress.ProgressClient.start`.

        Args:
            target: What to fault and how.
            timeout: This call's server timeout, whole seconds (default: the client's).

        Returns:
            The :class:`~sf_progress.OperationRef` to follow it.

        Raises:
            SFProgressError: As :meth:`~sf_progress.ProgressClient.start` raises.
            KeyboardInterrupt: Ctrl-C during the call (with ``cancel_on_interrupt=True`` the
                wait's faults are cancelled first).
            RuntimeError: The client is closed.
        """
        return self._run(lambda: self._client.start(target, timeout=timeout))

    def start_partition_restart(
        self,
        service_id: str,
        partition_id: str | uuid.UUID,
        *,
        mode: RestartPartitionMode | str = DEFAULT_RESTART_MODE,
        operation_id: str | uuid.UUID | None = None,
        timeout: int | None = None,
    ) -> OperationRef:
        """Start a partition restart; blocking :meth:`~sf_progress.ProgressClient.start_partition_restart`.

        Args:
            service_id: The service (``fabric:/app/svc``, ``app/svc`` or ``app~svc``).
            partition_id: The partition's GUID.
            mode: ``AllReplicasOrInstances`` (default) or ``OnlyActiveSecondaries``.
            operation_id: The OperationId to use (default: a new random one).
            timeout: This call's server timeout, whole seconds (default: the client's).

        Returns:
            Its :class:`~sf_progress.OperationRef`.

        Raises:
            SFProgressError: As the async call raises.
            KeyboardInterrupt: Ctrl-C during the call (with ``cancel_on_interrupt=True`` the
                wait's faults are cancelled first).
            RuntimeError: The client is closed.
        """
        target = FaultTarget.restart(service_id, partition_id, mode=mode, operation_id=operation_id)
        return self.start(target, timeout=timeout)

    def start_data_loss(
        self,
        service_id: str,
        partition_id: str | uuid.UUID,
        mode: DataLossMode | str = DEFAULT_DATA_LOSS_MODE,
        *,
        operation_id: str | uuid.UUID | None = None,
        timeout: int | None = None,
    ) -> OperationRef:
        """Start a partition data loss; blocking :meth:`~sf_progress.ProgressClient.start_data_loss`.

        Args:
            service_id: The service (``fabric:/app/svc``, ``app/svc`` or ``app~svc``).
            partition_id: The partition's GUID.
            mode: ``PartialDataLoss`` (default) or ``FullDataLoss``.
            operation_id: The OperationId to use (default: a new random one).
            timeout: This call's server timeout, whole seconds (default: the client's).

        Returns:
            Its :class:`~sf_progress.OperationRef`.

        Raises:
            SFProgressError: As the async call raises.
            KeyboardInterrupt: Ctrl-C during the call (with ``cancel_on_interrupt=True`` the
                wait's faults are cancelled first).
            RuntimeError: The client is closed.
        """
        target = FaultTarget.data_loss(service_id, partition_id, mode=mode, operation_id=operation_id)
        return self.start(target, timeout=timeout)

    def start_quorum_loss(
        self,
        service_id: str,
        partition_id: str | uuid.UUID,
        duration: float | timedelta,
        mode: QuorumLossMode | str = DEFAULT_QUORUM_LOSS_MODE,
        *,
        operation_id: str | uuid.UUID | None = None,
        timeout: int | None = None,
    ) -> OperationRef:
        """Start a partition quorum loss; blocking :meth:`~sf_progress.ProgressClient.start_quorum_loss`.

        Args:
            service_id: The service (``fabric:/app/svc``, ``app/svc`` or ``app~svc``).
            partition_id: The partition's GUID.
            duration: Seconds the quorum stays lost (whole, 1..4294967295) or a timedelta.
            mode: ``QuorumReplicas`` (default) or ``AllReplicas``.
            operation_id: The OperationId to use (default: a new random one).
            timeout: This call's server timeout, whole seconds (default: the client's).

        Returns:
            Its :class:`~sf_progress.OperationRef`.

        Raises:
            SFProgressError: As the async call raises.
            KeyboardInterrupt: Ctrl-C during the call (with ``cancel_on_interrupt=True`` the
                wait's faults are cancelled first).
            RuntimeError: The client is closed.
        """
        target = FaultTarget.quorum_loss(
            service_id, partition_id, duration=duration, mode=mode, operation_id=operation_id
        )
        return self.start(target, timeout=timeout)

    def start_node_transition(
        self,
        node_name: str,
        transition: NodeTransitionType | str,
        *,
        stop_duration: float | timedelta = DEFAULT_STOP_DURATION,
        node_instance_id: int | str | None = None,
        operation_id: str | uuid.UUID | None = None,
        timeout: int | None = None,
    ) -> OperationRef:
        """Stop or start a node; blocking :meth:`~sf_progress.ProgressClient.start_node_transition`.

        Args:
            node_name: The node's name.
            transition: ``"stop"`` or ``"start"``.
            stop_duration: For a stop, seconds the node stays down (300..14400).
            node_instance_id: The node's instance id (default: read from the cluster).
            operation_id: The OperationId to use (default: a new random one).
            timeout: This call's server timeout, whole seconds (default: the client's).

        Returns:
            Its :class:`~sf_progress.OperationRef`.

        Raises:
            SFProgressError: As the async call raises.
            KeyboardInterrupt: Ctrl-C during the call (with ``cancel_on_interrupt=True`` the
                wait's faults are cancelled first).
            RuntimeError: The client is closed.
        """
        target = FaultTarget.node_transition(
            node_name, transition, stop_duration=stop_duration, node_instance_id=node_instance_id,
            operation_id=operation_id,
        )
        return self.start(target, timeout=timeout)

    def get_progress(self, ref: OperationRef, *, timeout: int | None = None) -> FaultProgress:
        """Read the progress of any fault operation; blocking :meth:`~sf_progress.ProgressClient.get_progress`.

        Args:
            ref: The operation.
            timeout: This call's server timeout, whole seconds (default: the client's).

        Returns:
            The progress model of the ref's kind.

        Raises:
            NotFoundError: The cluster does not know the operation.
            KeyboardInterrupt: Ctrl-C during the call (with ``cancel_on_interrupt=True`` the
                wait's faults are cancelled first).
            RuntimeError: The client is closed.
        """
        return self._run(lambda: self._client.get_progress(ref, timeout=timeout))

    def cancel_operation(
        self, operation_id: str | uuid.UUID | OperationRef, *, force: bool = False, timeout: int | None = None
    ) -> None:
        """Cancel a running fault operation; blocking :meth:`~sf_progress.ProgressClient.cancel_operation`.

        Args:
            operation_id: The operation's GUID, or its ref.
            force: Force the cancel (only after a graceful one).
            timeout: This call's server timeout, whole seconds (default: the client's).

        Raises:
            NotFoundError: The cluster does not know the operation.
            KeyboardInterrupt: Ctrl-C during the call (with ``cancel_on_interrupt=True`` the
                wait's faults are cancelled first).
            RuntimeError: The client is closed.
        """
        self._run(lambda: self._client.cancel_operation(operation_id, force=force, timeout=timeout))

    def list_fault_operations(
        self,
        *,
        type_filter: Iterable[OperationType] | OperationType | None = None,
        state_filter: Iterable[OperationState] | OperationState | None = None,
        timeout: int | None = None,
    ) -> list[FaultOperation]:
        """List fault operations; blocking :meth:`~sf_progress.ProgressClient.list_fault_operations`.

        Args:
            type_filter: Only these kinds (default: every kind).
            state_filter: Only these states (default: every state).
            timeout: This call's server timeout, whole seconds (default: the client's).

        Returns:
            One :class:`~sf_progress.FaultOperation` per listed operation.

        Raises:
            FabricError: An error answer.
            KeyboardInterrupt: Ctrl-C during the call (with ``cancel_on_interrupt=True`` the
                wait's faults are cancelled first).
            RuntimeError: The client is closed.
        """
        client = self._client
        return self._run(
            lambda: client.list_fault_operations(type_filter=type_filter, state_filter=state_filter, timeout=timeout)
        )

    def wait_for_completion(
        self,
        ref: OperationRef,
        *,
        deadline: float | timedelta | None = 600.0,
        backoff: Backoff | None = None,
        not_found_grace: float | timedelta = 10.0,
        raise_on_failure: bool = False,
        recovery: bool = False,
    ) -> FaultProgress:
        """Block until the operation ended; blocking :meth:`~sf_progress.ProgressClient.wait_for_completion`.

        Args:
            ref: The operation, of any kind.
            deadline: Seconds (or a timedelta) to wait at most; ``None``: no deadline.
            backoff: How reads are spaced (default :class:`~sf_progress.Backoff`).
            not_found_grace: Seconds during which a 404 means "not readable yet".
            raise_on_failure: Raise :class:`~sf_progress.OperationNotCompleted` for Faulted and
                Cancelled.
            recovery: Also wait until the target recovered.

        Returns:
            The final progress, of the ref's kind.

        Raises:
            WaitTimeout: The deadline passed (:class:`~sf_progress.RecoveryTimeout` when the
                target had not recovered).
            KeyboardInterrupt: Ctrl-C during the call (with ``cancel_on_interrupt=True`` the
                wait's faults are cancelled first).
            RuntimeError: The client is closed.
        """
        return self._run(
            lambda: self._client.wait_for_completion(
                ref,
                deadline=deadline,
                backoff=backoff,
                not_found_grace=not_found_grace,
                raise_on_failure=raise_on_failure,
                recovery=recovery,
            ),
            on_interrupt=[ref],
        )

    def wait_for_recovery(
        self,
        ref: OperationRef,
        *,
        deadline: float | timedelta | None = 600.0,
        backoff: Backoff | None = None,
        transition: NodeTransitionType | str | None = None,
    ) -> Recovery:
        """Block until the fault's target recovered; blocking :meth:`~sf_progress.ProgressClient.wait_for_recovery`.

        Args:
            ref: The fault whose target to watch.
            deadline: Seconds (or a timedelta) to wait at most; ``None``: no deadline.
            backoff: How checks are spaced.
            transition: For a node transition, ``"stop"`` or ``"start"`` if not known.

        Returns:
            The :class:`~sf_progress.Recovery`.

        Raises:
            RecoveryTimeout: The deadline passed first.
            NotFoundError: The cluster does not know the partition or node.
            KeyboardInterrupt: Ctrl-C during the call (with ``cancel_on_interrupt=True`` the
                wait's faults are cancelled first).
            RuntimeError: The client is closed.
        """
        return self._run(
            lambda: self._client.wait_for_recovery(ref, deadline=deadline, backoff=backoff, transition=transition)
        )

    def wait_many(
        self,
        operations: Iterable[OperationLike],
        *,
        concurrency: int = 64,
        max_rate: float | None = None,
        deadline: float | timedelta | None = 600.0,
        backoff: Backoff | None = None,
        not_found_grace: float | timedelta = 10.0,
        recovery: bool = False,
    ) -> list[Outcome]:
        """Block until every operation ended; blocking :meth:`~sf_progress.ProgressClient.wait_many`.

        Args:
            operations: Refs or ``(service_id, partition_id, operation_id)`` tuples.
            concurrency: Requests in flight at most (1..10,000).
            max_rate: Requests per second at most for the batch; ``None``: unpaced.
            deadline: Each operation's budget, seconds or a timedelta; ``None``: none.
            backoff: How per-operation reads are spaced.
            not_found_grace: Seconds during which a 404 means "not readable yet".
            recovery: Also wait until each completed operation's target recovered.

        Returns:
            One :class:`~sf_progress.Outcome` per distinct operation, in the order they ended.

        Raises:
            ValueError: A bad option or operation (nothing is sent).
            KeyboardInterrupt: Ctrl-C during the call (with ``cancel_on_interrupt=True`` the
                wait's faults are cancelled first).
            RuntimeError: The client is closed.
        """
        items = list(operations)

        async def collect() -> list[Outcome]:
            batch = self._client.wait_many(  # every item validated before anything is sent
                items,
                concurrency=concurrency,
                max_rate=max_rate,
                deadline=deadline,
                backoff=backoff,
                not_found_grace=not_found_grace,
                recovery=recovery,
            )
            async with batch:
                return [outcome async for outcome in batch]

        refs = [item for item in items if isinstance(item, OperationRef)]
        return self._run(collect, on_interrupt=refs)


def _settle(task: asyncio.Task[T], result: concurrent.futures.Future[T]) -> None:
    """Hand a finished task's result (or error, or cancellation) to the caller's future."""
    if task.cancelled():
        result.set_exception(concurrent.futures.CancelledError())
    elif task.exception() is not None:
        result.set_exception(task.exception())
    else:
        result.set_result(task.result())
