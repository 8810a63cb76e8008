"""ProgressClient against aioresponses: exact URLs, error mapping, retries, lifecycle."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest
import pytest_asyncio
from aioresponses import aioresponses
from aioresponses.core import normalize_url

import sf_progress._config as config
from sf_progress import (
    AuthError,
    BadRequestError,
    ConflictError,
    FabricError,
    FabricTransientError,
    FaultTarget,
    NotFoundError,
    OperationRef,
    OperationState,
    ProgressClient,
    ResponseFormatError,
    RetryPolicy,
    TransportError,
    TransportTimeout,
)

from .conftest import OID, PID

BASE = "http://sf.test:19080"
PROGRESS = f"{BASE}/Faults/Services/myapp~myservice/$/GetPartitions/{PID}/$/GetRestartProgress"
PROGRESS_URL = f"{PROGRESS}?api-version=3.0&OperationId={OID}&timeout=60"
ANY_PROGRESS = re.compile(r"^http://sf\.test:19080/Faults/Services/.*GetRestartProgress.*$")
RUNNING = {"State": "Running"}


@pytest.fixture
def mocked() -> Iterator[aioresponses]:
    """aioresponses intercepting every aiohttp request (the stop lever: released, its property absent)."""
    with aioresponses() as mock:
        mock.get(re.compile(r".*/Names/sfprogress~control/\$/GetProperty.*"), status=404, repeat=True)
        yield mock


@pytest_asyncio.fixture
async def unit_client() -> AsyncIterator[ProgressClient]:
    """A client on a fake host name (only aioresponses answers; the safety rules' reads are not mocked)."""
    async with ProgressClient(BASE, allow="all") as progress_client:
        yield progress_client


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Record the retry sleeps instead of sleeping."""
    recorded: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        recorded.append(seconds)

    monkeypatch.setattr(config, "sleep", fake_sleep)
    return recorded


def sent_urls(mock: aioresponses) -> list[str]:
    """The URLs requested, in aioresponses' normalised form (query sorted); the stop lever's reads left out."""
    return [str(url) for (_, url) in mock.requests if "/Names/" not in str(url)]


def norm(url: str) -> str:
    """Normalise like aioresponses does, so expected URLs compare (exact order: integration tests)."""
    return str(normalize_url(url))


async def test_exact_url_and_headers(mocked: aioresponses, unit_client: ProgressClient) -> None:
    """The progress GET has the documented path, query order and JSON Accept header."""
    mocked.get(PROGRESS_URL, payload=RUNNING)
    progress = await unit_client.get_restart_progress("fabric:/myapp/myservice", PID, OID)
    assert progress.state is OperationState.RUNNING
    assert sent_urls(mocked) == [norm(PROGRESS_URL)]
    call = next(iter(mocked.requests.values()))[0]
    assert call.kwargs["headers"]["Accept"] == "application/json"
    assert call.kwargs["allow_redirects"] is False
    assert call.kwargs["timeout"].total == 65


async def test_ids_as_keywords_and_ref(mocked: aioresponses, unit_client: ProgressClient) -> None:
    """The three ids work as keywords, and one OperationRef works alone."""
    mocked.get(PROGRESS_URL, payload=RUNNING, repeat=True)
    await unit_client.get_restart_progress(service_id="myapp/myservice", partition_id=str(PID), operation_id=OID)
    await unit_client.get_progress(OperationRef.restart("myapp~myservice", PID, OID))
    assert len(next(iter(mocked.requests.values()))) == 2


async def test_timeout_and_api_version_are_configurable(mocked: aioresponses) -> None:
    """Per-call server timeout and the client's api-version reach the query; client timeout exceeds it."""
    url = f"{PROGRESS}?api-version=6.0&OperationId={OID}&timeout=7"
    mocked.get(url, payload=RUNNING)
    async with ProgressClient(BASE, api_version="6.0", timeout_margin=2) as client:
        await client.get_restart_progress("myapp~myservice", PID, OID, timeout=7)
    call = next(iter(mocked.requests.values()))[0]
    assert call.kwargs["timeout"].total == 9


@pytest.mark.parametrize(
    ("args", "kwargs", "error"),
    [
        (("", PID, OID), {}, ValueError),
        (("a/b?x=1", PID, OID), {}, ValueError),
        (("a\nb", PID, OID), {}, ValueError),
        (("a~b", "nope", OID), {}, ValueError),
        (("a~b", PID, ""), {}, ValueError),
        (("a~b", PID, 7), {}, TypeError),
        (("a~b", PID, OID), {"timeout": 0}, ValueError),
        (("a~b", PID, OID), {"timeout": 4294967296}, ValueError),
        (("a~b", PID, OID), {"timeout": 2.5}, ValueError),
        (("a~b", PID), {}, TypeError),
        ((OperationRef.restart("a~b", PID, OID), PID), {}, TypeError),
    ],
)
async def test_bad_input_raises_before_any_request(
    mocked: aioresponses,
    unit_client: ProgressClient,
    args: tuple[object, ...],
    kwargs: dict[str, object],
    error: type,
) -> None:
    """Bad ids or timeouts raise ValueError/TypeError and send nothing."""
    with pytest.raises(error):
        await unit_client.get_restart_progress(*args, **kwargs)  # type: ignore[arg-type]
    assert not mocked.requests


@pytest.mark.parametrize(
    ("status", "body", "reason", "cls", "code"),
    [
        (
            404,
            {"Error": {"Code": "FABRIC_E_KEY_NOT_FOUND", "Message": "gone"}},
            "FABRIC_E_KEY_NOT_FOUND",
            NotFoundError,
            "FABRIC_E_KEY_NOT_FOUND",
        ),
        (
            400,
            {"Error": {"Code": "E_INVALIDARG", "Message": "bad"}},
            "E_INVALIDARG",
            BadRequestError,
            "E_INVALIDARG",
        ),
        (
            409,
            {"Error": {"Code": "FABRIC_E_TEST_COMMAND_OPERATION_ID_ALREADY_EXISTS"}},
            "Conflict",
            ConflictError,
            "FABRIC_E_TEST_COMMAND_OPERATION_ID_ALREADY_EXISTS",
        ),
        (401, None, "Unauthorized", AuthError, None),
        (403, None, "Forbidden", AuthError, None),
        (401, None, "Client certificate required", AuthError, None),
        (
            500,
            {"Error": {"Code": "FMFailoverUnitNotFound", "Message": None}},
            "FMFailoverUnitNotFound",
            FabricError,
            "FMFailoverUnitNotFound",
        ),
        (500, None, "FMFailoverUnitNotFound", FabricError, "FMFailoverUnitNotFound"),
        (500, "<html>oops</html>", "Internal Server Error", FabricError, None),
        (500, "[1, 2]", "Internal Server Error", FabricError, None),
        (500, {"Error": "flat"}, "E_FAIL", FabricError, "E_FAIL"),
    ],
)
async def test_error_answers_become_typed_fabric_errors(
    mocked: aioresponses,
    unit_client: ProgressClient,
    status: int,
    body: object,
    reason: str,
    cls: type[FabricError],
    code: str | None,
) -> None:
    """Every non-2xx answer, whatever its body, becomes the right FabricError (never a TypeError)."""
    if isinstance(body, str):
        mocked.get(PROGRESS_URL, status=status, body=body, reason=reason)
    elif body is None:
        mocked.get(PROGRESS_URL, status=status, body=b"", reason=reason)
    else:
        mocked.get(PROGRESS_URL, status=status, payload=body, reason=reason)
    with pytest.raises(cls) as info:
        await unit_client.get_restart_progress("myapp~myservice", PID, OID)
    exc = info.value
    assert type(exc) is cls
    assert (exc.status, exc.code) == (status, code)
    assert exc.message
    assert exc.ref == OperationRef.restart("myapp~myservice", PID, OID)
    assert exc.__cause__ is None
    assert len(next(iter(mocked.requests.values()))) == 1  # never retried


async def test_transient_answers_are_retried_then_succeed(
    mocked: aioresponses, unit_client: ProgressClient, sleeps: list[float]
) -> None:
    """503/504/502 are retried with growing backoff, then the answer is returned."""
    mocked.get(PROGRESS_URL, status=503, payload={"Error": {"Code": "E_ABORT"}}, reason="E_ABORT")
    mocked.get(PROGRESS_URL, status=504, payload={"Error": {"Code": "FABRIC_E_TIMEOUT"}}, reason="FABRIC_E_TIMEOUT")
    mocked.get(PROGRESS_URL, status=502, body=b"<html>bad gateway</html>", reason="Bad Gateway")
    mocked.get(PROGRESS_URL, payload={"State": "Completed"})
    progress = await unit_client.get_restart_progress("myapp~myservice", PID, OID)
    assert progress.state is OperationState.COMPLETED
    assert len(sleeps) == 3
    assert 0.1 <= sleeps[0] <= 0.2
    assert 0.2 <= sleeps[1] <= 0.4
    assert 0.4 <= sleeps[2] <= 0.8


async def test_retries_stop_after_attempts(mocked: aioresponses, sleeps: list[float]) -> None:
    """After ``attempts`` tries the last transient error is raised as ours, not tenacity's."""
    mocked.get(PROGRESS_URL, status=503, payload={"Error": {"Code": "FABRIC_E_SERVICE_TOO_BUSY"}}, repeat=True)
    async with ProgressClient(BASE, retry=RetryPolicy(attempts=3)) as client:
        with pytest.raises(FabricTransientError) as info:
            await client.get_restart_progress("myapp~myservice", PID, OID)
    assert info.value.code == "FABRIC_E_SERVICE_TOO_BUSY"
    assert len(sleeps) == 2
    assert len(next(iter(mocked.requests.values()))) == 3


async def test_retry_after_is_honoured_within_cap(mocked: aioresponses, sleeps: list[float]) -> None:
    """A Retry-After header raises the wait, but never beyond retry_after_cap."""
    mocked.get(PROGRESS_URL, status=503, headers={"Retry-After": "7"}, body=b"")
    mocked.get(PROGRESS_URL, status=429, headers={"Retry-After": "600"}, body=b"")
    mocked.get(PROGRESS_URL, payload=RUNNING)
    async with ProgressClient(BASE, retry=RetryPolicy(retry_after_cap=30)) as client:
        await client.get_restart_progress("myapp~myservice", PID, OID)
    assert sleeps == [7.0, 30.0]


async def test_retry_time_budget_clips_waits(mocked: aioresponses, sleeps: list[float]) -> None:
    """The retry budget clips the wait so retries end within ``timeout`` seconds."""
    mocked.get(PROGRESS_URL, status=503, headers={"Retry-After": "50"}, body=b"", repeat=True)
    async with ProgressClient(BASE, retry=RetryPolicy(budget=1.0, attempts=3)) as client:
        with pytest.raises(FabricTransientError):
            await client.get_restart_progress("myapp~myservice", PID, OID)
    assert sleeps
    assert all(s <= 1.0 for s in sleeps)


async def test_testing_switch_caps_attempts(mocked: aioresponses, unit_client: ProgressClient) -> None:
    """set_testing(True, attempts=2) caps tries at two."""
    mocked.get(PROGRESS_URL, status=503, body=b"", repeat=True)
    with config.set_testing(True, attempts=2), pytest.raises(FabricTransientError):
        await unit_client.get_restart_progress("myapp~myservice", PID, OID)
    assert len(next(iter(mocked.requests.values()))) == 2


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (aiohttp.ClientConnectionError("refused"), TransportError),
        (aiohttp.ServerDisconnectedError(), TransportError),
        (aiohttp.ClientPayloadError("cut"), TransportError),
        (ConnectionResetError("reset"), TransportError),
        (TimeoutError(), TransportTimeout),
        (aiohttp.ServerTimeoutError("slow"), TransportTimeout),
    ],
)
async def test_transport_failures_are_translated_and_retried(
    mocked: aioresponses, unit_client: ProgressClient, exc: Exception, expected: type[Exception]
) -> None:
    """aiohttp/OS errors become TransportError (timeouts TransportTimeout), chained, after retries."""
    mocked.get(PROGRESS_URL, exception=exc, repeat=True)
    with pytest.raises(expected) as info:
        await unit_client.get_restart_progress("myapp~myservice", PID, OID)
    assert type(info.value) is expected
    assert info.value.__cause__ is exc
    assert len(next(iter(mocked.requests.values()))) == 5


