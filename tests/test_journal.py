"""FaultRun and its journal: no fault lost, none started twice, whatever moment the run dies at."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from sf_progress import FaultRun, FaultTarget, JournalError, OperationState, ProgressClient
from sf_progress._campaign.journal import lines_of
from sf_progress.testing import FakeCluster, Fault, Script

from .conftest import PID


def targets(n: int) -> list[FaultTarget]:
    kinds = [
        lambda i: FaultTarget.restart(f"app~svc{i}", uuid.uuid4()),
        lambda i: FaultTarget.data_loss(f"app~svc{i}", uuid.uuid4(), mode="FullDataLoss"),
        lambda i: FaultTarget.quorum_loss(f"app~svc{i}", uuid.uuid4(), duration=3),
        lambda i: FaultTarget.node_transition("_Node_0" if i % 2 else "_Node_1", "stop", stop_duration=300),
    ]
    return [kinds[i % 3](i) for i in range(n)]


class Crash(Exception):
    """Stands for the process dying at this point."""


def started(cluster: FakeCluster) -> list[uuid.UUID]:
    return [op.ref.operation_id for op in cluster.operations.values()]


async def test_a_run_journals_every_step_and_reports_one_result_each(
    client: ProgressClient, cluster: FakeCluster, tmp_path: Path
) -> None:
    """Targets are in the journal before any start; each ends with one journaled outcome."""
    cluster.default_script = Script(duration=2)
    path = tmp_path / "run.jsonl"
    plan = targets(9)
    async with await FaultRun.create(path, client, plan) as run:
        assert [r["event"] for r in lines_of(path)] == ["journal"] + ["target"] * 9 + ["planned"]
        assert cluster.requests == 0  # planned, nothing sent
        await run.start_pending()
        results = [r async for r in run.results()]
    assert sorted(r.number for r in results) == list(range(9))
    assert all(r.ok for r in results)
    assert sorted(started(cluster)) == sorted(t.operation_id for t in plan)
    kinds = [r["event"] for r in lines_of(path)]
    assert kinds.count("intent") == kinds.count("accepted") == kinds.count("outcome") == 9
    assert kinds.count("state") >= 9  # each was seen Running
    assert kinds.index("intent") < kinds.index("accepted")
    # A finished journal resumes into the same results, sending nothing.
    before = cluster.requests
    async with await FaultRun.resume(path, client) as again:
        await again.start_pending()
        replay = [r async for r in again.results()]
    assert sorted(str(r.ref) for r in replay) == sorted(str(r.ref) for r in results)
    assert sorted(replay, key=lambda r: r.number) == sorted(results, key=lambda r: r.number)  # typed, read back as written
    assert cluster.requests == before


@pytest.mark.parametrize("moment", ["after_intent", "after_send"])
async def test_a_crash_between_steps_resumes_without_doubling(
    client: ProgressClient, cluster: FakeCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, moment: str
) -> None:
    """Killed after the intent (start never sent) or after the send (acceptance never written): one start each."""
    cluster.default_script = Script(duration=2)
    path = tmp_path / "run.jsonl"
    plan = targets(6)
    run = await FaultRun.create(path, client, plan, settle=0.1)
    real_start = client.start
    calls = 0

    async def crashing_start(target: FaultTarget, **options: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 4:
            if moment == "after_send":
                await real_start(target)  # it lands at the cluster...
            raise Crash  # ...and the process dies before the journal hears of it
        return await real_start(target)

    monkeypatch.setattr(client, "start", crashing_start)
    with pytest.raises(Crash):
        await run.start_pending()
    run.close()
    monkeypatch.undo()
    assert len(cluster.operations) == (4 if moment == "after_send" else 3)
    async with await FaultRun.resume(path, client, settle=0.1) as resumed:
        await resumed.start_pending()
        results = [r async for r in resumed.results()]
    assert len(results) == 6
    assert all(r.ok for r in results), results
    assert sorted(started(cluster)) == sorted(t.operation_id for t in plan)  # exactly one each


async def test_a_purged_operation_is_reported_not_restarted(tmp_path: Path) -> None:
    """An accepted operation the cluster no longer knows (purged) is reported not found, never restarted."""
    async with (
        FakeCluster(retention=0.01, default_script=Script(duration=1)) as cluster,
        ProgressClient(cluster.url) as client,
    ):
        path = tmp_path / "run.jsonl"
        async with await FaultRun.create(path, client, targets(2)) as run:
            await run.start_pending()
        later = cluster.clock() + 10_000.0
        cluster.clock = lambda: later  # long after: purged
        async with await FaultRun.resume(path, client) as resumed:
            await resumed.start_pending()
            results = [r async for r in resumed.results(not_found_grace=0)]
    assert [r.outcome.value for r in results] == ["not_found", "not_found"]
    assert cluster.by_route["start"] == 2


async def test_progressive_starts_and_a_refused_one(client: ProgressClient, cluster: FakeCluster, tmp_path: Path) -> None:
    """start() plans and starts one target at a time; a refused start is a failed result, journaled."""
    cluster.default_script = Script(duration=1)
    cluster.inject(Fault.error(400, "E_INVALIDARG", "no"), routes=["start"])
    async with await FaultRun.create(tmp_path / "run.jsonl", client) as run:
        await run.start(FaultTarget.restart("app~a", PID))
        ref = await run.start(FaultTarget.data_loss("app~b", PID))
        results = {r.number: r async for r in run.results()}
    assert results[0].outcome.value == "failed"
    assert results[0].error is not None
    assert "not started" in results[0].error
    assert results[1].ok
    assert cluster.state_of(ref.operation_id) is OperationState.COMPLETED


async def test_journal_misuse_is_a_clear_error(client: ProgressClient, cluster: FakeCluster, tmp_path: Path) -> None:
    """A locked, existing, foreign, newer, other-cluster or unwritable journal: JournalError, nothing sent."""
    path = tmp_path / "run.jsonl"
    run = await FaultRun.create(path, client, targets(1))
    with pytest.raises(JournalError, match="in use"):
        await FaultRun.resume(path, client)
    run.close()
    with pytest.raises(JournalError, match="already exists"):
        await FaultRun.create(path, client)
    other = ProgressClient("http://other-cluster:19080")
    with pytest.raises(JournalError, match="belongs to"):
        await FaultRun.resume(path, other)
    forced = await FaultRun.resume(path, other, force=True)
    forced.close()
    await other.aclose()
    foreign = tmp_path / "foreign.jsonl"
    foreign.write_text('{"hello": "world"}\n')
    with pytest.raises(JournalError, match="header"):
        await FaultRun.resume(foreign, client)
    newer = tmp_path / "newer.jsonl"
    newer.write_text(json.dumps({"v": 99, "type": "journal", "endpoint": client.endpoint}) + "\n")
    with pytest.raises(JournalError, match="version 99"):
        await FaultRun.resume(newer, client)
    with pytest.raises(JournalError, match="cannot be written"):
        await FaultRun.create(tmp_path / "missing" / "run.jsonl", client)
    assert cluster.requests == 0


async def test_a_cut_last_line_is_ignored_with_a_notice(
    client: ProgressClient, cluster: FakeCluster, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A journal whose last line was cut mid-write resumes; the cut line is dropped, with a notice."""
    cluster.default_script = Script(duration=1)
    path = tmp_path / "run.jsonl"
    async with await FaultRun.create(path, client, targets(2)) as run:
        await run.start_pending()
    with path.open("a") as file:
        file.write('{"event": "outcome", "n": 0, "out')
    async with await FaultRun.resume(path, client) as resumed:
        results = [r async for r in resumed.results()]
    assert len(results) == 2
    assert "cut short" in caplog.text
    assert all(line.endswith("\n") for line in path.read_text().splitlines(keepends=True))
