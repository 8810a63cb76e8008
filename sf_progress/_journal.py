"""The journal file of a fault run: append-only JSON lines, fsync'd before any start is sent.

One line per event, readable with ``jq`` (format version 3; ``event`` says what a line
is, ``type`` is always a fault kind, as in the command line's result lines)::

    {"v": 3, "event": "journal", "endpoint": "...", "created": "..."}     first line
    {"event": "target", "n": 0, "type": "PartitionRestart", "service_id": "...",
     "partition_id": "...", "operation_id": "...", "spec": {"mode": "AllReplicasOrInstances"}}
    {"event": "planned", "count": 1}     closes every addition to the plan (a plan without it was cut)
    {"event": "intent", "n": 0, "at": 1764633600.0}   durable before the start request is sent
    {"event": "accepted", "n": 0}        the start was answered 202 (or 409 on a retry)
    {"event": "rejected", "n": 0, "error": "..."}   the start was refused for good
    {"event": "state", "n": 0, "state": "RollingBack"}
    {"event": "outcome", "n": 0, "outcome": "completed", "state": "Completed", "error_code": 0,
     "error": null, "polls": 2, "elapsed": 12.5}

Format 2 had no ``planned`` records and no intent times (its plans are taken as whole).
Journals of format version 1 (``type`` for the event, ``kind`` for the fault kind in its
command-line spelling, ``params``, and an outcome's ``record``) are read too; one resumed
here gets its new lines in version 2's spelling (each line is read by its own).  Targets and
results go to and from lines in exactly one place each: :func:`target_line` /
:func:`target_of`, :func:`result_line` / :func:`result_of`.  This module only reads and
writes the file (and holds its lock); ``_run.py`` decides.
"""

from __future__ import annotations

import enum
import json
import logging
import os
import stat
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import attrs

from ._config import wall_time
from ._errors import JournalError
from ._kinds import KINDS, SHORT_NAMES
from ._models import _STATE_BY_WIRE, OperationRef, OperationState, OperationType, ref_fields
from ._platform import lock_exclusive
from ._recovery import Recovery
from ._targets import FaultTarget
from ._waiting import Outcome, OutcomeKind

__all__ = ["JOURNAL_VERSION", "Gates", "Journal", "JournalError", "RunResult", "TargetState", "result_of", "target_of"]

logger = logging.getLogger("sf_progress")

JOURNAL_VERSION = 3
#: Format version 1 named kinds by their command-line spelling.
_V1_KINDS = {name: kind for kind, name in SHORT_NAMES.items()}
_EVENTS = frozenset({"target", "intent", "accepted", "rejected", "state", "outcome"})
#: Records of the whole run (no target number): its gates, why it stopped starting, and
#: "planned" (the plan so far is whole: ``count`` targets), which closes every addition to it.
_RUN_EVENTS = frozenset({"gates", "aborted", "planned"})


def _max_active(_: Gates, __: attrs.Attribute[int | None], value: int | None) -> None:
    if value is not None and (type(value) is not int or value < 1):
        raise ValueError(f"max_active must be an int >= 1 or None, got {value!r}")


@attrs.frozen
class Gates:
    """How a run paces its starts (written once, when it is created; a resume keeps them).

    ``max_active``: at most this many of its faults started and not yet ended (with
    ``recovery``: not yet recovered); ``recovery``: wait for each target to recover;
    ``abort_on_unrecovered``: once a target fails to recover by its deadline, start nothing
    more (the active ones finish).
    """

    max_active: int | None = attrs.field(default=None, validator=_max_active)
    recovery: bool = attrs.field(default=False, validator=attrs.validators.instance_of(bool))
    abort_on_unrecovered: bool = attrs.field(default=False, validator=attrs.validators.instance_of(bool))

    def __attrs_post_init__(self) -> None:
        if self.abort_on_unrecovered and not self.recovery:
            raise ValueError("abort_on_unrecovered needs recovery=True (a run that does not wait for recovery "
                             "cannot see a target fail to recover)")

    @property
    def paced(self) -> bool:
        """Whether starts are interleaved with the results (a gate limits them)."""
        return self.max_active is not None or self.abort_on_unrecovered


