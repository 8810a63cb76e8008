"""What the fake cluster's operations do (scripts) and what it injects (faults)."""

from __future__ import annotations

import collections
import json
import random
from collections.abc import Iterable

import attrs

from .._models import OperationRef, OperationState, OperationType

__all__ = ["FakeOperation", "Fault", "Injected", "Script"]

#: Signed HRESULTs a Faulted operation reports (sf-rest-api.md §3.3, faults-protocol.md §3.3).
HRESULTS = {
    "E_ABORT": -2147467260,
    "E_INVALIDARG": -2147024809,
    "FABRIC_E_SERVICE_DOES_NOT_EXIST": -2147017779,
    "FABRIC_E_PARTITION_NOT_FOUND": -2147017753,
    "FABRIC_E_TIMEOUT": -2147017729,
    "FABRIC_E_NOT_READY": -2147017785,
    "FABRIC_E_NODE_NOT_FOUND": -2147017789,
    "FABRIC_E_NODE_IS_UP": -2147017788,
    "FABRIC_E_NODE_IS_DOWN": -2147017633,
    "FABRIC_E_ALREADY_STOPPED": -2147017634,
    "FABRIC_E_INSTANCE_ID_MISMATCH": -2147017680,
    "FABRIC_E_INVALID_FOR_STATELESS_SERVICES": -2147017616,
    "FABRIC_E_ONLY_VALID_FOR_STATEFUL_PERSISTENT_SERVICES": -2147017615,
    "FABRIC_E_INVALID_DURATION": -2147017629,
}
_RESULT_KEYS = {
    OperationType.PARTITION_RESTART: "RestartPartitionResult",
    OperationType.PARTITION_DATA_LOSS: "InvokeDataLossResult",
    OperationType.PARTITION_QUORUM_LOSS: "InvokeQuorumLossResult",
    OperationType.NODE_TRANSITION: "NodeTransitionResult",
}
EMPTY_GUID = "00000000-0000-0000-0000-000000000000"
_OUTCOMES = (OperationState.COMPLETED, OperationState.FAULTED)


def _outcome(_: object, attribute: attrs.Attribute[OperationState], value: OperationState) -> None:
    if value not in _OUTCOMES:
        raise ValueError(f"outcome must be COMPLETED or FAULTED, got {value!r}")


