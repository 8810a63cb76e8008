"""Sending a run's starts exactly once: intents first (fsync'd), then starts, one after the other.

The rules (faults-protocol.md §2.3, §3.3): every target and its client-side OperationId is
in the journal, fsync'd, before its start is sent; starts go one after the other, never in
parallel; a 409 "already exists" means an earlier try got through; a node transition's
400 "in progress" is decided by reading its progress.  On resume, a target whose start
may have been sent (an intent without an acceptance) is first looked for by its
OperationId, and started again (with the same id) only if the cluster does not know it --
and never once the run was aborted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from .._config import wall_time
from .._errors import (
    ALREADY_EXISTS,
    NODE_BUSY,
    BadRequestError,
    ConflictError,
    FabricError,
    NotFoundError,
    SafetyError,
    SFProgressError,
)
from .._lever import LEVER_RULE
from .._models import OperationRef, OperationState, OperationType
from .._targets import FaultTarget
from .._verified.sending import duplicate
from .journal import Journal
from .live import LEVER_STOPPED
from .results import ResultReason, RunResult

if TYPE_CHECKING:  # the client imports nothing of this package, so this is no cycle
    from .._client import ProgressClient

__all__ = ["HELD_OUT", "HOLD_TICK", "UNDECIDABLE", "StartHook", "Starts"]

#: How a run aborted by a safety rule that stayed closed past ``hold_timeout`` begins its reason.
HELD_OUT = "held past the hold timeout by the safety rule"
#: Seconds between two looks at the rules while a run's starts are held.
HOLD_TICK = 2.0

logger = logging.getLogger("sf_progress")
#: Why a resumed run does not send again a replica restart it may have sent before a crash.
UNDECIDABLE = (
    "not started again: the run stopped after journaling this replica restart and before its answer, and the "
    "replica is Ready in its old role now, as it is both after a quick restart and with none -- it may or may not "
    "have been restarted (start it again by hand if it was not)"
)
#: ``on_start(ref)``: called as each start of a run is accepted (and journaled).
StartHook = Callable[[OperationRef], object]


class Starts:
    """A run's sender: its journal's intents and answers, and the ``on_start`` hook."""

    def __init__(
        self,
        client: ProgressClient,
        journal: Journal,
        wait: float,
        on_start: StartHook | None,
        hold_timeout: float | None = None,
    ) -> None:
        self.client, self.journal, self.wait, self.on_start = client, journal, wait, on_start
        self.hold_timeout = hold_timeout
        self.waivers_said = False  # the client's waived rules journaled (once per process)

    async def chunk(self, numbers: list[int]) -> None:
        # One fsync for the whole chunk's intents, then its starts, one after the other.  A
        # verified fault's intent waits for its target's read: it carries that baseline.
        if self.stopped():
            return
        self.journal.intents([n for n in numbers if not self.journal.targets[n].target.kind.verified])
        self.journal.sync()
        for i, n in enumerate(numbers):
            if self.stopped():  # aborted meanwhile (by a hook, say): the rest were never sent
                for m in numbers[i:]:
                    self.journal.outcome(self.aborted(m))
                break
            await self.send(n)
        self.journal.flush()

    def stopped(self) -> bool:
        return self.journal.aborted is not None

    def aborted(self, n: int) -> RunResult:
        detail = f"the run was aborted ({self.journal.aborted})"
        return RunResult.not_started(n, self.journal.targets[n].target, ResultReason.ABORTED, detail)

    async def send(self, n: int, *, resent: bool = False) -> None:
        """Send target *n*'s start; *resent*: its intent was written by an earlier process (a resume)."""
        target = self.journal.targets[n].target
        if target.kind.verified and not resent:
            prepared = await self.prepare(n, target)
            if prepared is None:
                return
            target = prepared
        try:
            if not await self.held(n, target):
                return  # held past the hold timeout: the run is aborted, nothing was sent
        except FabricError as exc:
            if target.kind.verified and resent and duplicate(target.kind, exc.code):
                pass  # A re-sent verified start met what a duplicate meets: our own earlier one took effect.
            elif target.kind.verified and not exc.transient:
                self.journal.rejected(n, str(exc))
                return
            elif isinstance(exc, ConflictError) and exc.code == ALREADY_EXISTS and resent:
                pass  # A re-sent start: our own earlier try got through.
            elif isinstance(exc, ConflictError):
                # A first send answered "already exists": the id is someone else's (an old run's, a
                # pinned id reused): a conflict to show, not our own start.
                self.journal.rejected(n, f"{exc} (not ours: nothing was started for this target)")
                return
            elif isinstance(exc, BadRequestError) and exc.code == NODE_BUSY and await self.known(target):
                pass  # a node transition in progress: our own
            elif not exc.transient:
                self.journal.rejected(n, str(exc))
                return
            else:
                logger.warning("start of %s not confirmed (%s); resume the run to check it", target.ref, exc)
                return
        except (ValueError, TypeError) as exc:
            self.journal.rejected(n, str(exc))
            return
        except SFProgressError as exc:
            if exc.transient:
                logger.warning("start of %s not confirmed (%s); resume the run to check it", target.ref, exc)
                return  # may have landed: left as an intent, which a resume checks
            self.journal.rejected(n, str(exc))
            return
        self.accepted(n)

    def say_waivers(self) -> None:
        """Journal the safety rules the client waives, once, before its first start."""
        if not self.waivers_said:
            self.waivers_said = True
            if self.client.allow:
                self.journal.waived(sorted(self.client.allow))

    async def held(self, n: int, target: FaultTarget) -> bool:
        """Start *target*; while a safety rule forbids it, hold (read again every ``HOLD_TICK`` s).

        Returns whether it was started; ``False`` once held past ``hold_timeout``, or at once when
        the stop lever is engaged (the run is aborted, and this target ends aborted, nothing sent).
        """
        held_since: float | None = None
        clock = self.client.clock
        self.say_waivers()
        while True:
            try:
                await self.client.start(target)
            except SafetyError as exc:
                now = clock.monotonic()
                if exc.rule == LEVER_RULE:  # the lever is no rule to wait out: the run stops starting
                    reason = f"{LEVER_STOPPED} ({exc.saw})"
                else:
                    if held_since is None:
                        held_since = now
                        logger.warning("holding the run's starts: %s", exc)
                    if self.hold_timeout is None or now - held_since < self.hold_timeout:
                        await clock.sleep(HOLD_TICK)
                        continue
                    reason = f"{HELD_OUT} {exc.rule!r} for {now - held_since:.0f}s ({exc.saw})"
                self.journal.abort(reason)
                self.journal.sync()
                self.journal.outcome(self.aborted(n))
                return False
            if held_since is not None:
                logger.warning("the safety rules allow faults again: the run's starts go on")
            return True

    async def prepare(self, n: int, target: FaultTarget) -> FaultTarget | None:
        """A verified fault's target read (its baseline), journaled with its intent before it is sent."""
        try:
            prepared = await self.client.prepare(target)
        except (SFProgressError, ValueError, TypeError) as exc:
            if isinstance(exc, SFProgressError) and exc.transient:
                logger.warning("cannot read the target of %s (%s); resume the run to start it", target.ref, exc)
                return None  # nothing was sent: no intent, still planned
            self.journal.rejected(n, str(exc))
            return None
        self.journal.prepared(n, prepared)
        self.journal.sync()
        return prepared

    def accepted(self, n: int) -> None:
        """Target *n*'s start was accepted: journal it, then tell ``on_start``."""
        self.journal.accepted(n)
        if self.on_start is not None:
            try:
                self.on_start(self.journal.targets[n].target.ref)
            except Exception:  # a hook's failure never stops the run
                logger.exception("on_start hook failed")

    async def known(self, target: FaultTarget) -> bool:
        try:
            progress = await self.client.get_progress(target.ref)
        except NotFoundError:
            return False
        # A verified fault is known once its effect is seen (its target no longer as the baseline says).
        return not target.kind.verified or progress.state is not OperationState.RUNNING

    async def settle(self, numbers: list[int]) -> None:
        """Intents without an acceptance: found by OperationId → started; else, after a moment, start again."""
        missing = []
        for n in numbers:
            if await self.known_or_none(n):
                self.accepted(n)
            else:
                missing.append(n)
        if missing:
            # A start of the killed run may still be in flight at the gateway: wait until the last
            # one's request would have timed out, counted from when its intent was written.
            written = [at for n in missing if (at := self.journal.targets[n].intent_at) is not None]
            wait = self.wait
            if written:
                wait = max(wait, max(written) + self.client.request_timeout - wall_time())
            await self.client.clock.sleep(min(wait, self.client.request_timeout))
        for n in missing:
            if await self.known_or_none(n):
                self.accepted(n)
            elif self.journal.aborted is not None:  # never to be started: the run was aborted
                self.journal.outcome(self.aborted(n))
            elif self.journal.targets[n].target.kind is OperationType.REPLICA_RESTART:
                # A restart leaves no trace once over (the replica keeps its id): sent before the
                # crash or not, nobody can tell.  Never sent twice: said, not sent.
                self.journal.rejected(n, UNDECIDABLE)
            else:
                await self.send(n, resent=True)  # the same OperationId again, sequentially
        self.journal.flush()

    async def known_or_none(self, n: int) -> bool:
        try:
            return await self.known(self.journal.targets[n].target)
        except SFProgressError as exc:
            logger.warning("cannot check %s (%s); it is started again only if the cluster does not know it", n, exc)
            return False

