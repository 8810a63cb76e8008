"""`--journal` and `resume`: SIGKILL a real `sf-progress restart --from … --journal …` at several moments, then resume."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from sf_progress.testing import Fault, Script

from .test_cli import ThreadedCluster, cli

N = 10


@pytest.fixture
def fake() -> Iterator[ThreadedCluster]:
    """A FakeCluster in a background thread (outside the processes that are killed)."""
    threaded = ThreadedCluster()
    yield threaded
    threaded.close()


def write_targets(tmp_path: Path) -> Path:
    source = tmp_path / "targets.csv"
    source.write_text("service_id,partition_id\n" + "".join(f"app~svc{i},{uuid.uuid4()}\n" for i in range(N)))
    return source


def journal_ids(path: Path) -> list[str]:
    return [json.loads(line)["operation_id"] for line in path.read_text().splitlines() if '"event": "target"' in line]


@pytest.mark.real_wait
@pytest.mark.parametrize("moment", ["while_starting_slowly", "while_starts_fail", "while_waiting", "ctrl_c"])
def test_sigkill_then_resume_starts_each_target_exactly_once(
    fake: ThreadedCluster,
    tmp_path: Path,
    moment: str,
) -> None:
    """SIGKILL at any moment, then `resume`: the cluster has exactly one operation per target, one result each."""
    fake.do(setattr, fake.cluster, "default_script", Script(duration=2))
    if moment == "while_starting_slowly":
        fake.do(lambda: fake.cluster.inject(Fault.slow(0.3), routes=["start"], times=100))
    elif moment == "while_starts_fail":
        fake.do(lambda: fake.cluster.inject(Fault.service_unavailable(), Fault.slow(0.2), routes=["start"], times=20))
    source, journal = write_targets(tmp_path), tmp_path / "run.jsonl"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sf_progress",
            "restart",
            "--from",
            str(source),
            "--journal",
            str(journal),
            "--endpoint",
            fake.cluster.url,
            "--quiet",
            "--server-timeout",  # a start of the killed run may take this long (+5 s): the resume waits that out
            "2",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    want = N if moment in ("while_waiting", "ctrl_c") else 3
    deadline = time.monotonic() + 60
    while len(fake.cluster.operations) < want and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT if moment == "ctrl_c" else signal.SIGKILL)
    code = proc.wait(30)
    assert code == (130 if moment == "ctrl_c" else -signal.SIGKILL)
    fake.do(fake.cluster.clear_faults)
    assert len(fake.cluster.operations) < N or moment in ("while_waiting", "ctrl_c")
    result = cli("resume", str(journal), "--endpoint", fake.cluster.url, "--server-timeout", "2")
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    ids = journal_ids(journal)
    assert sorted(r["operation_id"] for r in records) == sorted(ids)
    assert {r["state"] for r in records} == {"Completed"}
    assert sorted(str(op) for op in fake.cluster.operations) == sorted(ids)  # exactly one per target
    again = cli("resume", str(journal), "--endpoint", fake.cluster.url)  # a finished journal: the same lines, no start
    assert sorted(json.loads(line)["operation_id"] for line in again.stdout.splitlines()) == sorted(ids)
    assert len(fake.cluster.operations) == N


def test_journal_errors_before_any_start(fake: ThreadedCluster, tmp_path: Path) -> None:
    """An unwritable journal path, --journal without --from, or another cluster's journal: exit 2, nothing started."""
    source = write_targets(tmp_path)
    url = fake.cluster.url
    bad = cli("restart", "--from", str(source), "--journal", str(tmp_path / "no" / "run.jsonl"), "--endpoint", url)
    assert bad.exit_code == 2
    assert "cannot be written" in bad.stderr
    assert cli("restart", "app~svc", str(uuid.uuid4()), "--journal", "x.jsonl", "--endpoint", url).exit_code == 2
    assert fake.cluster.requests == 0
    journal = tmp_path / "run.jsonl"
    journal.write_text(json.dumps({"v": 1, "type": "journal", "endpoint": "http://elsewhere:19080"}) + "\n")
    other = cli("resume", str(journal), "--endpoint", url)
    assert other.exit_code == 2
    assert "belongs to" in other.stderr
    assert cli("resume", str(journal), "--endpoint", url, "--force").exit_code == 0


@pytest.mark.real_wait
def test_ctrl_c_on_a_journaled_run_says_how_to_resume(fake: ThreadedCluster, tmp_path: Path) -> None:
    """Ctrl-C during `restart --from … --journal J`: exit 130, the summary, and the resume command.

    (Issue 35, item 22: a journaled run said nothing of how to finish it.)
    """
    fake.do(setattr, fake.cluster, "default_script", Script(duration=30))
    source, journal = write_targets(tmp_path), tmp_path / "run.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-m", "sf_progress", "restart", "--from", str(source), "--journal", str(journal),
         "--endpoint", fake.cluster.url, "--quiet"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while len(fake.cluster.operations) < N and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert f"sf-progress resume {journal}" in err.replace("\n", "")
    assert "Traceback" not in err


def test_resume_uses_the_journals_endpoint_and_names_the_fix(fake: ThreadedCluster, tmp_path: Path) -> None:
    """`resume J` in a new shell (no --endpoint) runs against the journal's cluster; another endpoint is
    refused with the --endpoint that fixes it, not only --force.

    (Issue 35, item 23.)
    """
    fake.do(setattr, fake.cluster, "default_script", Script(duration=1))
    source, journal = write_targets(tmp_path), tmp_path / "run.jsonl"
    first = cli("restart", "--from", str(source), "--journal", str(journal), "--endpoint", fake.cluster.url,
                "--quiet", "--deadline", "0.5")
    assert first.exit_code == 5, first.output  # timed out: left to resume
    resumed = cli("resume", str(journal), "--quiet")  # no --endpoint, no SF_ENDPOINT
    assert resumed.exit_code == 0, resumed.output
    assert len(fake.cluster.operations) == N
    other = cli("resume", str(journal), "--endpoint", "http://127.0.0.1:9", "--quiet")
    assert other.exit_code == 2
    assert f"--endpoint {fake.cluster.url}" in other.stderr.replace("\n", "")
