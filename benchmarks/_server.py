"""Run a FakeCluster in a child process, so the benchmark measures only the client's CPU."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def fake_cluster_process(duration: float = 0.0) -> Iterator[str]:
    """Start ``python -m sf_progress.testing`` and yield its URL."""
    with _process([sys.executable, "-m", "sf_progress.testing", "--duration", str(duration), "--watch-stdin"]) as url:
        yield url


@contextlib.contextmanager
def constant_server_process() -> Iterator[str]:
    """Start a server that answers every GET with ``{"State":"Running"}``; yield its URL."""
    with _process([sys.executable, str(Path(__file__).with_name("_constant_server.py"))]) as url:
        yield url


def pin_to_cores() -> None:
    """Pin this process (the client) to core 0 and later servers to the other cores.

    Client and server then never share a core, which removes most of the noise that
    comes from the two taking turns on one core.  A no-op on one-core machines.
    """
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if len(cores) > 1:
        os.sched_setaffinity(0, {cores[0]})
        _SERVER_CORES.update(cores[1:])


_SERVER_CORES: set[int] = set()


def _server_affinity() -> None:
    if _SERVER_CORES:
        os.sched_setaffinity(0, _SERVER_CORES)


@contextlib.contextmanager
def _process(argv: list[str]) -> Iterator[str]:
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, preexec_fn=_server_affinity)
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        if not url.startswith("http://"):
            raise RuntimeError(f"fake cluster did not start: {url!r}")
        yield url
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
