"""Cluster load and detection lag: sf_progress (listing by default) vs the loops users write by hand.

A FakeCluster runs in its own process (``_load_server.py``) and counts, in that process,
what each client cost it: requests by route, its own CPU time, and the detection lag of
each operation (from the moment it ended to the first read that showed it).  Real time,
real loopback HTTP; client and gateway pinned to different cores.  Cases:

- ``short``: 2,000 restarts of 0.5-5 s, one ``wait_many``;
- ``short_noisy``: the same with 10 % transient answers (5 % 503, 3 % 504, 2 % resets) on
  progress reads and on the list call;
- ``long``: 600 restarts of 5-25 s;
- ``concurrent_waits``: 500 concurrent ``wait_for_completion`` calls on one client
  (restarts of 0.5-5 s), as an async service awaiting them from its request handlers;
- ``crowded``: 200 restarts of 2-20 s on a cluster with 9,000 other active operations.

Clients, side by side in one run, on the same operations: ``defaults`` (``coalesce=None``),
``coalesce_false`` (per-operation reads), and a hand-written aiohttp loop, one task per
operation, 64 requests in flight, polling every 1 s (``loop_1s``) or 5 s (``loop_5s``).
Prints one JSON line:
    python benchmarks/bench_cluster_load.py [--scale 1.0] [--cases short,long,...]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _server import _server_affinity, pin_to_cores

from sf_progress import OperationRef, OperationState, OperationType, OutcomeKind, ProgressClient

TERMINAL = {"Completed", "Faulted", "Cancelled", "ForceCancelled"}
IN_FLIGHT = 64
CASES: dict[str, dict[str, Any]] = {
    "short": {"ops": 2000, "span": (0.5, 5.0)},
    "short_noisy": {"ops": 2000, "span": (0.5, 5.0), "noise": 0.10},
    "long": {"ops": 600, "span": (5.0, 25.0)},
    "concurrent_waits": {"ops": 500, "span": (0.5, 5.0), "single_waits": True},
    "crowded": {"ops": 200, "span": (2.0, 20.0), "crowd": 9000},
}


class Gateway:
    """The fake cluster process and its control channel."""

    def __init__(self) -> None:
        server = Path(__file__).with_name("_load_server.py")
        self.proc = subprocess.Popen(
            [sys.executable, str(server)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            preexec_fn=_server_affinity,
        )
        assert self.proc.stdout is not None
        self.url = self.proc.stdout.readline().strip()

    def __call__(self, **command: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()
        answer: dict[str, Any] = json.loads(self.proc.stdout.readline())
        return answer

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


async def ours(url: str, refs: list[OperationRef], *, coalesce: bool | None, single: bool) -> None:
    async with ProgressClient(url) as client:
        if single:
            await asyncio.gather(*(client.wait_for_completion(ref, coalesce=coalesce) for ref in refs))
            return
        async with client.wait_many(refs, coalesce=coalesce) as batch:
            outcomes = [o async for o in batch]
        assert all(o.kind is OutcomeKind.COMPLETED for o in outcomes), "unexpected outcome"


async def hand_loop(url: str, refs: list[OperationRef], *, interval: float) -> None:
    """What a user writes by hand: a task per operation, a shared semaphore, a fixed sleep."""
    slots = asyncio.Semaphore(IN_FLIGHT)
    connector = aiohttp.TCPConnector(limit=IN_FLIGHT)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(ref: OperationRef) -> None:
            progress_url = (
                f"{url}{ref.path}GetRestartProgress?api-version=3.0&OperationId={ref.operation_id}&timeout=60"
            )
            while True:
                await asyncio.sleep(interval)
                try:
                    async with slots, session.get(progress_url) as response:
                        body = await response.read()
                        status = response.status
                except aiohttp.ClientError:
                    continue
                if status == 200 and json.loads(body)["State"] in TERMINAL:
                    return

        await asyncio.gather(*(one(ref) for ref in refs))


def run_case(gateway: Gateway, case: dict[str, Any], client: str, scale: float, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    n = max(3, int(case["ops"] * scale))
    refs = [OperationRef.restart("bench~svc", uuid.uuid4(), uuid.uuid4()) for _ in range(n)]
    gateway(cmd="reset")
    if case.get("crowd"):
        gateway(cmd="crowd", n=int(case["crowd"]))
    if case.get("noise"):
        gateway(cmd="faults", rate=case["noise"], seed=seed)
    ops = [[r.service_id, str(r.partition_id), str(r.operation_id), rng.uniform(*case["span"])] for r in refs]
    gateway(cmd="add", ops=ops)
    before = gateway(cmd="stats")  # after the add: building the scripts is not a client's load
    runner: Callable[[], Awaitable[None]]
    single = bool(case.get("single_waits"))
    if client == "defaults":
        runner = lambda: ours(gateway.url, refs, coalesce=None, single=single)  # noqa: E731
    elif client == "coalesce_false":
        runner = lambda: ours(gateway.url, refs, coalesce=False, single=single)  # noqa: E731
    else:
        interval = {"loop_1s": 1.0, "loop_5s": 5.0}[client]
        runner = lambda: hand_loop(gateway.url, refs, interval=interval)  # noqa: E731
    started, cpu_started = time.monotonic(), time.process_time()
    asyncio.run(runner())
    wall, client_cpu = time.monotonic() - started, time.process_time() - cpu_started
    after = gateway(cmd="stats")
    requests = sum(after["by_route"].values()) - sum(before["by_route"].values())
    lists = after["by_route"].get("list", 0) - before["by_route"].get("list", 0)
    lags = gateway(cmd="lags")["lags"]
    return {
        "requests_per_op": round(requests / n, 2),
        "list_calls": lists,
        "gateway_cpu_ms_per_op": round((after["cpu_s"] - before["cpu_s"]) * 1000 / n, 3),
        "client_cpu_ms_per_op": round(client_cpu * 1000 / n, 3),
        "lag_mean_s": round(statistics.fmean(lags), 3),
        "lag_max_s": round(max(lags), 3),
        "wall_s": round(wall, 1),
    }


async def _calibration_calls(url: str, refs: list[OperationRef], reads: int, lists: int) -> None:
    async with ProgressClient(url) as client:
        if reads:
            for i in range(reads):
                await client.get_progress(refs[i % len(refs)])
        for _ in range(lists):
            # The list call the waits send: restarts, Running or RollingBack (the same query, so the same gateway cost).
            await client.list_fault_operations(
                type_filter=OperationType.PARTITION_RESTART,
                state_filter=[OperationState.RUNNING, OperationState.ROLLING_BACK],
            )


def calibrate(gateway: Gateway) -> dict[str, Any]:
    """The gateway's CPU for one progress read and for one list call of 10,000 active items."""
    gateway(cmd="reset")
    gateway(cmd="crowd", n=10_000)
    refs = [OperationRef.restart("bench~svc", uuid.uuid4(), uuid.uuid4()) for _ in range(100)]
    gateway(cmd="add", ops=[[r.service_id, str(r.partition_id), str(r.operation_id), 1e9] for r in refs])
    cpu: dict[str, float] = {}
    for what, reads, lists in (("read", 2000, 0), ("list", 0, 20)):
        before = gateway(cmd="stats")["cpu_s"]
        asyncio.run(_calibration_calls(gateway.url, refs, reads, lists))
        cpu[what] = (gateway(cmd="stats")["cpu_s"] - before) * 1000 / (reads or lists)
    return {
        "cpu_ms_per_read": round(cpu["read"], 3),
        "cpu_ms_per_list_of_10100": round(cpu["list"], 2),
        "list_item_cost_in_reads": round(cpu["list"] / 10_100 / cpu["read"], 4),
    }


