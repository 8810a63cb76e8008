"""How fast one batch may send: its ``max_rate`` token bucket and its backpressure rule.

Pure: numbers in, decisions out — no I/O, no clock of its own (every call is told ``now``),
so it is tested on its own.  The engine asks :meth:`Pacer.allowed_in_flight`,
:meth:`Pacer.blocked_until` and :meth:`Pacer.take` before each read, and tells it of each
answer with :meth:`Pacer.busy` or :meth:`Pacer.healthy`.
"""

from __future__ import annotations

__all__ = ["Pacer"]

#: The share of concurrency and rate never goes below this under backpressure.
MIN_FACTOR = 1 / 64
#: Backpressure follows the share of transient (503/504/...) answers, averaged over about
#: the last 1 / BUSY_ALPHA answers; above BUSY_SHARE the cluster is taken as overloaded.
BUSY_ALPHA = 0.05
BUSY_SHARE = 0.5
#: After a decrease, the next one waits at least this long (about one round trip of a busy gateway).
DECREASE_WINDOW = 0.5
#: The token bucket of ``max_rate`` holds this many seconds' worth of requests (at least one).
BURST_SECONDS = 0.05


class Pacer:
    """A batch's pace: ``concurrency`` and ``max_rate`` (requests/s, or ``None``), scaled by ``factor``.

    ``factor`` (1.0 when the cluster is healthy) is the share of both allowed under
    backpressure (AIMD: halved under overload, grown back by each healthy answer);
    ``resume_at`` is when a ``Retry-After`` pause ends; ``send_at`` is when the bucket
    has its next token.  Times are seconds on the batch's clock.
    """

    __slots__ = (
        "busy_share",
        "concurrency",
        "decrease_at",
        "factor",
        "max_rate",
        "refilled_at",
        "resume_at",
        "retry_after_cap",
        "send_at",
        "tokens",
    )

    def __init__(self, concurrency: int, max_rate: float | None, *, retry_after_cap: float, now: float) -> None:
        self.concurrency, self.max_rate, self.retry_after_cap = concurrency, max_rate, retry_after_cap
        self.factor = 1.0
        self.resume_at = 0.0
        self.busy_share = 0.0  # moving share of transient answers
        self.decrease_at = 0.0
        self.tokens = 1.0
        self.refilled_at = now
        self.send_at = 0.0

    def allowed_in_flight(self) -> int:
        """How many requests may be in flight now (at least one)."""
        return max(1, int(self.concurrency * self.factor))

    def blocked_until(self) -> float:
        """No request may be sent before this time (a ``Retry-After`` pause, or the next token)."""
        return max(self.resume_at, self.send_at)

    def take(self, now: float) -> bool:
        """Take a token for one request at *now*; ``False`` (and ``send_at`` set) if there is none.

        The bucket refills by the time passed and holds at most ``BURST_SECONDS`` worth of
        requests, so a late wake-up is made up for (the rate stays exact) without a burst at
        the start.  Without ``max_rate`` every request may go.
        """
        if self.max_rate is None:
            return True
        rate = self.max_rate * self.factor
        burst = max(1.0, self.max_rate * BURST_SECONDS)
        self.tokens = min(burst, self.tokens + (now - self.refilled_at) * rate)
        self.refilled_at = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        self.send_at = now + (1.0 - self.tokens) / rate
        return False

    def charge(self) -> None:
        """Count a request sent outside :meth:`take` (a list call): a token, but never into debt."""
        if self.max_rate is not None:
            self.tokens = max(0.0, self.tokens - 1.0)

    def busy(self, now: float, retry_after: float | None = None) -> None:
        """A transient answer (503/504/...) at *now*: slow down for overload, not for noise.

        One transient answer only retries its own operation.  The share of concurrency and
        rate is halved when most recent answers are transient — at most once per
        ``DECREASE_WINDOW`` — and grows back with each healthy answer (:meth:`healthy`), so
        it recovers within seconds.  A ``Retry-After`` pauses the batch exactly that long
        (up to the cap).
        """
        self.busy_share += BUSY_ALPHA * (1.0 - self.busy_share)
        if retry_after is not None:
            self.resume_at = max(self.resume_at, now + min(retry_after, self.retry_after_cap))
        if self.busy_share > BUSY_SHARE and now >= self.decrease_at:
            self.factor = max(MIN_FACTOR, self.factor / 2)
            self.decrease_at = now + DECREASE_WINDOW

    def healthy(self) -> None:
        """A healthy answer: the share of transient answers decays, the allowed share grows back."""
        self.busy_share -= BUSY_ALPHA * self.busy_share
        if self.factor < 1.0:
            self.factor = min(1.0, self.factor + 1.0 / self.concurrency)
