"""CPU per progress read: the official azure-servicefabric SDK in a thread pool vs sf_progress.

Both against one FakeCluster in a child process on another core; the SDK runs 16 threads
(its calls block), sf_progress 64 requests in flight.  Prints one JSON line:
    python benchmarks/bench_sdk.py [--requests N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import uuid
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _server import fake_cluster_process, pin_to_cores

from sf_progress import FaultTarget, ProgressClient

warnings.simplefilter("ignore", DeprecationWarning)


def sdk_reads(url: str, ids: list[tuple[str, str]], total: int) -> float:
    from azure.servicefabric import ServiceFabricClientAPIs
    from msrest.authentication import Authentication

    def client() -> ServiceFabricClientAPIs:
        sdk = ServiceFabricClientAPIs(Authentication(), base_url=url)
        sdk.config.retry_policy.total = False
        return sdk

    clients = [client() for _ in range(16)]

    def work(k: int) -> None:
        sdk = clients[k]
        for i in range(k, total, 16):
            pid, op = ids[i % len(ids)]
            sdk.get_partition_restart_progress("bench~svc", pid, op)

    start = time.process_time()
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(work, range(16)))
    return time.process_time() - start


async def ours(client: ProgressClient, refs: list[tuple[str, str]], total: int) -> float:
    counter = iter(range(total))

    async def worker() -> None:
        for i in counter:
            pid, op = refs[i % len(refs)]
            await client.get_restart_progress("bench~svc", pid, op)

    start = time.process_time()
    await asyncio.gather(*(worker() for _ in range(64)))
    return time.process_time() - start


async def main(requests: int) -> dict[str, object]:
    with fake_cluster_process(duration=1e9) as url:
        async with ProgressClient(url) as client:
            refs = [await client.start(FaultTarget.restart("bench~svc", uuid.uuid4())) for _ in range(64)]
            ids = [(str(r.partition_id), str(r.operation_id)) for r in refs]
            await ours(client, ids, 500)
            sdk_reads(url, ids, 200)
            ours_cpu = await ours(client, ids, requests)
            sdk_cpu = await asyncio.to_thread(sdk_reads, url, ids, requests)
    return {
        "bench": "sdk_vs_sf_progress",
        "requests": requests,
        "cpu_us_per_read_sdk_threads": round(sdk_cpu / requests * 1e6, 1),
        "cpu_us_per_read_sf_progress": round(ours_cpu / requests * 1e6, 1),
        "ratio_sdk_vs_ours": round(sdk_cpu / ours_cpu, 2),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=5000)
    args = parser.parse_args()
    pin_to_cores()
    print(json.dumps(asyncio.run(main(args.requests))))
