"""``FaultRun``: start faults with a journal, so a killed run resumes with none lost and none sent twice.

The rules (faults-protocol.md §2.3, §3.3): every target and its client-side OperationId is
in the journal, fsync'd, before its start is sent; starts go one after the other, never in
parallel; a 409 "already exists" means an earlier try got through; a node transition's
400 "in progress" is decided by reading its progress.  On resume, a target whose start
may have been sent (an intent without an acceptance) is first looked for by its
OperationId, and started again (with the same id) only if the cluster does not know it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Iterable
from types import TracebackType
from typing import TYPE_CHECKING, Any

import attrs

from . import _config
from ._errors import BadRequestError, ConflictError, NotFoundError, SFProgressError
from ._journal import FaultTarget, Journal, JournalError, TargetState
from ._kinds import KINDS
from ._models import OperationRef, OperationType
from ._waiting import Event, Outcome, OutcomeKind, StateChanged, call_hook

if TYPE_CHECKING:  # the client imports nothing of this module, so this is no cycle
    from ._client import ProgressClient

__all__ = ["FaultRun", "RunResult", "outcome_record", "start_target"]

logger = logging.getLogger("sf_progress")

_ALREADY_EXISTS = "FABRIC_E_TEST_COMMAND_OPERATION_ID_ALREADY_EXISTS"
_NODE_BUSY = "FABRIC_E_NODE_TRANSITION_IN_PROGRESS"


def ref_record(ref: OperationRef) -> dict[str, Any]:
    """The fields that name an operation in a result line (readable back by ``watch --from``)."""
    record: dict[str, Any] = {"type": KINDS[ref.kind].cli_name}
    if ref.node_name is not None:
        record["node_name"] = ref.node_name
    else:
        record["service_id"] = ref.service_id
        record["partition_id"] = str(ref.partition_id)
    record["operation_id"] = str(ref.operation_id)
    return record


def outcome_record(outcome: Outcome) -> dict[str, Any]:
    """One finished operation as the JSON record of ``watch``'s result lines."""
    progress = outcome.progress
    return {
        "event": "finished",
        **ref_record(outcome.ref),
        "kind": outcome.kind.value,
        "state": None if progress is None else progress.raw_state,
        "error_code": None if progress is None else progress.error_code,
        "error": None if outcome.error is None else str(outcome.error),
        "polls": outcome.polls,
        "elapsed_s": round(outcome.elapsed, 3),
    }


