"""Shared reads that tell many verified faults at once whether their target changed.

Reading each partition's replicas once per fault per tick costs the cluster a request per
fault per tick.  Two reads cover many targets at once instead, each sent at most once per
``TICK`` for all the faults a client waits on (and shared while in flight):

- a service's partition list (``GET /Services/{s}/$/GetPartitions``, paged): each stateful
  partition's ``PartitionStatus`` and epoch (``ConfigurationVersion``, ``DataLossVersion``).
  A replica down, removed, built or moved, a primary changed: each is a reconfiguration,
  and the epoch says so.  A fault's own replicas are read only when its partition's hint
  changed since its last read (or, as a floor, every ``FALLBACK`` seconds);
- the node list (``GET /Nodes``, paged): every node's status and InstanceId, which is all a
  node restart is verified by.

A partition without a hint (stateless: no epoch) or a code package is read on its own
schedule instead: 1 s after the start, each next read 1.5 times later, up to ``FALLBACK``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from .._ids import encode_service_id
from .._models import OperationRef
from .._ticked import TickCache
from . import FALLBACK, TICK
from .reads import NODE_LIST_VERSION, NodeView, TargetReads, parse_node_page, parse_partition_list

__all__ = ["FALLBACK", "TICK", "Hints"]

_LIST_VERSION = "6.4"

Hint = tuple[str, str]  # (PartitionStatus, the epoch as text)


def parse_partition_page(body: bytes, ref: OperationRef | None) -> tuple[dict[uuid.UUID, Hint | None], str]:
    """One page of a service's partitions: each partition's hint (``None`` without an epoch), and the token."""
    listed, token = parse_partition_list(body, ref)
    return {pid: None if p.epoch is None else (p.status, p.epoch) for pid, p in listed.items()}, token


class Hints:
    """A client's shared hint reads (partition lists per service, the node list)."""

    def __init__(self, reads: TargetReads, clock: Callable[[], float]) -> None:
        self.reads, self.clock = reads, clock
        self.lists = TickCache(clock, TICK)
        self.page_counts: dict[str, int] = {}  # pages of each service's list, as last read
        self.requests = 0  # list pages read (for tests and benchmarks)

    def pages(self, service_id: str) -> int:
        """How many pages the service's partition list took when last read (1 before it is read)."""
        return self.page_counts.get(service_id, 1)

    async def partition(self, service_id: str, partition_id: uuid.UUID, ref: OperationRef | None) -> Hint | None:
        """The partition's hint now (at most ``TICK`` old); ``None`` when it has none (stateless, not listed)."""
        hints = await self.lists.get(f"s:{service_id}", lambda: self._partitions(service_id, ref))
        found: Hint | None = hints.get(partition_id)
        return found

    async def node(self, name: str, ref: OperationRef | None) -> NodeView | None:
        """The node as listed now (at most ``TICK`` old), or ``None`` when the list does not show it."""
        nodes = await self.lists.get("nodes", lambda: self._nodes(ref))
        found: NodeView | None = nodes.get(name)
        return found

    async def _partitions(self, service_id: str, ref: OperationRef | None) -> dict[uuid.UUID, Hint | None]:
        path = f"/Services/{encode_service_id(service_id)}/$/GetPartitions"
        pages = await self.reads.pages(path, parse_partition_page, ref, _LIST_VERSION)
        self.requests += len(pages)
        self.page_counts[service_id] = len(pages)
        return {pid: hint for page in pages for pid, hint in page.items()}

    async def _nodes(self, ref: OperationRef | None) -> dict[str, NodeView]:
        pages = await self.reads.pages("/Nodes", parse_node_page, ref, NODE_LIST_VERSION)
        self.requests += len(pages)
        return {node.name: node for page in pages for node in page}
