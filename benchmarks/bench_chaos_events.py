"""Following SF Chaos's events: sf_progress ``chaos_events()`` vs the official sample's hand-written loop.

One Chaos run on the fake cluster (its own events, its real paging and token rules), on the
virtual clock of the testing switch so a long run takes seconds: ``--minutes`` of Chaos, an
iteration every ``--every`` seconds with ``--faults`` faults, each iteration's faults and wait
stamped in one millisecond (as the runtime can).  Side by side, each on a fresh run:

- ``sf_progress``: ``async for event in client.chaos_events()`` (a range first, tokens drained at
  once, then at most one call a second from the last event's time; dedupe on time, kind and payload);
- ``sample_1s``: the official sample's loop: every second, the events from the run's start to
  now, dedupe by timestamp (the last one seen), until ``Stopped``.

Reported per client: events-call requests, requests per event delivered, events delivered,
events lost (those the dedupe dropped), and the lag from each event's time to its delivery.  Prints one JSON line:
    python benchmarks/bench_chaos_events.py [--minutes 30] [--every 5] [--faults 2] [--page 500]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
from datetime import datetime
from typing import Any

import aiohttp

from sf_progress import ChaosParameters, ProgressClient, set_testing
from sf_progress._chaos_events import MAX_FILETIME, filetime
from sf_progress._config import sleep, wall_time
from sf_progress.testing import FakeCluster


async def _run(cluster: FakeCluster, minutes: float, every: float, faults: int) -> None:
    async with ProgressClient(cluster.url) as client:
        await client.start_chaos(ChaosParameters(time_to_run=minutes * 60, wait_time_between_iterations=every,
                                                 max_concurrent_faults=faults))


def _lag(lags: list[float]) -> dict[str, float]:
    return {"lag_mean_s": round(statistics.fmean(lags), 2), "lag_max_s": round(max(lags), 2)}


def _reads(cluster: FakeCluster) -> int:
    return sum(1 for _, path in cluster.seen if "/Tools/Chaos/Events" in path)


async def ours(minutes: float, every: float, faults: int, page: int) -> dict[str, Any]:
    async with FakeCluster() as cluster:
        await _run(cluster, minutes, every, faults)
        lags = []
        async with ProgressClient(cluster.url) as client:
            async for event in client.chaos_events(page=page):
                lags.append(wall_time() - event.time.timestamp())
        made = len(cluster.control.chaos.events())
        return {"events_made": made, "delivered": len(lags), "lost": made - len(lags), "requests": _reads(cluster),
                **_lag(lags)}


async def sample(minutes: float, every: float, faults: int) -> dict[str, Any]:
    async with FakeCluster() as cluster:
        await _run(cluster, minutes, every, faults)
        start = filetime(datetime(2000, 1, 1))
        last, lags, done = "", [], False
        async with aiohttp.ClientSession() as session:
            while not done:
                url = (f"{cluster.url}/Tools/Chaos/Events?api-version=6.2&StartTimeUtc={start}"
                       f"&EndTimeUtc={MAX_FILETIME}")
                async with session.get(url) as response:
                    history = (await response.json())["History"]
                for item in history:
                    event = item["ChaosEvent"]
                    if event["TimeStampUtc"] <= last:  # the sample's dedupe: by timestamp
                        continue
                    last = event["TimeStampUtc"]
                    lags.append(wall_time() - datetime.fromisoformat(last.replace("Z", "+00:00")).timestamp())
                    done = done or event["Kind"] == "Stopped"
                if not done:
                    await sleep(1.0)
        made = len(cluster.control.chaos.events())
        return {"events_made": made, "delivered": len(lags), "lost": made - len(lags), "requests": _reads(cluster),
                **_lag(lags)}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--every", type=float, default=5)
    parser.add_argument("--faults", type=int, default=2)
    parser.add_argument("--page", type=int, default=500)
    args = parser.parse_args()
    with set_testing(True):
        result = {"sf_progress": await ours(args.minutes, args.every, args.faults, args.page),
                  "sample_1s": await sample(args.minutes, args.every, args.faults)}
    for row in result.values():
        row["requests_per_event"] = round(row["requests"] / max(1, row["delivered"]), 3)
    print(json.dumps({"bench": "chaos_events", "minutes": args.minutes, "every_s": args.every,
                      "faults_per_iteration": args.faults, "page": args.page, **result}))


if __name__ == "__main__":
    asyncio.run(main())
