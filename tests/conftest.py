"""Shared fixtures: a fake cluster, a client on it, and no waiting unless a test asks."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio

from sf_progress import OperationRef, ProgressClient, set_testing
from sf_progress.testing import FakeCluster

from ._aioresponses_compat import install

install()

PID = uuid.UUID("1daae3f5-7fd6-42e9-b1ba-8c05f873994d")
OID = uuid.UUID("7d3d0a5e-7c4f-4a41-9c5e-6a6f1f6c2b11")


def others() -> set[asyncio.Task[object]]:
    """Tasks still running, other than the caller's, the fake cluster's connection handlers and the virtual clock."""
    return {
        t
        for t in asyncio.all_tasks()
        if t is not asyncio.current_task()
        and not t.get_coro().__qualname__.startswith(("RequestHandler", "_VirtualTime"))  # type: ignore[union-attr]
    }


@pytest.fixture(autouse=True)
def no_wait(request: pytest.FixtureRequest) -> Iterator[None]:
    """Remove retry waits in every test, except those marked ``real_wait``."""
    if request.node.get_closest_marker("real_wait"):
        yield
        return
    with set_testing(True):
        yield


@pytest_asyncio.fixture
async def cluster() -> AsyncIterator[FakeCluster]:
    """A started FakeCluster, closed after the test."""
    async with FakeCluster() as fake:
        yield fake


@pytest_asyncio.fixture
async def client(cluster: FakeCluster) -> AsyncIterator[ProgressClient]:
    """A ProgressClient on the fake cluster, closed after the test.

    Its safety rules are on, but for the two that keep node faults apart (each fake node is its
    own fault and upgrade domain, three of five are seeds): tests start many node faults at once.
    ``tests/test_safety.py`` holds every rule to account with clients of its own.
    """
    async with ProgressClient(cluster.url, allow=("domains", "seed-quorum")) as progress_client:
        yield progress_client


@pytest.fixture
def ref() -> OperationRef:
    """A fixed operation reference."""
    return OperationRef.restart("fabric:/myapp/myservice", PID, OID)
