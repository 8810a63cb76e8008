"""The one boundary where JSON answers become models, for every fault kind."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

import attrs

from .._errors import ResponseFormatError
from .._ids import to_guid
from .._models import _STATE_BY_WIRE, _TYPE_BY_WIRE, FaultOperation, OperationRef, OperationState, OperationType
from .._progress import FaultProgress, NodeResult, NodeTransitionResult, SelectedPartition

__all__ = [
    "Shape",
    "decode_json",
    "json_body",
    "node_result",
    "page_of",
    "parse_active_list",
    "parse_operation_list",
    "parse_progress",
    "partition_result",
    "progress_parser",
]

T = TypeVar("T")


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


def _node(value: object, body: bytes, ref: OperationRef | None) -> NodeResult | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _bad("'NodeResult' is not an object", body, ref)
    name, instance = value.get("NodeName"), value.get("NodeInstanceId")
    if isinstance(instance, int) and type(instance) is not bool:
        instance = str(instance)  # a string in the spec; tolerate a number
    if not isinstance(name, str) or not isinstance(instance, str):
        raise _bad("'NodeResult' needs a string NodeName and NodeInstanceId", body, ref)
    return NodeResult(name, instance)


def _code(result: dict[str, Any], body: bytes, ref: OperationRef | None) -> int:
    code = _int(result.get("ErrorCode", 0))
    if code is None:
        raise _bad("'ErrorCode' is not an integer", body, ref)
    return code


#: How one kind's result object is read: ``build(result, body, ref)``.
ResultBuilder = Callable[[dict[str, Any], bytes, OperationRef | None], Any]


@attrs.frozen
class Shape:
    """How one kind's progress answer is read: its model, the key of its result object, and that object."""

    model: Any  # the progress model class, e.g. ``PartitionRestartProgress``
    result_key: str  # e.g. ``"RestartPartitionResult"``
    result: ResultBuilder


def partition_result(cls: Any) -> ResultBuilder:
    """The builder of a partition fault's result (error code and selected partition) as *cls*."""

    def build(result: dict[str, Any], body: bytes, ref: OperationRef | None) -> Any:
        return cls(_code(result, body, ref), _selected(result.get("SelectedPartition"), body, ref))

    return build


def node_result(result: dict[str, Any], body: bytes, ref: OperationRef | None) -> NodeTransitionResult:
    """A node transition's result: its error code and the node it acted on."""
    return NodeTransitionResult(_code(result, body, ref), _node(result.get("NodeResult"), body, ref))


def parse_progress(data: object, body: bytes, ref: OperationRef | None, shape: Shape) -> FaultProgress:
    """Build the progress model of *shape* from decoded JSON, or raise ``ResponseFormatError``."""
    if not isinstance(data, dict):
        raise _bad("expected a JSON object", body, ref)
    state, raw = _state(data, body, ref)
    result = data.get(shape.result_key)
    if result is None:
        return shape.model(state, None, raw)  # type: ignore[no-any-return]
    if not isinstance(result, dict):
        raise _bad(f"'{shape.result_key}' is not an object", body, ref)
    return shape.model(state, shape.result(result, body, ref), raw)  # type: ignore[no-any-return]


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


def page_of(data: object, body: bytes, ref: OperationRef | None, what: str) -> tuple[list[dict[str, Any]], str]:
    """A decoded paged list's items (the JSON objects among them) and its continuation token (``""`` at the end)."""
    items = data.get("Items") if isinstance(data, dict) else None
    token = (data.get("ContinuationToken") or "") if isinstance(data, dict) else ""
    if not isinstance(items, list) or not isinstance(token, str):
        raise ResponseFormatError(f"expected a paged list of {what}", body=body, ref=ref)
    return [item for item in items if isinstance(item, dict)], token


def _looks_truncated(body: bytes) -> bool:
    """Whether undecodable JSON looks cut short (worth a retry) rather than wrong.

    An empty body, or one that opens a JSON object/array but never closes it, is taken as
    truncated; an HTML page or other text is not.
    """
    text = body.strip()
    if not text:
        return True
    return text[:1] in (b"{", b"[") and text[-1:] not in (b"}", b"]")


def json_body(parse: Callable[[Any, bytes, OperationRef | None], T]) -> Callable[[bytes, OperationRef | None], T]:
    """Turn a parser of decoded JSON into a parser of the raw body."""

    def from_body(body: bytes, ref: OperationRef | None) -> T:
        return parse(decode_json(body, ref), body, ref)

    return from_body


