"""``--until recovered`` on the command line: result lines, exit code 7, journaled recovery, end to end."""

from __future__ import annotations

import json
import math
import uuid
from pathlib import Path

from sf_progress._campaign.journal import lines_of
from sf_progress.testing import Script

from .test_cli import PID, ThreadedCluster, cli, ids
from .test_cli_hardening import fake  # noqa: F401 - the fixture

SVC = "fabric:/app/svc"


def test_help_documents_exit_code_7() -> None:
    """The exit codes in every command's help include 7 (not recovered)."""
    assert "7 completed but not recovered" in cli("restart", "--help").output


def test_one_restart_until_recovered(fake: ThreadedCluster) -> None:  # noqa: F811
    """restart --wait --until recovered: 0 once the partition is back; 7 when it never comes back."""
    url = fake.cluster.url
    fake.do(setattr, fake.cluster, "default_script", Script(duration=2, recovery=20))
    good = cli("restart", SVC, PID, "--wait", "--until", "recovered", "-o", "json", "--endpoint", url)
    assert good.exit_code == 0, good.output
    assert json.loads(good.stdout)["state"] == "Completed"
    fake.do(setattr, fake.cluster, "default_script", Script(duration=2, recovery=math.inf))
    other = str(uuid.uuid4())
    bad = cli("restart", SVC, other, "--wait", "--until", "recovered", "--deadline", "30", "-o", "json",
              "--endpoint", url)
    assert bad.exit_code == 7, bad.output
    body = json.loads(bad.stdout)
    assert (body["state"], body["recovered"]) == ("Completed", False)
    assert body["reason"] == "partition health Warning"
    assert "not recovered" in bad.stderr


def test_watch_until_recovered_reports_each_and_exits_7(fake: ThreadedCluster, tmp_path: Path) -> None:  # noqa: F811
    """watch --until recovered: recovered and recovery_s on every line; one never recovers: exit 7."""
    refs = [fake.add(Script(duration=1 + i, recovery=3.0 * i)) for i in range(6)]
    never = fake.add(Script(duration=1, recovery=math.inf))
    source = tmp_path / "ops.csv"
    source.write_text("service_id,partition_id,operation_id\n" + "".join(",".join(ids(r)) + "\n" for r in [*refs, never]))
    result = cli("watch", "--from", str(source), "--until", "recovered", "--deadline", "60", "--quiet",
                 "--endpoint", fake.cluster.url)
    assert result.exit_code == 7, result.output
    lines = {line["operation_id"]: line for line in map(json.loads, result.stdout.splitlines())}
    assert len(lines) == 7
    for i, ref in enumerate(refs):
        line = lines[str(ref.operation_id)]
        assert (line["kind"], line["recovered"]) == ("completed", True)
        # From the moment the wait saw the fault end (a list tick or a read after its end) to the check
        # that saw the partition back: the scripted time, less that detection lag, plus at most one interval.
        assert 3.0 * i - 5 <= line["recovery_s"] <= 3.0 * i + 10.5
    assert lines[str(never.operation_id)]["recovered"] is False
    assert lines[str(never.operation_id)]["recovery_reason"] == "partition health Warning"


def test_watch_without_until_is_unchanged(fake: ThreadedCluster, tmp_path: Path) -> None:  # noqa: F811
    """Without --until recovered nothing is checked: no recovery fields, no health reads."""
    ref = fake.add(Script(duration=1, recovery=math.inf))
    source = tmp_path / "ops.csv"
    source.write_text("service_id,partition_id,operation_id\n" + ",".join(ids(ref)) + "\n")
    result = cli("watch", "--from", str(source), "--quiet", "--endpoint", fake.cluster.url)
    assert result.exit_code == 0
    assert "recovered" not in json.loads(result.stdout)
    assert fake.cluster.by_route["health"] == 0


def test_a_journaled_run_keeps_its_recovery_results(fake: ThreadedCluster, tmp_path: Path) -> None:  # noqa: F811
    """restart --from --journal --until recovered: recovery is journaled; resume reports it again, checks nothing."""
    plans = {}
    rows = []
    for i in range(5):
        op = uuid.uuid4()
        plans[op] = Script(duration=1, recovery=math.inf if i == 4 else 2.0 * i)
        rows.append(f"app~svc,{uuid.uuid4()},{op}\n")
    for op, script in plans.items():
        fake.do(fake.cluster.plan, op, script)
    source = tmp_path / "targets.csv"
    source.write_text("service_id,partition_id,operation_id\n" + "".join(rows))
    journal = tmp_path / "run.jsonl"
    url = fake.cluster.url
    first = cli("restart", "--from", str(source), "--journal", str(journal), "--until", "recovered",
                "--deadline", "40", "--quiet", "--endpoint", url)
    assert first.exit_code == 7, first.output
    outcomes = [line for line in lines_of(journal) if line.get("event") == "outcome"]
    assert sorted(line["recovered"] for line in outcomes) == [False, True, True, True, True]
    assert "not recovered 1" in first.stderr
    health_reads = fake.cluster.by_route["health"]
    again = cli("resume", str(journal), "--until", "recovered", "--quiet", "--endpoint", url)
    assert again.exit_code == 7
    assert sorted(json.loads(line)["recovered"] for line in again.stdout.splitlines()) == [False, True, True, True, True]
    assert fake.cluster.by_route["health"] == health_reads  # recorded recoveries are not checked again
    assert len(fake.cluster.operations) == 5  # and nothing was started twice


def test_node_transitions_until_recovered(fake: ThreadedCluster) -> None:  # noqa: F811
    """A node stop is recovered when the node is Down and stopped; a start when it is back up and healthy."""
    url = fake.cluster.url
    stop = cli("node-transition", "_Node_3", "stop", "--wait", "--until", "recovered", "--endpoint", url)
    assert stop.exit_code == 0, stop.output
    start = cli("node-transition", "_Node_3", "start", "--wait", "--until", "recovered", "--endpoint", url)
    assert start.exit_code == 0, start.output
    status = fake.do(fake.cluster.targets.node_state, "_Node_3")
    assert status[:2] == ("Up", False)
