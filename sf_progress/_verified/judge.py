"""Whether a verified fault's effect is seen: one read of its target, judged against its baseline.

What "done" means per kind (``faults-beyond-fas-protocol.md`` §1.4, §2.3, §3.3, §4):

- replica restart (persisted): the replica seen not ``Ready``, or in another role, after
  the start (REST shows no restart counter, and the id stays).  A restart too quick to be
  seen ends once ``SETTLE`` seconds passed with the replica and all of its partition
  ``Ready`` again -- the signal says so;
- replica removal: the old id gone and a replica with a larger id (the new one) built;
- code-package restart: the same entry point ``Started`` on a larger instance id;
- primary move: the ``Primary`` on the destination node;
- secondary or instance move: nothing of the partition left on the source node, and a
  ``Ready`` replica on the destination;
- node restart: the node ``Up`` on a numerically larger InstanceId.
"""

from __future__ import annotations

import collections
import uuid
from collections.abc import Callable

from .._baseline import Baseline
from .._errors import NotFoundError, SFProgressError
from .._models import OperationRef, OperationState, OperationType
from .._progress import Verification, VerifiedProgress
from . import FALLBACK, UNREAD
from .hints import Hint, Hints
from .reads import Hosting, Replica, TargetReads

__all__ = ["SETTLE", "Verifier"]

#: Seconds after which a persisted replica's restart that was never seen is taken as done
#: once the replica and its partition are all Ready (the restart was quicker than the reads).
SETTLE = 15.0
_FIRST_SEEN = 100_000
RUNNING = VerifiedProgress(OperationState.RUNNING)


def _done(signal: str, after: Baseline | None = None) -> VerifiedProgress:
    return VerifiedProgress(OperationState.COMPLETED, Verification(0, signal, after))


def _larger(new: str | None, old: str | None) -> bool:
    try:
        return new is not None and old is not None and int(new) > int(old)
    except ValueError:
        return False


class _Memo:
    """What a wait remembers of one fault's reads: when it was last read, how often, the hint then."""

    __slots__ = ("at", "hint", "reads", "service")

    def __init__(self, at: float, hint: Hint | None, service: str | None) -> None:
        self.at, self.hint, self.reads, self.service = at, hint, 0, service


