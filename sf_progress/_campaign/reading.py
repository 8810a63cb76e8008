"""Reading a journal's bytes: its header, the run's records and each target's, checked line by line.

``read_records`` is used by ``Journal.open`` (to resume) and ``read_journal`` (leniently: a
report's view); ``cut_plan`` by ``Journal.create`` (an earlier create that died writing its
plan may be replaced).  The line format is ``journal.py``'s docstring.  No I/O here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .._baseline import Baseline
from .._errors import JournalError
from .results import Downtime, Gates, TargetState, result_of, target_of

__all__ = ["JOURNAL_VERSION", "cut_plan", "read_records"]

JOURNAL_VERSION = 3
_EVENTS = frozenset({"target", "intent", "accepted", "rejected", "state", "outcome"})
#: Records of the whole run (no target number): its gates, why it stopped starting, "planned" (the
#: plan so far is whole: ``count`` targets), which closes every addition to it, and "resumed".
_RUN_EVENTS = frozenset({"gates", "aborted", "planned", "resumed", "waived", "scenario", "note"})


def read_records(
    data: bytes, path: Path, *, lenient: bool = False, live: bool = False
) -> tuple[str, list[TargetState], list[str], int, dict[str, Any]]:
    """Read a journal's bytes; *lenient* (for reports): a plan cut short is a notice, not an error.

    *live*: a run holds the journal, so a plan without its "planned" record is being written, not cut.
    """
    reader = _Reader(path)
    lines = data.split(b"\n")
    good_end = len(data)
    if lines and lines[-1] != b"":  # the last line has no newline: the crash came mid-write (or, live, the write)
        if not live:
            reader.notices.append(f"{reader.name}: its last line was cut short (a crash mid-write); it is ignored")
        good_end -= len(lines[-1])
    complete = lines[:-1]
    if not complete:
        raise JournalError(f"{reader.name} is empty")
    offset = 0
    for number, raw in enumerate(complete, start=1):
        offset += len(raw) + 1
        reader.line(number, raw, offset)
    return reader.endpoint, reader.targets, reader.notices, reader.finish(lenient, good_end, live), reader.run


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
        self.last_at: float | None = None  # the latest time a record holds, so far

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
        at = _at(record)
        if record.get("event") == "resumed":
            if at is None:
                raise JournalError(f"{where}: a 'resumed' record without its time")
            self.run.setdefault("downtimes", []).append(Downtime(self.last_at, at))
            self.last_at = at
            return
        if at is not None:
            self.last_at = at if self.last_at is None else max(self.last_at, at)
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
        cluster = record.get("cluster")
        self.run["cluster"] = None if cluster is None else str(cluster)

    def run_record(self, where: str, event: str, record: dict[str, Any]) -> None:
        try:
            if event == "gates":
                self.run[event] = Gates(**{k: v for k, v in record.items() if k != "event"})
            elif event == "scenario":  # a failover scenario's own records (its definition, steps, validations)
                self.run.setdefault("scenario", []).append({k: v for k, v in record.items() if k != "event"})
            elif event == "note":  # a line about the run (how its targets were chosen...): said in its reports
                self.notices.append(f"{self.name}: {record.get('text', '')}")
            elif event == "waived":  # the safety rules the run's client waived: said in its reports
                rules = ", ".join(str(rule) for rule in record.get("rules") or []) or "none"
                note = f"{self.name}: safety rules waived: {rules}"
                if note not in self.notices:
                    self.notices.append(note)
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
            if event == "intent" and isinstance(record.get("baseline"), dict):  # a verified fault's target, as it was
                state.target = state.target.with_baseline(Baseline.from_dict(record["baseline"]))
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            if isinstance(exc, JournalError):
                raise
            detail = f" ({exc})" if isinstance(exc, (ValueError, TypeError)) and str(exc) else ""
            raise JournalError(f"{where}: a record this journal cannot hold{detail}") from None
        _apply(state, event, record)

    def finish(self, lenient: bool, good_end: int, live: bool) -> int:
        """Check the plan is whole (a cut one is an error, or with *lenient* a notice); return the good end."""
        self.run["version"] = self.version
        self.run["last_at"] = self.last_at
        planned = self.planned
        if self.version < 3:
            return good_end
        if planned is None and lenient and live:
            self.notices.append(f"{self.name}: its run is writing its plan ({len(self.targets)} target(s) so far)")
        elif planned is None and lenient:
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
            # (While a run holds the journal they are being added: not shown yet, nothing to say.)
            if not live:
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
        state.state_at = _at(record)


def _at(record: dict[str, Any]) -> float | None:
    """A record's wall-clock time, if it is a plausible one (a finite POSIX time before the year 5000)."""
    at = record.get("at")
    if isinstance(at, bool) or not isinstance(at, (int, float)) or not 0.0 < at < 95_000_000_000.0:
        return None  # (NaN fails the comparison too)
    return float(at)


def cut_plan(data: bytes) -> bool:
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
