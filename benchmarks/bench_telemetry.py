"""CPU per poll with OpenTelemetry: off (API installed, no SDK), with the SDK configured, and without the API.

One FakeCluster process holds 2,000 long restarts; each variant runs in its own child
process (the global providers and hidden imports are per process), polling them with
``wait_many`` (per-operation reads, a near-zero backoff, 64 in flight) and reporting its
CPU per poll in a steady window.  Variants alternate for several rounds; medians are
reported with the ratios to the run without the API.  Prints one JSON line:
    python benchmarks/bench_telemetry.py [--rounds R] [--seconds S]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _server import fake_cluster_process, pin_to_cores

VARIANTS = ("no_api", "api_no_sdk", "sdk")
OPERATIONS = 2000


class _Hide:
    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        if name == "opentelemetry" or name.startswith("opentelemetry."):
            raise ImportError(f"hidden: {name}")


async def _child(variant: str, url: str, ids: list[list[str]], seconds: float) -> float:
    if variant == "no_api":
        sys.meta_path.insert(0, _Hide())  # type: ignore[arg-type]
    if variant == "sdk":
        from opentelemetry import metrics, trace
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader
        from opentelemetry.sdk.trace import TracerProvider

        metrics.set_meter_provider(MeterProvider(metric_readers=[InMemoryMetricReader()]))
        trace.set_tracer_provider(TracerProvider())
    from sf_progress import Backoff, OperationRef, ProgressClient

    refs = [OperationRef.restart("bench~svc", pid, oid) for pid, oid in ids]
    backoff = Backoff(initial=1e-4, multiplier=1.0, maximum=1e-4, jitter=0.0)
    async with ProgressClient(url, max_connections=64) as client:
        batch = client.wait_many(refs, concurrency=64, backoff=backoff, deadline=3600, coalesce=False)
        async with batch:
            await asyncio.sleep(1.0)  # warm up
            cpu0, req0 = time.process_time(), batch.snapshot().requests
            await asyncio.sleep(seconds)
            cpu1, req1 = time.process_time(), batch.snapshot().requests
    return (cpu1 - cpu0) / (req1 - req0) * 1e6


async def _start_ops(url: str) -> list[tuple[str, str]]:
    from sf_progress import FaultTarget, ProgressClient

    async with ProgressClient(url) as client:
        refs = [await client.start(FaultTarget.restart("bench~svc", uuid.uuid4())) for _ in range(OPERATIONS)]
    return [(str(r.partition_id), str(r.operation_id)) for r in refs]


def main(rounds: int, seconds: float) -> dict[str, object]:
    results: dict[str, list[float]] = {v: [] for v in VARIANTS}
    with fake_cluster_process(duration=1e9) as url:
        ids_file = Path(__file__).with_name(".bench_telemetry_ids.json")
        ids_file.write_text(json.dumps(asyncio.run(_start_ops(url))))
        try:
            for _ in range(rounds):
                for variant in VARIANTS:
                    argv = ["--child", variant, "--url", url, "--ids", str(ids_file), "--seconds", str(seconds)]
                    out = subprocess.run(
                        [sys.executable, __file__, *argv],
                        capture_output=True,
                        text=True,
                        check=True,
                    )
                    results[variant].append(float(out.stdout.strip()))
        finally:
            ids_file.unlink()
    med = {v: statistics.median(results[v]) for v in VARIANTS}
    return {
        "bench": "telemetry_cpu_per_poll",
        "rounds": rounds,
        "cpu_us_per_poll": {v: round(med[v], 1) for v in VARIANTS},
        "ratio_api_no_sdk_vs_no_api": round(med["api_no_sdk"] / med["no_api"], 3),
        "ratio_sdk_vs_no_api": round(med["sdk"] / med["no_api"], 3),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--child")
    parser.add_argument("--url")
    parser.add_argument("--ids")
    args = parser.parse_args()
    pin_to_cores()
    if args.child:
        ids = json.loads(Path(args.ids).read_text())
        print(asyncio.run(_child(args.child, args.url, ids, args.seconds)))
    else:
        print(json.dumps(main(args.rounds, args.seconds)))
