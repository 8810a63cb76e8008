"""max_rate accuracy: the rate wait_many delivers vs what was asked, with every operation due.

A FakeCluster in a child process holds N long-running restarts; wait_many polls them with a
near-zero backoff, so only ``max_rate`` limits it.  For each asked rate, the delivered rate is
counted over a steady window (requests sent between two snapshots), and the start burst is
the number of requests in the first 100 ms.  Side by side, in the same run: the pacing
sf_progress had before (one sleep per request, ``next = max(now, next) + 1/rate``), written
by hand over the same session.  Prints one JSON line:
    python benchmarks/bench_rate.py [--operations N] [--seconds S] [--rates 500,1000,3000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _server import fake_cluster_process, pin_to_cores

from sf_progress import Backoff, FaultTarget, OperationRef, ProgressClient

IN_FLIGHT = 64


async def ours(client: ProgressClient, refs: list[OperationRef], rate: float, seconds: float) -> dict[str, float]:
    backoff = Backoff(initial=1e-4, multiplier=1.0, maximum=1e-4, jitter=0.0)
    batch = client.wait_many(  # per-operation reads: the rate is what is measured
        refs, concurrency=IN_FLIGHT, max_rate=rate, backoff=backoff, deadline=3600, coalesce=False
    )
    async with batch:
        await asyncio.sleep(0.1)
        burst = batch.snapshot().requests
        await asyncio.sleep(0.4)
        t0, r0 = time.monotonic(), batch.snapshot().requests
        await asyncio.sleep(seconds)
        t1, r1 = time.monotonic(), batch.snapshot().requests
    return {"rate": (r1 - r0) / (t1 - t0), "first_100ms": burst}


async def sleep_per_request(client: ProgressClient, refs: list[OperationRef], rate: float, seconds: float) -> float:
    """The old pacing, by hand: one sleep per request, never making up for a late wake-up."""
    slots = asyncio.Semaphore(IN_FLIGHT)
    sent = 0
    tasks: set[asyncio.Task[object]] = set()

    async def poll(ref: OperationRef) -> None:
        try:
            await client.get_progress(ref)
        finally:
            slots.release()

    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    next_send = loop.time()
    while loop.time() < end:
        now = loop.time()
        if next_send > now:
            await asyncio.sleep(next_send - now)
        next_send = max(loop.time(), next_send) + 1.0 / rate
        await slots.acquire()
        task = asyncio.ensure_future(poll(refs[sent % len(refs)]))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        sent += 1
    await asyncio.gather(*tasks)
    return sent / seconds


async def main(operations: int, seconds: float, rates: list[float]) -> dict[str, object]:
    result: dict[str, object] = {"bench": "max_rate_accuracy", "operations": operations, "seconds": seconds}
    with fake_cluster_process(duration=1e9) as url:
        async with ProgressClient(url, max_connections=IN_FLIGHT) as client:
            refs = [await client.start(FaultTarget.restart("bench~svc", uuid.uuid4())) for _ in range(operations)]
            for rate in rates:
                measured = await ours(client, refs, rate, seconds)
                naive = await sleep_per_request(client, refs, rate, seconds)
                result[str(int(rate))] = {
                    "delivered_per_s": round(measured["rate"], 1),
                    "delivered_share": round(measured["rate"] / rate, 3),
                    "requests_in_first_100ms": int(measured["first_100ms"]),
                    "sleep_per_request_per_s": round(naive, 1),
                    "sleep_per_request_share": round(naive / rate, 3),
                }
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--operations", type=int, default=5000)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rates", default="500,1000,3000")
    args = parser.parse_args()
    pin_to_cores()
    rates = [float(r) for r in args.rates.split(",")]
    print(json.dumps(asyncio.run(main(args.operations, args.seconds, rates))))
