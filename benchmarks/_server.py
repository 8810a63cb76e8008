"""Run a FakeCluster in a child process, so the benchmark measures only the client's CPU."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator


@contextlib.contextmanager
def fake_cluster_process(duration: float = 0.0) -> Iterator[str]:
    """Start ``python -m sf_progress.testing`` and yield its URL."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "sf_progress.testing", "--duration", str(duration), "--watch-stdin"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        if not url.startswith("http://"):
            raise RuntimeError(f"fake cluster did not start: {url!r}")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)
