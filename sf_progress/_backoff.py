"""Pure delay math, shared by request retries and polling.  No sleeping here."""

from __future__ import annotations

import math

__all__ = ["backoff_delay", "retry_after_seconds"]

_MAX_EXPONENT = 1000  # past this, initial * multiplier**n is at the cap anyway


def backoff_delay(
    attempt: int,
    *,
    initial: float,
    multiplier: float,
    maximum: float,
    jitter: float,
    rand: float,
) -> float:
    """Return the delay before retry number *attempt* (0 for the first retry).

    The exponential base ``initial * multiplier**attempt`` is capped at *maximum* first,
    and only then jittered downwards: the result lies in ``[base * (1 - jitter), base]``
    with *rand* in ``[0, 1)`` choosing where.  Jitter therefore survives the cap:
    callers at the maximum keep drawing from ``[maximum * (1 - jitter), maximum]`` instead
    of collapsing onto exactly ``maximum`` and polling in lockstep, as tenacity's and
    stamina's capped jitter do.
    """
    if attempt < 0:
        raise ValueError("attempt must be >= 0")
    if attempt >= _MAX_EXPONENT or (multiplier > 1 and attempt * math.log(multiplier) > 700):
        base = maximum
    else:
        base = min(initial * multiplier**attempt, maximum)
    return base * (1.0 - jitter * rand)


def retry_after_seconds(value: str | None, *, now: float) -> float | None:
    """Parse a ``Retry-After`` header (delay-seconds or an HTTP date) into seconds from now.

    *now* is the current wall-clock time (``time.time()``).  Returns ``None`` when the
    header is absent or unreadable; a date in the past gives ``0.0``.
    """
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            return None
        seconds = when.timestamp() - now
    if seconds != seconds or seconds == math.inf:
        return None
    return max(0.0, seconds)
