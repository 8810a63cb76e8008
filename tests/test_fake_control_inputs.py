"""The fake cluster's safety inputs that change: repair tasks and an upgrade that ends by itself (§5.1, §5.3)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import aiohttp
import pytest
import pytest_asyncio

from sf_progress.testing import FakeCluster


@pytest_asyncio.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def get(http: aiohttp.ClientSession, cluster: FakeCluster, path: str) -> tuple[int, object]:
    async with http.get(cluster.url + path) as response:
        body = await response.read()
        return response.status, json.loads(body) if body else None


async def test_repair_tasks_are_a_bare_array_filtered_by_state_bits_and_prefix(
    http: aiohttp.ClientSession, cluster: FakeCluster
) -> None:
    cluster.control.add_repair_task("Azure/TenantUpdate/b", ["_Node_1"], state="Executing")
    cluster.control.add_repair_task("Azure/TenantUpdate/a", ["_Node_2", "_Node_3"], state="Preparing")
    cluster.control.add_repair_task("Manual/c", ["_Node_4"], state="Completed", executor="me")
    status, tasks = await get(http, cluster, "/$/GetRepairTaskList?api-version=6.0")
    assert status == 200
    assert isinstance(tasks, list)
    assert [t["TaskId"] for t in tasks] == ["Azure/TenantUpdate/a", "Azure/TenantUpdate/b", "Manual/c"]
    _, active = await get(http, cluster, "/$/GetRepairTaskList?api-version=6.0&StateFilter=63")
    assert [t["Target"]["NodeNames"] for t in active] == [["_Node_2", "_Node_3"], ["_Node_1"]]  # type: ignore[union-attr]
    assert active[0]["Impact"]["NodeImpactList"][0] == {"NodeName": "_Node_2", "ImpactLevel": "Restart"}  # type: ignore[index]
    _, some = await get(http, cluster, "/$/GetRepairTaskList?api-version=6.0&TaskIdFilter=Manual/&ExecutorFilter=me")
    assert [t["TaskId"] for t in some] == ["Manual/c"]  # type: ignore[union-attr]
    status, error = await get(http, cluster, "/$/GetRepairTaskList?api-version=6.0&StateFilter=128")
    assert status == 400
    assert error["Error"]["Code"] == "E_INVALIDARG"  # type: ignore[index]
    with pytest.raises(ValueError, match="state must be one of"):
        cluster.control.add_repair_task("x", ["_Node_0"], state="Running")


async def test_without_the_repair_manager_the_list_times_out(http: aiohttp.ClientSession, cluster: FakeCluster) -> None:
    cluster.control.system_services.discard("RepairManagerService")
    status, error = await get(http, cluster, "/$/GetRepairTaskList?api-version=6.0")
    assert status == 504
    assert error["Error"]["Code"] == "FABRIC_E_TIMEOUT"  # type: ignore[index]


async def test_an_upgrade_can_end_by_itself(http: aiohttp.ClientSession) -> None:
    now = [100.0]
    async with FakeCluster(clock=lambda: now[0]) as cluster:
        cluster.control.upgrade("RollingForwardInProgress", until=30)
        _, during = await get(http, cluster, "/$/GetUpgradeProgress?api-version=6.0")
        assert during["UpgradeState"] == "RollingForwardInProgress"  # type: ignore[index]
        now[0] += 30
        _, after = await get(http, cluster, "/$/GetUpgradeProgress?api-version=6.0")
        assert after["UpgradeState"] == "RollingForwardCompleted"  # type: ignore[index]
        cluster.control.upgrade("RollingBackPending")
        now[0] += 1000
        _, stays = await get(http, cluster, "/$/GetUpgradeProgress?api-version=6.0")
        assert stays["UpgradeState"] == "RollingBackPending"  # type: ignore[index]


async def test_a_service_partition_list_carries_epochs_that_each_change_moves(
    http: aiohttp.ClientSession, cluster: FakeCluster
) -> None:
    """``GET /Services/{id}/$/GetPartitions``: paged, ``PrimaryEpoch`` per stateful partition, moved by a fault."""
    import uuid

    partitions = sorted(uuid.uuid4() for _ in range(3))
    cluster.add_service("fabric:/app/svc", partitions)
    cluster.replicas.page_size = 2
    status, first = await get(http, cluster, "/Services/app~svc/$/GetPartitions?api-version=6.4")
    assert status == 200
    assert [i["PartitionInformation"]["Id"] for i in first["Items"]] == [str(p) for p in partitions[:2]]  # type: ignore[index]
    token = first["ContinuationToken"]  # type: ignore[index]
    _, second = await get(http, cluster, f"/Services/app~svc/$/GetPartitions?api-version=6.4&ContinuationToken={token}")
    assert second["ContinuationToken"] == ""  # type: ignore[index]
    before = first["Items"][0]["PrimaryEpoch"]["ConfigurationVersion"]  # type: ignore[index]
    async with http.post(cluster.url + f"/Partitions/{partitions[0]}/$/MovePrimaryReplica?api-version=6.5"
                         "&NodeName=_Node_1") as response:
        assert response.status == 200
    _, after = await get(http, cluster, "/Services/app~svc/$/GetPartitions?api-version=6.4")
    assert after["Items"][0]["PrimaryEpoch"]["ConfigurationVersion"] != before  # type: ignore[index]
    status, _ = await get(http, cluster, "/Services/nope~svc/$/GetPartitions?api-version=6.4")
    assert status == 404
