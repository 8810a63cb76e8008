"""The sf-progress command line, driven through its real entry point against FakeCluster."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import ssl
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar, cast

import pytest
import trustme
from click.testing import CliRunner, Result

from sf_progress import OperationRef, OperationState
from sf_progress.cli import main
from sf_progress.testing import Script, SyncFakeCluster

T = TypeVar("T")
PID = "1daae3f5-7fd6-42e9-b1ba-8c05f873994d"


class ThreadedCluster(SyncFakeCluster):
    """The public SyncFakeCluster, with the shorthands the tests use."""

    def do(self, func: Callable[..., T], *args: Any) -> T:
        return cast(T, self.call(func, *args))

    def add(self, script: Script, *, service: str = "app~svc") -> OperationRef:
        ref = OperationRef.restart(service, uuid.uuid4(), uuid.uuid4())
        self.do(self.cluster.add_operation, ref, script)
        return ref


@pytest.fixture
def fake() -> Iterator[ThreadedCluster]:
    """A FakeCluster in a background thread."""
    threaded = ThreadedCluster()
    yield threaded
    threaded.close()


def cli(*args: str, input: str | None = None, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, list(args), input=input, env=env, catch_exceptions=False)


def ids(ref: OperationRef) -> list[str]:
    return [ref.service_name, str(ref.partition_id), str(ref.operation_id)]


def test_help_lists_commands_and_exit_codes() -> None:
    """--help names every command and documents the exit codes."""
    result = cli("--help")
    assert result.exit_code == 0
    for command in ("get", "wait", "watch", "restart", "demo"):
        assert command in result.stdout
    assert "3 faulted" in result.stdout
    assert "UNSAFE" in cli("get", "--help").stdout


def test_get_human_and_json(fake: ThreadedCluster) -> None:
    """get prints the state for humans, or the model as JSON."""
    ref = fake.add(Script(duration=0))
    human = cli("get", *ids(ref), "--endpoint", fake.cluster.url)
    assert human.exit_code == 0
    assert human.stdout.startswith("Completed (error code 0)")
    assert str(ref.partition_id) in human.stdout
    raw = cli("get", *ids(ref), "--endpoint", fake.cluster.url, "-o", "json")
    assert json.loads(raw.stdout) == {
        "state": "Completed",
        "restart_partition_result": {
            "error_code": 0,
            "selected_partition": {"service_name": "fabric:/app/svc", "partition_id": str(ref.partition_id)},
        },
    }


def test_get_not_found_and_bad_ids(fake: ThreadedCluster) -> None:
    """An unknown operation exits 6; a malformed id is a usage error (2) and sends nothing."""
    missing = cli("get", "app~svc", PID, str(uuid.uuid4()), "--endpoint", fake.cluster.url)
    assert missing.exit_code == 6
    assert "FABRIC_E_KEY_NOT_FOUND" in missing.stderr
    bad = cli("get", "app~svc", "not-a-guid", str(uuid.uuid4()), "--endpoint", fake.cluster.url)
    assert bad.exit_code == 2
    assert fake.cluster.by_route["progress"] == 1


@pytest.mark.parametrize(
    ("script", "code", "state"),
    [
        (Script(duration=30), 0, "Completed"),
        (Script(duration=5, outcome=OperationState.FAULTED, error_code=-2147017729), 3, "Faulted"),
    ],
)
def test_wait_exit_codes(fake: ThreadedCluster, script: Script, code: int, state: str) -> None:
    """wait exits 0 for Completed and 3 for Faulted, printing state changes on stderr."""
    ref = fake.add(script)
    result = cli("wait", *ids(ref), "--endpoint", fake.cluster.url)
    assert result.exit_code == code
    assert result.stdout.startswith(state)
    assert "Running" in result.stderr


def test_wait_cancelled_and_timed_out(fake: ThreadedCluster) -> None:
    """wait exits 4 for a cancelled restart and 5 when the deadline passes (JSON keeps the last state)."""
    cancelled = fake.add(Script(duration=100))
    fake.do(lambda: setattr(fake.cluster.operation(cancelled.operation_id), "cancelled_at", fake.cluster.clock()))
    assert cli("wait", *ids(cancelled), "--endpoint", fake.cluster.url).exit_code == 4
    slow = fake.add(Script(duration=10_000))
    result = cli("wait", *ids(slow), "--endpoint", fake.cluster.url, "--deadline", "30", "-o", "json")
    assert result.exit_code == 5
    assert json.loads(result.stdout)["state"] == "Running"
    assert "timed out" in result.stderr


def test_restart_single_and_wait(fake: ThreadedCluster) -> None:
    """restart prints the new OperationId (or JSON); with --wait it waits and sets the exit code."""
    started = cli("restart", "fabric:/app/svc", PID, "--endpoint", fake.cluster.url, "-o", "json")
    assert started.exit_code == 0
    op = json.loads(started.stdout)
    assert fake.do(fake.cluster.state_of, op["operation_id"]) is OperationState.COMPLETED
    explicit = str(uuid.uuid4())
    waited = cli(
        "restart",
        "app/svc",
        PID,
        "--operation-id",
        explicit,
        "--mode",
        "OnlyActiveSecondaries",
        "--wait",
        "--endpoint",
        fake.cluster.url,
    )
    assert waited.exit_code == 0
    assert fake.do(fake.cluster.operation, explicit).mode == "OnlyActiveSecondaries"
    assert cli("restart", "app~svc", "--endpoint", fake.cluster.url).exit_code == 2
    assert cli("restart", "app~svc", PID, "--operation-id", "nope", "--endpoint", fake.cluster.url).exit_code == 2


def test_watch_jsonl_with_malformed_lines(fake: ThreadedCluster, tmp_path: Path) -> None:
    """watch reports bad lines by number, skips them, and writes one JSON line per operation."""
    done = fake.add(Script(duration=3))
    faulted = fake.add(Script(duration=8, outcome=OperationState.FAULTED))
    missing = OperationRef.restart("app~svc", uuid.uuid4(), uuid.uuid4())
    lines = [
        json.dumps(dict(zip(("service_id", "partition_id", "operation_id"), ids(r), strict=True)))
        for r in (done, faulted, missing)
    ]
    lines.insert(1, "{broken json")
    lines.append('{"service_id": "app~svc", "partition_id": "x", "operation_id": "y"}')
    lines.append('{"service_id": "app~svc"}')
    source = tmp_path / "ops.jsonl"
    source.write_text("\n".join(lines) + "\n")
    result = cli("watch", "--from", str(source), "--endpoint", fake.cluster.url)
    records = {r["operation_id"]: r for r in map(json.loads, result.stdout.splitlines())}
    assert records[str(done.operation_id)]["kind"] == "completed"
    assert records[str(faulted.operation_id)]["state"] == "Faulted"
    assert records[str(missing.operation_id)]["kind"] == "not_found"
    assert "line 2: not valid JSON" in result.stderr
    assert "line 5: partition_id must be a GUID" in result.stderr
    assert "line 6: missing partition_id, operation_id" in result.stderr
    assert "sf-progress summary" in result.stderr
    assert result.exit_code == 6  # the worst outcome: not found


def test_watch_csv_from_stdin_to_results_file(fake: ThreadedCluster, tmp_path: Path) -> None:
    """CSV on stdin works; --results takes the JSON lines; stdout stays empty; exit 0 when all complete."""
    refs = [fake.add(Script(duration=i)) for i in range(5)]
    csv_text = "service_id,partition_id,operation_id\n" + "".join(",".join(ids(r)) + "\n" for r in refs)
    out = tmp_path / "results.jsonl"
    result = cli(
        "watch",
        "--from",
        "-",
        "--results",
        str(out),
        "--concurrency",
        "2",
        "--max-rate",
        "1000",
        "--endpoint",
        fake.cluster.url,
        input=csv_text,
    )
    assert result.exit_code == 0
    assert result.stdout == ""
    assert len(out.read_text().splitlines()) == 5
    assert "\x1b[" not in result.stdout


def test_quiet_means_no_progress(fake: ThreadedCluster, tmp_path: Path) -> None:
    """--quiet leaves only the summary on stderr."""
    ref = fake.add(Script(duration=20))
    source = tmp_path / "ops.csv"
    source.write_text("service_id,partition_id,operation_id\n" + ",".join(ids(ref)) + "\n")
    result = cli("watch", "--from", str(source), "--quiet", "--endpoint", fake.cluster.url)
    assert result.exit_code == 0
    assert "progress:" not in result.stderr
    assert "sf-progress summary" in result.stderr


def test_restart_from_file(fake: ThreadedCluster, tmp_path: Path) -> None:
    """restart --from starts every valid row and watches them; bad rows are reported and make exit 1."""
    rows = ["service_id,partition_id,mode"] + [
        f"fabric:/chaos/svc{i},{uuid.uuid4()},AllReplicasOrInstances" for i in range(6)
    ]
    rows.append("fabric:/chaos/svc9,not-a-guid,AllReplicasOrInstances")
    source = tmp_path / "restarts.csv"
    source.write_text("\n".join(rows) + "\n")
    result = cli("restart", "--from", str(source), "--endpoint", fake.cluster.url)
    records = [json.loads(line) for line in result.stdout.splitlines()]
    started = [r for r in records if r["event"] == "started"]
    finished = [r for r in records if r["event"] == "finished"]
    assert len(started) == len(finished) == 6
    assert {r["operation_id"] for r in started} == {r["operation_id"] for r in finished}
    assert {r["kind"] for r in finished} == {"completed"}
    assert "line 8: not started" in result.stderr
    assert result.exit_code == 1
    assert fake.cluster.by_route["start"] == 6


def test_token_and_option_errors(tmp_path: Path) -> None:
    """--token-env sends the token; missing variables and conflicting options are usage errors."""
    threaded = ThreadedCluster(token="cli-s3cret")
    try:
        ref = threaded.add(Script(duration=0))
        base = ["get", *ids(ref), "--endpoint", threaded.cluster.url]
        assert cli(*base).exit_code == 1  # 401 without a token
        ok = cli(*base, "--token-env", "SF_TEST_TOKEN", "--allow-insecure-http", env={"SF_TEST_TOKEN": "cli-s3cret"})
        assert ok.exit_code == 0
        refused = cli(*base, "--token-env", "SF_TEST_TOKEN", env={"SF_TEST_TOKEN": "cli-s3cret"})
        assert refused.exit_code == 2
        assert "clear text" in refused.stderr
        assert "cli-s3cret" not in refused.stderr + refused.stdout
        assert cli(*base, "--token-env", "SF_NOT_SET").exit_code == 2
        assert cli(*base, "--no-verify", "--ca", str(tmp_path)).exit_code == 2
        assert cli(*base, "--pem", "a.pem", "--pfx", "b.pfx").exit_code == 2
        assert cli(*base, "--cert", "a.crt").exit_code == 2
        assert cli(*base, "--token-env", "X", "--aad").exit_code == 2
        assert cli(*base, "--pem", str(tmp_path / "missing.pem")).exit_code == 2
    finally:
        threaded.close()


def test_tls_client_certificate_and_pin(tmp_path: Path) -> None:
    """--pem/--ca and --server-thumbprint reach the client over real TLS."""
    import hashlib

    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    ca = trustme.CA()
    server, client = ca.issue_cert("127.0.0.1"), ca.issue_cert("admin.example")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.configure_cert(context)
    context.verify_mode = ssl.CERT_REQUIRED
    ca.configure_trust(context)
    pem, ca_file = tmp_path / "admin.pem", tmp_path / "ca.pem"
    pem.write_bytes(client.private_key_and_cert_chain_pem.bytes())
    ca_file.write_bytes(ca.cert_pem.bytes())
    der = x509.load_pem_x509_certificate(server.cert_chain_pems[0].bytes()).public_bytes(serialization.Encoding.DER)
    threaded = ThreadedCluster(ssl_context=context)
    try:
        ref = threaded.add(Script(duration=0))
        url = threaded.cluster.url
        assert cli("get", *ids(ref), "--endpoint", url, "--pem", str(pem), "--ca", str(ca_file)).exit_code == 0
        pinned = cli(
            "get", *ids(ref), "--endpoint", url, "--pem", str(pem), "--server-thumbprint", hashlib.sha1(der).hexdigest()
        )
        assert pinned.exit_code == 0
        wrong = cli("get", *ids(ref), "--endpoint", url, "--pem", str(pem), "--server-thumbprint", "aa" * 20)
        assert wrong.exit_code == 1
        assert "pinned" in wrong.stderr
    finally:
        threaded.close()


def run_module(*args: str, **kwargs: Any) -> subprocess.Popen[str]:
    env = {**os.environ, "COLUMNS": "120"}
    return subprocess.Popen(
        [sys.executable, "-m", "sf_progress", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        **kwargs,
    )


@pytest.mark.real_wait
def test_ctrl_c_prints_partial_results(tmp_path: Path) -> None:
    """SIGINT to a running watch: what finished is printed, a summary says interrupted, exit 130."""
    threaded = ThreadedCluster()
    try:
        quick = threaded.add(Script(duration=0))
        slow = [threaded.add(Script(duration=10_000)) for _ in range(3)]
        source = tmp_path / "ops.csv"
        source.write_text(
            "service_id,partition_id,operation_id\n" + "".join(",".join(ids(r)) + "\n" for r in [quick, *slow])
        )
        proc = run_module("watch", "--from", str(source), "--endpoint", threaded.cluster.url)
        assert proc.stdout is not None
        first = proc.stdout.readline()  # the quick one finishes after its first poll (~1 s)
        assert json.loads(first)["operation_id"] == str(quick.operation_id)
        proc.send_signal(signal.SIGINT)
        rest, err = proc.communicate(timeout=30)
        assert proc.returncode == 130
        assert rest == ""
        assert "interrupted" in err
        assert "not finished" in err
        assert "Traceback" not in err
    finally:
        threaded.close()


@pytest.mark.real_wait
def test_demo_runs_and_summarises() -> None:
    """`python -m sf_progress demo --partitions 50` finishes with a summary of all 50 restarts."""
    started = time.monotonic()
    proc = run_module("demo", "--partitions", "50", "--seed", "7", "--until", "ended")  # (recovery: tested apart)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert out == ""
    assert "sf-progress summary" in err
    counts = [
        int(line.split()[-2])
        for line in err.splitlines()
        if line.startswith("│ ") and line.split()[1] in ("completed", "faulted", "cancelled")
    ]
    assert sum(counts) == 50
    assert "progress reads" in err
    assert time.monotonic() - started < 60


async def test_live_view_on_a_terminal() -> None:
    """On a terminal the batch view draws a progress bar and the counts line."""
    import io

    from rich.console import Console

    from sf_progress import BatchSnapshot, OutcomeKind
    from sf_progress.cli._ui import BatchView

    snap = BatchSnapshot(
        total=10,
        pending=4,
        finished=6,
        in_flight=2,
        by_state={OperationState.RUNNING: 3, None: 1},
        by_kind={OutcomeKind.COMPLETED: 5, OutcomeKind.FAULTED: 1},
        requests=40,
        retries=2,
        oldest_pending=12.0,
        throttle=0.5,
        progress_reads=35,
        list_calls=5,
        coalescing=True,
    )
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=120)
    async with BatchView(lambda: snap, quiet=False, title="testing", console=console):
        await asyncio.sleep(0.3)
    text = screen.getvalue()
    for piece in (
        "testing",
        "6/10",
        "running 3",
        "waiting 1",
        "completed 5",
        "faulted 1",
        "retries 2",
        "reads 35",
        "lists 5 (watching)",
        "oldest 12s",
        "throttled to 50%",
    ):
        assert piece in text


def test_launcher_explains_missing_extra(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Without the cli extra, the sf-progress script says what to install (exit 2)."""
    from sf_progress import _launch

    monkeypatch.setitem(sys.modules, "sf_progress.cli", None)
    with pytest.raises(SystemExit) as info:
        _launch.main()
    assert info.value.code == 2
    assert "pip install 'sf_progress[cli]'" in capsys.readouterr().err


