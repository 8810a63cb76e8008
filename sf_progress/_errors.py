"""The exception tree of sf_progress.

Every exception that crosses the public API is one of these (or ``ValueError`` /
``TypeError`` / ``RuntimeError`` for misuse, raised before any I/O)::

    SFProgressError                      root: ``except SFProgressError`` catches all
    ├── FabricError                      the cluster answered with a non-2xx status
    │   ├── BadRequestError              400 (E_INVALIDARG, FABRIC_E_INVALID_TEST_COMMAND_STATE, ...)
    │   ├── AuthError                    401 / 403 (the gateway sends an empty body)
    │   ├── NotFoundError                404 (FABRIC_E_KEY_NOT_FOUND: unknown or purged id)
    │   ├── ConflictError                409 (FABRIC_E_TEST_COMMAND_OPERATION_ID_ALREADY_EXISTS)
    │   ├── OperationKindError           500 E_POINTER: the operation is of another kind than the read
    │   └── FabricTransientError         408 / 429 / 502 / 503 / 504: retried, then raised
    ├── TransportError                   no usable HTTP answer: refused, reset, cut body
    │   ├── TransportTimeout             ... no answer in time (also a ``TimeoutError``)
    │   └── TLSError                     ... TLS failed: untrusted/unpinned server, cert refused
    ├── CredentialError                  the token provider failed or gave no usable token
    ├── ResponseFormatError              a 2xx answer whose body is not what the API promises
    ├── WaitTimeout                      a wait's deadline passed (also a ``TimeoutError``)
    │   └── RecoveryTimeout              ... the fault ended, its target did not recover in time
    ├── JournalError                     a run's journal cannot be used (also a ``ValueError``)
    └── OperationNotCompleted                  opt-in: the operation ended Faulted or Cancelled

``FabricError`` carries ``status``, ``code`` (the Fabric error code, or ``None``),
``message`` (the Fabric error message), ``reason`` (the HTTP reason phrase),
``retry_after`` (seconds, from a ``Retry-After`` header) and ``ref`` (the
``OperationRef`` the request concerned, when there is one).  Lower-layer errors (aiohttp,
``json``, tenacity) are translated in exactly one place, ``_wire/transport.py``, and chained as
``__cause__``; none of them ever reaches the caller.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._facts import Recovery
    from ._models import OperationRef
    from ._progress import FaultProgress

__all__ = [
    "AuthError",
    "BadRequestError",
    "ConflictError",
    "CredentialError",
    "FabricError",
    "FabricTransientError",
    "JournalError",
    "NotFoundError",
    "OperationKindError",
    "OperationNotCompleted",
    "RecoveryTimeout",
    "ResponseFormatError",
    "SFProgressError",
    "SafetyError",
    "TLSError",
    "TransportError",
    "TransportTimeout",
    "UnsupportedFaultError",
    "WaitTimeout",
]

#: Statuses that are retried: the cluster (or a proxy in front of it) is busy or failing over.
TRANSIENT_STATUSES = frozenset({408, 429, 502, 503, 504})
#: 409: a start whose OperationId the service already knows.
ALREADY_EXISTS = "FABRIC_E_TEST_COMMAND_OPERATION_ID_ALREADY_EXISTS"
#: 400: a node transition while another one on that node is running.
NODE_BUSY = "FABRIC_E_NODE_TRANSITION_IN_PROGRESS"
_EXCERPT = 200


def excerpt(body: bytes | str, limit: int = _EXCERPT) -> str:
    """Return a short, printable excerpt of a response body for error messages."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class SFProgressError(Exception):
    """Root of every error sf_progress raises about the cluster or the network."""

    #: Whether retrying the same request may succeed (set per subclass or instance).
    transient: bool = False

    def __init__(self, text: str, *, ref: OperationRef | None = None) -> None:
        super().__init__(text)
        self.ref = ref

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.args, self.__dict__))


