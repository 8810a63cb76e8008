"""Misbehaving gateways and odd arguments: each case here once broke the promise of a typed error."""

from __future__ import annotations

import asyncio
import json
import math
import time
import uuid

import pytest

from sf_progress import (
    FabricError,
    FabricTransientError,
    NotFoundError,
    OperationRef,
    OutcomeKind,
    ProgressClient,
    ResponseFormatError,
    RetryPolicy,
    SFProgressError,
    TransportTimeout,
    WaitTimeout,
)
from sf_progress.testing import FakeCluster, Fault, Script

from ._raw_server import answer, chunks_forever, raw_server
from .conftest import PID

DEEP = b"[" * 30_000 + b"]" * 30_000  # far deeper than json can decode, within the 64 KiB cap


def a_ref() -> OperationRef:
    return OperationRef.restart("app~svc", PID, uuid.uuid4())


async def test_endless_chunked_body_is_a_typed_error_not_a_memory_leak() -> None:
    """A 200 whose chunked body never ends stops being read at the cap: ResponseFormatError."""

    async def endless(_: bytes, writer: asyncio.StreamWriter) -> None:
        await chunks_forever(writer)

    async with raw_server(endless) as server, ProgressClient(server.url) as client:
        with pytest.raises(ResponseFormatError, match="larger than"):
            await client.get_progress(a_ref())