@attrs.frozen
class RunResult:
    """How one target of a run ended.

    ``number`` is its place in the run's plan (from 0), ``outcome`` how its wait ended,
    ``state`` the last state read (``None`` if none was), ``error_code`` the result's
    ``ErrorCode`` (an HRESULT when Faulted, ``None`` without a result), ``error`` what went
    wrong in words (``None`` when nothing did), ``polls`` the progress reads sent for it and
    ``elapsed`` the seconds its wait took; ``recovery`` whether its target recovered, when
    the run waited for that (``None`` otherwise; from a journal, without the last facts).
    """

    number: int
    target: FaultTarget
    outcome: OutcomeKind
    state: OperationState | None = None
    error_code: int | None = None
    error: str | None = None
    polls: int = 0
    elapsed: float = 0.0
    recovery: Recovery | None = None

    @property
    def ref(self) -> OperationRef:
        """The ref of the target's operation."""
        return self.target.ref

    @property
    def ok(self) -> bool:
        """True when the fault Completed."""
        return self.outcome is OutcomeKind.COMPLETED

    @classmethod
    def of(cls, number: int, target: FaultTarget, outcome: Outcome) -> RunResult:
        """The result of a target whose wait ended with *outcome*.

        Args:
            number: The target's number in the run.
            target: The target.
            outcome: How its wait ended.

        Returns:
            The result.
        """
        progress = outcome.progress
        return cls(
            number,
            target,
            outcome.kind,
            None if progress is None else progress.state,
            None if progress is None else progress.error_code,
            None if outcome.error is None else str(outcome.error),
            outcome.polls,
            outcome.elapsed,
            outcome.recovery,
        )


def _spec_value(_: object, __: object, value: object) -> object:
    return value.value if isinstance(value, enum.Enum) else value


def target_line(n: int, target: FaultTarget) -> dict[str, Any]:
    """The journal line of target *n*."""
    spec = attrs.asdict(target.spec, value_serializer=_spec_value)
    return {"event": "target", "n": n, **ref_fields(target.ref), "spec": spec}


def target_of(line: dict[str, Any], version: int) -> FaultTarget:
    """The target a journal line of format *version* names (``KeyError``/``ValueError``/``TypeError`` if none)."""
    if version == 1:
        kind = _V1_KINDS[line["kind"]]
        spec_fields = dict(line.get("params") or {})
    else:
        kind = OperationType(line["type"])
        spec_fields = dict(line.get("spec") or {})
    if kind is OperationType.NODE_TRANSITION:
        ref = OperationRef.node_transition(line["node_name"], line["operation_id"])
    else:
        ref = OperationRef(line["service_id"], line["partition_id"], line["operation_id"], kind=kind)
    return FaultTarget(ref, KINDS[kind].spec(**spec_fields))


def result_line(result: RunResult) -> dict[str, Any]:
    """The journal line of a target's result."""
    return {
        "event": "outcome",
        "n": result.number,
        "outcome": result.outcome.value,
        "state": None if result.state is None else result.state.value,
        "error_code": result.error_code,
        "error": result.error,
        "polls": result.polls,
        "elapsed": result.elapsed,
        **_recovery_line(result.recovery),
    }


def _recovery_line(recovery: Recovery | None) -> dict[str, Any]:
    if recovery is None:
        return {}
    return {
        "recovered": recovery.recovered,
        "recovery_s": recovery.elapsed,
        "recovery_reason": recovery.reason,
        "recovery_checks": recovery.checks,
    }


