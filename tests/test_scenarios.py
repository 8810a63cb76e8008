"""Failover scenarios (issue 32) over the real loopback FakeCluster: fault, validate the whole service, wait."""

from __future__ import annotations

import asyncio
import json
import shutil
import uuid
from pathlib import Path
from typing import Any

import pytest

from sf_progress import (
    FaultStep,
    ProgressClient,
    Scenario,
    ScenarioEvent,
    ScenarioEventKind,
    ScenarioRun,
    ScenarioVerdict,
    StopReason,
    read_journal,
)
from sf_progress.testing import FakeCluster, Script

from .test_cli import ThreadedCluster, cli
from .test_cli_hardening import fake  # noqa: F401 - the fixture

_BROWSER = bool(shutil.which("chromium") or shutil.which("chromium-browser")) and bool(shutil.which("chromedriver"))
SVC = "fabric:/shop/cart"
PIDS = [uuid.UUID(int=0x100 + i) for i in range(4)]
WEB = "fabric:/shop/web"
WEB_PIDS = [uuid.UUID(int=0x200 + i) for i in range(2)]


@pytest.fixture(autouse=True)
def services(cluster: FakeCluster) -> None:
    cluster.add_service(SVC, PIDS)
    cluster.add_service(WEB, WEB_PIDS, stateful=False)
    cluster.replicas.instance_count = 3  # stateless partitions: 3 instances, so one can move


async def run_all(client: ProgressClient, scenario: Scenario | dict[str, Any], **kwargs: Any) -> list[ScenarioEvent]:
    async with await ScenarioRun.create(client, scenario, **kwargs) as run:
        return [event async for event in run.events()]


def kinds(events: list[ScenarioEvent]) -> list[str]:
    return [event.kind.value for event in events]


async def test_every_default_step_passes_on_a_persisted_stateful_service(
    client: ProgressClient, cluster: FakeCluster
) -> None:
    events = await run_all(client, Scenario(service=SVC, rounds=1, wait_between=2, seed=1))
    faults = [e.fault for e in events if e.kind is ScenarioEventKind.FAULT_STARTED]
    assert faults == [
        "restart-replica (replica=primary)", "restart-replica (replica=secondary)",
        "remove-replica (replica=primary)", "remove-replica (replica=secondary)",
        "restart-code-package (replica=primary)", "restart-code-package (replica=secondary)",
        "restart", "move-primary", "move-secondary",
    ]
    assert all(e.ok for e in events if e.kind is ScenarioEventKind.FAULT_ENDED)
    passed = [e for e in events if e.kind is ScenarioEventKind.VALIDATION_PASSED]
    assert len(passed) == 10  # before the first fault, and after each
    last = events[-1]
    assert last.kind is ScenarioEventKind.STOPPED
    assert last.verdict is ScenarioVerdict.PASSED
    assert last.reason is StopReason.ROUNDS_DONE
    assert last.progress == 1.0
    assert kinds(events).count("waiting") == 8
    assert cluster.by_route["fault"] + cluster.by_route["start"] == 9  # each fault sent once


async def test_a_stateless_service_gets_its_own_list(client: ProgressClient) -> None:
    events = await run_all(client, {"service": WEB, "rounds": 1, "wait_between": 0, "partitions": "all",
                                    "seed": 5})
    faults = [e.fault for e in events if e.kind is ScenarioEventKind.FAULT_STARTED]
    assert faults == ["remove-replica", "restart-code-package", "restart", "move-instance"]
    assert events[-1].verdict is ScenarioVerdict.PASSED
    assert {e.partition for e in events if e.partition} <= {str(p) for p in WEB_PIDS}


async def test_a_partition_left_unhealthy_fails_the_validation_with_its_evidence(
    client: ProgressClient, cluster: FakeCluster, tmp_path: Path
) -> None:
    cluster.default_script = Script(duration=1, recovery=float("inf"))  # the restart's partition never heals
    path = tmp_path / "run.jsonl"
    events = await run_all(client, Scenario(service=SVC, faults=("restart",), rounds=3, stabilization_timeout=30,
                                            seed=2), journal=path)
    failed = [e for e in events if e.kind is ScenarioEventKind.VALIDATION_FAILED]
    assert len(failed) == 1
    assert failed[0].seconds is not None
    assert failed[0].seconds >= 30
    assert any("is InBuild" in line for line in failed[0].evidence)
    assert any("partitions are unhealthy" in line for line in failed[0].evidence)  # the cluster's words
    last = events[-1]
    assert (last.verdict, last.reason) == (ScenarioVerdict.FAILED, StopReason.VALIDATION_FAILED)
    assert last.evidence == failed[0].evidence
    assert kinds(events).count("fault_started") == 1  # stopped at the first failed validation
    records = read_journal(path).scenario
    assert [r["what"] for r in records] == ["definition", "validation", "step", "fault", "validation", "stopped"]
    assert records[-1]["verdict"] == "failed"


