"""The command line under bad input, closed streams and signals: nothing lost, a clear message, the right code."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from sf_progress import OperationRef
from sf_progress.testing import Script

from .test_cli import PID, ThreadedCluster, cli, ids, run_module


@pytest.fixture
def fake() -> Iterator[ThreadedCluster]:
    """A FakeCluster in a background thread."""
    threaded = ThreadedCluster()
    yield threaded
    threaded.close()


def csv_of(*refs: OperationRef, header: str = "service_id,partition_id,operation_id") -> bytes:
    return (header + "\n" + "".join(",".join(ids(r)) + "\n" for r in refs)).encode()


def test_an_undecodable_line_is_one_bad_line(fake: ThreadedCluster, tmp_path: Path) -> None:
    """A line that is not UTF-8 is reported by number and skipped; the rest is watched; exit 1."""
    good = fake.add(Script(duration=0))
    later = fake.add(Script(duration=0))
    data = csv_of(good) + b"bad\xff\n" + ",".join(ids(later)).encode() + b"\n"
    for how in ("stdin", "file"):
        source = tmp_path / "ops.csv"
        source.write_bytes(data)
        args = ["watch", "--from", "-" if how == "stdin" else str(source), "--endpoint", fake.cluster.url]
        result = cli(*args, input=data if how == "stdin" else None)  # type: ignore[arg-type]
        records = [json.loads(line) for line in result.stdout.splitlines()]
        assert {r["operation_id"] for r in records} == {str(good.operation_id), str(later.operation_id)}
        assert "line 3: not valid UTF-8" in result.stderr
        assert result.exit_code == 1


@pytest.mark.parametrize(
    "data",
    [
        "\ufeffservice_id, partition_id, operation_id\r\n{row}\r\n",
        "\ufeff{json}\n",
        "service_id , partition_id ,operation_id\n{row}\n",
    ],
    ids=["bom-csv-crlf-spaces", "bom-jsonl", "spaces-around-header"],
)
def test_bom_spaces_and_crlf_are_accepted(fake: ThreadedCluster, tmp_path: Path, data: str) -> None:
    """PowerShell/Excel CSV (a BOM, CRLF) and spaces after the header's commas read as intended."""
    ref = fake.add(Script(duration=0))
    row = ", ".join(ids(ref))
    line = json.dumps(dict(zip(("service_id", "partition_id", "operation_id"), ids(ref), strict=True)))
    source = tmp_path / "ops.csv"
    source.write_bytes(data.format(row=row, json=line).encode("utf-8"))
    result = cli("watch", "--from", str(source), "--endpoint", fake.cluster.url)
    assert "skipped" not in result.stderr
    assert result.exit_code == 0
    assert json.loads(result.stdout)["state"] == "Completed"


def test_nested_json_input_line_is_a_bad_line(fake: ThreadedCluster, tmp_path: Path) -> None:
    """A JSON line nested too deep is one bad line, not a RecursionError traceback."""
    source = tmp_path / "ops.jsonl"
    source.write_text('{"a": ' * 100_000 + "\n")
    result = cli("watch", "--from", str(source), "--endpoint", fake.cluster.url)
    assert "line 1: JSON nested too deep" in result.stderr
    assert result.exit_code == 1


def test_unwritable_results_path_fails_before_any_start(fake: ThreadedCluster, tmp_path: Path) -> None:
    """--results in a directory that does not exist: a usage error, and not one restart started."""
    source = tmp_path / "targets.csv"
    source.write_text(f"service_id,partition_id\napp~svc,{PID}\n")
    result = cli(
        "restart", "--from", str(source), "--results", str(tmp_path / "nope" / "r.jsonl"),
        "--endpoint", fake.cluster.url,
    )
    assert result.exit_code == 2
    assert fake.cluster.by_route["start"] == 0


def test_restart_from_rejects_options_it_cannot_honour(fake: ThreadedCluster, tmp_path: Path) -> None:
    """--operation-id and -o human with --from are usage errors; -o json and --wait are what it does."""
    source = tmp_path / "targets.csv"
    source.write_text(f"service_id,partition_id\napp~svc,{PID}\n")
    base = ("restart", "--from", str(source), "--endpoint", fake.cluster.url)
    assert cli(*base, "--operation-id", str(uuid.uuid4())).exit_code == 2
    assert cli(*base, "-o", "human").exit_code == 2
    assert fake.cluster.by_route["start"] == 0
    result = cli(*base, "-o", "json", "--wait")
    assert result.exit_code == 0
    assert [json.loads(line)["event"] for line in result.stdout.splitlines()] == ["started", "finished"]


@pytest.mark.parametrize(
    "option", [("--deadline", "nan"), ("--deadline", "-1"), ("--max-rate", "nan"), ("--max-rate", "inf")]
)
def test_nan_and_infinite_numbers_are_usage_errors(fake: ThreadedCluster, option: tuple[str, str]) -> None:
    """NaN deadlines and rates, and an infinite rate, are usage errors (exit 2), not tracebacks."""
    result = cli("watch", "--from", "-", *option, "--endpoint", fake.cluster.url, input="")
    assert result.exit_code == 2
    assert "Traceback" not in result.output


def test_infinite_deadline_means_no_deadline(fake: ThreadedCluster) -> None:
    """--deadline inf waits as long as it takes."""
    ref = fake.add(Script(duration=5_000))
    result = cli("wait", *ids(ref), "--deadline", "inf", "--endpoint", fake.cluster.url)
    assert result.exit_code == 0


