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
    {"event": "state", "n": 0, "state": "RollingBack", "at": 1764633605.0}
    {"event": "outcome", "n": 0, "outcome": "completed", "state": "Completed", "error_code": 0,
     "error": null, "polls": 2, "elapsed": 12.5}       (+ "reason": "refused" | "aborted" | "wait failed")

A resume first writes ``{"event": "resumed", "at": ...}``: the time since the last record
before it is a downtime, when no client watched (reports bound the durations of the faults
that ended in it).  Format 2 had no ``planned`` records and no intent times (its plans are
taken as whole).
Journals of format version 1 (``type`` for the event, ``kind`` for the fault kind in its
command-line spelling, ``params``, and an outcome's ``record``) are read too; one resumed
here gets its new lines in version 2's spelling (each line is read by its own).  Targets and
results go to and from lines in exactly one place each: ``results.target_line`` /
``target_of``, ``result_line`` / ``result_of`` (an outcome line may carry a ``reason``; one
without it, of an older journal, gets it from its words there); lines are read and checked
in ``reading.py``.  This module reads and writes the file (and holds its lock), and gives its
public view, :func:`read_journal`; ``run.py`` decides.
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
from .reading import JOURNAL_VERSION, cut_plan, read_records
from .results import Downtime, Gates, RunResult, RunSnapshot, TargetState, result_line, target_line

__all__ = ["JOURNAL_VERSION", "Journal", "JournalError", "read_journal"]

logger = logging.getLogger("sf_progress")

class Journal:
    """An open journal file: its lock, its lines so far, and appends (``sync()`` makes them durable)."""

    def __init__(self, path: Path, file: Any, endpoint: str, targets: list[TargetState], notices: list[str]) -> None:
        self.path, self._file, self.endpoint, self.targets, self.notices = path, file, endpoint, targets, notices
        self.gates = Gates()
        self.aborted: str | None = None  # why the run stopped starting, if it did
        self.created = ""
        self.cluster: str | None = None  # the cluster intended, when the run named one
        self.downtimes: list[Downtime] = []  # each stop (or kill) and resume
        self.scenario_records: list[dict[str, Any]] = []  # a failover scenario's records, when it is one

    # --- opening ---------------------------------------------------------------------------

    @classmethod
    def create(cls, path: str | os.PathLike[str], endpoint: str, cluster: str | None = None) -> Journal:
        """Start a new journal at *path* (it must not exist, or be empty); locked until closed.

        *cluster*: the cluster intended (checked before the run's first start), kept in the header.
        """
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
        if existing and not cut_plan(existing):
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
            **({} if cluster is None else {"cluster": cluster}),
        }
        journal = cls(target, file, endpoint, [], [])
        journal.created, journal.cluster = str(header["created"]), cluster
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
            endpoint, targets, notices, good_end, run = read_records(file.read(), target)
        except JournalError:
            file.close()
            raise
        file.seek(good_end)
        file.truncate()  # drop a cut last line, so appends start on a line of their own
        journal = cls(target, file, endpoint, targets, notices)
        journal.gates = run.get("gates", Gates())
        journal.aborted = run.get("aborted")
        journal.created = run.get("created", "")
        journal.cluster = run.get("cluster")
        journal.downtimes = list(run.get("downtimes", ()))
        journal.scenario_records = list(run.get("scenario", ()))
        now = wall_time()
        journal.downtimes.append(Downtime(run.get("last_at"), now))
        try:  # made durable with the run's next records (a resume that sends nothing loses nothing without it)
            journal._append({"event": "resumed", "at": round(now, 3)})
            journal.flush()
        except JournalError:
            file.close()
            raise
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

    def scenario(self, record: dict[str, Any]) -> None:
        """A failover scenario's record (``what``: its definition, a step, a validation, its end), made durable."""
        self.scenario_records.append(record)
        self._append({"event": "scenario", **record})
        self.sync()

    def note(self, text: str) -> None:
        """A line about the run (journaled, shown in its reports)."""
        self.notices.append(f"journal {str(self.path)!r}: {text}")
        self._append({"event": "note", "text": text})

    def waived(self, rules: list[str]) -> None:
        """The safety rules the run's client waives (journaled for its reports)."""
        self._append({"event": "waived", "rules": rules})

    def abort(self, reason: str) -> None:
        self.aborted = reason
        self._append({"event": "aborted", "reason": reason})

    def intents(self, numbers: Iterable[int]) -> None:
        now = wall_time()
        for n in numbers:
            self.targets[n].intent, self.targets[n].intent_at = True, now
            self._append({"event": "intent", "n": n, "at": round(now, 3)})

    def prepared(self, n: int, target: FaultTarget) -> None:
        """Target *n*'s intent, with what its target looked like (a verified fault: its baseline)."""
        now = wall_time()
        state = self.targets[n]
        state.target, state.intent, state.intent_at = target, True, now
        baseline = {} if target.baseline is None else {"baseline": target.baseline.as_dict()}
        self._append({"event": "intent", "n": n, "at": round(now, 3), **baseline})

    def accepted(self, n: int) -> None:
        now = wall_time()
        self.targets[n].accepted, self.targets[n].accepted_at = True, now
        self._append({"event": "accepted", "n": n, "at": round(now, 3)})

    def rejected(self, n: int, error: str) -> None:
        self.targets[n].rejected = error
        self._append({"event": "rejected", "n": n, "error": error})

    def state(self, n: int, state: str) -> None:
        now = wall_time()
        self.targets[n].state, self.targets[n].state_at = state, now
        self._append({"event": "state", "n": n, "state": state, "at": round(now, 3)})

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
            downtimes=tuple(self.downtimes),
            cluster=self.cluster,
            scenario=tuple(self.scenario_records),
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
    running = _held_by_a_run(target)  # first: a plan read unfinished is then one being written, not cut
    endpoint, states, notices, _, run = read_records(data, target, lenient=True, live=running)
    return RunSnapshot(
        running=running,
        path=str(target),
        endpoint=redacted(endpoint),  # shown in reports: never a password a header may hold
        created=run.get("created", ""),
        version=int(run["version"]),
        gates=run.get("gates", Gates()),
        aborted=run.get("aborted"),
        targets=tuple(state.snapshot(n) for n, state in enumerate(states)),
        notices=tuple(notices),
        cut_plan=bool(run.get("cut_plan")),
        downtimes=tuple(run.get("downtimes", ())),
        cluster=run.get("cluster"),
        scenario=tuple(run.get("scenario", ())),
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
