"""Target selectors (issue 31, item 6): partitions of a service or an application, nodes of a type, over the fake."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from sf_progress import (
    FaultRun,
    FaultTarget,
    NotFoundError,
    OperationType,
    ProgressClient,
    UnsupportedFaultError,
    read_journal,
)
from sf_progress.testing import FakeCluster

from .test_cli import ThreadedCluster, cli
from .test_cli_hardening import fake  # noqa: F401 - the fixture

SVC = "fabric:/shop/cart"
CART = [uuid.UUID(int=100 + i) for i in range(20)]
WEB = [uuid.UUID(int=200 + i) for i in range(4)]


@pytest.fixture(autouse=True)
def services(cluster: FakeCluster) -> None:
    cluster.add_service(SVC, CART)
    cluster.add_service("fabric:/shop/web", WEB, stateful=False)
    cluster.add_service("fabric:/shop/cache", [uuid.UUID(int=300)], persisted=False)
    cluster.replicas.page_size = 3  # every list takes pages: each is followed


def typed(cluster: FakeCluster) -> None:
    """Eight nodes: _Node_0..4 (seeds: 0..2) and _Node_5..7; FrontEnd = 3..7 over fault domains fd:/a, fd:/b, fd:/c."""
    for i in range(5, 8):
        cluster.add_node(f"_Node_{i}", 132500000000000000 + i)
    for i, domain in zip(range(3, 8), "abcab", strict=True):
        cluster.targets.set_node(f"_Node_{i}", node_type="FrontEnd", fault_domain=f"fd:/{domain}")


async def test_a_services_partitions_picked_repeatably_by_seed(client: ProgressClient, cluster: FakeCluster) -> None:
    first = await client.select_targets("restart", service=SVC, count=5, seed=7, mode="OnlyActiveSecondaries")
    again = await client.select_targets("restart", service="shop~cart", count=5, seed=7, mode="OnlyActiveSecondaries")
    other = await client.select_targets("restart", service=SVC, count=5, seed=8)
    assert [t.ref.partition_id for t in first] == [t.ref.partition_id for t in again]
    assert len({t.ref.partition_id for t in first}) == 5
    assert {t.ref.partition_id for t in first} <= set(CART)
    assert [t.ref.partition_id for t in first] != [t.ref.partition_id for t in other]
    assert len({t.operation_id for t in first + again}) == 10  # each pick a new OperationId
    assert first[0].spec.mode.value == "OnlyActiveSecondaries"  # type: ignore[union-attr]
    every = await client.select_targets("restart", service=SVC)
    assert sorted(t.ref.partition_id for t in every) == sorted(CART)
    assert cluster.by_route["start"] == 0  # reads only


async def test_an_applications_services_that_the_fault_applies_to(client: ProgressClient) -> None:
    restarts = await client.select_targets("restart", application="fabric:/shop")
    assert len(restarts) == len(CART) + len(WEB) + 1
    moves = await client.select_targets(OperationType.PRIMARY_MOVE, application="fabric:/shop")
    assert {t.ref.service_id for t in moves} == {"shop~cart", "shop~cache"}  # stateful only
    instances = await client.select_targets("move-instance", application="shop", count=2, seed=1)
    assert {t.ref.service_id for t in instances} == {"shop~web"}
    replicas = await client.select_targets("restart-replica", application="fabric:/shop")
    assert {t.ref.service_id for t in replicas} == {"shop~cart"}  # persisted only: the cache is volatile


async def test_bad_selections_are_refused_with_what_is_wrong(client: ProgressClient, cluster: FakeCluster) -> None:
    before = cluster.requests
    for kwargs, words in [
        ({}, "by service= or application="),
        ({"service": SVC, "application": "fabric:/shop"}, "one of them"),
        ({"service": SVC, "node_type": "FrontEnd"}, "node_type and seed_nodes select nodes"),
        ({"service": SVC, "count": 0}, "count must be an int >= 1"),
        ({"service": SVC, "mode": "Sideways"}, "mode"),
    ]:
        with pytest.raises(ValueError, match=words):
            await client.select_targets("restart", **kwargs)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="service and application select partitions"):
        await client.select_targets("restart-node", service=SVC)
    with pytest.raises(TypeError, match="seed must be an int or a str"):
        await client.select_targets("restart", service=SVC, seed=1.5)  # type: ignore[arg-type]
    assert cluster.requests == before  # nothing read for a selection refused on its face
    with pytest.raises(UnsupportedFaultError, match="needs a stateless service; fabric:/shop/cart is not one"):
        await client.select_targets("move-instance", service=SVC)
    with pytest.raises(ValueError, match="count=21, but only 20 partition"):
        await client.select_targets("restart", service=SVC, count=21)
    with pytest.raises(NotFoundError):
        await client.select_targets("restart", service="fabric:/shop/gone")
    with pytest.raises(NotFoundError):
        await client.select_targets("restart", application="fabric:/gone")


async def test_nodes_of_a_type_skip_seeds_and_spread_across_fault_domains(
    client: ProgressClient, cluster: FakeCluster
) -> None:
    typed(cluster)
    three = await client.select_targets("restart-node", node_type="FrontEnd", count=3, seed=3)
    names = [t.ref.node_name for t in three]
    assert len(set(names)) == 3
    domains = {"_Node_3": "a", "_Node_4": "b", "_Node_5": "c", "_Node_6": "a", "_Node_7": "b"}
    assert {domains[n] for n in names if n} == {"a", "b", "c"}  # one per fault domain before a second
    assert names == [t.ref.node_name for t in await client.select_targets(
        "restart-node", node_type="FrontEnd", count=3, seed=3)]
    every = await client.select_targets("restart-node")
    assert sorted(t.ref.node_name or "" for t in every) == ["_Node_3", "_Node_4", "_Node_5", "_Node_6", "_Node_7"]
    with_seeds = await client.select_targets("restart-node", seed_nodes=True)
    assert len(with_seeds) == 8
    with pytest.raises(ValueError, match="no node of type 'Backend' \\(the node types: FrontEnd, NodeType0\\)"):
        await client.select_targets("restart-node", node_type="Backend")
    with pytest.raises(ValueError, match="count=6, but only 5 node"):
        await client.select_targets("restart-node", count=6)
    stops = await client.select_targets("node-transition", node_type="FrontEnd", count=1, transition="stop",
                                        stop_duration=600)
    assert stops[0].kind is OperationType.NODE_TRANSITION


async def test_a_node_start_picks_stopped_nodes(client: ProgressClient) -> None:
    ref = await client.start(FaultTarget.node_transition("_Node_4", "stop", stop_duration=600))
    await client.wait_for_completion(ref, deadline=120)
    starts = await client.select_targets("node-transition", transition="start")
    assert [t.ref.node_name for t in starts] == ["_Node_4"]


async def test_a_selection_is_the_runs_plan_and_a_resume_faults_the_same(
    client: ProgressClient, tmp_path: Path
) -> None:
    path = tmp_path / "run.jsonl"
    targets = await client.select_targets("restart", service=SVC, count=3, seed=11)
    run = await FaultRun.create(path, client, targets)
    run.close()  # killed before anything was sent
    async with await FaultRun.resume(path, client) as resumed:
        await resumed.start_pending()
        results = [r async for r in resumed.results(deadline=120)]
    assert sorted(r.ref.partition_id for r in results) == sorted(t.ref.partition_id for t in targets)
    assert all(r.ok for r in results)
    assert [t.target.ref.partition_id for t in read_journal(path).targets] == [t.ref.partition_id for t in targets]


def test_the_command_line_selects_and_runs(fake: ThreadedCluster, tmp_path: Path) -> None:  # noqa: F811
    fake.call(fake.cluster.add_service, SVC, CART)
    url = fake.cluster.url
    journal = tmp_path / "run.jsonl"
    result = cli("restart", "--service", SVC, "--count", "3", "--seed", "42", "--journal", str(journal),
                 "--endpoint", url)
    assert result.exit_code == 0, result.output
    ended = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    picked = sorted(line["partition_id"] for line in ended if "partition_id" in line)
    assert len(set(picked)) == 3
    assert "3 target(s) selected by --service fabric:/shop/cart --count 3 --seed 42" in " ".join(result.output.split())
    assert any("selected by --service" in notice for notice in read_journal(journal).notices)  # journaled
    planned = cli("restart", "--service", SVC, "--count", "3", "--seed", "42", "--plan", "-o", "json",
                  "--endpoint", url)
    assert planned.exit_code == 0, planned.output
    again = sorted(json.loads(line)["partition_id"] for line in planned.stdout.splitlines() if line.startswith("{"))
    assert again == sorted(set(picked))  # the same seed: the same partitions
    assert fake.cluster.by_route["start"] == 3  # the plan sent nothing
    result = cli("node-transition", "--node-type", "NodeType0", "--count", "1", "stop", "--plan",
                 "--endpoint", url)
    assert result.exit_code == 0, result.output
    assert any(f"node-transition node _Node_{i}: would start" in result.output for i in (3, 4))  # no seed node


@pytest.mark.parametrize(("args", "words"), [
    (["restart", "--seed", "1"], "--seed goes with a selector"),
    (["restart", "--count", "2"], "by --service or --application"),
    (["restart", "--service", SVC, "--from", "x.csv"], "a selector or --from FILE"),
    (["restart", "--service", SVC, "extra"], "one argument too many"),
    (["restart-node", "--service", SVC], "No such option"),
    (["restart", "--node-type", "T"], "No such option"),
    (["node-transition", "--count", "1"], "the TRANSITION argument is required"),
])
def test_selector_usage_errors(args: list[str], words: str) -> None:
    result = cli(*args, "--endpoint", "http://127.0.0.1:9")
    assert result.exit_code == 2, result.output
    assert words in " ".join(result.output.split())
