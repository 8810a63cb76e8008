"""The fake gateway's wire: routes, query parsing, percent-decoding, and the list call's items."""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable, Iterable
from typing import Any
from urllib.parse import unquote

from aiohttp import web

from .._models import OperationState, OperationType
from ._answers import Answer, fabric_error, invalid
from ._scripts import FakeOperation, wire_state

PARTITION_PATH = re.compile(
    r"^/Faults/Services/(?P<sid>.+)/\$/GetPartitions/(?P<pid>[^/]+)/\$/(?P<action>"
    r"GetRestartProgress|StartRestart|GetDataLossProgress|StartDataLoss|GetQuorumLossProgress|StartQuorumLoss)$"
)
NODE_PATH = re.compile(r"^/Faults/Nodes/(?P<node>[^/]+)/\$/(?P<action>GetTransitionProgress|StartTransition/?)$")
KIND_OF_ACTION = {
    "GetRestartProgress": OperationType.PARTITION_RESTART,
    "StartRestart": OperationType.PARTITION_RESTART,
    "GetDataLossProgress": OperationType.PARTITION_DATA_LOSS,
    "StartDataLoss": OperationType.PARTITION_DATA_LOSS,
    "GetQuorumLossProgress": OperationType.PARTITION_QUORUM_LOSS,
    "StartQuorumLoss": OperationType.PARTITION_QUORUM_LOSS,
    "GetTransitionProgress": OperationType.NODE_TRANSITION,
    "StartTransition": OperationType.NODE_TRANSITION,
    "StartTransition/": OperationType.NODE_TRANSITION,
}
# What a progress read of another kind's OperationId answers (faults-protocol.md §5).
WRONG_KIND_CODE = {OperationType.PARTITION_DATA_LOSS: "0x80004002"}
DEFAULT_NODES = {f"_Node_{i}": 132500000000000000 + i for i in range(5)}
API_VERSION = re.compile(r"^(\d+(?:\.\d+)?)(?:-preview)?$")
MODES = ("AllReplicasOrInstances", "OnlyActiveSecondaries")
BUSY = "FABRIC_E_NODE_TRANSITION_IN_PROGRESS"
LIST_CAP = 10_000
RUNNING_BIT, ROLLING_BACK_BIT, FAULTED_BIT = 1, 2, 16
TERMINAL_BITS = 8 | 16 | 32 | 64
UNSUPPORTED_CODES = {400: "E_INVALIDARG", 404: "FABRIC_E_INVALID_ADDRESS", 405: "Method Not Allowed"}
ROUTES = ("root", "version", "aad", "progress", "start", "cancel", "list", "health", "info", "control",
          "fault", "target", "other")


_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")


def strict_unquote(text: str) -> str:
    """Percent-decode a path segment as the gateway does: a bad escape or non-UTF-8 is invalid."""
    if _PERCENT.search(text):
        raise ValueError(f"malformed percent-encoding in {text!r}")
    return unquote(text, errors="strict")


@web.middleware
async def fabric_errors_only(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """What aiohttp would answer itself (``OPTIONS *``, a bad request line) is a FabricError too."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return fabric_error(400, "E_INVALIDARG", f"The request is not supported: {exc.reason}")


def parse_query(raw: str) -> dict[str, str]:
    """Split on '&' then '='; names are case-sensitive, the first occurrence wins, no decoding."""
    query: dict[str, str] = {}
    for pair in raw.split("&"):
        name, _, value = pair.partition("=")
        if name and name not in query:
            query[name] = value
    return query




def list_items(
    active: dict[uuid.UUID, FakeOperation],
    history: Iterable[FakeOperation],
    types: int,
    states: int,
    now: float,
    *,
    enums_as_int: bool,
) -> list[dict[str, Any]]:
    """GetFaultOperationList as the service answers it (faults-protocol §1).

    ``StateFilter`` 0 lists nothing, ``TypeFilter`` 0 every type.  The active table
    (Running, RollingBack; queued operations are Running) is read first, then the history;
    the filters are over-inclusive as the service's are; at most 10,000 items, no paging.
    Operations found terminal in *active* are moved out of it (to the history).
    """
    items: list[dict[str, Any]] = []

    def item(op: FakeOperation, state: OperationState) -> dict[str, Any]:
        wire_type = op.kind.filter_bit if enums_as_int else op.kind.value
        return {"OperationId": str(op.ref.operation_id), "State": wire_state(state, enums_as_int), "Type": wire_type}

    def wanted(op: FakeOperation) -> bool:
        return types == 0 or bool(types & op.kind.filter_bit)

    if states & (RUNNING_BIT | ROLLING_BACK_BIT):
        for op_id, op in list(active.items()):
            state = op.state_at(now)[0]
            if state.is_terminal:
                del active[op_id]  # moved to the history table
                continue
            # StateFilter=Running also matches an operation rolling back inside a Running step.
            if wanted(op) and (states & RUNNING_BIT or state is OperationState.ROLLING_BACK):
                items.append(item(op, state))
                if len(items) >= LIST_CAP:
                    return items
    if states & TERMINAL_BITS:
        for op in history:
            state = op.state_at(now)[0]
            if not state.is_terminal or not wanted(op):
                continue
            # StateFilter=Faulted also matches cancelled operations (a cancel ends in step Failed).
            cancelled = state in (OperationState.CANCELLED, OperationState.FORCE_CANCELLED)
            if states & state.filter_bit or (cancelled and states & FAULTED_BIT):
                items.append(item(op, state))
                if len(items) >= LIST_CAP:
                    break
    return items


def api_version(query: dict[str, str], runtime_version: float) -> float:
    """The call's ``api-version`` as a number (one the runtime does not take: 400)."""
    match = API_VERSION.match(query.get("api-version", ""))
    version = float(match[1]) if match else 0.0
    if not 1.0 <= version <= runtime_version:
        raise invalid(f"api-version {query.get('api-version')!r} is not supported")
    return version


def guid(text: str, what: str) -> uuid.UUID:
    """A GUID of the path or query (a bad one: 400)."""
    try:
        return uuid.UUID(text)
    except ValueError:
        raise invalid(f"Invalid {what}: {text!r}") from None


def operation_id(query: dict[str, str]) -> uuid.UUID:
    """The call's ``OperationId`` (missing: 404, as the gateway answers)."""
    if "OperationId" not in query:
        raise Answer(404, "FABRIC_E_NAME_DOES_NOT_EXIST", "OperationId is missing")
    return guid(query["OperationId"], "OperationId")


async def truncated(request: web.Request, response: web.Response) -> web.StreamResponse:
    """Send half of *response*'s body, then cut the connection (a gateway dying mid-answer)."""
    body = response.body if isinstance(response.body, bytes) else b""
    stream = web.StreamResponse(status=response.status, reason=response.reason)
    stream.content_type = "application/json"
    stream.content_length = max(len(body), 2)  # an empty body (a 202) gets cut too
    await stream.prepare(request)
    await stream.write(body[: len(body) // 2])
    if request.transport is not None:
        request.transport.abort()
    return stream
