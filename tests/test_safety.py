"""Service Fabric's safety rules before every start (issue 31, item 2), over the real loopback FakeCluster."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from sf_progress import (
    Connection,
    FaultTarget,
    ProgressClient,
    SafetyError,
    UnsupportedFaultError,
)
from sf_progress.testing import FakeCluster, Script

from .test_cli import ThreadedCluster, cli
from .test_cli_hardening import fake  # noqa: F401 - the fixture

SVC = "fabric:/app/svc"
P = uuid.UUID(int=5)


def stop(node: str) -> FaultTarget:
    return FaultTarget.node_transition(node, "stop", stop_duration=300)


@pytest.fixture(autouse=True)
def service(cluster: FakeCluster) -> None:
    cluster.add_service(SVC, [P])


def upgrading(cluster: FakeCluster) -> None:
    cluster.control.upgrade_state = "RollingForwardInProgress"


def app_upgrading(cluster: FakeCluster) -> None:
    cluster.control.app_upgrades["app"] = "RollingForwardPending"


def repairing(cluster: FakeCluster) -> None:
    cluster.control.add_repair_task("Azure/TenantUpdate/1", ["_Node_1"], state="Preparing")


def chaos_running(cluster: FakeCluster) -> None:
    cluster.control.chaos_status = "Running"


def unhealthy(cluster: FakeCluster) -> None:
    cluster.control.health = "Error"


def node_down(cluster: FakeCluster) -> None:
    cluster.replicas.node_restarts["_Node_1"] = [cluster.clock() - cluster.replicas.delay]  # restarting now


def seeds_down(cluster: FakeCluster) -> None:
    cluster.add_operation(stop("_Node_0").ref, Script(duration=1e9))  # one of the three seed nodes down


#: rule -> (how to close it, the fault it refuses, words of what it saw)
CASES: dict[str, tuple[Callable[[FakeCluster], None], Callable[[], FaultTarget], str]] = {
    "upgrade": (upgrading, lambda: FaultTarget.restart(SVC, P), "RollingForwardInProgress"),
    "app-upgrade": (app_upgrading, lambda: FaultTarget.restart(SVC, P), "application app is upgrading"),
    "repair": (repairing, lambda: stop("_Node_1"), "Azure/TenantUpdate/1 (Preparing) on _Node_1"),
    "chaos": (chaos_running, lambda: FaultTarget.data_loss(SVC, P), "SF Chaos is running"),
    "health": (unhealthy, lambda: FaultTarget.restart_node("_Node_3"), "cluster health is Error"),
    "node-health": (node_down, lambda: stop("_Node_1"), "node _Node_1 is Down"),
    "seed-quorum": (seeds_down, lambda: stop("_Node_1"), "1 of 3 seed nodes would stay up"),
}


@pytest.mark.parametrize("rule", list(CASES))
async def test_each_rule_refuses_a_start_and_its_waiver_lets_it_through(cluster: FakeCluster, rule: str) -> None:
    close, make, saw = CASES[rule]
    close(cluster)
    async with ProgressClient(cluster.url) as client:
        with pytest.raises(SafetyError) as caught:
            await client.start(make())
    assert caught.value.rule == rule
    assert saw in caught.value.saw
    assert f"--allow {rule}" in str(caught.value)
    assert cluster.by_route["start"] == cluster.by_route["fault"] == 0  # nothing was sent
    async with ProgressClient(cluster.url, allow=rule) as client:
        await client.start(make())
    assert cluster.by_route["start"] + cluster.by_route["fault"] == 1


async def test_domains_keep_our_down_nodes_in_one_fault_and_upgrade_domain(cluster: FakeCluster) -> None:
    """Our own stop of _Node_3 (fd:/3) is on: a stop of _Node_4 (fd:/4) would span two domains."""
    cluster.default_script = Script(duration=1e9)
    async with ProgressClient(cluster.url) as client:
        await client.start(stop("_Node_3"))
        with pytest.raises(SafetyError) as caught:
            await client.start(FaultTarget.restart_node("_Node_4"))
        assert caught.value.rule == "domains"
        assert "fd:/3, fd:/4" in caught.value.saw
    async with ProgressClient(cluster.url) as other:  # another client's stops are not "ours": node rules only
        await other.start(FaultTarget.restart_node("_Node_4"))


async def test_a_verified_fault_is_held_to_the_repair_rule_on_the_nodes_it_touches(cluster: FakeCluster) -> None:
    async with ProgressClient(cluster.url) as client:
        prepared = await client.prepare(FaultTarget.move_primary(SVC, P, to_node="_Node_3"))
        assert prepared.baseline is not None
        cluster.control.add_repair_task("Manual/7", ["_Node_3"])
        with pytest.raises(SafetyError, match="Manual/7"):
            await client.start(prepared)
    assert cluster.by_route["fault"] == 0


async def test_warning_health_forbids_only_when_asked(cluster: FakeCluster) -> None:
    cluster.control.health = "Warning"
    async with ProgressClient(cluster.url) as client:
        await client.start(FaultTarget.restart(SVC, P))
    async with ProgressClient(cluster.url, forbid_health="Warning") as client:
        with pytest.raises(SafetyError, match="cluster health is Warning"):
            await client.start(FaultTarget.restart(SVC, P))
    with pytest.raises(ValueError, match="forbid_health"):
        ProgressClient(cluster.url, forbid_health="Critical")


async def test_the_rules_are_read_once_per_tick_for_every_start(cluster: FakeCluster) -> None:
    """Twenty starts in one tick: one read of each input (not one per fault)."""
    async with ProgressClient(cluster.url) as client:
        for _ in range(20):
            await client.start(FaultTarget.restart(SVC, uuid.uuid4()))
    assert cluster.by_route["start"] == 20
    assert cluster.by_route["control"] == 5  # lever, upgrade, chaos, health, the application's upgrade
    assert cluster.by_route["target"] == 1  # the service's application, once


async def test_all_waives_every_rule_and_reads_only_the_lever(cluster: FakeCluster) -> None:
    upgrading(cluster)
    chaos_running(cluster)
    async with ProgressClient(cluster.url, allow="all") as client:
        await client.start(FaultTarget.restart(SVC, P))
    assert cluster.by_route["target"] == 0
    assert [path for _, path in cluster.seen if not path.startswith("/Faults")] == [
        "/Names/sfprogress~control/$/GetProperty?api-version=6.0&PropertyName=killswitch&timeout=60"]


def test_waivers_are_checked_when_given() -> None:
    with pytest.raises(ValueError, match="unknown safety rule 'upgrades'"):
        ProgressClient("http://localhost:19080", allow="upgrades")
    assert Connection(allow="Upgrade, chaos").allow == frozenset({"upgrade", "chaos"})
    assert Connection(allow=["all"]).client_options()["allow"] == [
        "app-upgrade", "chaos", "domains", "health", "node-health", "repair", "seed-quorum", "upgrade"]
    with pytest.raises(ValueError, match="forbid_health"):
        Connection(forbid_health="bad")


async def test_an_unsupported_fault_is_said_before_the_rules(cluster: FakeCluster) -> None:
    """A fault that does not apply is refused as such, whatever the rules say (nothing read for them)."""
    upgrading(cluster)
    cluster.add_service("fabric:/app/web", [uuid.UUID(int=9)], stateful=False)
    async with ProgressClient(cluster.url) as client:
        with pytest.raises(UnsupportedFaultError):
            await client.start(FaultTarget.restart_replica("fabric:/app/web", uuid.UUID(int=9)))


def test_the_command_line_exits_8_and_allow_lets_it_go(fake: ThreadedCluster) -> None:  # noqa: F811
    fake.call(fake.cluster.add_service, SVC, [P])
    fake.do(setattr, fake.cluster.control, "upgrade_state", "RollingForwardInProgress")
    url = fake.cluster.url
    refused = cli("restart", SVC, str(P), "--endpoint", url)
    assert refused.exit_code == 8
    assert "refused by the safety rule 'upgrade'" in refused.output
    assert "Traceback" not in refused.output
    assert fake.cluster.by_route["start"] == 0
    assert cli("restart", SVC, str(P), "--allow", "upgrade", "--endpoint", url).exit_code == 0
    assert fake.cluster.by_route["start"] == 1
    assert cli("restart", SVC, str(P), "--allow", "nonsense", "--endpoint", url).exit_code == 2


async def test_a_campaign_is_held_while_an_upgrade_runs_and_goes_on_after_it(
    cluster: FakeCluster, tmp_path: Path
) -> None:
    """Nothing is sent while the rule is closed; every fault starts and completes once it opens."""
    from sf_progress import FaultRun

    cluster.default_script = Script(duration=2)
    partitions = [uuid.uuid4() for _ in range(5)]
    cluster.add_service("fabric:/app/many", partitions)
    plan = [FaultTarget.restart("fabric:/app/many", p) for p in partitions]
    async with ProgressClient(cluster.url) as client:
        await client.start(plan[0])  # started before the upgrade: it finishes and is waited for
        cluster.control.upgrade("RollingForwardInProgress", until=30)
        began = cluster.clock()
        await client.clock.sleep(2.5)  # the rules' last read is a tick old: read again
        sent_at: list[float] = []
        async with await FaultRun.create(tmp_path / "run.jsonl", client, plan[1:], on_start=lambda ref: sent_at.append(
                cluster.clock())) as run:
            await run.start_pending()
            results = [r async for r in run.results(deadline=60)]
    assert all(r.ok for r in results), results
    assert len(sent_at) == 4
    assert min(sent_at) - began >= 30  # held until the upgrade ended
    assert not run.held_out


async def test_a_runs_waivers_are_journaled_and_reported(cluster: FakeCluster, tmp_path: Path) -> None:
    from sf_progress import FaultRun, read_journal
    from sf_progress.report import build_report, verdict

    upgrading(cluster)
    path = tmp_path / "run.jsonl"
    async with (
        ProgressClient(cluster.url, allow="upgrade,chaos") as client,
        await FaultRun.create(path, client, [FaultTarget.restart(SVC, P)]) as run,
    ):
        assert client.allow == frozenset({"upgrade", "chaos"})
        await run.start_pending()
        assert [r.ok for r in [r async for r in run.results()]] == [True]
    said = "safety rules waived: chaos, upgrade"
    assert any(said in notice for notice in read_journal(path).notices)
    assert any(said in warning for warning in verdict(build_report(path))["warnings"])


async def test_a_hold_past_its_timeout_aborts_the_run(cluster: FakeCluster, tmp_path: Path) -> None:
    from sf_progress import FaultRun, ResultReason

    chaos_running(cluster)
    plan = [FaultTarget.restart(SVC, uuid.uuid4()) for _ in range(3)]
    async with (
        ProgressClient(cluster.url) as client,
        await FaultRun.create(tmp_path / "run.jsonl", client, plan, hold_timeout=10) as run,
    ):
        await run.start_pending()
        results = [r async for r in run.results()]
    assert run.held_out
    assert run.aborted is not None
    assert "'chaos'" in run.aborted
    assert [r.reason for r in results] == [ResultReason.ABORTED] * 3
    assert cluster.by_route["start"] == 0


def test_the_command_line_holds_and_exits_8_past_its_hold_timeout(
    fake: ThreadedCluster, tmp_path: Path  # noqa: F811
) -> None:
    fake.call(fake.cluster.add_service, SVC, [P])
    fake.do(setattr, fake.cluster.control, "chaos_status", "Running")
    plan = tmp_path / "plan.csv"
    plan.write_text(f"service_id,partition_id\n{SVC},{P}\n")
    result = cli("restart", "--from", str(plan), "--hold-timeout", "4", "--endpoint", fake.cluster.url)
    assert result.exit_code == 8, result.output
    assert "held past the hold timeout by the safety rule 'chaos'" in result.output
    assert fake.cluster.by_route["start"] == 0


async def test_a_plan_reads_and_judges_every_fault_and_sends_nothing(cluster: FakeCluster) -> None:
    cluster.add_service("fabric:/app/cache", [uuid.UUID(int=9)], persisted=False)
    repairing(cluster)  # a repair task on _Node_1
    async with ProgressClient(cluster.url) as client:
        planned = await client.plan([
            FaultTarget.move_secondary(SVC, P, from_node="_Node_2", to_node="_Node_3"),
            FaultTarget.restart_replica("fabric:/app/cache", uuid.UUID(int=9)),
            stop("_Node_1"),
            FaultTarget.restart(SVC, P),
        ])
    move, volatile, node, restart = planned
    assert move.allowed
    assert move.target.baseline is not None
    assert move.target.baseline.to_node == "_Node_3"
    assert move.as_dict()["baseline"]["to_node"] == "_Node_3"
    assert volatile.refused is not None
    assert "remove it instead" in volatile.refused
    assert not node.allowed
    assert node.forbidden[0][0] == "repair"
    assert restart.allowed
    assert cluster.by_route["start"] == cluster.by_route["fault"] == 0


def test_the_command_lines_plan_sends_nothing_and_exits_8_when_a_rule_forbids(
    fake: ThreadedCluster, tmp_path: Path  # noqa: F811
) -> None:
    import json

    fake.call(fake.cluster.add_service, SVC, [P])
    url = fake.cluster.url
    ok = cli("move-primary", SVC, str(P), "--plan", "--endpoint", url)
    assert ok.exit_code == 0, ok.output
    assert "move-primary fabric:/app/svc partition" in ok.output
    assert "would start" in ok.output
    fake.do(setattr, fake.cluster.control, "chaos_status", "Running")
    plan = tmp_path / "plan.csv"
    plan.write_text(f"service_id,partition_id\n{SVC},{P}\n{SVC},{P}\n")
    refused = cli("restart", "--from", str(plan), "--plan", "-o", "json", "--endpoint", url)
    assert refused.exit_code == 8, refused.output
    lines = [json.loads(line) for line in refused.stdout.splitlines()]
    assert [line["allowed"] for line in lines] == [False, False]
    assert lines[0]["forbidden"] == [{"rule": "chaos", "saw": "SF Chaos is running"}]
    assert fake.cluster.by_route["start"] == fake.cluster.by_route["fault"] == 0
