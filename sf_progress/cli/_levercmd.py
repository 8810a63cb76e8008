"""``sf-progress lever engage|release|status``: the stop lever every sf_progress process obeys."""

from __future__ import annotations

import json
from collections.abc import Callable

import click
from rich.markup import escape

from .. import LeverState, ProgressClient
from ._batchrun import EXIT_FORBIDDEN, EXIT_OK
from ._common import EPILOG, output_option, run
from ._connect import connection_options
from ._ui import err_console

__all__ = ["lever"]


def _say(state: LeverState, output: str) -> int:
    """Print the lever's state; exit 8 while it is engaged (faults are refused), else 0."""
    if output == "json":
        click.echo(json.dumps(state.as_dict()))
    else:
        err_console().print(f"stop lever {escape(str(state))}", style="red" if state.engaged else "green",
                            soft_wrap=True)
    return EXIT_FORBIDDEN if state.engaged else EXIT_OK


@click.group(epilog=EPILOG)
def lever() -> None:
    """The stop lever: while it is engaged, no sf_progress process on any machine starts a fault.

    It is kept in the cluster (the naming property ``killswitch`` of
    ``fabric:/sfprogress/control``).  Within 3 s of it being engaged, single starts are refused
    (exit 8) and campaigns start nothing more, wait for what they started and exit 8 (with
    ``--cancel-on-lever`` they also cancel their active Fault Analysis operations).  Each
    command prints the lever's state and exits 8 while it is engaged, 0 once released.
    """


@lever.command(epilog=EPILOG)
@click.option("--reason", metavar="TEXT", help="Why (shown by `lever status` and `check`; at most 1,000 characters).")
@output_option
@connection_options
def engage(reason: str | None, output: str, connect: Callable[[], ProgressClient]) -> None:
    """Engage the stop lever (needs Admin credentials): every sf_progress process stops starting faults."""

    async def go() -> int:
        async with connect() as client:
            return _say(await client.engage_lever(reason), output)

    run(go())


@lever.command(epilog=EPILOG)
@output_option
@connection_options
def release(output: str, connect: Callable[[], ProgressClient]) -> None:
    """Release the stop lever: faults may be started again."""

    async def go() -> int:
        async with connect() as client:
            return _say(await client.release_lever(), output)

    run(go())


@lever.command(epilog=EPILOG)
@output_option
@connection_options
def status(output: str, connect: Callable[[], ProgressClient]) -> None:
    """Show the stop lever: engaged (by whom, when, why; exit 8) or released (exit 0)."""

    async def go() -> int:
        async with connect() as client:
            return _say(await client.get_lever(), output)

    run(go())
