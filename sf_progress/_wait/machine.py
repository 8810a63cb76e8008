"""Polling policy and the per-operation state machine shared by both waits.

``Backoff`` says how often to poll; ``_Tracker`` remembers one operation; ``step`` turns
one poll result into either the time of the next poll or a final ``Outcome``.  Nothing
here does I/O or sleeps, so all of it is tested with plain numbers.
"""

from __future__ import annotations

import enum
import inspect
import logging
import random
from collections.abc import Awaitable, Callable
from datetime import timedelta

import attrs

from .._backoff import backoff_delay
from .._config import RetryPolicy
from .._errors import FabricError, GatewayUnreachable, NotFoundError, SFProgressError, WaitTimeout
from .._facts import Recovery, before_recovery
from .._ids import to_seconds
from .._kinds import KINDS
from .._models import _STATE_BY_WIRE, OperationRef, OperationState, OperationType
from .._progress import FaultProgress
from .._verified import TICK as VERIFY_TICK
from .._verified import UNREAD
from .recovery import Verdict

__all__ = [
    "UNREAD",
    "Abort",
    "Backoff",
    "BadInput",
    "Event",
    "GaveUp",
    "Outcome",
    "OutcomeKind",
    "Phase",
    "Retrying",
    "StateChanged",
]

logger = logging.getLogger("sf_progress")


def _initial(value: float | timedelta) -> float:
    return to_seconds(value, "initial", allow_zero=False)


def _maximum(value: float | timedelta) -> float:
    return to_seconds(value, "maximum", allow_zero=False)


