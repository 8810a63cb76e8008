"""``TickCache``: reads by key, each answered again for one tick and shared while in flight.

The verification hints (``_verified/hints.py``) and the safety rules' inputs
(``_safety/inputs.py``) read the cluster once per tick for every caller this way.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["TickCache"]


class _Entry:
    __slots__ = ("at", "task", "value")

    def __init__(self) -> None:
        self.at = -1e18
        self.value: Any = None
        self.task: asyncio.Future[Any] | None = None


class TickCache:
    """Each key's last read, reused for *tick* seconds of *clock*; one read at a time per key, awaited by all."""

    def __init__(self, clock: Callable[[], float], tick: float) -> None:
        self.clock, self.tick = clock, tick
        self.entries: dict[str, _Entry] = {}

    async def get(self, key: str, read: Callable[[], Awaitable[Any]]) -> Any:
        """*key*'s value: the last read's if it is less than a tick old, else a new ``read()`` (shared).

        A read that fails raises to every caller awaiting it; the next call reads again.
        """
        entry = self.entries.setdefault(key, _Entry())
        if entry.task is not None:
            return await asyncio.shield(entry.task)
        if self.clock() - entry.at < self.tick:
            return entry.value
        entry.task = asyncio.ensure_future(read())
        try:
            entry.value = await asyncio.shield(entry.task)
            entry.at = self.clock()
        finally:
            entry.task = None
        return entry.value

    def forget(self, key: str) -> None:
        """Read *key* again at its next call (a write made its last value stale)."""
        entry = self.entries.get(key)
        if entry is not None:
            entry.at = -1e18

    def read_at(self, key: str) -> float:
        """When *key* was last read (a very old time: never)."""
        entry = self.entries.get(key)
        return -1e18 if entry is None else entry.at
