"""Why a request failed, in words: no aiohttp class names, no ``ssl:default``, no ``SSLContext`` reprs.

The transport turns every aiohttp and OS error into one of ours (``transport.py``); the
sentence it says is written here.
"""

from __future__ import annotations

import os
import socket
import ssl

import aiohttp

__all__ = ["connection_words", "failure_words", "tls_failure", "tls_words"]


def _chain(exc: BaseException) -> list[BaseException]:
    """*exc* and its causes (``__cause__``, ``__context__``, aiohttp's ``certificate_error`` and
    ``os_error``), each once."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and all(current is not s for s in seen):
        seen.append(current)
        current = (getattr(current, "certificate_error", None) or getattr(current, "os_error", None)
                   or current.__cause__ or current.__context__)
    return seen


def tls_failure(exc: BaseException) -> bool:
    """Whether an aiohttp/OS error comes from TLS (a refused or unverified certificate, a handshake)."""
    return any(isinstance(e, (ssl.SSLError, aiohttp.ClientSSLError)) for e in _chain(exc))


#: Handshake alerts by which a server refuses the client (often: its certificate, or the lack of one).
_REFUSED = ("ALERT_HANDSHAKE_FAILURE", "ALERT_CERTIFICATE_REQUIRED", "ALERT_BAD_CERTIFICATE",
            "ALERT_UNKNOWN_CA", "ALERT_CERTIFICATE_UNKNOWN", "ALERT_ACCESS_DENIED")


def tls_words(exc: BaseException) -> str:
    """Why a TLS connection failed, and what to do about it."""
    # The ssl module's own error (aiohttp's wrappers subclass ssl's classes, without their details).
    error = next((e for e in _chain(exc) if isinstance(e, ssl.SSLError) and not isinstance(e, aiohttp.ClientError)),
                 None)
    if isinstance(error, ssl.SSLCertVerificationError):
        detail = getattr(error, "verify_message", None) or (error.args[-1] if error.args else None)
        why = str(detail or "not verified").rstrip(".")
        if "pinned" in why:  # our own thumbprint check: the pin is the way out, not a CA
            return f"the server's certificate was not accepted ({why})"
        return f"the server's certificate was not accepted ({why}): trust its CA (--ca) or pin its thumbprint"
    reason = (getattr(error, "reason", None) or "") if error is not None else ""
    if reason == "WRONG_VERSION_NUMBER":
        return "the server does not speak TLS there (is the endpoint http://?)"
    if any(reason.endswith(alert) for alert in _REFUSED):
        return (f"the server refused the handshake ({reason.lower().replace('_', ' ')}): it may require a client "
                "certificate, or refuse this one")
    if reason:
        return f"the handshake failed ({reason.lower().replace('_', ' ')})"
    return "the handshake failed"


def connection_words(exc: aiohttp.ClientConnectorError) -> str:
    """Why no connection could be made, in words."""
    error = exc.os_error
    if isinstance(error, ConnectionRefusedError):
        return f"connection refused (nothing listens on {exc.host} port {exc.port})"
    if isinstance(error, socket.gaierror):
        return f"no such host {exc.host!r} ({error.strerror or error})"
    if error.errno and os.strerror(error.errno):
        return os.strerror(error.errno).lower()
    return str(error) or "no connection"


def failure_words(exc: BaseException) -> str:
    """What went wrong with a request under way, in words."""
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "the server closed the connection without an answer"
    if isinstance(exc, ConnectionResetError):
        return "the connection was reset"
    if isinstance(exc, aiohttp.ClientPayloadError):
        return "the answer was cut off"
    if isinstance(exc, aiohttp.ClientResponseError):
        return f"a malformed answer ({exc.message})" if exc.message else "a malformed answer"
    if isinstance(exc, OSError) and exc.errno and os.strerror(exc.errno):
        return os.strerror(exc.errno).lower()
    text = str(exc)
    return text or "the request failed"
