"""The intended cluster: ``cluster=`` / ``--cluster`` / ``SF_CLUSTER`` / ``sf_cluster`` (issue 31, item 3)."""

from __future__ import annotations

import csv
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from sf_progress import ClusterMismatchError, FaultRun, FaultTarget, JournalError, ProgressClient, read_journal
from sf_progress.testing import FakeCluster

from .test_cli import ThreadedCluster, cli

SVC = "fabric:/app/svc"


@pytest.fixture
def fake() -> Iterator[ThreadedCluster]:
    threaded = ThreadedCluster()
    yield threaded
    threaded.close()


async def test_the_cluster_is_checked_once_before_the_first_start(cluster: FakeCluster) -> None:
    async with ProgressClient(cluster.url, cluster="DevCluster", allow="all") as client:  # (rules: their own reads)
        assert await client.get_cluster_name() == "DevCluster"
        for _ in range(3):
            await client.start(FaultTarget.restart(SVC, uuid.uuid4()))
    assert cluster.by_route["control"] == 3  # the read above, one check before the first start, the lever
    assert cluster.by_route["start"] == 3


async def test_another_cluster_is_refused_with_nothing_sent(cluster: FakeCluster) -> None:
    async with ProgressClient(cluster.url, cluster="Production") as client:
        with pytest.raises(ClusterMismatchError) as caught:
            await client.start(FaultTarget.restart(SVC, uuid.uuid4()))
    assert (caught.value.expected, caught.value.actual) == ("Production", "DevCluster")
    assert "serves cluster 'DevCluster', not 'Production'" in str(caught.value)
    assert cluster.by_route["start"] == 0
    with pytest.raises(ValueError, match="cluster must be"):
        ProgressClient(cluster.url, cluster="  ")


def test_the_command_line_refuses_another_cluster_with_exit_8(fake: ThreadedCluster, tmp_path: Path) -> None:
    pid = str(uuid.uuid4())
    refused = cli("restart", SVC, pid, "--endpoint", fake.url, "--cluster", "Production")
    assert refused.exit_code == 8, refused.output
    assert "refused:" in refused.output
    by_env = cli("restart", SVC, pid, "--endpoint", fake.url, env={"SF_CLUSTER": "Production"})
    assert by_env.exit_code == 8
    assert fake.cluster.by_route["start"] == 0
    assert cli("restart", SVC, pid, "--endpoint", fake.url, "--cluster", "DevCluster").exit_code == 0
    assert fake.cluster.by_route["start"] == 1


async def test_a_journal_keeps_its_cluster_and_resumes_only_against_it(tmp_path: Path, cluster: FakeCluster) -> None:
    path = tmp_path / "run.jsonl"
    async with (
        ProgressClient(cluster.url, cluster="DevCluster") as client,
        await FaultRun.create(path, client, [FaultTarget.restart(SVC, uuid.uuid4())]),
    ):
        pass
    assert read_journal(path).cluster == "DevCluster"
    cluster.control.cluster_name = "Production"  # the endpoint now answers for another cluster
    async with ProgressClient(cluster.url) as client:
        with pytest.raises(JournalError, match="ran against cluster 'DevCluster'"):
            await FaultRun.resume(path, client)
    async with ProgressClient(cluster.url, cluster="Staging") as client:
        with pytest.raises(JournalError, match="this client is for cluster 'Staging'"):
            await FaultRun.resume(path, client)
    assert cluster.by_route["start"] == 0
    cluster.control.cluster_name = "DevCluster"
    async with ProgressClient(cluster.url) as client, await FaultRun.resume(path, client) as run:
        await run.start_pending()
    assert cluster.by_route["start"] == 1


def test_resume_on_the_command_line_refuses_another_cluster(fake: ThreadedCluster, tmp_path: Path) -> None:
    source = tmp_path / "targets.csv"
    with open(source, "w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["service_id", "partition_id"])
        writer.writerow([SVC, str(uuid.uuid4())])
    journal = tmp_path / "run.jsonl"
    created = cli("restart", "--from", str(source), "--journal", str(journal), "--endpoint", fake.url,
                  "--cluster", "DevCluster", "--quiet")
    assert created.exit_code == 0, created.output
    fake.call(setattr, fake.cluster.control, "cluster_name", "Production")
    resumed = cli("resume", str(journal), "--endpoint", fake.url)
    assert resumed.exit_code == 2, resumed.output
    assert "ran against cluster 'DevCluster'" in " ".join(resumed.output.split())


def test_the_chaos_toolkit_configuration_names_the_cluster(fake: ThreadedCluster) -> None:
    from chaoslib.exceptions import ActivityFailed

    from sf_progress.chaostoolkit.actions import restart_partition

    configuration = {"sf_endpoint": fake.url, "sf_cluster": "Production"}
    with pytest.raises(ActivityFailed, match="serves cluster 'DevCluster', not 'Production'"):
        restart_partition(SVC, str(uuid.uuid4()), configuration=configuration)
    assert fake.cluster.by_route["start"] == 0