async def test_transport_failure_then_success(mocked: aioresponses, unit_client: ProgressClient) -> None:
    """A reset followed by a good answer returns the answer."""
    mocked.get(PROGRESS_URL, exception=aiohttp.ServerDisconnectedError())
    mocked.get(PROGRESS_URL, payload={"State": "Faulted"})
    assert (await unit_client.get_restart_progress("myapp~myservice", PID, OID)).state is OperationState.FAULTED


async def test_truncated_json_is_retried_html_is_not(mocked: aioresponses, unit_client: ProgressClient) -> None:
    """A 200 whose JSON is cut short is retried; an HTML 200 is a ResponseFormatError at once."""
    mocked.get(PROGRESS_URL, body=b'{"State": "Runn', content_type="application/json")
    mocked.get(PROGRESS_URL, payload=RUNNING)
    assert (await unit_client.get_restart_progress("myapp~myservice", PID, OID)).state is OperationState.RUNNING
    mocked.get(PROGRESS_URL, body=b"<html><body>Sign in</body></html>", content_type="text/html", repeat=True)
    with pytest.raises(ResponseFormatError) as info:
        await unit_client.get_restart_progress("myapp~myservice", PID, OID)
    assert "Sign in" in info.value.excerpt
    assert not info.value.transient
    assert len(next(iter(mocked.requests.values()))) == 3


