"""Waiting for a file's operations from the command line (``watch``), result lines, and exit codes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections.abc import AsyncIterator, Callable, Iterable
from typing import IO, Any

from rich.console import Console
from rich.markup import escape

from .. import OperationRef, Outcome, OutcomeKind, ProgressClient, WaitOptions
from ._io import Row, outcome_record, to_ref, write_record
from ._render import ref_record
from ._signals import STOP_SIGNALS, on_signals
from ._ui import BatchView, err_console, summary

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2
EXIT_FAULTED, EXIT_CANCELLED, EXIT_TIMED_OUT, EXIT_NOT_FOUND, EXIT_INTERRUPTED = 3, 4, 5, 6, 130
#: A fault that completed, but whose target did not recover by the deadline (``--until recovered``).
EXIT_UNRECOVERED = 7
#: A safety check forbids faults now (``check``; a gateway of another cluster than ``--cluster``).
EXIT_FORBIDDEN = 8
#: ``chaos watch``: the run had a ValidationFailed or TestError event.
EXIT_CHAOS_FAILED = 9
EXIT_BY_KIND = {
    OutcomeKind.COMPLETED: EXIT_OK,
    OutcomeKind.FAULTED: EXIT_FAULTED,
    OutcomeKind.CANCELLED: EXIT_CANCELLED,
    OutcomeKind.TIMED_OUT: EXIT_TIMED_OUT,
    OutcomeKind.NOT_FOUND: EXIT_NOT_FOUND,
    OutcomeKind.FAILED: EXIT_ERROR,
}
# The worst outcome decides a batch's exit code.
_SEVERITY = [
    OutcomeKind.FAILED,
    OutcomeKind.NOT_FOUND,
    OutcomeKind.TIMED_OUT,
    OutcomeKind.CANCELLED,
    OutcomeKind.FAULTED,
    OutcomeKind.COMPLETED,
]


def exit_code(kinds: Iterable[OutcomeKind], *, problems: bool, unrecovered: bool = False) -> int:
    """The worst outcome decides (a completed fault whose target did not recover ranks just above a
    completed one); bad input (or unwritable results) makes an otherwise all-good run exit 1."""
    seen = set(kinds)
    worst = next((k for k in _SEVERITY if k in seen), OutcomeKind.COMPLETED)
    if worst is OutcomeKind.COMPLETED and unrecovered:
        return EXIT_UNRECOVERED
    return EXIT_ERROR if problems and worst is OutcomeKind.COMPLETED else EXIT_BY_KIND[worst]


class Records:
    """The results' JSON lines; when the results cannot take one, it goes to stderr (and the run exits non-zero)."""

    def __init__(self, results: IO[str] | None, console: Console) -> None:
        self.results, self.console = results, console
        self.unrecorded = False  # a record could not be written to the results: exit non-zero

    def record(self, record: dict[str, Any]) -> bool:
        """Write one JSON line to the results; if they cannot take it, put it on stderr instead.

        Returns whether the results took it (``True`` when no results were asked for).
        """
        if self.results is None:
            return True
        if not self.unrecorded:
            try:
                write_record(self.results, record)
                return True
            except (OSError, ValueError) as exc:  # a closed stdout, a full disk, a closed file
                self.unrecorded = True
                self.console.print(
                    f"[red]error:[/] cannot write the results ({escape(str(exc))}); records follow on stderr"
                )
        with contextlib.suppress(OSError, ValueError):
            sys.stderr.write(json.dumps(record) + "\n")
            sys.stderr.flush()
        return False


class BatchRun:
    """Waits for operations a file names (``watch``): shows them, writes results, summarises.

    Ctrl-C, SIGTERM and SIGHUP end it cleanly.  (Starting faults is a campaign: ``_campaign``.)
    """

    def __init__(self, client: ProgressClient, *, results: IO[str] | None, options: WaitOptions, quiet: bool,
                 title: str) -> None:
        self.client, self.options, self.quiet, self.title = client, options, quiet, title
        self.console = err_console()
        self.records = Records(results, self.console)
        self.skipped = 0

    def report(self, message: str) -> None:
        self.skipped += 1
        self.console.print(f"[yellow]skipped[/] {escape(message)}")

    async def watch(self, refs: AsyncIterator[OperationRef]) -> int:
        outcomes: list[Outcome] = []
        stopped_by: list[int] = []
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()

        def on_signal(signum: int) -> None:
            stopped_by.append(signum)
            stop.set()

        # Ctrl-C (and Ctrl-Break), a kill and a closed terminal end a batch cleanly, with the shell's code.
        restore_signals = on_signals(loop, STOP_SIGNALS, on_signal)
        failure: BaseException | None = None
        batch = self.client.wait_many(refs, **self.options.as_kwargs())
        try:
            async with batch, BatchView(batch.snapshot, quiet=self.quiet, title=self.title):
                stopper = asyncio.ensure_future(stop.wait())
                try:
                    while True:
                        step = asyncio.ensure_future(batch.__anext__())
                        await asyncio.wait((step, stopper), return_when=asyncio.FIRST_COMPLETED)
                        if not step.done():
                            step.cancel()
                            await asyncio.gather(step, return_exceptions=True)
                            break
                        try:
                            outcome = step.result()
                        except StopAsyncIteration:
                            break
                        except Exception as exc:  # noqa: BLE001 - the input failed: report it, keep the results
                            failure = exc
                            break
                        outcomes.append(outcome)
                        self.records.record(outcome_record(outcome))
                finally:
                    stopper.cancel()
                total = batch.snapshot().total
        finally:
            restore_signals()
        summary(self.console, outcomes, total=total, interrupted=bool(stopped_by), skipped=self.skipped)
        if failure is not None:
            self.console.print(f"[red]error:[/] reading the input failed: {escape(str(failure))}")
        if stopped_by:
            return STOP_SIGNALS[stopped_by[0]]
        unrecovered = any(o.recovery is not None and not o.recovery.recovered for o in outcomes)
        problems = bool(self.skipped or self.records.unrecorded or failure)
        return exit_code({o.kind for o in outcomes}, problems=problems, unrecovered=unrecovered)


async def refs_from(rows: AsyncIterator[Row], report: Callable[[str], None]) -> AsyncIterator[OperationRef]:
    async for row in rows:
        ref = to_ref(row, report)
        if ref is not None:
            yield ref


def started_record(ref: OperationRef) -> dict[str, Any]:
    """The line written the moment a start is accepted, so its OperationId is never lost."""
    return {"event": "started", **ref_record(ref)}