async def test_fault_errors_are_tolerated_up_to_the_limit(client: ProgressClient, cluster: FakeCluster) -> None:
    for pid in PIDS:
        cluster.replicas.never.add(str(pid))  # the removals never take effect: each wait times out
    events = await run_all(client, Scenario(service=SVC, faults=("remove-replica",), rounds=10, max_fault_errors=2,
                                            fault_deadline=20, wait_between=1, seed=3))
    ended = [e for e in events if e.kind is ScenarioEventKind.FAULT_ENDED]
    assert [e.ok for e in ended] == [False, False, False]  # two tolerated, the third stops the run
    assert (events[-1].verdict, events[-1].reason) == (ScenarioVerdict.ABORTED, StopReason.FAULT_ERRORS)
    assert events[-1].verdict.exit_code == 8


async def test_a_time_budget_is_honoured(client: ProgressClient) -> None:
    began = client.clock.monotonic()
    events = await run_all(client, Scenario(service=SVC, faults=("restart", "move-primary"), duration=60,
                                            wait_between=10, seed=4))
    assert (events[-1].verdict, events[-1].reason) == (ScenarioVerdict.PASSED, StopReason.BUDGET_SPENT)
    started = [e for e in events if e.kind is ScenarioEventKind.FAULT_STARTED]
    assert 2 < len(started) < 10
    assert [e.fault for e in started[:4]] == ["restart", "move-primary", "restart", "move-primary"]  # in turn
    assert all(e.at - events[0].at < 60 for e in started)  # no fault started once the budget was spent
    assert client.clock.monotonic() - began < 60 + 60  # the last fault and its validation, no more


async def test_killed_mid_validation_and_resumed_repeats_no_fault(
    client: ProgressClient, cluster: FakeCluster, tmp_path: Path
) -> None:
    path = tmp_path / "run.jsonl"
    seen: list[ScenarioEvent] = []
    run = await ScenarioRun.create(client, Scenario(service=SVC, faults=("remove-replica", "restart"), rounds=2,
                                                    wait_between=1, seed=6), journal=path)
    async for event in run.events():
        seen.append(event)
        if event.kind is ScenarioEventKind.FAULT_ENDED and event.step == 1:
            break  # "killed" before step 1's validation
    run.close()
    sent = cluster.by_route["fault"] + cluster.by_route["start"]
    assert sent == 2
    async with await ScenarioRun.resume(client, path) as resumed:
        rest = [event async for event in resumed.events()]
    assert rest[0].kind is ScenarioEventKind.STARTED
    assert "resumed at step 2" in rest[0].detail
    assert (rest[1].kind, rest[1].step) == (ScenarioEventKind.VALIDATION_PASSED, 1)  # the interrupted one, redone
    started = [e.step for e in rest if e.kind is ScenarioEventKind.FAULT_STARTED]
    assert started == [2, 3]
    assert cluster.by_route["fault"] + cluster.by_route["start"] == 4  # no fault sent twice
    assert rest[-1].verdict is ScenarioVerdict.PASSED
    async with await ScenarioRun.resume(client, path) as again:  # a finished run: its end, nothing sent
        assert kinds([e async for e in again.events()]) == ["stopped"]


async def test_killed_with_a_fault_under_way_waits_for_it(
    client: ProgressClient, cluster: FakeCluster, tmp_path: Path
) -> None:
    path = tmp_path / "run.jsonl"
    cluster.default_script = Script(duration=20)
    run = await ScenarioRun.create(client, Scenario(service=SVC, faults=("restart",), rounds=2, wait_between=0,
                                                    seed=7), journal=path)
    async for event in run.events():
        if event.kind is ScenarioEventKind.FAULT_STARTED:
            await run.run.start_pending()  # (sent by the next step of the loop; stop right after it)
            break
    run.close()
    async with await ScenarioRun.resume(client, path) as resumed:
        rest = [event async for event in resumed.events()]
    assert [e.kind.value for e in rest][:3] == ["started", "fault_ended", "validation_passed"]
    assert cluster.by_route["start"] == 2
    assert rest[-1].verdict is ScenarioVerdict.PASSED


