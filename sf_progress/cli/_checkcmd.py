"""``sf-progress check``: may faults be injected into this cluster now?  One line per check."""

from __future__ import annotations

import json
from collections.abc import Callable

import click
from rich.markup import escape

from .. import CheckStatus, Preflight, ProgressClient
from ._batchrun import EXIT_ERROR, EXIT_FORBIDDEN, EXIT_OK
from ._common import EPILOG, output_option, run
from ._connect import connection_options
from ._ui import err_console

__all__ = ["check"]

_STYLES = {CheckStatus.OK: "green", CheckStatus.WARN: "yellow", CheckStatus.FORBIDS: "red",
           CheckStatus.FAILED: "red"}


def exit_code(preflight: Preflight) -> int:
    """0 when faults may go in, 8 when a check forbids them, 1 when the cluster could not be asked."""
    if not preflight.reachable:
        return EXIT_ERROR
    return EXIT_OK if preflight.allowed else EXIT_FORBIDDEN


@click.command(epilog=EPILOG)
@output_option
@connection_options
def check(output: str, connect: Callable[[], ProgressClient]) -> None:
    """Check whether faults may be injected now: exit 0 if so, 8 if a check forbids it, 1 if unreachable.

    Reads the gateway and credentials, the cluster's version and name, the Fault Analysis
    Service and the Repair Manager, SF Chaos, a cluster upgrade, the cluster's health and the
    stop lever, all at once.
    """

    async def go() -> int:
        async with connect() as client:
            preflight = await client.check()
        if output == "json":
            for item in preflight.checks:
                click.echo(json.dumps(item.as_dict()))
            click.echo(json.dumps({"allowed": preflight.allowed, "reachable": preflight.reachable}))
        else:
            console = err_console()
            for item in preflight.checks:
                style = _STYLES[item.status]
                console.print(f"[{style}]{item.status.value:<8}[/] {item.name:<15} {escape(item.detail)}",
                              soft_wrap=True)
            verdict = "faults may be injected" if preflight.allowed else (
                "the cluster could not be asked" if not preflight.reachable else
                "faults must not be injected now: " + ", ".join(c.name for c in preflight.forbidding))
            console.print(verdict, style="green" if preflight.allowed else "red")
        return exit_code(preflight)

    run(go())
