"""A FakeCluster in its own process, steered over stdin/stdout (one JSON line each way).

Used by bench_cluster_load.py, so that the gateway's CPU is read in the gateway's own
process, apart from the client's.  Commands: reset, add, crowd, faults, stats, lags, back_at, verified, effects.
"""

from __future__ import annotations

import asyncio
import gc
import json
import sys
import time
import uuid
from typing import Any

from sf_progress import OperationRef
from sf_progress.testing import FakeCluster, Fault, Script

# 10 % transient answers: 5 % 503, 3 % 504, 2 % connection resets (the noisy case).
NOISE = [Fault.service_unavailable()] * 5 + [Fault.gateway_timeout()] * 3 + [Fault.reset()] * 2


def handle(cluster: FakeCluster, command: dict[str, Any]) -> dict[str, Any]:
    name = command["cmd"]
    if name == "reset":
        cluster.reset()
        gc.collect()  # the last case's operations are not collected on the next one's time
        return {"ok": True}
    if name == "add":
        for sid, pid, oid, duration, *recovery in command["ops"]:
            script = Script(duration=duration, recovery=recovery[0] if recovery else 0.0)
            cluster.add_operation(OperationRef.restart(sid, pid, oid), script)
        return {"ok": True}
    if name == "crowd":
        for _ in range(command["n"]):
            cluster.add_operation(OperationRef.restart("others~svc", uuid.uuid4(), uuid.uuid4()), Script(duration=1e9))
        return {"ok": True}
    if name == "faults":
        cluster.set_fault_rate(command["rate"], NOISE, routes=["progress", "list"], seed=command.get("seed", 0))
        return {"ok": True}
    if name == "verified":  # declare a service of many partitions; the replicas' timings (issue 30)
        replicas = cluster.replicas
        cluster.add_service(command["service"], [uuid.UUID(p) for p in command["partitions"]])
        replicas.delay, replicas.jitter, replicas.rebuild = command["delay"], command["jitter"], command["rebuild"]
        replicas.rng.seed(command.get("seed", 0))
        return {"ok": True}
    if name == "effects":  # when each partition's (or node's) last verified fault showed its effect
        return {"effects": dict(cluster.replicas.effects)}
    if name == "stats":
        return {"cpu_s": time.process_time(), "by_route": dict(cluster.by_route)}
    if name == "lags":
        return {"lags": cluster.detection_lags()}
    if name == "back_at":  # when each operation's target came back: its end plus its recovery
        back = {}
        for op_id, op in cluster.operations.items():
            ended = op.state_at(float("inf"))[1]
            back[str(op_id)] = None if ended is None else ended + op.script.recovery
        return {"back_at": back}
    raise ValueError(name)


async def main() -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=64 * 1024 * 1024)  # an "add" line holds thousands of operations
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    async with FakeCluster() as cluster:
        print(cluster.url, flush=True)
        while line := await reader.readline():
            print(json.dumps(handle(cluster, json.loads(line))), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
