"""Models, enums and the JSON boundary."""

from __future__ import annotations

import json
import uuid

import attrs
import pytest

from sf_progress import (
    FaultOperation,
    OperationRef,
    OperationState,
    OperationType,
    PartitionRestartProgress,
    ResponseFormatError,
    RestartPartitionResult,
    SelectedPartition,
)
from sf_progress._kinds import KINDS
from sf_progress._wire.calls import filter_mask
from sf_progress._wire.parsing import parse_operation_list, parse_progress

from .conftest import OID, PID

TERMINAL = {"Completed", "Faulted", "Cancelled", "ForceCancelled"}


def parse(body: str | bytes) -> PartitionRestartProgress:
    raw = body.encode() if isinstance(body, str) else body
    return parse_progress(json.loads(raw), raw, None, KINDS[OperationType.PARTITION_RESTART].shape)


def test_state_values_are_wire_strings() -> None:
    """OperationState members carry the wire strings as values."""
    assert [s.value for s in OperationState if s is not OperationState.UNKNOWN] == [
        "Invalid",
        "Running",
        "RollingBack",
        "Completed",
        "Faulted",
        "Cancelled",
        "ForceCancelled",
    ]
    assert str(OperationState.ROLLING_BACK) == "RollingBack"


@pytest.mark.parametrize("state", list(OperationState))
def test_is_terminal(state: OperationState) -> None:
    """Exactly Completed, Faulted, Cancelled and ForceCancelled are terminal."""
    assert state.is_terminal == (state.value in TERMINAL)


def test_parse_running_state_only() -> None:
    """``{"State": "Running"}`` (the documented Running shape) parses without a result."""
    progress = parse('{"State":"Running"}')
    assert progress == PartitionRestartProgress(OperationState.RUNNING, None)
    assert not progress.is_terminal
    assert progress.error_code is None


def test_parse_completed_spec_example() -> None:
    """The spec's example answer parses into the typed result."""
    progress = parse(
        '{"State":"Completed","RestartPartitionResult":{"ErrorCode":0,"SelectedPartition":'
        '{"ServiceName":"fabric:/myapp/myservice","PartitionId":"1daae3f5-7fd6-42e9-b1ba-8c05f873994d"}}}'
    )
    assert progress.state is OperationState.COMPLETED
    assert progress.is_terminal
    assert progress.restart_partition_result == RestartPartitionResult(
        0, SelectedPartition("fabric:/myapp/myservice", PID)
    )
    assert progress.error_code == 0


def test_parse_result_while_running_with_empty_guid() -> None:
    """A zero result with the empty GUID while Running (real clusters send it) is accepted."""
    progress = parse(
        '{"State":"Running","RestartPartitionResult":{"ErrorCode":0,"SelectedPartition":'
        '{"ServiceName":"fabric:/a/b","PartitionId":"00000000-0000-0000-0000-000000000000"}}}'
    )
    assert progress.state is OperationState.RUNNING
    assert progress.restart_partition_result is not None
    assert progress.restart_partition_result.selected_partition == SelectedPartition("fabric:/a/b", uuid.UUID(int=0))


def test_parse_faulted_hresult_and_extra_fields() -> None:
    """A Faulted HRESULT is kept; unknown extra fields are ignored."""
    progress = parse(
        '{"State":"Faulted","Extra":1,"RestartPartitionResult":{"ErrorCode":-2147017779,"More":true,'
        '"SelectedPartition":null}}'
    )
    assert progress.state is OperationState.FAULTED
    assert progress.error_code == -2147017779
    assert progress.restart_partition_result == RestartPartitionResult(-2147017779, None)


def test_parse_error_code_as_numeric_string() -> None:
    """The rendered docs show ``"ErrorCode": "0"``; a numeric string is accepted."""
    assert parse('{"State":"Completed","RestartPartitionResult":{"ErrorCode":"0"}}').error_code == 0


def test_parse_null_result() -> None:
    """A null result is the same as no result."""
    assert parse('{"State":"Completed","RestartPartitionResult":null}').restart_partition_result is None


def test_unknown_state_is_kept_visible_and_not_terminal() -> None:
    """A state this version does not know parses as UNKNOWN, raw string kept, non-terminal."""
    progress = parse('{"State":"Paused"}')
    assert progress.state is OperationState.UNKNOWN
    assert progress.raw_state == "Paused"
    assert not progress.is_terminal


