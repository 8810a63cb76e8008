"""What Windows users meet: the journal lock, signals without add_signal_handler, paths, line ends.

These run in both CI passes; in the Windows-shaped one (``-p tests.windows_plugin``) they
also check that the shape is really in force, here and in child processes.
"""

from __future__ import annotations

import asyncio
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

from sf_progress import FaultRun, FaultTarget, JournalError, OutcomeKind, ProgressClient
from sf_progress._platform import lock_exclusive
from sf_progress.cli._signals import STOP_SIGNALS, on_signals
from sf_progress.testing import FakeCluster, Script

from .test_cli import ThreadedCluster, run_module
from .windows_shape import active

pytestmark = pytest.mark.real_wait


@pytest.fixture
def fake() -> Iterator[ThreadedCluster]:
    threaded = ThreadedCluster()
    yield threaded
    threaded.close()


def test_the_shape_is_in_force_here_and_in_children() -> None:
    """In the shaped pass: no fcntl, no SIGHUP, no add_signal_handler, here and in a child process."""
    if not active():
        pytest.skip("the Windows shape is off (run with -p tests.windows_plugin)")
    with pytest.raises(ImportError):
        import fcntl  # noqa: F401
    assert not hasattr(signal, "SIGHUP")
    assert int(signal.SIGINT) in STOP_SIGNALS
    probe = "import signal, sys\ntry:\n import fcntl\nexcept ImportError:\n print(hasattr(signal, 'SIGHUP'))"
    child = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    assert child.stdout.strip() == "False"


def test_stop_signals_are_the_platforms_own() -> None:
    """Ctrl-C exits 130; SIGTERM and SIGHUP only where they exist."""
    assert STOP_SIGNALS[int(signal.SIGINT)] == 130
    if hasattr(signal, "SIGHUP"):
        assert STOP_SIGNALS[int(signal.SIGHUP)] == 129
    else:
        assert all(code in (130, 143) for code in STOP_SIGNALS.values())


async def test_signals_reach_the_loop_without_add_signal_handler(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where the loop has no add_signal_handler (Proactor), a plain handler hands the signal to the loop."""
    loop = asyncio.get_running_loop()

    def missing(*args: object) -> None:
        raise NotImplementedError

    monkeypatch.setattr(loop, "add_signal_handler", missing)
    seen: list[int] = []
    got = asyncio.Event()
    previous = signal.getsignal(signal.SIGINT)
    restore = on_signals(loop, [int(signal.SIGINT)], lambda s: (seen.append(s), got.set()))
    try:
        signal.raise_signal(signal.SIGINT)
        await asyncio.wait_for(got.wait(), 5)
    finally:
        restore()
    assert seen == [int(signal.SIGINT)]
    assert signal.getsignal(signal.SIGINT) is previous


def test_the_journal_lock_is_exclusive_per_open_file(tmp_path: Path) -> None:
    """A second open of a locked journal fails at once; closing the first frees it."""
    path = tmp_path / "j"
    path.write_bytes(b"x\n")
    with open(path, "a+b") as first:
        lock_exclusive(first.fileno())
        with open(path, "a+b") as second, pytest.raises(OSError):  # noqa: PT011 - the OS's own error
            lock_exclusive(second.fileno())
        first.write(b"y\n")  # the lock never blocks the holder's own writes (nor reads)
        first.flush()
        first.seek(0)
        assert first.read() == b"x\ny\n"
    with open(path, "a+b") as third:
        lock_exclusive(third.fileno())


async def test_a_journaled_run_detects_a_second_writer(tmp_path: Path) -> None:
    """FaultRun: a second run on the same journal is a JournalError while the first holds it."""
    async with FakeCluster(default_script=Script(duration=1)) as cluster, ProgressClient(cluster.url) as client:
        journal = tmp_path / "run.jsonl"
        targets = [FaultTarget.restart("app~svc", str(uuid.uuid4())) for _ in range(3)]
        run = await FaultRun.create(journal, client, targets)
        try:
            with pytest.raises(JournalError, match="in use"):
                await FaultRun.resume(journal, client)
            await run.start_pending()
            outcomes = [r async for r in run.results()]
        finally:
            run.close()
        assert len(outcomes) == 3
        resumed = await FaultRun.resume(journal, client)  # free again once the first closed
        resumed.close()


def test_watch_interrupted_writes_every_finished_line_and_exits_130(fake: ThreadedCluster, tmp_path: Path) -> None:
    """`watch --from FILE --results ~/...`: SIGINT ends it with 130; each finished line is in the file, ending in \\n."""
    done = [fake.add(Script(duration=0.5)) for _ in range(3)]
    running = [fake.add(Script(duration=10_000)) for _ in range(2)]
    source = tmp_path / "ops.jsonl"
    lines = [
        json.dumps({"service_id": r.service_id, "partition_id": str(r.partition_id), "operation_id": str(r.operation_id)})
        for r in done + running
    ]
    source.write_bytes(("\r\n".join(lines) + "\r\n").encode())  # as PowerShell writes it
    home = tmp_path / "home"
    home.mkdir()
    env = {"HOME": str(home), "USERPROFILE": str(home)}
    proc = run_module_env(env, "watch", "--from", str(source), "--results", "~/results.jsonl", "--endpoint", fake.cluster.url)
    results = home / "results.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not results.exists() or results.read_text().count("\n") < 3):
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    data = results.read_bytes()
    assert b"\r" not in data
    records = [json.loads(line) for line in data.decode().splitlines()]
    assert {r["operation_id"] for r in records} == {str(r.operation_id) for r in done}
    assert {r["kind"] for r in records} == {OutcomeKind.COMPLETED.value}


def run_module_env(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        return run_module(*args)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def test_resume_after_ctrl_c_in_the_windows_shape(fake: ThreadedCluster, tmp_path: Path) -> None:
    """`restart --from ... --journal ~/run.jsonl`, Ctrl-C, then `resume`: every target once, exit 0."""
    fake.do(setattr, fake.cluster, "default_script", Script(duration=2))
    source = tmp_path / "targets.csv"
    source.write_text("service_id,partition_id\n" + "".join(f"app~svc{i},{uuid.uuid4()}\n" for i in range(4)))
    home = tmp_path / "home"
    home.mkdir()
    env = {"HOME": str(home), "USERPROFILE": str(home)}
    proc = run_module_env(env, "restart", "--from", str(source), "--journal", "~/run.jsonl", "--endpoint", fake.cluster.url)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and fake.do(lambda: len(fake.cluster.operations)) < 4:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    again = run_module_env(env, "resume", "~/run.jsonl", "--endpoint", fake.cluster.url)
    out, err = again.communicate(timeout=60)
    assert again.returncode == 0, err
    finished = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert len(finished) == 4
    assert {r["kind"] for r in finished} == {OutcomeKind.COMPLETED.value}
    assert fake.do(lambda: len(fake.cluster.operations)) == 4
