"""Running a batch from the command line: feed it, show it, write results, summarise."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import IO, Any

from rich.markup import escape

from .. import Backoff, OperationRef, Outcome, OutcomeKind, ProgressClient, SFProgressError
from ._io import Row, outcome_record, to_ref, write_record
from ._render import ref_record
from ._signals import STOP_SIGNALS, on_signals
from ._ui import BatchView, err_console, summary

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2
EXIT_FAULTED, EXIT_CANCELLED, EXIT_TIMED_OUT, EXIT_NOT_FOUND, EXIT_INTERRUPTED = 3, 4, 5, 6, 130
#: A fault that completed, but whose target did not recover by the deadline (``--until recovered``).
EXIT_UNRECOVERED = 7
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


# Ctrl-C (and Ctrl-Break), a kill and a closed terminal each end a batch cleanly, with the
# shell's exit code; only the signals the platform has.
_EXIT_BY_SIGNAL = {**STOP_SIGNALS, int(signal.SIGINT): EXIT_INTERRUPTED}


def exit_code(kinds: Iterable[OutcomeKind], *, problems: bool, unrecovered: bool = False) -> int:
    """The worst outcome decides (a completed fault whose target did not recover ranks just above a
    completed one); bad input (or unwritable results) makes an otherwise all-good run exit 1."""
    seen = set(kinds)
    worst = next((k for k in _SEVERITY if k in seen), OutcomeKind.COMPLETED)
    if worst is OutcomeKind.COMPLETED and unrecovered:
        return EXIT_UNRECOVERED
    return EXIT_ERROR if problems and worst is OutcomeKind.COMPLETED else EXIT_BY_KIND[worst]


class BatchRun:
    """Feeds a batch, shows it, writes results, summarises; Ctrl-C, SIGTERM and SIGHUP end it cleanly."""

    def __init__(
        self,
        client: ProgressClient,
        *,
        results: IO[str] | None,
        concurrency: int,
        max_rate: float | None,
        deadline: float,
        quiet: bool,
        title: str,
        backoff: Backoff | None = None,
        until: str = "ended",
        max_active: int | None = None,
        abort_on_unrecovered: bool = False,
    ) -> None:
        self.client, self.results, self.quiet, self.title = client, results, quiet, title
        # --max-active: a start takes a slot, an outcome gives it back; --abort-on-unrecovered stops starting.
        self.slots = None if max_active is None else asyncio.Semaphore(max_active)
        self.abort_on_unrecovered = abort_on_unrecovered
        self.aborted: str | None = None
        self.options = {
            "concurrency": concurrency,
            "max_rate": max_rate,
            "deadline": deadline,
            "backoff": backoff,
            "recovery": until == "recovered",
        }
        self.console = err_console()
        self.skipped = 0
        self.unrecorded = False  # a record could not be written to the results: exit non-zero

    def report(self, message: str) -> None:
        self.skipped += 1
        self.console.print(f"[yellow]skipped[/] {escape(message)}")

    def record(self, record: dict[str, Any]) -> bool:
        """Write one JSON line to the results; if they cannot take it, put it on stderr instead.

        Returns whether the results took it.
        """
        if self.results is not None and not self.unrecorded:
            try:
                write_record(self.results, record)
                return True
            except (OSError, ValueError) as exc:  # a closed stdout, a full disk, a closed file
                self.unrecorded = True
                self.console.print(
                    f"[red]error:[/] cannot write the results ({escape(str(exc))}); records follow on stderr"
                )
        if self.results is not None:
            with contextlib.suppress(OSError, ValueError):
                sys.stderr.write(json.dumps(record) + "\n")
                sys.stderr.flush()
        return False

    async def watch(self, refs: AsyncIterator[OperationRef]) -> int:
        outcomes: list[Outcome] = []
        stopped_by: list[int] = []
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()

        def on_signal(signum: int) -> None:
            stopped_by.append(signum)
            stop.set()

        restore_signals = on_signals(loop, _EXIT_BY_SIGNAL, on_signal)
        failure: BaseException | None = None
        batch = self.client.wait_many(refs, **self.options)  # type: ignore[arg-type]
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
                        self.record(outcome_record(outcome))
                        self.ended(outcome)
                finally:
                    stopper.cancel()
                total = batch.snapshot().total
        finally:
            restore_signals()
        summary(self.console, outcomes, total=total, interrupted=bool(stopped_by), skipped=self.skipped)
        if self.aborted is not None:
            self.console.print(f"[yellow]aborted:[/] {escape(self.aborted)}")
        if failure is not None:
            self.console.print(f"[red]error:[/] reading the input failed: {escape(str(failure))}")
        if stopped_by:
            return _EXIT_BY_SIGNAL[stopped_by[0]]
        unrecovered = any(o.recovery is not None and not o.recovery.recovered for o in outcomes)
        problems = bool(self.skipped or self.unrecorded or failure)
        return exit_code({o.kind for o in outcomes}, problems=problems, unrecovered=unrecovered)


    def ended(self, outcome: Outcome) -> None:
        """An outcome came: its slot frees; an unrecovered target may abort the starts."""
        if self.slots is not None:
            self.slots.release()
        recovery = outcome.recovery
        if self.abort_on_unrecovered and recovery is not None and not recovery.recovered and self.aborted is None:
            self.aborted = f"{outcome.ref.target} did not recover: {recovery.reason}; no more faults are started"
            if self.slots is not None:
                self.slots.release()  # a start waiting for a slot sees the abort

    async def slot(self) -> bool:
        """Wait for a free slot (``--max-active``); ``False`` once the starts are aborted."""
        if self.slots is not None and self.aborted is None:
            await self.slots.acquire()
        return self.aborted is None


async def refs_from(rows: AsyncIterator[Row], report: Callable[[str], None]) -> AsyncIterator[OperationRef]:
    async for row in rows:
        ref = to_ref(row, report)
        if ref is not None:
            yield ref


def started_record(ref: OperationRef) -> dict[str, Any]:
    """The line written the moment a start is accepted, so its OperationId is never lost."""
    return {"event": "started", **ref_record(ref)}


async def started_refs(
    start: Callable[[Row], Awaitable[OperationRef]], rows: AsyncIterator[Row], run: BatchRun
) -> AsyncIterator[OperationRef]:
    """Start one fault per row (bad rows and refused starts are reported), yielding each as it starts.

    Each accepted start is recorded before anything else happens; if the results cannot
    take it, it goes to stderr and no further fault is started.  Starts are sent one
    after the other, never in parallel.
    """
    async for row in rows:
        if not await run.slot():
            run.report(f"line {row.line}: not started: the run was aborted")
            continue
        try:
            ref = await start(row)
        except (ValueError, TypeError, KeyError, SFProgressError) as exc:
            if run.slots is not None:
                run.slots.release()
            run.report(f"line {row.line}: not started: {exc}")
            continue
        recorded = run.record(started_record(ref))
        yield ref
        if not recorded:
            run.console.print("[red]error:[/] no further faults are started: their ids could not be recorded")
            return
