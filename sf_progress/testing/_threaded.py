"""``SyncFakeCluster``: a FakeCluster serving from a thread and event loop of its own, for blocking code."""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any, TypeVar

from ._fake import FakeCluster

__all__ = ["SyncFakeCluster"]

T = TypeVar("T")
#: How long a call on the cluster's loop (its start and close included) may take.
_CALL_WAIT = 30.0


class SyncFakeCluster:
    """A :class:`FakeCluster` for scripts and blocking tests: no event loop of yours needed.

    ``with SyncFakeCluster(default_script=Script(duration=2)) as fake:`` starts one on
    127.0.0.1 in a daemon thread; ``fake.url`` is its address, ``fake.cluster`` the
    ``FakeCluster`` itself (its counters and records may be read from any thread); to
    script it, run a call on its loop with ``fake.call(fake.cluster.inject, Fault.reset())``.
    It runs on real time (the testing switch's virtual clock belongs to one event loop).

    Args:
        **options: Any keyword option of :class:`FakeCluster`.
    """

    def __init__(self, **options: Any) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="sf_progress-fake", daemon=True)
        self._thread.start()
        try:
            self.cluster: FakeCluster = self.call(FakeCluster(**options).start)
        except BaseException:
            self._stop()
            raise

    @property
    def url(self) -> str:
        """The cluster's address (``http://127.0.0.1:PORT``)."""
        return self.cluster.url

    def call(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run ``func(*args, **kwargs)`` on the cluster's loop (awaited if it is a coroutine function).

        Args:
            func: What to call (``fake.cluster.inject``, ``fake.cluster.plan``, ...).
            *args: Its positional arguments.
            **kwargs: Its keyword arguments.

        Returns:
            What it returned.
        """

        async def run() -> Any:
            result = func(*args, **kwargs)
            return await result if inspect.isawaitable(result) else result

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(_CALL_WAIT)

    def close(self) -> None:
        """Stop serving and end the thread.  Safe to call more than once."""
        if self._loop.is_closed():
            return
        try:
            self.call(self.cluster.close)
        finally:
            self._stop()

    def _stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(_CALL_WAIT)
        if not self._thread.is_alive():
            self._loop.close()

    def __enter__(self) -> SyncFakeCluster:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<SyncFakeCluster {self.url if hasattr(self, 'cluster') else '(not started)'}>"
