"""Cluster load of waiting for recovery: sf_progress ``wait_many(recovery=True)`` vs the loop users write by hand.

500 restarts of 0.5-5 s whose partitions come back 1-10 s after the fault ended, on a
FakeCluster in its own process (``_load_server.py``, pinned to another core), which counts
what each client cost it: requests by route and its own CPU.  Real time, real loopback
HTTP.  Side by side in one run, on fresh operations each:

- ``defaults``: ``wait_many(refs, recovery=True)`` (the list observer for the faults, then
  health first and the other reads only once it is Ok, on the default backoff);
- ``checks_1s``: the same with ``backoff=Backoff(initial=1, multiplier=1, maximum=1)``;
- ``loop_1s``: one task per operation, 64 requests in flight: poll the progress every 1 s
  until it ended, then the three reads (partition health, partition info, replicas) every
  1 s until all say "recovered".

Reported per recovered target: requests (and by route), gateway CPU, and the recovery lag
(from the moment the target was back, per the fake's own script, to the moment the client
knew; the two processes share the system's monotonic clock).  Prints one JSON line:
    python benchmarks/bench_recovery.py [--ops 500] [--seed 1]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _server import pin_to_cores
from bench_cluster_load import IN_FLIGHT, TERMINAL, Gateway

from sf_progress import Backoff, OperationRef, ProgressClient

#: ``checks_1s``: the same, with checks (and reads) spaced 1 s, as the hand loop's.
EVERY_SECOND = Backoff(initial=1.0, multiplier=1.0, maximum=1.0, jitter=0.2)


async def ours(url: str, refs: list[OperationRef], seen: dict[str, float], backoff: Backoff | None = None) -> None:
    async with (
        ProgressClient(url) as client,
        client.wait_many(refs, recovery=True, deadline=300, backoff=backoff) as batch,
    ):
        async for outcome in batch:
            assert outcome.recovery is not None, outcome
            assert outcome.recovery.recovered, outcome
            seen[str(outcome.ref.operation_id)] = time.monotonic()


async def hand_loop(url: str, refs: list[OperationRef], seen: dict[str, float]) -> None:
    """A task per operation: progress every 1 s until it ended, then the three reads every 1 s until recovered."""
    slots = asyncio.Semaphore(IN_FLIGHT)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=IN_FLIGHT)) as session:

        async def get(path: str) -> tuple[int, Any]:
            while True:
                try:
                    async with slots, session.get(url + path) as response:
                        body = await response.read()
                        return response.status, json.loads(body) if body else None
                except aiohttp.ClientError:
                    await asyncio.sleep(1.0)

        async def one(ref: OperationRef) -> None:
            progress = f"{ref.path}GetRestartProgress?api-version=3.0&OperationId={ref.operation_id}&timeout=60"
            while True:
                await asyncio.sleep(1.0)
                status, body = await get(progress)
                if status == 200 and body["State"] in TERMINAL:
                    break
            base = f"/Partitions/{ref.partition_id}"
            while True:
                await asyncio.sleep(1.0)
                _, health = await get(f"{base}/$/GetHealth?api-version=6.0")
                _, info = await get(f"{base}?api-version=6.0")
                _, replicas = await get(f"{base}/$/GetReplicas?api-version=6.0")
                items = (replicas or {}).get("Items", [])
                ready = sum(1 for r in items if r["ReplicaStatus"] == "Ready")
                if (
                    (health or {}).get("AggregatedHealthState") == "Ok"
                    and (info or {}).get("PartitionStatus") == "Ready"
                    and not any(r["ReplicaStatus"] == "InBuild" for r in items)
                    and ready >= (info or {}).get("TargetReplicaSetSize", 0)
                ):
                    seen[str(ref.operation_id)] = time.monotonic()
                    return

        await asyncio.gather(*(one(ref) for ref in refs))


def run_client(gateway: Gateway, client: str, n: int, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    refs = [OperationRef.restart("bench~svc", uuid.uuid4(), uuid.uuid4()) for _ in range(n)]
    ops = [[r.service_id, str(r.partition_id), str(r.operation_id), rng.uniform(0.5, 5.0), rng.uniform(1.0, 10.0)]
           for r in refs]
    gateway(cmd="reset")
    before = gateway(cmd="stats")
    gateway(cmd="add", ops=ops)
    seen: dict[str, float] = {}
    started = time.monotonic()
    if client == "loop_1s":
        asyncio.run(hand_loop(gateway.url, refs, seen))
    else:
        asyncio.run(ours(gateway.url, refs, seen, EVERY_SECOND if client == "checks_1s" else None))
    wall = time.monotonic() - started
    after = gateway(cmd="stats")
    back_at = gateway(cmd="back_at")["back_at"]
    routes = {k: after["by_route"].get(k, 0) - before["by_route"].get(k, 0) for k in after["by_route"]}
    lags = [seen[op] - back for op, back in back_at.items() if back is not None and op in seen]
    assert len(seen) == n, f"{client}: {len(seen)} of {n} recovered"
    return {
        "requests_per_target": round(sum(routes.values()) / n, 2),
        "by_route_per_target": {k: round(v / n, 2) for k, v in sorted(routes.items()) if v},
        "gateway_cpu_ms_per_target": round((after["cpu_s"] - before["cpu_s"]) * 1000 / n, 3),
        "recovery_lag_mean_s": round(statistics.fmean(lags), 3),
        "recovery_lag_max_s": round(max(lags), 3),
        "wall_s": round(wall, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=500)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    pin_to_cores()
    gateway = Gateway()
    try:
        run_client(gateway, "defaults", 20, args.seed + 1)  # warm the gateway up (first-use costs)
        run_client(gateway, "loop_1s", 20, args.seed + 1)
        clients = ("defaults", "checks_1s", "loop_1s")
        results = {client: run_client(gateway, client, args.ops, args.seed) for client in clients}
    finally:
        gateway.close()
    ours_, loop = results["defaults"], results["loop_1s"]
    print(json.dumps({
        "bench": "recovery_load",
        "targets": args.ops,
        **results,
        "requests_ratio": round(ours_["requests_per_target"] / loop["requests_per_target"], 2),
        "gateway_cpu_ratio": round(ours_["gateway_cpu_ms_per_target"] / loop["gateway_cpu_ms_per_target"], 2),
    }))


if __name__ == "__main__":
    main()
