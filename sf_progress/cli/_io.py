"""Operations in (JSON lines or CSV, line by line, bad lines reported) and results out."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections.abc import AsyncIterator, Callable
from typing import IO, Any

from .. import OperationRef, Outcome

FIELDS = ("service_id", "partition_id", "operation_id")


class Row:
    """One parsed input line: its number and fields."""

    __slots__ = ("fields", "line")

    def __init__(self, line: int, fields: dict[str, str]) -> None:
        self.line, self.fields = line, fields


class RowParser:
    """Parses JSON lines (``{...}`` per line) or CSV with a header, one line at a time.

    Bad lines are passed to *report* with their line number and skipped.
    """

    def __init__(self, report: Callable[[str], None]) -> None:
        self.report = report
        self.header: list[str] | None = None
        self.jsonl = False  # set by the first JSON line: then every line must be JSON
        self.number = 0

    def feed(self, raw: str) -> Row | None:
        self.number += 1
        number, text = self.number, raw.strip()
        if not text or text.startswith("#"):
            return None
        if text.startswith("{") or self.jsonl:
            self.jsonl = self.header is None
            try:
                data = json.loads(text)
            except json.JSONDecodeError as exc:
                self.report(f"line {number}: not valid JSON ({exc.msg})")
                return None
            if not isinstance(data, dict):
                self.report(f"line {number}: expected a JSON object with service_id, partition_id, operation_id")
                return None
            return Row(number, {k: str(v) for k, v in data.items() if v is not None})
        values = next(csv.reader(io.StringIO(text)))
        if self.header is None:
            if "service_id" not in values or "partition_id" not in values:
                self.report(f"line {number}: a CSV header with service_id, partition_id[, operation_id] is needed")
                return None
            self.header = [v.strip() for v in values]
            return None
        if len(values) != len(self.header):
            self.report(f"line {number}: {len(values)} CSV fields, the header has {len(self.header)}")
            return None
        return Row(number, {k: v.strip() for k, v in zip(self.header, values, strict=True) if v.strip()})


def to_ref(row: Row, report: Callable[[str], None]) -> OperationRef | None:
    """The row as an OperationRef, or ``None`` after reporting why it is not one."""
    missing = [f for f in FIELDS if f not in row.fields]
    if missing:
        report(f"line {row.line}: missing {', '.join(missing)}")
        return None
    try:
        return OperationRef(row.fields["service_id"], row.fields["partition_id"], row.fields["operation_id"])
    except (ValueError, TypeError) as exc:
        report(f"line {row.line}: {exc}")
        return None


async def rows_from(source: IO[str], report: Callable[[str], None]) -> AsyncIterator[Row]:
    """Rows of a text stream as they arrive (read in a thread, so a pipe can feed them)."""
    loop = asyncio.get_running_loop()
    parser = RowParser(report)
    while True:
        line = await loop.run_in_executor(None, source.readline)
        if not line:
            return
        row = parser.feed(line)
        if row is not None:
            yield row


def outcome_record(outcome: Outcome) -> dict[str, Any]:
    """One finished operation as a JSON-ready dict."""
    progress = outcome.progress
    return {
        "service_id": outcome.ref.service_id,
        "partition_id": str(outcome.ref.partition_id),
        "operation_id": str(outcome.ref.operation_id),
        "kind": outcome.kind.value,
        "state": None if progress is None else progress.raw_state,
        "error_code": None if progress is None else progress.error_code,
        "error": None if outcome.error is None else str(outcome.error),
        "polls": outcome.polls,
        "elapsed_s": round(outcome.elapsed, 3),
    }


def write_record(stream: IO[str], record: dict[str, Any]) -> None:
    stream.write(json.dumps(record) + "\n")
    stream.flush()
