"""(a) Client CPU per poll inside wait_many vs a bare aiohttp loop, on the same server.

A FakeCluster in a child process holds 2,000 long-running restarts.  wait_many polls them
continuously (a near-zero backoff, 64 in flight); CPU and polls are taken between two
snapshots of the running batch (steady state).  The bare loop sends the same number of
GETs + json.loads, 64 in flight over one session.  Each round runs both back to back;
the ratio is the median of the per-round ratios.  Prints one JSON line:
    python benchmarks/bench_wait_many.py [--operations N] [--seconds S] [--rounds R]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
import uuid
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _server import fake_cluster_process, pin_to_cores

from sf_progress import Backoff, FaultTarget, OperationRef, ProgressClient

IN_FLIGHT = 64


async def ours(client: ProgressClient, refs: list[OperationRef], seconds: float) -> tuple[float, int]:
    """Steady state: CPU and polls between two snapshots of a running batch."""
    backoff = Backoff(initial=1e-4, multiplier=1.0, maximum=1e-4, jitter=0.0)
    async with client.wait_many(refs, concurrency=IN_FLIGHT, backoff=backoff, deadline=3600, coalesce=False) as batch:
        await asyncio.sleep(0.5)  # warm up: every operation polled a few times
        cpu0, req0 = time.process_time(), batch.snapshot().requests
        await asyncio.sleep(seconds)
        cpu1, req1 = time.process_time(), batch.snapshot().requests
    return cpu1 - cpu0, req1 - req0


async def bare(session: aiohttp.ClientSession, urls: list[str], total: int) -> float:
    counter = iter(range(total))
    accept = {"Accept": "application/json"}

    async def worker() -> None:
        for i in counter:
            async with session.get(urls[i % len(urls)], headers=accept) as response:
                body = await response.read()
                if response.status != 200:
                    raise RuntimeError(response.status)
                json.loads(body)

    start = time.process_time()
    await asyncio.gather(*(worker() for _ in range(IN_FLIGHT)))
    return time.process_time() - start


async def main(operations: int, seconds: float, rounds: int) -> dict[str, object]:
    with fake_cluster_process(duration=1e9) as url:
        async with ProgressClient(url, max_connections=IN_FLIGHT) as client:
            refs = [await client.start(FaultTarget.restart("bench~svc", uuid.uuid4())) for _ in range(operations)]
            query = "GetRestartProgress?api-version=3.0&OperationId={}&timeout=60"
            urls = [url + r.path + query.format(r.operation_id) for r in refs]
            connector = aiohttp.TCPConnector(limit=IN_FLIGHT, limit_per_host=IN_FLIGHT)
            async with aiohttp.ClientSession(connector=connector) as session:
                # Warm up both (connections, caches, allocator): the first rounds of a fresh
                # process run measurably slower and would skew the pairs.
                for _ in range(2):
                    await ours(client, refs, 1.0)
                    await bare(session, urls, 5000)
                ours_us, bare_us, polls = [], [], []
                for _ in range(rounds):
                    cpu, requests = await ours(client, refs, seconds)
                    ours_us.append(cpu / requests * 1e6)
                    polls.append(requests)
                    bare_us.append(await bare(session, urls, requests) / requests * 1e6)
    o, b = statistics.median(ours_us), statistics.median(bare_us)
    # Each round measures both back to back: the median of per-round ratios cancels drift.
    paired = statistics.median(x / y for x, y in zip(ours_us, bare_us, strict=True))
    return {
        "bench": "wait_many_cpu_per_poll",
        "operations": operations,
        "polls_per_round": int(statistics.median(polls)),
        "rounds": rounds,
        "cpu_us_per_poll_wait_many": round(o, 1),
        "cpu_us_per_poll_bare": round(b, 1),
        "ratio": round(paired, 3),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--operations", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=8)
    args = parser.parse_args()
    pin_to_cores()
    print(json.dumps(asyncio.run(main(args.operations, args.seconds, args.rounds))))