CLIENTS = ["defaults", "coalesce_false", "loop_1s", "loop_5s"]


def main(scale: float, cases: list[str], seed: int, clients: list[str] = CLIENTS) -> dict[str, Any]:
    gateway = Gateway()
    result: dict[str, Any] = {"bench": "cluster_load", "clock": "real", "scale": scale}
    try:
        if "calibrate" in cases:
            result["calibration"] = calibrate(gateway)
            cases = [c for c in cases if c != "calibrate"]
        for name in cases:
            result[name] = {client: run_case(gateway, CASES[name], client, scale, seed) for client in clients}
            print(name, json.dumps(result[name]), file=sys.stderr, flush=True)
            if "loop_1s" not in clients or "defaults" not in clients:
                continue
            base = result[name]["loop_1s"]
            ours_ = result[name]["defaults"]
            result[name]["defaults_vs_loop_1s"] = {
                "requests": round(ours_["requests_per_op"] / base["requests_per_op"], 2),
                "gateway_cpu": round(ours_["gateway_cpu_ms_per_op"] / base["gateway_cpu_ms_per_op"], 2),
                "lag_behind_s": round(ours_["lag_mean_s"] - base["lag_mean_s"], 3),
                "client_cpu": round(ours_["client_cpu_ms_per_op"] / base["client_cpu_ms_per_op"], 2),
            }
    finally:
        gateway.close()
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every case's operation count")
    parser.add_argument("--cases", default=",".join(["calibrate", *CASES]))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--clients", default=",".join(CLIENTS), help="a subset of " + ",".join(CLIENTS))
    args = parser.parse_args()
    pin_to_cores()
    print(json.dumps(main(args.scale, args.cases.split(","), args.seed, args.clients.split(","))))
