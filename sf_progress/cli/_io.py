"""Operations in (JSON lines or CSV, line by line, bad lines reported) and results out.

Input is read as bytes and decoded line by line, so one undecodable line is one bad line.
Regular files are read in blocks on the event loop; pipes, FIFOs and terminals by a daemon
thread, so an idle producer never keeps the process alive after Ctrl-C.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import json
import os
import stat
import sys
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import IO, Any, BinaryIO

import click

from .. import Baseline, FaultTarget, OperationRef
from ._render import kind_of, outcome_record


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

    def feed_bytes(self, raw: bytes) -> Row | None:
        """Decode and parse one line; an undecodable line is a bad line."""
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            self.number += 1
            self.report(f"line {self.number}: not valid UTF-8 (byte {exc.start + 1})")
            return None
        return self.feed(text)

    def feed(self, raw: str) -> Row | None:
        self.number += 1
        if self.number == 1:
            raw = raw.removeprefix("\ufeff")  # a BOM (PowerShell Export-Csv, Excel "CSV UTF-8")
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
            except RecursionError:
                self.report(f"line {number}: JSON nested too deep")
                return None
            if not isinstance(data, dict):
                self.report(f"line {number}: expected a JSON object with service_id, partition_id, operation_id")
                return None
            # (an object -- a verified fault's baseline -- stays JSON text)
            return Row(number, {k: json.dumps(v) if isinstance(v, dict) else str(v)
                                for k, v in data.items() if v is not None})
        values = next(csv.reader(io.StringIO(text)))
        if self.header is None:
            header = [v.strip() for v in values]
            if ("service_id" not in header or "partition_id" not in header) and "node_name" not in header:
                self.report(
                    f"line {number}: a CSV header with service_id, partition_id[, operation_id] "
                    "(or node_name for node transitions) is needed"
                )
                return None
            self.header = header
            return None
        if len(values) != len(self.header):
            self.report(f"line {number}: {len(values)} CSV fields, the header has {len(self.header)}")
            return None
        return Row(number, {k: v.strip() for k, v in zip(self.header, values, strict=True) if v.strip()})


def to_ref(row: Row, report: Callable[[str], None]) -> OperationRef | None:
    """The row as an OperationRef (of the kind its ``type`` field names), or ``None`` after reporting why not."""
    fields = row.fields
    try:
        kind = kind_of(fields.get("type", "restart"))
    except ValueError as exc:
        report(f"line {row.line}: {exc}")
        return None
    where = [p for p in FaultTarget.parameters(kind) if p.target]
    missing = [f for f in [*(p.column for p in where), "operation_id"] if f not in fields]
    if missing:
        report(f"line {row.line}: missing {', '.join(missing)}")
        return None
    try:
        target: dict[str, Any] = {p.name: fields[p.column] for p in where}
        ref = OperationRef(kind=kind, operation_id=fields["operation_id"], **target)
        baseline = fields.get("baseline")
        if kind.verified and baseline is not None:  # what the start command printed: watched as it was started
            data = json.loads(baseline)
            if not isinstance(data, dict):
                raise TypeError("baseline must be a JSON object")
            ref = ref.with_baseline(Baseline.from_dict(data))
        return ref
    except (ValueError, TypeError) as exc:
        report(f"line {row.line}: {exc}")
        return None


@contextlib.contextmanager
def open_input(path: str) -> Iterator[BinaryIO]:
    """Open ``--from``'s file (``-``: standard input) for reading bytes, or raise a usage error."""
    if path == "-":
        binary: BinaryIO | None = getattr(sys.stdin, "buffer", None)
        try:
            if binary is None or binary.closed:
                raise ValueError
            with contextlib.suppress(io.UnsupportedOperation):  # an in-memory stdin has no fd
                os.fstat(binary.fileno())
        except (ValueError, OSError):
            raise click.UsageError("--from -: standard input is closed") from None
        yield binary  # not ours to close
        return
    try:
        file = open(os.path.expanduser(path), "rb")  # noqa: SIM115 - closed below, after the command
    except OSError as exc:
        raise click.BadParameter(f"cannot read {path!r}: {exc.strerror or exc}", param_hint="--from") from None
    with file:
        yield file


_BLOCK = 1 << 20


async def chunks_from(source: BinaryIO) -> AsyncIterator[bytes]:
    """The bytes of *source* as they arrive: blocks of a regular file, or a pipe's reads."""
    try:
        fd = source.fileno()
        regular = stat.S_ISREG(os.fstat(fd).st_mode)
    except (OSError, ValueError, io.UnsupportedOperation):  # an in-memory stream (tests)
        fd, regular = -1, True
    if regular:
        while chunk := source.read(_BLOCK):
            yield chunk
            await asyncio.sleep(0)
        return
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[bytes | BaseException] = asyncio.Queue()

    def put(item: bytes | BaseException) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is gone: nobody is listening
            loop.call_soon_threadsafe(queue.put_nowait, item)

    def pump() -> None:  # a daemon thread: a blocked read never holds up the exit
        try:
            while chunk := os.read(fd, 65536):
                put(chunk)
        except OSError as exc:
            put(exc)
            return
        put(b"")

    threading.Thread(target=pump, name="sf-progress-input", daemon=True).start()
    while True:
        item = await queue.get()
        if isinstance(item, BaseException):
            raise item
        if not item:
            return
        yield item


async def rows_from(source: BinaryIO, report: Callable[[str], None]) -> AsyncIterator[Row]:
    """Rows of a byte stream as they arrive; bad lines (undecodable ones too) are reported."""
    parser = RowParser(report)
    rest = b""
    async for chunk in chunks_from(source):
        lines = (rest + chunk).split(b"\n")
        rest = lines.pop()
        for index, line in enumerate(lines):
            row = parser.feed_bytes(line)
            if row is not None:
                yield row
            if index % 1024 == 1023:
                await asyncio.sleep(0)  # a large block must not hold the event loop
    if rest:
        row = parser.feed_bytes(rest)
        if row is not None:
            yield row


class OutputFile(click.ParamType):  # type: ignore[type-arg,unused-ignore]
    """A results file: ``~`` expanded, opened at once (an unwritable path fails before anything
    starts), UTF-8 with ``\n`` line ends on every platform (JSON lines read the same everywhere);
    ``-`` is stdout."""

    name = "file"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if not isinstance(value, str):
            return value
        if value == "-":
            return sys.stdout
        try:
            stream = open(os.path.expanduser(value), "w", encoding="utf-8", newline="\n")  # noqa: SIM115
        except OSError as exc:
            self.fail(f"cannot write {value!r}: {exc.strerror or exc}", param, ctx)
        if ctx is not None:
            ctx.call_on_close(lambda: _close_quietly(stream))
        return stream


def _close_quietly(stream: IO[str]) -> None:
    """Close a results file; a write that fails here (a full disk) was already reported with the exit code."""
    try:
        stream.close()
    except OSError:
        with contextlib.suppress(OSError):
            stream.close()


def write_record(stream: IO[str], record: dict[str, Any]) -> None:
    stream.write(json.dumps(record) + "\n")
    stream.flush()  # a results file that cannot take it (a full disk) says so now, not at exit


__all__ = [
    "OutputFile",
    "Row",
    "RowParser",
    "open_input",
    "outcome_record",
    "rows_from",
    "to_ref",
    "write_record",
]