class Verifier:
    """One client's verification reads (``get_progress`` and the waits of a verified kind), paced by ``Hints``."""

    def __init__(self, reads: TargetReads, clock: Callable[[], float]) -> None:
        self.reads, self.clock = reads, clock
        self.hints = Hints(reads, clock)
        self.first_seen: dict[uuid.UUID, float] = {}  # when each fault was first read (for SETTLE)
        self.memos: dict[uuid.UUID, _Memo] = {}
        self.interest: collections.Counter[str] = collections.Counter()  # faults remembered per service

    async def seed(self, ref: OperationRef) -> None:
        """Just before *ref*'s start is sent: its partition's hint now, so a wait reads it only once that changes."""
        try:
            hint = await self._hint(ref)
        except SFProgressError:
            hint = None  # no hint: the wait reads the target on its own schedule
        self._remember(ref, _Memo(self.clock(), hint, ref.service_id))

    async def read(self, ref: OperationRef, *, waiting: bool = False, final: bool = False) -> VerifiedProgress:
        """Judge *ref*'s target against its baseline: read it, or say ``Running`` when nothing says it changed.

        *waiting*: the read is a wait's, on a fault known to be sent.  Only then is the
        target's own read skipped while its hint is unchanged (or, without a hint, until its
        next read is due), and only then may a replica restart never seen end once settled
        (a lone read -- a resumed run asking whether a start went out -- must not take
        "nothing seen" for "done").  *final*: the wait's last read (at its deadline): always sent.
        """
        baseline = ref.baseline
        if baseline is None:
            raise ValueError(
                f"{ref} carries no baseline: the ref that ProgressClient.start (or prepare) returned is needed "
                "to verify it (a journal keeps it)"
            )
        if ref.kind is OperationType.NODE_RESTART:
            return await self._node(ref, baseline, waiting and not final)
        if not waiting or final:
            return await self._direct(ref, baseline, waiting)
        now = self.clock()
        hint = await self._hint(ref)
        memo = self.memos.get(ref.operation_id)
        if memo is not None:
            if hint is not None and memo.hint is not None:
                if hint == memo.hint and now - memo.at < FALLBACK:
                    return UNREAD  # its partition did not change: nothing to read
            elif now - memo.at < min(1.5 ** memo.reads, FALLBACK):
                return UNREAD  # no hint: read on its own schedule
        progress = await self._direct(ref, baseline, waiting)
        if progress.state is OperationState.RUNNING:
            fresh = _Memo(now, hint, ref.service_id)
            fresh.reads = 1 if memo is None else memo.reads + 1
            self._remember(ref, fresh)
        else:
            self._forget(ref)
        return progress

    async def _hint(self, ref: OperationRef) -> Hint | None:
        if ref.kind is OperationType.CODE_PACKAGE_RESTART or ref.service_id is None or ref.partition_id is None:
            return None
        if self.interest[ref.service_id] < self.hints.pages(ref.service_id):
            return None  # fewer faults on this service than pages in its list: their own reads cost less
        return await self.hints.partition(ref.service_id, ref.partition_id, ref)

    def _remember(self, ref: OperationRef, memo: _Memo) -> None:
        if self.memos.pop(ref.operation_id, None) is None and memo.service is not None:
            self.interest[memo.service] += 1  # (a ref remembered again keeps its service: counted once)
        self.memos[ref.operation_id] = memo
        if len(self.memos) > _FIRST_SEEN:
            self._uncount(self.memos.pop(next(iter(self.memos))))

    def _forget(self, ref: OperationRef) -> None:
        memo = self.memos.pop(ref.operation_id, None)
        if memo is not None:
            self._uncount(memo)

    def _uncount(self, memo: _Memo) -> None:
        if memo.service is not None:
            self.interest[memo.service] -= 1
            if self.interest[memo.service] <= 0:
                del self.interest[memo.service]

    async def _node(self, ref: OperationRef, baseline: Baseline, shared: bool) -> VerifiedProgress:
        assert ref.node_name is not None
        node = await self.hints.node(ref.node_name, ref) if shared else None
        if node is None:
            node = await self.reads.node(ref.node_name, ref)
        if node.status == "Up" and _larger(node.instance_id, baseline.instance_id):
            after = Baseline(node_name=node.name, status=node.status, instance_id=node.instance_id)
            return _done(f"node {node.name} Up on instance {node.instance_id} (was {baseline.instance_id})", after)
        return RUNNING

    async def _direct(self, ref: OperationRef, baseline: Baseline, waiting: bool) -> VerifiedProgress:
        """One read of the target itself, judged."""
        kind = ref.kind
        if kind is OperationType.CODE_PACKAGE_RESTART:
            return await self._code_package(ref, baseline)
        assert ref.partition_id is not None
        replicas = await self.reads.replicas(ref.partition_id, ref)
        if kind is OperationType.REPLICA_RESTART:
            return self._restart(ref, baseline, replicas, waiting)
        if kind is OperationType.REPLICA_REMOVE:
            return _removed(baseline, replicas)
        if kind is OperationType.PRIMARY_MOVE:
            primary = next((r for r in replicas if r.role == "Primary"), None)
            if primary is not None and primary.node == baseline.to_node:
                return _done(f"primary {primary.id} on {primary.node} (was on {baseline.node_name})", _view(primary))
            return RUNNING
        return _moved(baseline, replicas)

    def _restart(
        self, ref: OperationRef, baseline: Baseline, replicas: list[Replica], waiting: bool
    ) -> VerifiedProgress:
        now = self.clock()
        first = self.first_seen.setdefault(ref.operation_id, now) if waiting else now
        if len(self.first_seen) > _FIRST_SEEN:
            del self.first_seen[next(iter(self.first_seen))]
        mine = next((r for r in replicas if r.id == baseline.replica_id), None)
        if mine is None:
            return _done(f"replica {baseline.replica_id} gone after the restart")
        if mine.status != "Ready":
            return _done(f"replica {mine.id} {mine.status} after the restart", _view(mine))
        if baseline.role is not None and mine.role != baseline.role:
            return _done(f"replica {mine.id} {mine.role} after the restart (was {baseline.role})", _view(mine))
        if waiting and now - first >= SETTLE and all(r.status == "Ready" for r in replicas):
            self.first_seen.pop(ref.operation_id, None)
            return _done(
                f"no restart seen within {SETTLE:g}s; replica {mine.id} and its partition Ready "
                "(taken as a restart quicker than the reads)",
                _view(mine),
            )
        return RUNNING

    async def _code_package(self, ref: OperationRef, baseline: Baseline) -> VerifiedProgress:
        assert baseline.node_name is not None
        assert baseline.application_id is not None
        hosting = Hosting(baseline.service_manifest or "", baseline.code_package or "", baseline.activation_id or "")
        try:
            entry = await self.reads.code_package(baseline.node_name, baseline.application_id, hosting, ref)
        except NotFoundError as exc:
            if exc.code == "FABRIC_E_CODE_PACKAGE_NOT_FOUND":
                return RUNNING  # between its stop and its new start
            raise
        if entry.status == "Started" and _larger(entry.instance_id, baseline.instance_id):
            after = Baseline(node_name=baseline.node_name, instance_id=entry.instance_id, status=entry.status)
            return _done(
                f"code package {hosting.code_package} on {baseline.node_name} Started on instance "
                f"{entry.instance_id} (was {baseline.instance_id})",
                after,
            )
        return RUNNING


def _view(replica: Replica) -> Baseline:
    return Baseline(replica_id=replica.id, node_name=replica.node, role=replica.role or None, status=replica.status)


def _removed(baseline: Baseline, replicas: list[Replica]) -> VerifiedProgress:
    if any(r.id == baseline.replica_id and r.status != "Dropped" for r in replicas):
        return RUNNING
    new = [r for r in replicas if _larger(r.id, baseline.replica_id) and r.status in ("InBuild", "Ready")]
    if not new:
        return RUNNING  # gone, and no replacement built yet
    built = max(new, key=lambda r: int(r.id))
    return _done(f"replica {baseline.replica_id} gone; replica {built.id} {built.status} on {built.node}", _view(built))


def _moved(baseline: Baseline, replicas: list[Replica]) -> VerifiedProgress:
    left = [r for r in replicas if r.node == baseline.node_name and r.status != "Dropped"]
    arrived = next((r for r in replicas if r.node == baseline.to_node and r.status == "Ready"), None)
    if left or arrived is None:
        return RUNNING
    return _done(f"replica {arrived.id} Ready on {arrived.node}; none left on {baseline.node_name}", _view(arrived))