def _recovery_of(line: dict[str, Any], ref: OperationRef) -> Recovery | None:
    recovered = line.get("recovered")
    if type(recovered) is not bool:
        return None
    reason = line.get("recovery_reason")
    return Recovery(
        ref,
        recovered,
        float(line.get("recovery_s") or 0.0),
        None if reason is None else str(reason),
        int(line.get("recovery_checks") or 0),
    )


def result_of(line: dict[str, Any], target: FaultTarget, version: int) -> RunResult:
    """The result a journal line of format *version* holds, for *target*."""
    fields = dict(line.get("record") or {}) if version == 1 else line
    state = fields.get("state")
    code = fields.get("error_code")
    error = fields.get("error")
    return RunResult(
        int(line["n"]),
        target,
        OutcomeKind(fields.get("outcome" if version > 1 else "kind", "failed")),
        None if state is None else _STATE_BY_WIRE.get(str(state), OperationState.UNKNOWN),
        code if type(code) is int else None,
        None if error is None else str(error),
        int(fields.get("polls") or 0),
        float(fields.get("elapsed" if version > 1 else "elapsed_s") or 0.0),
        _recovery_of(fields, target.ref) if version > 1 else None,
    )


@attrs.define
class TargetState:
    """What the journal says of one target."""

    target: FaultTarget
    intent: bool = False
    intent_at: float | None = None  # wall-clock seconds when the intent was written (format 3)
    accepted: bool = False
    rejected: str | None = None
    state: str | None = None
    result: RunResult | None = None
    accepted_at: float | None = None  # wall-clock seconds of those records (format 3; for reports)
    ended_at: float | None = None


