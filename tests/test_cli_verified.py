"""The command line's start command of each verified kind, end to end against a FakeCluster."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from .test_cli import ThreadedCluster, cli
from .test_cli_hardening import fake  # noqa: F401 - the fixture

SVC, WEB = "fabric:/app/svc", "fabric:/app/web"
P, W = str(uuid.UUID(int=7)), str(uuid.UUID(int=8))

ARGS = {
    "restart-replica": [SVC, P],
    "remove-replica": [SVC, P, "--replica", "secondary", "--force"],
    "restart-code-package": [SVC, P],
    "move-primary": [SVC, P, "--to-node", "_Node_1"],
    "move-secondary": [SVC, P],
    "move-instance": [WEB, W],
    "restart-node": ["_Node_4"],
}


def declare(fake: ThreadedCluster) -> None:  # noqa: F811
    fake.call(fake.cluster.add_service, SVC, [P])
    fake.call(fake.cluster.add_service, WEB, [W], stateful=False)
    fake.do(setattr, fake.cluster.replicas, "instance_count", 3)  # room to move an instance


@pytest.mark.parametrize("name", list(ARGS))
def test_each_kind_starts_waits_and_says_what_was_seen(fake: ThreadedCluster, name: str) -> None:  # noqa: F811
    declare(fake)
    url = fake.cluster.url
    result = cli(name, *ARGS[name], "--wait", "--until", "recovered", "-o", "json", "--endpoint", url)
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    body = lines[-1]
    assert body["state"] == "Completed"
    assert body["verification"]["error_code"] == 0
    assert body["verification"]["signal"]
    assert fake.cluster.by_route["fault"] == 1


def test_the_started_line_carries_the_baseline_and_watch_reads_it_back(
    fake: ThreadedCluster, tmp_path: Path  # noqa: F811
) -> None:
    declare(fake)
    url = fake.cluster.url
    started = cli("move-secondary", SVC, P, "-o", "json", "--endpoint", url)
    assert started.exit_code == 0, started.output
    record = json.loads(started.stdout)
    assert record["type"] == "move-secondary"
    assert record["baseline"]["to_node"] != record["baseline"]["node_name"]
    path = tmp_path / "refs.jsonl"
    path.write_text(started.stdout, encoding="utf-8")
    watched = cli("watch", "--from", str(path), "--endpoint", url)
    assert watched.exit_code == 0, watched.output
    assert '"state": "Completed"' in watched.stdout


def test_a_refusal_before_sending_is_one_line_and_sends_nothing(fake: ThreadedCluster) -> None:  # noqa: F811
    declare(fake)
    fake.call(fake.cluster.add_service, "fabric:/app/cache", [str(uuid.UUID(int=9))], persisted=False)
    result = cli("restart-replica", "fabric:/app/cache", str(uuid.UUID(int=9)), "--endpoint", fake.cluster.url)
    assert result.exit_code == 1
    assert "cannot be restarted; remove it instead" in " ".join(result.output.split())  # (as wrapped)
    assert "Traceback" not in result.output
    assert fake.cluster.by_route["fault"] == 0


def test_a_file_of_verified_faults_runs_as_one_journaled_campaign(
    fake: ThreadedCluster, tmp_path: Path  # noqa: F811
) -> None:
    partitions = [str(uuid.uuid4()) for _ in range(4)]
    fake.call(fake.cluster.add_service, SVC, partitions)
    plan = tmp_path / "plan.csv"
    plan.write_text("service_id,partition_id,replica\n" + "".join(f"{SVC},{p},secondary\n" for p in partitions))
    journal = tmp_path / "run.jsonl"
    result = cli("remove-replica", "--from", str(plan), "--journal", str(journal), "--endpoint", fake.cluster.url)
    assert result.exit_code == 0, result.output
    finished = [json.loads(line) for line in result.stdout.splitlines() if '"finished"' in line]
    assert len(finished) == 4
    assert all(line["state"] == "Completed" for line in finished)
    assert fake.cluster.by_route["fault"] == 4
    report = cli("report", str(journal), "-o", "json", "--to", "-")
    assert report.exit_code == 0, report.output
    assert "remove-replica" in report.stdout
    body = json.loads(report.stdout)
    assert all("gone; replica" in target["signal"] for target in body["targets"]), body["targets"]
    assert cli("resume", str(journal), "--endpoint", fake.cluster.url).exit_code == 0
    assert fake.cluster.by_route["fault"] == 4  # a finished run sends nothing again
