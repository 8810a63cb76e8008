"""Serve a FakeCluster until interrupted: ``python -m sf_progress.testing [--port N]``.

Prints the cluster's URL on the first line of stdout, then serves until SIGINT/SIGTERM
or until stdin closes (so a parent process that dies takes the server with it).
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

from ._fake import FakeCluster
from ._scripts import Script


async def _serve(args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    restore = _stop_on_signals(loop, stop)
    if args.watch_stdin:
        # A thread, not loop.add_reader: Windows' Proactor loop has no readers for pipes.
        threading.Thread(target=_until_eof, args=(sys.stdin.fileno(), loop, stop), daemon=True).start()
    try:
        async with FakeCluster(
            host=args.host, port=args.port, default_script=Script(duration=args.duration)
        ) as cluster:
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


def main(argv: list[str] | None = None) -> None:
    """Entry point of ``python -m sf_progress.testing``."""
    parser = argparse.ArgumentParser(prog="python -m sf_progress.testing", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=_port, default=0)
    parser.add_argument("--duration", type=_duration, default=0.0, help="seconds each operation runs")
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
