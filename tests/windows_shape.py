"""Run as if on Windows: ``python -m pytest -p tests.windows_plugin ...`` (CI's second, short pass).

What is missing on Windows is made missing here, before sf_progress is imported, in this
process and (through ``windows_shape_site/sitecustomize.py`` on ``PYTHONPATH``) in every
Python child process the tests start (the CLI, ``python -m sf_progress.testing``):

- ``import fcntl`` raises ``ImportError`` (it does not exist on Windows);
- ``signal.SIGHUP`` is absent (Windows has no SIGHUP);
- ``loop.add_signal_handler`` / ``loop.add_reader`` raise ``NotImplementedError``, as
  Windows' default Proactor event loop does;
- ``msvcrt`` is a stand-in whose ``locking(fd, LK_NBLCK, 1)`` is an exclusive, non-blocking
  lock per open file (over POSIX ``flock``), so the journal's Windows lock path runs.

What this does not reproduce (the README's "Platforms" says so): the Proactor loop itself,
real Windows byte-range locks, ``\\r\\n`` text translation, console VT handling, paths with
drive letters as the OS resolves them.
"""

from __future__ import annotations

import asyncio
import asyncio.unix_events
import errno
import os
import signal
import sys
import types
from pathlib import Path

SITE = Path(__file__).resolve().parent / "windows_shape_site"
ENV = "SF_PROGRESS_WINDOWS_SHAPE"


def _not_on_windows(self: object, *args: object, **kwargs: object) -> None:
    raise NotImplementedError("not available on Windows' Proactor event loop (windows_shape)")


def install() -> None:
    """Make this process look like Windows to sf_progress (idempotent)."""
    if getattr(sys, "_sf_windows_shape", False):
        return
    import fcntl as real_fcntl

    stand_in = types.ModuleType("msvcrt")
    stand_in.LK_UNLCK, stand_in.LK_LOCK, stand_in.LK_NBLCK = 0, 1, 2  # type: ignore[attr-defined]

    def locking(fd: int, mode: int, nbytes: int) -> None:
        if mode == 0:
            real_fcntl.flock(fd, real_fcntl.LOCK_UN)
            return
        try:
            real_fcntl.flock(fd, real_fcntl.LOCK_EX | (real_fcntl.LOCK_NB if mode == 2 else 0))
        except BlockingIOError:
            raise OSError(errno.EDEADLK, "Resource deadlock avoided") from None

    stand_in.locking = locking  # type: ignore[attr-defined]
    sys.modules["msvcrt"] = stand_in
    sys.modules["fcntl"] = None  # type: ignore[assignment]  # ``import fcntl`` -> ImportError
    if hasattr(signal, "SIGHUP"):
        del signal.SIGHUP
    loop_class = asyncio.unix_events._UnixSelectorEventLoop
    loop_class.add_signal_handler = _not_on_windows  # type: ignore[method-assign,assignment]
    loop_class.add_reader = _not_on_windows  # type: ignore[method-assign,assignment]
    sys._sf_windows_shape = True  # type: ignore[attr-defined]
    os.environ[ENV] = "1"
    path = os.environ.get("PYTHONPATH", "")
    if str(SITE) not in path.split(os.pathsep):
        os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(SITE), path) if p)


def active() -> bool:
    """Whether this process runs in the Windows shape."""
    return bool(getattr(sys, "_sf_windows_shape", False))

