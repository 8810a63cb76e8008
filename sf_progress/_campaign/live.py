"""What one ``FaultRun.results`` iteration waits on (``Live``), the stop lever's watch over it, and the
checks a resume makes before it opens a journal."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING

from .._errors import ClusterMismatchError, SFProgressError
from .._models import OperationRef
from .journal import Journal, JournalError
from .results import ResultReason, RunResult, TargetState

if TYPE_CHECKING:  # the client imports nothing of this module, so this is no cycle
    from .._client import ProgressClient
    from .._wait.batch import BatchWaiter

__all__ = ["LEVER_STOPPED", "LEVER_TICK", "LeverWatch", "Live", "same_cluster", "unconfirmed", "unrecovered"]

logger = logging.getLogger("sf_progress")
#: How a run stopped by the stop lever begins its abort reason.
LEVER_STOPPED = "stopped by the stop lever"
#: Seconds between two looks at the lever while a run waits (its read is shared with the starts').
LEVER_TICK = 2.0


class Live:
    """The targets one :meth:`FaultRun.results` iteration waits on (``run.start()`` adds to it meanwhile)."""

    def __init__(self, batch: BatchWaiter, numbers: dict[OperationRef, int]) -> None:
        self.batch, self.numbers = batch, numbers
        self.active: set[OperationRef] = set()
        self.unconfirmed: set[int] = set()  # started with no answer: waited on, holding their slots
        self.accepting = True

    def take(self, n: int, ref: OperationRef) -> None:
        self.numbers[ref] = n
        self.active.add(ref)
        self.batch.add(ref)

    def seal_if_done(self, queue: collections.deque[int], aborted: str | None) -> None:
        """Nothing waited on and nothing more to start: the stream may end."""
        if self.accepting and not self.active and (not queue or aborted is not None):
            self.accepting = False
            self.batch.seal()


class LeverWatch:
    """While a run waits, look at the stop lever once per ``LEVER_TICK``; once it is engaged, abort the run
    (nothing more is started; what was started is still waited on) and, with *cancel*, cancel the run's
    active Fault Analysis operations (the other kinds have nothing to cancel)."""

    def __init__(self, client: ProgressClient, abort: Callable[[str], None], live: Live, cancel: bool) -> None:
        self.client, self.abort, self.live, self.cancel = client, abort, live, cancel
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> LeverWatch:
        self.task = asyncio.ensure_future(self.watch())
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task

    async def watch(self) -> None:
        while True:
            try:
                state = await self.client.get_lever()
            except SFProgressError as exc:  # the starts read it too, and refuse while it cannot be read
                logger.debug("the stop lever could not be read (%s)", exc)
            else:
                if state.engaged:
                    await self.engaged(f"{LEVER_STOPPED} ({state})")
                    return
            await self.client.clock.sleep(LEVER_TICK)

    async def engaged(self, reason: str) -> None:
        self.abort(reason)  # (FaultRun.abort: journaled at once; a second abort keeps the first reason)
        if not self.cancel:
            return
        refs = [ref for ref in self.live.active if not ref.kind.verified]
        for ref in refs:
            try:
                await self.client.cancel_operation(ref)
            except SFProgressError as exc:  # ended meanwhile, say: its wait tells
                logger.warning("could not cancel %s: %s", ref, exc)
        if refs:
            logger.warning("cancelled %d active fault operation(s): the stop lever is engaged", len(refs))


async def same_cluster(journal: Journal, client: ProgressClient, path: str | os.PathLike[str]) -> None:
    """A journal that named its cluster resumes only against that cluster (its manifest's ``Name``)."""
    intended = journal.cluster
    if intended is None:
        return
    try:
        if client.cluster is not None and client.cluster != intended:
            raise ClusterMismatchError(f"this client is for cluster {client.cluster!r}", expected=intended,
                                       actual=client.cluster)
        await client.expect_cluster(intended)
    except ClusterMismatchError as exc:
        journal.close()
        raise JournalError(f"journal {str(path)!r} ran against cluster {intended!r}: {exc}") from None
    except BaseException:
        journal.close()
        raise


def unconfirmed(n: int, state: TargetState) -> RunResult:
    detail = "its start was not confirmed: resume the run to check it"
    return RunResult.not_started(n, state.target, ResultReason.UNCONFIRMED, detail)


def unrecovered(result: RunResult) -> bool:
    return result.recovery is not None and not result.recovery.recovered
