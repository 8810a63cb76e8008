"""The start commands, one per fault kind, built from the kind's parameters (``FaultTarget.parameters``).

Each reads its target and parameters as fields (from its arguments, or from each row of
``--from``) with the one reader, :func:`row_target`, starts the fault, records the start at
once, and waits if asked (always, with ``--from``, as one campaign).  No code here names a
kind: a new kind in the library has its command.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import IO, Any, BinaryIO

import click
from rich.markup import escape

from .. import FaultTarget, OperationType, Parameter, PlannedFault, ProgressClient
from ._batchrun import EXIT_FORBIDDEN, EXIT_OK
from ._campaign import run_campaign
from ._common import EPILOG, output_option, run, wait_one, with_batch_options
from ._connect import connection_options
from ._io import open_input, rows_from
from ._metrics import serve_metrics
from ._render import kind_of, ref_record
from ._selectors import SELECTOR_NAMES, Select, selection, selector_options
from ._ui import err_console


def _same_type(fields: dict[str, str], kind: OperationType) -> None:
    """A row's ``type`` column, when it has one, must name the command's own kind (never fault it as another)."""
    named = fields.get("type")
    if named is not None and named.strip() and kind_of(named) is not kind:
        raise ValueError(f"the row is typed {named!r}; this command starts only {kind.short_name} rows")


def row_target(kind: OperationType, fields: dict[str, str]) -> FaultTarget:
    """The target a row of ``--from`` (or the command's own arguments, as text) names: one reader for every kind."""
    _same_type(fields, kind)
    values: dict[str, object] = {}
    for parameter in FaultTarget.parameters(kind):
        text = fields.get(parameter.column)
        if text is not None and str(text).strip():
            values[parameter.name] = parameter.value(str(text))
    return FaultTarget.of(kind, operation_id=fields.get("operation_id"), **values)


def start_command(kind: OperationType) -> click.Command:
    """The start command of *kind*: its target and parameters as arguments and options, from the kind table."""
    parameters = FaultTarget.parameters(kind)
    name = kind.short_name
    positional = [p for p in parameters if p.positional]

    def command(**options: Any) -> None:
        selector = {k: options.pop(k, None) for k in SELECTOR_NAMES}
        texts = {p.column: str(value) for p in parameters if (value := options.pop(p.name)) is not None}
        select = selection(kind, parameters, selector, texts)
        if select is not None:
            if options.get("source") is not None:
                raise click.UsageError("give a selector or --from FILE (not both)")
            run_starts(lambda row: row_target(kind, row), None, what=name, stray=[], select=select, **options)
            return
        stray = [texts[p.column] for p in positional if p.column in texts]
        fields = texts if all(p.column in texts for p in positional) else None
        if fields is not None and options.get("source") is None:
            missing = [p.flag for p in parameters if p.required and not p.positional and p.column not in fields]
            if missing:
                raise click.UsageError(f"{missing[0]} is required")
        run_starts(lambda row: row_target(kind, row), fields, what=name, stray=stray, **options)

    command.__doc__ = f"Start a {name} fault (and optionally wait for it), or many from a file (--from) and watch them."
    decorated: Any = common_options(name, _columns(parameters))(command)
    for option in reversed(selector_options(parameters)):
        decorated = option(decorated)
    for parameter in reversed(parameters):
        decorated = _click_parameter(parameter)(decorated)
    return click.command(name=name, epilog=EPILOG, help=command.__doc__)(decorated)


def _click_parameter(p: Parameter) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    if p.switch:
        return click.option(p.flag, p.name, is_flag=True, default=None, help=p.help)
    choices = list(p.aliases) if p.aliases else list(p.choices)
    kind: Any = click.Choice(choices, case_sensitive=False) if choices else (click.INT if p.number else None)
    if p.positional:
        metavar = "|".join(choices) if choices else p.name.split("_")[0].upper()
        return click.argument(p.name, required=False, type=kind, metavar=metavar)
    default = next((alias for alias, value in p.aliases.items() if value == p.default), p.default)
    return click.option(
        p.flag, p.name, type=kind, help=p.help, show_default=None if default is None else str(default)
    )


def _columns(parameters: tuple[Parameter, ...]) -> str:
    """A ``--from`` file's columns, as ``--help`` says them: the required ones, then the others in brackets."""
    required = [p.column for p in parameters if p.required]
    optional = [p.column for p in parameters if not p.required]
    return ", ".join(required) + (f"[, {', '.join(optional)}]" if optional else "")


def _check_usage(
    what: str,
    fields: dict[str, str] | None,
    stray: list[str],
    source: str | None,
    journal: str | None,
    operation_id: str | None,
    output: str,
    until: str,
    max_active: int | None,
    abort_on_unrecovered: bool,
    selected: bool = False,
) -> None:
    """The start command's options that do not go together (usage errors, before anything is sent)."""
    if selected:
        source = "a selection"
    elif (source is None) == (fields is None):
        raise click.UsageError(f"give the {what} target, or --from FILE, or a selector (not both)")
    if source is not None and stray:
        raise click.UsageError(f"--from FILE takes no target arguments (got {' '.join(stray)})")
    if journal is not None and source is None:
        raise click.UsageError("--journal goes with --from FILE or a selector (a journal keeps a run of many faults)")
    if source is not None:
        if operation_id is not None:
            raise click.UsageError("--operation-id is for one target; with --from, give an operation_id column")
        ctx = click.get_current_context()
        if output != "json" and ctx.get_parameter_source("output") is not click.core.ParameterSource.DEFAULT:
            raise click.UsageError("with --from or a selector, results are JSON lines (-o json); the summary is on "
                                   "stderr")
    elif max_active is not None or abort_on_unrecovered:
        raise click.UsageError("--max-active and --abort-on-unrecovered pace many starts: they go with --from FILE "
                               "or a selector")
    if abort_on_unrecovered and until != "recovered":
        raise click.UsageError("--abort-on-unrecovered goes with --until recovered")



def run_starts(
    target: Callable[[dict[str, str]], FaultTarget],
    fields: dict[str, str] | None,
    *,
    what: str,
    stray: list[str],
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
    hold_timeout: float | None = None,
    cancel_on_lever: bool = False,
    plan: bool = False,
    select: Select | None = None,
) -> None:
    """Start one fault (from *fields*) or many (from *source*), as the command line asked.

    *target* reads a target's fields (arguments or a row of ``--from``) into a ``FaultTarget``;
    the same reading serves plain starts and journaled runs.  *stray*: target arguments given.
    """
    _check_usage(what, fields, stray, source, journal, operation_id, output, until, max_active, abort_on_unrecovered,
                 select is not None)

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

    async def many(
        client: ProgressClient, targets: list[FaultTarget], skipped: int = 0, note: str | None = None
    ) -> int:
        # Every campaign is a FaultRun (on --journal, or on a temporary journal): its gates, written once.
        options = {"deadline": deadline, "concurrency": concurrency, "max_rate": max_rate}
        recovery = until == "recovered"
        gates = {"max_active": max_active, "recovery": recovery, "abort_on_unrecovered": abort_on_unrecovered,
                 "hold_timeout": hold_timeout, "cancel_on_lever": cancel_on_lever}
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
            note=note,
        )

    async def go(stream: BinaryIO | None) -> int:
        async with connect() as client:
            if select is not None:
                targets, said = await select(client)
                err_console().print(escape(f"{said}: " + ", ".join(t.ref.target for t in targets)), soft_wrap=True)
                return await (client_plan(client, targets, output) if plan else many(client, targets, note=said))
            if plan:
                return await planned(client, target, fields, stream, output)
            if stream is None:
                assert fields is not None
                return await one(client, fields)
            return await many(client, *await targets_from(stream, target))

    if source is None:
        with serve_metrics(metrics_port, metrics_host):
            run(go(None))
        return
    with open_input(source) as stream, serve_metrics(metrics_port, metrics_host):
        run(go(stream))