def _non_negative(_: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not value >= 0:
        raise ValueError(f"{attribute.name} must be >= 0, got {value!r}")


@attrs.frozen(kw_only=True)
class Script:
    """The lifecycle of one fake operation.

    Running for ``duration`` seconds, then (for a Faulted outcome) RollingBack for
    ``rollback`` seconds, then ``outcome``.  A Faulted result carries ``error_code`` (an
    HRESULT, E_ABORT by default).  With ``result_while_running`` the Running answers carry
    a zero result with the empty partition GUID, as a real cluster may send.  Its target
    (partition or node) is back ``recovery`` seconds after the operation ended
    (``math.inf``: never); see ``FakeCluster.targets``.

    Args:
        duration: Seconds Running (default 0).
        outcome: The terminal state (default Completed).
        error_code: The HRESULT of a Faulted result (default E_ABORT).
        rollback: Seconds RollingBack before a Faulted end (default 0).
        result_while_running: Send a zero result with Running answers.
        recovery: Seconds from the end until the target is back (default 0).
    """

    duration: float = attrs.field(default=0.0, validator=_non_negative)
    outcome: OperationState = attrs.field(default=OperationState.COMPLETED, validator=_outcome)
    error_code: int | None = None
    rollback: float = attrs.field(default=0.0, validator=_non_negative)
    result_while_running: bool = False
    recovery: float = attrs.field(default=0.0, validator=_non_negative)

    @property
    def final_error_code(self) -> int:
        """The ErrorCode the terminal answer carries."""
        if self.outcome is OperationState.COMPLETED:
            return 0
        return HRESULTS["E_ABORT"] if self.error_code is None else self.error_code


@attrs.define(eq=False)
class FakeOperation:
    """One operation the fake cluster knows, with its lifecycle and what was asked of it."""

    ref: OperationRef
    mode: str
    script: Script
    started_at: float
    node_instance_id: str | None = None  # the instance id a node transition was given
    node_stop_duration: int | None = None  # a node stop's StopDurationInSeconds
    cancelled_at: float | None = None
    force_cancelled_at: float | None = None
    polls: int = 0
    first_seen_terminal_at: float | None = None

    def state_at(self, now: float) -> tuple[OperationState, float | None]:
        """The operation's state at *now*.

        Args:
            now: A reading of the cluster's clock (seconds).

        Returns:
            The state, and when it became terminal (``None`` while it is not).
        """
        script = self.script
        natural_end = self.started_at + script.duration
        if self.force_cancelled_at is not None:
            return OperationState.FORCE_CANCELLED, self.force_cancelled_at
        if self.cancelled_at is not None:
            # Cancelled while Running: roll back from the cancel; while rolling back a
            # fault: finish that rollback.  Either way the operation ends Cancelled.
            start = self.cancelled_at if self.cancelled_at < natural_end else natural_end
            done = start + script.rollback
            return (OperationState.ROLLING_BACK, None) if now < done else (OperationState.CANCELLED, done)
        if now < natural_end:
            return OperationState.RUNNING, None
        if script.outcome is OperationState.FAULTED:
            done = natural_end + script.rollback
            return (OperationState.ROLLING_BACK, None) if now < done else (OperationState.FAULTED, done)
        return OperationState.COMPLETED, natural_end

    @property
    def detection_lag(self) -> float | None:
        """Seconds from the moment the operation ended to the first poll that saw it."""
        if self.first_seen_terminal_at is None:
            return None
        _, ended = self.state_at(self.first_seen_terminal_at)
        return None if ended is None else self.first_seen_terminal_at - ended

    @property
    def kind(self) -> OperationType:
        return self.ref.kind

    def progress_body(self, now: float, *, enums_as_int: bool) -> dict[str, object]:
        """The JSON body of the operation's progress read at *now*.

        The result object comes only with Completed and Faulted (faults-protocol.md §0.1),
        unless the script asks for one while Running, as some clusters may send.

        Args:
            now: A reading of the cluster's clock (seconds).
            enums_as_int: Send enums as integers (api-version below 3.0).

        Returns:
            The body, ready for ``json.dumps``.
        """
        state, _ = self.state_at(now)
        body: dict[str, object] = {"State": wire_state(state, enums_as_int)}
        key = _RESULT_KEYS[self.kind]
        if state in (OperationState.COMPLETED, OperationState.FAULTED):
            code = 0 if state is not OperationState.FAULTED else self.script.final_error_code
            body[key] = self._result(code, str(self.ref.partition_id))
        elif self.script.result_while_running and not state.is_terminal:
            body[key] = self._result(0, EMPTY_GUID)
        return body

    def _result(self, code: int, partition: str) -> dict[str, object]:
        if self.kind is OperationType.NODE_TRANSITION:
            node = {"NodeName": self.ref.node_name, "NodeInstanceId": self.node_instance_id or "0"}
            return {"ErrorCode": code, "NodeResult": node}
        return {
            "ErrorCode": code,
            "SelectedPartition": {"ServiceName": self.ref.service_name, "PartitionId": partition},
        }


_STATE_NUMBERS = {
    OperationState.INVALID: 0,
    OperationState.RUNNING: 1,
    OperationState.ROLLING_BACK: 2,
    OperationState.COMPLETED: 3,
    OperationState.FAULTED: 4,
    OperationState.CANCELLED: 5,
    OperationState.FORCE_CANCELLED: 6,
}


def wire_state(state: OperationState, enums_as_int: bool) -> object:
    return _STATE_NUMBERS[state] if enums_as_int else state.value


@attrs.frozen
class Fault:
    """Something the fake cluster does instead of (or before) answering normally.

    Build them with the class methods: ``Fault.service_unavailable()``,
    ``Fault.gateway_timeout()``, ``Fault.reset()``, ``Fault.truncated()``,
    ``Fault.slow(2.0)``, ``Fault.late(2.0)``, ``Fault.unauthorized()``, ``Fault.error(500, "E_FAIL")``, ...
    """

    kind: str
    status: int = 200
    reason: str = ""
    body: bytes = b""
    content_type: str = "application/json; charset=utf-8"
    headers: tuple[tuple[str, str], ...] = ()
    delay: float = 0.0

    @classmethod
    def error(cls, status: int, code: str, message: str | None = None, *, retry_after: str | None = None) -> Fault:
        """A non-2xx answer with a real FabricError body; its reason phrase is the code.

        Args:
            status: The HTTP status.
            code: The ``Error.Code`` (``FABRIC_E_...``).
            message: The ``Error.Message`` (default: one naming the code).
            retry_after: A ``Retry-After`` header to send.

        Returns:
            The fault.
        """
        body = json.dumps({"Error": {"Code": code, "Message": message or f"{code} (injected)"}})
        headers = (("Retry-After", retry_after),) if retry_after is not None else ()
        return cls("answer", status, code, body.encode(), headers=headers)

    @classmethod
    def service_unavailable(cls, code: str = "E_ABORT", *, retry_after: str | None = None) -> Fault:
        """503 with a FabricError body.

        Args:
            code: ``E_ABORT`` (default), ``FABRIC_E_SERVICE_TOO_BUSY``, ``FABRIC_E_NOT_PRIMARY``...
            retry_after: A ``Retry-After`` header to send.

        Returns:
            The fault.
        """
        return cls.error(503, code, retry_after=retry_after)

    @classmethod
    def gateway_timeout(cls, code: str = "FABRIC_E_TIMEOUT") -> Fault:
        """504 with a FabricError body.

        Args:
            code: ``FABRIC_E_TIMEOUT`` (default) or ``FABRIC_E_COMMUNICATION_ERROR``.

        Returns:
            The fault.
        """
        return cls.error(504, code)

    @classmethod
    def empty(cls, status: int, reason: str) -> Fault:
        """A non-2xx answer with an empty body, as the gateway sends for 401/403.

        Args:
            status: The HTTP status.
            reason: Its reason phrase.

        Returns:
            The fault.
        """
        return cls("answer", status, reason, b"", content_type="")

    @classmethod
    def unauthorized(cls) -> Fault:
        """401 with an empty body.

        Returns:
            The fault.
        """
        return cls.empty(401, "Unauthorized")

    @classmethod
    def forbidden(cls) -> Fault:
        """403 with an empty body.

        Returns:
            The fault.
        """
        return cls.empty(403, "Forbidden")

    @classmethod
    def html(cls, status: int = 502, reason: str = "Bad Gateway") -> Fault:
        """An HTML page, as a proxy in front of the cluster sends.

        Args:
            status: The HTTP status (default 502).
            reason: Its reason phrase.

        Returns:
            The fault.
        """
        page = f"<html><body><h1>{status} {reason}</h1></body></html>".encode()
        return cls("answer", status, reason, page, content_type="text/html")

    @classmethod
    def malformed(cls, body: bytes = b'{"State": "Runn', status: int = 200) -> Fault:
        """A 2xx answer whose body is complete (by Content-Length) but not the promised JSON.

        Args:
            body: The body to send.
            status: The HTTP status (default 200).

        Returns:
            The fault.
        """
        return cls("answer", status, "OK", body)

    @classmethod
    def redirect(cls, location: str, status: int = 307) -> Fault:
        """A redirect (the client must not follow it with its token).

        Args:
            location: The ``Location`` to redirect to.
            status: The HTTP status (default 307).

        Returns:
            The fault.
        """
        return cls("answer", status, "Temporary Redirect", b"", content_type="", headers=(("Location", location),))

    @classmethod
    def reset(cls) -> Fault:
        """Drop the connection without answering.

        Returns:
            The fault.
        """
        return cls("reset")

    @classmethod
    def truncated(cls) -> Fault:
        """Send the headers and half of the real body, then drop the connection.

        Returns:
            The fault.
        """
        return cls("truncate")

    @classmethod
    def slow(cls, seconds: float) -> Fault:
        """Wait, then answer normally.

        Args:
            seconds: How long to wait first (on the cluster's clock).

        Returns:
            The fault.
        """
        return cls("slow", delay=seconds)

    @classmethod
    def late(cls, seconds: float) -> Fault:
        """Carry the request out at once, then hold its answer back (an answer lost or late).

        A start so answered has landed, whatever the client sees.

        Args:
            seconds: How long the answer is held (on the cluster's clock).

        Returns:
            The fault.
        """
        return cls("late", delay=seconds)


class Injected:
    """The answers a fake cluster was told to give instead of its own: queued ones, then random ones."""

    def __init__(self) -> None:
        self.queued: collections.deque[tuple[frozenset[str] | None, str | None, Fault]] = collections.deque()
        self.rate = 0.0
        self.choices: tuple[Fault, ...] = ()
        self.routes: frozenset[str] = frozenset()
        self.random = random.Random(0)

    def queue(self, faults: Iterable[Fault], routes: frozenset[str] | None, operation_id: str | None) -> None:
        """Answer the next matching requests (of *routes*, about *operation_id*) with *faults*, in order."""
        self.queued.extend((routes, operation_id, fault) for fault in faults)

    def at_rate(self, rate: float, faults: Iterable[Fault], routes: frozenset[str], seed: int) -> None:
        """Answer a random *rate* of the requests of *routes* with one of *faults*."""
        self.rate, self.choices, self.routes = rate, tuple(faults), routes
        self.random = random.Random(seed)

    def clear(self) -> None:
        """Drop queued answers and stop random ones."""
        self.queued.clear()
        self.rate = 0.0

    def __len__(self) -> int:
        return len(self.queued)

    def take(self, route: str, query: dict[str, str]) -> Fault | None:
        """The answer to give this request instead of the cluster's own, if any."""
        for index, (routes, op, fault) in enumerate(self.queued):
            if (routes is None or route in routes) and (op is None or query.get("OperationId", "").lower() == op):
                del self.queued[index]
                return fault
        if self.rate and route in self.routes and self.random.random() < self.rate:
            return self.random.choice(self.choices)
        return None