def _check_multiplier(_: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not value >= 1.0:
        raise ValueError(f"multiplier must be >= 1, got {value!r}")


def _check_jitter(_: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"jitter must be in [0, 1], got {value!r}")


@attrs.frozen(kw_only=True)
class Backoff:
    """How often a wait polls one operation.

    The first poll comes ``initial`` seconds after the wait starts; each next delay is
    ``multiplier`` times longer, up to ``maximum``; every delay is then shortened by a
    random fraction of up to ``jitter`` (so operations started together drift apart, even
    at the cap).  The defaults (1 s growing by 1.5x to 10 s, 30 % jitter) find a restart
    that ends within a few seconds about a second after it ends, with 3-5 requests, and
    poll a long one every 7-10 s.

    Args:
        initial: Seconds before the first poll (> 0; default 1).
        multiplier: Growth of each next delay (>= 1; default 1.5).
        maximum: Longest delay, seconds (default 10).
        jitter: Fraction in [0, 1) by which each delay is shortened at random (default 0.3).

    Raises:
        ValueError: A value out of its range.
    """

    initial: float = attrs.field(default=1.0, converter=_initial)
    multiplier: float = attrs.field(default=1.5, validator=_check_multiplier)
    maximum: float = attrs.field(default=10.0, converter=_maximum)
    jitter: float = attrs.field(default=0.3, validator=_check_jitter)

    @classmethod
    def fixed(cls, interval: float) -> Backoff:
        """A backoff that polls every *interval* seconds, with no growth and no jitter.

        Args:
            interval: Seconds between polls (> 0).

        Returns:
            The backoff.
        """
        return cls(initial=interval, multiplier=1.0, maximum=interval, jitter=0.0)

    def delay(self, poll: int, rand: float) -> float:
        """The wait before poll number *poll*.

        Args:
            poll: The poll's number (0 is the first).
            rand: A number in ``[0, 1)`` that places the jitter.

        Returns:
            Seconds to wait.
        """
        return backoff_delay(
            poll,
            initial=self.initial,
            multiplier=self.multiplier,
            maximum=self.maximum,
            jitter=self.jitter,
            rand=rand,
        )


class OutcomeKind(str, enum.Enum):
    """How a waited-for operation ended, without string matching."""

    COMPLETED = "completed"
    FAULTED = "faulted"
    CANCELLED = "cancelled"
    NOT_FOUND = "not_found"
    TIMED_OUT = "timed_out"
    FAILED = "failed"

    def __str__(self) -> str:
        return self.value

    @classmethod
    def for_state(cls, state: OperationState) -> OutcomeKind | None:
        """The outcome a terminal state means.

        Args:
            state: An operation state.

        Returns:
            Its outcome, or ``None`` for a state that is not terminal.
        """
        return _KIND_OF_STATE.get(state)


_KIND_OF_STATE = {
    OperationState.COMPLETED: OutcomeKind.COMPLETED,
    OperationState.FAULTED: OutcomeKind.FAULTED,
    OperationState.CANCELLED: OutcomeKind.CANCELLED,
    OperationState.FORCE_CANCELLED: OutcomeKind.CANCELLED,
}


@attrs.frozen
class Outcome:
    """How one operation of a wait ended.

    ``state`` is the final state (``None`` if none was read), ``progress`` the last
    progress seen, ``error`` the error that ended the wait (``NotFoundError``,
    ``WaitTimeout``, or another ``SFProgressError`` for ``FAILED``), ``polls`` the number
    of progress requests sent and ``elapsed`` the seconds from being added to the end
    (with ``recovery``, the recovery wait included: :attr:`fault_elapsed` is without it).
    ``recovery`` is whether the target recovered, for a wait with ``recovery=True`` on an
    operation that Completed (``None`` otherwise).
    """

    ref: OperationRef
    kind: OutcomeKind
    progress: FaultProgress | None
    error: SFProgressError | None
    polls: int
    elapsed: float
    recovery: Recovery | None = None

    @property
    def state(self) -> OperationState | None:
        """The last state read, or ``None``."""
        return None if self.progress is None else self.progress.state

    @property
    def ok(self) -> bool:
        """True when the operation Completed."""
        return self.kind is OutcomeKind.COMPLETED

    @property
    def fault_elapsed(self) -> float:
        """The seconds from being added to the fault's end (``elapsed`` less the recovery wait)."""
        return before_recovery(self.elapsed, self.recovery)


@attrs.frozen
class StateChanged:
    """An operation's state changed (also sent for its first state)."""

    ref: OperationRef
    progress: FaultProgress
    previous: OperationState | None


@attrs.frozen
class Retrying:
    """A poll failed transiently; the operation is polled again after ``delay`` seconds."""

    ref: OperationRef
    error: SFProgressError
    delay: float


@attrs.frozen
class GaveUp:
    """An operation's wait ended without a terminal state (not found, timed out, failed)."""

    ref: OperationRef
    outcome: Outcome


#: What an ``on_event`` hook of ``wait_many`` receives.
Event = StateChanged | Retrying | GaveUp
EventHook = Callable[[Event], Awaitable[None] | None]


async def call_hook(hook: Callable[..., object] | None, *args: object) -> None:
    """Call a sync or async user hook."""
    if hook is not None:
        result = hook(*args)
        if inspect.isawaitable(result):
            await result


@attrs.frozen
class Listed:
    """An observation from the fault-operation list: the operation is still active.

    ``progress`` carries the listed state (the list has no result object).  It is one
    more input to :func:`step`; unlike a progress read it is not a poll.
    """

    progress: FaultProgress


_LISTED: dict[tuple[OperationType, str], FaultProgress] = {}


def listed_progress(raw_state: str, kind: OperationType) -> FaultProgress:
    """The progress of *kind* a list item in wire state *raw_state* stands for (the list carries no result)."""
    key = (kind, raw_state)
    progress = _LISTED.get(key)
    if progress is None:
        state = _STATE_BY_WIRE.get(raw_state, OperationState.UNKNOWN)
        progress = KINDS[kind].progress(state, None, raw_state)  # type: ignore[call-arg]
        if len(_LISTED) < 256:
            _LISTED[key] = progress
    return progress


class _Tracker:
    """What a wait remembers about one operation (kept small: 100k of them may be pending).

    ``parking`` belongs to the observer (its record of the operation once it is first
    parked with the list); ``guarded`` tells the wait's driver that the operation's
    deadline is already in its own heap.  Nothing here knows what the observer is.
    """

    __slots__ = ("added_at", "deadline_at", "failures", "guarded", "last", "parking", "polls", "recovering", "ref")

    parking: object | None

    def __lt__(self, other: _Tracker) -> bool:
        # Only for the driver's heap, when two entries fall due at the same instant.
        return id(self) < id(other)

    def __init__(self, ref: OperationRef, now: float, budget: float, deadline_at: float | None = None) -> None:
        self.ref = ref
        self.added_at = now
        # Operations added together share one deadline object (*deadline_at*): 24 bytes less each.
        self.deadline_at = now + budget if deadline_at is None else deadline_at
        self.polls = 0
        self.failures = 0
        self.last: FaultProgress | None = None
        self.parking = None
        self.guarded = False
        self.recovering: Recovering | None = None  # set once the fault Completed, in a wait for recovery


class Recovering:
    """A tracker waiting for its target to recover: since when, its checks, the outcome it will end with."""

    __slots__ = ("checks", "given", "last", "outcome", "since")

    def __init__(self, since: float, outcome: Outcome | None, given: str | None) -> None:
        self.since = since
        self.outcome = outcome  # the fault's own outcome (None: wait_for_recovery, no fault wait)
        self.given = given  # a node transition's instance id (a start must end on another one)
        self.checks = 0
        self.last: Verdict | None = None


@attrs.frozen
class _Settings:
    backoff: Backoff
    retry: RetryPolicy
    grace: float
    budget: float
    recovery: bool = False
    #: No backoff was given: with ``coalesce=None`` the client may read a crowded cluster's
    #: operations promptly (``observer.PROMPT_READ``) instead.
    default_backoff: bool = False


def first_due(tracker: _Tracker, cfg: _Settings) -> float:
    """When to send the first poll (a verified fault's first look: one tick on; it sends nothing unless needed)."""
    if cfg.default_backoff and tracker.ref.kind.verified:
        return min(tracker.added_at + VERIFY_TICK, tracker.deadline_at)
    return min(tracker.added_at + cfg.backoff.delay(0, random.random()), tracker.deadline_at)


def unreachable_for_good(
    error: SFProgressError, never_answered: bool, tries: int, seconds: float, cfg: _Settings
) -> bool:
    """Whether a wait that only ever met "cannot reach" should end now, with that error.

    Never an answer: a wrong endpoint or a gateway that is down, not a slow operation.  After
    the retry policy's ``attempts`` and ``budget`` it is said, instead of waiting for the
    deadline (progress reads and recovery checks alike).
    """
    retry = cfg.retry
    return (
        isinstance(error, GatewayUnreachable)
        and never_answered
        and tries >= retry.attempts
        and retry.budget is not None
        and seconds >= retry.budget
    )


def step(
    tracker: _Tracker, result: FaultProgress | SFProgressError | Listed, now: float, cfg: _Settings
) -> tuple[float | Outcome, StateChanged | Retrying | None]:
    """Account for one poll or list observation; return the next due time or the final Outcome, and an event.

    A ``Listed`` observation only records the state (and its change): an operation seen
    in the list is active, so its next read is due only at its deadline.
    """
    event: StateChanged | Retrying | None = None
    if isinstance(result, Listed):
        previous = tracker.last
        if previous is None or previous.raw_state != result.progress.raw_state:
            tracker.last = result.progress
            event = StateChanged(tracker.ref, result.progress, None if previous is None else previous.state)
        return tracker.deadline_at, event
    if result is not UNREAD:  # (a verified fault's look that sent nothing is no poll)
        tracker.polls += 1
    if isinstance(result, FaultProgress):
        tracker.failures = 0
        previous = tracker.last
        tracker.last = result
        if previous is None or previous.raw_state != result.raw_state:
            event = StateChanged(tracker.ref, result, None if previous is None else previous.state)
        kind = OutcomeKind.for_state(result.state)
        if kind is not None:
            return _end(tracker, kind, None, now), event
        if cfg.default_backoff and tracker.ref.kind.verified:
            # A look every tick: the verifier reads the target only when a shared hint says it changed.
            delay = VERIFY_TICK
        else:
            delay = cfg.backoff.delay(tracker.polls, random.random())
    elif isinstance(result, NotFoundError) and tracker.last is None and now - tracker.added_at < cfg.grace:
        # Right after a start the operation may not be readable yet: a short grace period.
        delay = cfg.backoff.delay(tracker.polls - 1, random.random())
    elif isinstance(result, NotFoundError):
        return _end(tracker, OutcomeKind.NOT_FOUND, result, now), None
    elif unreachable_for_good(result, tracker.last is None, tracker.failures + 1, now - tracker.added_at, cfg):
        return _end(tracker, OutcomeKind.FAILED, result, now), None
    elif result.transient:
        tracker.failures += 1
        retry_after = result.retry_after if isinstance(result, FabricError) else None
        delay = cfg.retry.delay(tracker.failures - 1, retry_after)
        event = Retrying(tracker.ref, result, delay)
    else:
        return _end(tracker, OutcomeKind.FAILED, result, now), None
    if now >= tracker.deadline_at:
        if isinstance(result, NotFoundError) and tracker.last is None:
            # Every answer said 404: the deadline came within the grace, but "not found" is
            # what the cluster said, not "too slow".
            return _end(tracker, OutcomeKind.NOT_FOUND, result, now), None
        last_error = result if isinstance(result, SFProgressError) else None
        timeout = WaitTimeout(
            f"not finished after {cfg.budget:g}s (last state: "
            f"{tracker.last.raw_state if tracker.last else 'none read'})",
            ref=tracker.ref,
            deadline=cfg.budget,
            last_progress=tracker.last,
            last_error=last_error,
        )
        return _end(tracker, OutcomeKind.TIMED_OUT, timeout, now), event
    # The last sleep is clipped so that one final poll happens at the deadline.
    return min(now + delay, tracker.deadline_at), event


def _end(tracker: _Tracker, kind: OutcomeKind, error: SFProgressError | None, now: float) -> Outcome:
    return Outcome(tracker.ref, kind, tracker.last, error, tracker.polls, now - tracker.added_at)


@attrs.frozen
class Abort:
    """Put in the outcome queue when the batch must end with an error (its client closed)."""

    error: BaseException


@attrs.frozen
class BadInput:
    """Put in the outcome queue for a bad item of an async input, so it is raised in order."""

    error: BaseException


class Phase(enum.Enum):
    """A batch's one lifecycle state, owned by its engine."""

    OPEN = "open"  # operations may still be added
    FEEDING = "feeding"  # an async input is still being read
    SEALED = "sealed"  # no more will come: it ends once the pending ones end
    ENDED = "ended"  # closed: nothing of it runs any more
