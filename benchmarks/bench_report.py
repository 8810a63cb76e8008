"""Time and size of the HTML report of a 10,000-target journal (the issue's bound: under 10 s, under 5 MB).

The journal is written directly (format 3, every kind, 6 % faulted, 3 % not recovered), as a
long campaign leaves it; then ``build_report`` + ``write_report`` (html, md, json) are timed.
Prints one JSON line:  python benchmarks/bench_report.py [--targets 10000]
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
import uuid
from pathlib import Path

from sf_progress.report import build_report, write_report

TYPES = ["PartitionRestart", "PartitionDataLoss", "PartitionQuorumLoss", "NodeTransition"]


def write_journal(path: Path, n: int, seed: int = 1) -> None:
    rng = random.Random(seed)
    t0 = time.time() - 3600
    lines = [{"v": 3, "event": "journal", "endpoint": "https://cluster:19080", "created": "2026-12-01T10:00:00Z"}]
    for i in range(n):
        kind = TYPES[i % 4]
        target: dict[str, object] = {"event": "target", "n": i, "type": kind, "operation_id": str(uuid.uuid4())}
        if kind == "NodeTransition":
            target.update(node_name=f"_Node_{i}", spec={"transition": "Stop", "stop_duration": 600})
        else:
            target.update(service_id=f"app~svc{i % 40}", partition_id=str(uuid.uuid4()),
                          spec={"duration": 10} if kind == "PartitionQuorumLoss" else {})
        lines.append(target)
    lines.append({"event": "planned", "count": n})
    for i in range(n):
        start = t0 + i * 0.3
        duration, back = rng.uniform(2, 40), rng.uniform(0.5, 15)
        faulted = rng.random() < 0.06
        recovered = faulted or rng.random() > 0.03
        lines.append({"event": "intent", "n": i, "at": start - 0.05})
        lines.append({"event": "accepted", "n": i, "at": start})
        outcome = {"event": "outcome", "n": i, "outcome": "faulted" if faulted else "completed",
                   "state": "Faulted" if faulted else "Completed", "error_code": -2147467260 if faulted else 0,
                   "error": None, "polls": 2, "elapsed": duration + (0 if faulted else back),
                   "at": start + duration + (0 if faulted else back)}
        if not faulted:
            outcome.update(recovered=recovered, recovery_s=back, recovery_reason=None if recovered else
                           "partition health Warning", recovery_checks=4)
        lines.append(outcome)
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        journal = Path(tmp) / "run.jsonl"
        write_journal(journal, args.targets)
        started = time.perf_counter()
        report = build_report(journal)
        built = time.perf_counter()
        write_report(report, Path(tmp) / "report.html")
        done = time.perf_counter()
        write_report(report, Path(tmp) / "report.md", "md")
        write_report(report, Path(tmp) / "report.json", "json")
        print(json.dumps({
            "bench": "report",
            "targets": args.targets,
            "journal_mb": round(journal.stat().st_size / 1e6, 2),
            "build_s": round(built - started, 2),
            "html_s": round(done - built, 2),
            "total_html_s": round(done - started, 2),
            "html_mb": round((Path(tmp) / "report.html").stat().st_size / 1e6, 2),
            "md_kb": round((Path(tmp) / "report.md").stat().st_size / 1e3, 1),
            "json_mb": round((Path(tmp) / "report.json").stat().st_size / 1e6, 2),
        }))


if __name__ == "__main__":
    main()
