"""SF Chaos's events, followed: typed values, each once, across pages, until the run stops.

health-and-chaos-protocol.md §8.2: ``GET /Tools/Chaos/Events`` (api 6.2) takes a
``ContinuationToken`` **or** a ``StartTimeUtc``/``EndTimeUtc`` range (FILETIME ticks; both, or
the answer is silently empty), never both; it pages only when ``MaxResults`` is reached (the
token then names the rest of the range); events come in time order, the range inclusive, with
timestamps of millisecond precision that two events can share.  :func:`follow` sends a range
first, drains tokens, then asks again from the last event's time no more than once a second;
an event already seen (same time, kind and payload) is dropped, keeping only the keys of the
last millisecond.  ``ExecutingFaults`` strings (``"ActionType: RestartReplica, NodeName: N1,
..."``) become :class:`ChaosFault` values; text that does not parse is kept raw, never an error.
"""

from __future__ import annotations

import enum
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import attrs

from ._errors import ResponseFormatError

__all__ = ["ChaosEvent", "ChaosEventKind", "ChaosFault", "filetime", "follow", "parse_fault", "parse_segment"]

#: FILETIME ticks (100 ns since 1601-01-01 UTC) at the Unix epoch, and the largest end time.
_EPOCH_TICKS = 116444736000000000
MAX_FILETIME = 2650467743999999999


def filetime(when: datetime) -> int:
    """*when* (aware, or naive UTC) as Windows FILETIME ticks, as the events call takes times."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    delta = when - datetime(1970, 1, 1, tzinfo=UTC)
    return max(0, _EPOCH_TICKS + (delta.days * 86400 + delta.seconds) * 10_000_000 + delta.microseconds * 10)


class ChaosEventKind(str, enum.Enum):
    """An event's ``Kind`` (``UNKNOWN``: a kind this version does not know; its text is ``raw_kind``)."""

    STARTED = "Started"
    EXECUTING_FAULTS = "ExecutingFaults"
    WAITING = "Waiting"
    VALIDATION_FAILED = "ValidationFailed"
    TEST_ERROR = "TestError"
    STOPPED = "Stopped"
    INVALID = "Invalid"
    UNKNOWN = "Unknown"

    def __str__(self) -> str:
        return self.value


_KINDS = {k.value: k for k in ChaosEventKind}
#: The keys of a fault's text that name its targets, by what they are.
_NODE_KEYS = ("NodeName",)
_FROM_KEYS = ("CurrentNodeName", "CurrentPrimaryNodeName", "OldNodeName", "FromNode")
_TO_KEYS = ("NewNodeName", "NewPrimaryNodeName", "ToNode")


@attrs.frozen
class ChaosFault:
    """One fault of an ``ExecutingFaults`` event: ``action`` (``RestartReplica``, ``RestartNode``,
    ``MovePrimary``...; ``None`` when the text names none), every ``Key: Value`` of its text in
    ``fields``, and the text itself (``raw``)."""

    action: str | None
    fields: Mapping[str, str] = attrs.field(eq=False)
    raw: str

    def _first(self, *keys: str) -> str | None:
        return next((self.fields[k] for k in keys if k in self.fields), None)

    @property
    def node(self) -> str | None:
        """The node it acts on, if its text names one."""
        return self._first(*_NODE_KEYS)

    @property
    def service(self) -> str | None:
        """The service (``ServiceUri``/``ServiceName``), if named."""
        return self._first("ServiceUri", "ServiceName")

    @property
    def partition_id(self) -> str | None:
        """The partition, if named."""
        return self._first("PartitionId")

    @property
    def replica_id(self) -> str | None:
        """The replica (or instance), if named."""
        return self._first("ReplicaId", "InstanceId")

    @property
    def code_package(self) -> str | None:
        """The code package, if named."""
        return self._first("CodePackageName")

    @property
    def moved_from(self) -> str | None:
        """The node a move takes a replica from, if named."""
        return self._first(*_FROM_KEYS)

    @property
    def moved_to(self) -> str | None:
        """The node a move takes a replica to, if named."""
        return self._first(*_TO_KEYS)


def parse_fault(text: str) -> ChaosFault:
    """A fault's free text as a :class:`ChaosFault` (never raises: what does not parse stays in ``raw``)."""
    fields: dict[str, str] = {}
    for part in str(text).split(","):
        key, sep, value = part.partition(":")
        if sep and key.strip() and key.strip().replace(" ", "").isidentifier():
            fields.setdefault(key.strip(), value.strip())
    return ChaosFault(fields.get("ActionType"), fields, str(text))


