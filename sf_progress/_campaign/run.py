"""``FaultRun``: start faults with a journal, so a killed run resumes with none lost and none sent twice.

The run plans its targets (the whole plan journaled before anything is sent), has
``starts.Starts`` send them exactly once, paces them by its gates (``max_active``,
``abort_on_unrecovered``, :meth:`FaultRun.abort`) and waits for them on one batch of the
client, journaling each result as it comes.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Callable, Iterable
from datetime import timedelta
from types import TracebackType
from typing import TYPE_CHECKING

import attrs

from .._ids import to_seconds
from .._models import OperationRef
from .._targets import FaultTarget
from .._wait.machine import Backoff, Event, EventHook, Outcome, OutcomeKind, StateChanged, call_hook
from .._wait.options import DEFAULT, WaitOptions
from .journal import Journal, JournalError
from .live import LEVER_STOPPED, LeverWatch, Live, same_cluster, unconfirmed, unrecovered
from .results import Gates, ResultReason, RunResult, RunSnapshot, TargetStatus
from .starts import HELD_OUT, Starts

if TYPE_CHECKING:  # the client imports nothing of this module, so this is no cycle
    from .._client import ProgressClient
    from .._wait.batch import BatchSnapshot

__all__ = ["FaultRun"]

logger = logging.getLogger("sf_progress")


class FaultRun:
    """A run of faults kept in a journal: start them, wait for them, resume after a crash.

    ``await FaultRun.create(path, client, targets)`` writes a new journal (the whole target
    list, before anything is sent); ``await FaultRun.resume(path, client)`` opens an
    existing one.  Then :meth:`start_pending` sends what is left to send (and checks what a
    killed run may have sent), :meth:`start` adds and starts one more target (for an
    orchestrator that starts faults progressively), and :meth:`results` yields one
    ``RunResult`` per target, those that ended before a crash included.  The journal is
    locked while the run is open: a second run on it fails with ``JournalError``.
    """

    def __init__(
        self,
        client: ProgressClient,
        journal: Journal,
        *,
        chunk: int = 256,
        settle: float = 2.0,
        on_start: Callable[[OperationRef], object] | None = None,
        hold_timeout: float | None = None,
        cancel_on_lever: bool = False,
    ) -> None:
        if type(chunk) is not int or chunk < 1:
            raise ValueError(f"chunk must be an int >= 1, got {chunk!r}")
        if on_start is not None and not callable(on_start):
            raise TypeError(f"on_start must be callable, not {type(on_start).__name__}")
        self.client, self.journal, self.chunk = client, journal, chunk
        hold = None if hold_timeout is None else to_seconds(hold_timeout, "hold_timeout", finite=True)
        self.starts = Starts(client, journal, float(settle), on_start, hold)
        self.cancel_on_lever = bool(cancel_on_lever)
        self._live: Live | None = None  # the results() iteration under way, if any

    @classmethod
    async def create(
        cls,
        path: str | os.PathLike[str],
        client: ProgressClient,
        targets: Iterable[FaultTarget] = (),
        *,
        chunk: int = 256,
        settle: float = 2.0,
        max_active: int | None = None,
        recovery: bool = False,
        abort_on_unrecovered: bool = False,
        on_start: Callable[[OperationRef], object] | None = None,
        hold_timeout: float | None = None,
        cancel_on_lever: bool = False,
    ) -> FaultRun:
        """Create a run with a new journal at *path*, its *targets* planned at once (one fsync).

        Args:
            path: The journal file to create (an append-only JSON-lines file; refused if it holds
                a run already, unless that run's plan was cut short).
            client: The client to start and wait with.
            targets: The plan (more may be added with :meth:`plan` and :meth:`start`).
            chunk: Starts whose intents share one fsync (default 256).
            settle: Seconds a resumed run gives a start that may still be in flight before
                sending it again, at least (the client's ``request_timeout`` is waited too).
            max_active: At most this many faults started and not yet ended (with ``recovery``,
                not yet recovered); ``None``: no limit.
            recovery: Wait for each target to recover.
            abort_on_unrecovered: Start nothing more once a target did not recover by its
                deadline (needs ``recovery``).
            on_start: Called as ``on_start(ref)`` right after each start is accepted and journaled
                (e.g. to print its OperationId at once); what it raises is logged.
            hold_timeout: A start a safety rule forbids is held (nothing sent; the rule read
                again every 2 s; the faults started go on) until the rule opens; after this many
                seconds held, the run is aborted (:attr:`held_out`). ``None``: held until it opens.
                The stop lever, once engaged, aborts the run at once (:attr:`stopped_by_lever`).
            cancel_on_lever: Once the stop lever is engaged, also cancel the run's active Fault
                Analysis operations (default: they are waited for).

        Returns:
            The run, its journal locked; use it as ``async with``.

        Raises:
            JournalError: The journal exists, is locked by another run or cannot be written.
            ValueError: A bad gate or a duplicate OperationId in *targets*.
            TypeError: A target that is not a :class:`FaultTarget`.
        """
        gates = Gates(max_active, recovery, abort_on_unrecovered)  # checked before the journal exists
        journal = Journal.create(path, client.endpoint, client.cluster)
        run = cls(client, journal, chunk=chunk, settle=settle, on_start=on_start, hold_timeout=hold_timeout,
                   cancel_on_lever=cancel_on_lever)
        try:
            if gates != Gates():
                run.journal.set_gates(gates)
            run.plan(targets)
        except BaseException:
            # Nothing was started; the journal holds a plan cut short, which a create may replace.
            with contextlib.suppress(JournalError):
                run.close()
            raise
        return run

    @property
    def held_out(self) -> bool:
        """Whether the run was aborted because a safety rule stayed closed past ``hold_timeout``."""
        return (self.journal.aborted or "").startswith(HELD_OUT)

    @property
    def stopped_by_lever(self) -> bool:
        """Whether the run was aborted because the stop lever was engaged (:meth:`ProgressClient.engage_lever`)."""
        return (self.journal.aborted or "").startswith(LEVER_STOPPED)

    @property
    def gates(self) -> Gates:
        """The run's gates (from its journal)."""
        return self.journal.gates

    @property
    def aborted(self) -> str | None:
        """Why the run stopped starting faults (``abort_on_unrecovered``), or ``None``."""
        return self.journal.aborted

    def progress(self) -> BatchSnapshot | None:
        """The live counts of the run's waits while :meth:`results` is iterated (``None`` otherwise).

        Returns:
            The :class:`BatchSnapshot` of the waits under way, or ``None``.
        """
        live = self._live
        return None if live is None else live.batch.snapshot()

    def snapshot(self) -> RunSnapshot:
        """Where every target of the run stands now (as :func:`read_journal` reads a journal file).

        Returns:
            The :class:`RunSnapshot`.
        """
        return self.journal.snapshot()

    @classmethod
    async def resume(
        cls,
        path: str | os.PathLike[str],
        client: ProgressClient,
        *,
        force: bool = False,
        chunk: int = 256,
        settle: float = 2.0,
        on_start: Callable[[OperationRef], object] | None = None,
        hold_timeout: float | None = None,
        cancel_on_lever: bool = False,
    ) -> FaultRun:
        """Open the run of an existing journal, to finish it.

        Args:
            path: The journal.
            client: The client to start and wait with (of the journal's cluster).
            force: Accept a journal written against another endpoint.
            chunk: Starts whose intents share one fsync (default 256).
            settle: Seconds given at least to a start that may still be in flight.
            on_start: Called as ``on_start(ref)`` right after each start is accepted, as for
                :meth:`create`.
            hold_timeout: How long a start a safety rule forbids is held, as for :meth:`create`.
            cancel_on_lever: Cancel the active Fault Analysis operations once the stop lever is
                engaged, as for :meth:`create`.

        Returns:
            The run, its journal locked, with the gates it was created with.

        Raises:
            JournalError: The journal is another cluster's (another endpoint without *force*, or
                the cluster it named is not the one the gateway serves), locked, cut before its
                plan was complete, or holds a record that makes no sense.
        """
        journal = Journal.open(path)
        if journal.endpoint != client.endpoint and not force:
            journal.close()
            raise JournalError(
                f"journal {str(path)!r} belongs to {journal.endpoint!r}, not {client.endpoint!r}: resume it "
                f"with a client of {journal.endpoint!r} (--endpoint {journal.endpoint}), or pass force=True "
                "(--force) if both name the same cluster"
            )
        await same_cluster(journal, client, path)
        for notice in journal.notices:
            logger.warning("%s", notice)
        return cls(client, journal, chunk=chunk, settle=settle, on_start=on_start, hold_timeout=hold_timeout,
                   cancel_on_lever=cancel_on_lever)

    async def __aenter__(self) -> FaultRun:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Make the journal durable and release its lock.  Safe to call more than once."""
        self.journal.close()

    # --- starting ---------------------------------------------------------------------------

    def plan(self, targets: Iterable[FaultTarget]) -> list[int]:
        """Add targets to the journal (durably, one fsync), without starting them.

        Args:
            targets: The targets to add.

        Returns:
            Their numbers in the run.

        Raises:
            ValueError: An OperationId already in the plan.
            TypeError: A target that is not a :class:`FaultTarget`.
            JournalError: The journal cannot be written.
        """
        targets = list(targets)  # an iterable that raises does so before anything is written
        known = {state.target.operation_id for state in self.journal.targets}
        for index, target in enumerate(targets):
            if not isinstance(target, FaultTarget):
                raise TypeError(f"targets[{index}] must be a FaultTarget, not {type(target).__name__}")
            if target.operation_id in known:
                raise ValueError(
                    f"targets[{index}]: operation id {target.operation_id} is already in this run's plan "
                    "(each target needs its own OperationId)"
                )
            known.add(target.operation_id)
        numbers = self.journal.add_targets(targets)
        self.journal.sync()
        return numbers

    async def start(self, target: FaultTarget) -> OperationRef:
        """Plan one more target and start it (its intent durable first).

        While :meth:`results` is being iterated, the target's result comes in that stream too.

        Args:
            target: The fault to add and start.

        Returns:
            Its :class:`OperationRef`.

        Raises:
            ValueError: Its OperationId is already in the plan.
            JournalError: The journal cannot be written (nothing is sent).
        """
        (n,) = self.plan([target])
        await self.starts.chunk([n])
        live = self._live
        state = self.journal.targets[n]
        if live is not None and state.accepted and live.accepting:
            live.take(n, target.ref)
        return target.ref

    async def start_pending(self) -> None:
        """Send every planned start not sent yet, after checking those a killed run may have sent.

        A run with ``max_active`` or ``abort_on_unrecovered`` only checks here: :meth:`results`
        starts its targets as its gates allow.
        """
        states = self.journal.targets
        uncertain = [n for n, s in enumerate(states) if s.status is TargetStatus.UNCONFIRMED]
        await self.starts.settle(uncertain)
        if self.journal.gates.paced:
            return
        unsent = [n for n, s in enumerate(states) if s.status is TargetStatus.PLANNED]
        for i in range(0, len(unsent), self.chunk):
            await self.starts.chunk(unsent[i : i + self.chunk])

    def note(self, text: str) -> None:
        """Journal a line about the run -- how its targets were chosen, say; its reports show it.

        Args:
            text: The line, in words.

        Raises:
            JournalError: The journal cannot be written.
        """
        self.journal.note(" ".join(str(text).split()))
        self.journal.sync()

    def abort(self, reason: str) -> None:
        """Start nothing more (the faults already started are still waited on); journaled at once.

        The targets not started end ``FAILED`` with reason :attr:`ResultReason.ABORTED`, and a
        resumed run starts none of them.  A second abort keeps the first reason.

        Args:
            reason: Why, in words (kept in the journal and shown in reports).
        """
        if self.journal.aborted is None:
            self.journal.abort(str(reason))
            self.journal.sync()
            logger.warning("run aborted: %s; no more faults are started", reason)

    # --- waiting ---------------------------------------------------------------------------

    async def results(
        self,
        *,
        deadline: float | timedelta | None = DEFAULT.deadline,
        backoff: Backoff | None = DEFAULT.backoff,
        not_found_grace: float | timedelta = DEFAULT.not_found_grace,
        coalesce: bool | None = DEFAULT.coalesce,
        recovery: bool | None = None,
        concurrency: int = DEFAULT.concurrency,
        max_rate: float | None = DEFAULT.max_rate,
        on_event: EventHook | None = DEFAULT.on_event,
    ) -> AsyncIterator[RunResult]:
        """Yield one result per target of the run: those recorded first, then the others as they end.

        Each result is journaled as it comes; a resumed run reports the same results again and
        sends no start for them.  A target whose start was refused ends ``FAILED`` with
        ``reason`` :attr:`ResultReason.REFUSED`; one whose start is not confirmed (a resume
        checks it again) ends ``FAILED`` with :attr:`ResultReason.UNCONFIRMED`, and is not
        journaled.  A run with ``max_active`` or ``abort_on_unrecovered`` starts its targets
        here, as slots free; once aborted, the targets it did not start end ``FAILED`` with
        :attr:`ResultReason.ABORTED`.  The wait options are those of
        :meth:`ProgressClient.wait_many` (:class:`WaitOptions`), with the same defaults.

        Args:
            deadline: Each wait's budget, seconds or a timedelta (``None``: none; default 600).
            backoff: How per-operation reads are spaced.
            not_found_grace: Seconds during which a 404 means "not readable yet".
            coalesce: As for :meth:`ProgressClient.wait_many`.
            recovery: Wait for each target to recover (default: the run's gate).
            concurrency: Requests in flight at most.
            max_rate: Requests per second at most; ``None``: unpaced.
            on_event: Receives the waits' events, as for :meth:`ProgressClient.wait_many`.

        Yields:
            One :class:`RunResult` per target, in the order they are known.

        Raises:
            JournalError: A result cannot be written (the journal keeps what was written).
        """
        journal, gates = self.journal, self.journal.gates
        options = WaitOptions(  # every option checked here, before anything is sent
            deadline=deadline,
            backoff=backoff,
            not_found_grace=not_found_grace,
            coalesce=coalesce,
            recovery=gates.recovery if recovery is None else recovery,
            concurrency=concurrency,
            max_rate=max_rate,
            on_event=on_event,
        )
        numbers: dict[OperationRef, int] = {}  # every target waited on here
        waiting: list[OperationRef] = []
        queue: collections.deque[int] = collections.deque()  # paced: not started yet
        for n, state in enumerate(journal.targets):
            status = state.status
            if status is TargetStatus.ENDED:
                assert state.result is not None
                yield state.result
            elif status is TargetStatus.REFUSED:
                result = RunResult.not_started(n, state.target, ResultReason.REFUSED, str(state.rejected))
                journal.outcome(result)
                yield result
            elif status is TargetStatus.ACTIVE:  # (a recorded timeout or lost connection is waited on again)
                numbers[state.target.ref] = n
                waiting.append(state.target.ref)
            elif status is TargetStatus.PLANNED and journal.aborted is not None:
                result = self.starts.aborted(n)
                journal.outcome(result)
                yield result
            elif status is TargetStatus.PLANNED and gates.paced:
                queue.append(n)
            else:  # not journaled: a resume checks it again
                yield unconfirmed(n, state)
        journal.flush()
        if waiting or queue:

            async def keep_states(event: Event) -> None:
                # State changes worth keeping (Running, RollingBack) go into the journal too.
                if isinstance(event, StateChanged) and not event.progress.is_terminal:
                    journal.state(numbers[event.ref], event.progress.raw_state)
                await call_hook(on_event, event)

            batch = self.client.wait_many(None, **attrs.evolve(options, on_event=keep_states).as_kwargs())
            live = self._live = Live(batch, numbers)
            try:
                async with batch, LeverWatch(self.client, self.abort, live, self.cancel_on_lever):
                    for ref in waiting:
                        live.take(numbers[ref], ref)
                    for result in await self._fill(queue, live):
                        yield result
                    live.seal_if_done(queue, journal.aborted)
                    async for outcome in batch:
                        yield self._ended(outcome, live)
                        for result in await self._fill(queue, live):
                            yield result
                        live.seal_if_done(queue, journal.aborted)
            finally:
                self._live = None
        for n in queue:  # the run was aborted before these were started: journaled, so the run reads as ended
            result = self.starts.aborted(n)
            journal.outcome(result)
            yield result
        journal.sync()

    def _ended(self, outcome: Outcome, live: Live) -> RunResult:
        """One waited-on target ended: its result, journaled (an abort decided, if its gate says so)."""
        journal = self.journal
        live.active.discard(outcome.ref)
        n = live.numbers[outcome.ref]
        if n in live.unconfirmed:  # a start with no answer, waited on while it held its slot
            live.unconfirmed.discard(n)
            if outcome.kind is OutcomeKind.NOT_FOUND:  # not there (yet): a resume checks it again
                return unconfirmed(n, journal.targets[n])
            journal.accepted(n)  # it was read: the start did land
        result = RunResult.of(n, journal.targets[n].target, outcome)
        journal.outcome(result)
        if journal.gates.abort_on_unrecovered and unrecovered(result) and journal.aborted is None:
            reason = result.recovery.reason if result.recovery is not None else None
            self.abort(f"target {n} ({result.ref.target}) did not recover: {reason}")
        journal.flush()
        return result

    async def _fill(self, queue: collections.deque[int], live: Live) -> list[RunResult]:
        """Start queued targets while the gates allow."""
        journal, limit = self.journal, self.journal.gates.max_active
        immediate = []
        while queue and journal.aborted is None and (limit is None or len(live.active) < limit):
            n = queue.popleft()
            await self.starts.chunk([n])  # its intent durable first, as for every start
            state = journal.targets[n]
            if state.accepted:
                live.take(n, state.target.ref)
            elif state.rejected is not None:
                result = RunResult.not_started(n, state.target, ResultReason.REFUSED, state.rejected)
                journal.outcome(result)
                immediate.append(result)
            else:  # may have landed: it holds its slot (max_active) while its wait finds out
                live.unconfirmed.add(n)
                live.take(n, state.target.ref)
        return immediate
