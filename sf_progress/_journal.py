"""The journal file of a fault run: append-only JSON lines, fsync'd before any start is sent.

One line per event, readable with ``jq``::

    {"v": 1, "type": "journal", "endpoint": "...", "created": "..."}     first line
    {"type": "target", "n": 0, "kind": "restart", ..., "operation_id": "..."}   the plan
    {"type": "intent", "n": 0}          durable before the start request is sent
    {"type": "accepted", "n": 0}        the start was answered 202 (or 409 on a retry)
    {"type": "rejected", "n": 0, "error": "..."}   the start was refused for good
    {"type": "state", "n": 0, "state": "RollingBack"}
    {"type": "outcome", "n": 0, "record": {...}}   the same record as ``watch``'s result lines

This module only reads and writes the file (and holds its lock); ``_run.py`` decides.
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import attrs

from ._errors import JournalError
from ._models import OperationRef, OperationType
from ._platform import lock_exclusive

__all__ = ["JOURNAL_VERSION", "FaultTarget", "Journal", "JournalError", "TargetState"]

logger = logging.getLogger("sf_progress")

JOURNAL_VERSION = 1
_KIND_NAMES = {
    OperationType.PARTITION_RESTART: "restart",
    OperationType.PARTITION_DATA_LOSS: "data-loss",
    OperationType.PARTITION_QUORUM_LOSS: "quorum-loss",
    OperationType.NODE_TRANSITION: "node-transition",
}
_KIND_BY_NAME = {name: kind for kind, name in _KIND_NAMES.items()}
_TYPES = frozenset({"target", "intent", "accepted", "rejected", "state", "outcome"})


def _guid_text(value: object) -> str:
    return str(uuid.UUID(str(value)))


@attrs.frozen(kw_only=True)
class FaultTarget:
    """One fault a run starts: its kind, what it targets, its parameters, and its OperationId.

    Build them with :meth:`restart`, :meth:`data_loss`, :meth:`quorum_loss` and
    :meth:`node_transition`.  The OperationId is chosen here, client-side, so that it is in
    the journal before the start is sent; a resumed run sends the same one again.
    """

    kind: OperationType
    service_id: str | None = None
    partition_id: str | None = None
    node_name: str | None = None
    params: dict[str, Any] = attrs.field(factory=dict, eq=False)
    operation_id: str = attrs.field(factory=lambda: str(uuid.uuid4()), converter=_guid_text)

    def __attrs_post_init__(self) -> None:
        self.ref()  # validates the ids now, before anything is written or sent

    @classmethod
    def restart(
        cls,
        service_id: str,
        partition_id: str | uuid.UUID,
        *,
        mode: str = "AllReplicasOrInstances",
        operation_id: str | uuid.UUID | None = None,
    ) -> FaultTarget:
        """A partition restart."""
        return cls._partition(OperationType.PARTITION_RESTART, service_id, partition_id, {"mode": mode}, operation_id)

    @classmethod
    def data_loss(
        cls,
        service_id: str,
        partition_id: str | uuid.UUID,
        *,
        mode: str = "PartialDataLoss",
        operation_id: str | uuid.UUID | None = None,
    ) -> FaultTarget:
        """A partition data loss."""
        return cls._partition(OperationType.PARTITION_DATA_LOSS, service_id, partition_id, {"mode": mode}, operation_id)

    @classmethod
    def quorum_loss(
        cls,
        service_id: str,
        partition_id: str | uuid.UUID,
        *,
        duration: int,
        mode: str = "QuorumReplicas",
        operation_id: str | uuid.UUID | None = None,
    ) -> FaultTarget:
        """A partition quorum loss of *duration* seconds."""
        params = {"mode": mode, "duration": duration}
        return cls._partition(OperationType.PARTITION_QUORUM_LOSS, service_id, partition_id, params, operation_id)

    @classmethod
    def node_transition(
        cls,
        node_name: str,
        transition: str,
        *,
        stop_duration: int = 600,
        node_instance_id: str | None = None,
        operation_id: str | uuid.UUID | None = None,
    ) -> FaultTarget:
        """A node stop or start."""
        params = {"transition": transition, "stop_duration": stop_duration, "node_instance_id": node_instance_id}
        return cls(
            kind=OperationType.NODE_TRANSITION,
            node_name=node_name,
            params=params,
            operation_id=operation_id or uuid.uuid4(),
        )

    @classmethod
    def _partition(
        cls,
        kind: OperationType,
        service_id: str,
        partition_id: str | uuid.UUID,
        params: dict[str, Any],
        operation_id: str | uuid.UUID | None,
    ) -> FaultTarget:
        ref = OperationRef(service_id, partition_id, uuid.uuid4(), kind=kind)
        return cls(
            kind=kind,
            service_id=ref.service_id,
            partition_id=str(ref.partition_id),
            params=params,
            operation_id=operation_id or uuid.uuid4(),
        )

    def ref(self) -> OperationRef:
        """The ``OperationRef`` this target's operation has."""
        if self.kind is OperationType.NODE_TRANSITION:
            assert self.node_name is not None
            return OperationRef.node_transition(self.node_name, self.operation_id)
        return OperationRef(self.service_id, self.partition_id, self.operation_id, kind=self.kind)

    def line(self, n: int) -> dict[str, Any]:
        record: dict[str, Any] = {"type": "target", "n": n, "kind": _KIND_NAMES[self.kind]}
        for name in ("service_id", "partition_id", "node_name"):
            if getattr(self, name) is not None:
                record[name] = getattr(self, name)
        record["params"] = self.params
        record["operation_id"] = self.operation_id
        return record

    @classmethod
    def from_line(cls, line: dict[str, Any]) -> FaultTarget:
        kind = _KIND_BY_NAME[line["kind"]]
        return cls(
            kind=kind,
            service_id=line.get("service_id"),
            partition_id=line.get("partition_id"),
            node_name=line.get("node_name"),
            params=dict(line.get("params") or {}),
            operation_id=line["operation_id"],
        )


