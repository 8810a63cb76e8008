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


async def _run_chaos(cluster: FakeCluster, client: ProgressClient, **more: object) -> None:
    cluster.control.chaos.validation_failures = {1}
    await client.start_chaos(ChaosParameters(time_to_run=20, wait_time_between_iterations=5, max_concurrent_faults=2,
                                              **more))  # type: ignore[arg-type]


@pytest.mark.parametrize("page", [500, 2])
async def test_a_whole_run_followed_once_each_across_pages_and_colliding_times(cluster: FakeCluster, page: int) -> None:
    """Started, four iterations (faults and a wait in one millisecond each; one validation failure), Stopped."""
    async with ProgressClient(cluster.url) as client:
        await _run_chaos(cluster, client)
        events = [event async for event in client.chaos_events(page=page)]
    kinds = [event.kind.value for event in events]
    assert kinds == ["Started", *["ExecutingFaults", "Waiting"] * 2, "ValidationFailed",
                     *["ExecutingFaults", "Waiting"] * 2, "Stopped"]
    assert len({event.key for event in events}) == len(events)  # each once
    assert events[1].time_text == events[2].time_text  # two events, one millisecond
    assert [e.time for e in events] == sorted(e.time for e in events)
    assert events[0].parameters["MaxConcurrentFaults"] == 2
    assert all(len(e.faults) == 2 for e in events if e.kind.value == "ExecutingFaults")
    problem = next(e for e in events if e.is_problem)
    assert "quorum loss" in (problem.reason or "")
    assert "TimeToRun" in (events[-1].reason or "")
    reads = [path for method, path in cluster.seen if "/Tools/Chaos/Events" in path]
    assert "StartTimeUtc=" in reads[0]  # never the silently empty first call
    assert "EndTimeUtc=" in reads[0]
    assert len(reads) <= 22 + len(events) // page + 2  # at most one a second while following (20 s), plus pages
    if page == 2:
        assert any("ContinuationToken=" in path and "StartTimeUtc" not in path for path in reads)


async def test_from_a_time(cluster: FakeCluster) -> None:
    """``since``: the events from that time on (inclusive), and a second run's Started is the current run."""
    async with ProgressClient(cluster.url) as client:
        await _run_chaos(cluster, client)
        everything = [e async for e in client.chaos_events()]
        later = [e async for e in client.chaos_events(since=everything[5].time)]
        assert later == everything[5:]
        await client.start_chaos(ChaosParameters(time_to_run=3, wait_time_between_iterations=1))
        second = [e async for e in client.chaos_events()]
    assert second[0].kind.value == "Started"
    assert second[0].time > everything[-1].time  # the current run, not the first
    assert second[-1].kind.value == "Stopped"


def test_every_fault_text_shape_is_typed_and_odd_text_kept() -> None:
    from sf_progress._chaos_events import parse_fault
    from sf_progress.testing._chaos import FAULT_TEXTS

    texts = [t.format(pid="p1", rid="42", n=1, m=2) for t in FAULT_TEXTS]
    faults = [parse_fault(t) for t in texts]
    assert [f.action for f in faults] == ["RestartReplica", "RemoveReplica", "RestartNode",
                                          "RestartDeployedCodePackage", "MovePrimary", "MoveSecondary"]
    assert (faults[0].service, faults[0].partition_id, faults[0].replica_id) == ("fabric:/app/svc", "p1", "42")
    assert faults[2].node == "_Node_1"
    assert faults[3].code_package == "Code"
    assert faults[4].moved_to == "_Node_1"
    assert (faults[5].moved_from, faults[5].moved_to) == ("_Node_1", "_Node_2")
    odd = parse_fault("something the runtime never said, with: odd punctuation:: here")
    assert odd.action is None
    assert odd.raw.startswith("something the runtime")


async def test_the_events_call_is_faithful_to_the_protocol(cluster: FakeCluster) -> None:
    import aiohttp

    async with aiohttp.ClientSession() as session:
        base = f"{cluster.url}/Tools/Chaos/Events?api-version=6.2"
        async with session.get(base) as response:  # neither a token nor a range: silently empty
            assert await response.json() == {"ContinuationToken": "", "History": []}
        async with session.get(base + "&ContinuationToken=x1-2&StartTimeUtc=0&EndTimeUtc=1") as response:
            assert response.status == 400


def test_the_blocking_client_lists_a_run(fake: ThreadedCluster) -> None:
    fake.call(lambda: fake.cluster.control.chaos.validation_failures.add(0))
    with SyncProgressClient(fake.url) as client:
        client.start_chaos(ChaosParameters(time_to_run=1, wait_time_between_iterations=1))
        events = client.chaos_events()
        with pytest.raises(ValueError, match="cannot follow forever"):
            client.chaos_events(until="never")
        so_far = client.chaos_events(until="now")
    assert so_far == events
    assert events[0].kind.value == "Started"
    assert events[-1].kind.value == "Stopped"


def test_watch_follows_a_run_and_gives_a_verdict(fake: ThreadedCluster) -> None:
    """``chaos watch --from-start``: a line per event, a summary, exit 9 after a ValidationFailed (0 without)."""
    def start(failures: set[int]) -> None:
        fake.call(setattr, fake.cluster.control.chaos, "validation_failures", failures)
        assert cli("chaos", "start", "--endpoint", fake.url, "--time-to-run", "3", "--wait-between-iterations",
                   "1").exit_code == 0

    start({1})
    watched = cli("chaos", "watch", "--from-start", "--endpoint", fake.url, "-o", "json")
    assert watched.exit_code == 9, watched.output
    lines = [json.loads(line) for line in watched.stdout.splitlines()]
    assert lines[0]["kind"] == "Started"
    assert lines[-2]["kind"] == "Stopped"
    verdict = lines[-1]
    assert verdict["verdict"] == "validation failed"
    assert verdict["problems"][0]["kind"] == "ValidationFailed"
    executing = [line for line in lines if line.get("kind") == "ExecutingFaults"]
    assert executing
    assert all(fault["action"] for line in executing for fault in line["faults"])
    assert sum(verdict["faults"].values()) == sum(len(line["faults"]) for line in executing)
    start(set())
    human = cli("chaos", "watch", "--from-start", "--endpoint", fake.url)
    assert human.exit_code == 0, human.output
    assert "verdict: passed" in human.output
    assert "iteration 1: " in human.output
    assert "faults: " in human.output