async def test_truncated_json_every_time_gives_format_error(mocked: aioresponses, unit_client: ProgressClient) -> None:
    """Truncated bodies on every try end in a transient ResponseFormatError, not a JSONDecodeError."""
    mocked.get(PROGRESS_URL, body=b'{"State":', repeat=True)
    with pytest.raises(ResponseFormatError) as info:
        await unit_client.get_restart_progress("myapp~myservice", PID, OID)
    assert info.value.transient
    assert info.value.__cause__ is None


async def test_retry_is_logged_without_secrets(
    mocked: aioresponses, unit_client: ProgressClient, caplog: pytest.LogCaptureFixture
) -> None:
    """Each retry logs one INFO line on the sf_progress logger."""
    mocked.get(PROGRESS_URL, status=503, payload={"Error": {"Code": "E_ABORT"}})
    mocked.get(PROGRESS_URL, payload=RUNNING)
    with caplog.at_level(logging.INFO, logger="sf_progress"):
        await unit_client.get_restart_progress("myapp~myservice", PID, OID)
    assert [r.name for r in caplog.records] == ["sf_progress"]
    assert "E_ABORT" in caplog.records[0].getMessage()


async def test_start_sends_mode_and_returns_ref(mocked: aioresponses, unit_client: ProgressClient) -> None:
    """StartRestart uses api-version 6.0, the mode, and a generated OperationId."""
    mocked.post(re.compile(r".*StartRestart.*"), status=202)
    ref = await unit_client.start(FaultTarget.restart("fabric:/myapp/myservice", PID, mode="OnlyActiveSecondaries"))
    (url,) = sent_urls(mocked)
    assert url == norm(
        f"{BASE}/Faults/Services/myapp~myservice/$/GetPartitions/{PID}/$/StartRestart?api-version=6.0"
        f"&OperationId={ref.operation_id}&RestartPartitionMode=OnlyActiveSecondaries&timeout=60"
    )
    assert ref.operation_id.version == 4