class Journal:
    """An open journal file: its lock, its lines so far, and appends (``sync()`` makes them durable)."""

    def __init__(self, path: Path, file: Any, endpoint: str, targets: list[TargetState], notices: list[str]) -> None:
        self.path, self._file, self.endpoint, self.targets, self.notices = path, file, endpoint, targets, notices
        self.gates = Gates()
        self.aborted: str | None = None  # why the run stopped starting, if it did

    # --- opening ---------------------------------------------------------------------------

    @classmethod
    def create(cls, path: str | os.PathLike[str], endpoint: str) -> Journal:
        """Start a new journal at *path* (it must not exist, or be empty); locked until closed."""
        target = Path(path)
        try:
            file = open(target, "a+b")  # noqa: SIM115 - held open (and locked) until close()
        except OSError as exc:
            raise JournalError(f"journal {str(target)!r} cannot be written: {exc.strerror or exc}") from None
        if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
            file.close()
            raise JournalError(f"journal {str(target)!r} is not a regular file (a journal must survive a crash)")
        _lock(file, target)
        file.seek(0)
        existing = file.read()
        if existing and not _cut_plan(existing):
            file.close()
            raise JournalError(f"journal {str(target)!r} already exists: resume it, or choose a new path")
        if existing:  # an earlier create died while writing its plan: nothing of it was started
            logger.warning("journal %r held a plan cut short (nothing of it was started); it is replaced", str(target))
            file.truncate(0)
        header = {
            "v": JOURNAL_VERSION,
            "event": "journal",
            "endpoint": endpoint,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        journal = cls(target, file, endpoint, [], [])
        try:
            journal._append(header)
            journal.sync()
        except JournalError:
            file.close()
            raise
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
        if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
            file.close()
            raise JournalError(f"journal {str(target)!r} is not a regular file")
        try:
            endpoint, targets, notices, good_end, run = _read(file.read(), target)
        except JournalError:
            file.close()
            raise
        file.seek(good_end)
        file.truncate()  # drop a cut last line, so appends start on a line of their own
        journal = cls(target, file, endpoint, targets, notices)
        journal.gates = run.get("gates", Gates())
        journal.aborted = run.get("aborted")
        return journal

    # --- writing -----------------------------------------------------------------------------

    def _append(self, record: dict[str, Any]) -> None:
        try:
            self._file.write(json.dumps(record, separators=(", ", ": ")).encode() + b"\n")
        except OSError as exc:
            raise self._unwritable(exc) from None

    def _unwritable(self, exc: OSError) -> JournalError:
        return JournalError(f"journal {str(self.path)!r} cannot be written: {exc.strerror or exc}")

    def add_targets(self, targets: Iterable[FaultTarget]) -> list[int]:
        """Append targets to the plan, closed by a "planned" record; return their numbers.

        A crash before that record leaves a plan a resume recognises as cut short.
        """
        added = []
        for target in targets:
            n = len(self.targets)
            self._append(target_line(n, target))
            self.targets.append(TargetState(target))
            added.append(n)
        self._append({"event": "planned", "count": len(self.targets)})
        return added

    def set_gates(self, gates: Gates) -> None:
        self.gates = gates
        self._append({"event": "gates", **attrs.asdict(gates)})

    def abort(self, reason: str) -> None:
        self.aborted = reason
        self._append({"event": "aborted", "reason": reason})

    def intents(self, numbers: Iterable[int]) -> None:
        now = wall_time()
        for n in numbers:
            self.targets[n].intent, self.targets[n].intent_at = True, now
            self._append({"event": "intent", "n": n, "at": round(now, 3)})

    def accepted(self, n: int) -> None:
        now = wall_time()
        self.targets[n].accepted, self.targets[n].accepted_at = True, now
        self._append({"event": "accepted", "n": n, "at": round(now, 3)})

    def rejected(self, n: int, error: str) -> None:
        self.targets[n].rejected = error
        self._append({"event": "rejected", "n": n, "error": error})

    def state(self, n: int, state: str) -> None:
        self.targets[n].state = state
        self._append({"event": "state", "n": n, "state": state})

    def outcome(self, result: RunResult) -> None:
        now = wall_time()
        self.targets[result.number].result, self.targets[result.number].ended_at = result, now
        self._append({**result_line(result), "at": round(now, 3)})

    def sync(self) -> None:
        """Flush and fsync: what was appended so far survives a crash."""
        try:
            self._file.flush()
            os.fsync(self._file.fileno())
        except OSError as exc:
            raise self._unwritable(exc) from None

    def flush(self) -> None:
        try:
            self._file.flush()
        except OSError as exc:
            raise self._unwritable(exc) from None

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


def _read(
    data: bytes, path: Path, *, lenient: bool = False
) -> tuple[str, list[TargetState], list[str], int, dict[str, Any]]:
    """Read a journal's bytes; *lenient* (for reports): a plan cut short is a notice, not an error."""
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
    version = JOURNAL_VERSION
    targets: list[TargetState] = []
    run: dict[str, Any] = {}
    planned: int | None = None  # the plan's size at its last "planned" record (format 3)
    planned_end = 0  # the byte offset just after that record
    offset = 0
    for number, raw in enumerate(complete, start=1):
        offset += len(raw) + 1
        where = f"journal {str(path)!r} line {number}"
        try:
            record = json.loads(raw)
        except ValueError:
            raise JournalError(f"{where}: not a JSON line of an sf_progress journal") from None
        if not isinstance(record, dict):
            raise JournalError(f"{where}: not an sf_progress journal record")
        if number == 1:
            if "journal" not in (record.get("event"), record.get("type")):
                raise JournalError(f"journal {str(path)!r}: line 1 is not an sf_progress journal header")
            given = record.get("v")
            if not isinstance(given, int) or not 1 <= given <= JOURNAL_VERSION:
                raise JournalError(
                    f"journal {str(path)!r} is of format version {given!r}; this sf_progress reads 1 to "
                    f"{JOURNAL_VERSION}: upgrade sf_progress"
                )
            version = given
            endpoint = str(record.get("endpoint", ""))
            continue
        # A version-1 journal resumed here gets its new lines in version 2's spelling.
        spelled = 2 if version > 1 or "event" in record else 1
        event = record.get("event" if spelled > 1 else "type")
        if event == "planned":
            count = record.get("count")
            if type(count) is not int or count != len(targets):
                raise JournalError(f"{where}: a 'planned' record that does not match the targets before it")
            planned, planned_end = count, offset
            continue
        if event in _RUN_EVENTS:
            try:
                run[event] = Gates(**{k: v for k, v in record.items() if k != "event"}) if event == "gates" else (
                    str(record.get("reason", ""))
                )
            except (TypeError, ValueError) as exc:
                raise JournalError(f"{where}: a record this journal cannot hold ({exc})") from None
            continue
        n = record.get("n")
        if event not in _EVENTS or type(n) is not int or n < 0:
            raise JournalError(f"{where}: not an sf_progress journal record")
        if event != "target" and version >= 3 and (planned is None or n >= planned):
            raise JournalError(f"{where}: a record of target {n}, which is not in the plan")
        try:
            if event == "target":
                if n != len(targets):
                    raise JournalError(f"{where}: target {n} out of order")
                targets.append(TargetState(target_of(record, spelled)))
                continue
            state = targets[n]
            if event == "outcome":
                state.result = result_of(record, state.target, spelled)
                state.ended_at = _at(record)
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            if isinstance(exc, JournalError):
                raise
            detail = f" ({exc})" if isinstance(exc, (ValueError, TypeError)) and str(exc) else ""
            raise JournalError(f"{where}: a record this journal cannot hold{detail}") from None
        if event == "intent":
            state.intent = True
            state.intent_at = _at(record)
        elif event == "accepted":
            state.accepted = True
            state.accepted_at = _at(record)
        elif event == "rejected":
            state.rejected = str(record.get("error", ""))
        elif event == "state":
            state.state = str(record.get("state"))
    run["version"] = version
    if version >= 3 and planned is None and lenient:
        run["cut_plan"] = True
        notices.append(f"journal {str(path)!r}: its plan was cut short: the run died while writing it")
    elif version >= 3 and planned is None:
        raise JournalError(
            f"journal {str(path)!r}: its plan was cut short ({len(targets)} target(s) written, and no 'planned' "
            "record): the run that wrote it died before it was complete, and nothing of it was started — "
            "create the run again (the same path may be used)"
        )
    if version >= 3 and planned is not None and len(targets) > planned:
        # Targets added after the last whole plan, cut before their "planned" record: never
        # started (their intents come after it); dropped, and the file cut back to that record.
        notices.append(
            f"journal {str(path)!r}: {len(targets) - planned} target(s) added last were cut short before they "
            "were planned; they were never started and are dropped"
        )
        del targets[planned:]
        good_end = min(good_end, planned_end)
    return endpoint, targets, notices, good_end, run


def _at(record: dict[str, Any]) -> float | None:
    at = record.get("at")
    return float(at) if isinstance(at, (int, float)) and not isinstance(at, bool) else None


def _cut_plan(data: bytes) -> bool:
    """Whether *data* is a format-3 journal whose first plan never completed (so nothing of it was started)."""
    lines = [line for line in data.split(b"\n") if line.strip()]
    records = []
    for index, line in enumerate(lines):
        try:
            records.append(json.loads(line))
        except ValueError:
            if index != len(lines) - 1:  # only the last line may be cut short
                return False
    if not records:
        return False
    header, records = records[0], records[1:]
    if not isinstance(header, dict) or header.get("event") != "journal" or header.get("v") != JOURNAL_VERSION:
        return False
    return all(isinstance(r, dict) and r.get("event") in ("target", "gates") for r in records)


def lines_of(path: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """The journal's records (for people and tools; the run reads it through ``Journal.open``)."""
    with open(path, "rb") as file:
        for raw in file:
            if raw.endswith(b"\n"):
                yield json.loads(raw)
