"""The official azure-servicefabric SDK, as a reference client, parses what FakeCluster serves."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from sf_progress import OperationState
from sf_progress.testing import HRESULTS, FakeCluster, Script

from .conftest import PID

pytestmark = [
    pytest.mark.sdk,
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::PendingDeprecationWarning"),
]


def sdk_client(url: str) -> Any:
    """An azure-servicefabric client on *url* with msrest's own retries off (as sfctl does)."""
    from azure.servicefabric import ServiceFabricClientAPIs
    from msrest.authentication import Authentication

    client = ServiceFabricClientAPIs(Authentication(), base_url=url)
    client.config.retry_policy.total = False
    return client


async def test_sdk_start_progress_list_cancel(cluster: FakeCluster) -> None:
    """The SDK starts, reads progress, lists and cancels against the fake without error."""
    clock = [0.0]
    cluster.clock = lambda: clock[0]
    cluster.default_script = Script(duration=10)
    sdk = sdk_client(cluster.url)
    op = str(uuid.uuid4())
    await asyncio.to_thread(sdk.start_partition_restart, "myapp~svc", str(PID), op, "AllReplicasOrInstances")
    running = await asyncio.to_thread(sdk.get_partition_restart_progress, "myapp~svc", str(PID), op)
    assert running.state == "Running"
    listed = await asyncio.to_thread(sdk.get_fault_operation_list)
    assert [(str(i.operation_id), i.state, i.type) for i in listed] == [(op, "Running", "PartitionRestart")]
    clock[0] = 10
    done = await asyncio.to_thread(sdk.get_partition_restart_progress, "myapp~svc", str(PID), op)
    assert done.state == "Completed"
    assert done.restart_partition_result.error_code == 0
    assert done.restart_partition_result.selected_partition.service_name == "fabric:/myapp/svc"
    assert str(done.restart_partition_result.selected_partition.partition_id) == str(PID)
    second = str(uuid.uuid4())
    await asyncio.to_thread(
        sdk.start_partition_restart, "fabric:/myapp/svc", str(PID), second, "AllReplicasOrInstances"
    )
    await asyncio.to_thread(sdk.cancel_operation, second, False)
    assert cluster.state_of(second) is OperationState.CANCELLED


async def test_sdk_sees_faulted_hresult_and_errors(cluster: FakeCluster) -> None:
    """A Faulted result's HRESULT and a 404 FabricError body deserialize in the SDK."""
    from azure.servicefabric.models import FabricErrorException

    cluster.default_script = Script(outcome=OperationState.FAULTED, error_code=HRESULTS["FABRIC_E_TIMEOUT"])
    sdk = sdk_client(cluster.url)
    op = str(uuid.uuid4())
    await asyncio.to_thread(sdk.start_partition_restart, "a~b", str(PID), op, "OnlyActiveSecondaries")
    faulted = await asyncio.to_thread(sdk.get_partition_restart_progress, "a~b", str(PID), op)
    assert faulted.state == "Faulted"
    assert faulted.restart_partition_result.error_code == HRESULTS["FABRIC_E_TIMEOUT"]
    with pytest.raises(FabricErrorException) as info:
        await asyncio.to_thread(sdk.get_partition_restart_progress, "a~b", str(PID), str(uuid.uuid4()))
    assert info.value.error.error.code == "FABRIC_E_KEY_NOT_FOUND"
    assert info.value.response.status_code == 404
    with pytest.raises(FabricErrorException) as dup:
        await asyncio.to_thread(sdk.start_partition_restart, "a~b", str(PID), op, "AllReplicasOrInstances")
    assert dup.value.response.status_code == 409
    assert dup.value.error.error.code == "FABRIC_E_TEST_COMMAND_OPERATION_ID_ALREADY_EXISTS"
    assert all(path.split("?")[1].startswith("api-version=6.0&") for _, path in cluster.seen)


async def test_sdk_drives_every_fault_kind(cluster: FakeCluster) -> None:
    """The SDK starts and reads data loss, quorum loss and node transitions; the list carries every type."""
    clock = [0.0]
    cluster.clock = lambda: clock[0]
    cluster.default_script = Script(duration=10)
    sdk = sdk_client(cluster.url)
    loss, quorum, node = (str(uuid.uuid4()) for _ in range(3))
    await asyncio.to_thread(sdk.start_data_loss, "a~b", str(PID), loss, "PartialDataLoss")
    await asyncio.to_thread(sdk.start_quorum_loss, "a~b", str(PID), quorum, "QuorumReplicas", 5)
    await asyncio.to_thread(sdk.start_node_transition, "_Node_0", node, "Stop", "42", 600)
    listed = await asyncio.to_thread(sdk.get_fault_operation_list, 65535, 3)
    assert sorted(i.type for i in listed) == ["NodeTransition", "PartitionDataLoss", "PartitionQuorumLoss"]
    running = await asyncio.to_thread(sdk.get_data_loss_progress, "a~b", str(PID), loss)
    assert running.state == "Running"
    assert running.invoke_data_loss_result is None
    clock[0] = 10
    data = await asyncio.to_thread(sdk.get_data_loss_progress, "a~b", str(PID), loss)
    assert data.state == "Completed"
    assert str(data.invoke_data_loss_result.selected_partition.partition_id) == str(PID)
    q = await asyncio.to_thread(sdk.get_quorum_loss_progress, "a~b", str(PID), quorum)
    assert q.invoke_quorum_loss_result.error_code == 0
    n = await asyncio.to_thread(sdk.get_node_transition_progress, "_Node_0", node)
    assert n.state == "Completed"
    assert n.node_transition_result.node_result.node_name == "_Node_0"
    assert n.node_transition_result.node_result.node_instance_id == "42"
