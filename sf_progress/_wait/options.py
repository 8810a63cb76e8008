"""``WaitOptions``: every option of a wait, its default and its check, written once.

``ProgressClient.wait_for_completion``, ``wait_many`` and ``wait_for_recovery``, the
blocking client (which forwards to them), ``FaultRun.results``, the command line and the
Chaos Toolkit layer all take their defaults and limits from here, so a default changes in
one line and every surface agrees.
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any, ClassVar

import attrs

from .._config import RetryPolicy
from .._ids import to_seconds
from .machine import Backoff, EventHook, _Settings

__all__ = ["DEFAULT", "MAX_CONCURRENCY", "WaitOptions", "engine_settings"]

#: The most requests one wait may keep in flight (workers are created only as work needs them).
MAX_CONCURRENCY = 10_000


def _deadline(value: float | timedelta | None) -> float:
    return math.inf if value is None else to_seconds(value, "deadline")


def _grace(value: float | timedelta) -> float:
    return to_seconds(value, "not_found_grace")


def _max_rate(value: object) -> float | None:
    if value is None:
        return None
    if type(value) not in (int, float) or not value > 0:  # type: ignore[operator]
        raise ValueError(f"max_rate must be a number > 0 or None, got {value!r}")
    return float(value)  # type: ignore[arg-type]


def _check_backoff(_: object, __: object, value: Any) -> None:
    if value is not None and not isinstance(value, Backoff):
        raise TypeError(f"backoff must be a Backoff, not {type(value).__name__}")


def _check_coalesce(_: object, __: object, value: Any) -> None:
    if value is not None and type(value) is not bool:
        raise TypeError(f"coalesce must be None, True or False, not {value!r}")


def _check_recovery(_: object, __: object, value: Any) -> None:
    if type(value) is not bool:
        raise TypeError(f"recovery must be a bool, not {type(value).__name__}")


def _check_concurrency(_: object, __: object, value: Any) -> None:
    if type(value) is not int or not 1 <= value <= MAX_CONCURRENCY:
        raise ValueError(f"concurrency must be an int in 1..{MAX_CONCURRENCY}, got {value!r}")


def _check_hook(_: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and not callable(value):
        raise TypeError(f"{attribute.name} must be callable, not {type(value).__name__}")


@attrs.frozen(kw_only=True)
class WaitOptions:
    """The options of a wait, with their defaults and limits: the one place they are written.

    Every wait (:meth:`ProgressClient.wait_for_completion`, :meth:`ProgressClient.wait_many`,
    :meth:`FaultRun.results`, the blocking client, the command line, the Chaos Toolkit
    activities) takes these as keyword arguments of the same names and defaults; building
    one checks them all, before anything is sent.  ``WaitOptions()`` holds the defaults.

    Args:
        deadline: Each operation's budget from when its wait starts, seconds or a
            :class:`datetime.timedelta` (``None`` or ``math.inf``: none; default 600).
        backoff: How per-operation reads are spaced (``None``: the client chooses --
            :class:`Backoff`, or prompt reads on a crowded cluster).
        not_found_grace: Seconds from the start of a wait during which a 404 means "not
            readable yet" (default 10).
        coalesce: ``True``: watch through the client's fault-operation list; ``False``: read
            each operation on its own backoff; ``None`` (default): whichever is cheaper.
        recovery: Once Completed, also wait until the target recovered (default ``False``).
        concurrency: Requests in flight at most, 1..:attr:`MAX_CONCURRENCY` (default 64).
        max_rate: Requests per second at most (``None``: unpaced).
        on_event: Receives the waits' :class:`StateChanged`, :class:`Retrying` and
            :class:`GaveUp` events (sync or async), from a task of its own.

    Raises:
        ValueError: A value out of its range.
        TypeError: A value of the wrong type.
    """

    #: The most requests one wait may keep in flight.
    MAX_CONCURRENCY: ClassVar[int] = MAX_CONCURRENCY

    deadline: float = attrs.field(default=600.0, converter=_deadline)
    backoff: Backoff | None = attrs.field(default=None, validator=_check_backoff)
    not_found_grace: float = attrs.field(default=10.0, converter=_grace)
    coalesce: bool | None = attrs.field(default=None, validator=_check_coalesce)
    recovery: bool = attrs.field(default=False, validator=_check_recovery)
    concurrency: int = attrs.field(default=64, validator=_check_concurrency)
    max_rate: float | None = attrs.field(default=None, converter=_max_rate)
    on_event: EventHook | None = attrs.field(default=None, validator=_check_hook, eq=False)

    def as_kwargs(self) -> dict[str, Any]:
        """These options as the keyword arguments of a wait (for a layer that forwards them).

        Returns:
            ``{"deadline": ..., "backoff": ..., ...}``, every field.
        """
        return attrs.asdict(self, recurse=False)


def engine_settings(options: WaitOptions, retry: RetryPolicy) -> _Settings:
    """The wait driver's settings for *options* and a client's retry policy."""
    return _Settings(
        backoff=options.backoff or Backoff(),
        retry=retry,
        grace=options.not_found_grace,
        budget=options.deadline,
        recovery=options.recovery,
        default_backoff=options.backoff is None,
    )


#: The defaults, read by every signature that takes a wait option.
DEFAULT = WaitOptions()
