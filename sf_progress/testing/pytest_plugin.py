"""pytest fixtures: ``fake_cluster`` (a started ``FakeCluster``) and ``sf_no_wait``.

Enable with ``pytest_plugins = ["sf_progress.testing.pytest_plugin"]`` in a
``conftest.py``; the async fixture needs pytest-asyncio.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio

from .._config import set_testing
from ._fake import FakeCluster


@pytest.fixture
def sf_no_wait() -> Iterator[None]:
    """Remove all retry and polling waits for the duration of a test."""
    with set_testing(True):
        yield


@pytest_asyncio.fixture
async def fake_cluster() -> AsyncIterator[FakeCluster]:
    """A started ``FakeCluster`` on 127.0.0.1, closed after the test."""
    async with FakeCluster() as cluster:
        yield cluster
