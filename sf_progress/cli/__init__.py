"""``sf-progress``: watch one or thousands of partition restarts from a shell.

A thin layer over the public API (``ProgressClient``, ``wait_many``); needs the ``cli``
extra (click, rich).  Exit codes: 0 completed, 1 error, 2 bad usage, 3 faulted,
4 cancelled, 5 timed out, 6 not found, 130 interrupted.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import IO, Any, BinaryIO

import click

from .. import (
    NotFoundError,
    OperationRef,
    OperationState,
    OutcomeKind,
    PartitionRestartProgress,
    ProgressClient,
    RestartPartitionMode,
    SFProgressError,
    WaitTimeout,
)
from ._batchrun import (
    EXIT_BY_KIND,
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_NOT_FOUND,
    EXIT_OK,
    EXIT_TIMED_OUT,
    BatchRun,
    refs_from,
    started_refs,
)
from ._connect import connection_options
from ._io import open_input, rows_from
from ._ui import err_console

EPILOG = (
    "Exit codes: 0 completed, 1 error, 2 bad usage, 3 faulted, 4 cancelled, 5 timed out, 6 not found, "
    "130 interrupted (Ctrl-C). Every connection option can also come from an SF_* environment variable."
)

output_option = click.option(
    "--output",
    "-o",
    type=click.Choice(["human", "json"]),
    default="human",
    show_default=True,
    help="Human-readable text, or JSON on stdout.",
)


def run(coro: Coroutine[Any, Any, int]) -> None:
    """Run a command's coroutine; translate our errors to messages and exit codes."""
    try:
        code = asyncio.run(coro)
    except NotFoundError as exc:
        err_console().print(f"[magenta]not found:[/] {exc}")
        code = EXIT_NOT_FOUND
    except SFProgressError as exc:
        err_console().print(f"[red]error:[/] {exc}")
        code = EXIT_ERROR
    except KeyboardInterrupt:  # Ctrl-C outside a batch (get, wait, restart): no traceback
        err_console().print("interrupted")
        code = EXIT_INTERRUPTED
    sys.exit(code)


def progress_json(progress: PartitionRestartProgress) -> dict[str, Any]:
    result = progress.restart_partition_result
    selected = None if result is None else result.selected_partition
    return {
        "state": progress.raw_state,
        "restart_partition_result": None
        if result is None
        else {
            "error_code": result.error_code,
            "selected_partition": None
            if selected is None
            else {
                "service_name": selected.service_name,
                "partition_id": str(selected.partition_id),
            },
        },
    }


def progress_text(progress: PartitionRestartProgress) -> str:
    line = progress.raw_state
    result = progress.restart_partition_result
    if result is not None:
        line += f" (error code {result.error_code})"
        if result.selected_partition is not None:
            p = result.selected_partition
            line += f"\n  service   {p.service_name}\n  partition {p.partition_id}"
    return line


def state_exit(progress: PartitionRestartProgress) -> int:
    return EXIT_BY_KIND[OutcomeKind.for_state(progress.state) or OutcomeKind.COMPLETED]


@click.group(epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="sf_progress")
def main() -> None:
    """Track Service Fabric partition restarts: read, wait for, watch, start, demo."""


@main.command(epilog=EPILOG)
@click.argument("service")
@click.argument("partition")
@click.argument("operation")
@output_option
@connection_options
def get(service: str, partition: str, operation: str, output: str, connect: Callable[[], ProgressClient]) -> None:
    """Read the progress of one restart once."""

    async def go() -> int:
        async with connect() as client:
            progress = await client.get_restart_progress(_ref(service, partition, operation))
        click.echo(json.dumps(progress_json(progress)) if output == "json" else progress_text(progress))
        return EXIT_OK

    run(go())


def _ref(service: str, partition: str, operation: str) -> OperationRef:
    try:
        return OperationRef(service, partition, operation)
    except (ValueError, TypeError) as exc:
        raise click.BadParameter(str(exc)) from None


