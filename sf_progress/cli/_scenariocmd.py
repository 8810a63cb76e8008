"""``sf-progress scenario run|resume|schema``: failover scenarios -- fault, validate the whole service, wait."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import time
from collections.abc import Callable

import click
from rich.markup import escape

from .. import (
    JournalError,
    ProgressClient,
    Scenario,
    ScenarioEvent,
    ScenarioEventKind,
    ScenarioRun,
    ScenarioVerdict,
    StopReason,
    read_journal,
)
from ._batchrun import EXIT_FORBIDDEN, EXIT_OK, EXIT_USAGE
from ._common import EPILOG, output_option, run
from ._connect import connection_options
from ._startcmds import hold_timeout_option, plan_line
from ._ui import err_console

__all__ = ["scenario"]

_STYLE = {ScenarioEventKind.VALIDATION_FAILED: "red", ScenarioEventKind.VALIDATION_PASSED: "green",
          ScenarioEventKind.STOPPED: "bold"}


def event_line(event: ScenarioEvent) -> str:
    """One event for people: what happened, to what, how long, and the evidence of a failure."""
    kind = event.kind
    where = " ".join(x for x in (f"step {event.step}" if event.step is not None and event.step >= 0 else (
        "before the first fault" if event.step is not None else ""), event.fault or "",
        f"on {event.partition}" if event.partition else "") if x)
    words = {
        ScenarioEventKind.STARTED: f"started: {event.detail}",
        ScenarioEventKind.FAULT_STARTED: f"fault {where}",
        ScenarioEventKind.FAULT_ENDED: f"fault {'ended' if event.ok else 'failed'} {where}: {event.detail}",
        ScenarioEventKind.VALIDATION_PASSED: f"stable {where} after {event.seconds or 0:.1f}s",
        ScenarioEventKind.VALIDATION_FAILED: f"NOT STABLE {where} after {event.seconds or 0:.1f}s",
        ScenarioEventKind.WAITING: f"waiting {event.seconds or 0:.0f}s",
        ScenarioEventKind.STOPPED: f"stopped ({event.reason}): {event.verdict} — {event.detail}",
    }[kind]
    progress = "" if event.progress is None else f"[{event.progress:>4.0%}] "
    return progress + words + "".join(f"\n    {line}" for line in event.evidence)


async def _drive(run_: ScenarioRun, output: str) -> int:
    console = err_console()

    def say(event: ScenarioEvent) -> None:
        if output == "json":
            click.echo(json.dumps(event.as_dict()))
        else:
            console.print(escape(event_line(event)), style=_STYLE.get(event.kind), soft_wrap=True)

    async with run_:
        try:
            async for event in run_.events():
                say(event)
        except asyncio.CancelledError:  # a stop signal: said, the journal kept for `scenario resume`
            say(ScenarioEvent(ScenarioEventKind.STOPPED, time.time(), verdict=ScenarioVerdict.ABORTED,
                              reason=StopReason.INTERRUPTED, detail=f"resume it: sf-progress scenario resume "
                              f"{run_.journal}" if run_.scratch is None else "no journal was kept"))
            raise
        last = run_.result
        assert last is not None
        assert last.verdict is not None
        if output != "json" and run_.scratch is None:
            console.print(escape(f"journal: {run_.journal}"))
        return last.verdict.exit_code


@click.group(epilog=EPILOG)
def scenario() -> None:
    """Failover scenarios: fault a service's partitions in turn, validate the whole service after each fault.

    The successor to Service Fabric's retired failover test scenario.  Exit 0 when it passed,
    9 when a validation failed (the service did not become healthy and stable within the
    stabilisation timeout; the evidence is printed), 8 when it was aborted (too many fault
    errors, the stop lever, a safety rule held past --hold-timeout, or a service not stable
    before the first fault).
    """


@scenario.command(name="run", epilog=EPILOG)
@click.argument("file", metavar="FILE")
@click.option("--journal", metavar="PATH",
              help="Keep the run in this journal (`sf-progress scenario resume PATH` finishes a killed run, "
              "no fault repeated); `sf-progress report PATH` draws it.")
@click.option("--plan", is_flag=True,
              help="Send nothing: print the scenario's faults, each on the partition it first takes, held to the "
              "safety rules (exit 8 when a rule forbids one now).")
@hold_timeout_option
@output_option
@connection_options
def run_command(
    file: str, journal: str | None, plan: bool, hold_timeout: float | None, cancel_on_lever: bool, output: str,
    connect: Callable[[], ProgressClient],
) -> None:
    """Run a failover scenario from a YAML or JSON FILE (`sf-progress scenario schema` prints its JSON Schema)."""
    try:
        loaded = Scenario.load(file)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="FILE") from None
    if plan and journal is not None:
        raise click.UsageError("--plan sends nothing and keeps no journal")

    async def go() -> int:
        async with connect() as client:
            if plan:  # on a scratch journal, removed at once: nothing is kept, nothing sent
                async with await ScenarioRun.create(client, loaded) as made:
                    planned = await made.plan()
                if output == "json":
                    click.echo(json.dumps({"event": "plan", **made.definition}))
                else:
                    err_console().print(escape(f"plan: {made.service_id}, {len(made.steps)} fault(s) on "
                                               f"{len(made.partitions)} partition(s), seed {made.seed}"))
                for fault in planned:
                    click.echo(json.dumps(fault.as_dict()) if output == "json" else plan_line(fault))
                return EXIT_OK if all(fault.allowed for fault in planned) else EXIT_FORBIDDEN
            made = await ScenarioRun.create(client, loaded, journal=journal, hold_timeout=hold_timeout,
                                            cancel_on_lever=cancel_on_lever)
            return await _drive(made, output)

    run(go())


@scenario.command(epilog=EPILOG)
@click.argument("journal", metavar="JOURNAL")
@hold_timeout_option
@output_option
@connection_options
def resume(
    journal: str, hold_timeout: float | None, cancel_on_lever: bool, output: str,
    connect: Callable[..., ProgressClient],
) -> None:
    """Go on with a killed scenario run from its JOURNAL: no fault repeated, an interrupted validation redone."""
    ctx = click.get_current_context()
    if ctx.get_parameter_source("endpoint") is click.core.ParameterSource.DEFAULT:
        # No --endpoint (nor SF_ENDPOINT): the cluster the journal was run against.
        with contextlib.suppress(JournalError, OSError):
            connect = functools.partial(connect, endpoint=read_journal(journal).endpoint)

    async def go() -> int:
        async with connect() as client:
            try:
                made = await ScenarioRun.resume(client, journal, hold_timeout=hold_timeout,
                                                cancel_on_lever=cancel_on_lever)
            except JournalError as exc:
                err_console().print(f"[red]error:[/] {escape(str(exc))}")
                return EXIT_USAGE
            return await _drive(made, output)

    run(go())


@scenario.command(epilog=EPILOG)
def schema() -> None:
    """Print the JSON Schema of a scenario file."""
    click.echo(json.dumps(Scenario.json_schema(), indent=2))
