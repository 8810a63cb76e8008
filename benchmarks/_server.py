"""Run a FakeCluster in a child process, so the benchmark measures only the client's CPU."""

from __future__ import annotations

import contextlib
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


@contextlib.contextmanager
def _process(argv: list[str]) -> Iterator[str]:
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
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