async def _wait_one(client: ProgressClient, ref: OperationRef, deadline: float, output: str, quiet: bool) -> int:
    console = err_console()
    started = time.monotonic()

    def on_progress(_: OperationRef, progress: PartitionRestartProgress) -> None:
        if not quiet:
            console.print(f"[{time.monotonic() - started:6.1f}s] {ref.operation_id}: {progress.raw_state}")

    try:
        with (
            console.status(f"waiting for {ref.operation_id}", spinner="dots")
            if console.is_terminal and not quiet
            else _nothing()
        ):
            progress = await client.wait_for_completion(ref, deadline=deadline, on_progress=on_progress)
    except WaitTimeout as exc:
        console.print(f"[bright_red]timed out:[/] {exc}")
        if output == "json" and exc.last_progress is not None:
            click.echo(json.dumps(progress_json(exc.last_progress)))
        return EXIT_TIMED_OUT
    click.echo(json.dumps(progress_json(progress)) if output == "json" else progress_text(progress))
    return state_exit(progress)


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


class PositiveNumber(click.types.FloatParamType):
    """A number > 0; NaN is never one, infinity only where *infinite* allows it."""

    name = "number"

    def __init__(self, *, infinite: bool) -> None:
        self.infinite = infinite

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        number = super().convert(value, param, ctx)
        if not number > 0 or (number == math.inf and not self.infinite):
            self.fail(f"{value!r} must be a {'' if self.infinite else 'finite '}number > 0", param, ctx)
        return number


deadline_option = click.option(
    "--deadline",
    type=PositiveNumber(infinite=True),
    default=600.0,
    show_default=True,
    help="Give up after this many seconds (inf: no deadline).",
)
quiet_option = click.option("--quiet", "-q", is_flag=True, help="No progress output on stderr.")


@main.command(epilog=EPILOG)
@click.argument("service")
@click.argument("partition")
@click.argument("operation")
@deadline_option
@output_option
@quiet_option
@connection_options
def wait(
    service: str,
    partition: str,
    operation: str,
    deadline: float,
    output: str,
    quiet: bool,
    connect: Callable[[], ProgressClient],
) -> None:
    """Wait for one restart to end; the exit code says how it ended."""

    async def go() -> int:
        async with connect() as client:
            return await _wait_one(client, _ref(service, partition, operation), deadline, output, quiet)

    run(go())


batch_options = [
    click.option(
        "--results",
        type=click.File("w", lazy=False),  # opened now: an unwritable path fails before anything starts
        help="Write one JSON line per finished operation here (default stdout).",
    ),
    click.option(
        "--concurrency", type=click.IntRange(1, 1024), default=64, show_default=True, help="Requests in flight."
    ),
    click.option(
        "--max-rate", type=PositiveNumber(infinite=False), help="At most this many requests per second."
    ),
    deadline_option,
    quiet_option,
]