def _rebuild(cls: type[SFProgressError], args: tuple[Any, ...], state: dict[str, Any]) -> Any:
    exc = Exception.__new__(cls)
    exc.args = args
    exc.__dict__.update(state)
    return exc


class FabricError(SFProgressError):
    """The cluster answered with a non-2xx status (a ``FabricError`` body, or none)."""

    def __init__(
        self,
        *,
        status: int,
        code: str | None,
        message: str,
        reason: str = "",
        retry_after: float | None = None,
        ref: OperationRef | None = None,
    ) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.retried = False  # set when the answer came to a retry of the request
        self.reason = reason
        self.retry_after = retry_after
        head = f"HTTP {status} {code or reason}".rstrip()
        text = f"{head}: {message}" if message and message not in (code, reason) else head
        if ref is not None:
            text += f" [{ref}]"
        super().__init__(text, ref=ref)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status={self.status!r}, code={self.code!r}, "
            f"message={self.message!r}, ref={self.ref!r})"
        )


class BadRequestError(FabricError):
    """400: the cluster rejected the arguments (``E_INVALIDARG`` and friends)."""


class AuthError(FabricError):
    """401 or 403: the credentials are missing, wrong, or lack the admin role."""


class NotFoundError(FabricError):
    """404: no such operation (never started, or purged after its retention time)."""


class ConflictError(FabricError):
    """409: an operation with this OperationId already exists."""


class FabricTransientError(FabricError):
    """408/429/502/503/504: busy, failing over or timed out; retried before it is raised."""

    transient = True


_BY_STATUS: dict[int, type[FabricError]] = {
    400: BadRequestError,
    401: AuthError,
    403: AuthError,
    404: NotFoundError,
    409: ConflictError,
    **dict.fromkeys(TRANSIENT_STATUSES, FabricTransientError),
}


def fabric_error_class(status: int, code: str | None = None) -> type[FabricError]:
    """Return the ``FabricError`` subclass a caller would branch on for *status* (and *code*)."""
    if status == 500 and code in _WRONG_KIND_CODES:
        return OperationKindError
    return _BY_STATUS.get(status, FabricError)


