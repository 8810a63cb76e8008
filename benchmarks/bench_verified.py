"""Cluster load and lag of verified faults: sf_progress's waits vs the verify loops users write by hand.

200 faults of one kind -- replica restarts, replica removals, primary moves -- across the
200 partitions of one stateful service, on a FakeCluster in its own process
(``_load_server.py``, pinned to another core) that counts every request by route.  Each
fault's effect shows ``delay`` + U(0, ``jitter``) seconds after its start (a replica Down,
a replica gone and another built); a move shows at once (the call returns once the move is
seen).  Real time, real loopback HTTP.  Side by side in one run, on fresh partitions each:

- ``ours``: ``await client.start(target)`` for each (the target read, the choices, the
  hint noted, the start), then one ``wait_many`` over them all, defaults;
- ``loop_1s``: what users write: a task per fault reads the partition's replicas, sends
  the start, then reads the replicas every 1 s until the effect shows (the same test of
  "done" as ours);
- ``loop_5s``: the same every 5 s (what the .NET client's ``CompletionMode.Verify`` does).

Reported per fault: requests (and by route), and the verification lag (from the moment
the effect showed, per the fake, to the moment the client knew; both processes read the
system's monotonic clock).  Prints one JSON line:
    python benchmarks/bench_verified.py [--faults 200] [--delay 2] [--jitter 8] [--rounds 1]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _server import pin_to_cores
from bench_cluster_load import IN_FLIGHT, Gateway

from sf_progress import FaultTarget, OutcomeKind, ProgressClient

KINDS: dict[str, Callable[[str, uuid.UUID], FaultTarget]] = {
    "restart-replica": lambda s, p: FaultTarget.restart_replica(s, p),
    "remove-replica": lambda s, p: FaultTarget.remove_replica(s, p, replica="secondary"),
    "move-primary": lambda s, p: FaultTarget.move_primary(s, p),
}


async def ours(url: str, service: str, partitions: list[uuid.UUID], kind: str, seen: dict[str, float]) -> None:
    async with ProgressClient(url) as client:
        refs = [await client.start(KINDS[kind](service, pid)) for pid in partitions]
        async with client.wait_many(refs, deadline=120) as batch:
            async for outcome in batch:
                assert outcome.kind is OutcomeKind.COMPLETED, outcome
                seen[str(outcome.ref.partition_id)] = time.monotonic()


def _done(kind: str, before: dict[str, Any], to_node: str | None, replicas: list[dict[str, Any]]) -> bool:
    """The same test of "done" as sf_progress's (``_verified/judge.py``), as a user would write it."""
    if kind == "restart-replica":
        mine = next((r for r in replicas if r["ReplicaId"] == before["ReplicaId"]), None)
        return mine is None or mine["ReplicaStatus"] != "Ready" or mine["ReplicaRole"] != before["ReplicaRole"]
    if kind == "remove-replica":
        if any(r["ReplicaId"] == before["ReplicaId"] for r in replicas):
            return False
        return any(int(r["ReplicaId"]) > int(before["ReplicaId"]) for r in replicas)
    return any(r["ReplicaRole"] == "Primary" and r["NodeName"] == to_node for r in replicas)


