"""Runs kept in a journal, from the command line: ``--journal`` on the start commands, and ``resume``."""

from __future__ import annotations

import collections
import contextlib
import os
from collections.abc import Callable, Iterable
from typing import IO, Any

from rich.console import Console
from rich.markup import escape

from .. import FaultRun, FaultTarget, JournalError, OutcomeKind, ProgressClient
from ._batchrun import EXIT_ERROR, EXIT_USAGE, exit_code
from ._io import write_record
from ._render import result_record
from ._ui import err_console


def reporter(console: Console) -> Callable[[str], None]:
    def report(message: str) -> None:
        console.print(f"[yellow]skipped[/] {escape(message)}")

    return report


async def run_journal(
    client: ProgressClient,
    journal: str | os.PathLike[str],
    targets: Iterable[FaultTarget] | None,
    results: IO[str],
    options: dict[str, Any],
    *,
    skipped: int = 0,
    force: bool = False,
    gates: dict[str, Any] | None = None,
) -> int:
    """Create (*targets* given) or resume the run of *journal*; start what is left; print one line per target."""
    console = err_console()
    journal = os.path.expanduser(journal)  # noqa: ASYNC240 - no I/O: ~ and ~user, as a shell expands them
    try:
        if targets is None:
            run = await FaultRun.resume(journal, client, force=force)
        else:
            run = await FaultRun.create(journal, client, targets, **(gates or {}))
    except (JournalError, ValueError) as exc:
        console.print(f"[red]error:[/] {escape(str(exc))}")
        return EXIT_USAGE
    kinds: collections.Counter[OutcomeKind] = collections.Counter()
    unrecovered = held_back = 0
    try:
        await run.start_pending()
        async for result in run.results(**{k: v for k, v in options.items() if v is not None}):
            if run.aborted is not None and result.state is None and "the run was aborted" in (result.error or ""):
                held_back += 1  # not started because of the abort: the abort decides the exit code (7)
            else:
                kinds[result.outcome] += 1
            unrecovered += result.recovery is not None and not result.recovery.recovered
            try:
                write_record(results, result_record(result))
            except (OSError, ValueError) as exc:  # a full disk, a closed stdout: the journal still has them
                console.print(
                    f"[red]error:[/] cannot write the results ({escape(str(exc))}); no further fault is started — "
                    f"`sf-progress resume {journal}` prints them again"
                )
                return EXIT_ERROR
    except JournalError as exc:  # the journal cannot be written (a full disk): nothing more is started
        console.print(f"[red]error:[/] {escape(str(exc))}; no further fault is started")
        return EXIT_ERROR
    finally:
        with contextlib.suppress(JournalError):
            run.close()
    if run.aborted is not None:
        console.print(f"[yellow]aborted:[/] {escape(run.aborted)}")
    console.print(
        "run: "
        + ", ".join(f"{kind.value.replace('_', ' ')} {count}" for kind, count in sorted(kinds.items()))
        + (f", not recovered {unrecovered}" if unrecovered else "")
        + (f", not started (aborted) {held_back}" if held_back else "")
        + (f", bad input lines {skipped}" if skipped else "")
        + f"  (journal {journal})"
    )
    return exit_code(kinds, problems=bool(skipped), unrecovered=bool(unrecovered) or run.aborted is not None)