@attrs.frozen
class ChaosEvent:
    """One Chaos event: its ``kind`` (``raw_kind`` as sent), ``time`` (UTC), ``reason`` (Waiting,
    ValidationFailed, TestError, Stopped), ``faults`` (ExecutingFaults) and ``parameters``
    (Started); ``payload`` is the event as sent."""

    kind: ChaosEventKind
    time: datetime
    raw_kind: str
    time_text: str = attrs.field(eq=False)
    reason: str | None = None
    faults: tuple[ChaosFault, ...] = ()
    parameters: Mapping[str, Any] = attrs.field(factory=dict, eq=False)
    payload: Mapping[str, Any] = attrs.field(factory=dict, eq=False, repr=False)

    @property
    def key(self) -> tuple[str, str, str]:
        """The event's identity, its time as sent with its kind and payload (two events may share a millisecond)."""
        return self.time_text, self.raw_kind, json.dumps(self.payload, sort_keys=True)

    @property
    def is_problem(self) -> bool:
        """Whether it reports a problem (``ValidationFailed`` or ``TestError``)."""
        return self.kind in (ChaosEventKind.VALIDATION_FAILED, ChaosEventKind.TEST_ERROR)


def _event(item: object) -> ChaosEvent | None:
    data = item.get("ChaosEvent") if isinstance(item, dict) else None
    if not isinstance(data, dict):
        return None
    raw_kind, stamp = str(data.get("Kind", "Invalid")), str(data.get("TimeStampUtc", ""))
    try:
        when = datetime.fromisoformat(stamp.replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        return None
    faults = data.get("Faults") if raw_kind == "ExecutingFaults" else None
    reason = data.get("Reason")
    parameters = data.get("ChaosParameters")
    return ChaosEvent(
        _KINDS.get(raw_kind, ChaosEventKind.UNKNOWN),
        when,
        raw_kind,
        stamp,
        None if reason is None else str(reason),
        tuple(parse_fault(f) for f in faults) if isinstance(faults, list) else (),
        parameters if isinstance(parameters, dict) else {},
        data,
    )


def parse_segment(body: bytes, ref: object = None) -> tuple[str, list[ChaosEvent]]:
    """A ``ChaosEventsSegment``: its continuation token (``""`` when no more) and its events, in order."""
    try:
        data = json.loads(body)
        token, history = data.get("ContinuationToken") or "", data["History"]
        if not isinstance(history, list) or not isinstance(token, str):
            raise TypeError
    except (ValueError, TypeError, KeyError, AttributeError):
        raise ResponseFormatError("expected a ChaosEventsSegment ({'ContinuationToken', 'History'})",
                                  body=body) from None
    return token, [e for e in (_event(item) for item in history) if e is not None]


Read = Callable[[str], Awaitable[tuple[str, list[ChaosEvent]]]]


async def follow(
    read: Read,
    sleep: Callable[[float], Awaitable[None]],
    since: datetime | None,
    *,
    until: str = "stopped",
    page: int = 500,
    poll: float = 1.0,
    max_poll: float = 5.0,
) -> AsyncIterator[ChaosEvent]:
    """Every event from *since* (``None``: the current run's ``Started``), each once, in time order.

    *until*: ``"stopped"`` ends after a ``Stopped`` event, ``"now"`` once caught up with what the
    cluster has, ``"never"`` runs until cancelled.  Once caught up the events call is sent again
    after *poll* seconds, twice as long after each call that brought nothing new (up to
    *max_poll*: Chaos's iterations are seconds to minutes apart), and never between the pages of
    a drain.
    """
    until_stopped = until == "stopped"
    start = 0 if since is None else filetime(since)
    params = f"StartTimeUtc={start}&EndTimeUtc={MAX_FILETIME}&MaxResults={page}"
    last_text, last_keys = "", set[tuple[str, str, str]]()
    held: list[ChaosEvent] | None = [] if since is None else None  # the current run's, until caught up
    pause = poll
    while True:
        token, events = await read(params)
        fresh = False
        for event in events:
            key = event.key
            if event.time_text < last_text or key in last_keys:
                continue  # seen already (the range is inclusive at the last millisecond)
            if event.time_text != last_text:
                last_text, last_keys = event.time_text, set()
            last_keys.add(key)
            fresh = True
            if held is not None:  # looking for the current run: keep only from its last Started
                if event.kind is ChaosEventKind.STARTED:
                    held.clear()
                held.append(event)
                continue
            yield event
            if until_stopped and event.kind is ChaosEventKind.STOPPED:
                return
        if token:  # more of this range: drain it at once (a token never goes with a range)
            params = f"ContinuationToken={token}&MaxResults={page}"
            continue
        if held is not None:
            pending, held = held, None
            for event in pending:
                yield event
                if until_stopped and event.kind is ChaosEventKind.STOPPED:
                    return
        if until == "now":
            return
        pause = poll if fresh else min(max_poll, pause * 2)
        await sleep(pause)
        resume = filetime(datetime.fromisoformat(last_text.replace("Z", "+00:00"))) if last_text else start
        params = f"StartTimeUtc={resume}&EndTimeUtc={MAX_FILETIME}&MaxResults={page}"
