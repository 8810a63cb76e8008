"""Cluster load and detection lag of polling policies, for 2,000 restarts lasting 0.5-5 s
(and, to show where backoff pays, 2,000 lasting 5-120 s).

Runs the FakeCluster and wait_many in one process on sf_progress's virtual clock
(``set_testing(True)``), so what is compared is the polling policy alone, not this
machine's speed: requests per operation and the lag from each operation's end to the
first poll that saw it, from the fake's own counters.  Prints one JSON line:
    python benchmarks/bench_cluster_load.py [--operations N] [--seed S]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import uuid

from sf_progress import Backoff, OperationRef, ProgressClient, set_testing
from sf_progress.testing import FakeCluster, Script


async def run(policy: Backoff | None, operations: int, seed: int, span: tuple[float, float]) -> dict[str, float]:
    rng = random.Random(seed)
    random.seed(seed)  # the jitter, too, for a repeatable run
    async with FakeCluster() as cluster, ProgressClient(cluster.url) as client:
        refs = []
        for _ in range(operations):
            ref = OperationRef("bench~svc", uuid.uuid4(), uuid.uuid4())
            cluster.add_operation(ref, Script(duration=rng.uniform(*span)))
            refs.append(ref)
        async with client.wait_many(refs, backoff=policy, concurrency=64) as batch:
            outcomes = [o async for o in batch]
        assert all(o.ok for o in outcomes)
        lags = cluster.detection_lags()
        return {
            "requests_per_op": round(cluster.by_route["progress"] / operations, 2),
            "lag_mean_s": round(statistics.fmean(lags), 3),
            "lag_p95_s": round(sorted(lags)[int(len(lags) * 0.95)], 3),
            "lag_max_s": round(max(lags), 3),
        }


async def main(operations: int, seed: int) -> dict[str, object]:
    policies = {
        "default": None,
        "fixed_1s": Backoff.fixed(1.0),
        "fixed_5s_official_sample": Backoff.fixed(5.0),
    }
    results: dict[str, object] = {}
    with set_testing(True):
        for name, policy in policies.items():
            results[name] = await run(policy, operations, seed, (0.5, 5.0))
        for name, policy in policies.items():
            results[f"long_5_120s_{name}"] = await run(policy, operations, seed, (5.0, 120.0))
    return {
        "bench": "cluster_load",
        "operations": operations,
        "durations_s": [0.5, 5.0],
        "clock": "virtual",
        "default_backoff": repr(Backoff()),
        **results,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--operations", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main(args.operations, args.seed))))