@pytest.mark.real_wait
@pytest.mark.skipif(not hasattr(signal, "SIGTERM"), reason="no SIGTERM here")
def test_the_demo_stopped_by_sigterm_exits_143() -> None:
    """SIGTERM ends the demo as it ends every run: cleanly, with the summary, exit 143 (it exited 0).

    (Issue 35, item 22: ``demo`` exited 0 on SIGTERM/SIGHUP with 49 of 50 faults unfinished.)
    """
    proc = run_module("demo", "--partitions", "50", "--seed", "7", "--until", "ended")  # (recovery: tested apart)
    assert proc.stderr is not None
    proc.stderr.readline()  # "demo: fake cluster at ...": the run is under way
    time.sleep(1.0)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert "interrupted" in err
    assert "Traceback" not in err


_NO_SIGHUP = pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="no SIGTERM/SIGHUP here")


@pytest.mark.real_wait
@pytest.mark.parametrize(
    ("signum", "code"),
    [
        (signal.SIGINT, 130),
        pytest.param(signal.SIGTERM, 143, marks=_NO_SIGHUP),
        pytest.param(getattr(signal, "SIGHUP", 1), 129, marks=_NO_SIGHUP),
    ],
)
def test_a_stop_signal_during_wait_exits_with_its_code_without_traceback(signum: int, code: int) -> None:
    """Ctrl-C, SIGTERM or SIGHUP while `wait` waits for one restart: "interrupted", the signal's code.

    (Issue 35, item 22: one signal behaviour for every command; `wait` died by SIGTERM/SIGHUP.)
    """
    threaded = ThreadedCluster()
    try:
        ref = threaded.add(Script(duration=10_000))
        proc = run_module("wait", *ids(ref), "--endpoint", threaded.cluster.url)
        assert proc.stderr is not None
        assert "Running" in proc.stderr.readline()  # the first poll has answered
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == code, err
        assert "interrupted" in err
        assert "Traceback" not in err
    finally:
        threaded.close()
