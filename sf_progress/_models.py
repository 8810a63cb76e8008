"""Frozen value objects, and the one boundary where JSON becomes them."""

from __future__ import annotations

import enum
import json
import uuid
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import attrs

from ._errors import ResponseFormatError
from ._ids import encode_service_id, normalize_service_id, to_guid

__all__ = [
    "FaultOperation",
    "OperationRef",
    "OperationState",
    "OperationType",
    "PartitionRestartProgress",
    "RestartPartitionMode",
    "RestartPartitionResult",
    "SelectedPartition",
]


class OperationState(str, enum.Enum):
    """The state of a fault operation; values are the wire strings.

    ``UNKNOWN`` stands for a state string this version does not know (a newer cluster
    may add some); the string itself stays visible as ``raw_state`` on the progress.
    """

    INVALID = "Invalid"
    RUNNING = "Running"
    ROLLING_BACK = "RollingBack"
    COMPLETED = "Completed"
    FAULTED = "Faulted"
    CANCELLED = "Cancelled"
    FORCE_CANCELLED = "ForceCancelled"
    UNKNOWN = "Unknown"

    @property
    def is_terminal(self) -> bool:
        """True for Completed, Faulted, Cancelled and ForceCancelled."""
        return self in _TERMINAL

    @property
    def filter_bit(self) -> int:
        """The bit of this state in ``GetFaultOperationList``'s ``StateFilter``."""
        return _STATE_BITS[self]

    def __str__(self) -> str:
        return self.value


_TERMINAL = frozenset(
    {
        OperationState.COMPLETED,
        OperationState.FAULTED,
        OperationState.CANCELLED,
        OperationState.FORCE_CANCELLED,
    }
)
_STATE_BITS = {
    OperationState.RUNNING: 1,
    OperationState.ROLLING_BACK: 2,
    OperationState.COMPLETED: 8,
    OperationState.FAULTED: 16,
    OperationState.CANCELLED: 32,
    OperationState.FORCE_CANCELLED: 64,
    OperationState.INVALID: 0,
    OperationState.UNKNOWN: 0,
}
_STATE_BY_WIRE = {s.value: s for s in OperationState if s is not OperationState.UNKNOWN}


class OperationType(str, enum.Enum):
    """The kind of a fault operation, as ``GetFaultOperationList`` reports it."""

    INVALID = "Invalid"
    PARTITION_DATA_LOSS = "PartitionDataLoss"
    PARTITION_QUORUM_LOSS = "PartitionQuorumLoss"
    PARTITION_RESTART = "PartitionRestart"
    NODE_TRANSITION = "NodeTransition"
    UNKNOWN = "Unknown"

    @property
    def filter_bit(self) -> int:
        """The bit of this type in ``GetFaultOperationList``'s ``TypeFilter``."""
        return _TYPE_BITS[self]

    def __str__(self) -> str:
        return self.value


_TYPE_BITS = {
    OperationType.PARTITION_DATA_LOSS: 1,
    OperationType.PARTITION_QUORUM_LOSS: 2,
    OperationType.PARTITION_RESTART: 4,
    OperationType.NODE_TRANSITION: 8,
    OperationType.INVALID: 0,
    OperationType.UNKNOWN: 0,
}
_TYPE_BY_WIRE = {t.value: t for t in OperationType if t is not OperationType.UNKNOWN}


class RestartPartitionMode(str, enum.Enum):
    """Which replicas ``StartPartitionRestart`` restarts."""

    ALL_REPLICAS_OR_INSTANCES = "AllReplicasOrInstances"
    ONLY_ACTIVE_SECONDARIES = "OnlyActiveSecondaries"

    def __str__(self) -> str:
        return self.value


_Filter = Iterable[OperationState] | Iterable[OperationType] | OperationState | OperationType | None


def filter_mask(values: _Filter, what: str) -> int:
    """Return the bit mask for a state or type filter (``None`` means all: 65535)."""
    if values is None:
        return 65535
    items: Iterable[object] = [values] if isinstance(values, (OperationState, OperationType)) else values
    mask = 0
    for value in items:
        if not isinstance(value, (OperationState, OperationType)) or value.filter_bit == 0:
            raise ValueError(f"{what} takes members of OperationState/OperationType, got {value!r}")
        mask |= value.filter_bit
    if mask == 0:
        raise ValueError(f"{what} must name at least one value (or be None for all)")
    return mask