async def test_announced_huge_body_is_not_read() -> None:
    """A Content-Length above the cap is refused without reading the body."""

    async def huge(_: bytes, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 999999999\r\n\r\n{")

    async with raw_server(huge) as server, ProgressClient(server.url) as client:
        with pytest.raises(ResponseFormatError, match="larger than"):
            await client.get_progress(a_ref())


async def test_endless_error_body_keeps_its_status() -> None:
    """A 503 with an endless body is still the transient FabricError of its status."""

    async def endless(_: bytes, writer: asyncio.StreamWriter) -> None:
        await chunks_forever(writer, b"503 Service Unavailable")

    async with raw_server(endless) as server, ProgressClient(server.url) as client:
        with pytest.raises(FabricTransientError) as info:
            await client.get_progress(a_ref())
    assert info.value.status == 503


async def test_a_full_size_list_answer_is_still_read() -> None:
    """The list call at its 10,000-item cap (~1.2 MB, here 1.3 MB) is read and parsed."""
    item = {"OperationId": "", "State": "Running", "Type": "PartitionRestart"}
    items = [dict(item, OperationId=str(uuid.uuid4())) for _ in range(10_000)]
    body = json.dumps(items, indent=2).encode()  # pretty-printed: larger than the compact ~1.1 MB
    assert len(body) > 1_200_000

    async with raw_server(answer(b"200 OK", body)) as server, ProgressClient(server.url) as client:
        listed = await client.list_fault_operations()
    assert len(listed) == 10_000


@pytest.mark.parametrize("route", ["progress", "list"])
async def test_deeply_nested_success_body_is_a_format_error(route: str) -> None:
    """JSON nested 30,000 deep in a 200 is a ResponseFormatError, never a RecursionError."""
    async with raw_server(answer(b"200 OK", DEEP)) as server, ProgressClient(server.url) as client:
        call = client.get_progress(a_ref()) if route == "progress" else client.list_fault_operations()
        with pytest.raises(ResponseFormatError, match="nested too deep"):
            await call


async def test_deeply_nested_error_body_is_the_error_of_its_status() -> None:
    """JSON nested 30,000 deep in a 404 is the NotFoundError of the status."""
    async with raw_server(answer(b"404 Not Found", DEEP)) as server, ProgressClient(server.url) as client:
        with pytest.raises(NotFoundError):
            await client.get_progress(a_ref())


@pytest.mark.real_wait
@pytest.mark.parametrize("how", ["wait_for_completion", "wait_many"])
async def test_deadline_is_a_wall_clock_budget_against_a_silent_gateway(how: str) -> None:
    """A gateway that accepts and never answers: the wait ends about its deadline, not margin + 1 s later."""

    async def silent(_: bytes, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(3600)

    async with raw_server(silent) as server, ProgressClient(server.url) as client:
        started = time.monotonic()
        if how == "wait_for_completion":
            with pytest.raises(WaitTimeout):
                await client.wait_for_completion(a_ref(), deadline=2)
        else:
            async with client.wait_many([a_ref()], deadline=2) as batch:
                outcomes = [o async for o in batch]
            assert [o.kind for o in outcomes] == [OutcomeKind.TIMED_OUT]
        elapsed = time.monotonic() - started
    # Before: 2 s + timeout_margin (5 s) + 1 s of server timeout = about 8 s.  Now at most
    # the deadline plus the last read's one-second allowance (generous bound for slow machines).
    assert elapsed < 4.5


@pytest.mark.parametrize("deadline", [None, math.inf])
async def test_no_deadline(cluster: FakeCluster, deadline: float | None) -> None:
    """deadline=None or inf means no deadline: no OverflowError, the wait just runs to the end."""
    ref = a_ref()
    cluster.add_operation(ref, Script(duration=900))
    progress = await _client_wait(cluster, ref, deadline)
    assert progress == OutcomeKind.COMPLETED


async def _client_wait(cluster: FakeCluster, ref: OperationRef, deadline: float | None) -> OutcomeKind:
    async with ProgressClient(cluster.url) as client:
        await client.wait_for_completion(ref, deadline=deadline)
        async with client.wait_many([ref], deadline=deadline) as batch:
            (outcome,) = [o async for o in batch]
    return outcome.kind


@pytest.mark.parametrize(
    "kwargs",
    [{"timeout_margin": math.inf}, {"connect_timeout": math.inf}, {"timeout_margin": math.nan}, {"user_agent": "a\nb"}],
)
def test_unusable_client_options_fail_at_construction(kwargs: dict[str, object]) -> None:
    """Infinite or NaN timeouts and a user_agent with control characters are refused before any I/O."""
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        ProgressClient("http://localhost:19080", **kwargs)  # type: ignore[arg-type]


async def test_nan_deadline_is_a_value_error(client: ProgressClient) -> None:
    """deadline=nan is a ValueError in both waits, before any request."""
    with pytest.raises(ValueError, match="deadline"):
        await client.wait_for_completion(a_ref(), deadline=math.nan)
    with pytest.raises(ValueError, match="deadline"):
        client.wait_many([a_ref()], deadline=math.nan)


@pytest.mark.parametrize("version", ["٣.٠", "6.0\n", "6.0 "])
def test_api_version_is_ascii_digits_only(version: str) -> None:
    """Unicode digits or a trailing newline are not an api-version."""
    with pytest.raises(ValueError, match="api_version"):
        ProgressClient("http://localhost:19080", api_version=version)


async def test_non_ascii_reason_phrase_gives_a_printable_error() -> None:
    """A reason phrase in UTF-8 puts no lone surrogates into the error: it prints under strict UTF-8."""
    handler = answer("503 Überlastet".encode(), b"")
    async with raw_server(handler) as server, ProgressClient(server.url) as client:
        with pytest.raises(FabricTransientError) as info:
            await client.get_progress(a_ref())
    error = info.value
    str(error).encode("utf-8")  # would raise UnicodeEncodeError on a surrogate
    assert error.code is None or error.code.isascii()


async def test_hex_reason_phrase_is_still_a_code() -> None:
    """A code-like reason phrase (the gateway's '500 0x80004002') is still taken as the code."""
    async with raw_server(answer(b"500 0x80004002", b"")) as server, ProgressClient(server.url) as client:
        with pytest.raises(FabricError) as info:
            await client.get_progress(a_ref())
    assert info.value.code == "0x80004002"


def test_a_client_used_from_a_second_event_loop_says_so() -> None:
    """asyncio.run twice with one client: a clear RuntimeError, not aiohttp's 'Event loop is closed'."""
    client = ProgressClient("http://127.0.0.1:9")  # nothing listens: the first loop gets a TransportError
    ref = a_ref()

    async def first() -> None:
        with pytest.raises(SFProgressError):
            await client.get_progress(ref)

    async def second() -> None:
        with pytest.raises(RuntimeError, match="another event loop"):
            await client.get_progress(ref)
        await client.aclose()

    asyncio.run(first())
    asyncio.run(second())
    assert client.closed


async def test_unknown_operation_with_a_deadline_inside_the_grace_is_not_found(
    client: ProgressClient,
) -> None:
    """Every answer a 404 and a deadline shorter than the 10 s grace: NotFoundError, not WaitTimeout."""
    with pytest.raises(NotFoundError):
        await client.wait_for_completion(a_ref(), deadline=3)
    async with client.wait_many([a_ref()], deadline=3) as batch:
        (outcome,) = [o async for o in batch]
    assert outcome.kind is OutcomeKind.NOT_FOUND


@pytest.mark.real_wait
async def test_the_retry_budget_counts_the_first_try() -> None:
    """A first try that hangs until its request timeout has spent the budget: no retry starts after it.

    (Issue 35, item 11: the first try ran outside the retry machinery and its time was not counted,
    so ``RetryPolicy(budget=...)`` let a hung gateway be tried again and again.)
    """
    async with FakeCluster() as cluster:
        cluster.inject(Fault.slow(60), routes=["version"], times=5)
        async with ProgressClient(cluster.url, server_timeout=1, timeout_margin=0.5,
                                  retry=RetryPolicy(budget=1.0)) as client:
            began = time.monotonic()
            with pytest.raises(TransportTimeout):
                await client.get_cluster_version()
            assert time.monotonic() - began < 5  # one try of 1.5 s, not five
        assert cluster.by_route["version"] == 1