async def test_the_schedule_with_its_version_rule(cluster: FakeCluster) -> None:
    from sf_progress import ChaosSchedule, ChaosScheduleJob

    weekdays = ChaosSchedule(
        parameters={"gentle": ChaosParameters(max_concurrent_faults=1, time_to_run=3600)},
        jobs=(ChaosScheduleJob(parameters="gentle", days={"Monday", "Friday"}, times=[("09:00", "17:30")]),),
    )
    async with ProgressClient(cluster.url) as client:
        assert (await client.get_chaos_schedule()).version == 0
        stored = await client.set_chaos_schedule(weekdays)  # the current version read first
        assert stored.version == 1
        assert stored.jobs == weekdays.jobs
        assert stored.parameters["gentle"] == weekdays.parameters["gentle"]
        with pytest.raises(BadRequestError, match="version mismatch"):
            await client.set_chaos_schedule(weekdays, version=0)  # stale
        await client.start_chaos()
        with pytest.raises(BadRequestError) as caught:
            await client.set_chaos_schedule(weekdays)
        assert caught.value.code == "FABRIC_E_CHAOS_ALREADY_RUNNING"
    with pytest.raises(ValueError, match="lacks"):
        ChaosSchedule(jobs=(ChaosScheduleJob(parameters="missing", days={"Monday"}, times=[]),))
    with pytest.raises(ValueError, match="HH:MM"):
        ChaosScheduleJob(parameters="x", days={"Monday"}, times=[("9", "17:00")])
    with pytest.raises(ValueError, match="days must be"):
        ChaosScheduleJob(parameters="x", days={"Funday"}, times=[])


def test_the_schedule_commands(fake: ThreadedCluster, tmp_path: Path) -> None:
    got = cli("chaos", "schedule", "get", "--endpoint", fake.url)
    assert got.exit_code == 0, got.output
    body = json.loads(got.stdout)
    assert body["Version"] == 0
    body["Schedule"]["ChaosParametersDictionary"] = [{"Key": "k", "Value": {"MaxConcurrentFaults": 2}}]
    body["Schedule"]["Jobs"] = [{"ChaosParameters": "k", "Days": {"Sunday": True},
                                 "Times": [{"StartTime": {"Hour": 1, "Minute": 0}, "EndTime": {"Hour": 2, "Minute": 0}}]}]
    path = tmp_path / "schedule.json"
    path.write_text(json.dumps(body))
    done = cli("chaos", "schedule", "set", str(path), "--endpoint", fake.url)
    assert done.exit_code == 0, done.output
    assert "version 1, 1 job(s)" in done.output
    stored = fake.call(lambda: dict(fake.cluster.control.chaos_schedule))
    assert stored["Version"] == 1
    assert stored["Schedule"]["Jobs"][0]["Days"]["Sunday"] is True
    path.write_text("{not json")
    assert cli("chaos", "schedule", "set", str(path), "--endpoint", fake.url).exit_code == 2


def test_a_chaos_run_kept_in_a_journal_is_reported(fake: ThreadedCluster, tmp_path: Path) -> None:
    """``chaos watch --journal``, then ``report`` in every format; the page renders in headless Chromium."""
    import xml.etree.ElementTree as ET

    from .test_report import CHROMEDRIVER, CHROMIUM, _render_in_chromium
    from .test_report_verdicts import XSD

    fake.call(setattr, fake.cluster.control.chaos, "validation_failures", {1})
    assert cli("chaos", "start", "--endpoint", fake.url, "--time-to-run", "4", "--wait-between-iterations",
               "1", "--max-concurrent-faults", "2").exit_code == 0
    journal = tmp_path / "chaos.jsonl"
    watched = cli("chaos", "watch", "--from-start", "--journal", str(journal), "--endpoint", fake.url)
    assert watched.exit_code == 9, watched.output
    assert cli("chaos", "watch", "--journal", str(journal), "--endpoint", fake.url).exit_code == 2  # never over
    verdict = cli("report", str(journal), "-o", "verdict", "--to", "-")
    assert verdict.exit_code == 0, verdict.output
    data = json.loads(verdict.stdout)
    assert (data["outcome"], data["conclusive"]) == ("validation failed", True)
    assert data["counts"]["problems"] == 1
    md = cli("report", str(journal), "-o", "md", "--to", "-").stdout
    assert "quorum loss" in md
    assert md.startswith("## sf-progress Chaos run: validation failed")
    junit = cli("report", str(journal), "-o", "junit", "--to", "-").stdout
    ET.fromstring(junit)
    if XSD.is_file():  # (.ci/run fetches Jenkins' schema; the campaign's JUnit test says so when it is missing)
        import xmlschema

        xmlschema.XMLSchema(str(XSD)).validate(junit)
    assert junit.count("<testcase") == data["counts"]["iterations"]
    assert junit.count("<failure") == 1
    assert cli("report", str(journal), "-o", "html").exit_code == 0
    page = tmp_path / "chaos.html"
    assert "faults by iteration" in page.read_text()
    if CHROMIUM and CHROMEDRIVER:
        _render_in_chromium(page)