def _service_id(value: str) -> str:
    return normalize_service_id(value)


def _partition_id(value: object) -> uuid.UUID:
    return to_guid(value, "partition_id")


def _operation_id(value: object) -> uuid.UUID:
    return to_guid(value, "operation_id")


@attrs.frozen(cache_hash=True)
class OperationRef:
    """Names one fault operation: the service and partition it targets, and its id.

    ``service_id`` accepts ``fabric:/app/svc``, ``app/svc`` or ``app~svc`` and is kept in
    the ``~`` form; the two GUIDs accept ``str`` or ``uuid.UUID``.  Invalid values raise
    ``ValueError`` or ``TypeError`` here, before anything is sent.
    """

    service_id: str = attrs.field(converter=_service_id)
    partition_id: uuid.UUID = attrs.field(converter=_partition_id)
    operation_id: uuid.UUID = attrs.field(converter=_operation_id)

    @property
    def service_name(self) -> str:
        """The service's full name, ``fabric:/app/svc``."""
        return "fabric:/" + self.service_id.replace("~", "/")

    @property
    def path(self) -> str:
        """The URL path of this partition under ``/Faults``, ids encoded for the wire."""
        return f"/Faults/Services/{encode_service_id(self.service_id)}/$/GetPartitions/{self.partition_id}/$/"

    def __str__(self) -> str:
        return f"operation {self.operation_id} on {self.service_name} partition {self.partition_id}"


@attrs.frozen
class SelectedPartition:
    """The partition an operation acted on (``ServiceName`` is a full ``fabric:/`` name)."""

    service_name: str
    partition_id: uuid.UUID


@attrs.frozen
class RestartPartitionResult:
    """``ErrorCode`` (0, or an HRESULT when Faulted) and the partition that was selected."""

    error_code: int
    selected_partition: SelectedPartition | None


@attrs.frozen
class PartitionRestartProgress:
    """The answer of Get Partition Restart Progress.

    ``raw_state`` is the state string as sent; it differs from ``state.value`` only when
    ``state`` is ``OperationState.UNKNOWN``.
    """

    state: OperationState
    restart_partition_result: RestartPartitionResult | None = None
    raw_state: str = attrs.field(default=attrs.Factory(lambda self: self.state.value, takes_self=True), eq=False)

    @property
    def is_terminal(self) -> bool:
        """True once the operation has ended (Completed, Faulted, Cancelled, ForceCancelled)."""
        return self.state.is_terminal

    @property
    def error_code(self) -> int | None:
        """The result's ``ErrorCode`` (an HRESULT when Faulted), or ``None`` without a result."""
        result = self.restart_partition_result
        return None if result is None else result.error_code


@attrs.frozen
class FaultOperation:
    """One item of ``GetFaultOperationList``."""

    operation_id: uuid.UUID
    state: OperationState
    type: OperationType
    raw_state: str = attrs.field(eq=False)
    raw_type: str = attrs.field(eq=False)


# --- the JSON boundary --------------------------------------------------------------


def _bad(what: str, body: bytes, ref: OperationRef | None) -> ResponseFormatError:
    return ResponseFormatError(f"unexpected response: {what}", body=body, ref=ref)


def _state(data: dict[str, Any], body: bytes, ref: OperationRef | None) -> tuple[OperationState, str]:
    raw = data.get("State")
    if type(raw) is not str:
        raise _bad("'State' is missing or not a string", body, ref)
    return _STATE_BY_WIRE.get(raw, OperationState.UNKNOWN), raw


def _int(value: object) -> int | None:
    if type(value) is int:
        return value
    if isinstance(value, str):  # the rendered REST docs show "0"; accept the same
        try:
            return int(value)
        except ValueError:
            return None
    return None


def _guid(value: object) -> uuid.UUID | None:
    if not isinstance(value, str):
        return None
    try:
        return to_guid(value)
    except ValueError:
        return None


