"""``sf-progress``: watch one or thousands of partition restarts from a shell.

A thin layer over the public API (``ProgressClient``, ``wait_many``); needs the ``cli``
extra (click, rich).  Exit codes: 0 completed, 1 error, 2 bad usage, 3 faulted,
4 cancelled, 5 timed out, 6 not found, 130 interrupted.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import random
import sys
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, BinaryIO

import click
from rich.markup import escape

from .. import (
    FaultTarget,
    JournalError,
    OperationRef,
    OperationState,
    OperationType,
    ProgressClient,
    WaitOptions,
    read_journal,
)
from ._batchrun import EXIT_ERROR, EXIT_OK, EXIT_USAGE, BatchRun, refs_from
from ._campaign import run_campaign
from ._chaoscmd import chaos
from ._checkcmd import check
from ._common import (
    EPILOG,
    deadline_option,
    output_option,
    quiet_option,
    run,
    until_option,
    wait_one,
    with_batch_options,
)
from ._connect import connection_options
from ._io import OutputFile, open_input, rows_from
from ._levercmd import lever
from ._metrics import serve_metrics
from ._render import progress_json, progress_text
from ._scenariocmd import scenario
from ._signals import STOP_SIGNALS
from ._startcmds import hold_timeout_option, start_command
from ._ui import err_console


@click.group(epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="sf_progress")
def main() -> None:
    """Track Service Fabric faults (restarts, data loss, quorum loss, node transitions; replica,
    code-package, move and node-restart faults, verified): read, wait for, watch, start, demo."""


type_option = click.option(
    "--type",
    "type_name",
    type=click.Choice([kind.short_name for kind in OperationType.fault_kinds() if not kind.verified]),
    default="restart",
    show_default=True,
    help="The operation's kind; for node-transition the ids are NODE OPERATION.  (A replica, code-package, "
    "move or node-restart fault is verified against what its target looked like: watch it --from the lines its "
    "start printed, or through its run's journal.)",
)


@main.command(epilog=EPILOG)
@click.argument("ids", nargs=-1, metavar="SERVICE PARTITION OPERATION | NODE OPERATION")
@type_option
@output_option
@connection_options
def get(ids: tuple[str, ...], type_name: str, output: str, connect: Callable[[], ProgressClient]) -> None:
    """Read the progress of one fault operation once."""
    ref = _ref(type_name, ids)

    async def go() -> int:
        async with connect() as client:
            progress = await client.get_progress(ref)
        click.echo(json.dumps(progress_json(progress)) if output == "json" else progress_text(progress))
        return EXIT_OK

    run(go())


def _ref(type_name: str, ids: tuple[str, ...]) -> OperationRef:
    kind = OperationType.named(type_name)
    where = [p for p in FaultTarget.parameters(kind) if p.target]  # what it acts on, then the operation
    if len(ids) != len(where) + 1:
        names = " ".join(p.name.split("_")[0].upper() for p in where)
        raise click.UsageError(f"give {names} OPERATION for a {kind.short_name}")
    try:
        target: dict[str, Any] = {p.name: value for p, value in zip(where, ids, strict=False)}
        return OperationRef(kind=kind, operation_id=ids[-1], **target)
    except (ValueError, TypeError) as exc:
        raise click.BadParameter(str(exc)) from None


@main.command(epilog=EPILOG)
@click.argument("ids", nargs=-1, metavar="SERVICE PARTITION OPERATION | NODE OPERATION")
@type_option
@deadline_option
@until_option
@output_option
@quiet_option
@connection_options
def wait(
    ids: tuple[str, ...],
    type_name: str,
    deadline: float,
    until: str,
    output: str,
    quiet: bool,
    connect: Callable[[], ProgressClient],
) -> None:
    """Wait for one fault operation to end (or its target to recover); the exit code says how it ended."""
    ref = _ref(type_name, ids)

    async def go() -> int:
        async with connect() as client:
            return await wait_one(client, ref, deadline, output, quiet, until)

    run(go())


@main.command(epilog=EPILOG)
@click.option(
    "--from",
    "source",
    metavar="FILE",
    required=True,
    help="Operations as JSON lines or CSV (service_id, partition_id, operation_id; a type column for other kinds "
    "than restart, node_name for node transitions); - for stdin.",
)
@with_batch_options
@connection_options
def watch(
    source: str,
    results: IO[str] | None,
    concurrency: int,
    max_rate: float | None,
    deadline: float,
    until: str,
    quiet: bool,
    metrics_port: int | None,
    metrics_host: str,
    connect: Callable[[], ProgressClient],
) -> None:
    """Wait for many fault operations listed in a file (or arriving on stdin), with live progress."""

    async def go(stream: BinaryIO) -> int:
        async with connect() as client:
            options = WaitOptions(
                deadline=deadline, concurrency=concurrency, max_rate=max_rate, recovery=until == "recovered"
            )
            batch = BatchRun(client, results=results or sys.stdout, options=options, quiet=quiet, title="watching")
            return await batch.watch(refs_from(rows_from(stream, batch.report), batch.report))

    with open_input(source) as stream, serve_metrics(metrics_port, metrics_host):
        run(go(stream))


for _kind in OperationType.fault_kinds():  # one start command per fault kind, from the kind table
    main.add_command(start_command(_kind))
main.add_command(check)
main.add_command(lever)
main.add_command(scenario)
main.add_command(chaos)


@main.command(name="report", epilog=EPILOG)
@click.argument("journal", metavar="JOURNAL")
@click.option(
    "--output", "-o", "fmt", type=click.Choice(["html", "md", "json", "junit", "verdict"]), default="html",
    show_default=True,
    help="The report's format (as -o chooses the output on every command): html, one self-contained page "
    "(needs sf_progress[report]); md, for an incident or a pull request; json; junit, JUnit XML for CI "
    "test results; verdict, one JSON object (outcome, conclusive, counts, warnings).",
)
@click.option(
    "--to", "out", metavar="PATH",
    help="Write the report here (default: JOURNAL with .html, .md, .json, .junit.xml or .verdict.json; - for "
    "stdout). Never the journal itself.",
)
def report(journal: str, fmt: str, out: str | None) -> None:
    """Turn a run's journal (finished, still running, or cut by a crash) into a report."""
    from ..report import FORMATS, build_chaos_report, build_report, is_chaos_journal, render, render_chaos

    source = Path(os.path.expanduser(journal))
    path = out if out == "-" else str(Path(os.path.expanduser(out)) if out else source.with_suffix(FORMATS[fmt]))
    if path != "-" and _same_file(Path(path), source):
        err_console().print(
            f"[red]error:[/] the report would overwrite its own journal ({escape(str(source))}): "
            "give another path with --to"
        )
        sys.exit(EXIT_USAGE)
    try:
        if is_chaos_journal(journal):  # `chaos watch --journal`: a Chaos run's report
            chaos_run = build_chaos_report(journal)
            text_of: Callable[[], str] = functools.partial(render_chaos, chaos_run, fmt)
            verdict = chaos_run.verdict
        else:
            built = build_report(journal)
            text_of, verdict = functools.partial(render, built, fmt), built.verdict
    except (OSError, ValueError) as exc:  # (a JournalError is a ValueError)
        err_console().print(f"[red]error:[/] {escape(str(exc))}")
        sys.exit(EXIT_USAGE)
    if path == "-" and fmt == "html":
        raise click.UsageError("an HTML report goes to a file: give --to PATH")
    try:
        text = text_of()
    except ModuleNotFoundError as exc:  # no Bokeh: the library's message names the extra
        err_console().print(f"[red]error:[/] {escape(str(exc))}")
        sys.exit(EXIT_USAGE)
    if path == "-":
        click.echo(text, nl=False)
        return
    try:
        Path(path).write_text(text, encoding="utf-8")
    except OSError as exc:
        err_console().print(f"[red]error:[/] cannot write {escape(repr(path))}: {escape(exc.strerror or str(exc))}")
        sys.exit(EXIT_ERROR)
    err_console().print(f"report: {escape(verdict)} → {escape(path)}")


