"""Process CPU for 200 status reads: `sfctl partition restart-status` in a shell loop, vs
`sf-progress get` in the same loop, vs one `sf-progress watch` over all 200.

sfctl is not a dependency: point --sfctl at an sfctl executable (e.g. from a separate
virtualenv: python -m venv /tmp/sfctl && /tmp/sfctl/bin/pip install sfctl).  A FakeCluster
runs in a child process; CPU is the children's user+sys time.  Prints one JSON line:
    python benchmarks/bench_sfctl.py --sfctl /tmp/sfctl/bin/sfctl [--reads 200]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _server import fake_cluster_process

PID = "1daae3f5-7fd6-42e9-b1ba-8c05f873994d"


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(commands: list[list[str]], env: dict[str, str], stdin: str | None = None) -> tuple[float, float]:
    """Run the commands one after another; return (children CPU s, wall s)."""
    cpu0, wall0 = children_cpu(), time.perf_counter()
    for argv in commands:
        subprocess.run(argv, env=env, input=stdin, capture_output=True, text=True, check=True)
    return children_cpu() - cpu0, time.perf_counter() - wall0


def main(sfctl: str | None, reads: int) -> dict[str, object]:
    sf_progress = shutil.which("sf-progress") or "sf-progress"
    results: dict[str, object] = {"bench": "cli_status_reads", "reads": reads}
    with fake_cluster_process() as url, tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "HOME": home, "SF_ENDPOINT": url}
        ops = [str(uuid.uuid4()) for _ in range(reads)]
        subprocess.run(
            [sf_progress, "restart", "--from", "-", "--quiet"],
            env=env,
            check=True,
            capture_output=True,
            text=True,
            input="service_id,partition_id,operation_id\n" + "".join(f"app~svc,{PID},{op}\n" for op in ops),
        )
        if sfctl:
            subprocess.run([sfctl, "cluster", "select", "--endpoint", url], env=env, check=True, capture_output=True)
            cpu, wall = timed(
                [
                    [
                        sfctl,
                        "partition",
                        "restart-status",
                        "--service-id",
                        "app~svc",
                        "--partition-id",
                        PID,
                        "--operation-id",
                        op,
                    ]
                    for op in ops
                ],
                env,
            )
            results["sfctl_loop"] = {"cpu_s": round(cpu, 2), "wall_s": round(wall, 2)}
        cpu, wall = timed([[sf_progress, "get", "app~svc", PID, op] for op in ops], env)
        results["sf_progress_get_loop"] = {"cpu_s": round(cpu, 2), "wall_s": round(wall, 2)}
        table = "service_id,partition_id,operation_id\n" + "".join(f"app~svc,{PID},{op}\n" for op in ops)
        cpu, wall = timed([[sf_progress, "watch", "--from", "-", "--quiet"]], env, stdin=table)
        results["sf_progress_watch_once"] = {"cpu_s": round(cpu, 2), "wall_s": round(wall, 2)}
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sfctl", help="path of an sfctl executable (omit to skip it)")
    parser.add_argument("--reads", type=int, default=200)
    args = parser.parse_args()
    print(json.dumps(main(args.sfctl, args.reads)))