async def test_the_lever_stops_the_scenario(client: ProgressClient, cluster: FakeCluster) -> None:
    async def engage_after_first(event: ScenarioEvent) -> None:
        if event.kind is ScenarioEventKind.VALIDATION_PASSED and event.step == 0:
            async with ProgressClient(cluster.url) as other:
                await other.engage_lever("game day over")

    events = []
    async with await ScenarioRun.create(client, Scenario(service=SVC, faults=("restart",), rounds=5,
                                                         wait_between=3, seed=8)) as run:  # (> a tick)
        async for event in run.events():
            events.append(event)
            await engage_after_first(event)
    assert (events[-1].verdict, events[-1].reason) == (ScenarioVerdict.ABORTED, StopReason.LEVER)
    assert cluster.by_route["start"] == 1


async def test_a_closed_safety_rule_holds_the_loop(client: ProgressClient, cluster: FakeCluster) -> None:
    started_at: list[float] = []
    async with await ScenarioRun.create(client, Scenario(service=SVC, faults=("restart",), rounds=2,
                                                         wait_between=3, seed=9)) as run:  # (> a tick)
        async for event in run.events():
            if event.kind is ScenarioEventKind.FAULT_ENDED and event.step == 0:
                cluster.control.upgrade("RollingForwardInProgress", until=40)
                began = cluster.clock()
            if event.kind is ScenarioEventKind.FAULT_ENDED and event.step == 1:
                started_at.append(cluster.clock())
    assert started_at[0] - began >= 40  # the second fault waited for the upgrade's end
    assert run.result is not None
    assert run.result.verdict is ScenarioVerdict.PASSED


async def test_a_plan_sends_nothing(client: ProgressClient, cluster: FakeCluster) -> None:
    async with await ScenarioRun.create(client, Scenario(service=SVC, rounds=2, seed=10)) as run:
        planned = await run.plan()
    assert [p.target.kind.short_name for p in planned] == [
        "restart-replica", "restart-replica", "remove-replica", "remove-replica", "restart-code-package",
        "restart-code-package", "restart", "move-primary", "move-secondary"]
    assert all(p.allowed for p in planned)
    assert cluster.by_route["fault"] + cluster.by_route["start"] == 0


async def test_validate_service_alone(client: ProgressClient, cluster: FakeCluster) -> None:
    found = await client.validate_service(SVC, timeout=10)
    assert found.stable
    assert found.looks == 1
    before = cluster.requests
    await client.validate_service(SVC, partitions=[PIDS[0]], timeout=10)
    assert cluster.requests - before == 3  # the replicas, the list, the health
    with pytest.raises(ValueError, match="timeout"):
        await client.validate_service(SVC, timeout=0)


def test_scenario_files_are_checked(tmp_path: Path) -> None:
    good = tmp_path / "s.yaml"
    good.write_text("service: fabric:/shop/cart\nfaults: [restart, {fault: restart-replica, replica: secondary}]\n"
                    "rounds: 2\nseed: 7\n")
    scenario = Scenario.load(good)
    assert scenario.faults == (FaultStep("restart"), FaultStep("restart-replica", {"replica": "secondary"}))
    for text, words in [
        ("service: x\nround: 2\n", "unknown scenario key(s) 'round'"),
        ("rounds: 2\n", "needs its service"),
        ("service: x\nfaults: [restart-node]\n", "not a partition fault"),
        ("service: x\nfaults: [{fault: restart-replica, replica: third}]\n", "replica must be"),
        ("service: x\npartitions: none\n", "partitions must be"),
        ("service: x\nwait_between: -1\n", "wait_between must be"),
        ("service: [x\n", "not valid YAML"),
    ]:
        bad = tmp_path / "bad.yaml"
        bad.write_text(text)
        with pytest.raises(ValueError, match=words.replace("(", r"\(").replace(")", r"\)")):
            Scenario.load(bad)
    schema = Scenario.json_schema()
    assert schema["required"] == ["service"]
    assert set(schema["properties"]) == set(Scenario.from_dict({"service": "x"}).as_dict())


