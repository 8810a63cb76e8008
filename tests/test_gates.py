"""Campaign gates: ``max_active`` and ``abort_on_unrecovered``, in ``FaultRun`` and on the command line."""

from __future__ import annotations

import json
import math
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from sf_progress import FaultRun, FaultTarget, JournalError, OutcomeKind, ProgressClient, RetryPolicy
from sf_progress._campaign.journal import lines_of
from sf_progress.testing import FakeCluster, Fault, Script

from .test_cli import ThreadedCluster, cli
from .test_cli_hardening import fake  # noqa: F401 - the fixture

SVC = "fabric:/app/svc"


def most_active(cluster: FakeCluster, *, until_recovered: bool = True) -> int:
    """The most operations whose target was faulted and not yet back (or not yet ended) at once, from the fake's
    own records."""
    edges = []
    for op in cluster.operations.values():
        ended = op.state_at(math.inf)[1]
        assert ended is not None
        edges += [(op.started_at, 1), (ended + (op.script.recovery if until_recovered else 0.0), -1)]
    active = peak = 0
    for _, delta in sorted(edges):
        active += delta
        peak = max(peak, active)
    return peak


def plan(cluster: FakeCluster, n: int, *, never: set[int] = frozenset()) -> list[FaultTarget]:  # type: ignore[assignment]
    targets = [FaultTarget.restart(SVC, uuid.uuid4()) for _ in range(n)]
    for i, target in enumerate(targets):
        cluster.plan(target.operation_id, Script(duration=1 + i % 3, recovery=math.inf if i in never else 2.0 + i % 4))
    return targets


async def test_max_active_is_never_exceeded(tmp_path: Path, client: ProgressClient, cluster: FakeCluster) -> None:
    """20 restarts, at most 3 faulted and not yet recovered at once: the fake's timeline shows it."""
    targets = plan(cluster, 20)
    async with await FaultRun.create(tmp_path / "run.jsonl", client, targets, max_active=3, recovery=True) as run:
        await run.start_pending()
        assert cluster.requests == 0  # a paced run starts in results(), as slots free
        results = [r async for r in run.results(deadline=120)]
    assert len(results) == 20
    assert all(r.ok and r.recovery is not None and r.recovery.recovered for r in results)
    assert len(cluster.operations) == 20
    assert most_active(cluster) <= 3
    assert most_active(cluster) == 3  # and the gate was used, not an accident of timing


async def test_abort_on_unrecovered_stops_starting(tmp_path: Path, client: ProgressClient, cluster: FakeCluster) -> None:
    """The 3rd target never recovers: nothing more starts, the active ones finish, the journal says why."""
    targets = plan(cluster, 12, never={2})
    path = tmp_path / "run.jsonl"
    run = await FaultRun.create(path, client, targets, max_active=2, recovery=True, abort_on_unrecovered=True)
    async with run:
        results = [r async for r in run.results(deadline=30)]
        assert run.aborted is not None
        assert "did not recover: partition health Warning" in run.aborted
    by_number = {r.number: r for r in results}
    assert len(by_number) == 12
    assert by_number[2].recovery is not None
    assert not by_number[2].recovery.recovered
    started = len(cluster.operations)
    assert started < 12
    not_started = [r for r in results if r.error and "the run was aborted" in r.error]
    assert len(not_started) == 12 - started
    assert all(r.outcome is OutcomeKind.FAILED for r in not_started)
    assert [line["event"] for line in lines_of(path)].count("aborted") == 1
    async with await FaultRun.resume(path, client) as resumed:  # the same gates; aborted: nothing more starts
        assert resumed.gates.max_active == 2
        assert resumed.gates.abort_on_unrecovered
        await resumed.start_pending()
        again = [r async for r in resumed.results(deadline=30)]
    assert len(again) == 12
    assert len(cluster.operations) == started


async def test_bad_gates_are_refused_before_the_journal_exists(
    tmp_path: Path, client: ProgressClient, cluster: FakeCluster
) -> None:
    """max_active < 1, or abort_on_unrecovered without recovery: ValueError, no journal written."""
    with pytest.raises(ValueError, match="max_active"):
        await FaultRun.create(tmp_path / "a.jsonl", client, [], max_active=0)
    with pytest.raises(ValueError, match="needs recovery=True"):
        await FaultRun.create(tmp_path / "b.jsonl", client, [], abort_on_unrecovered=True)
    assert not (tmp_path / "a.jsonl").exists()
    assert not (tmp_path / "b.jsonl").exists()
    bad = tmp_path / "c.jsonl"
    bad.write_text('{"v": 2, "event": "journal", "endpoint": "x"}\n{"event": "gates", "max_active": -1}\n')
    with pytest.raises(JournalError, match="line 2"):
        await FaultRun.resume(bad, client, force=True)


def csv_of_targets(tmp_path: Path, fake: ThreadedCluster, n: int, never: set[int]) -> Path:  # noqa: F811
    rows = []
    for i in range(n):
        op = uuid.uuid4()
        script = Script(duration=1 + i % 3, recovery=math.inf if i in never else 2.0 + i % 4)
        fake.do(fake.cluster.plan, op, script)
        rows.append(f"app~svc,{uuid.uuid4()},{op}\n")
    source = tmp_path / "targets.csv"
    source.write_text("service_id,partition_id,operation_id\n" + "".join(rows))
    return source


