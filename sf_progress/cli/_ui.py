"""What people see: a live progress view of a batch, status lines, and the final summary.

Everything here writes to stderr; stdout carries only data (results, JSON).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Sequence

from rich.console import Console, Group
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from .. import BatchSnapshot, OperationState, Outcome, OutcomeKind, RunResult

STATE_LABELS = {
    None: "waiting",
    OperationState.RUNNING: "running",
    OperationState.ROLLING_BACK: "rolling back",
    OperationState.UNKNOWN: "unknown",
    OperationState.INVALID: "invalid",
    OperationState.COMPLETED: "recovering",  # pending once Completed: its target is being checked
}
KIND_STYLES = {
    OutcomeKind.COMPLETED: "green",
    OutcomeKind.FAULTED: "red",
    OutcomeKind.CANCELLED: "yellow",
    OutcomeKind.NOT_FOUND: "magenta",
    OutcomeKind.TIMED_OUT: "bright_red",
    OutcomeKind.FAILED: "bold red",
}


def err_console() -> Console:
    """The console for humans: stderr, with colour only on a terminal (120 columns in logs)."""
    console = Console(stderr=True, highlight=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console = Console(stderr=True, highlight=False, width=120)
    elif console.width < 40:  # COLUMNS=0 or a tiny window: still print something readable
        console = Console(stderr=True, highlight=False, width=80)
    return console


def counts_line(snap: BatchSnapshot) -> Text:
    """One line of counts: pending by state, finished by kind, and request figures."""
    text = Text()
    for state, count in sorted(snap.by_state.items(), key=lambda kv: STATE_LABELS.get(kv[0], "")):
        text.append(f"{STATE_LABELS.get(state, str(state))} {count}  ", style="cyan")
    for kind in OutcomeKind:
        count = snap.by_kind.get(kind, 0)
        if count:
            text.append(f"{kind.value.replace('_', ' ')} {count}  ", style=KIND_STYLES[kind])
    text.append(f"| reads {snap.progress_reads}  retries {snap.retries}  in flight {snap.in_flight}", style="dim")
    if snap.list_calls or snap.coalescing:
        text.append(f"  lists {snap.list_calls}{' (watching)' if snap.coalescing else ''}", style="dim")
    if snap.oldest_pending is not None:
        text.append(f"  oldest {snap.oldest_pending:.0f}s", style="dim")
    if snap.throttle < 1.0:
        text.append(f"  throttled to {snap.throttle:.0%}", style="yellow")
    return text


def plain_progress(snap: BatchSnapshot) -> str:
    return f"progress: {snap.finished}/{snap.total} finished; {counts_line(snap).plain}"


class BatchView:
    """A live progress bar with counts while a batch runs (plain lines when not on a terminal)."""

    def __init__(
        self,
        snapshot: Callable[[], BatchSnapshot | None],
        *,
        quiet: bool,
        title: str,
        console: Console | None = None,
    ) -> None:
        self.snapshot, self.quiet, self.title = snapshot, quiet, title
        self.console = console or err_console()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> BatchView:
        if not self.quiet:
            self._task = asyncio.ensure_future(self._run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        if not self.console.is_terminal:
            last = 0.0
            while True:
                await asyncio.sleep(0.5)
                snap = self.snapshot()
                if snap is not None and time.monotonic() - last >= 5.0:
                    last = time.monotonic()
                    self.console.print(plain_progress(snap), soft_wrap=True, markup=False)
        progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=self.console,
        )
        task = progress.add_task(self.title, total=None)
        counts = Text()
        with Live(Group(progress, counts), console=self.console, refresh_per_second=8, transient=False):
            while True:
                snap = self.snapshot()
                if snap is not None:  # None: nothing is waited on yet (a run still starting)
                    progress.update(task, total=snap.total or None, completed=snap.finished)
                    counts.truncate(0)
                    counts.append_text(counts_line(snap))
                await asyncio.sleep(0.12)


def _kind(ended: Outcome | RunResult) -> OutcomeKind:
    return ended.kind if isinstance(ended, Outcome) else ended.outcome


def summary(
    console: Console,
    outcomes: Sequence[Outcome | RunResult],
    *,
    total: int,
    interrupted: bool,
    skipped: int,
    held_back: int = 0,
) -> None:
    """The closing table: counts by outcome, then the slowest operations.

    *held_back*: results of targets never started because the run was aborted (counted apart).
    """
    table = Table(title="sf-progress summary" + (" (interrupted)" if interrupted else ""), title_justify="left")
    table.add_column("outcome")
    table.add_column("count", justify="right")
    for kind in OutcomeKind:
        count = sum(1 for o in outcomes if _kind(o) is kind) - (held_back if kind is OutcomeKind.FAILED else 0)
        if count:
            table.add_row(Text(kind.value.replace("_", " "), style=KIND_STYLES[kind]), str(count))
    unfinished = total - len(outcomes)
    if unfinished:
        table.add_row("not finished", str(unfinished))
    if held_back:
        table.add_row("not started (aborted)", str(held_back))
    if skipped:
        table.add_row("bad input lines", str(skipped))
    console.print(table)
    recoveries = sorted(o.recovery.elapsed for o in outcomes if o.recovery is not None and o.recovery.recovered)
    missed = sum(1 for o in outcomes if o.recovery is not None and not o.recovery.recovered)
    if recoveries or missed:
        line = f"recovery: {len(recoveries)} recovered, {missed} not"
        if recoveries:
            median = recoveries[len(recoveries) // 2]
            p95 = recoveries[min(len(recoveries) - 1, int(len(recoveries) * 0.95))]
            line += f"; after the fault ended: median {median:.1f}s, p95 {p95:.1f}s, slowest {recoveries[-1]:.1f}s"
        console.print(line, style="yellow" if missed else "green")
    slowest = sorted(outcomes, key=lambda o: o.fault_elapsed, reverse=True)[:5]
    if slowest:
        slow = Table(title="slowest operations", title_justify="left")
        # The operation id and the numbers never shrink; the service name gives way (80 columns fit).
        recovered = any(o.recovery is not None for o in slowest)  # then the time to recover apart
        slow.add_column("operation", no_wrap=True, min_width=36)
        fixed = 36 + 9 + 7 + 5 + 16 + (9 if recovered else 0)  # the other columns and the borders
        slow.add_column("service", overflow="ellipsis", no_wrap=True, max_width=max(8, console.width - fixed))
        slow.add_column("outcome", no_wrap=True, min_width=9)
        slow.add_column("to end s", justify="right", no_wrap=True, min_width=7)
        if recovered:
            slow.add_column("recover s", justify="right", no_wrap=True, min_width=6)
        slow.add_column("polls", justify="right", no_wrap=True, min_width=5)
        for o in slowest:
            back = ["" if o.recovery is None else f"{o.recovery.elapsed:.1f}"] if recovered else []
            slow.add_row(str(o.ref.operation_id), o.ref.service_name, _kind(o).value, f"{o.fault_elapsed:.1f}",
                         *back, str(o.polls))
        console.print(slow)