def with_batch_options(func: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(batch_options):
        func = option(func)
    return func


@main.command(epilog=EPILOG)
@click.option(
    "--from",
    "source",
    metavar="FILE",
    required=True,
    help="Operations as JSON lines or CSV (service_id, partition_id, operation_id); - for stdin.",
)
@with_batch_options
@connection_options
def watch(
    source: str,
    results: IO[str] | None,
    concurrency: int,
    max_rate: float | None,
    deadline: float,
    quiet: bool,
    connect: Callable[[], ProgressClient],
) -> None:
    """Wait for many restarts listed in a file (or arriving on stdin), with live progress."""

    async def go(stream: BinaryIO) -> int:
        async with connect() as client:
            batch = BatchRun(
                client,
                results=results or sys.stdout,
                concurrency=concurrency,
                max_rate=max_rate,
                deadline=deadline,
                quiet=quiet,
                title="watching",
            )
            return await batch.watch(refs_from(rows_from(stream, batch.report), batch.report))

    with open_input(source) as stream:
        run(go(stream))


@main.command(epilog=EPILOG)
@click.argument("service", required=False)
@click.argument("partition", required=False)
@click.option(
    "--mode",
    type=click.Choice([m.value for m in RestartPartitionMode]),
    default=RestartPartitionMode.ALL_REPLICAS_OR_INSTANCES.value,
    show_default=True,
)
@click.option(
    "--operation-id", help="Use this OperationId (default: a new random one; with --from, an operation_id column)."
)
@click.option("--wait", "wait_for_it", is_flag=True, help="Wait for the restart to end (always so with --from).")
@click.option(
    "--from",
    "source",
    metavar="FILE",
    help="Restart many: JSON lines or CSV with service_id, partition_id[, operation_id, mode]; - for stdin. "
    "Each started restart is written as a 'started' JSON line at once, each result when it ends.",
)
@output_option
@with_batch_options
@connection_options
def restart(
    service: str | None,
    partition: str | None,
    mode: str,
    operation_id: str | None,
    wait_for_it: bool,
    source: str | None,
    output: str,
    results: IO[str] | None,
    concurrency: int,
    max_rate: float | None,
    deadline: float,
    quiet: bool,
    connect: Callable[[], ProgressClient],
) -> None:
    """Start a partition restart (and optionally wait), or restart many from a file and watch them."""
    if (source is None) == (service is None or partition is None):
        raise click.UsageError("give SERVICE and PARTITION, or --from FILE (not both)")
    if source is not None:
        if operation_id is not None:
            raise click.UsageError("--operation-id is for one restart; with --from, give an operation_id column")
        ctx = click.get_current_context()
        if output != "json" and ctx.get_parameter_source("output") is not click.core.ParameterSource.DEFAULT:
            raise click.UsageError("with --from, results are JSON lines (-o json); the summary is on stderr")

    async def one(client: ProgressClient, service: str, partition: str) -> int:
        try:
            ref = await client.start_partition_restart(service, partition, mode=mode, operation_id=operation_id)
        except (ValueError, TypeError) as exc:
            raise click.BadParameter(str(exc)) from None
        started = {
            "service_id": ref.service_id,
            "partition_id": str(ref.partition_id),
            "operation_id": str(ref.operation_id),
        }
        if not wait_for_it:
            click.echo(json.dumps(started) if output == "json" else f"started {ref.operation_id}")
            return EXIT_OK
        err_console().print(f"started {ref.operation_id}")
        return await _wait_one(client, ref, deadline, output, quiet)

    async def many(client: ProgressClient, stream: BinaryIO) -> int:
        batch = BatchRun(
            client,
            results=results or sys.stdout,
            concurrency=concurrency,
            max_rate=max_rate,
            deadline=deadline,
            quiet=quiet,
            title="restarting",
        )
        return await batch.watch(started_refs(client, rows_from(stream, batch.report), batch))

    async def go(stream: BinaryIO | None) -> int:
        async with connect() as client:
            if stream is None:
                assert service is not None  # checked above
                assert partition is not None
                return await one(client, service, partition)
            return await many(client, stream)

    if source is None:
        run(go(None))
        return
    with open_input(source) as stream:
        run(go(stream))


@main.command(epilog=EPILOG)
@click.option(
    "--partitions",
    type=click.IntRange(1, 100_000),
    default=300,
    show_default=True,
    help="How many partition restarts to simulate.",
)
@click.option(
    "--fault-rate",
    type=click.FloatRange(0, 0.9),
    default=0.05,
    show_default=True,
    help="Share of progress reads the fake cluster answers with 503/504/resets/cut bodies.",
)
@click.option("--seed", type=int, default=None, help="Random seed, for a repeatable demo.")
@click.option("--results", type=click.File("w"), help="Write one JSON line per finished restart here.")
@quiet_option
def demo(partitions: int, fault_rate: float, seed: int | None, results: IO[str] | None, quiet: bool) -> None:
    """Restart partitions on an embedded fake cluster and watch them: no cluster needed."""
    from ..testing import FakeCluster, Fault, Script  # only the demo needs the fake cluster

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
        return Script(duration=duration, result_while_running=roll > 0.6)

    async def go() -> int:
        async with FakeCluster(planner=planner) as cluster, ProgressClient(cluster.url) as client:
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
                f"demo: fake cluster at {cluster.url}; restarting {partitions} partitions "
                f"({fault_rate:.0%} of reads answered with 503/504/resets)",
                soft_wrap=True,
            )
            batch = BatchRun(
                client,
                results=results,
                concurrency=64,
                max_rate=None,
                deadline=120.0,
                quiet=quiet,
                title="demo restarts",
            )

            async def starts() -> AsyncIterator[OperationRef]:
                for i in range(partitions):
                    ref = await client.start_partition_restart(services[i % len(services)], uuid.uuid4())
                    if rng.random() < 0.03:
                        await client.cancel_operation(ref)
                    yield ref

            code = await batch.watch(starts())
            err_console().print(
                f"the fake cluster served {cluster.requests} requests ({cluster.by_route['progress']} progress reads)"
            )
            return EXIT_INTERRUPTED if code == EXIT_INTERRUPTED else EXIT_OK

    run(go())