_MEMO_SIZE, _MEMO_BODY = 512, 512


def progress_parser(shape: Shape) -> Callable[[bytes, OperationRef | None], FaultProgress]:
    """``parse_progress`` of one kind's *shape* for a raw body, remembering the answers of small, frequent bodies.

    Progress models are immutable and most answers are byte-identical (every Running
    operation answers ``{"State":"Running"}``), so a repeated body costs one dict lookup:
    less than the ``json.loads`` a hand-written loop does.  Each kind has a memo of its
    own: the same bytes are a different model for another kind.
    """
    memo: dict[bytes, FaultProgress] = {}

    def from_body(body: bytes, ref: OperationRef | None) -> FaultProgress:
        progress = memo.get(body)
        if progress is None:
            progress = parse_progress(decode_json(body, ref), body, ref, shape)
            if len(body) <= _MEMO_BODY:
                if len(memo) >= _MEMO_SIZE:
                    memo.clear()
                memo[body] = progress
        return progress

    return from_body


def parse_operation_list(data: object, body: bytes, ref: OperationRef | None = None) -> list[FaultOperation]:
    """Build the items of ``GetFaultOperationList``, or raise ``ResponseFormatError``."""
    items, bad = _operation_items(data, body)
    if bad is not None:
        raise _bad(bad, body, None)
    return items


def parse_active_list(data: object, body: bytes, ref: OperationRef | None = None) -> tuple[dict[int, str], int]:
    """The list as the observer reads it: each well-formed item's wire ``State`` by id, and the skipped count.

    Ids are keyed by their 128-bit number (``uuid.UUID.int``), which hashes in C, as the
    observer keys its parked operations; the usual 36-character form is read without
    building a ``uuid.UUID``.

    The list holds every user's operations: one malformed item (a null id, a numeric
    state) must not blind every wait on the client, so it is skipped and counted.  Only a
    body that is not a JSON array is a ``ResponseFormatError``.  This is the observer's hot
    path (thousands of items per tick): no model is built, only the id and the state are
    read (``Type`` is not needed: each item's own state decides, whatever the filter).
    An id listed twice keeps its first state unless a later one has ended.
    """
    if not isinstance(data, list):
        raise _bad("expected a JSON array of operations", body, None)
    states: dict[int, str] = {}
    skipped = 0
    ended = _ENDED_WIRE
    for item in data:
        try:
            raw_id = item["OperationId"]
            raw_state = item["State"]
            if type(raw_state) is not str:
                raise TypeError
            if type(raw_id) is str and len(raw_id) == 36 and raw_id[8] == raw_id[13] == raw_id[18] == raw_id[23] == "-":
                op_id = int(raw_id.replace("-", ""), 16)
            else:
                op_id = to_guid(raw_id).int
        except (KeyError, TypeError, ValueError, AttributeError):
            skipped += 1
            continue
        if op_id not in states or raw_state in ended:
            states[op_id] = raw_state
    return states, skipped


#: Wire states the observer takes as "not active": every known state but Running and
#: RollingBack (a state this version does not know is taken as active).
_ENDED_WIRE = frozenset(_STATE_BY_WIRE) - {OperationState.RUNNING.value, OperationState.ROLLING_BACK.value}


def _operation_items(data: object, body: bytes, *, skip: bool = False) -> tuple[list[FaultOperation], str | None]:
    """The well-formed items and, unless *skip*, what is wrong with the first bad one."""
    if not isinstance(data, list):
        return [], "expected a JSON array of operations"
    items: list[FaultOperation] = []
    for item in data:
        if not isinstance(item, dict):
            if skip:
                continue
            return items, "an operation is not a JSON object"
        op_id = _guid(item.get("OperationId"))
        raw_type = item.get("Type")
        raw_state = item.get("State")
        if op_id is None or type(raw_type) is not str or type(raw_state) is not str:
            if skip:
                continue
            if type(raw_state) is not str and op_id is not None and type(raw_type) is str:
                return items, "'State' is missing or not a string"
            return items, "an operation lacks a GUID 'OperationId' or a string 'Type'"
        state = _STATE_BY_WIRE.get(raw_state, OperationState.UNKNOWN)
        op_type = _TYPE_BY_WIRE.get(raw_type, OperationType.UNKNOWN)
        items.append(FaultOperation(op_id, state, op_type, raw_state, raw_type))
    return items, None
