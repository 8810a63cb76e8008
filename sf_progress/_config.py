"""Configuration objects and the process-wide "no waiting" testing switch."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import random
import time
import weakref
from collections.abc import Awaitable, Callable
from datetime import timedelta
from types import TracebackType
from typing import ClassVar, Protocol, runtime_checkable

import attrs

from ._backoff import backoff_delay
from ._ids import to_seconds

__all__ = ["Clock", "RetryPolicy", "default_clock", "is_testing", "monotonic", "set_testing", "sleep"]


def _initial(value: float | timedelta) -> float:
    return to_seconds(value, "initial")


def _maximum(value: float | timedelta) -> float:
    return to_seconds(value, "maximum")


def _retry_after_cap(value: float | timedelta) -> float:
    return to_seconds(value, "retry_after_cap")


def _optional_seconds(value: float | timedelta | None) -> float | None:
    return None if value is None else to_seconds(value, "budget")


def _fraction(_: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{attribute.name} must be in [0, 1], got {value!r}")


def _positive_int(_: object, attribute: attrs.Attribute[int], value: int) -> None:
    if type(value) is not int or value < 1:
        raise ValueError(f"{attribute.name} must be an int >= 1, got {value!r}")


def _at_least_one(_: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not value >= 1.0:
        raise ValueError(f"{attribute.name} must be >= 1, got {value!r}")


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """How one request is retried on transient failures (503/504/502, resets, timeouts).

    A request is tried at most ``attempts`` times and never retried once ``budget``
    seconds have passed since it started (``None``: no time limit).  Between tries it
    waits ``backoff_delay`` (exponential from ``initial`` by ``multiplier``, capped
    at ``maximum``, then jittered down by up to ``jitter``).  A ``Retry-After`` header is
    honoured, up to ``retry_after_cap`` seconds.  400/401/403/404/409 are never retried.

    Args:
        attempts: Tries at most (>= 1; default 5).
        budget: Seconds after the first try past which no retry starts (``None``: no limit;
            default 60).
        initial: Seconds before the first retry (default 0.2).
        multiplier: Growth of each next delay (>= 1; default 2).
        maximum: Longest delay, seconds (default 10).
        jitter: Fraction in [0, 1] by which each delay is shortened at random (default 0.5).
        retry_after_cap: Longest ``Retry-After`` honoured, seconds (default 60).

    Raises:
        ValueError: A value out of its range.
    """

    attempts: int = attrs.field(default=5, validator=_positive_int)
    budget: float | None = attrs.field(default=60.0, converter=_optional_seconds)
    initial: float = attrs.field(default=0.2, converter=_initial)
    multiplier: float = attrs.field(default=2.0, validator=_at_least_one)
    maximum: float = attrs.field(default=10.0, converter=_maximum)
    jitter: float = attrs.field(default=0.5, validator=_fraction)
    retry_after_cap: float = attrs.field(default=60.0, converter=_retry_after_cap)

    def delay(self, retry: int, retry_after: float | None = None, *, rand: float | None = None) -> float:
        """The wait before retry number *retry*, honouring *retry_after*.

        Args:
            retry: The retry's number (0 is the first retry).
            retry_after: Seconds a ``Retry-After`` header asked for (capped at
                ``retry_after_cap``), if any.
            rand: A number in ``[0, 1)`` that places the jitter (default: a random one).

        Returns:
            Seconds to wait.
        """
        wait = backoff_delay(
            retry,
            initial=self.initial,
            multiplier=self.multiplier,
            maximum=self.maximum,
            jitter=self.jitter,
            rand=random.random() if rand is None else rand,
        )
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.retry_after_cap))
        return wait


# --- testing switch ------------------------------------------------------------------


@attrs.define
class _Testing:
    enabled: bool = False
    attempts: int | None = None
    offset: float = 0.0  # virtual seconds "slept" while testing; keeps clock() consistent
    busy: int = 0  # requests on their way (counted by the transport), which hold virtual time still


_TESTING = _Testing()


class _TestingContext:
    """Returned by :func:`set_testing`; as a context manager it restores the old state."""

    def __init__(self, previous: _Testing) -> None:
        self._previous = previous

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        _TESTING.enabled = self._previous.enabled
        _TESTING.attempts = self._previous.attempts


def set_testing(testing: bool, *, attempts: int | None = None) -> _TestingContext:
    """Remove all waiting (retry backoff and polling delays) for tests.

    With ``testing=True`` every sleep sf_progress would do becomes a bare yield to the
    event loop, and the time it would have slept is added to the client's clock instead:
    deadlines, backoff and ``FakeCluster`` operation durations all run on that virtual
    clock, so a ten-minute wait finishes at once and still behaves as in production.
    Clients made while it is on use the virtual clock.  Works as a plain call or as
    ``with set_testing(True): ...`` (restores on exit).

    Args:
        testing: Turn testing mode on or off.
        attempts: If given, requests are tried at most that many times.

    Returns:
        A context manager that restores the previous mode on exit.

    Raises:
        ValueError: *attempts* is not an int >= 1.
    """
    if attempts is not None and (type(attempts) is not int or attempts < 1):
        raise ValueError(f"attempts must be an int >= 1, got {attempts!r}")
    previous = _Testing(_TESTING.enabled, _TESTING.attempts, _TESTING.offset)
    _TESTING.enabled = bool(testing)
    _TESTING.attempts = attempts if testing else None
    return _TestingContext(previous)


def is_testing() -> bool:
    """Whether :func:`set_testing` has removed all waiting.

    Returns:
        ``True`` while testing mode is on.
    """
    return _TESTING.enabled


def testing_attempts() -> int | None:
    """The attempt cap set by :func:`set_testing`, if any."""
    return _TESTING.attempts if _TESTING.enabled else None


def wall_time() -> float:
    """Wall-clock seconds (``time.time()``), plus the virtual time the testing switch has slept."""
    return time.time() + (_TESTING.offset if _TESTING.enabled else 0.0)


def monotonic() -> float:
    """The clock sf_progress waits by: ``time.monotonic()`` plus any virtual testing time."""
    return time.monotonic() + _TESTING.offset


async def sleep(seconds: float) -> None:
    """Sleep; while testing, wait on the virtual clock instead (no real waiting).

    On the virtual clock, sleepers wake in the order of their end times, and time moves
    to the next end time only once the work already under way has settled: tasks just
    woken get their turn and requests on their way get their answers first (they were
    sent "now", not later).  Concurrent sleeps overlap as real ones do.  A virtual sleep
    cancelled before it ends does not move the clock.
    """
    if not _TESTING.enabled:
        await asyncio.sleep(seconds)
        return
    await _VirtualTime.of(asyncio.get_running_loop()).sleep(max(0.0, seconds))


class _VirtualTime:
    """The sleepers of one event loop on the virtual clock, and the task that wakes them."""

    _by_loop: ClassVar[weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _VirtualTime]] = (
        weakref.WeakKeyDictionary()
    )

    def __init__(self) -> None:
        self.sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self.seq = itertools.count()
        self.task: asyncio.Task[None] | None = None

    @classmethod
    def of(cls, loop: asyncio.AbstractEventLoop) -> _VirtualTime:
        clock = cls._by_loop.get(loop)
        if clock is None:
            clock = cls._by_loop[loop] = cls()
        return clock

    async def sleep(self, seconds: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self.sleepers, (monotonic() + seconds, next(self.seq), future))
        if self.task is None or self.task.done():
            self.task = asyncio.ensure_future(self._advance())
        await future  # cancelled: the entry is skipped when its turn comes

    async def _advance(self) -> None:
        sleepers = self.sleepers
        while sleepers:
            await _settle()
            while sleepers and sleepers[0][2].done():
                heapq.heappop(sleepers)  # cancelled sleepers move nothing
            if not sleepers or not _TESTING.enabled:
                break
            target = sleepers[0][0]
            _TESTING.offset = max(_TESTING.offset, target - time.monotonic())
            now = monotonic()
            while sleepers and sleepers[0][0] <= now:
                future = heapq.heappop(sleepers)[2]
                if not future.done():
                    future.set_result(None)
        for _, _, future in sleepers:  # testing was switched off: wake everyone
            if not future.done():
                future.set_result(None)
        sleepers.clear()


async def _settle() -> None:
    """Let ready tasks run and requests on their way get their answers.

    Settled means: after the ready tasks had their turns, no request is on its way (a
    task woken by an answer may send the next request in its turn, so look again).
    """
    quiet = 0  # rounds of yields in a row with no request on its way
    for _ in range(10_000):  # at most ~10 s of real time for the answers on their way
        for _ in range(5):
            await asyncio.sleep(0)
        if _TESTING.busy > 0:
            quiet = 0
            await asyncio.sleep(0.001)
        else:
            quiet += 1
            if quiet >= 2:  # an answer that just came in had its task's turns too
                return


async def sleep_or_wake(sleep: Callable[[float], Awaitable[None]], delay: float, wake: asyncio.Event) -> None:
    """Sleep *delay* seconds with *sleep*, or less if *wake* is set meanwhile."""
    sleeper = asyncio.ensure_future(sleep(delay))
    waker = asyncio.ensure_future(wake.wait())
    try:
        await asyncio.wait((sleeper, waker), return_when=asyncio.FIRST_COMPLETED)
    finally:
        sleeper.cancel()
        waker.cancel()


#: The testing switch's state (``busy`` counts requests on their way, for the virtual clock).
TESTING = _TESTING


@runtime_checkable
class Clock(Protocol):
    """What a client waits by: ``monotonic()`` seconds and an async ``sleep(seconds)``.

    Pass one as ``ProgressClient(clock=...)`` for deterministic tests; it is used for every
    deadline, backoff, retry and list tick of that client.
    """

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back.

        Returns:
            The clock's reading, in seconds.
        """
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait *seconds* on this clock.

        Args:
            seconds: How long to wait (>= 0).
        """
        ...


class _SystemClock:
    """``time.monotonic`` and ``asyncio.sleep``: the clock of production."""

    virtual: ClassVar[bool] = False

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    def __repr__(self) -> str:
        return "<system clock>"


class _TestingClock:
    """The testing switch's virtual clock (see :func:`set_testing`); real again once it is off."""

    virtual: ClassVar[bool] = True

    def monotonic(self) -> float:
        return monotonic()

    async def sleep(self, seconds: float) -> None:
        await sleep(seconds)

    def __repr__(self) -> str:
        return "<testing clock>"


SYSTEM_CLOCK = _SystemClock()
TESTING_CLOCK = _TestingClock()


def default_clock() -> Clock:
    """The clock of a client made now: the virtual one while :func:`set_testing` is on."""
    return TESTING_CLOCK if _TESTING.enabled else SYSTEM_CLOCK


def check_clock(clock: object) -> Clock:
    """A client's ``clock=`` argument, checked (``None``: :func:`default_clock`)."""
    if clock is None:
        return default_clock()
    if not isinstance(clock, Clock):
        raise TypeError(f"clock must have monotonic() and async sleep(), not {type(clock).__name__}")
    return clock


def is_virtual(clock: Clock) -> bool:
    """Whether *clock* is the testing switch's virtual clock (asked once, when a client is made)."""
    return clock is TESTING_CLOCK
