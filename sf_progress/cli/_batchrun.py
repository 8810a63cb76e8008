"""Running a batch from the command line: feed it, show it, write results, summarise."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator, Callable
from typing import IO

from .. import Backoff, OperationRef, Outcome, OutcomeKind, ProgressClient, RestartPartitionMode, SFProgressError
from ._io import Row, outcome_record, to_ref, write_record
from ._ui import BatchView, err_console, summary

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2
EXIT_FAULTED, EXIT_CANCELLED, EXIT_TIMED_OUT, EXIT_NOT_FOUND, EXIT_INTERRUPTED = 3, 4, 5, 6, 130
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


class BatchRun:
    """Feeds a batch, shows it, writes results, summarises; Ctrl-C ends it cleanly."""

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
    ) -> None:
        self.client, self.results, self.quiet, self.title = client, results, quiet, title
        self.options = {"concurrency": concurrency, "max_rate": max_rate, "deadline": deadline, "backoff": backoff}
        self.console = err_console()
        self.skipped = 0

    def report(self, message: str) -> None:
        self.skipped += 1
        self.console.print(f"[yellow]skipped[/] {message}")

    async def watch(self, refs: AsyncIterator[OperationRef]) -> int:
        outcomes: list[Outcome] = []
        interrupted = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGINT, interrupted.set)
        batch = self.client.wait_many(refs, **self.options)  # type: ignore[arg-type]
        try:
            async with batch, BatchView(batch.snapshot, quiet=self.quiet, title=self.title):
                stop = asyncio.ensure_future(interrupted.wait())
                try:
                    while True:
                        step = asyncio.ensure_future(batch.__anext__())
                        await asyncio.wait((step, stop), return_when=asyncio.FIRST_COMPLETED)
                        if not step.done():
                            step.cancel()
                            await asyncio.gather(step, return_exceptions=True)
                            break
                        try:
                            outcome = step.result()
                        except StopAsyncIteration:
                            break
                        outcomes.append(outcome)
                        if self.results is not None:
                            write_record(self.results, outcome_record(outcome))
                finally:
                    stop.cancel()
                total = batch.snapshot().total
        finally:
            loop.remove_signal_handler(signal.SIGINT)
        summary(self.console, outcomes, total=total, interrupted=interrupted.is_set(), skipped=self.skipped)
        if interrupted.is_set():
            return EXIT_INTERRUPTED
        kinds = {o.kind for o in outcomes}
        worst = next((k for k in _SEVERITY if k in kinds), OutcomeKind.COMPLETED)
        return EXIT_ERROR if self.skipped and worst is OutcomeKind.COMPLETED else EXIT_BY_KIND[worst]


async def refs_from(rows: AsyncIterator[Row], report: Callable[[str], None]) -> AsyncIterator[OperationRef]:
    async for row in rows:
        ref = to_ref(row, report)
        if ref is not None:
            yield ref


async def started_refs(
    client: ProgressClient, rows: AsyncIterator[Row], report: Callable[[str], None]
) -> AsyncIterator[OperationRef]:
    """Start a restart per row (bad rows and refused starts are reported), yielding each as it starts."""
    async for row in rows:
        fields = row.fields
        try:
            yield await client.start_partition_restart(
                fields.get("service_id", ""),
                fields.get("partition_id", ""),
                mode=fields.get("mode", RestartPartitionMode.ALL_REPLICAS_OR_INSTANCES.value),
                operation_id=fields.get("operation_id"),
            )
        except (ValueError, TypeError, SFProgressError) as exc:
            report(f"line {row.line}: restart not started: {exc}")
