"""The start call of each verified kind (``faults-beyond-fas-protocol.md`` §1.1, §2.2, §3.1, §4).

Each answers 200 with an empty body.  None is idempotent, so a retried request that meets
the answer a duplicate gets (the replica already closing or gone, the instance id already
changed, the primary already there) means our earlier try landed: it counts as sent.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from urllib.parse import quote

from .._baseline import Baseline
from .._errors import FabricError
from .._ids import encode_service_id
from .._models import OperationRef, OperationType
from .._targets import FaultTarget
from .specs import ReplicaRemoveSpec

__all__ = ["Post", "duplicate", "send"]

#: ``post(path, params, body, version, ref)``: one POST, retried on transient failures.
Post = Callable[[str, str, "bytes | None", str, OperationRef], Awaitable[None]]

#: The answers a retry of our own landed request gets, per kind (its error codes).
_DUPLICATE = {
    OperationType.REPLICA_RESTART: {"FABRIC_E_INVALID_REPLICA_STATE"},
    OperationType.REPLICA_REMOVE: {"FABRIC_E_REPLICA_DOES_NOT_EXIST"},
    OperationType.CODE_PACKAGE_RESTART: {"FABRIC_E_INSTANCE_ID_MISMATCH", "FABRIC_E_CODE_PACKAGE_NOT_FOUND"},
    OperationType.PRIMARY_MOVE: {"FABRIC_E_PRIMARY_ALREADY_EXISTS"},
    OperationType.SECONDARY_MOVE: {"FABRIC_E_SECONDARY_ALREADY_EXISTS", "FABRIC_E_REPLICA_DOES_NOT_EXIST"},
    OperationType.INSTANCE_MOVE: {"FABRIC_E_SECONDARY_ALREADY_EXISTS", "FABRIC_E_REPLICA_DOES_NOT_EXIST"},
    OperationType.NODE_RESTART: {"FABRIC_E_INSTANCE_ID_MISMATCH", "FABRIC_E_INVALID_ADDRESS"},
}
_MOVE_VERSION, _INSTANCE_MOVE_VERSION, _VERSION = "6.5", "8.0", "6.0"


def duplicate(kind: OperationType, code: str | None) -> bool:
    """Whether *code* is what a second start of a *kind* fault meets once the first took effect."""
    return code in _DUPLICATE.get(kind, ())


async def send(post: Post, target: FaultTarget) -> None:
    """Send *target*'s start (it carries its baseline: ``prepare`` ran)."""
    ref, baseline = target.ref, target.baseline
    assert baseline is not None
    path, params, body, version = _request(target, ref, baseline)
    try:
        await post(path, params, body, version, ref)
    except FabricError as exc:
        if not (exc.retried and duplicate(ref.kind, exc.code)):
            raise


def _request(target: FaultTarget, ref: OperationRef, b: Baseline) -> tuple[str, str, bytes | None, str]:
    kind = ref.kind
    if kind is OperationType.NODE_RESTART:
        assert ref.node_name is not None
        body = {"NodeInstanceId": b.instance_id, "CreateFabricDump": "False"}
        return f"/Nodes/{encode_service_id(ref.node_name)}/$/Restart", "", json.dumps(body).encode(), _VERSION
    assert ref.service_id is not None
    assert ref.partition_id is not None
    assert b.node_name is not None
    node, pid = encode_service_id(b.node_name), ref.partition_id
    if kind in (OperationType.REPLICA_RESTART, OperationType.REPLICA_REMOVE):
        action = "Restart" if kind is OperationType.REPLICA_RESTART else "Delete"
        force = isinstance(target.spec, ReplicaRemoveSpec) and target.spec.force
        path = f"/Nodes/{node}/$/GetPartitions/{pid}/$/GetReplicas/{b.replica_id}/$/{action}"
        return path, "ForceRemove=true" if force else "", None, _VERSION
    if kind is OperationType.CODE_PACKAGE_RESTART:
        assert b.application_id is not None
        body = {
            "ServiceManifestName": b.service_manifest,
            "ServicePackageActivationId": b.activation_id or "",
            "CodePackageName": b.code_package,
            "CodePackageInstanceId": b.instance_id,
        }
        path = f"/Nodes/{node}/$/GetApplications/{encode_service_id(b.application_id)}/$/GetCodePackages/$/Restart"
        return path, "", json.dumps(body).encode(), _VERSION
    assert b.to_node is not None
    to = quote(b.to_node, safe="")
    if kind is OperationType.PRIMARY_MOVE:
        return f"/Partitions/{pid}/$/MovePrimaryReplica", f"NodeName={to}&IgnoreConstraints=false", None, _MOVE_VERSION
    moves = f"CurrentNodeName={quote(b.node_name, safe='')}&NewNodeName={to}&IgnoreConstraints=false"
    if kind is OperationType.SECONDARY_MOVE:
        return f"/Partitions/{pid}/$/MoveSecondaryReplica", moves, None, _MOVE_VERSION
    path = f"/Services/{encode_service_id(ref.service_id)}/$/GetPartitions/{pid}/$/MoveInstance"
    return path, moves, None, _INSTANCE_MOVE_VERSION