async def test_start_retry_meeting_conflict_is_success(mocked: aioresponses, unit_client: ProgressClient) -> None:
    """A retried start that meets 409 ALREADY_EXISTS means the first try landed."""
    conflict = {"Error": {"Code": "FABRIC_E_TEST_COMMAND_OPERATION_ID_ALREADY_EXISTS", "Message": "exists"}}
    mocked.post(re.compile(r".*StartRestart.*"), exception=aiohttp.ServerDisconnectedError())
    mocked.post(re.compile(r".*StartRestart.*"), status=409, payload=conflict)
    ref = await unit_client.start(FaultTarget.restart("a~b", PID, operation_id=OID))
    assert ref.operation_id == OID


async def test_start_first_try_conflict_raises(mocked: aioresponses, unit_client: ProgressClient) -> None:
    """An explicit start whose id already exists raises ConflictError."""
    conflict = {"Error": {"Code": "FABRIC_E_TEST_COMMAND_OPERATION_ID_ALREADY_EXISTS", "Message": "exists"}}
    mocked.post(re.compile(r".*StartRestart.*"), status=409, payload=conflict)
    with pytest.raises(ConflictError):
        await unit_client.start(FaultTarget.restart("a~b", PID, operation_id=OID))


async def test_start_retry_other_conflict_raises(mocked: aioresponses, unit_client: ProgressClient) -> None:
    """A 409 with another code after a retry is still an error."""
    mocked.post(re.compile(r".*StartRestart.*"), status=503, body=b"")
    mocked.post(re.compile(r".*StartRestart.*"), status=409, payload={"Error": {"Code": "OTHER"}})
    with pytest.raises(ConflictError):
        await unit_client.start(FaultTarget.restart("a~b", PID, operation_id=OID))


