"""What differs between POSIX and Windows, in one place: the journal's lock and signal handling.

- ``lock_exclusive(fd)``: one writer per journal.  POSIX: ``fcntl.flock(LOCK_EX | LOCK_NB)``
  on the whole file.  Windows: ``msvcrt.locking(LK_NBLCK)`` of one byte far past any
  journal's end (Windows byte-range locks are mandatory, so locking a byte that is read
  or written would block our own reads; a byte past the end blocks nothing but another
  lock).  Either way a second opener fails at once, and the lock dies with the process
  (or the file's close).  Both are in the standard library: no dependency for 20 lines.
- ``on_signals(loop, signums, callback)``: ``loop.add_signal_handler`` where the loop has
  it (POSIX); where it raises ``NotImplementedError`` (Windows' default Proactor loop),
  ``signal.signal`` with a handler that hands over to the loop thread-safely (Proactor
  loops wake on Ctrl-C through ``signal.set_wakeup_fd``).
- ``STOP_SIGNALS``: Ctrl-C, and where they exist SIGTERM, SIGHUP (POSIX) and SIGBREAK
  (Ctrl-Break, Windows), each with the exit code a shell expects.

``fsync``: ``os.fsync`` is ``fsync(2)`` on POSIX and ``_commit`` (``FlushFileBuffers``) on
Windows; both return once the data is on stable storage as far as the OS can tell.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Callable, Iterable
from types import FrameType
from typing import Any

__all__ = ["STOP_SIGNALS", "lock_exclusive", "on_signals"]

#: The byte a Windows journal lock holds: past the end of any journal.
_LOCK_OFFSET = 1 << 40  # 1 TiB: past any journal, within every file system's seek range


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


def lock_exclusive(fd: int) -> None:
    """Take the exclusive, non-blocking lock of an open journal; ``OSError`` if another holds it."""
    try:
        import fcntl
    except ImportError:
        _lock_windows(fd)
        return
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


def _lock_windows(fd: int) -> None:
    import msvcrt

    position = os.lseek(fd, 0, os.SEEK_CUR)
    os.lseek(fd, _LOCK_OFFSET, os.SEEK_SET)
    try:
        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)  # type: ignore[attr-defined,unused-ignore]
    finally:
        os.lseek(fd, position, os.SEEK_SET)


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