@attrs.define
class TargetState:
    """What the journal says of one target."""

    target: FaultTarget
    intent: bool = False
    accepted: bool = False
    rejected: str | None = None
    state: str | None = None
    outcome: dict[str, Any] | None = None


class Journal:
    """An open journal file: its lock, its lines so far, and appends (``sync()`` makes them durable)."""

    def __init__(self, path: Path, file: Any, endpoint: str, targets: list[TargetState], notices: list[str]) -> None:
        self.path, self._file, self.endpoint, self.targets, self.notices = path, file, endpoint, targets, notices

    # --- opening ---------------------------------------------------------------------------

    @classmethod
    def create(cls, path: str | os.PathLike[str], endpoint: str) -> Journal:
        """Start a new journal at *path* (it must not exist, or be empty); locked until closed."""
        target = Path(path)
        try:
            file = open(target, "a+b")  # noqa: SIM115 - held open (and locked) until close()
        except OSError as exc:
            raise JournalError(f"journal {str(target)!r} cannot be written: {exc.strerror or exc}") from None
        _lock(file, target)
        file.seek(0, os.SEEK_END)
        if file.tell() != 0:
            file.close()
            raise JournalError(f"journal {str(target)!r} already exists: resume it, or choose a new path")
        header = {
            "v": JOURNAL_VERSION,
            "type": "journal",
            "endpoint": endpoint,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        journal = cls(target, file, endpoint, [], [])
        journal._append(header)
        journal.sync()
        return journal

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> Journal:
        """Open an existing journal and read it (a cut last line is ignored, with a notice)."""
        target = Path(path)
        try:
            file = open(target, "r+b")  # noqa: SIM115 - held open (and locked) until close()
        except OSError as exc:
            raise JournalError(f"journal {str(target)!r} cannot be opened: {exc.strerror or exc}") from None
        _lock(file, target)
        try:
            endpoint, targets, notices, good_end = _read(file.read(), target)
        except JournalError:
            file.close()
            raise
        file.seek(good_end)
        file.truncate()  # drop a cut last line, so appends start on a line of their own
        return cls(target, file, endpoint, targets, notices)

    # --- writing -----------------------------------------------------------------------------

    def _append(self, record: dict[str, Any]) -> None:
        self._file.write(json.dumps(record, separators=(", ", ": ")).encode() + b"\n")

    def add_targets(self, targets: Iterable[FaultTarget]) -> list[int]:
        """Append targets to the plan; return their numbers."""
        added = []
        for target in targets:
            n = len(self.targets)
            self._append(target.line(n))
            self.targets.append(TargetState(target))
            added.append(n)
        return added

    def intents(self, numbers: Iterable[int]) -> None:
        for n in numbers:
            self.targets[n].intent = True
            self._append({"type": "intent", "n": n})

    def accepted(self, n: int) -> None:
        self.targets[n].accepted = True
        self._append({"type": "accepted", "n": n})

    def rejected(self, n: int, error: str) -> None:
        self.targets[n].rejected = error
        self._append({"type": "rejected", "n": n, "error": error})

    def state(self, n: int, state: str) -> None:
        self.targets[n].state = state
        self._append({"type": "state", "n": n, "state": state})

    def outcome(self, n: int, record: dict[str, Any]) -> None:
        self.targets[n].outcome = record
        self._append({"type": "outcome", "n": n, "record": record})

    def sync(self) -> None:
        """Flush and fsync: what was appended so far survives a crash."""
        self._file.flush()
        os.fsync(self._file.fileno())

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        if not self._file.closed:
            self.sync()
            self._file.close()  # also releases the lock



def _lock(file: Any, path: Path) -> None:
    try:
        lock_exclusive(file.fileno())
    except OSError:
        file.close()
        raise JournalError(f"journal {str(path)!r} is in use by another run (it is locked)") from None


def _read(data: bytes, path: Path) -> tuple[str, list[TargetState], list[str], int]:
    notices: list[str] = []
    lines = data.split(b"\n")
    good_end = len(data)
    if lines and lines[-1] != b"":  # the last line has no newline: the crash came mid-write
        notices.append(f"journal {str(path)!r}: its last line was cut short (a crash mid-write); it is ignored")
        good_end -= len(lines[-1])
    complete = lines[:-1]
    if not complete:
        raise JournalError(f"journal {str(path)!r} is empty")
    endpoint = ""
    targets: list[TargetState] = []
    for number, raw in enumerate(complete, start=1):
        try:
            record = json.loads(raw)
        except ValueError:
            raise JournalError(
                f"journal {str(path)!r} line {number}: not a JSON line of an sf_progress journal"
            ) from None
        if not isinstance(record, dict):
            raise JournalError(f"journal {str(path)!r} line {number}: not an sf_progress journal record")
        if number == 1:
            if record.get("type") != "journal":
                raise JournalError(f"journal {str(path)!r}: line 1 is not an sf_progress journal header")
            version = record.get("v")
            if not isinstance(version, int) or version > JOURNAL_VERSION:
                raise JournalError(
                    f"journal {str(path)!r} is of format version {version!r}; this sf_progress reads up to "
                    f"{JOURNAL_VERSION}: upgrade sf_progress"
                )
            endpoint = str(record.get("endpoint", ""))
            continue
        kind = record.get("type")
        n = record.get("n")
        if kind not in _TYPES or not isinstance(n, int):
            raise JournalError(f"journal {str(path)!r} line {number}: not an sf_progress journal record")
        try:
            if kind == "target":
                if n != len(targets):
                    raise JournalError(f"journal {str(path)!r} line {number}: target {n} out of order")
                targets.append(TargetState(FaultTarget.from_line(record)))
                continue
            state = targets[n]
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            if isinstance(exc, JournalError):
                raise
            raise JournalError(f"journal {str(path)!r} line {number}: a record this journal cannot hold") from None
        if kind == "intent":
            state.intent = True
        elif kind == "accepted":
            state.accepted = True
        elif kind == "rejected":
            state.rejected = str(record.get("error", ""))
        elif kind == "state":
            state.state = str(record.get("state"))
        else:
            state.outcome = dict(record.get("record") or {})
    return endpoint, targets, notices, good_end


def lines_of(path: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """The journal's records (for people and tools; the run reads it through ``Journal.open``)."""
    with open(path, "rb") as file:
        for raw in file:
            if raw.endswith(b"\n"):
                yield json.loads(raw)
