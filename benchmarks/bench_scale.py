"""(b) Memory per pending operation at 1k/10k/100k, and CPU per poll at 1k vs 100k pending.

Memory: in a fresh child process per size, RSS (and traced Python allocations) before the
operations' refs are created and after the batch holding them has started; the
difference divided by N is the cost per pending operation, refs included (distinct
partition and operation GUIDs for each); at 100,000 also for operations parked with the
list observer (``100000_listed``).  CPU: a batch of N operations polls a constant
"Running" server continuously; CPU and polls are taken between two snapshots of the
running batch.  Prints one JSON line:  python benchmarks/bench_scale.py
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import statistics
import subprocess
import sys
import time
import tracemalloc
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _server import constant_server_process, pin_to_cores

from sf_progress import Backoff, OperationRef, ProgressClient

PAGE = 4096


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE


async def hold(n: int, traced: bool, listed: bool = False) -> dict[str, float]:
    """Create n refs and a started batch holding them; report the bytes each costs.

    *listed*: the operations are parked with the client's list observer (``coalesce=True``,
    against a gateway that accepts the list call and never answers it), else each waits for
    its own first read (in 1 h, against a port where nothing listens: nothing is sent).
    """
    held: list[asyncio.StreamWriter] = []

    async def never_answer(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(never_answer, "127.0.0.1", 0) if listed else None
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}" if server else "http://127.0.0.1:9"
    async with ProgressClient(url) as client:
        gc.collect()
        if traced:
            tracemalloc.start()
        before_rss, before_traced = rss_bytes(), tracemalloc.get_traced_memory()[0] if traced else 0
        refs = [OperationRef.restart("chaos~svc", uuid.uuid4(), uuid.uuid4()) for _ in range(n)]
        batch = client.wait_many(
            refs, backoff=Backoff(initial=3600, jitter=0.1), deadline=7200, coalesce=listed
        )
        del refs
        async with batch:
            await asyncio.sleep(0.1)
            gc.collect()
            after_rss = rss_bytes()
            after_traced = tracemalloc.get_traced_memory()[0] if traced else 0
            snap = batch.snapshot()
            assert snap.pending == n
            assert snap.coalescing is listed
    if server is not None:
        for writer in held:
            writer.close()
        server.close()
    return {
        "rss_per_op": (after_rss - before_rss) / n,
        "traced_per_op": (after_traced - before_traced) / n,
    }


async def cpu_per_poll(url: str, n: int, seconds: float) -> float:
    async with ProgressClient(url) as client:
        refs = [OperationRef.restart("chaos~svc", uuid.uuid4(), uuid.uuid4()) for _ in range(n)]
        backoff = Backoff(initial=1e-4, multiplier=1.0, maximum=1e-4, jitter=0.0)
        async with client.wait_many(refs, backoff=backoff, deadline=3600, coalesce=False) as batch:
            await asyncio.sleep(1.0)
            cpu0, req0 = time.process_time(), batch.snapshot().requests
            await asyncio.sleep(seconds)
            cpu1, req1 = time.process_time(), batch.snapshot().requests
    return (cpu1 - cpu0) / (req1 - req0) * 1e6


def child(n: int, traced: bool, listed: bool = False) -> dict[str, float]:
    flags = [flag for flag, on in (("--traced", traced), ("--listed", listed)) if on]
    out = subprocess.run(
        [sys.executable, __file__, "--child", str(n), *flags],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(out)  # type: ignore[no-any-return]


async def main(rounds: int, seconds: float) -> dict[str, object]:
    memory = {}
    for n in (1_000, 10_000, 100_000):
        rss = child(n, traced=False)["rss_per_op"]
        traced = child(n, traced=True)["traced_per_op"]
        memory[str(n)] = {"rss_bytes_per_op": round(rss), "traced_bytes_per_op": round(traced)}
    listed = {"rss": child(100_000, traced=False, listed=True), "traced": child(100_000, traced=True, listed=True)}
    memory["100000_listed"] = {
        "rss_bytes_per_op": round(listed["rss"]["rss_per_op"]),
        "traced_bytes_per_op": round(listed["traced"]["traced_per_op"]),
    }
    small, large = [], []
    with constant_server_process() as url:
        for _ in range(rounds):
            small.append(await cpu_per_poll(url, 1_000, seconds))
            large.append(await cpu_per_poll(url, 100_000, seconds))
    s, lg = statistics.median(small), statistics.median(large)
    return {
        "bench": "scale",
        "memory": memory,
        "cpu_us_per_poll_1k_pending": round(s, 1),
        "cpu_us_per_poll_100k_pending": round(lg, 1),
        "cpu_ratio_100k_vs_1k": round(statistics.median(b / a for a, b in zip(small, large, strict=True)), 3),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--traced", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--listed", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    pin_to_cores()
    if args.child:
        print(json.dumps(asyncio.run(hold(args.child, args.traced, args.listed))))
    else:
        print(json.dumps(asyncio.run(main(args.rounds, args.seconds))))
