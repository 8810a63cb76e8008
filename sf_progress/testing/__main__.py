"""Serve a FakeCluster until interrupted: ``python -m sf_progress.testing [--port N] [script options]``.

Prints the cluster's URL on the first line of stdout, then serves until SIGINT/SIGTERM
or until stdin closes (so a parent process that dies takes the server with it).  Every
operation follows one script (``--duration``, ``--outcome``, ``--recovery``); ``--inject``
queues answers a test would inject (``503@progress*3``: the next three progress reads are
answered 503), ``--flaky RATE`` answers that fraction of progress reads 503.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import signal
import sys
import threading
import uuid
from collections.abc import Callable
from types import FrameType

from .._models import OperationState
from ._fake import ROUTES, FakeCluster
from ._scripts import Fault, Script


async def _serve(args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    restore = _stop_on_signals(loop, stop)
    if args.watch_stdin:
        # A thread, not loop.add_reader: Windows' Proactor loop has no readers for pipes.
        threading.Thread(target=_until_eof, args=(sys.stdin.fileno(), loop, stop), daemon=True).start()
    try:
        script = Script(duration=args.duration, outcome=args.outcome, recovery=args.recovery)
        async with FakeCluster(host=args.host, port=args.port, default_script=script) as cluster:
            for fault, routes, times in args.inject:
                cluster.inject(fault, routes=routes, times=times)
            if args.flaky:
                cluster.set_fault_rate(args.flaky, [Fault.service_unavailable()])
            services: dict[str, list[str]] = {}
            for service, partition in args.partition:
                services.setdefault(service, []).append(partition)
            for service, partitions in services.items():
                cluster.add_service(service, partitions)
            print(cluster.url, flush=True)
            await stop.wait()
    finally:
        restore()


def _stop_on_signals(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> Callable[[], None]:
    """Set *stop* on SIGINT or SIGTERM, on every platform: a plain handler that hands over to the loop.

    (No ``loop.add_signal_handler``: Windows' Proactor loop has none, and a plain handler's
    ``call_soon_threadsafe`` wakes any loop.  Needs no extra, unlike the command line's.)
    """

    def handler(signum: int, frame: FrameType | None) -> None:
        with contextlib.suppress(RuntimeError):  # the loop already ended
            loop.call_soon_threadsafe(stop.set)

    previous = {signum: signal.signal(signum, handler) for signum in (signal.SIGINT, signal.SIGTERM)}

    def restore() -> None:
        for signum, old in previous.items():
            signal.signal(signum, old)

    return restore


def _until_eof(fd: int, loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> None:
    with contextlib.suppress(OSError):
        while os.read(fd, 4096):
            pass
    with contextlib.suppress(RuntimeError):  # the loop already ended
        loop.call_soon_threadsafe(stop.set)


def _port(text: str) -> int:
    port = int(text)
    if not 0 <= port <= 65535:
        raise ValueError(text)
    return port


_port.__name__ = "port (0-65535)"


def _partition(text: str) -> tuple[str, str]:
    service, sep, partition = text.rpartition("=")
    if not sep or not service:
        raise ValueError(text)
    return service, str(uuid.UUID(partition))


_partition.__name__ = "partition (SERVICE=GUID)"


def _duration(text: str) -> float:
    seconds = float(text)
    if not 0 <= seconds < math.inf:
        raise ValueError(text)
    return seconds


_duration.__name__ = "duration (seconds >= 0)"


def _recovery(text: str) -> float:
    seconds = float(text)
    if not seconds >= 0:  # inf: the target never comes back (nan: refused)
        raise ValueError(text)
    return seconds


_recovery.__name__ = "recovery (seconds >= 0, or inf)"


def _outcome(text: str) -> OperationState:
    states = {s.value.lower(): s for s in (OperationState.COMPLETED, OperationState.FAULTED, OperationState.CANCELLED)}
    if text.lower() not in states:
        raise ValueError(text)
    return states[text.lower()]


_outcome.__name__ = "outcome (completed, faulted or cancelled)"

#: ``--inject`` names: each a fault the fake answers with.
_FAULTS: dict[str, Callable[..., Fault]] = {
    "503": Fault.service_unavailable,
    "504": Fault.gateway_timeout,
    "500": lambda: Fault.error(500, "E_FAIL"),
    "401": Fault.unauthorized,
    "403": Fault.forbidden,
    "reset": Fault.reset,
    "truncated": Fault.truncated,
    "slow": lambda seconds: Fault.slow(float(seconds)),
    "late": lambda seconds: Fault.late(float(seconds)),
}


def _fault(text: str) -> tuple[Fault, list[str] | None, int]:
    """``NAME[:ARG][@ROUTE[,ROUTE...]][*TIMES]``, e.g. ``503@progress*3`` or ``slow:2@list``."""
    rest, _, times = text.partition("*")
    rest, _, routes = rest.partition("@")
    name, _, arg = rest.partition(":")
    make = _FAULTS.get(name)
    if make is None:
        raise ValueError(text)
    fault = make(arg) if name in ("slow", "late") else make()
    chosen = routes.split(",") if routes else None
    if chosen is not None and not set(chosen) <= set(ROUTES):
        raise ValueError(text)
    count = int(times) if times else 1
    if count < 1:
        raise ValueError(text)
    return fault, chosen, count


_fault.__name__ = "fault (NAME[:ARG][@ROUTES][*TIMES])"


def _rate(text: str) -> float:
    rate = float(text)
    if not 0 <= rate <= 1:
        raise ValueError(text)
    return rate


_rate.__name__ = "rate (0..1)"


def main(argv: list[str] | None = None) -> None:
    """Entry point of ``python -m sf_progress.testing``."""
    parser = argparse.ArgumentParser(prog="python -m sf_progress.testing", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=_port, default=0)
    parser.add_argument("--duration", type=_duration, default=0.0, help="seconds each operation runs")
    parser.add_argument(
        "--outcome", type=_outcome, default=OperationState.COMPLETED,
        help="how each operation ends: completed (default), faulted or cancelled",
    )
    parser.add_argument(
        "--recovery", type=_recovery, default=0.0,
        help="seconds from an operation's end until its target is back (inf: never)",
    )
    parser.add_argument(
        "--inject", action="append", default=[], type=_fault, metavar="FAULT",
        help=f"queue an answer: NAME[:ARG][@ROUTE,...][*TIMES]; names {', '.join(_FAULTS)} (slow:SECONDS); "
        f"routes {', '.join(ROUTES)}; e.g. 503@progress*3; repeatable",
    )
    parser.add_argument("--flaky", type=_rate, default=0.0, metavar="RATE",
                        help="answer this fraction of progress reads 503")
    parser.add_argument("--watch-stdin", action="store_true", help="exit when stdin closes")
    parser.add_argument(
        "--partition",
        action="append",
        default=[],
        type=_partition,
        metavar="SERVICE=PARTITION_ID",
        help="declare a (stateful) partition the cluster has from the start, e.g. fabric:/app/svc=<guid>; repeatable",
    )
    args = parser.parse_args(argv)
    try:
        asyncio.run(_serve(args))
    except OSError as exc:  # the host does not resolve, the port is taken or not ours to bind
        parser.exit(1, f"{parser.prog}: cannot serve on {args.host}:{args.port}: {exc.strerror or exc}\n")


if __name__ == "__main__":
    main()
