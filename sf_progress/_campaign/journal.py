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
     "error": null, "polls": 2, "elapsed": 12.5}       (+ "reason": "refused" | "aborted" | "wait failed")

Format 2 had no ``planned`` records and no intent times (its plans are taken as whole).
Journals of format version 1 (``type`` for the event, ``kind`` for the fault kind in its
command-line spelling, ``params``, and an outcome's ``record``) are read too; one resumed
here gets its new lines in version 2's spelling (each line is read by its own).  Targets and
results go to and from lines in exactly one place each: ``_results.target_line`` /
``target_of``, ``result_line`` / ``result_of`` (an outcome line may carry a ``reason``; one
without it, of an older journal, gets it from its words there).  This module only reads and
writes the file (and holds its lock), and gives its public view, :func:`read_journal`;
``run.py`` decides.
"""

from __future__ import annotations

import json
import logging
import os
import stat
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import attrs

from .._config import wall_time
from .._errors import JournalError
from .._ids import redacted
from .._platform import lock_exclusive
from .._targets import FaultTarget
from .results import Gates, RunResult, RunSnapshot, TargetState, result_line, result_of, target_line, target_of

__all__ = ["JOURNAL_VERSION", "Journal", "JournalError", "read_journal"]

logger = logging.getLogger("sf_progress")

JOURNAL_VERSION = 3
_EVENTS = frozenset({"target", "intent", "accepted", "rejected", "state", "outcome"})
#: Records of the whole run (no target number): its gates, why it stopped starting, and
#: "planned" (the plan so far is whole: ``count`` targets), which closes every addition to it.
_RUN_EVENTS = frozenset({"gates", "aborted", "planned"})


class Journal:
    """An open journal file: its lock, its lines so far, and appends (``sync()`` makes them durable)."""

    def __init__(self, path: Path, file: Any, endpoint: str, targets: list[TargetState], notices: list[str]) -> None:
        self.path, self._file, self.endpoint, self.targets, self.notices = path, file, endpoint, targets, notices
        self.gates = Gates()
        self.aborted: str | None = None  # why the run stopped starting, if it did
        self.created = ""

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
        journal.created = str(header["created"])
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
        journal.created = run.get("created", "")
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

    def snapshot(self) -> RunSnapshot:
        """The run as this open journal holds it now."""
        return RunSnapshot(
            path=str(self.path),
            endpoint=self.endpoint,
            created=self.created,
            version=JOURNAL_VERSION,
            gates=self.gates,
            aborted=self.aborted,
            targets=tuple(state.snapshot(n) for n, state in enumerate(self.targets)),
            notices=tuple(self.notices),
            running=not self._file.closed,
        )

    def close(self) -> None:
        if not self._file.closed:
            self.sync()
            self._file.close()  # also releases the lock



#: A lock held this long is a run's, not a report's look (``read_journal`` takes it for microseconds).
_LOCK_PATIENCE = 1.0


def _lock(file: Any, path: Path) -> None:
    """Take the journal's lock, or ``JournalError`` if a run holds it.

    A report that looks whether a run is writing the journal takes the lock for an instant;
    that is not a run: the lock is tried again for up to ``_LOCK_PATIENCE`` seconds.
    """
    give_up_at = time.monotonic() + _LOCK_PATIENCE
    while True:
        try:
            lock_exclusive(file.fileno())
            return
        except OSError:
            if time.monotonic() >= give_up_at:
                file.close()
                raise JournalError(f"journal {str(path)!r} is in use by another run (it is locked)") from None
            time.sleep(0.01)


def _read(
    data: bytes, path: Path, *, lenient: bool = False
) -> tuple[str, list[TargetState], list[str], int, dict[str, Any]]:
    """Read a journal's bytes; *lenient* (for reports): a plan cut short is a notice, not an error."""
    reader = _Reader(path)
    lines = data.split(b"\n")
    good_end = len(data)
    if lines and lines[-1] != b"":  # the last line has no newline: the crash came mid-write
        reader.notices.append(f"{reader.name}: its last line was cut short (a crash mid-write); it is ignored")
        good_end -= len(lines[-1])
    complete = lines[:-1]
    if not complete:
        raise JournalError(f"{reader.name} is empty")
    offset = 0
    for number, raw in enumerate(complete, start=1):
        offset += len(raw) + 1
        reader.line(number, raw, offset)
    return reader.endpoint, reader.targets, reader.notices, reader.finish(lenient, good_end), reader.run


class _Reader:
    """Reads a journal line by line: its header, the run's records, and each target's."""

    def __init__(self, path: Path) -> None:
        self.name = f"journal {str(path)!r}"
        self.notices: list[str] = []
        self.endpoint = ""
        self.version = JOURNAL_VERSION
        self.targets: list[TargetState] = []
        self.run: dict[str, Any] = {}
        self.planned: int | None = None  # the plan's size at its last "planned" record (format 3)
        self.planned_end = 0  # the byte offset just after that record

    def line(self, number: int, raw: bytes, offset: int) -> None:
        where = f"{self.name} line {number}"
        try:
            record = json.loads(raw)
        except ValueError:
            raise JournalError(f"{where}: not a JSON line of an sf_progress journal") from None
        if not isinstance(record, dict):
            raise JournalError(f"{where}: not an sf_progress journal record")
        if number == 1:
            self.header(record)
            return
        # A version-1 journal resumed here gets its new lines in version 2's spelling.
        spelled = 2 if self.version > 1 or "event" in record else 1
        event = record.get("event" if spelled > 1 else "type")
        if event == "planned":
            count = record.get("count")
            if type(count) is not int or count != len(self.targets):
                raise JournalError(f"{where}: a 'planned' record that does not match the targets before it")
            self.planned, self.planned_end = count, offset
        elif event in _RUN_EVENTS:
            self.run_record(where, event, record)
        else:
            self.target_record(where, event, record, spelled)

    def header(self, record: dict[str, Any]) -> None:
        if "journal" not in (record.get("event"), record.get("type")):
            raise JournalError(f"{self.name}: line 1 is not an sf_progress journal header")
        given = record.get("v")
        if not isinstance(given, int) or not 1 <= given <= JOURNAL_VERSION:
            raise JournalError(
                f"{self.name} is of format version {given!r}; this sf_progress reads 1 to "
                f"{JOURNAL_VERSION}: upgrade sf_progress"
            )
        self.version = given
        self.endpoint = str(record.get("endpoint", ""))
        self.run["created"] = str(record.get("created", ""))

    def run_record(self, where: str, event: str, record: dict[str, Any]) -> None:
        try:
            if event == "gates":
                self.run[event] = Gates(**{k: v for k, v in record.items() if k != "event"})
            else:
                self.run[event] = str(record.get("reason", ""))
        except (TypeError, ValueError) as exc:
            raise JournalError(f"{where}: a record this journal cannot hold ({exc})") from None

    def target_record(self, where: str, event: object, record: dict[str, Any], spelled: int) -> None:
        n = record.get("n")
        if event not in _EVENTS or type(n) is not int or n < 0:
            raise JournalError(f"{where}: not an sf_progress journal record")
        if event != "target" and self.version >= 3 and (self.planned is None or n >= self.planned):
            raise JournalError(f"{where}: a record of target {n}, which is not in the plan")
        try:
            if event == "target":
                if n != len(self.targets):
                    raise JournalError(f"{where}: target {n} out of order")
                self.targets.append(TargetState(target_of(record, spelled)))
                return
            state = self.targets[n]
            if event == "outcome":
                state.result = result_of(record, state.target, spelled)
                state.ended_at = _at(record)
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            if isinstance(exc, JournalError):
                raise
            detail = f" ({exc})" if isinstance(exc, (ValueError, TypeError)) and str(exc) else ""
            raise JournalError(f"{where}: a record this journal cannot hold{detail}") from None
        _apply(state, event, record)

    def finish(self, lenient: bool, good_end: int) -> int:
        """Check the plan is whole (a cut one is an error, or with *lenient* a notice); return the good end."""
        self.run["version"] = self.version
        planned = self.planned
        if self.version < 3:
            return good_end
        if planned is None and lenient:
            self.run["cut_plan"] = True
            self.notices.append(f"{self.name}: its plan was cut short: the run died while writing it")
        elif planned is None:
            raise JournalError(
                f"{self.name}: its plan was cut short ({len(self.targets)} target(s) written, and no 'planned' "
                "record): the run that wrote it died before it was complete, and nothing of it was started — "
                "create the run again (the same path may be used)"
            )
        elif len(self.targets) > planned:
            # Targets added after the last whole plan, cut before their "planned" record: never
            # started (their intents come after it); dropped, and the file cut back to that record.
            self.notices.append(
                f"{self.name}: {len(self.targets) - planned} target(s) added last were cut short before they "
                "were planned; they were never started and are dropped"
            )
            del self.targets[planned:]
            good_end = min(good_end, self.planned_end)
        return good_end


def _apply(state: TargetState, event: object, record: dict[str, Any]) -> None:
    """A target's intent, acceptance, refusal or state record, on its state."""
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


def _at(record: dict[str, Any]) -> float | None:
    """A record's wall-clock time, if it is a plausible one (a finite POSIX time before the year 5000)."""
    at = record.get("at")
    if isinstance(at, bool) or not isinstance(at, (int, float)) or not 0.0 < at < 95_000_000_000.0:
        return None  # (NaN fails the comparison too)
    return float(at)


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


#: The largest journal read for a view (a million targets take a few hundred MiB).
_MAX_READ = 2 << 30


def read_journal(path: str | os.PathLike[str]) -> RunSnapshot:
    """Read a journal's run without changing it: finished, still being written, or cut by a crash.

    Whether a run holds it now is tried with the journal's lock, taken and released at once
    (never held while reading).

    Args:
        path: The journal (``~`` is expanded).

    Returns:
        The :class:`RunSnapshot`: every target's status and result, the gates, the abort.

    Raises:
        JournalError: The file is not an sf_progress journal, or cannot be read.
    """
    target = Path(os.path.expanduser(path))
    try:
        info = target.stat()  # never opened unless it is a regular file: a FIFO would hang, /dev/zero never end
        if not stat.S_ISREG(info.st_mode):
            raise JournalError(f"journal {str(target)!r} is not a regular file")
        if info.st_size > _MAX_READ:
            size = f"larger than {_MAX_READ >> 20} MiB"
            raise JournalError(f"journal {str(target)!r} is {size}: not an sf_progress journal")
        data = target.read_bytes()
    except OSError as exc:
        raise JournalError(f"journal {str(target)!r} cannot be read: {exc.strerror or exc}") from None
    endpoint, states, notices, _, run = _read(data, target, lenient=True)
    return RunSnapshot(
        running=_held_by_a_run(target),
        path=str(target),
        endpoint=redacted(endpoint),  # shown in reports: never a password a header may hold
        created=run.get("created", ""),
        version=int(run["version"]),
        gates=run.get("gates", Gates()),
        aborted=run.get("aborted"),
        targets=tuple(state.snapshot(n) for n, state in enumerate(states)),
        notices=tuple(notices),
        cut_plan=bool(run.get("cut_plan")),
    )


def _held_by_a_run(path: Path) -> bool:
    """Whether another process holds the journal's lock (a run is writing it now)."""
    try:
        with open(path, "rb") as file:
            try:
                lock_exclusive(file.fileno())
            except OSError:
                return True
    except OSError:
        return False
    return False  # closing the file released the lock we took
