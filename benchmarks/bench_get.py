"""Client CPU per 1000 get_restart_progress calls vs a bare aiohttp GET + json.loads loop.

Both run in this process, side by side in rounds (each round runs every variant back to
back, in rotating order; the reported ratio is the median of the per-round ratios),
against one FakeCluster in a child process pinned to another core (so its CPU is not
counted), with 64 requests in flight over one session.
Prints one JSON line:  python benchmarks/bench_get.py [--requests N] [--rounds R]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _server import fake_cluster_process, pin_to_cores

from sf_progress import FaultTarget, OperationRef, ProgressClient

IN_FLIGHT = 64


async def run_workers(total: int, one: Callable[[int], Awaitable[object]]) -> float:
    """Run *total* calls with IN_FLIGHT workers; return the process CPU seconds used."""
    counter = iter(range(total))

    async def worker() -> None:
        for i in counter:
            await one(i)

    start = time.process_time()
    await asyncio.gather(*(worker() for _ in range(IN_FLIGHT)))
    return time.process_time() - start


async def main(requests: int, rounds: int) -> dict[str, object]:
    with fake_cluster_process() as url:
        async with ProgressClient(url, max_connections=IN_FLIGHT) as client:
            targets = [FaultTarget.restart("fabric:/bench/svc", uuid.uuid4()) for _ in range(IN_FLIGHT)]
            refs = [await client.start(target) for target in targets]
            triples = [("fabric:/bench/svc", str(r.partition_id), str(r.operation_id)) for r in refs]
            urls = [
                f"{url}{r.path}GetRestartProgress?api-version=3.0&OperationId={r.operation_id}&timeout=60" for r in refs
            ]
            connector = aiohttp.TCPConnector(limit=IN_FLIGHT, limit_per_host=IN_FLIGHT)
            async with aiohttp.ClientSession(connector=connector) as session:

                async def bare(i: int) -> object:
                    async with session.get(urls[i % IN_FLIGHT], headers={"Accept": "application/json"}) as response:
                        body = await response.read()
                        if response.status != 200:
                            raise RuntimeError(response.status)
                        return json.loads(body)

                async def ours_str(i: int) -> object:
                    return await client.get_restart_progress(*triples[i % IN_FLIGHT])

                async def ours_ref(i: int) -> object:
                    ref: OperationRef = refs[i % IN_FLIGHT]
                    return await client.get_progress(ref)

                variants = {"bare": bare, "ours_str_ids": ours_str, "ours_ref": ours_ref}
                for fn in variants.values():  # warm up connections and caches
                    await run_workers(IN_FLIGHT * 4, fn)
                samples: dict[str, list[float]] = {name: [] for name in variants}
                names = list(variants)
                for round_no in range(rounds):
                    # Rotate the order each round, so no variant always runs first or last.
                    for name in names[round_no % 3 :] + names[: round_no % 3]:
                        gc.collect()
                        samples[name].append(await run_workers(requests, variants[name]) / requests * 1000)
    # Each round runs every variant back to back, so a ratio taken within a round cancels
    # the slow drift of a shared machine; the median of those paired ratios is reported.
    med = {name: statistics.median(values) for name, values in samples.items()}
    paired = {
        name: statistics.median(o / b for o, b in zip(samples[name], samples["bare"], strict=True)) for name in samples
    }
    return {
        "bench": "get_restart_progress",
        "requests_per_round": requests,
        "rounds": rounds,
        "in_flight": IN_FLIGHT,
        "cpu_ms_per_1000_bare": round(med["bare"] * 1000, 1),
        "cpu_ms_per_1000_ours": round(med["ours_str_ids"] * 1000, 1),
        "cpu_ms_per_1000_ours_ref": round(med["ours_ref"] * 1000, 1),
        "ratio": round(paired["ours_str_ids"], 3),
        "ratio_ref": round(paired["ours_ref"], 3),
        "python": sys.version.split()[0],
        "aiohttp": aiohttp.__version__,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=2_000)
    parser.add_argument("--rounds", type=int, default=40)
    args = parser.parse_args()
    pin_to_cores()
    print(json.dumps(asyncio.run(main(args.requests, args.rounds))))