async def targets_from(
    stream: BinaryIO, target: Callable[[dict[str, str]], FaultTarget]
) -> tuple[list[FaultTarget], int]:
    """The targets of a ``--from`` file, and how many lines were skipped (each said on stderr)."""
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
    return targets, skipped


async def planned(
    client: ProgressClient,
    target: Callable[[dict[str, str]], FaultTarget],
    fields: dict[str, str] | None,
    stream: BinaryIO | None,
    output: str,
) -> int:
    """--plan: every target prepared and held to the rules, printed; nothing is sent."""
    targets = []
    if stream is None:
        assert fields is not None
        try:
            targets.append(target(fields))
        except (ValueError, TypeError) as exc:
            raise click.BadParameter(str(exc)) from None
    else:
        targets, _ = await targets_from(stream, target)
    return await client_plan(client, targets, output)


async def client_plan(client: ProgressClient, targets: list[FaultTarget], output: str) -> int:
    """The plan of *targets*, printed (one line, or JSON line, each); exit 8 if a rule forbids one now."""
    faults = await client.plan(targets)
    for fault in faults:
        click.echo(json.dumps(fault.as_dict()) if output == "json" else plan_line(fault))
    return EXIT_OK if all(fault.allowed for fault in faults) else EXIT_FORBIDDEN


def plan_line(fault: PlannedFault) -> str:
    """One planned fault for people: the target, its baseline's choices, and what would stop it."""
    ref = fault.target.ref
    choices = "" if ref.baseline is None else " " + " ".join(f"{k}={v}" for k, v in ref.baseline.as_dict().items())
    if fault.refused is not None:
        return f"{ref.kind.short_name} {ref.target}: would not apply: {fault.refused}"
    if fault.forbidden:
        why = "; ".join(f"{rule}: {saw}" for rule, saw in fault.forbidden)
        return f"{ref.kind.short_name} {ref.target}:{choices} forbidden now ({why})"
    return f"{ref.kind.short_name} {ref.target}:{choices} would start"


plan_option = click.option(
    "--plan", is_flag=True,
    help="Send nothing: read each target, make the choices left to sf_progress, hold it to the safety rules, "
    "and print the plan (one line each; -o json: JSON lines). Exit 8 when a rule forbids one now.",
)

_hold_timeout = click.option(
    "--hold-timeout",
    type=click.FloatRange(0, min_open=True),
    metavar="SECONDS",
    help="With --from (and resume): a start a safety rule forbids is held, the rule read again every 2 s, "
    "until it opens; after this long held, nothing more is started and the run exits 8 (default: held until "
    "it opens).",
)
_cancel_on_lever = click.option(
    "--cancel-on-lever", is_flag=True,
    help="With --from (and resume): once the stop lever is engaged, also cancel the run's active Fault Analysis "
    "operations (a run always stops starting faults then, and exits 8).",
)


def hold_timeout_option(func: Callable[..., Any]) -> Callable[..., Any]:
    """``--hold-timeout`` and ``--cancel-on-lever``: how a campaign meets a closed rule and the stop lever."""
    return _hold_timeout(_cancel_on_lever(func))


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
            hold_timeout_option,
            plan_option,
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