def _same_file(a: Path, b: Path) -> bool:
    """Whether *a* and *b* name one file (the same path, a link, or another spelling of it)."""
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and a.samefile(b))
    except OSError:
        return False


@main.command(epilog=EPILOG)
@click.argument("journal", metavar="JOURNAL")
@click.option(
    "--force", is_flag=True,
    help="Resume even though the journal names another endpoint than --endpoint (without --endpoint, the "
    "journal's own is used).",
)
@hold_timeout_option
@with_batch_options
@connection_options
def resume(
    journal: str,
    force: bool,
    hold_timeout: float | None,
    cancel_on_lever: bool,
    results: IO[str] | None,
    concurrency: int,
    max_rate: float | None,
    deadline: float,
    until: str,
    quiet: bool,
    metrics_port: int | None,
    metrics_host: str,
    connect: Callable[..., ProgressClient],
) -> None:
    """Finish a run kept in a journal: start what it never sent, wait for what is left, report every target."""

    ctx = click.get_current_context()
    with contextlib.suppress(JournalError, OSError):
        if read_journal(journal).scenario:
            raise click.UsageError(f"{journal} is a failover scenario's journal: sf-progress scenario resume {journal}")
    if ctx.get_parameter_source("endpoint") is click.core.ParameterSource.DEFAULT:
        # No --endpoint (nor SF_ENDPOINT): the cluster the journal was run against.
        with contextlib.suppress(JournalError, OSError):
            connect = functools.partial(connect, endpoint=read_journal(journal).endpoint)

    async def go() -> int:
        async with connect() as client:
            options: dict[str, Any] = {"deadline": deadline, "concurrency": concurrency, "max_rate": max_rate}
            if ctx.get_parameter_source("until") is not click.core.ParameterSource.DEFAULT:
                options["recovery"] = until == "recovered"  # else: the journal's own gate
            return await run_campaign(
                client,
                journal=journal,
                targets=None,
                results=results or sys.stdout,
                options=options,
                gates={"hold_timeout": hold_timeout, "cancel_on_lever": cancel_on_lever},
                force=force,
                quiet=quiet,
                title="resumed",
            )

    with serve_metrics(metrics_port, metrics_host):
        run(go())