@attrs.frozen
class RunResult:
    """How one target of a run ended: its outcome kind and the result line (``record``)."""

    number: int
    target: FaultTarget
    kind: OutcomeKind
    record: dict[str, Any] = attrs.field(eq=False)

    @property
    def ok(self) -> bool:
        return self.kind is OutcomeKind.COMPLETED


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

    def __init__(self, client: ProgressClient, journal: Journal, *, chunk: int = 256, settle: float = 2.0) -> None:
        self.client, self.journal, self.chunk, self.settle = client, journal, chunk, settle

    @classmethod
    async def create(
        cls, path: str | os.PathLike[str], client: ProgressClient, targets: Iterable[FaultTarget] = (), **kwargs: Any
    ) -> FaultRun:
        """A new run with a new journal at *path*; *targets* are planned at once (one fsync)."""
        run = cls(client, Journal.create(path, client.endpoint), **kwargs)
        run.plan(targets)
        return run

    @classmethod
    async def resume(
        cls, path: str | os.PathLike[str], client: ProgressClient, *, force: bool = False, **kwargs: Any
    ) -> FaultRun:
        """The run of an existing journal; refused for another cluster's journal unless *force*."""
        journal = Journal.open(path)
        if journal.endpoint != client.endpoint and not force:
            journal.close()
            raise JournalError(
                f"journal {str(path)!r} belongs to {journal.endpoint!r}, not {client.endpoint!r}: "
                "pass force=True (--force) if that is the same cluster"
            )
        for notice in journal.notices:
            logger.warning("%s", notice)
        return cls(client, journal, **kwargs)

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
        """Add targets to the journal (durably), without starting them; return their numbers."""
        numbers = self.journal.add_targets(targets)
        self.journal.sync()
        return numbers

    async def start(self, target: FaultTarget) -> OperationRef:
        """Plan one more target and start it (its intent durable first); return its ref."""
        (n,) = self.plan([target])
        await self._start_chunk([n])
        return target.ref()

    async def start_pending(self) -> None:
        """Send every planned start not sent yet, after checking those a killed run may have sent."""
        states = self.journal.targets
        uncertain = [n for n, s in enumerate(states) if s.intent and _open(s)]
        await self._settle(uncertain)
        unsent = [n for n, s in enumerate(states) if not s.intent and _open(s)]
        for i in range(0, len(unsent), self.chunk):
            await self._start_chunk(unsent[i : i + self.chunk])

    async def _start_chunk(self, numbers: list[int]) -> None:
        # One fsync for the whole chunk's intents, then its starts, one after the other.
        self.journal.intents(numbers)
        self.journal.sync()
        for n in numbers:
            await self._send(n)
        self.journal.flush()

    async def _send(self, n: int) -> None:
        target = self.journal.targets[n].target
        try:
            await start_target(self.client, target)
        except ConflictError as exc:
            if exc.code != _ALREADY_EXISTS:
                self.journal.rejected(n, str(exc))
                return
            # Our own earlier try got through (the id is ours alone).
        except BadRequestError as exc:
            if exc.code != _NODE_BUSY or not await self._known(target):
                self.journal.rejected(n, str(exc))
                return
        except (ValueError, TypeError) as exc:
            self.journal.rejected(n, str(exc))
            return
        except SFProgressError as exc:
            if exc.transient:
                logger.warning("start of %s not confirmed (%s); resume the run to check it", target.ref(), exc)
                return  # may have landed: left as an intent, which a resume checks
            self.journal.rejected(n, str(exc))
            return
        self.journal.accepted(n)

    async def _known(self, target: FaultTarget) -> bool:
        try:
            await self.client.get_progress(target.ref())
        except NotFoundError:
            return False
        return True

    async def _settle(self, numbers: list[int]) -> None:
        """Intents without an acceptance: found by OperationId → started; else, after a moment, start again."""
        missing = []
        for n in numbers:
            if await self._known_or_none(n):
                self.journal.accepted(n)
            else:
                missing.append(n)
        if missing:
            await _config.sleep(self.settle)  # a start still in flight at the gateway gets its moment
        for n in missing:
            if await self._known_or_none(n):
                self.journal.accepted(n)
            else:
                await self._send(n)  # the same OperationId again, sequentially
        self.journal.flush()

    async def _known_or_none(self, n: int) -> bool:
        try:
            return await self._known(self.journal.targets[n].target)
        except SFProgressError as exc:
            logger.warning("cannot check %s (%s); it is started again only if the cluster does not know it", n, exc)
            return False

    # --- waiting ---------------------------------------------------------------------------

    async def results(self, **wait_options: Any) -> AsyncIterator[RunResult]:
        """One result per target of the run: those recorded first, then the others as they end.

        ``wait_options`` go to ``wait_many`` (``deadline``, ``concurrency``, ...).  Each
        outcome is journaled as it comes; a resumed run reports the same results again and
        sends no start for them.
        """
        journal = self.journal
        waiting: dict[OperationRef, int] = {}
        for n, state in enumerate(journal.targets):
            if state.outcome is not None:
                yield _result(n, state, state.outcome)
            elif state.rejected is not None:
                record = {
                    "event": "finished",
                    **ref_record(state.target.ref()),
                    "kind": "failed",
                    "state": None,
                    "error_code": None,
                    "error": f"not started: {state.rejected}",
                    "polls": 0,
                    "elapsed_s": 0.0,
                }
                journal.outcome(n, record)
                yield _result(n, state, record)
            elif state.accepted:
                waiting[state.target.ref()] = n
            else:
                record = {
                    "event": "finished",
                    **ref_record(state.target.ref()),
                    "kind": "failed",
                    "state": None,
                    "error_code": None,
                    "error": "start not confirmed: resume the run to check it",
                    "polls": 0,
                    "elapsed_s": 0.0,
                }
                yield _result(n, state, record)  # not journaled: a resume checks it again
        journal.flush()
        if waiting:
            user_hook = wait_options.pop("on_event", None)

            async def keep_states(event: Event) -> None:
                # State changes worth keeping (Running, RollingBack) go into the journal too.
                if isinstance(event, StateChanged) and not event.progress.is_terminal:
                    journal.state(waiting[event.ref], event.progress.raw_state)
                await call_hook(user_hook, event)

            async with self.client.wait_many(list(waiting), on_event=keep_states, **wait_options) as batch:
                async for outcome in batch:
                    n = waiting[outcome.ref]
                    record = outcome_record(outcome)
                    journal.outcome(n, record)
                    journal.flush()
                    yield _result(n, journal.targets[n], record)
        journal.sync()


def _open(state: TargetState) -> bool:
    return not state.accepted and state.rejected is None and state.outcome is None


def _result(n: int, state: TargetState, record: dict[str, Any]) -> RunResult:
    return RunResult(n, state.target, OutcomeKind(record.get("kind", "failed")), record)


async def start_target(client: ProgressClient, target: FaultTarget) -> OperationRef:
    """Send the start call of *target*'s kind, with its parameters and its OperationId."""
    params, op_id = target.params, target.operation_id
    if target.kind is OperationType.NODE_TRANSITION:
        assert target.node_name is not None
        return await client.start_node_transition(
            target.node_name,
            params.get("transition", "stop"),
            stop_duration=params.get("stop_duration", 600),
            node_instance_id=params.get("node_instance_id"),
            operation_id=op_id,
        )
    assert target.service_id is not None
    assert target.partition_id is not None
    if target.kind is OperationType.PARTITION_DATA_LOSS:
        return await client.start_data_loss(
            target.service_id, target.partition_id, params.get("mode", "PartialDataLoss"), operation_id=op_id
        )
    if target.kind is OperationType.PARTITION_QUORUM_LOSS:
        return await client.start_quorum_loss(
            target.service_id,
            target.partition_id,
            params["duration"],
            params.get("mode", "QuorumReplicas"),
            operation_id=op_id,
        )
    return await client.start_partition_restart(
        target.service_id, target.partition_id, mode=params.get("mode", "AllReplicasOrInstances"), operation_id=op_id
    )
