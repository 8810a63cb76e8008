"""``ProgressClient``'s calls of the cluster itself (not of one fault): reads, checks, and SF Chaos.

A base class of :class:`~sf_progress.ProgressClient` (its public methods are the client's;
``tests/test_sync.py`` holds the blocking client to every one of them).
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Iterable
from datetime import datetime

from ._chaos import ChaosParameters, ChaosSchedule, ChaosStatus, confirm, parse_schedule, parse_status
from ._chaos_events import ChaosEvent, follow, parse_segment
from ._config import Clock
from ._errors import ClusterMismatchError, ConflictError, NotFoundError, UnsupportedFaultError
from ._ids import normalize_service_id, to_guid, to_seconds
from ._lever import LEVER_NAME, PROPERTY_PATH, PROPERTY_QUERY, LeverState, lever_body
from ._models import OperationType
from ._preflight import Preflight, manifest_name, raw_body, run_checks
from ._safety.planning import PlannedFault
from ._scenario.validation import Listed, ServiceValidation, validate
from ._selection import select_targets
from ._targets import FaultTarget
from ._wire.auth import AadMetadata
from ._wire.calls import Calls

__all__ = ["ClusterReads"]


class ClusterReads:
    """Reads of the cluster (mixed into ``ProgressClient``, which sets ``_calls`` and ``_endpoint``)."""

    _calls: Calls
    _endpoint: str
    _clock: Clock
    _partition_sizes: dict[uuid.UUID, Listed]  # the partitions' target sizes, as last listed (validate_service)

    async def get_node_instance_id(self, node_name: str, *, timeout: int | None = None) -> str:
        """Read a node's current ``InstanceId`` (``GET /Nodes/{node}``).

        Args:
            node_name: The node's name.
            timeout: This call's server timeout, whole seconds (default: ``server_timeout``).

        Returns:
            The instance id, as a decimal string.

        Raises:
            NotFoundError: The cluster has no such node.
            ResponseFormatError: The answer holds no valid instance id.
        """
        return await self._calls.node_instance_id(node_name, timeout)

    async def prepare(self, target: FaultTarget) -> FaultTarget:
        """Read a verified fault's target and make its choices, sending nothing (its :class:`Baseline`).

        A replica, code-package, move or node-restart fault has no operation in the
        cluster: whether it happened is decided against what its target looked like just
        before the start.  :meth:`start` prepares a target itself; call this first to keep
        that baseline (in a journal, say) before anything is sent, or to see what a fault
        would do (which secondary, which node to move to).  A target of the Fault Analysis
        kinds, or one already prepared, is returned as it is.

        Args:
            target: The fault (:class:`FaultTarget`).

        Returns:
            The same fault (same OperationId) whose ref carries its baseline.

        Raises:
            UnsupportedFaultError: The fault does not apply to its target (a restart of a
                volatile replica, a move to a node that is not up...); the cluster's code is
                its ``code``.
            NotFoundError: The service, partition or node does not exist.
            FabricError: A read failed.
        """
        return await self._calls.prepare(target)

    async def plan(self, targets: Iterable[FaultTarget]) -> list[PlannedFault]:
        """What starting *targets* now would do, sending nothing: each prepared and held to the safety rules.

        Args:
            targets: The faults.

        Returns:
            One :class:`PlannedFault` each, in order: the target as it would be sent (a verified
            fault with its baseline and choices), why it does not apply (``refused``), and the
            safety rules that forbid it now (``forbidden``).

        Raises:
            TypeError: An item that is not a :class:`FaultTarget`.
            TransportError: The gateway could not be reached.
        """
        planned = []
        for target in targets:
            try:
                prepared = await self._calls.prepare(target)
            except (UnsupportedFaultError, NotFoundError) as exc:
                planned.append(PlannedFault(target, refused=str(exc)))
                continue
            found = await self._calls.guard.evaluate(prepared)
            planned.append(PlannedFault(prepared, forbidden=tuple(found)))
        return planned

    async def select_targets(
        self,
        /,
        kind: OperationType | str,
        *,
        service: str | None = None,
        application: str | None = None,
        node_type: str | None = None,
        count: int | None = None,
        seed: int | str | None = None,
        seed_nodes: bool = False,
        **parameters: object,
    ) -> list[FaultTarget]:
        """Pick targets instead of naming them: a service's or an application's partitions, or nodes.

        Partition faults are selected by *service* or *application* (every service of it the
        fault applies to: a move of a primary takes stateful ones, a move of an instance
        stateless ones...); node faults by *node_type*, or among all nodes.  Only ``Up`` nodes
        are picked (stopped ones for a node start), seed nodes only with *seed_nodes*, and
        across fault domains in turn.  The pick is random, the same for the same *seed* and
        cluster.  Nothing is sent but reads; give the result to :meth:`start`, :meth:`plan`
        or a :class:`FaultRun` (whose journal keeps the targets, so a resume faults the same).

        Args:
            kind: The fault kind (an :class:`OperationType` or its short name, ``"restart"``...).
            service: A service's name or id (partition faults).
            application: An application's name or id (partition faults).
            node_type: Only nodes of this type (node faults; default: any).
            count: How many to pick at random (default: every candidate).
            seed: The random pick's seed (an int or a str), for a repeatable pick.
            seed_nodes: Also pick seed nodes (default: never).
            **parameters: The fault's own parameters, as for :meth:`FaultTarget.of` (``mode``,
                ``transition``, ``stop_duration``, ``force``...).

        Returns:
            One :class:`FaultTarget` per pick, each with a new OperationId.

        Raises:
            ValueError: A bad or missing selector or parameter, no candidate, or *count*
                above the candidates (checked before anything is read where it can be).
            UnsupportedFaultError: The fault does not apply to *service*'s kind (a move of a
                primary on a stateless service...).
            NotFoundError: No such service or application.
        """
        return await select_targets(
            self._calls.reads, kind, service=service, application=application, node_type=node_type, count=count,
            seed=seed, seed_nodes=seed_nodes, parameters=parameters,
        )

    async def validate_service(
        self, service: str, *, partitions: Iterable[uuid.UUID | str] = (), timeout: float = 120.0
    ) -> ServiceValidation:
        """Wait until the whole service is healthy and stable, as Service Fabric's own service check judges it.

        The service's health ``Ok``, every partition ``Ready``, and -- for *partitions*, those
        a fault touched -- no replica ``InBuild`` and its replica set back to its target size
        (or the up nodes).  Looks 1 s apart, growing to 5 s; each reads the cheapest leg first
        and stops at the first that fails, so a look costs about 3 requests plus one replica
        read per partition given (``faults-beyond-fas-protocol.md`` §5.6).

        Args:
            service: The service's name or id.
            partitions: The partitions whose replica sets are checked too.
            timeout: Seconds to wait for it at most (the last look is at the timeout).

        Returns:
            The :class:`ServiceValidation`: ``stable``, how long it took, and what was wrong.

        Raises:
            ValueError: A bad service id, partition id or timeout.
            TypeError: A timeout that is not a number of seconds.
            NotFoundError: No such service.
        """
        faulted = [to_guid(p, "partition") for p in partitions]
        seconds = to_seconds(timeout, "timeout", allow_zero=False, finite=True)
        calls = self._calls
        return await validate(calls.target_read, calls.reads, self._clock, normalize_service_id(service), faulted,
                              seconds, self._partition_sizes)

    async def get_aad_metadata(self, *, timeout: int | None = None) -> AadMetadata:
        """Read the cluster's Azure AD settings (``GET /$/GetAadMetadata``, sent anonymously).

        Args:
            timeout: This call's server timeout, whole seconds (default: ``server_timeout``).

        Returns:
            The :class:`AadMetadata` (``None`` fields when the cluster does not use Azure AD).
        """
        return await self._calls.aad_metadata(timeout)

    async def get_cluster_version(self, *, timeout: int | None = None) -> str:
        """Read the cluster's code version (``GET /$/GetClusterVersion``).

        Args:
            timeout: This call's server timeout, whole seconds (default: ``server_timeout``).

        Returns:
            The version string, e.g. ``"9.1.1436.9590"``.
        """
        return await self._calls.cluster_version(timeout)

    async def get_cluster_name(self) -> str | None:
        """Read the cluster's name: its manifest's ``Name`` (``GET /$/GetClusterManifest``).

        Returns:
            The name (``"DevCluster"``...), or ``None`` when the manifest names none.

        Raises:
            ResponseFormatError: The answer holds no cluster manifest.
        """
        return await self._calls.control_read("/$/GetClusterManifest", "", "6.0", manifest_name)

    async def expect_cluster(self, name: str) -> None:
        """Check that the gateway serves the cluster *name* (its manifest's ``Name``).

        Args:
            name: The cluster intended.

        Raises:
            ClusterMismatchError: It serves another (or an unnamed) cluster.
        """
        actual = await self.get_cluster_name()
        if actual != name:
            raise ClusterMismatchError(
                f"{self._endpoint} serves cluster {actual!r}, not {name!r} (--cluster / SF_CLUSTER): nothing was "
                "sent; point the endpoint at the intended cluster",
                expected=name,
                actual=actual,
            )

    async def check(self) -> Preflight:
        """Read whether faults may be injected now: gateway, cluster, services, Chaos, upgrade, health, lever.

        Every read is sent at once, and none raises: what could not be read is said in its check.

        Returns:
            The :class:`Preflight`: one :class:`Check` per fact, and ``allowed`` (faults may go in now).
        """
        calls = self._calls

        async def get(path: str, params: str, version: str) -> bytes:
            return await calls.control_read(path, params, version, raw_body)

        return await run_checks(get, self._endpoint)

    async def get_lever(self) -> LeverState:
        """Read the stop lever (the ``killswitch`` property of ``fabric:/sfprogress/control``).

        Read at most once per 2 s for every start and caller of this client; a lever this
        client engages or releases is read anew.

        Returns:
            The :class:`LeverState`: ``engaged``, and who engaged it, when and why.
        """
        return await self._calls.guard.lever()

    async def engage_lever(self, reason: str | None = None, *, by: str | None = None) -> LeverState:
        """Engage the stop lever: every sf_progress process on this cluster stops starting faults.

        Within one tick (at most 3 s) single starts are refused (:class:`SafetyError`, rule
        ``lever``) and campaigns start nothing more (they wait for what they started).  The
        lever lives in the cluster, so it reaches every machine; writing it needs Admin
        credentials.  Engaging an engaged lever writes the new reason.

        Args:
            reason: Why, in words (shown by :meth:`get_lever`, ``sf-progress lever status`` and
                ``check``); at most 1,000 characters.
            by: Who engages it (default: this process's ``user@host``).

        Returns:
            The lever as read back.

        Raises:
            ValueError: A reason over 1,000 characters (nothing is sent).
            AuthError: The credentials may not write naming properties.
        """
        body = lever_body(reason, by)  # checked before anything is sent
        with contextlib.suppress(ConflictError):  # the name exists already (§6.4, recipe 1)
            await self._calls.control_post("/Names/$/Create", json.dumps({"Name": f"fabric:/{LEVER_NAME}"}).encode())
        await self._calls.control_post(PROPERTY_PATH, body, method="PUT")
        self._calls.guard.forget_lever()
        return await self.get_lever()

    async def release_lever(self) -> LeverState:
        """Release the stop lever: faults may be started again (a released lever stays released).

        Returns:
            The lever as read back.

        Raises:
            AuthError: The credentials may not write naming properties.
        """
        with contextlib.suppress(NotFoundError):  # released already, or its name never made
            await self._calls.control_post(PROPERTY_PATH, None, method="DELETE", params=PROPERTY_QUERY)
        self._calls.guard.forget_lever()
        return await self.get_lever()

    async def get_chaos(self) -> ChaosStatus:
        """Read SF Chaos's status (``GET /Tools/Chaos``).

        Returns:
            The :class:`ChaosStatus` (``running``, ``status``, ``schedule_status``).
        """
        return await self._calls.control_read("/Tools/Chaos", "", "6.2", parse_status)

    async def start_chaos(self, parameters: ChaosParameters | None = None) -> ChaosStatus:
        """Start SF Chaos with *parameters*, and confirm it runs (read back: the call may be answered 200
        without acting).

        Args:
            parameters: How it runs (default: ``ChaosParameters()``: the whole cluster, one fault at a time).

        Returns:
            The status read back, ``Running``.

        Raises:
            BadRequestError: Chaos is already running (``FABRIC_E_CHAOS_ALREADY_RUNNING``), or the
                cluster refused a parameter.
            ChaosStateError: The start was answered but did not take.
            TypeError: *parameters* is not a :class:`ChaosParameters`.
        """
        parameters = ChaosParameters() if parameters is None else parameters
        if not isinstance(parameters, ChaosParameters):
            raise TypeError(f"parameters must be a ChaosParameters, not {type(parameters).__name__}")
        await self._calls.control_post("/Tools/Chaos/$/Start", json.dumps(parameters.as_body()).encode())
        return await confirm(self.get_chaos, self._clock.sleep, "Running", "start")

    async def stop_chaos(self) -> ChaosStatus:
        """Stop SF Chaos (faults already under way finish), and confirm it stopped.

        Returns:
            The status read back, ``Stopped`` (stopping a stopped Chaos does nothing).

        Raises:
            ChaosStateError: The stop was answered but did not take.
        """
        await self._calls.control_post("/Tools/Chaos/$/Stop", None)
        return await confirm(self.get_chaos, self._clock.sleep, "Stopped", "stop")

    async def get_chaos_schedule(self) -> ChaosSchedule:
        """Read Chaos's schedule (``GET /Tools/Chaos/Schedule``).

        Returns:
            The :class:`ChaosSchedule`, with the ``version`` a new one must name.
        """
        return await self._calls.control_read("/Tools/Chaos/Schedule", "", "6.2", parse_schedule)

    async def set_chaos_schedule(self, schedule: ChaosSchedule, *, version: int | None = None) -> ChaosSchedule:
        """Set Chaos's schedule, and read it back.

        Args:
            schedule: The new schedule.
            version: The version it replaces (default: read now; a stale one is refused by the cluster).

        Returns:
            The schedule read back (its ``version`` one more).

        Raises:
            BadRequestError: A version that is not the cluster's, or Chaos running
                (``FABRIC_E_CHAOS_ALREADY_RUNNING``).
            TypeError: *schedule* is not a :class:`ChaosSchedule`.
        """
        if not isinstance(schedule, ChaosSchedule):
            raise TypeError(f"schedule must be a ChaosSchedule, not {type(schedule).__name__}")
        current = (await self.get_chaos_schedule()).version if version is None else version
        body = {**schedule.as_body(), "Version": current}
        await self._calls.control_post("/Tools/Chaos/Schedule", json.dumps(body).encode(), version="6.2")
        return await self.get_chaos_schedule()

    def chaos_events(
        self, since: datetime | None = None, *, until: str = "stopped", page: int = 500
    ) -> AsyncIterator[ChaosEvent]:
        """Follow SF Chaos's events: each once, in time order, across pages, typed.

        Args:
            since: From when (aware, or naive UTC); ``None``: from the current (or last) run's
                ``Started`` event.
            until: ``"stopped"``: end after the run's ``Stopped`` event; ``"now"``: end once
                caught up with what the cluster has; ``"never"``: follow until cancelled.
            page: Events per request at most (``MaxResults``), 1..100,000.

        Returns:
            An async iterator of :class:`ChaosEvent` (``async for event in client.chaos_events():``).

        Raises:
            TypeError: *since* is not a ``datetime``.
            ValueError: A bad *page* or *until*.
        """
        if since is not None and not isinstance(since, datetime):
            raise TypeError(f"since must be a datetime or None, not {type(since).__name__}")
        if type(page) is not int or not 1 <= page <= 100_000:
            raise ValueError(f"page must be an int in 1..100000, got {page!r}")
        if until not in ("stopped", "now", "never"):
            raise ValueError(f"until must be 'stopped', 'now' or 'never', got {until!r}")
        calls = self._calls

        async def read(params: str) -> tuple[str, list[ChaosEvent]]:
            return await calls.control_read("/Tools/Chaos/Events", params, "6.2", parse_segment)

        return follow(read, self._clock.sleep, since, until=until, page=page)