@pytest.mark.parametrize("journaled", [False, True])
def test_cli_max_active(fake: ThreadedCluster, tmp_path: Path, journaled: bool) -> None:  # noqa: F811
    """restart --from --max-active 2 --until recovered: every target, never more than 2 at once."""
    source = csv_of_targets(tmp_path, fake, 10, set())
    journal = ["--journal", str(tmp_path / "run.jsonl")] if journaled else []
    result = cli("restart", "--from", str(source), *journal, "--max-active", "2", "--until", "recovered", "--quiet",
                 "--endpoint", fake.cluster.url)
    assert result.exit_code == 0, result.output
    finished = [json.loads(line) for line in result.stdout.splitlines() if '"finished"' in line]
    assert len(finished) == 10
    assert all(line["recovered"] for line in finished)
    assert fake.do(most_active, fake.cluster) <= 2


@pytest.mark.parametrize("journaled", [False, True])
def test_cli_abort_on_unrecovered(fake: ThreadedCluster, tmp_path: Path, journaled: bool) -> None:  # noqa: F811
    """--abort-on-unrecovered: the first unrecovered target stops the starts; exit 7; it says why."""
    source = csv_of_targets(tmp_path, fake, 10, {1})
    journal = ["--journal", str(tmp_path / "run.jsonl")] if journaled else []
    result = cli("restart", "--from", str(source), *journal, "--max-active", "2", "--until", "recovered",
                 "--abort-on-unrecovered", "--deadline", "30", "--quiet", "--endpoint", fake.cluster.url)
    assert result.exit_code == 7, result.output
    assert "aborted:" in result.stderr
    assert len(fake.cluster.operations) < 10


def test_cli_gate_usage_errors(fake: ThreadedCluster) -> None:  # noqa: F811
    """--abort-on-unrecovered needs --until recovered; the gates need --from."""
    url = fake.cluster.url
    assert cli("restart", "--from", "-", "--abort-on-unrecovered", "--endpoint", url, input="").exit_code == 2
    assert cli("restart", SVC, str(uuid.uuid4()), "--max-active", "2", "--endpoint", url).exit_code == 2
    assert fake.cluster.requests == 0


@pytest.mark.real_wait
def test_sigkill_during_recovery_then_resume(fake: ThreadedCluster, tmp_path: Path) -> None:  # noqa: F811
    """Killed while targets recover: resume starts nothing twice, checks what is left, keeps recorded recoveries."""
    source = csv_of_targets(tmp_path, fake, 6, set())
    for op in list(fake.do(lambda: list(fake.cluster._plans))):
        fake.do(fake.cluster.plan, op, Script(duration=0.5, recovery=4.0))
    journal = tmp_path / "run.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-m", "sf_progress", "restart", "--from", str(source), "--journal", str(journal),
         "--until", "recovered", "--endpoint", fake.cluster.url, "--quiet"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while fake.cluster.by_route["health"] < 3 and time.monotonic() < deadline:  # in the recovery phase
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(30) == -signal.SIGKILL
    recorded = [line for line in lines_of(journal) if line.get("event") == "outcome"]
    assert len(recorded) < 6  # killed before every recovery was decided
    result = cli("resume", str(journal), "--until", "recovered", "--endpoint", fake.cluster.url, "--quiet")
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == 6
    assert all(line["recovered"] for line in lines)
    assert len(fake.cluster.operations) == 6  # no fault started twice
    outcomes = [line for line in lines_of(journal) if line.get("event") == "outcome"]
    assert len(outcomes) == 6
    assert all(line["recovered"] for line in outcomes)


async def test_an_unconfirmed_start_holds_its_slot(tmp_path: Path, cluster: FakeCluster) -> None:
    """A start the cluster carried out but whose answer was lost: max_active=1 still means one at a time.

    (Issue 35, item 4: the run counted it as unconfirmed, started the next, and two faults ran at
    once.)  Its wait finds it running; the result is journaled as the fault's own end.
    """
    targets = plan(cluster, 3)
    # The first start lands, then its answer is cut, and the retries are reset: "not confirmed".
    cluster.inject(Fault.truncated(), routes=["start"])
    cluster.inject(Fault.reset(), routes=["start"], times=2)
    async with (
        ProgressClient(cluster.url, retry=RetryPolicy(attempts=3)) as client,
        await FaultRun.create(tmp_path / "run.jsonl", client, targets, max_active=1) as run,
    ):
        results = [r async for r in run.results(deadline=120)]
    assert cluster.pending_faults == 0
    assert len(cluster.operations) == 3
    assert most_active(cluster, until_recovered=False) == 1
    assert [r.outcome for r in results] == [OutcomeKind.COMPLETED] * 3
    assert all(r.reason is None for r in results)
    assert [line["n"] for line in lines_of(tmp_path / "run.jsonl") if line.get("event") == "accepted"] == [0, 1, 2]
