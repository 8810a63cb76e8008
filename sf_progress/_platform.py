"""What differs between POSIX and Windows for the library: the journal's lock (and fsync).

- ``lock_exclusive(fd)``: one writer per journal.  POSIX: ``fcntl.flock(LOCK_EX | LOCK_NB)``
  on the whole file.  Windows: ``msvcrt.locking(LK_NBLCK)`` of one byte far past any
  journal's end (Windows byte-range locks are mandatory, so locking a byte that is read
  or written would block our own reads; a byte past the end blocks nothing but another
  lock).  Either way a second opener fails at once, and the lock dies with the process
  (or the file's close).  Both are in the standard library: no dependency for 20 lines.
- Signals are the command line's business: ``sf_progress/cli/_signals.py``.

``fsync``: ``os.fsync`` is ``fsync(2)`` on POSIX and ``_commit`` (``FlushFileBuffers``) on
Windows; both return once the data is on stable storage as far as the OS can tell.
"""

from __future__ import annotations

import os

__all__ = ["lock_exclusive"]

#: The byte a Windows journal lock holds: past the end of any journal.
_LOCK_OFFSET = 1 << 40  # 1 TiB: past any journal, within every file system's seek range


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