class OperationKindError(FabricError):
    """A progress read of an operation of another kind (500 ``E_POINTER`` / ``0x80004002``).

    The gateway finds the OperationId but cannot read it as the kind asked for; never
    retried.  Read it with the progress call of its own kind (``get_progress(ref)`` with the
    ref of the right kind).
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.args = (
            f"{self.args[0]} — the operation is probably of another kind than this progress read asked for",
        )


#: What the gateway answers when an OperationId is read with another kind's progress call.
_WRONG_KIND_CODES = frozenset({"E_POINTER", "0x80004002", "0x80004003"})


class TransportError(SFProgressError):
    """No usable HTTP answer: connection refused or reset, body cut short, TLS failure."""

    transient = True


class TransportTimeout(TransportError, TimeoutError):
    """The request got no complete answer within the client-side request timeout."""


class GatewayUnreachable(TransportError):
    """No connection to the gateway could be made: nothing listens there (connection refused), or no
    such host.  Retried like any transient failure, but a wait that never got an answer gives up
    after the retry policy's ``attempts`` and ``budget``, with this error, instead of waiting for
    its deadline."""


class TLSError(TransportError):
    """The TLS handshake or session failed: the server's certificate is not trusted or
    matches no pin, or the server refused the client certificate.  Never retried."""

    transient = False


class CredentialError(SFProgressError):
    """The token provider raised, or returned no usable bearer token."""


class ResponseFormatError(SFProgressError):
    """A 2xx answer whose body is not the JSON the API promises.

    ``excerpt`` holds the start of the body; ``transient`` is true when the JSON was cut
    short (a truncated answer is worth asking for again; an HTML page is not).
    """

    def __init__(
        self,
        text: str,
        *,
        body: bytes | str = b"",
        truncated: bool = False,
        ref: OperationRef | None = None,
    ) -> None:
        self.excerpt = excerpt(body)
        self.transient = truncated
        if self.excerpt:
            text = f"{text}; body starts: {self.excerpt!r}"
        if ref is not None:
            text += f" [{ref}]"
        super().__init__(text, ref=ref)


class WaitTimeout(SFProgressError, TimeoutError):
    """A wait's deadline passed before the operation reached a terminal state.

    ``last_progress`` is the last progress read (``None`` if no read succeeded),
    ``last_error`` the last error met while polling, if any; ``deadline`` the budget.
    """

    def __init__(
        self,
        text: str,
        *,
        ref: OperationRef | None,
        deadline: float,
        last_progress: FaultProgress | None,
        last_error: SFProgressError | None = None,
    ) -> None:
        super().__init__(text, ref=ref)
        self.deadline = deadline
        self.last_progress = last_progress
        self.last_error = last_error


class RecoveryTimeout(WaitTimeout):
    """The fault ended, but its target did not recover by the wait's deadline.

    ``recovery`` is the last :class:`~sf_progress.Recovery` (``recovered`` false, with its
    ``reason``: what was still not right); ``last_progress`` the fault's final progress, if
    the wait read one.
    """

    def __init__(
        self,
        text: str,
        *,
        ref: OperationRef | None,
        deadline: float,
        recovery: Recovery,
        last_progress: FaultProgress | None = None,
    ) -> None:
        super().__init__(text, ref=ref, deadline=deadline, last_progress=last_progress)
        self.recovery = recovery


class OperationNotCompleted(SFProgressError):
    """Raised on request only: the operation ended Faulted, Cancelled or ForceCancelled.

    ``progress`` is the terminal progress (its ``error_code`` holds the HRESULT).
    """

    def __init__(self, text: str, *, ref: OperationRef | None, progress: FaultProgress) -> None:
        super().__init__(text, ref=ref)
        self.progress = progress


class ClusterMismatchError(SFProgressError):
    """The gateway serves another cluster than the one intended (``cluster=``, ``--cluster``): nothing was sent.

    ``expected`` is the name asked for, ``actual`` the cluster manifest's ``Name`` (``None`` when
    the manifest names none).
    """

    def __init__(self, text: str, *, expected: str, actual: str | None) -> None:
        super().__init__(text)
        self.expected, self.actual = expected, actual


class SafetyError(SFProgressError):
    """A safety rule forbids this fault now: nothing was sent.

    ``rule`` is the rule's name (``upgrade``, ``app-upgrade``, ``repair``, ``chaos``,
    ``health``, ``node-health``, ``seed-quorum``, ``domains``), ``saw`` what it read.  Waive it
    by name (``allow=``, ``--allow``) when you mean to fault anyway.  ``rule`` is ``lever`` when
    the stop lever is engaged (:meth:`ProgressClient.engage_lever`), which nothing waives.
    """

    def __init__(self, rule: str, saw: str, *, ref: OperationRef | None = None) -> None:
        super().__init__(
            f"refused: {saw} (no fault starts while the stop lever is engaged: sf-progress lever status)"
            if rule == "lever" else
            f"refused by the safety rule {rule!r}: {saw} (waive it: allow={rule!r}, --allow {rule})", ref=ref)
        self.rule, self.saw = rule, saw


class UnsupportedFaultError(SFProgressError):
    """The fault does not apply to its target, as read just before its start: nothing was sent.

    ``code`` is the error code the cluster would have answered (``FABRIC_E_INVALID_REPLICA_OPERATION``
    for a restart of a volatile replica, ``FABRIC_E_NODE_NOT_FOUND`` for a move to an unknown
    or down node...), or ``None``.
    """

    def __init__(self, text: str, *, code: str | None = None, ref: OperationRef | None = None) -> None:
        super().__init__(text, ref=ref)
        self.code = code


class JournalError(SFProgressError, ValueError):
    """A fault run's journal cannot be used: unwritable, locked, not ours, newer, or another cluster's."""
