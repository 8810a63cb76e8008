"""What the commands share: options, running a command's coroutine, waiting for one operation."""

from __future__ import annotations

import asyncio
import json
import math
import sys
import time
from collections.abc import Callable, Coroutine
from typing import Any

import click
from rich.markup import escape

from .. import (
    ClusterMismatchError,
    FaultProgress,
    NotFoundError,
    OperationRef,
    OutcomeKind,
    ProgressClient,
    RecoveryTimeout,
    SafetyError,
    SFProgressError,
    WaitOptions,
    WaitTimeout,
)
from ._batchrun import (
    EXIT_BY_KIND,
    EXIT_ERROR,
    EXIT_FORBIDDEN,
    EXIT_INTERRUPTED,
    EXIT_NOT_FOUND,
    EXIT_TIMED_OUT,
    EXIT_UNRECOVERED,
)
from ._io import OutputFile
from ._render import progress_json, progress_text
from ._signals import STOP_SIGNALS, until_stopped
from ._ui import err_console

EPILOG = (
    "Exit codes: 0 completed, 1 error, 2 bad usage, 3 faulted, 4 cancelled, 5 timed out, 6 not found, "
    "7 completed but not recovered (--until recovered), 8 refused for safety (a rule, the stop lever), "
    "9 validation failed (chaos watch, scenario), "
    "130 interrupted (Ctrl-C). "
    "Every connection option can also come from an SF_* environment variable."
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
    """Run a command's coroutine; translate our errors to messages and exit codes.

    SIGINT, SIGTERM and SIGHUP stop any command the same way: "interrupted", and the signal's
    exit code (a batch or a campaign handles them itself first, printing what ended).
    """
    try:
        code = asyncio.run(_stoppable(coro))
    except NotFoundError as exc:
        err_console().print(f"[magenta]not found:[/] {escape(str(exc))}")
        code = EXIT_NOT_FOUND
    except (ClusterMismatchError, SafetyError) as exc:  # a safety refusal, as a check that forbids faults
        err_console().print(f"[red]refused:[/] {escape(str(exc))}")
        code = EXIT_FORBIDDEN
    except SFProgressError as exc:
        err_console().print(f"[red]error:[/] {escape(str(exc))}")
        code = EXIT_ERROR
    except KeyboardInterrupt:  # Ctrl-C outside a batch (get, wait, restart): no traceback
        err_console().print("interrupted")
        code = EXIT_INTERRUPTED
    sys.exit(code)


async def _stoppable(coro: Coroutine[Any, Any, int]) -> int:
    """Run *coro*; a stop signal cancels it and gives the signal's exit code."""
    code, signum = await until_stopped(coro)
    if signum is None:
        assert code is not None
        return code
    err_console().print("interrupted")
    return STOP_SIGNALS[signum]


def state_exit(progress: FaultProgress) -> int:
    return EXIT_BY_KIND[OutcomeKind.for_state(progress.state) or OutcomeKind.COMPLETED]


async def wait_one(
    client: ProgressClient, ref: OperationRef, deadline: float, output: str, quiet: bool, until: str = "ended"
) -> int:
    console = err_console()
    started = time.monotonic()

    def on_progress(_: OperationRef, progress: FaultProgress) -> None:
        if not quiet:
            console.print(f"[{time.monotonic() - started:6.1f}s] {ref.operation_id}: {progress.raw_state}")

    try:
        with (
            console.status(f"waiting for {ref.operation_id}", spinner="dots")
            if console.is_terminal and not quiet
            else _nothing()
        ):
            progress = await client.wait_for_completion(
                ref, deadline=deadline, on_progress=on_progress, recovery=until == "recovered"
            )
    except RecoveryTimeout as exc:
        console.print(f"[yellow]not recovered:[/] {exc}")
        if output == "json" and exc.last_progress is not None:
            click.echo(json.dumps({**progress_json(exc.last_progress), "recovered": False,
                                   "reason": exc.recovery.reason}))
        return EXIT_UNRECOVERED
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
    default=WaitOptions().deadline,
    show_default=True,
    help="Give up after this many seconds (inf: no deadline).",
)
quiet_option = click.option("--quiet", "-q", is_flag=True, help="No progress output on stderr.")
until_option = click.option(
    "--until",
    type=click.Choice(["ended", "recovered"]),
    default="ended",
    show_default=True,
    help="Wait until each fault ended, or also until its partition or node recovered (health Ok, replicas "
    "back); a fault that completed but whose target did not recover by the deadline exits 7.",
)


batch_options = [
    click.option(
        "--results",
        type=OutputFile(),  # opened now: an unwritable path fails before anything starts
        help="Write one JSON line per finished operation here (default stdout).",
    ),
    click.option(
        "--concurrency",
        type=click.IntRange(1, WaitOptions.MAX_CONCURRENCY),
        default=WaitOptions().concurrency,
        show_default=True,
        help="Requests in flight.",
    ),
    click.option(
        "--max-rate", type=PositiveNumber(infinite=False), help="At most this many requests per second."
    ),
    deadline_option,
    until_option,
    quiet_option,
    click.option(
        "--metrics-port",
        type=click.IntRange(0, 65535),
        help="Serve the run's metrics for Prometheus on this port (0: any free one) while it runs.",
    ),
    click.option(
        "--metrics-host", default="127.0.0.1", show_default=True, help="The address --metrics-port listens on."
    ),
]


def with_batch_options(func: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(batch_options):
        func = option(func)
    return func