@pytest.mark.parametrize(
    "body",
    [
        "{}",
        '{"State": null}',
        '{"State": 3}',
        '{"state": "Running"}',
        "[]",
        '"Running"',
        '{"State":"Completed","RestartPartitionResult":[]}',
        '{"State":"Completed","RestartPartitionResult":{"ErrorCode":"zero"}}',
        '{"State":"Completed","RestartPartitionResult":{"ErrorCode":1.5}}',
        '{"State":"Completed","RestartPartitionResult":{"ErrorCode":0,"SelectedPartition":"x"}}',
        '{"State":"Completed","RestartPartitionResult":{"ErrorCode":0,"SelectedPartition":{"ServiceName":1}}}',
        '{"State":"Completed","RestartPartitionResult":{"ErrorCode":0,"SelectedPartition":'
        '{"ServiceName":"fabric:/a","PartitionId":"nope"}}}',
    ],
)
def test_wrong_bodies_raise_response_format_error(body: str) -> None:
    """Missing/non-string State and wrong types become ResponseFormatError with an excerpt."""
    with pytest.raises(ResponseFormatError) as info:
        parse(body)
    assert info.value.excerpt
    assert not info.value.transient


def test_models_are_frozen() -> None:
    """Models cannot be changed after construction."""
    progress = parse('{"State":"Running"}')
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        progress.state = OperationState.COMPLETED  # type: ignore[misc]


def test_operation_ref_normalises_and_validates() -> None:
    """OperationRef normalises the service id and parses both GUIDs at construction."""
    ref = OperationRef.restart("fabric:/myapp/myservice", str(PID), str(OID).upper())
    assert ref == OperationRef.restart("myapp~myservice", PID, OID)
    assert ref.service_name == "fabric:/myapp/myservice"
    assert ref.path == f"/Faults/Services/myapp~myservice/$/GetPartitions/{PID}/$/"
    assert str(OID) in str(ref)
    assert hash(ref) == hash(OperationRef.restart("myapp/myservice", PID, OID))


def test_operation_ref_rejects_bad_values() -> None:
    """Bad ids raise ValueError/TypeError at construction."""
    with pytest.raises(ValueError, match="service_id"):
        OperationRef.restart("", PID, OID)
    with pytest.raises(ValueError, match="partition_id"):
        OperationRef.restart("a~b", "x", OID)
    with pytest.raises(TypeError, match="operation_id"):
        OperationRef.restart("a~b", PID, 5)


def test_parse_operation_list() -> None:
    """GetFaultOperationList items become typed FaultOperations; unknown type is kept."""
    body = json.dumps(
        [
            {"OperationId": str(OID), "State": "Running", "Type": "PartitionRestart"},
            {"OperationId": str(PID), "State": "Completed", "Type": "ChaosThing"},
        ]
    ).encode()
    items = parse_operation_list(json.loads(body), body)
    assert items[0] == FaultOperation(
        OID, OperationState.RUNNING, OperationType.PARTITION_RESTART, "Running", "PartitionRestart"
    )
    assert items[1].type is OperationType.UNKNOWN
    assert items[1].raw_type == "ChaosThing"


@pytest.mark.parametrize(
    "data",
    [
        {},
        [1],
        [{"OperationId": "x", "State": "Running", "Type": "PartitionRestart"}],
        [{"OperationId": str(OID), "State": "Running"}],
        [{"OperationId": str(OID), "Type": "PartitionRestart"}],
    ],
)
def test_parse_operation_list_rejects_wrong_shapes(data: object) -> None:
    """A non-array or malformed item is a ResponseFormatError."""
    with pytest.raises(ResponseFormatError):
        parse_operation_list(data, json.dumps(data).encode())


def test_filter_masks() -> None:
    """Filters become the spec's bit masks; None means all (65535)."""
    assert filter_mask(None, "f") == 65535
    assert filter_mask(OperationType.PARTITION_RESTART, "f") == 4
    assert filter_mask([OperationState.RUNNING, OperationState.FORCE_CANCELLED], "f") == 65
    with pytest.raises(ValueError, match="at least one"):
        filter_mask([], "f")
    with pytest.raises(ValueError, match="takes members"):
        filter_mask([OperationState.UNKNOWN], "f")
    with pytest.raises(ValueError, match="takes members"):
        filter_mask(["Running"], "f")  # type: ignore[list-item]
