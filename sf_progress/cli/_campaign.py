"""Campaigns from the command line: the start commands' ``--from`` (with or without ``--journal``), and ``resume``.

Every campaign is one :class:`~sf_progress.FaultRun`: with ``--journal`` on that file,
without it on a temporary journal removed at the end -- so ``--max-active`` and
``--abort-on-unrecovered`` are the library's gates, written once.  Without a journal each
accepted start is printed as a ``started`` JSON line at once (its OperationId is never
lost); with one, the journal keeps it and ``sf-progress resume`` finishes a killed run.
What people see is the same either way: a live view, one ``finished`` line per target,
the summary, and an exit code by the worst outcome.  Ctrl-C, SIGTERM and SIGHUP stop the
run cleanly (the journal stays whole) with the exit code a shell expects.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

from rich.markup import escape

from .. import FaultRun, FaultTarget, JournalError, OperationRef, ProgressClient, ResultReason, RunResult
from ._batchrun import EXIT_ERROR, EXIT_FORBIDDEN, EXIT_USAGE, Records, exit_code, started_record
from ._render import result_record
from ._signals import STOP_SIGNALS, until_stopped
from ._ui import BatchView, err_console, summary

__all__ = ["run_campaign"]


async def run_campaign(
    client: ProgressClient,
    *,
    journal: str | os.PathLike[str] | None,
    targets: Iterable[FaultTarget] | None,
    results: IO[str] | None,
    options: dict[str, Any],
    gates: dict[str, Any] | None = None,
    skipped: int = 0,
    force: bool = False,
    quiet: bool = True,
    title: str = "faults",
    note: str | None = None,
) -> int:
    """Create (*targets* given) or resume (*journal*, no targets) a run; start, wait, print; return the exit code.

    *options* are the waits' options (``WaitOptions`` names); *gates* those of ``FaultRun.create``;
    *note*: a line about a new run (how its targets were chosen), journaled before its first start.
    """
    campaign = _Campaign(journal, results)
    try:
        try:
            run = await campaign.open(client, targets, gates or {}, force)
            if note is not None and targets is not None:
                run.note(note)
        except (JournalError, ValueError) as exc:
            campaign.console.print(f"[red]error:[/] {escape(str(exc))}")
            return EXIT_USAGE
        signum, failure = await campaign.drive(run, options, quiet, title)
    finally:
        campaign.remove_scratch()
    return campaign.conclude(run, signum, failure, skipped)


class _Campaign:
    """One campaign from the command line: its journal (or a scratch one), its result lines, its ending."""

    def __init__(self, journal: str | os.PathLike[str] | None, results: IO[str] | None) -> None:
        self.console = err_console()
        self.records = Records(results, self.console)
        self.kept = journal is not None
        self.scratch: Path | None = None
        if journal is not None:
            self.path = Path(os.path.expanduser(journal))
        else:
            self.scratch = Path(tempfile.mkdtemp(prefix="sf-progress-run-"))
            self.path = self.scratch / "run.jsonl"
        self.ended: list[RunResult] = []
        self.run: FaultRun | None = None

    async def open(
        self, client: ProgressClient, targets: Iterable[FaultTarget] | None, gates: dict[str, Any], force: bool
    ) -> FaultRun:
        if targets is None:
            self.run = await FaultRun.resume(self.path, client, force=force, hold_timeout=gates.get("hold_timeout"),
                                             cancel_on_lever=bool(gates.get("cancel_on_lever")))
        else:
            hook = None if self.kept else self.on_start
            self.run = await FaultRun.create(self.path, client, targets, on_start=hook, **gates)
        return self.run

    def on_start(self, ref: OperationRef) -> None:
        # Without a journal the started line is the only record of the id: if the results cannot
        # take it (it went to stderr instead), no further fault is started.
        if not self.records.record(started_record(ref)) and self.run is not None:
            self.run.abort("the results cannot be written: no further fault is started (their ids would be lost)")

    async def drive(
        self, run: FaultRun, options: dict[str, Any], quiet: bool, title: str
    ) -> tuple[int | None, str | None]:
        """Start and wait, writing each result; Ctrl-C, SIGTERM and SIGHUP stop it cleanly.

        Returns the signal that stopped it and what failed, if anything did.
        """

        async def go() -> None:
            await run.start_pending()
            async for result in run.results(**{k: v for k, v in options.items() if v is not None}):
                self.ended.append(result)
                if not self.records.record(result_record(result)) and self.kept:
                    raise _Unwritable  # the journal keeps them: stop here, resume prints them again

        signum: int | None = None
        failure: str | None = None
        try:
            async with BatchView(run.progress, quiet=quiet, title=title, console=self.console):
                try:
                    _, signum = await until_stopped(go())
                except _Unwritable:
                    failure = f"no further fault is started — `sf-progress resume {self.path}` prints the results again"
                except JournalError as exc:  # the journal cannot be written (a full disk): nothing more is started
                    failure = f"{exc}; no further fault is started"
        finally:
            with contextlib.suppress(JournalError):
                run.close()
        return signum, failure

    def remove_scratch(self) -> None:
        if self.scratch is not None:
            shutil.rmtree(self.scratch, ignore_errors=True)

    def conclude(self, run: FaultRun, signum: int | None, failure: str | None, skipped: int) -> int:
        """The summary on stderr, and the exit code: by signal, by failure, or by the worst outcome."""
        ended, console = self.ended, self.console
        held_back = sum(1 for r in ended if r.reason is ResultReason.ABORTED)
        total = len(run.snapshot().targets)
        summary(console, ended, total=total, interrupted=signum is not None, skipped=skipped, held_back=held_back)
        if run.aborted is not None:
            console.print(f"[yellow]aborted:[/] {escape(run.aborted)}")
        if failure is not None:
            console.print(f"[red]error:[/] {escape(failure)}")
        console.print(escape(_one_line(ended, held_back, skipped, self.path if self.kept else None)), soft_wrap=True)
        if signum is not None:
            if self.kept:  # a journaled run stopped early: say how to finish it
                console.print(f"to finish this run: sf-progress resume {escape(str(self.path))}", soft_wrap=True)
            return STOP_SIGNALS[signum]
        if failure is not None:
            return EXIT_ERROR
        if run.held_out or run.stopped_by_lever:  # a rule stayed closed past --hold-timeout, or the lever: refused
            return EXIT_FORBIDDEN
        # An abort for an unrecovered target has that target among the results (exit 7); one for
        # unwritable results is an error (exit 1).
        unrecovered = any(r.recovery is not None and not r.recovery.recovered for r in ended)
        kinds = [r.outcome for r in ended if r.reason is not ResultReason.ABORTED]
        return exit_code(kinds, problems=bool(skipped or self.records.unrecorded), unrecovered=unrecovered)


def _one_line(ended: list[RunResult], held_back: int, skipped: int, journal: Path | None) -> str:
    """The run in one line, for logs: counts by outcome, then what did not recover or start."""
    kinds = Counter(r.outcome.value.replace("_", " ") for r in ended if r.reason is not ResultReason.ABORTED)
    unrecovered = sum(1 for r in ended if r.recovery is not None and not r.recovery.recovered)
    return (
        "run: "
        + (", ".join(f"{kind} {count}" for kind, count in sorted(kinds.items())) or "nothing ended")
        + (f", not recovered {unrecovered}" if unrecovered else "")
        + (f", not started (aborted) {held_back}" if held_back else "")
        + (f", bad input lines {skipped}" if skipped else "")
        + (f"  (journal {journal})" if journal is not None else "")
    )


class _Unwritable(Exception):
    """The results cannot take a line (a full disk, a closed stdout)."""
