"""Campaigns that cannot lie (issue 16): each edge of the journal, with the case that used to end in an untrue report."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sf_progress import (
    FaultRun,
    FaultTarget,
    JournalError,
    OperationRef,
    OperationState,
    OutcomeKind,
    ProgressClient,
    ResponseFormatError,
)
from sf_progress._campaign.journal import lines_of
from sf_progress._config import wall_time
from sf_progress.testing import FakeCluster, Fault, Script

from .test_cli import ThreadedCluster, cli
from .test_cli_hardening import fake  # noqa: F401 - the fixture

SVC = "fabric:/app/svc"
HEADER = {"v": 3, "event": "journal", "endpoint": "http://x", "created": "2026-12-01T00:00:00Z"}


def write_lines(path: Path, *records: dict[str, Any]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


def target_line(n: int, op: uuid.UUID | None = None) -> dict[str, Any]:
    return {"event": "target", "n": n, "type": "PartitionRestart", "service_id": "app~svc",
            "partition_id": str(uuid.uuid4()), "operation_id": str(op or uuid.uuid4()), "spec": {}}


# --- 1. a plan cut short ----------------------------------------------------------------------


async def test_a_plan_cut_short_is_refused_and_may_be_created_again(
    tmp_path: Path, client: ProgressClient, cluster: FakeCluster
) -> None:
    """A crash while the plan is written (an iterable that raises): resume refuses; a new create replaces it."""
    path = tmp_path / "run.jsonl"

    def plan() -> Iterator[FaultTarget]:
        for i in range(5):
            if i == 3:
                raise RuntimeError("the source of targets failed")
            yield FaultTarget.restart(SVC, uuid.uuid4())

    with pytest.raises(RuntimeError):
        await FaultRun.create(path, client, plan())
    write_lines(path, {**HEADER, "endpoint": client.endpoint}, target_line(0), target_line(1))  # as a SIGKILL leaves it
    with pytest.raises(JournalError, match="plan was cut short"):
        await FaultRun.resume(path, client)
    header_only = tmp_path / "header.jsonl"
    write_lines(header_only, {**HEADER, "endpoint": client.endpoint})
    with pytest.raises(JournalError, match="cut short"):
        await FaultRun.resume(header_only, client)
    async with await FaultRun.create(path, client, [FaultTarget.restart(SVC, uuid.uuid4())]) as run:
        await run.start_pending()
        assert len([r async for r in run.results()]) == 1
    assert cluster.by_route["start"] == 1


def test_resume_of_a_cut_plan_exits_2_with_the_reason(fake: ThreadedCluster, tmp_path: Path) -> None:  # noqa: F811
    """`sf-progress resume` on a plan cut short: exit 2, says why, starts nothing (it used to report success)."""
    path = tmp_path / "run.jsonl"
    write_lines(path, {**HEADER, "endpoint": fake.cluster.url}, *(target_line(i) for i in range(935)))
    result = cli("resume", str(path), "--endpoint", fake.cluster.url)
    assert result.exit_code == 2
    assert "plan was cut short" in result.stderr
    assert fake.cluster.requests == 0


async def test_targets_added_last_and_cut_before_planned_are_dropped(
    tmp_path: Path, client: ProgressClient, cluster: FakeCluster
) -> None:
    """run.start() killed between its target line and its "planned" line: that target was never started; dropped."""
    path = tmp_path / "run.jsonl"
    async with await FaultRun.create(path, client, [FaultTarget.restart(SVC, uuid.uuid4())]):
        pass
    with path.open("a") as file:
        file.write(json.dumps(target_line(1)) + "\n")
    async with await FaultRun.resume(path, client) as run:
        assert len(run.journal.targets) == 1
        assert any("cut short before they were planned" in n for n in run.journal.notices)
        await run.start(FaultTarget.restart(SVC, uuid.uuid4()))  # numbering carries on cleanly
    async with await FaultRun.resume(path, client) as run:
        assert len(run.journal.targets) == 2


# --- 2. foreign 409s and duplicate ids ----------------------------------------------------------


async def test_a_409_on_a_first_start_is_a_conflict_not_our_start(
    tmp_path: Path, client: ProgressClient, cluster: FakeCluster
) -> None:
    """A pinned id that already exists (last week's run): "not started", failed — not "completed"."""
    old = OperationRef.restart(SVC, uuid.uuid4(), uuid.uuid4())
    cluster.add_operation(old, Script(duration=0))
    target = FaultTarget.restart(SVC, uuid.uuid4(), operation_id=old.operation_id)
    async with await FaultRun.create(tmp_path / "run.jsonl", client, [target]) as run:
        await run.start_pending()
        (result,) = [r async for r in run.results()]
    assert result.outcome is OutcomeKind.FAILED
    assert result.error is not None
    assert "not started" in result.error
    assert "not ours" in result.error
    assert list(cluster.operations) == [old.operation_id]  # the other partition was never faulted either way


async def test_duplicate_operation_ids_are_refused_up_front(
    tmp_path: Path, client: ProgressClient, cluster: FakeCluster
) -> None:
    """Two rows with one id, or run.start(t) twice: ValueError before anything is written or sent."""
    op = uuid.uuid4()
    twins = [FaultTarget.restart(SVC, uuid.uuid4(), operation_id=op), FaultTarget.restart(SVC, uuid.uuid4(), operation_id=op)]
    with pytest.raises(ValueError, match="already in this run's plan"):
        await FaultRun.create(tmp_path / "a.jsonl", client, twins)
    target = FaultTarget.restart(SVC, uuid.uuid4())
    async with await FaultRun.create(tmp_path / "b.jsonl", client) as run:
        await run.start(target)
        with pytest.raises(ValueError, match="already in this run's plan"):
            await run.start(target)
    assert cluster.by_route["start"] == 1


# --- 3. the type column ---------------------------------------------------------------------------


@pytest.mark.parametrize("journaled", [False, True])
def test_a_start_command_never_faults_a_row_as_another_kind(
    fake: ThreadedCluster, tmp_path: Path, journaled: bool  # noqa: F811
) -> None:
    """data-loss --from a mixed file: rows typed otherwise are bad lines (nothing started for them), exit 1."""
    source = tmp_path / "mixed.csv"
    rows = [("data-loss", uuid.uuid4()), ("restart", uuid.uuid4()), ("PartitionDataLoss", uuid.uuid4()),
            ("quorum-loss", uuid.uuid4())]
    source.write_text("type,service_id,partition_id\n" + "".join(f"{t},app~svc,{p}\n" for t, p in rows))
    journal = ["--journal", str(tmp_path / "run.jsonl")] if journaled else []
    result = cli("data-loss", "--from", str(source), *journal, "--quiet", "--endpoint", fake.cluster.url)
    assert result.exit_code == 1, result.output
    started = {op.ref.partition_id for op in fake.cluster.operations.values()}
    assert started == {rows[0][1], rows[2][1]}
    assert all(op.kind.value == "PartitionDataLoss" for op in fake.cluster.operations.values())
    assert "this command starts only data-loss rows" in " ".join(result.stderr.split())  # (as wrapped)


# --- 4. the settle time of a resume ---------------------------------------------------------------


async def test_resume_waits_out_the_killed_runs_request_before_sending_again(
    tmp_path: Path, cluster: FakeCluster
) -> None:
    """An intent written just now with no answer: the start is sent again only after a request's timeout."""
    path = tmp_path / "run.jsonl"
    target = target_line(0)
    async with ProgressClient(cluster.url, server_timeout=30) as client:
        write_lines(path, {**HEADER, "endpoint": client.endpoint}, target, {"event": "planned", "count": 1},
                    {"event": "intent", "n": 0, "at": wall_time()})
        began = client.clock.monotonic()
        async with await FaultRun.resume(path, client) as run:
            await run.start_pending()
        waited = client.clock.monotonic() - began
    assert waited >= client.request_timeout - 1  # 35 s, not the fixed 2 s
    assert cluster.by_route["start"] == 1


# --- 5. write failures ----------------------------------------------------------------------------


def test_a_journal_that_is_not_a_regular_file_is_refused(fake: ThreadedCluster, tmp_path: Path) -> None:  # noqa: F811
    """--journal /dev/null or /dev/full: a clear error, exit 2, nothing started (no traceback)."""
    source = tmp_path / "rows.csv"
    source.write_text(f"service_id,partition_id\napp~svc,{uuid.uuid4()}\n")
    for device in ("/dev/null", "/dev/full"):
        result = cli("restart", "--from", str(source), "--journal", device, "--endpoint", fake.cluster.url)
        assert result.exit_code == 2, result.output
        assert "not a regular file" in result.stderr
    assert fake.cluster.requests == 0


async def test_a_journal_write_failure_is_a_journal_error_and_stops_the_starts(
    tmp_path: Path, client: ProgressClient, cluster: FakeCluster
) -> None:
    """The disk fills up as the intents are written: JournalError, and no start is sent."""
    run = await FaultRun.create(tmp_path / "run.jsonl", client, [FaultTarget.restart(SVC, uuid.uuid4()) for _ in range(3)])

    class Full:
        def __init__(self, inner: Any) -> None:
            self.inner = inner

        def write(self, data: bytes) -> int:
            raise OSError(28, "No space left on device")

        def __getattr__(self, name: str) -> Any:
            return getattr(self.inner, name)

    run.journal._file = Full(run.journal._file)
    with pytest.raises(JournalError, match="No space left on device"):
        await run.start_pending()
    assert cluster.by_route["start"] == 0
    run.journal._file = run.journal._file.inner
    run.close()


def test_results_to_a_full_disk_with_a_journal(fake: ThreadedCluster, tmp_path: Path) -> None:  # noqa: F811
    """--results /dev/full --journal: a clear message and exit 1; the journal keeps the results for a resume."""
    source = tmp_path / "rows.csv"
    source.write_text("service_id,partition_id\n" + "".join(f"app~svc,{uuid.uuid4()}\n" for _ in range(3)))
    journal = tmp_path / "run.jsonl"
    result = cli("restart", "--from", str(source), "--journal", str(journal), "--results", "/dev/full", "--quiet",
                 "--endpoint", fake.cluster.url)
    assert result.exit_code == 1, result.output
    assert "cannot write the results" in result.stderr
    assert "Traceback" not in result.output
    again = cli("resume", str(journal), "--quiet", "--endpoint", fake.cluster.url)
    assert again.exit_code == 0
    assert len(again.stdout.splitlines()) == 3


# --- 6. run.start() while results() runs ----------------------------------------------------------


async def test_targets_started_while_results_are_iterated_come_in_that_stream(
    tmp_path: Path, client: ProgressClient, cluster: FakeCluster
) -> None:
    """A progressive orchestrator: 2 planned, 3 more started after the first result; all 5 results in one stream."""
    cluster.default_script = Script(duration=5)
    async with await FaultRun.create(tmp_path / "run.jsonl", client, [FaultTarget.restart(SVC, uuid.uuid4()) for _ in range(2)]) as run:
        await run.start_pending()
        seen = []
        async for result in run.results():
            seen.append(result.number)
            if len(seen) == 1:
                for _ in range(3):
                    await run.start(FaultTarget.restart(SVC, uuid.uuid4()))
    assert sorted(seen) == [0, 1, 2, 3, 4]


# --- 7. bad lines with --journal --------------------------------------------------------------------


def test_bad_lines_count_with_a_journal(fake: ThreadedCluster, tmp_path: Path) -> None:  # noqa: F811
    """One bad line among good ones, with --journal: reported and counted — exit 1, as without a journal."""
    source = tmp_path / "rows.csv"
    source.write_text(f"service_id,partition_id\napp~svc,{uuid.uuid4()}\nnot,a,row,at,all\n")
    result = cli("restart", "--from", str(source), "--journal", str(tmp_path / "j.jsonl"), "--quiet",
                 "--endpoint", fake.cluster.url)
    assert result.exit_code == 1, result.output
    assert "bad input lines 1" in result.stderr


# --- 8. a timed-out record is not final ---------------------------------------------------------------


async def test_a_timed_out_record_is_waited_on_again_by_resume(
    tmp_path: Path, client: ProgressClient, cluster: FakeCluster
) -> None:
    """The wait timed out (the fault did not end in time); a later resume learns how the fault really ended."""
    cluster.default_script = Script(duration=60)
    path = tmp_path / "run.jsonl"
    async with await FaultRun.create(path, client, [FaultTarget.restart(SVC, uuid.uuid4())]) as run:
        await run.start_pending()
        (first,) = [r async for r in run.results(deadline=10)]
    assert first.outcome is OutcomeKind.TIMED_OUT
    async with await FaultRun.resume(path, client) as run:
        (again,) = [r async for r in run.results(deadline=120)]
    assert again.outcome is OutcomeKind.COMPLETED
    assert again.state is OperationState.COMPLETED
    async with await FaultRun.resume(path, client) as run:  # and that one is final
        (third,) = [r async for r in run.results()]
    assert third == again
    assert cluster.by_route["start"] == 1


# --- 9. the node InstanceId read from the cluster -------------------------------------------------------


@pytest.mark.parametrize("instance", ["１２３", "0", str(2**70), "-5", ""])
async def test_a_bad_instance_id_from_the_cluster_is_never_sent(
    client: ProgressClient, cluster: FakeCluster, instance: str
) -> None:
    """GET /Nodes/{name} answering a non-decimal, zero or too large InstanceId: ResponseFormatError, no start."""
    body = json.dumps({"Name": "_Node_0", "NodeStatus": "Up", "InstanceId": instance}).encode()
    cluster.inject(Fault.malformed(body), routes=["info"])
    async with ProgressClient(cluster.url, allow="all") as unguarded:  # (the node rules would read the list first)
        with pytest.raises(ResponseFormatError, match="InstanceId"):
            await unguarded.start(FaultTarget.node_transition("_Node_0", "stop"))
    assert cluster.by_route["start"] == 0


# --- 10. a hand-edited journal ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        {"event": "target", "n": 1, "type": "NodeTransition", "operation_id": str(uuid.uuid4()),
         "spec": {"transition": "Stop"}},
        {"event": "outcome", "n": 0, "outcome": "exploded"},
        {"event": "accepted", "n": -1},
        {"event": "intent", "n": 7},
        {"event": "planned", "count": 9},
    ],
)
async def test_every_malformed_record_is_a_journal_error_naming_its_line(
    tmp_path: Path, client: ProgressClient, bad: dict[str, Any]
) -> None:
    """No AssertionError, ValueError or IndexError: a JournalError with the line number."""
    path = tmp_path / "run.jsonl"
    write_lines(path, {**HEADER, "endpoint": client.endpoint}, target_line(0), {"event": "planned", "count": 1}, bad)
    with pytest.raises(JournalError, match="line 4"):
        await FaultRun.resume(path, client)


