"""Validation and normalisation of what goes into a URL: ids, timeouts, api-versions.

Everything here is pure and raises ``ValueError`` / ``TypeError`` before any I/O.
"""

from __future__ import annotations

import functools
import math
import re
import uuid
from datetime import timedelta
from urllib.parse import quote, urlsplit

MAX_SERVER_TIMEOUT = 4294967295
#: A client's defaults: progress reads at api-version 3.0 (every runtime takes it), 60 s a call.
DEFAULT_API_VERSION = "3.0"
DEFAULT_SERVER_TIMEOUT = 60
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Characters a Fabric name may hold but that must not reach the path literally: the
# gateway percent-unescapes the id, so encoding them is always a faithful round trip.
# ``$`` and ``~`` stay literal (the gateway matches ``$`` segments; ``~`` is the delimiter).
_SAFE_IN_SEGMENT = "~$:@!()*,;'-._"
# A name segment may not hold these: they would end the path or start a query/fragment.
_FORBIDDEN = re.compile(r"[?#\\]")
_API_VERSION = re.compile(r"([0-9]+)\.([0-9]+)(-preview)?")


@functools.lru_cache(maxsize=4096)
def normalize_service_id(value: str) -> str:
    """Return the ``~``-delimited service id for ``fabric:/a/b``, ``a/b`` or ``a~b``.

    The result is not URL-encoded; see :func:`encode_service_id`.
    """
    if not isinstance(value, str):
        raise TypeError(f"service_id must be a str, not {type(value).__name__}")
    text = value
    if text[:8].lower() == "fabric:/":
        text = text[8:]
    elif text[:7].lower() == "fabric:":
        raise ValueError(f"service_id {value!r}: a fabric name starts with 'fabric:/'")
    if text.startswith("/"):
        text = text[1:]
    if not text:
        raise ValueError("service_id must not be empty")
    if _CONTROL.search(text):
        raise ValueError(f"service_id {value!r} contains a control character")
    if _FORBIDDEN.search(text):
        raise ValueError(f"service_id {value!r} contains '?', '#' or '\\', which no Fabric name may hold")
    segments = text.replace("/", "~").split("~")
    for segment in segments:
        if segment in ("", ".", ".."):
            raise ValueError(f"service_id {value!r} has an empty, '.' or '..' name segment")
        if segment.strip() != segment:
            raise ValueError(f"service_id {value!r} has a name segment with outer whitespace")
    return "~".join(segments)


@functools.lru_cache(maxsize=4096)
def encode_service_id(service_id: str) -> str:
    """Percent-encode a normalised service id for the URL path (``$`` and ``~`` stay literal)."""
    return quote(service_id, safe=_SAFE_IN_SEGMENT)


@functools.lru_cache(maxsize=8192)
def _parse_guid(text: str) -> uuid.UUID:
    return uuid.UUID(text)


def to_guid(value: object, what: str = "id") -> uuid.UUID:
    """Return *value* (a ``uuid.UUID`` or a GUID string) as a ``uuid.UUID``."""
    if isinstance(value, uuid.UUID):
        return value
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a GUID (str or uuid.UUID), not {type(value).__name__}")
    try:
        return _parse_guid(value.strip())
    except ValueError:
        raise ValueError(f"{what} must be a GUID, got {value[:60]!r}") from None


def check_server_timeout(value: object) -> int:
    """Return a valid server timeout (an int in 1..4294967295 seconds)."""
    if type(value) is not int or not 1 <= value <= MAX_SERVER_TIMEOUT:
        raise ValueError(f"timeout must be an int number of seconds in 1..{MAX_SERVER_TIMEOUT}, got {value!r}")
    return value


def check_api_version(value: object) -> str:
    """Return *value* if it is an ``N.M`` api-version >= 3.0 (below 3.0 enums are integers)."""
    match = _API_VERSION.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise ValueError(f"api_version must look like '6.0', got {value!r}")
    if (int(match[1]), int(match[2])) < (3, 0):
        raise ValueError(f"api_version must be >= 3.0 (older versions send enums as integers), got {value!r}")
    return value  # type: ignore[return-value]


def check_node_name(value: object) -> str:
    """Return a node name fit for a URL path segment (``_Node_0``, ``nt1vm_3``, ...)."""
    if not isinstance(value, str):
        raise TypeError(f"node_name must be a str, not {type(value).__name__}")
    if not value or value.strip() != value:
        raise ValueError(f"node_name must be non-empty, without outer whitespace, got {value!r}")
    if _CONTROL.search(value) or _FORBIDDEN.search(value) or "/" in value or value in (".", ".."):
        raise ValueError(f"node_name {value!r} contains '/', '?', '#', '\\' or a control character")
    return value


def check_header_value(value: object, what: str) -> str:
    """Return *value* if it can be sent as an HTTP header value (printable Latin-1, no control)."""
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str, not {type(value).__name__}")
    if not value.isprintable() or not _latin1(value):
        raise ValueError(f"{what} must be printable text without control characters")
    return value


def _latin1(value: str) -> bool:
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True


def redacted(url: str) -> str:
    """*url* as it may be shown: any ``user:password@`` before the host replaced by ``***@``."""
    return _USERINFO.sub(r"\1***@", url)


#: The userinfo of a URL (``scheme://user:password@``), wherever a URL-like text has one.
_USERINFO = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://)[^/?#@\s]*@")


def check_endpoint(value: object) -> str:
    """Return the endpoint without a trailing slash, after checking scheme and host.

    Messages never show a password the text may hold (:func:`redacted`).
    """
    if not isinstance(value, str):
        raise TypeError(f"endpoint must be a str URL, not {type(value).__name__}")
    shown = redacted(value)
    if _CONTROL.search(value) or " " in value:
        raise ValueError(f"endpoint {shown!r} contains whitespace or a control character")
    parts = urlsplit(value)
    if parts.username or parts.password or "@" in parts.netloc:
        raise ValueError(f"endpoint must not carry credentials ({shown!r}); use the client's auth options")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"endpoint must be an http:// or https:// URL with a host, got {shown!r}")
    if parts.query or parts.fragment or "?" in value or "#" in value:
        raise ValueError(f"endpoint must not have a query or fragment, got {shown!r}")
    try:
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise ValueError(f"endpoint has an invalid port: {shown!r}") from None
    return value.rstrip("/")


def to_seconds(value: object, what: str, *, allow_zero: bool = True, finite: bool = False) -> float:
    """Return a duration in seconds from a number or a ``timedelta``.

    NaN is always refused; infinity only when *finite* is set.
    """
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, (int, float)) and type(value) is not bool:
        seconds = float(value)
    else:
        raise TypeError(f"{what} must be a number of seconds or a timedelta, not {type(value).__name__}")
    if not seconds >= 0 or (seconds == 0 and not allow_zero):
        raise ValueError(f"{what} must be {'>= 0' if allow_zero else '> 0'}, got {value!r}")
    if finite and seconds == math.inf:
        raise ValueError(f"{what} must be finite, got {value!r}")
    return seconds


def check_cluster_name(value: object) -> str | None:
    """A cluster's name as ``cluster=`` takes it: ``None``, or a non-empty one-line string."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"cluster must be a str or None, not {type(value).__name__}")
    name = value.strip()
    if not name or not name.isprintable():
        raise ValueError(f"cluster must be a cluster manifest's Name, got {value!r}")
    return name
