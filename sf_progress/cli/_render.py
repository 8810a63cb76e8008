"""How progress and operations look on the command line: JSON records and short text."""

from __future__ import annotations

import uuid
from typing import Any

import attrs

from .. import FaultProgress, OperationType
from .._kinds import KIND_BY_CLI_NAME, KINDS
from .._run import ref_record

#: ``--type`` spellings and the wire names a ``type`` field may also use.
TYPE_NAMES = {**KIND_BY_CLI_NAME, **{kind.value: kind for kind in KINDS}}


def kind_of(name: str) -> OperationType:
    """The kind a ``--type`` value or a ``type`` field names (``ValueError`` if none)."""
    kind = TYPE_NAMES.get(name.strip())
    if kind is None:
        raise ValueError(f"unknown type {name!r}: use one of {', '.join(KIND_BY_CLI_NAME)}")
    return kind


def cli_name(kind: OperationType) -> str:
    return KINDS[kind].cli_name


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
        line += f" (error code {result.error_code})"
        partition = getattr(result, "selected_partition", None)
        node = getattr(result, "node_result", None)
        if partition is not None:
            line += f"\n  service   {partition.service_name}\n  partition {partition.partition_id}"
        if node is not None:
            line += f"\n  node      {node.node_name}\n  instance  {node.node_instance_id}"
    return line


__all__ = ["TYPE_NAMES", "cli_name", "kind_of", "progress_json", "progress_text", "ref_record"]