def test_wait_for_an_unknown_id_with_a_short_deadline_is_not_found(fake: ThreadedCluster) -> None:
    """Only 404s within a deadline shorter than the not-found grace: exit 6 (not found), not 5."""
    ref = OperationRef.restart("app~svc", PID, uuid.uuid4())
    result = cli("wait", *ids(ref), "--deadline", "3", "--endpoint", fake.cluster.url)
    assert result.exit_code == 6


@pytest.mark.parametrize("columns", ["80", "0"])
def test_summary_fits_80_columns_and_survives_columns_0(fake: ThreadedCluster, tmp_path: Path, columns: str) -> None:
    """At 80 columns the slowest table shows its numbers; COLUMNS=0 still prints the summary."""
    ref = fake.add(Script(duration=2), service="a-rather-long-application-name~and-a-long-service-name")
    source = tmp_path / "ops.csv"
    source.write_bytes(csv_of(ref))
    result = cli("watch", "--from", str(source), "--endpoint", fake.cluster.url, env={"COLUMNS": columns})
    assert "sf-progress summary" in result.stderr
    row = next(line for line in result.stderr.splitlines() if str(ref.operation_id) in line)
    assert "completed" in row
    assert "…" not in row.split("completed")[1]  # seconds and polls are whole
    assert max(len(line) for line in result.stderr.splitlines()) <= 80


def test_closed_stdin_is_a_usage_error(fake: ThreadedCluster) -> None:
    """--from - with standard input closed: exit 2 with a message, no traceback."""
    proc = subprocess.run(
        [sys.executable, "-m", "sf_progress", "watch", "--from", "-", "--endpoint", fake.cluster.url],
        capture_output=True, text=True, preexec_fn=lambda: os.close(0), timeout=60,
    )
    assert proc.returncode == 2
    assert "standard input is closed" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_control_characters_in_the_token_are_a_usage_error(fake: ThreadedCluster) -> None:
    """A token with control characters in --token-env's variable: exit 2 before any request."""
    ref = fake.add(Script(duration=0))
    result = cli(
        "get", *ids(ref), "--endpoint", fake.cluster.url, "--token-env", "T", "--allow-insecure-http",
        env={"T": "abc\x01def"},
    )
    assert result.exit_code == 2
    assert fake.cluster.requests == 0


@pytest.mark.real_wait
def test_ctrl_c_ends_watch_while_the_stdin_producer_is_idle(fake: ThreadedCluster) -> None:
    """`(echo line; sleep 600) | sf-progress watch --from -`: SIGINT ends it promptly with 130."""
    ref = fake.add(Script(duration=10_000))
    proc = run_module("watch", "--from", "-", "--endpoint", fake.cluster.url, stdin=subprocess.PIPE)
    assert proc.stdin is not None
    proc.stdin.write(json.dumps(dict(zip(("service_id", "partition_id", "operation_id"), ids(ref), strict=True))))
    proc.stdin.write("\n")
    proc.stdin.flush()  # ... and the producer stays silent, the pipe open
    deadline = time.monotonic() + 30
    while fake.cluster.by_route["progress"] == 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=10)
    finally:
        proc.kill()
        proc.stdin.close()
    assert proc.returncode == 130
    assert "interrupted" in err
    assert "Traceback" not in err


def _start_restarts(
    fake: ThreadedCluster, tmp_path: Path, n: int, duration: float = 10_000
) -> subprocess.Popen[str]:
    fake.do(setattr, fake.cluster, "default_script", Script(duration=duration))
    source = tmp_path / "targets.csv"
    source.write_text("service_id,partition_id\n" + "".join(f"app~svc{i},{uuid.uuid4()}\n" for i in range(n)))
    return run_module("restart", "--from", str(source), "--endpoint", fake.cluster.url)


@pytest.mark.real_wait
@pytest.mark.parametrize(
    ("signum", "code"),
    [(signal.SIGTERM, 143), *([(signal.SIGHUP, 129)] if hasattr(signal, "SIGHUP") else []), (signal.SIGINT, 130)],
)
def test_restart_from_records_every_started_id_before_a_signal(
    fake: ThreadedCluster, tmp_path: Path, signum: int, code: int
) -> None:
    """SIGTERM, SIGHUP or Ctrl-C during restart --from: every started OperationId is on stdout."""
    proc = _start_restarts(fake, tmp_path, 5)
    assert proc.stdout is not None
    started = [json.loads(proc.stdout.readline()) for _ in range(5)]  # written as each start is accepted
    proc.send_signal(signum)
    rest, err = proc.communicate(timeout=30)
    assert proc.returncode == code, err
    assert "Traceback" not in err
    assert {r["event"] for r in started} == {"started"}
    assert rest == ""
    on_cluster = fake.do(lambda: {str(op.ref.operation_id) for op in fake.cluster.operations.values()})
    assert {r["operation_id"] for r in started} == on_cluster


@pytest.mark.real_wait
def test_restart_from_with_a_closed_stdout_keeps_the_ids_on_stderr(fake: ThreadedCluster, tmp_path: Path) -> None:
    """stdout closed: the started id goes to stderr, no further restart is started, exit 1."""
    proc = _start_restarts(fake, tmp_path, 20, duration=1)
    assert proc.stdout is not None
    proc.stdout.close()  # the reader went away before the first line
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1
    records = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    recorded = {r["operation_id"] for r in records if r["event"] == "started"}
    finished = [r for r in records if r["event"] == "finished"]
    assert {r["operation_id"] for r in finished if r.get("reason") != "aborted"} == recorded  # watched to the end
    assert len(finished) == 20  # the others: not started, and said so
    assert all(r["kind"] == "failed" for r in finished if r.get("reason") == "aborted")
    on_cluster = fake.do(lambda: {str(op.ref.operation_id) for op in fake.cluster.operations.values()})
    assert recorded == on_cluster
    assert 1 <= len(on_cluster) < 20
