"""The report's times and status after a stop or a kill, a live plan, an abort, and with recovery waits.

(Issue 35, item 5: faults running at a kill were shown ~1 s long when they took 6 s, the
timeline stretched them across the time the client was dead, nothing said the run was
resumed; a live run writing its plan was "cut short by a crash"; a finished aborted run
"interrupted"; with ``--until recovered`` "seconds" silently held the recovery wait.)
"""

from __future__ import annotations

import asyncio
import io
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from sf_progress import FaultRun, FaultTarget, OperationRef, Outcome, OutcomeKind, ProgressClient, Recovery
from sf_progress._campaign.journal import lines_of
from sf_progress._config import sleep
from sf_progress._platform import lock_exclusive
from sf_progress.cli._ui import summary
from sf_progress.report import build_report, render_json, render_markdown, write_report
from sf_progress.testing import FakeCluster, Script

SVC = "fabric:/app/svc"


def _target(n: int) -> dict[str, Any]:
    return {"event": "target", "n": n, "type": "PartitionRestart", "service_id": "app~svc",
            "partition_id": str(uuid.uuid4()), "operation_id": str(uuid.uuid4()),
            "spec": {"mode": "AllReplicasOrInstances"}}


def _write(path: Path, lines: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def _outcome(n: int, at: float, elapsed: float, **more: Any) -> dict[str, Any]:
    return {"event": "outcome", "n": n, "outcome": "completed", "state": "Completed", "error_code": 0,
            "error": None, "polls": 1, "elapsed": elapsed, "at": at, **more}


def test_a_fault_that_ended_while_no_client_watched_has_bounds_not_a_duration(tmp_path: Path) -> None:
    """Stopped at ~102, resumed at 160: #0 ended unseen (2..61 s), #1 was seen running after (70 s), #2 before."""
    journal = _write(tmp_path / "run.jsonl", [
        {"v": 3, "event": "journal", "endpoint": "http://c:19080", "created": "2026-12-07T10:00:00Z"},
        _target(0), _target(1), _target(2), {"event": "planned", "count": 3},
        *({"event": "intent", "n": n, "at": 99.5} for n in range(3)),
        *({"event": "accepted", "n": n, "at": 100.0} for n in range(3)),
        {"event": "state", "n": 0, "state": "Running", "at": 101.0},
        {"event": "state", "n": 1, "state": "Running", "at": 101.0},
        _outcome(2, 101.5, 1.5),
        {"event": "state", "n": 1, "state": "Running", "at": 102.0},
        {"event": "resumed", "at": 160.0},
        {"event": "state", "n": 1, "state": "Running", "at": 160.2},
        # #0: seen ended at the resumed run's first read (161), then 5 s of recovery.
        _outcome(0, 166.0, 6.0, recovered=True, recovery_s=5.0, recovery_checks=2),
        _outcome(1, 170.0, 10.0),
    ])
    report = build_report(journal)
    by_number = {t.number: t for t in report.targets}
    assert by_number[0].elapsed is None
    assert by_number[0].elapsed_bounds == (2.0, 61.0)  # after the last record (102) and by the sighting (161)
    assert by_number[0].recovery_s == 5.0
    assert by_number[1].elapsed == 70.0  # running across the downtime, seen running after it: a duration
    assert by_number[1].elapsed_bounds is None
    assert by_number[2].elapsed == 1.5
    assert report.status == "finished"
    assert [(d.since, d.until) for d in report.downtimes] == [(102.0, 160.0)]
    (notice,) = report.notices
    assert "resumed once" in notice
    assert "58 s" in notice
    assert "1 fault(s) ended meanwhile, unseen" in notice
    assert report.durations["restart"]["max"] == 70.0  # #0 is left out of the figures
    assert report.durations["restart"]["min"] == 1.5
    data = json.loads(render_json(report))
    assert data["downtimes"] == [{"since": 102.0, "until": 160.0}]
    assert data["targets"][0]["elapsed_bounds"] == [2.0, 61.0]
    assert "resumed once" in render_markdown(report)
    write_report(report, tmp_path / "run.html")
    page = (tmp_path / "run.html").read_text()
    assert "2.0–61.0" in page  # the table shows the bounds
    assert "resumed once" in page


async def test_a_run_stopped_and_resumed_on_the_fake_cluster(tmp_path: Path, cluster: FakeCluster) -> None:
    """End to end: a 5 s fault ends while no client runs, a 40 s one is seen again after the resume."""
    short, long = FaultTarget.restart(SVC, uuid.uuid4()), FaultTarget.restart(SVC, uuid.uuid4())
    cluster.plan(short.operation_id, Script(duration=5))
    cluster.plan(long.operation_id, Script(duration=40))
    path = tmp_path / "run.jsonl"
    async with ProgressClient(cluster.url) as client:
        run = await FaultRun.create(path, client, [short, long])
        await run.start_pending()

        async def drain() -> None:
            async for _ in run.results(deadline=120):
                pass

        task = asyncio.ensure_future(drain())
        await sleep(2)  # both seen Running
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        run.close()  # the client stops (as a kill does, bar the lock)
        await sleep(20)  # nobody watches: the short fault ends
        async with await FaultRun.resume(path, client) as resumed:
            results = [r async for r in resumed.results(deadline=120)]
    assert all(r.ok for r in results)
    assert [line["event"] for line in lines_of(path)].count("resumed") == 1
    report = build_report(path)
    first, second = report.targets
    assert first.elapsed is None
    assert first.elapsed_bounds is not None
    least, most = first.elapsed_bounds
    assert 0.0 < least <= 5.0 <= most <= 30.0  # the true 5 s lies within; the ~20 s gap is not hidden
    assert second.elapsed is not None
    assert 38.0 <= second.elapsed <= 60.0  # (its lag aside) not the ~20 s the resumed wait alone took
    assert report.status == "finished"
    assert len(report.downtimes) == 1
    assert any("resumed once" in notice for notice in report.notices)


def test_a_live_run_writing_its_plan_is_in_progress_not_cut(tmp_path: Path) -> None:
    path = _write(tmp_path / "live.jsonl", [
        {"v": 3, "event": "journal", "endpoint": "http://c:19080", "created": "2026-12-07T10:00:00Z"},
        _target(0), _target(1),
    ])
    with open(path, "ab") as held:
        with open(path, "a") as tail:
            tail.write('{"event": "target", "n": 2')  # a line being written
        lock_exclusive(held.fileno())  # a run holds the journal
        live = build_report(path)
    assert live.status == "in progress"
    assert "cut short" not in live.verdict
    assert not any("cut short" in n or "crash" in n for n in live.notices)
    assert any("writing its plan" in n for n in live.notices)
    dead = build_report(path)  # the same file, nobody holding it: that plan was cut by a crash
    assert dead.status == "cut short"
    assert "cut short by a crash" in dead.verdict


async def test_a_finished_aborted_run_is_not_interrupted(tmp_path: Path, client: ProgressClient) -> None:
    """Aborted before its targets were started, and closed: nothing will ever start; the run is over."""
    path = tmp_path / "run.jsonl"
    async with await FaultRun.create(path, client, [FaultTarget.restart(SVC, uuid.uuid4()) for _ in range(3)]) as run:
        run.abort("stopped by hand")
    report = build_report(path)
    assert report.status == "finished"
    assert "interrupted" not in report.verdict
    assert report.verdict.startswith("aborted because stopped by hand")
    assert "3 not started" in report.verdict


def test_time_to_end_and_time_to_recover_are_shown_apart(tmp_path: Path) -> None:
    """With recovery waits, a target's seconds are its fault's, and its recovery is its own column."""
    journal = _write(tmp_path / "run.jsonl", [
        {"v": 3, "event": "journal", "endpoint": "http://c:19080", "created": "2026-12-07T10:00:00Z"},
        _target(0), {"event": "planned", "count": 1},
        {"event": "intent", "n": 0, "at": 100.0}, {"event": "accepted", "n": 0, "at": 100.0},
        _outcome(0, 110.0, 10.0, recovered=True, recovery_s=7.0, recovery_checks=3),
    ])
    (target,) = build_report(journal).targets
    assert target.elapsed == 3.0
    assert target.recovery_s == 7.0
    ref = OperationRef.restart(SVC, uuid.uuid4(), uuid.uuid4())
    outcome = Outcome(ref, OutcomeKind.COMPLETED, None, None, 2, 10.0, Recovery(ref, True, 7.0))
    assert outcome.fault_elapsed == 3.0
    out = io.StringIO()
    summary(Console(file=out, width=120), [outcome], total=1, interrupted=False, skipped=0)
    text = out.getvalue()
    assert "to end s" in text
    assert "recover s" in text
    row = next(line for line in text.splitlines() if str(ref.operation_id) in line)
    assert "3.0" in row
    assert "7.0" in row
    assert "10.0" not in row


@pytest.mark.parametrize("at", [None, "soon"])
def test_a_resumed_record_without_a_time_is_refused(tmp_path: Path, at: object) -> None:
    from sf_progress import JournalError

    journal = _write(tmp_path / "run.jsonl", [
        {"v": 3, "event": "journal", "endpoint": "http://c:19080", "created": "2026-12-07T10:00:00Z"},
        _target(0), {"event": "planned", "count": 1}, {"event": "resumed", "at": at},
    ])
    with pytest.raises(JournalError, match="line 4: a 'resumed' record without its time"):
        build_report(journal)