@main.command(epilog=EPILOG)
@click.option(
    "--partitions",
    type=click.IntRange(1, 100_000),
    default=300,
    show_default=True,
    help="How many fault operations to simulate.",
)
@click.option(
    "--fault-rate",
    type=click.FloatRange(0, 0.9),
    default=0.05,
    show_default=True,
    help="Share of progress reads the fake cluster answers with 503/504/resets/cut bodies.",
)
@click.option("--seed", type=int, default=None, help="Random seed, for a repeatable demo.")
@click.option("--results", type=OutputFile(), help="Write one JSON line per finished restart here.")
@click.option(
    "--until",
    type=click.Choice(["ended", "recovered"]),
    default="recovered",
    show_default=True,
    help="Wait until each fault ended, or until its target recovered (the demo's partitions take a few seconds).",
)
@click.option(
    "--report", "report_path", metavar="PATH",
    help="Also keep the run in a journal and write its HTML report here (needs sf_progress[report]).",
)
@quiet_option
def demo(
    partitions: int,
    fault_rate: float,
    seed: int | None,
    results: IO[str] | None,
    until: str,
    report_path: str | None,
    quiet: bool,
) -> None:
    """Inject faults on an embedded fake cluster and watch them: no cluster needed.

    Mostly partition restarts, with some data loss, quorum loss and node stops; by default
    each is waited on until its target recovered ("--until ended": until the fault ended).
    """
    from ..testing import FakeCluster, Fault, Script  # only the demo needs the fake cluster

    if report_path is not None:  # said before the demo runs, not after
        from ..report import check_html

        try:
            check_html()
        except ModuleNotFoundError as exc:
            err_console().print(f"[red]error:[/] {escape(str(exc))}")
            sys.exit(EXIT_USAGE)
    rng = random.Random(seed)

    def planner(ref: OperationRef) -> Script:
        roll = rng.random()
        duration = min(rng.lognormvariate(1.1, 0.6), 14.0)
        if roll < 0.08:
            return Script(
                duration=duration,
                outcome=OperationState.FAULTED,
                rollback=rng.uniform(0.5, 2.0),
                error_code=-2147017729,
            )
        # Each target comes back some seconds after its fault ended, as real partitions rebuild.
        recovery = min(rng.lognormvariate(0.3, 0.8), 20.0)
        return Script(duration=duration, result_while_running=roll > 0.6, recovery=recovery)

    async def go() -> int:
        # (the fake's nodes are each their own fault domain: the demo's node stops waive the node-spread rules)
        async with FakeCluster(planner=planner) as cluster, ProgressClient(
            cluster.url, allow=("domains", "seed-quorum")
        ) as client:
            cluster.set_fault_rate(
                fault_rate,
                [
                    Fault.service_unavailable(),
                    Fault.gateway_timeout(),
                    Fault.reset(),
                    Fault.truncated(),
                    Fault.service_unavailable("FABRIC_E_NOT_PRIMARY"),
                ],
                seed=rng.randrange(1 << 30),
            )
            services = [f"fabric:/chaos/svc{i}" for i in range(max(1, partitions // 20))]
            err_console().print(
                f"demo: fake cluster at {cluster.url}; injecting {partitions} faults, mostly restarts "
                f"({fault_rate:.0%} of reads answered with 503/504/resets)",
                soft_wrap=True,
            )
            for n in range(max(1, partitions // 25)):
                cluster.add_node(f"demo_node_{n}", 1000 + n)

            def targets() -> list[FaultTarget]:
                # Mostly restarts; some data loss, quorum loss and node stops, as a chaos run mixes them.
                nodes = iter(range(max(1, partitions // 25)))
                plan = []
                for i in range(partitions):
                    service, roll = services[i % len(services)], rng.random()
                    node = next(nodes, None) if roll < 0.04 else None
                    if node is not None:
                        plan.append(FaultTarget.node_transition(f"demo_node_{node}", "stop", stop_duration=300))
                    elif roll < 0.10:
                        plan.append(FaultTarget.data_loss(service, uuid.uuid4()))
                    elif roll < 0.16:
                        plan.append(FaultTarget.quorum_loss(service, uuid.uuid4(), duration=rng.randint(1, 8)))
                    else:
                        plan.append(FaultTarget.restart(service, uuid.uuid4()))
                return plan

            # The same campaign runner as `--from`: kept in a journal only when a report is asked for.
            journal = None
            if report_path is not None:
                journal = Path(tempfile.mkdtemp(prefix="sf-progress-demo-")) / "demo.jsonl"
            code = await run_campaign(
                client,
                journal=journal,
                targets=targets(),
                results=results,
                options={"deadline": 120.0, "concurrency": 64},
                gates={"recovery": until == "recovered"},
                quiet=quiet,
                title="demo faults",
            )
            err_console().print(
                f"the fake cluster served {cluster.requests} requests ({cluster.by_route['progress']} progress reads)"
            )
            if journal is not None and report_path is not None:
                from ..report import build_report, write_report

                built = build_report(journal)
                write_report(built, report_path, "html")
                err_console().print(f"report: {built.verdict} → {report_path} (journal {journal})")
            # A signal's exit code stands (130, 143, 129); faults that did not complete are the demo's point.
            return code if code in STOP_SIGNALS.values() else EXIT_OK

    run(go())
