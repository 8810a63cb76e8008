"""The start commands: restart, data-loss, quorum-loss, node-transition (one target, or many --from a file).

Each reads its target and parameters as fields (from its arguments, or from each row of
``--from``), starts the fault, records the start at once, and waits if asked (always,
with ``--from``).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import IO, Any, BinaryIO

import click
from rich.markup import escape

from .. import DataLossMode, FaultTarget, OperationType, ProgressClient, QuorumLossMode
from ._batchrun import EXIT_OK
from ._campaign import run_campaign
from ._common import output_option, run, wait_one, with_batch_options
from ._connect import connection_options
from ._io import open_input, rows_from
from ._metrics import serve_metrics
from ._render import kind_of, ref_record
from ._ui import err_console

_POSITIONALS = ("service", "partition", "node", "transition")
#: The command line's short spellings of the data-loss and quorum-loss modes.
DATA_LOSS_MODES = {"partial": DataLossMode.PARTIAL_DATA_LOSS.value, "full": DataLossMode.FULL_DATA_LOSS.value}
QUORUM_LOSS_MODES = {"quorum": QuorumLossMode.QUORUM_REPLICAS.value, "all": QuorumLossMode.ALL_REPLICAS.value}


def cli_mode(mode: DataLossMode | QuorumLossMode) -> str:
    """The short spelling of *mode* (how ``--help`` shows the library's default)."""
    return next(name for name, value in {**DATA_LOSS_MODES, **QUORUM_LOSS_MODES}.items() if value == mode.value)


def _field(fields: dict[str, str], name: str) -> str:
    value = fields.get(name)
    if value is None:
        raise ValueError(f"missing {name}")
    return value


def _seconds(text: str, name: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{name} must be a number of seconds, got {text!r}") from None


def _same_type(fields: dict[str, str], kind: OperationType) -> None:
    """A row's ``type`` column, when it has one, must name the command's own kind (never fault it as another)."""
    named = fields.get("type")
    if named is not None and named.strip() and kind_of(named) is not kind:
        raise ValueError(f"the row is typed {named!r}; this command starts only {kind.short_name} rows")


def restart_target(fields: dict[str, str]) -> FaultTarget:
    _same_type(fields, OperationType.PARTITION_RESTART)
    options: dict[str, Any] = {}
    if "mode" in fields:
        options["mode"] = fields["mode"]
    return FaultTarget.restart(
        _field(fields, "service_id"), _field(fields, "partition_id"), operation_id=fields.get("operation_id"), **options
    )


def data_loss_target(fields: dict[str, str]) -> FaultTarget:
    _same_type(fields, OperationType.PARTITION_DATA_LOSS)
    options: dict[str, Any] = {}
    if "mode" in fields:
        options["mode"] = DATA_LOSS_MODES.get(fields["mode"].lower(), fields["mode"])
    return FaultTarget.data_loss(
        _field(fields, "service_id"), _field(fields, "partition_id"), operation_id=fields.get("operation_id"), **options
    )


def quorum_loss_target(fields: dict[str, str]) -> FaultTarget:
    _same_type(fields, OperationType.PARTITION_QUORUM_LOSS)
    options: dict[str, Any] = {}
    if "mode" in fields:
        options["mode"] = QUORUM_LOSS_MODES.get(fields["mode"].lower(), fields["mode"])
    return FaultTarget.quorum_loss(
        _field(fields, "service_id"),
        _field(fields, "partition_id"),
        duration=_seconds(_field(fields, "duration"), "duration"),
        operation_id=fields.get("operation_id"),
        **options,
    )


def node_transition_target(fields: dict[str, str]) -> FaultTarget:
    _same_type(fields, OperationType.NODE_TRANSITION)
    options: dict[str, Any] = {}
    if "duration" in fields:
        options["stop_duration"] = _seconds(fields["duration"], "duration")
    return FaultTarget.node_transition(
        _field(fields, "node_name"),
        _field(fields, "transition"),
        node_instance_id=fields.get("node_instance_id"),
        operation_id=fields.get("operation_id"),
        **options,
    )


def _check_usage(
    what: str,
    fields: dict[str, str] | None,
    source: str | None,
    journal: str | None,
    operation_id: str | None,
    output: str,
    until: str,
    max_active: int | None,
    abort_on_unrecovered: bool,
) -> None:
    """The start command's options that do not go together (usage errors, before anything is sent)."""
    if (source is None) == (fields is None):
        raise click.UsageError(f"give the {what} target, or --from FILE (not both)")
    stray = [str(v) for k, v in click.get_current_context().params.items() if k in _POSITIONALS and v is not None]
    if source is not None and stray:
        raise click.UsageError(f"--from FILE takes no target arguments (got {' '.join(stray)})")
    if journal is not None and source is None:
        raise click.UsageError("--journal goes with --from FILE (a journal keeps a run of many faults)")
    if source is not None:
        if operation_id is not None:
            raise click.UsageError("--operation-id is for one target; with --from, give an operation_id column")
        ctx = click.get_current_context()
        if output != "json" and ctx.get_parameter_source("output") is not click.core.ParameterSource.DEFAULT:
            raise click.UsageError("with --from, results are JSON lines (-o json); the summary is on stderr")
    elif max_active is not None or abort_on_unrecovered:
        raise click.UsageError("--max-active and --abort-on-unrecovered pace many starts: they go with --from FILE")
    if abort_on_unrecovered and until != "recovered":
        raise click.UsageError("--abort-on-unrecovered goes with --until recovered")



def run_starts(
    target: Callable[[dict[str, str]], FaultTarget],
    fields: dict[str, str] | None,
    *,
    what: str,
    journal: str | None = None,
    source: str | None,
    operation_id: str | None,
    wait_for_it: bool,
    output: str,
    results: IO[str] | None,
    concurrency: int,
    max_rate: float | None,
    deadline: float,
    quiet: bool,
    connect: Callable[[], ProgressClient],
    until: str = "ended",
    max_active: int | None = None,
    abort_on_unrecovered: bool = False,
    metrics_port: int | None = None,
    metrics_host: str = "127.0.0.1",
) -> None:
    """Start one fault (from *fields*) or many (from *source*), as the command line asked.

    *target* reads a target's fields (arguments or a row of ``--from``) into a ``FaultTarget``;
    the same reading serves plain starts and journaled runs.
    """

    _check_usage(what, fields, source, journal, operation_id, output, until, max_active, abort_on_unrecovered)

    async def one(client: ProgressClient, fields: dict[str, str]) -> int:
        if operation_id is not None:
            fields["operation_id"] = operation_id
        try:
            ref = await client.start(target(fields))
        except (ValueError, TypeError) as exc:
            raise click.BadParameter(str(exc)) from None
        if not wait_for_it:
            click.echo(json.dumps(ref_record(ref)) if output == "json" else f"started {ref.operation_id}")
            return EXIT_OK
        err_console().print(f"started {ref.operation_id}")
        return await wait_one(client, ref, deadline, output, quiet, until)

    async def many(client: ProgressClient, stream: BinaryIO) -> int:
        # Every campaign is a FaultRun (on --journal, or on a temporary journal): its gates, written once.
        console = err_console()
        skipped = 0

        def bad_line(message: str) -> None:
            nonlocal skipped
            skipped += 1
            console.print(f"[yellow]skipped[/] {escape(message)}")

        targets = []
        async for row in rows_from(stream, bad_line):
            try:
                targets.append(target(dict(row.fields)))
            except (ValueError, TypeError, KeyError) as exc:
                bad_line(f"line {row.line}: not started: {exc}")
        options = {"deadline": deadline, "concurrency": concurrency, "max_rate": max_rate}
        recovery = until == "recovered"
        gates = {"max_active": max_active, "recovery": recovery, "abort_on_unrecovered": abort_on_unrecovered}
        return await run_campaign(
            client,
            journal=journal,
            targets=targets,
            results=results or sys.stdout,
            options=options,
            gates=gates,
            skipped=skipped,
            quiet=quiet,
            title=f"{what}s",
        )

    async def go(stream: BinaryIO | None) -> int:
        async with connect() as client:
            if stream is None:
                assert fields is not None
                return await one(client, fields)
            return await many(client, stream)

    if source is None:
        with serve_metrics(metrics_port, metrics_host):
            run(go(None))
        return
    with open_input(source) as stream, serve_metrics(metrics_port, metrics_host):
        run(go(stream))


def common_options(what: str, columns: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The options every start command has."""

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        options: list[Callable[[Callable[..., Any]], Callable[..., Any]]] = [
            click.option(
                "--operation-id",
                help="Use this OperationId (default: a new random one; with --from, an operation_id column).",
            ),
            click.option(
                "--wait", "wait_for_it", is_flag=True, help=f"Wait for the {what} to end (always so with --from)."
            ),
            click.option(
                "--max-active",
                type=click.IntRange(1),
                help="With --from: at most N faults started and not yet ended (with --until recovered: not yet "
                "recovered); the next starts when one slot frees.",
            ),
            click.option(
                "--abort-on-unrecovered",
                is_flag=True,
                help="With --from and --until recovered: once a target does not recover by the deadline, start "
                "nothing more, let the active ones finish, and exit 7.",
            ),
            click.option(
                "--journal",
                metavar="PATH",
                help="With --from: keep the run in this journal (fsync'd before each start), so that "
                "`sf-progress resume PATH` finishes a killed run with no fault lost or started twice.",
            ),
            click.option(
                "--from",
                "source",
                metavar="FILE",
                help=f"Start many: JSON lines or CSV with {columns}[, operation_id]; - for stdin. Each start "
                "is written as a 'started' JSON line at once, each result when it ends.",
            ),
            output_option,
            with_batch_options,
            connection_options,
        ]
        for option in reversed(options):
            func = option(func)
        return func

    return decorate
