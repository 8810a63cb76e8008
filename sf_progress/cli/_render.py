"""How progress and operations look on the command line: JSON records and short text."""

from __future__ import annotations

import uuid
from typing import Any

import attrs

from .. import FaultProgress, OperationRef, OperationType, Outcome, Recovery, RunResult, hresult_name


def kind_of(name: str) -> OperationType:
    """The kind a ``--type`` value or a ``type`` field names (``ValueError`` if none)."""
    return OperationType.named(name)


def ref_record(ref: OperationRef) -> dict[str, Any]:
    """The fields that name an operation in a result line (readable back by ``watch --from``)."""
    record: dict[str, Any] = {"type": ref.kind.short_name}
    if ref.node_name is not None:
        record["node_name"] = ref.node_name
    else:
        record["service_id"] = ref.service_id
        record["partition_id"] = str(ref.partition_id)
    record["operation_id"] = str(ref.operation_id)
    if ref.baseline is not None:  # a verified fault: what its target looked like, to watch it by
        record["baseline"] = ref.baseline.as_dict()
    return record


def outcome_record(outcome: Outcome) -> dict[str, Any]:
    """One finished operation as a result line (``watch``, the start commands)."""
    progress = outcome.progress
    return {
        "event": "finished",
        **ref_record(outcome.ref),
        "kind": outcome.kind.value,
        "state": None if progress is None else progress.raw_state,
        "error_code": None if progress is None else progress.error_code,
        "error_name": None if progress is None else progress.error_name,
        "error": None if outcome.error is None else str(outcome.error),
        "polls": outcome.polls,
        "elapsed_s": round(outcome.elapsed, 3),
        **_recovery_fields(outcome.recovery),
    }


def _recovery_fields(recovery: Recovery | None) -> dict[str, Any]:
    """``recovered`` and ``recovery_s`` (and why not) when recovery was waited for."""
    if recovery is None:
        return {}
    fields: dict[str, Any] = {"recovered": recovery.recovered, "recovery_s": round(recovery.elapsed, 3)}
    if recovery.reason is not None:
        fields["recovery_reason"] = recovery.reason
    return fields


def result_record(result: RunResult) -> dict[str, Any]:
    """One target of a journaled run as a result line (the same shape as :func:`outcome_record`)."""
    return {
        "event": "finished",
        **ref_record(result.ref),
        "kind": result.outcome.value,
        "state": None if result.state is None else result.state.value,
        "error_code": result.error_code,
        "error_name": hresult_name(result.error_code),
        "error": result.error,
        "polls": result.polls,
        "elapsed_s": round(result.elapsed, 3),
        **_recovery_fields(result.recovery),
        **({} if result.reason is None else {"reason": result.reason.value}),
    }


def _plain(_: object, __: object, value: Any) -> Any:
    return str(value) if isinstance(value, uuid.UUID) else value


def progress_json(progress: FaultProgress) -> dict[str, Any]:
    """``{"state": ..., "<result field>": {...} | None}``, field names as in the SDK."""
    result_field = attrs.fields(type(progress))[1].name  # type: ignore[arg-type]
    result = progress.result
    return {
        "state": progress.raw_state,
        result_field: None if result is None else attrs.asdict(result, value_serializer=_plain),
    }


def progress_text(progress: FaultProgress) -> str:
    line = progress.raw_state
    result = progress.result
    if result is not None:
        name = progress.error_name
        line += f" (error code {result.error_code}{', ' + name if name else ''})"
        partition = getattr(result, "selected_partition", None)
        node = getattr(result, "node_result", None)
        if partition is not None:
            line += f"\n  service   {partition.service_name}\n  partition {partition.partition_id}"
        if node is not None:
            line += f"\n  node      {node.node_name}\n  instance  {node.node_instance_id}"
    return line


__all__ = [
    "kind_of",
    "outcome_record",
    "progress_json",
    "progress_text",
    "ref_record",
    "result_record",
]