def _selected(value: object, body: bytes, ref: OperationRef | None) -> SelectedPartition | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _bad("'SelectedPartition' is not an object", body, ref)
    name = value.get("ServiceName")
    pid = _guid(value.get("PartitionId"))
    if not isinstance(name, str) or pid is None:
        raise _bad("'SelectedPartition' needs a string ServiceName and a GUID PartitionId", body, ref)
    return SelectedPartition(name, pid)


def decode_json(body: bytes, ref: OperationRef | None = None) -> Any:
    """Decode a 2xx body, or raise ``ResponseFormatError`` (``transient`` if it looks cut short)."""
    try:
        return json.loads(body)
    except ValueError as exc:
        raise ResponseFormatError(
            f"the answer is not valid JSON ({exc})", body=body, truncated=_looks_truncated(body), ref=ref
        ) from None
    except RecursionError:
        raise ResponseFormatError("the answer's JSON is nested too deep to decode", body=body, ref=ref) from None


def _looks_truncated(body: bytes) -> bool:
    """Whether undecodable JSON looks cut short (worth a retry) rather than wrong.

    An empty body, or one that opens a JSON object/array but never closes it, is taken as
    truncated; an HTML page or other text is not.
    """
    text = body.strip()
    if not text:
        return True
    return text[:1] in (b"{", b"[") and text[-1:] not in (b"}", b"]")


T = TypeVar("T")


def json_body(parse: Callable[[Any, bytes, OperationRef | None], T]) -> Callable[[bytes, OperationRef | None], T]:
    """Turn a parser of decoded JSON into a parser of the raw body."""

    def from_body(body: bytes, ref: OperationRef | None) -> T:
        return parse(decode_json(body, ref), body, ref)

    return from_body


_MEMO: dict[bytes, PartitionRestartProgress] = {}
_MEMO_SIZE, _MEMO_BODY = 512, 512


def progress_from_body(body: bytes, ref: OperationRef | None) -> PartitionRestartProgress:
    """``parse_progress`` for a raw body, remembering the answers of small, frequent bodies.

    Progress models are immutable and most answers are byte-identical (every Running
    operation answers ``{"State":"Running"}``), so a repeated body costs one dict lookup:
    less than the ``json.loads`` a hand-written loop does.
    """
    progress = _MEMO.get(body)
    if progress is None:
        progress = parse_progress(decode_json(body, ref), body, ref)
        if len(body) <= _MEMO_BODY:
            if len(_MEMO) >= _MEMO_SIZE:
                _MEMO.clear()
            _MEMO[body] = progress
    return progress


def parse_progress(data: object, body: bytes, ref: OperationRef | None = None) -> PartitionRestartProgress:
    """Build a ``PartitionRestartProgress`` from decoded JSON, or raise ``ResponseFormatError``."""
    if not isinstance(data, dict):
        raise _bad("expected a JSON object", body, ref)
    state, raw = _state(data, body, ref)
    result = data.get("RestartPartitionResult")
    if result is None:
        return PartitionRestartProgress(state, None, raw)
    if not isinstance(result, dict):
        raise _bad("'RestartPartitionResult' is not an object", body, ref)
    code = _int(result.get("ErrorCode", 0))
    if code is None:
        raise _bad("'ErrorCode' is not an integer", body, ref)
    selected = _selected(result.get("SelectedPartition"), body, ref)
    return PartitionRestartProgress(state, RestartPartitionResult(code, selected), raw)


def parse_operation_list(data: object, body: bytes, ref: OperationRef | None = None) -> list[FaultOperation]:
    """Build the items of ``GetFaultOperationList``, or raise ``ResponseFormatError``."""
    if not isinstance(data, list):
        raise _bad("expected a JSON array of operations", body, None)
    items = []
    for item in data:
        if not isinstance(item, dict):
            raise _bad("an operation is not a JSON object", body, None)
        op_id = _guid(item.get("OperationId"))
        raw_type = item.get("Type")
        if op_id is None or type(raw_type) is not str:
            raise _bad("an operation lacks a GUID 'OperationId' or a string 'Type'", body, None)
        state, raw_state = _state(item, body, None)
        op_type = _TYPE_BY_WIRE.get(raw_type, OperationType.UNKNOWN)
        items.append(FaultOperation(op_id, state, op_type, raw_state, raw_type))
    return items
