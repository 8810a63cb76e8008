"""Service Fabric's own Chaos: status, start and stop, each confirmed (issue 33, item 1, in part)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from sf_progress import BadRequestError, ChaosParameters, ChaosStateError, ProgressClient
from sf_progress.sync import SyncProgressClient
from sf_progress.testing import FakeCluster

from .test_cli import ThreadedCluster, cli


@pytest.fixture
def fake() -> Iterator[ThreadedCluster]:
    threaded = ThreadedCluster()
    yield threaded
    threaded.close()


def test_parameters_are_checked_before_anything_is_sent() -> None:
    body = ChaosParameters(time_to_run=timedelta(hours=1), max_concurrent_faults=3,
                           include_applications=["fabric:/app"], context={"run": "game day"}).as_body()
    assert body["TimeToRunInSeconds"] == "3600"  # a string on the wire
    assert body["MaxConcurrentFaults"] == 3
    assert body["ChaosTargetFilter"] == {"NodeTypeInclusionList": [], "ApplicationInclusionList": ["fabric:/app"]}
    assert body["Context"] == {"Map": {"run": "game day"}}
    assert "ChaosTargetFilter" not in ChaosParameters().as_body()  # the whole cluster
    for bad in ({"time_to_run": 0}, {"time_to_run": -1}, {"max_concurrent_faults": -1},
                {"max_percent_unhealthy_nodes": 101}, {"include_node_types": [""]},
                {"time_to_run": float("nan")}, {"time_to_run": 2**33}):
        with pytest.raises(ValueError, match=r"must|at most|names"):
            ChaosParameters(**bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        ChaosParameters(enable_move_replica_faults="yes")  # type: ignore[arg-type]


async def test_start_and_stop_are_confirmed_by_reading_back(cluster: FakeCluster) -> None:
    async with ProgressClient(cluster.url) as client:
        assert not (await client.get_chaos()).running
        status = await client.start_chaos(ChaosParameters(time_to_run=600, max_concurrent_faults=2))
        assert status.running
        assert status.parameters["MaxConcurrentFaults"] == 2
        assert cluster.control.chaos_parameters["TimeToRunInSeconds"] == "600"
        with pytest.raises(BadRequestError) as caught:
            await client.start_chaos()
        assert caught.value.code == "FABRIC_E_CHAOS_ALREADY_RUNNING"
        assert not (await client.stop_chaos()).running
        assert not (await client.stop_chaos()).running  # a stopped Chaos: nothing to do, nothing wrong


async def test_a_start_or_stop_that_did_not_take_is_an_error(cluster: FakeCluster) -> None:
    """The scheduler's lock was busy: 200, and nothing done (health-and-chaos §8.1)."""
    cluster.control.chaos_lock_busy = 1
    async with ProgressClient(cluster.url) as client:
        with pytest.raises(ChaosStateError) as caught:
            await client.start_chaos()
        assert caught.value.wanted == "Running"
        assert caught.value.status.status == "Stopped"
        await client.start_chaos()  # the lock is free again
        cluster.control.chaos_lock_busy = 1
        with pytest.raises(ChaosStateError, match="did not take"):
            await client.stop_chaos()
    assert cluster.control.chaos_running


async def test_a_run_ends_when_its_time_is_up(cluster: FakeCluster) -> None:
    from sf_progress._config import sleep

    async with ProgressClient(cluster.url) as client:
        await client.start_chaos(ChaosParameters(time_to_run=30))
        await sleep(31)
        assert not (await client.get_chaos()).running


def test_the_commands(fake: ThreadedCluster, tmp_path: Path) -> None:
    status = cli("chaos", "status", "--endpoint", fake.url, "-o", "json")
    assert status.exit_code == 0, status.output
    assert json.loads(status.stdout) == {"Status": "Stopped", "ScheduleStatus": "Stopped"}
    params = tmp_path / "chaos.json"
    params.write_text(json.dumps({"TimeToRunInSeconds": "120", "MaxConcurrentFaults": 2,
                                  "ChaosTargetFilter": {"NodeTypeInclusionList": ["FrontEnd"]}}))
    started = cli("chaos", "start", "--endpoint", fake.url, "--parameters", str(params), "--max-concurrent-faults",
                  "3", "--include-application", "fabric:/app")
    assert started.exit_code == 0, started.output
    sent = fake.call(lambda: dict(fake.cluster.control.chaos_parameters))
    assert sent["TimeToRunInSeconds"] == "120"
    assert sent["MaxConcurrentFaults"] == 3  # the option wins over the file
    assert sent["ChaosTargetFilter"] == {"NodeTypeInclusionList": ["FrontEnd"], "ApplicationInclusionList": [
        "fabric:/app"]}
    again = cli("chaos", "start", "--endpoint", fake.url)
    assert again.exit_code == 1
    assert "FABRIC_E_CHAOS_ALREADY_RUNNING" in again.output
    stopped = cli("chaos", "stop", "--endpoint", fake.url)
    assert stopped.exit_code == 0
    assert "Chaos stopped" in stopped.output
    bad = cli("chaos", "start", "--endpoint", fake.url, "--parameters", str(tmp_path / "none.json"))
    assert bad.exit_code == 2


def test_the_blocking_client_runs_chaos_too(fake: ThreadedCluster) -> None:
    with SyncProgressClient(fake.url) as client:
        assert client.start_chaos().running
        assert not client.stop_chaos().running
