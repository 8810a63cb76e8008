"""The adaptive list tick: pure arithmetic from what each list call cost to the next interval.

The observer (``observer.py``) calls :meth:`Ticker.listed` after each answered list call
and :meth:`Ticker.failed` after each transient failure; both return the delay until the
next call.  Nothing here sleeps or reads a clock: *now* is passed in, so the rule is
tested with plain numbers (``tests/test_tick.py``).

The rule, in the gateway's own currency (one progress read = 1):

- **cost share** -- a list call costs about one request plus ``ITEM_COST`` per listed item
  (``observer.ITEM_COST``).  The 1 s loop a user writes by hand costs one read per
  operation per second.  The tick is long enough that the items listed cost at most
  ``LIST_SHARE`` of that loop: ``size * ITEM_COST / (LIST_SHARE * waiting)``; the one
  request of the call is held to the same share, but never lengthens the tick past
  ``REQUEST_TICK`` (a handful of waits lists about once a second, as before);
- **request share** -- about one list call per ``1 / END_SHARE`` operations it finds
  ended: ``1 / (END_SHARE * rate)``, where *rate* is the moving rate at which waited
  operations leave the list (``END_TAU``-second time constant), never taken as lower
  than ``waiting / HORIZON`` (before anything has ended), and again never past
  ``REQUEST_TICK``.  This keeps a campaign at about 1.1 requests per operation;
- **slow lists** -- at least ``SLOW_FACTOR`` times the last list's answer time;
- **transient answers** -- each one doubles a penalty (up to ``MAX_PENALTY``) that
  multiplies the tick, each answered call halves it: a struggling gateway is listed
  less at once;
- all of it between ``FLOOR`` and ``CEILING`` seconds (or the observer's lower ceiling:
  ``observer.PROMPT_READ`` when the list was chosen over prompt reads), then jittered by
  ``JITTER``.

The measurements behind the constants are in ``docs/performance.md`` ("Where the waits'
constants come from").
"""

from __future__ import annotations

import math

__all__ = [
    "CEILING",
    "END_SHARE",
    "FLOOR",
    "HORIZON",
    "JITTER",
    "LIST_SHARE",
    "MAX_PENALTY",
    "REQUEST_TICK",
    "SLOW_FACTOR",
    "Ticker",
]

#: The shortest and longest adaptive tick (seconds).
FLOOR = 0.2
CEILING = 5.0
#: Listed items may cost the gateway at most this share of what a 1 s loop's reads would.
LIST_SHARE = 0.05
#: About one list call per ``1 / END_SHARE`` waited operations it finds ended.
END_SHARE = 0.08
#: Before any operation has ended, they are taken to end within this many seconds.
HORIZON = 60.0
#: The request-count rules never lengthen the tick past this (the former fixed tick).
REQUEST_TICK = 1.0
#: Time constant of the moving end rate (seconds).
END_TAU = 5.0
#: The tick is at least this many times the last list call's answer time.
SLOW_FACTOR = 4.0
#: Transient answers multiply the tick by up to this.
MAX_PENALTY = 16.0
#: Each tick is drawn from ``[1 - JITTER, 1 + JITTER]`` times the rule's value.
JITTER = 0.1


class Ticker:
    """The adaptive tick's state: the moving end rate, the last answer time and the penalty."""

    __slots__ = ("answer_s", "end_rate", "item_cost", "last_at", "penalty", "tick")

    def __init__(self, item_cost: float) -> None:
        self.item_cost = item_cost
        self.end_rate = 0.0  # waited operations leaving the list, per second (moving)
        self.last_at = math.nan  # when the last answered list call was made
        self.answer_s = 0.0
        self.penalty = 1.0
        self.tick = REQUEST_TICK  # the last interval chosen (before jitter)

    def listed(
        self,
        now: float,
        *,
        size: int,
        waiting: int,
        gone: int,
        answer_s: float,
        rand: float,
        ceiling: float = CEILING,
    ) -> float:
        """A list call answered at *now* with *size* items; *gone* waited operations left it.

        *waiting* is how many operations are watched through the list; *answer_s* how long
        the call took; *rand* in ``[0, 1)`` places the jitter; *ceiling* caps the rule's
        tick (a penalty may still lengthen it up to ``CEILING``).  Returns the next delay.
        """
        if not math.isnan(self.last_at):
            dt = max(now - self.last_at, 1e-3)
            weight = 1.0 - math.exp(-dt / END_TAU)
            self.end_rate += weight * (gone / dt - self.end_rate)
        self.last_at = now
        self.answer_s = max(0.0, answer_s)
        self.penalty = max(1.0, self.penalty / 2.0)
        return self._next(size, waiting, rand, ceiling)

    def failed(self, rand: float) -> float:
        """A list call failed transiently: the penalty doubles; returns the next delay."""
        self.penalty = min(MAX_PENALTY, self.penalty * 2.0)
        return self._jitter(min(CEILING, self.tick * self.penalty), rand)

    def interval(self, size: int, waiting: int, ceiling: float = CEILING) -> float:
        """The tick the rule chooses now, before penalty and jitter (seconds), at most *ceiling*."""
        waiting = max(1, waiting)
        items = size * self.item_cost / (LIST_SHARE * waiting)
        request = 1.0 / (LIST_SHARE * waiting)
        ending = 1.0 / (END_SHARE * max(self.end_rate, waiting / HORIZON))
        tick = max(items, min(REQUEST_TICK, max(request, ending)), SLOW_FACTOR * self.answer_s)
        return min(ceiling, CEILING, max(FLOOR, tick))

    def _next(self, size: int, waiting: int, rand: float, ceiling: float) -> float:
        self.tick = self.interval(size, waiting, ceiling)
        return self._jitter(min(CEILING, self.tick * self.penalty), rand)

    @staticmethod
    def _jitter(value: float, rand: float) -> float:
        return value * (1.0 - JITTER + 2.0 * JITTER * rand)