# --- 11. a stray positional argument with --from --------------------------------------------------------------


def test_a_stray_argument_with_from_is_a_usage_error(fake: ThreadedCluster, tmp_path: Path) -> None:  # noqa: F811
    """`restart --from rows.csv STRAY`: exit 2 (it used to be ignored)."""
    source = tmp_path / "rows.csv"
    source.write_text(f"service_id,partition_id\napp~svc,{uuid.uuid4()}\n")
    result = cli("restart", "--from", str(source), "STRAY", "--endpoint", fake.cluster.url)
    assert result.exit_code == 2
    assert "takes no target arguments" in result.output + result.stderr
    assert fake.cluster.requests == 0


def test_version_1_and_2_journals_still_resume(tmp_path: Path, fake: ThreadedCluster) -> None:  # noqa: F811
    """Journals written before format 3 (no "planned" records) resume as they were."""
    path = tmp_path / "v2.jsonl"
    op = uuid.uuid4()
    write_lines(path, {"v": 2, "event": "journal", "endpoint": fake.cluster.url}, target_line(0, op))
    result = cli("resume", str(path), "--quiet", "--endpoint", fake.cluster.url)
    assert result.exit_code == 0, result.output
    assert [line["event"] for line in lines_of(path)].count("accepted") == 1


def test_a_report_looking_at_a_journal_never_makes_a_resume_refuse_it(tmp_path: Path) -> None:
    """read_journal tries the lock for an instant (is a run writing it?); an open at that instant waits, not fails.

    (Issue 35, item 18: 285 of 17,651 opens next to a report in a loop were refused as "in use".)
    """
    import threading

    from sf_progress import read_journal
    from sf_progress._campaign.journal import Journal

    path = tmp_path / "run.jsonl"
    journal = Journal.create(path, "http://c:19080")
    journal.add_targets([])  # a whole (empty) plan
    journal.close()
    stop = threading.Event()

    def look() -> None:
        while not stop.is_set():
            read_journal(path)

    looker = threading.Thread(target=look)
    looker.start()
    try:
        for _ in range(500):  # ~8 of 500 were refused before (and each open adds a line: the file grows)
            Journal.open(path).close()  # raised JournalError "in use" now and then before
    finally:
        stop.set()
        looker.join()


async def test_a_runs_notes_are_journaled_and_reported(cluster: FakeCluster, tmp_path: Path) -> None:
    """FaultRun.note: a line about the run (how its targets were chosen), in the journal and its reports."""
    from sf_progress import FaultRun, ProgressClient, read_journal
    from sf_progress.report import build_report, render

    path = tmp_path / "run.jsonl"
    async with ProgressClient(cluster.url, allow="all") as client, await FaultRun.create(path, client) as run:
        run.note("3 target(s) selected by --service fabric:/app/svc\n--count 3")
        assert any("selected by" in n for n in run.snapshot().notices)
    notice = f"journal {str(path)!r}: 3 target(s) selected by --service fabric:/app/svc --count 3"
    assert notice in read_journal(path).notices
    assert "selected by --service" in render(build_report(path), "md")
