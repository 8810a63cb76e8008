"""A failover scenario's validations: requests and time to "stable" detected, vs a hand-written 1 s validation loop.

30 replica removals (a secondary each, one after the other, on random partitions) of one
stateful service of 200 partitions, on a FakeCluster in its own process (``_load_server.py``)
that counts every request by route.  A removal shows ``delay`` + U(0, ``jitter``) seconds after
its start (the replica gone, a new one InBuild) and the new replica is Ready ``rebuild`` seconds later: the
service is stable again at that moment, per the fake.  Real time, real loopback HTTP.  Side by
side in one run, each on its own service:

- ``ours``: a ``ScenarioRun`` (``faults: [{fault: remove-replica, replica: secondary}]``,
  ``rounds: 30``, ``partitions: all``, ``wait_between: 0``): each fault verified, then
  ``validate_service`` (the faulted partition's replicas, the partition list, the service's
  health, looks 1 s apart growing to 5 s);
- ``loop_1s``: what users write: start the removal, poll the partition's replicas every 1 s
  until the old one is gone, then every 1 s read the service's health and every partition's
  replicas until all is well (Service Fabric's own service check, as a loop).

Reported per validation: requests (from the fault's verified end to "stable" known), the lag
from the moment the service was stable (per the fake) to the moment the client knew, and the
time from the fault's verification to "stable" known.
Prints one JSON line:
    python benchmarks/bench_scenario.py [--faults 30] [--partitions 200] [--delay 1] [--jitter 1] [--rebuild 3]
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
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _server import pin_to_cores
from bench_cluster_load import IN_FLIGHT, Gateway

from sf_progress import ProgressClient, Scenario, ScenarioEventKind, ScenarioRun


def _total(stats: dict[str, Any]) -> int:
    return sum(stats["by_route"].values())


async def ours(gateway: Gateway, service: str, args: argparse.Namespace) -> tuple[list[int], list[float], list[float]]:
    requests: list[int] = []
    lags: list[float] = []
    spans: list[float] = []
    step = {"fault": "remove-replica", "replica": "secondary"}
    scenario = Scenario(service=service, partitions="all", faults=(step,), rounds=args.faults, wait_between=0,
                        stabilization_timeout=120, seed=args.seed)
    before = 0
    async with (
        ProgressClient(gateway.url, allow=("domains", "seed-quorum")) as client,
        await ScenarioRun.create(client, scenario) as run,
    ):
        async for event in run.events():
            if event.kind is ScenarioEventKind.FAULT_ENDED:
                verified = time.monotonic()
                before = _total(gateway(cmd="stats"))
            elif event.kind is ScenarioEventKind.VALIDATION_PASSED and event.step is not None and event.step >= 0:
                known = time.monotonic()
                spans.append(known - verified)
                requests.append(_total(gateway(cmd="stats")) - before)
                lags.append(known - (gateway(cmd="effects")["effects"][str(event.partition)] + args.rebuild))
            elif event.kind is ScenarioEventKind.VALIDATION_FAILED:
                raise AssertionError(event)
    return requests, lags, spans


async def hand_loop(
    gateway: Gateway, service: str, args: argparse.Namespace
) -> tuple[list[int], list[float], list[float]]:
    requests: list[int] = []
    lags: list[float] = []
    spans: list[float] = []
    rng = __import__("random").Random(args.seed)
    slots = asyncio.Semaphore(IN_FLIGHT)
    sid = service.replace("fabric:/", "").replace("/", "~")
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=IN_FLIGHT)) as session:

        async def call(method: str, path: str) -> Any:
            sep = "&" if "?" in path else "?"
            async with slots, session.request(method, f"{gateway.url}{path}{sep}api-version=6.0") as response:
                body = await response.read()
                assert response.status == 200, (path, response.status, body)
                return json.loads(body) if body else None

        async def replicas(pid: str) -> list[dict[str, Any]]:
            return list((await call("GET", f"/Partitions/{pid}/$/GetReplicas"))["Items"])

        pids: list[str] = []
        token = ""
        while True:
            page = await call("GET", f"/Services/{sid}/$/GetPartitions?ContinuationToken={token}")
            pids += [item["PartitionInformation"]["Id"] for item in page["Items"]]
            token = page["ContinuationToken"]
            if not token:
                break
        for _ in range(args.faults):
            pid = rng.choice(pids)
            current = await replicas(pid)
            before = next(r for r in current if r["ReplicaRole"] == "ActiveSecondary")
            await call("POST", f"/Nodes/{before['NodeName']}/$/GetPartitions/{pid}/$/GetReplicas/"
                               f"{before['ReplicaId']}/$/Delete")
            while True:  # the fault verified: the old replica gone, a new one built
                await asyncio.sleep(1.0)
                now = await replicas(pid)
                if not any(r["ReplicaId"] == before["ReplicaId"] for r in now) and any(
                        int(r["ReplicaId"]) > int(before["ReplicaId"]) for r in now):
                    break
            verified = time.monotonic()
            start = _total(gateway(cmd="stats"))
            while True:  # the whole service: health Ok, every partition's replicas Ready and at size
                health = await call("GET", f"/Services/{sid}/$/GetHealth")
                sets = await asyncio.gather(*(replicas(p) for p in pids))
                stable = all(sum(1 for r in s if r["ReplicaStatus"] == "Ready") >= 3
                             and not any(r["ReplicaStatus"] == "InBuild" for r in s) for s in sets)
                if health["AggregatedHealthState"] == "Ok" and stable:
                    known = time.monotonic()
                    break
                await asyncio.sleep(1.0)
            spans.append(known - verified)
            requests.append(_total(gateway(cmd="stats")) - start)
            lags.append(known - (gateway(cmd="effects")["effects"][pid] + args.rebuild))
    return requests, lags, spans


async def main(args: argparse.Namespace) -> None:
    pin_to_cores()
    gateway = Gateway()
    results: dict[str, Any] = {"faults": args.faults, "partitions": args.partitions, "delay_s": args.delay,
                               "jitter_s": args.jitter, "rebuild_s": args.rebuild}
    try:
        for name, runner in (("ours", ours), ("loop_1s", hand_loop)):
            gateway(cmd="reset")
            service = f"fabric:/{name.replace('_', '')}/svc"
            gateway(cmd="verified", service=service, partitions=[str(uuid.uuid4()) for _ in range(args.partitions)],
                    delay=args.delay, jitter=args.jitter, rebuild=args.rebuild, seed=args.seed)
            began = time.monotonic()
            requests, lags, spans = await runner(gateway, service, args)
            results[name] = {
                "validations": len(requests),
                "requests_per_validation_mean": round(statistics.fmean(requests), 1),
                "requests_per_validation_max": max(requests),
                "lag_to_stable_mean_s": round(statistics.fmean(lags), 3),
                "lag_to_stable_p95_s": round(sorted(lags)[int(0.95 * (len(lags) - 1))], 3),
                "verified_to_stable_known_mean_s": round(statistics.fmean(spans), 3),
                "wall_s": round(time.monotonic() - began, 1),
            }
    finally:
        gateway.close()
    results["requests_ratio_ours_to_1s"] = round(results["ours"]["requests_per_validation_mean"]
                                                 / results["loop_1s"]["requests_per_validation_mean"], 3)
    print(json.dumps(results))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--faults", type=int, default=30)
    parser.add_argument("--partitions", type=int, default=200)
    parser.add_argument("--delay", type=float, default=1.0, help="seconds until a removal shows")
    parser.add_argument("--jitter", type=float, default=1.0, help="... plus up to this many seconds, at random")
    parser.add_argument("--rebuild", type=float, default=3.0, help="seconds from then until the new replica is Ready")
    parser.add_argument("--seed", type=int, default=1)
    asyncio.run(main(parser.parse_args()))
