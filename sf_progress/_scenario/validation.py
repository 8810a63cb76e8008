"""Is the whole service stable?  Service Fabric's own per-service check, paced and narrowed.

``faults-beyond-fas-protocol.md`` §5.6 and ``health-and-chaos-protocol.md`` §7.2: the service's
health (``GET /Services/{id}/$/GetHealth``, unhealthy partitions only) must be ``Ok``, every
partition of its list (paged) ``Ready``, and -- only for the partitions a fault touched, since
no call lists replicas service-wide -- no replica ``InBuild`` and at least min(target size, up
nodes) ``Ready`` replicas (``Primary``/``ActiveSecondary``) or instances.

One look reads the cheapest leg first and stops at the first that fails: the faulted
partitions' replicas (their target sizes known from an earlier list), then the partition list,
then the health.  Looks that stop at a faulted partition's replicas (one request each) are 1 s
apart; looks at the whole service grow apart by half, up to 5 s (the runtime's own check waits
5 s), until the stabilisation timeout.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

import attrs

from .._config import Clock
from .._errors import ResponseFormatError, SFProgressError
from .._ids import encode_service_id, normalize_service_id
from .._models import OperationRef
from .._verified.reads import ListedPartition, TargetReads, parse_partition_list
from .._wire.parsing import decode_json

__all__ = ["ServiceValidation", "validate"]

#: ``get(path, params, parse, ref, version)``: one GET of the cluster, retried like every read.
Get = Callable[..., Awaitable[Any]]
Listed = ListedPartition
FIRST_LOOK, MAX_LOOK = 1.0, 5.0


@attrs.frozen
class ServiceValidation:
    """What :meth:`ProgressClient.validate_service` found.

    Attributes:
        stable: Whether the service was healthy and stable before the timeout.
        seconds: How long it took to find it so (or the timeout, when it was not).
        looks: How many looks it took.
        evidence: What was wrong at the last look that failed (empty when the first look
            found the service stable): the cluster's unhealthy evaluations, partitions not
            ``Ready``, replica sets short or in build.
    """

    stable: bool
    seconds: float
    looks: int
    evidence: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """The validation as plain JSON.

        Returns:
            ``stable``, ``seconds``, ``looks``, ``evidence``.
        """
        return {"stable": self.stable, "seconds": round(self.seconds, 3), "looks": self.looks,
                "evidence": list(self.evidence)}


def _evaluations(body: bytes, ref: OperationRef | None) -> tuple[str, list[str]]:
    """The service's ``AggregatedHealthState`` and, flattened, what its unhealthy evaluations say."""
    data = decode_json(body, ref)
    if not isinstance(data, dict) or not isinstance(data.get("AggregatedHealthState"), str):
        raise ResponseFormatError("expected a ServiceHealth", body=body, ref=ref)
    said: list[str] = []

    def walk(wrappers: object, depth: int) -> None:
        for wrapper in wrappers if isinstance(wrappers, list) else []:
            evaluation = wrapper.get("HealthEvaluation") if isinstance(wrapper, dict) else None
            if isinstance(evaluation, dict) and depth < 6 and len(said) < 50:
                text = evaluation.get("Description") or evaluation.get("Kind")
                said.append(f"{evaluation.get('AggregatedHealthState', '?')}: {text}")
                walk(evaluation.get("UnhealthyEvaluations"), depth + 1)

    walk(data.get("UnhealthyEvaluations"), 0)
    return data["AggregatedHealthState"], said


class _Look:
    """One validation's state: the sizes known, the faulted partitions not yet seen stable."""

    def __init__(self, get: Get, reads: TargetReads, service_id: str, faulted: set[uuid.UUID],
                 sizes: MutableMapping[uuid.UUID, Listed]) -> None:
        self.get, self.reads, self.service_id, self.pending, self.sizes = get, reads, service_id, faulted, sizes
        self.up_nodes: int | None = None

    async def once(self) -> tuple[list[str], bool]:
        """What is wrong now (empty: stable), and whether only a faulted partition's replicas were read."""
        if any(pid not in self.sizes for pid in self.pending):
            problems = await self.partitions()
            if problems:
                return problems, False
        for pid in sorted(self.pending):
            problem = await self.replicas(pid)
            if problem:
                return [problem], True
            self.pending.discard(pid)
        problems = await self.partitions()
        return problems or await self.health(), False

    async def partitions(self) -> list[str]:
        encoded = encode_service_id(self.service_id)
        pages = await self.reads.pages(f"/Services/{encoded}/$/GetPartitions", parse_partition_list, None, "6.4")
        listed = {pid: item for page in pages for pid, item in page.items()}
        self.sizes.update(listed)
        return [f"partition {pid} is {item.status}, not Ready" for pid, item in sorted(listed.items())
                if item.status != "Ready"][:20]

    async def replicas(self, pid: uuid.UUID) -> str | None:
        known = self.sizes.get(pid)
        stateful, target = (True, None) if known is None else (known.stateful, known.target)
        replicas = await self.reads.replicas(pid, None)
        building = [r.id for r in replicas if r.status == "InBuild"]
        if stateful and building:
            return f"partition {pid}: replica {building[0]} is InBuild"
        ready = sum(1 for r in replicas if r.status == "Ready" and (not stateful or r.role in (
            "Primary", "ActiveSecondary")))
        expected = target
        if expected is None or ready < expected:  # the up nodes bound it (-1: an instance on every up node)
            if self.up_nodes is None:
                self.up_nodes = sum(1 for n in await self.reads.nodes(None) if n.status == "Up")
            expected = self.up_nodes if expected is None else min(expected, self.up_nodes)
        if ready < expected:
            return f"partition {pid} is not yet stable: {ready}/{expected} replicas online"
        return None

    async def health(self) -> list[str]:
        state, said = await self.get(f"/Services/{encode_service_id(self.service_id)}/$/GetHealth",
                                     "EventsHealthStateFilter=12&PartitionsHealthStateFilter=12", _evaluations, None)
        if state == "Ok":
            return []
        return [f"service health is {state}", *said]


async def validate(
    get: Get,
    reads: TargetReads,
    clock: Clock,
    service: str,
    faulted: Iterable[uuid.UUID],
    timeout: float,
    sizes: MutableMapping[uuid.UUID, Listed],
) -> ServiceValidation:
    """Look until the service is stable or *timeout* seconds passed (see the module)."""
    look = _Look(get, reads, normalize_service_id(service), set(faulted), sizes)
    began = clock.monotonic()
    pause, looks = FIRST_LOOK, 0
    while True:
        looks += 1
        try:
            problems, cheap = await look.once()
        except SFProgressError as exc:  # a read that failed past its retries: not stable yet, look again
            if not exc.transient:
                raise
            problems, cheap = [f"the service could not be read: {exc}"], False
        elapsed = clock.monotonic() - began
        if not problems:
            return ServiceValidation(True, elapsed, looks)
        if elapsed >= timeout:
            if not problems[0].startswith("service health"):  # the cluster's own words, as evidence
                with contextlib.suppress(SFProgressError):
                    problems += [p for p in await look.health() if p not in problems]
            return ServiceValidation(False, elapsed, looks, tuple(problems))
        await clock.sleep(min(pause, timeout - elapsed))  # the last look at the timeout itself
        # A look that read one partition's replicas costs one request: 1 s apart; looks at the
        # whole service (its list, its health) grow apart, up to 5 s.
        pause = FIRST_LOOK if cheap else min(MAX_LOOK, pause * 1.5)
