"""Validation and normalisation of ids, timeouts, api-versions and endpoints."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from sf_progress._ids import (
    check_api_version,
    check_endpoint,
    check_server_timeout,
    encode_service_id,
    normalize_service_id,
    to_guid,
    to_seconds,
)


@pytest.mark.parametrize(
    "given",
    [
        "fabric:/myapp/myservice",
        "myapp/myservice",
        "myapp~myservice",
        "/myapp/myservice",
        "FABRIC:/myapp/myservice",
    ],
)
def test_service_id_forms_normalise_to_tilde(given: str) -> None:
    """Every accepted spelling of a service name becomes the ``~`` form."""
    assert normalize_service_id(given) == "myapp~myservice"


def test_service_id_deep_hierarchy() -> None:
    """Hierarchical names keep every level."""
    assert normalize_service_id("fabric:/a/b/c") == "a~b~c"


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "fabric:/",
        "/",
        "fabric:myapp",
        "a//b",
        "a/",
        "a~~b",
        "a/../b",
        "..",
        ".",
        "a\x00b",
        "a\nb",
        "a\x7fb",
        "a?b",
        "a#b",
        "a\\b",
        " a/b",
        "a/b ",
    ],
)
def test_service_id_rejects_what_would_change_the_route(bad: str) -> None:
    """Empty ids, control characters and route-changing characters are ValueErrors."""
    with pytest.raises(ValueError, match="service_id"):
        normalize_service_id(bad)


def test_service_id_must_be_str() -> None:
    """A non-string service id is a TypeError."""
    with pytest.raises(TypeError):
        normalize_service_id(42)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("sid", "encoded"),
    [
        ("myapp~myservice", "myapp~myservice"),
        ("my app~svc$x", "my%20app~svc$x"),
        ("a~b%c", "a~b%25c"),
        ("a~b&c=d+e", "a~b%26c%3Dd%2Be"),
        ("app~sérvice", "app~s%C3%A9rvice"),
        ("app:1~svc@2", "app:1~svc@2"),
    ],
)
def test_encode_service_id_keeps_dollar_and_tilde(sid: str, encoded: str) -> None:
    """``$`` and ``~`` stay literal; what could reach another route is percent-encoded."""
    assert encode_service_id(sid) == encoded


def test_guid_accepts_str_and_uuid() -> None:
    """GUIDs are accepted as strings (any case, braces) or uuid.UUID."""
    value = uuid.UUID("1daae3f5-7fd6-42e9-b1ba-8c05f873994d")
    assert to_guid(value) is value
    assert to_guid("1DAAE3F5-7FD6-42E9-B1BA-8C05F873994D") == value
    assert to_guid("{1daae3f5-7fd6-42e9-b1ba-8c05f873994d}") == value


@pytest.mark.parametrize("bad", ["", "not-a-guid", "1daae3f5-7fd6-42e9-b1ba", "1daae3f5/7fd6"])
def test_guid_rejects_non_guids(bad: str) -> None:
    """A string that is not a GUID is a ValueError naming the argument."""
    with pytest.raises(ValueError, match="partition_id"):
        to_guid(bad, "partition_id")


def test_guid_rejects_other_types() -> None:
    """A GUID given as an int is a TypeError."""
    with pytest.raises(TypeError, match="operation_id"):
        to_guid(123, "operation_id")


@pytest.mark.parametrize("good", [1, 60, 4294967295])
def test_server_timeout_accepts_range(good: int) -> None:
    """Server timeouts from 1 to 4294967295 pass."""
    assert check_server_timeout(good) == good


@pytest.mark.parametrize("bad", [0, -1, 4294967296, 1.5, 60.0, True, "60", None])
def test_server_timeout_rejects_the_rest(bad: object) -> None:
    """Anything but an int in range is a ValueError."""
    with pytest.raises(ValueError, match="timeout"):
        check_server_timeout(bad)


@pytest.mark.parametrize("good", ["3.0", "6.0", "6.4", "9.1", "10.0", "6.0-preview"])
def test_api_version_accepts_3_and_above(good: str) -> None:
    """api-versions N.M >= 3.0 pass."""
    assert check_api_version(good) == good


@pytest.mark.parametrize("bad", ["2.9", "1.0", "6", "latest", "", 6.0, "6.0; drop"])
def test_api_version_rejects_the_rest(bad: object) -> None:
    """Below 3.0 (enums as ints) or not N.M is a ValueError."""
    with pytest.raises(ValueError, match="api_version"):
        check_api_version(bad)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("http://localhost:19080", "http://localhost:19080"),
        ("https://c.example:19080/", "https://c.example:19080"),
        ("http://proxy/sf/", "http://proxy/sf"),
    ],
)
def test_endpoint_normalised(given: str, expected: str) -> None:
    """Endpoints lose their trailing slash and keep a path prefix."""
    assert check_endpoint(given) == expected


@pytest.mark.parametrize(
    "bad",
    [
        "localhost:19080",
        "ftp://host",
        "http://",
        "http://host/?x=1",
        "http://host/#frag",
        "http://user:secret@host",
        "http://host:99999",
        "http://ho st",
        "http://host\n",
    ],
)
def test_endpoint_rejects_bad_urls(bad: str) -> None:
    """Endpoints without http(s) and a host, or with a query, credentials or a bad port, fail."""
    with pytest.raises(ValueError, match="endpoint") as info:
        check_endpoint(bad)
    assert "secret" not in str(info.value)


def test_endpoint_must_be_str() -> None:
    """A non-string endpoint is a TypeError."""
    with pytest.raises(TypeError):
        check_endpoint(None)


def test_to_seconds_accepts_numbers_and_timedeltas() -> None:
    """Durations may be numbers of seconds or timedeltas."""
    assert to_seconds(2, "d") == 2.0
    assert to_seconds(timedelta(milliseconds=1500), "d") == 1.5


@pytest.mark.parametrize("bad", [-1, float("nan")])
def test_to_seconds_rejects_negative(bad: float) -> None:
    """Negative or NaN durations are ValueErrors."""
    with pytest.raises(ValueError, match="d must be"):
        to_seconds(bad, "d")


def test_to_seconds_zero_only_when_allowed() -> None:
    """Zero is refused where a positive duration is required."""
    assert to_seconds(0, "d") == 0.0
    with pytest.raises(ValueError, match="> 0"):
        to_seconds(0, "d", allow_zero=False)


@pytest.mark.parametrize("bad", [True, "1", None])
def test_to_seconds_rejects_other_types(bad: object) -> None:
    """Booleans, strings and None are not durations."""
    with pytest.raises(TypeError):
        to_seconds(bad, "d")
