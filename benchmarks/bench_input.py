"""Reading ``--from``: wall and CPU time to turn 100,000 CSV lines into OperationRefs.

Side by side in one run: the CLI's reader (blocks of a regular file, bytes decoded line by
line) and the reader it replaced (one ``readline`` per line on the default thread pool).
Prints one JSON line:
    python benchmarks/bench_input.py [--lines N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
import uuid
from pathlib import Path
from typing import IO

from sf_progress.cli._io import RowParser, rows_from, to_ref


def _skip(message: str) -> None:
    raise AssertionError(message)


async def ours(path: Path) -> int:
    count = 0
    with path.open("rb") as source:
        async for row in rows_from(source, _skip):
            count += to_ref(row, _skip) is not None
    return count


async def per_line_thread_hop(path: Path) -> int:
    """The reader before: ``loop.run_in_executor(None, source.readline)`` for every line."""
    loop = asyncio.get_running_loop()
    parser = RowParser(_skip)
    count = 0
    source: IO[str]
    with path.open("r") as source:
        while line := await loop.run_in_executor(None, source.readline):
            row = parser.feed(line)
            if row is not None:
                count += to_ref(row, _skip) is not None
    return count


def measure(func: object, path: Path) -> dict[str, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    count = asyncio.run(func(path))  # type: ignore[operator]
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {"lines": count, "wall_s": round(wall, 2), "cpu_s": round(cpu, 2)}


def main(lines: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, "ops.csv")
        pid = uuid.uuid4()
        rows = "".join(f"app~svc{i % 50},{pid},{uuid.uuid4()}\n" for i in range(lines))
        path.write_text("service_id,partition_id,operation_id\n" + rows)
        return {
            "bench": "cli_input_read",
            "blocks": measure(ours, path),
            "readline_per_thread_hop": measure(per_line_thread_hop, path),
        }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lines", type=int, default=100_000)
    print(json.dumps(main(parser.parse_args().lines)))
