"""Verified faults in a journaled run: the baseline journaled before the start, and a resume that sends once."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from sf_progress import FaultRun, FaultTarget, OperationType, ProgressClient, read_journal
from sf_progress._campaign.journal import lines_of
from sf_progress._campaign.starts import UNDECIDABLE
from sf_progress.testing import FakeCluster

SVC, WEB = "fabric:/app/svc", "fabric:/app/web"
PARTITIONS = [uuid.UUID(int=i + 1) for i in range(3)]
W = uuid.UUID(int=99)

KINDS = {
    "restart-replica": lambda p: FaultTarget.restart_replica(SVC, p),
    "remove-replica": lambda p: FaultTarget.remove_replica(SVC, p, replica="secondary"),
    "restart-code-package": lambda p: FaultTarget.restart_code_package(SVC, p),
    "move-primary": lambda p: FaultTarget.move_primary(SVC, p),
    "move-secondary": lambda p: FaultTarget.move_secondary(SVC, p),
    "move-instance": lambda p: FaultTarget.move_instance(WEB, W),
    "restart-node": lambda p: FaultTarget.restart_node(f"_Node_{PARTITIONS.index(p) + 1}"),
}


class Crash(Exception):
    """Stands for the process dying at this point."""


@pytest.fixture(autouse=True)
def services(cluster: FakeCluster) -> None:
    cluster.add_service(SVC, PARTITIONS)
    cluster.add_service(WEB, [W], stateful=False)
    cluster.replicas.instance_count = 3  # room to move an instance on the five nodes


@pytest.mark.parametrize("name", list(KINDS))
async def test_the_baseline_is_journaled_before_the_start_and_read_back(
    client: ProgressClient, cluster: FakeCluster, tmp_path: Path, name: str
) -> None:
    path = tmp_path / "run.jsonl"
    plan = [KINDS[name](PARTITIONS[0])]
    async with await FaultRun.create(path, client, plan) as run:
        await run.start_pending()
        results = [r async for r in run.results()]
    assert [r.ok for r in results] == [True]
    assert results[0].signal  # what was seen, journaled and read back
    intents = [line for line in lines_of(path) if line.get("event") == "intent"]
    assert len(intents) == 1
    assert intents[0]["baseline"]["node_name"]
    snapshot = read_journal(path)
    baseline = snapshot.targets[0].target.baseline
    assert baseline is not None
    assert baseline.as_dict() == intents[0]["baseline"]
    assert snapshot.targets[0].result is not None
    assert snapshot.targets[0].result.signal == results[0].signal
    assert cluster.by_route["fault"] == 1


@pytest.mark.parametrize("name", list(KINDS))
@pytest.mark.parametrize("moment", ["after_intent", "after_send"])
async def test_a_crash_between_the_request_and_its_record_sends_once(
    client: ProgressClient, cluster: FakeCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    name: str, moment: str,
) -> None:
    """Killed after the baseline's intent (never sent) or after the send (never recorded): one start each.

    Only a replica restart that was never sent cannot be told from a quick one that is over:
    it is not sent again, and the run says why.
    """
    path = tmp_path / "run.jsonl"
    alone = name in ("move-instance", "restart-code-package")  # one process hosts them all: one at a time
    plan = [KINDS[name](p) for p in (PARTITIONS[:1] if alone else PARTITIONS)]
    run = await FaultRun.create(path, client, plan, settle=0.1)
    real_start = client.start
    calls = 0

    async def crashing_start(target: FaultTarget, **options: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == len(plan):
            if moment == "after_send":
                await real_start(target)  # it lands at the cluster...
            raise Crash  # ...and the process dies before the journal hears of it
        return await real_start(target)

    monkeypatch.setattr(client, "start", crashing_start)
    with pytest.raises(Crash):
        await run.start_pending()
    run.close()
    monkeypatch.undo()
    sent = cluster.by_route["fault"]
    assert sent == len(plan) - (moment == "after_intent")
    async with await FaultRun.resume(path, client, settle=0.1) as resumed:
        await resumed.start_pending()
        results = [r async for r in resumed.results()]
    assert len(results) == len(plan)
    undecidable = name == "restart-replica" and moment == "after_intent"
    if undecidable:
        assert cluster.by_route["fault"] == sent  # not sent again
        assert [UNDECIDABLE in str(r.error) for r in results if not r.ok] == [True]
    else:
        assert cluster.by_route["fault"] == len(plan)  # exactly once each
        assert all(r.ok for r in results), results
    assert all(r.ref.kind is OperationType[KINDS[name](PARTITIONS[0]).kind.name] for r in results)