def test_the_command_line_runs_plans_and_fails_with_9(fake: ThreadedCluster, tmp_path: Path) -> None:  # noqa: F811
    fake.call(fake.cluster.add_service, SVC, PIDS)
    url = fake.cluster.url
    plan = tmp_path / "s.json"
    plan.write_text(json.dumps({"service": SVC, "faults": ["restart", "move-primary"], "rounds": 1,
                                "wait_between": 0, "seed": 1}))
    result = cli("scenario", "run", str(plan), "--plan", "--endpoint", url)
    assert result.exit_code == 0, result.output
    assert "restart" in result.output
    assert fake.cluster.by_route["start"] + fake.cluster.by_route["fault"] == 0
    journal = tmp_path / "run.jsonl"
    result = cli("scenario", "run", str(plan), "-o", "json", "--journal", str(journal), "--endpoint", url)
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert lines[-1]["event"] == "stopped"
    assert lines[-1]["verdict"] == "passed"
    report = cli("report", str(journal), "-o", "md", "--to", "-")
    assert report.exit_code == 0, report.output
    fake.do(setattr, fake.cluster, "default_script", Script(duration=1, recovery=float("inf")))
    plan.write_text(json.dumps({"service": SVC, "faults": ["restart"], "rounds": 1, "stabilization_timeout": 5,
                                "seed": 1}))
    result = cli("scenario", "run", str(plan), "--endpoint", url)
    assert result.exit_code == 9, result.output
    assert "NOT STABLE" in result.output
    assert "is InBuild" in result.output
    assert cli("scenario", "schema").exit_code == 0
    bad = cli("scenario", "run", str(tmp_path / "missing.yaml"), "--endpoint", url)
    assert bad.exit_code == 2
    assert "cannot be read" in bad.output


def test_the_blocking_form(fake: ThreadedCluster) -> None:  # noqa: F811
    from sf_progress.sync import SyncProgressClient

    fake.call(fake.cluster.add_service, SVC, PIDS)
    seen: list[str] = []
    with SyncProgressClient(fake.cluster.url, allow=("domains", "seed-quorum")) as client:
        events = client.run_scenario({"service": SVC, "faults": ["restart"], "rounds": 2, "wait_between": 0},
                                     on_event=lambda e: seen.append(e.kind.value))
    assert events[-1].verdict is ScenarioVerdict.PASSED
    assert seen == kinds(events)
    with pytest.raises(ValueError, match="give a scenario"):
        SyncProgressClient(fake.cluster.url).run_scenario(None)


