"""``sf-progress chaos status|start|stop``: Service Fabric's own Chaos, each start and stop confirmed."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import click

from .. import ChaosEvent, ChaosEventKind, ChaosParameters, ChaosSchedule, ChaosStatus, ProgressClient
from ._batchrun import EXIT_CHAOS_FAILED, EXIT_OK
from ._common import EPILOG, output_option, run
from ._connect import connection_options
from ._ui import err_console

__all__ = ["chaos"]


@click.group(epilog=EPILOG)
def chaos() -> None:
    """Service Fabric's own Chaos: status, start and stop (each confirmed by reading the status back)."""


def _show(status: ChaosStatus, output: str) -> None:
    if output == "json":
        click.echo(json.dumps({"Status": status.status, "ScheduleStatus": status.schedule_status}))
    else:
        err_console().print(f"Chaos {status.status.lower()} (schedule {status.schedule_status.lower()})",
                            markup=False)


@chaos.command(name="status", epilog=EPILOG)
@output_option
@connection_options
def status_cmd(output: str, connect: Callable[[], ProgressClient]) -> None:
    """Show whether Chaos runs (``-o json``: ``Status`` and ``ScheduleStatus``)."""

    async def go() -> int:
        async with connect() as client:
            _show(await client.get_chaos(), output)
        return EXIT_OK

    run(go())


def _parameters(file: str | None, given: dict[str, Any]) -> ChaosParameters:
    """The options, or a ``ChaosParameters`` JSON file (its PascalCase fields) under them."""
    data: dict[str, Any] = {}
    if file is not None:
        try:
            data = json.loads(Path(file).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            message = f"{file}: not a ChaosParameters JSON file ({exc})"
            raise click.BadParameter(message, param_hint="--parameters") from None
    try:
        return ChaosParameters.from_body(data, **{k: v for k, v in given.items() if v not in (None, ())})
    except (ValueError, TypeError) as exc:
        raise click.UsageError(f"chaos parameters: {exc}") from None


@chaos.command(name="start", epilog=EPILOG)
@click.option("--time-to-run", type=click.IntRange(1, 4294967295), help="Seconds Chaos runs (default: until stopped).")
@click.option("--max-concurrent-faults", type=click.IntRange(0, 4294967295), help="Faults per iteration (default 1).")
@click.option("--wait-between-iterations", type=click.IntRange(0, 4294967295), help="Seconds (default 30).")
@click.option("--wait-between-faults", type=click.IntRange(0, 4294967295), help="Seconds (default 20).")
@click.option("--max-stabilization", type=click.IntRange(0, 4294967295),
              help="Seconds the cluster may take to be healthy between iterations (default 60).")
@click.option("--include-node-type", "include_node_types", multiple=True, metavar="TYPE",
              help="Only nodes of this type for node faults (repeatable).")
@click.option("--include-application", "include_applications", multiple=True, metavar="APP",
              help="Only replicas of this application (fabric:/app; repeatable).")
@click.option("--no-move-replica-faults", is_flag=True, help="No move-primary/secondary faults.")
@click.option("--parameters", "parameters_file", metavar="FILE", help="A ChaosParameters JSON file (options win).")
@output_option
@connection_options
def start_cmd(
    time_to_run: int | None,
    max_concurrent_faults: int | None,
    wait_between_iterations: int | None,
    wait_between_faults: int | None,
    max_stabilization: int | None,
    include_node_types: tuple[str, ...],
    include_applications: tuple[str, ...],
    no_move_replica_faults: bool,
    parameters_file: str | None,
    output: str,
    connect: Callable[[], ProgressClient],
) -> None:
    """Start Chaos and confirm it runs (400 FABRIC_E_CHAOS_ALREADY_RUNNING if it does already)."""
    parameters = _parameters(parameters_file, {
        "time_to_run": time_to_run, "max_concurrent_faults": max_concurrent_faults,
        "wait_time_between_iterations": wait_between_iterations, "wait_time_between_faults": wait_between_faults,
        "max_cluster_stabilization_timeout": max_stabilization, "include_node_types": include_node_types,
        "include_applications": include_applications,
        "enable_move_replica_faults": False if no_move_replica_faults else None,
    })

    async def go() -> int:
        async with connect() as client:
            _show(await client.start_chaos(parameters), output)
        return EXIT_OK

    run(go())


@chaos.command(name="stop", epilog=EPILOG)
@output_option
@connection_options
def stop_cmd(output: str, connect: Callable[[], ProgressClient]) -> None:
    """Stop Chaos and confirm it stopped (faults under way finish; stopping a stopped Chaos does nothing)."""

    async def go() -> int:
        async with connect() as client:
            _show(await client.stop_chaos(), output)
        return EXIT_OK

    run(go())


#: The first line's ``event`` of a Chaos journal (``sf-progress report`` tells it from a campaign's).
CHAOS_JOURNAL = "chaos-journal"


def _open_journal(path: str) -> IO[str]:
    try:
        return open(path, "x", encoding="utf-8")
    except FileExistsError:
        raise click.BadParameter(f"{path} exists: give a new path", param_hint="--journal") from None
    except OSError as exc:
        raise click.BadParameter(f"{path}: {exc.strerror or exc}", param_hint="--journal") from None


def _keep(file: IO[str], record: dict[str, Any]) -> None:
    file.write(json.dumps(record) + "\n")
    file.flush()


def _event_json(event: ChaosEvent) -> dict[str, Any]:
    record: dict[str, Any] = {"kind": event.raw_kind, "time": event.time.isoformat().replace("+00:00", "Z")}
    if event.reason is not None:
        record["reason"] = event.reason
    if event.kind is ChaosEventKind.EXECUTING_FAULTS:
        record["faults"] = [{"action": f.action, **{k: v for k, v in f.fields.items() if k != "ActionType"},
                             **({} if f.action else {"raw": f.raw})} for f in event.faults]
    return record


def _event_line(event: ChaosEvent, iteration: int, last_problem: ChaosEvent | None) -> str:
    """One event as the live view shows it: an iteration's faults by action (and how long since the last
    validation failure), or the event's kind and reason."""
    stamp = event.time.strftime("%H:%M:%S")
    if event.kind is ChaosEventKind.EXECUTING_FAULTS:
        counts = Counter(f.action or "unparsed" for f in event.faults)
        since = "" if last_problem is None else (
            f" ({(event.time - last_problem.time).total_seconds():.0f} s since the last validation failure)")
        return (f"{stamp} iteration {iteration}: " + ", ".join(f"{n} {a}" for a, n in sorted(counts.items()))
                + since)
    return f"{stamp} {event.raw_kind}" + (f": {event.reason}" if event.reason else "")


@chaos.command(name="watch", epilog=EPILOG)
@click.option("--from-start", is_flag=True, help="Follow the current run from its Started event (default: from now).")
@click.option("--journal", metavar="PATH",
              help="Also keep the events in this file (JSON lines), for `sf-progress report PATH`.")
@output_option
@connection_options
def watch_cmd(from_start: bool, journal: str | None, output: str, connect: Callable[[], ProgressClient]) -> None:
    """Follow Chaos's events until it stops, then a summary and a verdict: exit 0 when no ValidationFailed or
    TestError came, 9 when one did (-o json: a line per event, then the verdict)."""
    since = None if from_start else datetime.now(UTC)
    kept = _open_journal(journal) if journal is not None else None

    async def go() -> int:
        faults: Counter[str] = Counter()
        problems: list[ChaosEvent] = []
        iterations = 0
        async with connect() as client:
            if kept is not None:
                _keep(kept, {"v": 1, "event": CHAOS_JOURNAL, "endpoint": client.endpoint,
                             "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")})
            async for event in client.chaos_events(since):
                if kept is not None:
                    _keep(kept, {"event": "chaos", **_event_json(event)})
                if event.kind is ChaosEventKind.EXECUTING_FAULTS:
                    iterations += 1
                    faults.update(f.action or "unparsed" for f in event.faults)
                if output == "json":
                    click.echo(json.dumps(_event_json(event)))
                else:
                    line = _event_line(event, iterations, problems[-1] if problems else None)
                    err_console().print(line, markup=False, soft_wrap=True, style="red" if event.is_problem else None)
                if event.is_problem:
                    problems.append(event)
        verdict = "validation failed" if problems else "passed"
        if kept is not None:
            _keep(kept, {"event": "verdict", "verdict": verdict, "iterations": iterations, "faults": dict(faults)})
        if output == "json":
            click.echo(json.dumps({"verdict": verdict, "iterations": iterations, "faults": dict(faults),
                                   "problems": [_event_json(e) for e in problems]}))
        else:
            console = err_console()
            console.print(f"{iterations} iteration(s); faults: "
                          + (", ".join(f"{n} {a}" for a, n in sorted(faults.items())) or "none"), markup=False)
            for event in problems:
                console.print(f"{event.raw_kind} at {event.time:%H:%M:%S}: {event.reason}", markup=False,
                              style="red")
            console.print(f"verdict: {verdict}", style="red" if problems else "green")
        return EXIT_CHAOS_FAILED if problems else EXIT_OK

    try:
        run(go())
    finally:
        if kept is not None:
            kept.close()


