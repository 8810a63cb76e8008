"""Signals, on POSIX and on Windows: what stops a batch, and how a handler reaches the loop.

- ``on_signals(loop, signums, callback)``: ``loop.add_signal_handler`` where the loop has
  it (POSIX); where it raises ``NotImplementedError`` (Windows' default Proactor loop),
  ``signal.signal`` with a handler that hands over to the loop thread-safely (Proactor
  loops wake on Ctrl-C through ``signal.set_wakeup_fd``).
- ``STOP_SIGNALS``: Ctrl-C, and where they exist SIGTERM, SIGHUP (POSIX) and SIGBREAK
  (Ctrl-Break, Windows), each with the exit code a shell expects.

(``python -m sf_progress.testing`` uses these too.)
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Awaitable, Callable, Iterable
from types import FrameType
from typing import Any, TypeVar

T = TypeVar("T")

__all__ = ["STOP_SIGNALS", "on_signals", "until_stopped"]


def _stop_signals() -> dict[int, int]:
    exits = {int(signal.SIGINT): 130}
    for name in ("SIGTERM", "SIGHUP"):
        signum = getattr(signal, name, None)
        if signum is not None:
            exits[int(signum)] = 128 + int(signum)
    brk = getattr(signal, "SIGBREAK", None)
    if brk is not None:
        exits[int(brk)] = 130  # Ctrl-Break is an interrupt from the keyboard too
    return exits


#: Signals that end a batch cleanly, with the exit code a shell gives them.
STOP_SIGNALS = _stop_signals()


def on_signals(
    loop: asyncio.AbstractEventLoop, signums: Iterable[int], callback: Callable[[int], None]
) -> Callable[[], None]:
    """Call ``callback(signum)`` on the loop when one of *signums* arrives; return the undo."""
    on_loop: list[int] = []
    plain: list[tuple[int, Any]] = []

    def handler(signum: int, frame: FrameType | None) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: nothing to stop
            loop.call_soon_threadsafe(callback, signum)

    for signum in signums:
        try:
            loop.add_signal_handler(signum, callback, signum)
            on_loop.append(signum)
        except NotImplementedError:  # Windows' Proactor loop: a plain handler, handed to the loop
            plain.append((signum, signal.signal(signum, handler)))

    def restore() -> None:
        for signum in on_loop:
            with contextlib.suppress(ValueError, RuntimeError, OSError):
                loop.remove_signal_handler(signum)
        for signum, previous in plain:
            with contextlib.suppress(ValueError, RuntimeError, OSError, TypeError):
                signal.signal(signum, previous)

    return restore


async def until_stopped(coro: Awaitable[T]) -> tuple[T | None, int | None]:
    """Run *coro* until it ends or a stop signal comes: ``(its result, None)`` or ``(None, signum)``.

    The signal cancels *coro* (it cleans up as on any cancellation); its other exceptions propagate.
    """
    task = asyncio.ensure_future(coro)
    stopped_by: list[int] = []

    def on_signal(signum: int) -> None:
        stopped_by.append(signum)
        task.cancel()

    restore = on_signals(asyncio.get_running_loop(), STOP_SIGNALS, on_signal)
    try:
        return await task, None
    except asyncio.CancelledError:
        if not stopped_by:
            raise
        return None, stopped_by[0]
    finally:
        restore()