async def test_asyncio_cancellation_leaves_a_resumable_journal(
    client: ProgressClient, cluster: FakeCluster, tmp_path: Path
) -> None:
    path = tmp_path / "run.jsonl"
    cluster.default_script = Script(duration=30)

    async def go() -> None:
        await run_all(client, Scenario(service=SVC, faults=("restart",), rounds=2, wait_between=0, seed=11),
                      journal=path)

    task = asyncio.ensure_future(go())
    while cluster.by_route["start"] == 0:
        await client.clock.sleep(0.5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    async with await ScenarioRun.resume(client, path) as resumed:
        rest = [event async for event in resumed.events()]
    assert rest[-1].verdict is ScenarioVerdict.PASSED
    assert cluster.by_route["start"] == 2


async def test_the_report_draws_a_scenario(client: ProgressClient, cluster: FakeCluster, tmp_path: Path) -> None:
    import xml.etree.ElementTree as ET

    from sf_progress.report import build_report, render, verdict

    path = tmp_path / "run.jsonl"
    await run_all(client, Scenario(service=SVC, faults=("move-primary", "restart"), rounds=2, wait_between=1,
                                   seed=12), journal=path)
    cluster.default_script = Script(duration=1, recovery=float("inf"))
    failing = tmp_path / "failing.jsonl"
    await run_all(client, Scenario(service=SVC, faults=("restart",), rounds=2, stabilization_timeout=10, seed=13),
                  journal=failing)
    good, bad = build_report(path), build_report(failing)
    assert good.scenario is not None
    assert bad.scenario is not None
    assert (good.scenario.verdict, bad.scenario.verdict) == ("passed", "failed")
    assert set(good.scenario.time_to_stable) == {"move-primary", "restart"}
    assert good.scenario.time_to_stable["restart"]["count"] == 2
    assert any("InBuild" in line for line in bad.scenario.evidence)
    markdown = render(bad, "md")
    assert "### Failover scenario on shop~cart: failed (validation failed)" in markdown
    assert "NOT stable after 10.0s" in markdown
    html = render(bad, "html")
    assert "<svg" in html
    assert "scenario-evidence" in html
    suite = ET.fromstring(render(bad, "junit"))
    assert suite.get("tests") == "3"  # the check before the first fault, the fault, its validation
    assert suite.get("failures") == "1"
    failure = suite.find(".//failure")
    assert failure is not None
    assert "InBuild" in (failure.text or "")
    assert (verdict(good)["outcome"], verdict(bad)["outcome"]) == ("passed", "not recovered")
    assert json.loads(render(good, "json"))["scenario"]["verdict"] == "passed"


def test_the_published_schema_is_the_one_in_the_code() -> None:
    page = (Path(__file__).resolve().parent.parent / "docs" / "concepts" / "scenarios.md").read_text()
    published = page.split("```json\n", 1)[1].split("```", 1)[0]
    assert json.loads(published) == Scenario.json_schema()


@pytest.mark.skipif(not _BROWSER, reason="no Chromium/chromedriver here (.ci/run installs them)")
async def test_a_scenarios_report_renders_in_headless_chromium(
    client: ProgressClient, cluster: FakeCluster, tmp_path: Path
) -> None:
    """A real browser draws the scenario's timeline (its fault and validation windows) with no console error."""
    from sf_progress.report import build_report, write_report

    from .test_report import _render_in_chromium

    path = tmp_path / "run.jsonl"
    cluster.default_script = Script(duration=1, recovery=float("inf"))
    await run_all(client, Scenario(service=SVC, faults=("move-primary", "restart"), rounds=1, wait_between=1,
                                   stabilization_timeout=10, seed=14), journal=path)
    page = tmp_path / "report.html"
    write_report(build_report(path), page)
    _render_in_chromium(page)  # no console error, the page's own timeline drawn
    text = page.read_text()
    assert text.count("<rect") == 5  # the check before, move-primary's fault and validation, restart's two
    assert "#e45756" in text  # the failed validation, red


async def test_partitions_named_must_be_the_services(client: ProgressClient, cluster: FakeCluster) -> None:
    events = await run_all(client, Scenario(service=SVC, partitions=(PIDS[1],), faults=("restart",), rounds=2,
                                            wait_between=0))
    assert {e.partition for e in events if e.kind is ScenarioEventKind.FAULT_STARTED} == {str(PIDS[1])}
    with pytest.raises(ValueError, match=f"partitions: {WEB_PIDS[0]} not of {SVC}"):
        await ScenarioRun.create(client, Scenario(service=SVC, partitions=(WEB_PIDS[0],)))
    assert cluster.by_route["start"] == 2


@pytest.mark.real_wait
def test_ctrl_c_says_so_and_scenario_resume_finishes(fake: ThreadedCluster, tmp_path: Path) -> None:  # noqa: F811
    """SIGINT mid-fault: exit 130 with a last 'stopped: interrupted' line; `scenario resume` sends nothing twice."""
    import signal
    import subprocess
    import sys
    import time

    fake.call(fake.cluster.add_service, SVC, PIDS)
    fake.do(setattr, fake.cluster, "default_script", Script(duration=2))
    plan, journal = tmp_path / "s.json", tmp_path / "run.jsonl"
    plan.write_text(json.dumps({"service": SVC, "faults": ["restart"], "rounds": 2, "wait_between": 0, "seed": 1}))
    proc = subprocess.Popen([sys.executable, "-m", "sf_progress", "scenario", "run", str(plan), "--journal",
                             str(journal), "-o", "json", "--endpoint", fake.cluster.url],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    deadline = time.monotonic() + 60
    while not fake.cluster.operations and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 130
    last = json.loads(out.splitlines()[-1])
    assert (last["event"], last["reason"]) == ("stopped", "interrupted")
    assert "sf-progress scenario resume" in last["detail"]
    result = cli("scenario", "resume", str(journal), "-o", "json")  # (the journal's own endpoint)
    assert result.exit_code == 0, result.output
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert events[-1]["verdict"] == "passed"
    assert len(fake.cluster.operations) == 2  # the interrupted fault waited for, not sent again
    assert cli("resume", str(journal)).exit_code == 2  # plain resume names the scenario's own command


async def test_a_validation_read_failing_past_its_retries_is_looked_at_again(
    client: ProgressClient, cluster: FakeCluster
) -> None:
    from sf_progress.testing import Fault

    cluster.inject(*[Fault.service_unavailable()] * 12, routes=["health"])  # several looks' health reads fail
    found = await client.validate_service(SVC, timeout=60)
    assert found.stable
    assert found.looks > 1
    cluster.inject(*[Fault.service_unavailable()] * 1000, routes=["health"])
    failed = await client.validate_service(SVC, timeout=10)
    assert not failed.stable
    assert any("could not be read" in line for line in failed.evidence)