@chaos.group(name="schedule", epilog=EPILOG)
def schedule() -> None:
    """Chaos's schedule: get it, or set a new one (the cluster's version rule kept)."""


@schedule.command(name="get", epilog=EPILOG)
@connection_options
def schedule_get(connect: Callable[[], ProgressClient]) -> None:
    """Print the schedule as ChaosScheduleDescription JSON (``Version``, ``Schedule``) on stdout."""

    async def go() -> int:
        async with connect() as client:
            click.echo(json.dumps((await client.get_chaos_schedule()).as_body(), indent=1))
        return EXIT_OK

    run(go())


@schedule.command(name="set", epilog=EPILOG)
@click.argument("file", metavar="FILE")
@connection_options
def schedule_set(file: str, connect: Callable[[], ProgressClient]) -> None:
    """Set the schedule from FILE (ChaosScheduleDescription JSON; its Version is replaced by the cluster's)."""
    try:
        new = ChaosSchedule.from_body(json.loads(Path(file).read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError, AttributeError) as exc:
        raise click.BadParameter(f"{file}: not a Chaos schedule ({exc})", param_hint="FILE") from None

    async def go() -> int:
        async with connect() as client:
            stored = await client.set_chaos_schedule(new)
        err_console().print(f"schedule set (version {stored.version}, {len(stored.jobs)} job(s))", markup=False)
        return EXIT_OK

    run(go())
