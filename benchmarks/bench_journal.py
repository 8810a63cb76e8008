"""Journal overhead: 10,000 starts with and without a journal, and what grouping the fsyncs buys.

A FakeCluster in a child process; the client starts N partition restarts one after the
other (as ``FaultRun`` does: starts are never sent in parallel) — plain
``start_partition_restart`` calls, then a ``FaultRun`` with its journal (intents fsync'd
per chunk of 256), then a ``FaultRun`` with one fsync per start (chunk=1).  Also the cost
of one append+fsync on this disk.  Prints one JSON line:
    python benchmarks/bench_journal.py [--targets N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _server import fake_cluster_process, pin_to_cores

from sf_progress import FaultRun, FaultTarget, ProgressClient


def fsync_cost(directory: str, n: int = 200) -> float:
    """Milliseconds for one small append + flush + fsync, median of *n*."""
    samples = []
    with open(os.path.join(directory, "fsync.probe"), "ab") as file:
        for _ in range(n):
            start = time.perf_counter()
            file.write(b'{"event": "intent", "n": 0}\n')
            file.flush()
            os.fsync(file.fileno())
            samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1000


async def plain(url: str, n: int) -> None:
    async with ProgressClient(url) as client:
        for i in range(n):
            await client.start(FaultTarget.restart(f"bench~svc{i % 50}", uuid.uuid4()))


async def journaled(url: str, n: int, path: str, chunk: int) -> None:
    targets = [FaultTarget.restart(f"bench~svc{i % 50}", uuid.uuid4()) for i in range(n)]
    async with ProgressClient(url) as client:
        run = await FaultRun.create(path, client, targets, chunk=chunk)
        try:
            await run.start_pending()
        finally:
            run.close()


def measure(coro_factory: object) -> dict[str, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    asyncio.run(coro_factory())  # type: ignore[operator]
    return {"wall_s": time.perf_counter() - wall, "cpu_s": time.process_time() - cpu}


def main(n: int) -> dict[str, object]:
    result: dict[str, object] = {"bench": "journal_overhead", "targets": n}
    with tempfile.TemporaryDirectory(dir=".") as tmp, fake_cluster_process(duration=1e9) as url:
        result["fsync_ms"] = round(fsync_cost(tmp), 3)
        runs = {
            "no_journal": lambda: plain(url, n),
            "journal_chunk_256": lambda: journaled(url, n, os.path.join(tmp, "a.jsonl"), 256),
            "journal_chunk_1": lambda: journaled(url, n, os.path.join(tmp, "b.jsonl"), 1),
        }
        for name, factory in runs.items():
            m = measure(factory)
            result[name] = {
                "wall_ms_per_target": round(m["wall_s"] * 1000 / n, 3),
                "cpu_ms_per_target": round(m["cpu_s"] * 1000 / n, 3),
            }
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--targets", type=int, default=10_000)
    args = parser.parse_args()
    pin_to_cores()
    print(json.dumps(main(args.targets)))