@pytest.mark.parametrize("mode", ["Invalid", "Sometimes", 3])
async def test_start_rejects_bad_mode(mocked: aioresponses, unit_client: ProgressClient, mode: object) -> None:
    """An unknown or reserved mode is a ValueError before any request."""
    with pytest.raises(ValueError, match="mode"):
        await unit_client.start(FaultTarget.restart("a~b", PID, mode=mode))  # type: ignore[arg-type]
    assert not mocked.requests


async def test_cancel_url_and_validation(mocked: aioresponses, unit_client: ProgressClient) -> None:
    """Cancel posts Force=true/false in lower case; bad ids and non-bool force fail first."""
    mocked.post(re.compile(r".*Cancel.*"), status=200, repeat=True)
    await unit_client.cancel_operation(OID)
    await unit_client.cancel_operation(OperationRef.restart("a~b", PID, OID), force=True)
    assert sent_urls(mocked) == [
        norm(f"{BASE}/Faults/$/Cancel?api-version=6.0&OperationId={OID}&Force=false&timeout=60"),
        norm(f"{BASE}/Faults/$/Cancel?api-version=6.0&OperationId={OID}&Force=true&timeout=60"),
    ]
    with pytest.raises(TypeError, match="force"):
        await unit_client.cancel_operation(OID, force="yes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="operation_id"):
        await unit_client.cancel_operation("nope")
    assert sum(len(calls) for calls in mocked.requests.values()) == 2


async def test_list_url(mocked: aioresponses, unit_client: ProgressClient) -> None:
    """The list call sends both filters as bit masks."""
    mocked.get(re.compile(r".*/Faults/\?.*"), payload=[])
    assert await unit_client.list_fault_operations(state_filter=[OperationState.RUNNING]) == []
    assert sent_urls(mocked) == [norm(f"{BASE}/Faults/?api-version=6.0&TypeFilter=65535&StateFilter=1&timeout=60")]


async def test_cluster_version_shape_checked(mocked: aioresponses, unit_client: ProgressClient) -> None:
    """get_cluster_version returns the version string or raises ResponseFormatError."""
    mocked.get(re.compile(r".*GetClusterVersion.*"), payload={"Version": "9.1.1"})
    mocked.get(re.compile(r".*GetClusterVersion.*"), payload={"version": 1})
    assert await unit_client.get_cluster_version() == "9.1.1"
    with pytest.raises(ResponseFormatError):
        await unit_client.get_cluster_version()


async def test_redirect_is_not_followed(mocked: aioresponses, unit_client: ProgressClient) -> None:
    """A 3xx answer is reported as a FabricError, never followed to another host."""
    mocked.get(PROGRESS_URL, status=307, headers={"Location": "http://elsewhere/"}, body=b"")
    with pytest.raises(FabricError) as info:
        await unit_client.get_restart_progress("myapp~myservice", PID, OID)
    assert info.value.status == 307
    assert sent_urls(mocked) == [norm(PROGRESS_URL)]


async def test_closed_client_raises_runtime_error(mocked: aioresponses) -> None:
    """Use after close is a clear RuntimeError; aclose is idempotent."""
    client = ProgressClient(BASE)
    assert not client.closed
    await client.aclose()
    await client.aclose()
    assert client.closed
    assert "closed" in repr(client)
    with pytest.raises(RuntimeError, match="closed"):
        await client.get_restart_progress("a~b", PID, OID)
    with pytest.raises(RuntimeError, match="closed"):
        async with client:
            pass


async def test_injected_session_is_not_closed(mocked: aioresponses) -> None:
    """A borrowed session stays open after the client closes."""
    mocked.get(PROGRESS_URL, payload=RUNNING)
    async with aiohttp.ClientSession() as session:
        async with ProgressClient(BASE, session=session) as client:
            await client.get_restart_progress("myapp~myservice", PID, OID)
        assert not session.closed


async def test_owned_session_is_closed_and_lazy() -> None:
    """The client creates its session on first use and closes it on aclose."""
    client = ProgressClient(BASE)
    assert client._transport.session is None
    async with client:
        session = client._transport.session
        assert session is not None
    assert session.closed


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"session": object()}, TypeError),
        ({"api_version": "2.0"}, ValueError),
        ({"server_timeout": 0}, ValueError),
        ({"timeout_margin": 0}, ValueError),
        ({"retry": {"attempts": 1}}, TypeError),
        ({"max_connections": 0}, ValueError),
    ],
)
def test_constructor_validation(kwargs: dict[str, object], error: type[Exception]) -> None:
    """Bad constructor arguments fail at construction."""
    with pytest.raises(error):
        ProgressClient(BASE, **kwargs)  # type: ignore[arg-type]


def test_properties_and_repr() -> None:
    """The client exposes its endpoint and api-version; repr shows state, not secrets."""
    client = ProgressClient(BASE + "/")
    assert client.endpoint == BASE
    assert client.api_version == "3.0"
    assert repr(client) == f"<ProgressClient {BASE!r} api_version='3.0' open>"


async def test_random_operation_ids_differ(mocked: aioresponses, unit_client: ProgressClient) -> None:
    """Generated OperationIds are fresh UUID4s."""
    mocked.post(re.compile(r".*StartRestart.*"), status=202, repeat=True)
    a = await unit_client.start(FaultTarget.restart("a~b", uuid.uuid4()))
    b = await unit_client.start(FaultTarget.restart("a~b", uuid.uuid4()))
    assert a.operation_id != b.operation_id
