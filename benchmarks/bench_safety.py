"""What the safety rules cost the cluster: a campaign of 1,000 faults with the rules on, and with every rule waived.

One ``FaultRun`` of 1,000 partition restarts (0.5-5 s each) across 10 services on a
FakeCluster in this process, real time; the rules' reads are counted on the fake's own
counters (``control``: upgrade, Chaos, health, the applications' upgrades; ``target``: each
service's application, read once).  The rules must cost reads per tick, not per fault.
Prints one JSON line:
    python benchmarks/bench_safety.py [--faults 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from sf_progress import FaultRun, FaultTarget, ProgressClient
from sf_progress.testing import FakeCluster, Script


async def case(faults: int, allow: str | None, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    async with FakeCluster(planner=lambda ref: Script(duration=rng.uniform(0.5, 5.0))) as cluster:
        services = [f"fabric:/app{i}/svc" for i in range(10)]
        partitions = {s: [uuid.uuid4() for _ in range(faults // len(services))] for s in services}
        for service, pids in partitions.items():
            cluster.add_service(service, pids)
        plan = [FaultTarget.restart(s, p) for s, pids in partitions.items() for p in pids]
        with tempfile.TemporaryDirectory() as tmp:
            began = time.monotonic()
            async with (
                ProgressClient(cluster.url, allow=allow) as client,
                await FaultRun.create(Path(tmp) / "run.jsonl", client, plan) as run,
            ):
                await run.start_pending()
                starting = time.monotonic() - began
                results = [r async for r in run.results(deadline=120)]
            wall = time.monotonic() - began
        assert all(r.ok for r in results), [r for r in results if not r.ok][:3]
        rules = cluster.by_route["control"] + cluster.by_route["target"]
        return {
            "faults": len(plan),
            "starts_s": round(starting, 2),
            "wall_s": round(wall, 2),
            "rule_reads": rules,
            "rule_reads_per_fault": round(rules / len(plan), 4),
            "rule_reads_per_s_of_starting": round(rules / starting, 2),
            "requests_per_fault": round(cluster.requests / len(plan), 3),
        }


async def main(args: argparse.Namespace) -> None:
    on = await case(args.faults, None, args.seed)
    off = await case(args.faults, "all", args.seed)
    print(json.dumps({"rules_on": on, "all_waived": off}))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--faults", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    asyncio.run(main(parser.parse_args()))