async def hand_loop(
    url: str, service: str, partitions: list[uuid.UUID], kind: str, seen: dict[str, float], interval: float
) -> None:
    """A task per fault: read the replicas, send the start, read them every *interval* s until done."""
    slots = asyncio.Semaphore(IN_FLIGHT)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=IN_FLIGHT)) as session:

        async def call(method: str, path: str) -> Any:
            async with slots, session.request(method, url + path) as response:
                body = await response.read()
                assert response.status == 200, (path, response.status, body)
                return json.loads(body) if body else None

        async def replicas(pid: uuid.UUID) -> list[dict[str, Any]]:
            page = await call("GET", f"/Partitions/{pid}/$/GetReplicas?api-version=6.0")
            return list(page["Items"])

        async def one(pid: uuid.UUID) -> None:
            current = await replicas(pid)
            primary = next(r for r in current if r["ReplicaRole"] == "Primary")
            secondary = next(r for r in current if r["ReplicaRole"] == "ActiveSecondary")
            before, to_node = (secondary if kind == "remove-replica" else primary), None
            node = before["NodeName"]
            base = f"/Nodes/{node}/$/GetPartitions/{pid}/$/GetReplicas/{before['ReplicaId']}/$/"
            if kind == "restart-replica":
                await call("POST", base + "Restart?api-version=6.0")
            elif kind == "remove-replica":
                await call("POST", base + "Delete?api-version=6.0")
            else:
                to_node = secondary["NodeName"]
                await call("POST", f"/Partitions/{pid}/$/MovePrimaryReplica?api-version=6.5&NodeName={to_node}")
            while True:
                await asyncio.sleep(interval)
                if _done(kind, before, to_node, await replicas(pid)):
                    seen[str(pid)] = time.monotonic()
                    return

        await asyncio.gather(*(one(pid) for pid in partitions))


async def case(
    gateway: Gateway, service: str, faults: int, kind: str, runner: Callable[..., Awaitable[None]],
    args: argparse.Namespace,
) -> dict[str, Any]:
    gateway(cmd="reset")
    partitions = [uuid.uuid4() for _ in range(faults)]
    gateway(cmd="verified", service=service, partitions=[str(p) for p in partitions], delay=args.delay,
            jitter=args.jitter, rebuild=args.rebuild, seed=args.seed)
    before = gateway(cmd="stats")["by_route"]
    seen: dict[str, float] = {}
    started = time.monotonic()
    await runner(gateway.url, service, partitions, kind, seen)
    wall = time.monotonic() - started
    after = gateway(cmd="stats")["by_route"]
    effects = gateway(cmd="effects")["effects"]
    routes = {route: (after.get(route, 0) - before.get(route, 0)) / faults for route in after}
    lags = [seen[str(p)] - effects[str(p)] for p in partitions]
    return {
        "requests_per_fault": round(sum(routes.values()), 2),
        "by_route_per_fault": {route: round(n, 2) for route, n in routes.items() if n},
        "lag_mean_s": round(statistics.fmean(lags), 3),
        "lag_p95_s": round(sorted(lags)[int(0.95 * (len(lags) - 1))], 3),
        "wall_s": round(wall, 1),
    }


async def main(args: argparse.Namespace) -> None:
    pin_to_cores()
    gateway = Gateway()
    runners: dict[str, Callable[..., Awaitable[None]]] = {
        "ours": ours,
        "loop_1s": lambda *a: hand_loop(*a, interval=1.0),
        "loop_5s": lambda *a: hand_loop(*a, interval=5.0),
    }
    results: dict[str, Any] = {"faults": args.faults, "delay_s": args.delay, "jitter_s": args.jitter}
    try:
        for kind in args.kinds.split(","):
            rows = {}
            for name, runner in runners.items():
                rows[name] = await case(gateway, f"app{len(rows)}~svc", args.faults, kind, runner, args)
            rows["requests_ratio_ours_to_1s"] = round(
                rows["ours"]["requests_per_fault"] / rows["loop_1s"]["requests_per_fault"], 2)
            rows["lag_ratio_ours_to_1s"] = round(rows["ours"]["lag_mean_s"] / rows["loop_1s"]["lag_mean_s"], 2)
            results[kind] = rows
    finally:
        gateway.close()
    print(json.dumps(results))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--faults", type=int, default=200)
    parser.add_argument("--kinds", default=",".join(KINDS))
    parser.add_argument("--delay", type=float, default=2.0, help="seconds until a fault's effect shows, at least")
    parser.add_argument("--jitter", type=float, default=8.0, help="... plus up to this many seconds, at random")
    parser.add_argument("--rebuild", type=float, default=10.0, help="seconds from then until the replica is back")
    parser.add_argument("--seed", type=int, default=1)
    asyncio.run(main(parser.parse_args()))
