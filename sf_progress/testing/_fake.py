"""``FakeCluster``: a real aiohttp.web server on loopback that speaks the Faults REST API.

It follows the wire facts of ``sf-rest-api.md`` §7: literal ``$`` segments, case-sensitive
query names where the first occurrence wins, lookup of progress by OperationId alone,
FabricError bodies whose code is also the HTTP reason phrase, 409 on a duplicate start,
404 for unknown ids, 400 ``E_INVALIDARG`` for bad arguments, enums as integers below
api-version 3.0.  Operations follow scripts; faults are injected on demand.
"""

from __future__ import annotations

import asyncio
import collections
import re
import ssl
import uuid
from collections.abc import Callable, Iterable
from types import TracebackType

from aiohttp import web

from .._config import monotonic
from .._models import OperationRef, OperationState, OperationType
from ._answers import Answer as _Answer
from ._answers import invalid as _invalid
from ._control import CONTROL_ROUTE, FAS_MISSING, ControlPlane
from ._injecting import InjectsFaults
from ._replicas import VERIFIED_ROUTES, Layouts
from ._scripts import FakeOperation, Injected, Script
from ._starts import QUORUM_LOSS_MODES, read_start, validated
from ._targets import Targets, node_name
from ._wire import (
    BUSY,
    DEFAULT_NODES,
    KIND_OF_ACTION,
    MODES,
    NODE_PATH,
    PARTITION_PATH,
    ROUTES,
    UNSUPPORTED_CODES,
    WRONG_KIND_CODE,
    api_version,
    fabric_errors_only,
    guid,
    list_items,
    operation_id,
    parse_query,
    strict_unquote,
    truncated,
)

Planner = Callable[[OperationRef], Script]

__all__ = ["ROUTES", "FakeCluster"]

_FIXED_ROUTES = {"/": "root", "/$/GetClusterVersion": "version", "/$/GetAadMetadata": "aad", "/Faults/": "list",
                 "/Faults": "list", "/Faults/$/Cancel": "cancel"}


class FakeCluster(InjectsFaults):
    """A Service Fabric HTTP gateway with a Fault Analysis Service, on 127.0.0.1.

    ``async with FakeCluster() as cluster:`` starts it on a free port; ``cluster.url`` is
    its endpoint.  Operations run ``default_script`` unless ``planner(ref)`` or
    :meth:`plan` says otherwise.  ``clock`` (monotonic seconds) may be replaced to step
    time by hand; by default it is sf_progress's own clock, which ``set_testing(True)``
    turns virtual, so scripted durations pass as fast as the client "sleeps".
    ``token`` makes every call require ``Authorization: Bearer <token>`` (change it to
    "expire" a token).  ``ssl_context`` serves HTTPS (make it require client
    certificates to test them); ``aad_metadata`` is what ``GetAadMetadata`` answers.
    ``retention`` purges terminal operations after that many seconds (404 afterwards,
    and the id may be reused).  ``services`` (name -> (partition ids, stateful)) makes
    starts validate their target as a real cluster does: 202 first, Faulted later.
    Set ``list_unsupported`` to 400, 404 or 405 to answer the list call as a gateway
    without it (an older runtime, a proxy) does.  The list call can misbehave as real
    ones do: ``list_lag`` (seconds) makes it show every operation as it was that long ago
    (a stale replica: operations that ended within that time still listed Running), and
    ``list_extra_items`` (raw JSON values) are appended to every list answer (other
    users' operations, malformed ones included).  Transient, hung, empty and cut list
    answers are ordinary faults: ``inject(Fault.service_unavailable(), routes=["list"])``,
    ``Fault.slow(...)``, ``Fault.malformed(b"[]")``, ``Fault.truncated()``.

    (One route handler per REST call of the protocol files, here; the wire format, the
    start checks, the lifecycles and the targets are in ``_wire``, ``_starts``,
    ``_scripts`` and ``_targets``.)

    Args:
        default_script: How operations go unless planned otherwise (default: complete at once).
        planner: Called as ``planner(ref)`` for each started operation; returns its
            :class:`Script` (or ``None`` for the default).
        clock: Monotonic seconds the cluster runs by (default: sf_progress's own clock).
        token: Require ``Authorization: Bearer <token>`` on every call.
        retention: Seconds after which terminal operations are purged (``None``: never).
        runtime_version: The runtime version the gateway behaves as (``"9.1"``).
        cluster_version: What ``GetClusterVersion`` answers.
        host: The address to listen on (loopback by default).
        port: The port (0: a free one).
        ssl_context: Serve HTTPS with this context.
        aad_metadata: What ``GetAadMetadata`` answers (default: no Azure AD).
    """

    def __init__(
        self,
        *,
        default_script: Script | None = None,
        planner: Planner | None = None,
        clock: Callable[[], float] = monotonic,
        token: str | None = None,
        retention: float | None = None,
        runtime_version: str = "9.1",
        cluster_version: str = "9.1.1436.9590",
        host: str = "127.0.0.1",
        port: int = 0,
        ssl_context: ssl.SSLContext | None = None,
        aad_metadata: dict[str, str] | None = None,
    ) -> None:
        self.default_script = default_script or Script()
        self.planner = planner
        self.clock = clock
        self.token = token
        self.retention = retention
        self.runtime_version = float(runtime_version)
        self.cluster_version = cluster_version
        self.services: dict[str, tuple[frozenset[uuid.UUID], bool]] = {}
        self.operations: dict[uuid.UUID, FakeOperation] = {}
        self._active: dict[uuid.UUID, FakeOperation] = {}  # the service's active table
        self.list_unsupported: int | None = None
        self.list_lag = 0.0
        self.list_extra_items: list[object] = []
        self.nodes: dict[str, int] = dict(DEFAULT_NODES)  # node name -> InstanceId
        self.targets = Targets(self)  # partitions and nodes as the faults leave them (info, replicas, health)
        self.control = ControlPlane(clock)  # cluster-wide state: upgrades, system services, Chaos, health, names
        # Replicas, code packages and node restarts as the verified faults change them.
        self.replicas = self.targets.layouts = Layouts(lambda: self.clock(), self.nodes, self.services)
        self.replicas.status_of = self.targets.partition_status
        self.quorum_loss_modes: tuple[str, ...] = QUORUM_LOSS_MODES
        self.requests = 0
        self.by_route: collections.Counter[str] = collections.Counter()
        self.seen: list[tuple[str, str]] = []  # (method, raw path with query) of the first 10k requests
        self.request_times: list[float] = []  # clock() of the first 1M requests, for rate checks
        self._host, self._port = host, port
        self.ssl_context = ssl_context
        self.aad_metadata = aad_metadata
        self._plans: dict[uuid.UUID, Script] = {}
        self._faults = Injected()
        self._runner: web.AppRunner | None = None
        self.url = ""

    # --- lifecycle ---------------------------------------------------------------------

    async def start(self) -> FakeCluster:
        """Start serving on loopback (or the host and port given); sets ``url``.

        Returns:
            The cluster itself, serving.
        """
        app = web.Application(middlewares=[fabric_errors_only])
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(
            app, access_log=None, handle_signals=False, shutdown_timeout=0.5, handler_cancellation=True
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port, reuse_address=True, ssl_context=self.ssl_context)
        await site.start()
        addresses = self._runner.addresses  # the bound sockets' names: (host, port, ...)
        port = addresses[0][1] if addresses else self._port
        host = f"[{self._host}]" if ":" in self._host else self._host  # an IPv6 literal
        self.url = f"{'https' if self.ssl_context else 'http'}://{host}:{port}"
        return self

    async def close(self) -> None:
        """Stop serving and close every connection.  Safe to call twice."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
            # A closed connection's socket is released on the loop's next turns: give them, so that a
            # loop closed right after (asyncio.run, a test's loop) leaves no socket to the collector.
            for _ in range(3):
                await asyncio.sleep(0)

    async def __aenter__(self) -> FakeCluster:
        return await self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"<FakeCluster {self.url or 'not started'} operations={len(self.operations)}>"

    # --- scripting -------------------------------------------------------------------

    def plan(self, operation_id: str | uuid.UUID, script: Script) -> None:
        """Make the operation with this id, once started, follow *script*.

        Args:
            operation_id: The OperationId a start will use.
            script: How the operation goes (durations, outcome, recovery).
        """
        self._plans[uuid.UUID(str(operation_id))] = script

    def add_operation(self, ref: OperationRef, script: Script | None = None, *, mode: str = MODES[0]) -> None:
        """Create an operation directly, as if it had just been started.

        Args:
            ref: The operation.
            script: How it goes (default: the cluster's ``default_script``).
            mode: The mode it was started with (the start call's mode parameter).
        """
        op = self.operations[ref.operation_id] = FakeOperation(ref, mode, script or self.default_script, self.clock())
        self._active[ref.operation_id] = op
        self.targets.track(op)

    def add_service(
        self, name: str, partitions: Iterable[str | uuid.UUID], *, stateful: bool = True, persisted: bool = True
    ) -> None:
        """Declare a service, so that starts validate their target against it.

        Args:
            name: The service's name (``fabric:/app/svc`` or another spelling).
            partitions: Its partitions' GUIDs.
            stateful: Whether it is stateful (replicas) or stateless (instances).
            persisted: Whether a stateful service's state is persisted (``HasPersistedState``).
        """
        sid = OperationRef.restart(name, uuid.UUID(int=0), uuid.UUID(int=0)).service_id
        assert sid is not None
        self.services[sid] = (frozenset(uuid.UUID(str(p)) for p in partitions), stateful)
        (self.replicas.volatile.discard if persisted or not stateful else self.replicas.volatile.add)(sid)

    def add_node(self, name: str, instance_id: int) -> None:
        """Declare a node (``GET /Nodes/{name}`` answers its ``InstanceId``); five exist from the start.

        Args:
            name: The node's name.
            instance_id: Its current instance id.
        """
        self.nodes[name] = instance_id

    def operation(self, operation_id: str | uuid.UUID) -> FakeOperation:
        """The fake's record of one operation.

        Args:
            operation_id: Its GUID.

        Returns:
            The :class:`FakeOperation` (its script, polls, detection lag).

        Raises:
            KeyError: The fake has no such operation.
        """
        return self.operations[uuid.UUID(str(operation_id))]

    def state_of(self, operation_id: str | uuid.UUID) -> OperationState:
        """The operation's state now.

        Args:
            operation_id: Its GUID.

        Returns:
            Its :class:`~sf_progress.OperationState` on the cluster's clock.

        Raises:
            KeyError: The fake has no such operation.
        """
        return self.operation(operation_id).state_at(self.clock())[0]

    # --- counters ----------------------------------------------------------------------

    def reset(self) -> None:
        """Forget every operation, injected fault and request counter (a benchmark's next case)."""
        self.operations.clear()
        self._active.clear()
        self.targets.by_partition.clear()
        self.targets.node_ops.clear()
        self.replicas.reset()
        self.by_route.clear()
        self.requests = 0
        self.clear_faults()

    def detection_lags(self) -> list[float]:
        """For each operation seen terminal by a progress read: seconds from its end to that read.

        Returns:
            The lags, in seconds.
        """
        return [lag for op in self.operations.values() if (lag := op.detection_lag) is not None]

    # --- the handler ---------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw_path, _, raw_query = request.raw_path.partition("?")
        route, match = self._route(request.method, raw_path)
        self.requests += 1
        self.by_route[route] += 1
        if len(self.seen) < 10_000:
            self.seen.append((request.method, request.raw_path))
        if len(self.request_times) < 1_000_000:
            self.request_times.append(self.clock())
        query = parse_query(raw_query)
        fault = self._faults.take(route, query)
        if fault is not None:
            if fault.kind == "slow":
                await asyncio.sleep(fault.delay)
            elif fault.kind == "reset":
                if request.transport is not None:
                    request.transport.abort()
                return web.Response(status=500)
            elif fault.kind == "answer":
                return web.Response(
                    status=fault.status,
                    reason=fault.reason,
                    body=fault.body,
                    headers={
                        **dict(fault.headers),
                        **({"Content-Type": fault.content_type} if fault.content_type else {}),
                    },
                )
        if route == "aad":
            metadata = self.aad_metadata
            return web.json_response({"type": "aad" if metadata else "none", "metadata": metadata or {}})
        if self.token is not None and request.headers.get("Authorization") != f"Bearer {self.token}":
            return web.Response(status=401, reason="Unauthorized", headers={"WWW-Authenticate": "Bearer"})
        try:
            if route == CONTROL_ROUTE and match is not None:  # cluster-wide state (its POSTs carry a body)
                response = await self.control.answer(request, match, query)
            elif route in VERIFIED_ROUTES and match is not None:  # replicas, code packages, node restarts
                version = api_version(query, self.runtime_version)
                response = self.replicas.answer(match, query, await request.read(), version)
            else:
                response = self._dispatch(route, match, request.method, query)
        except _Answer as answer:
            return answer.response
        if fault is not None and fault.kind == "truncate":
            return await truncated(request, response)
        if fault is not None and fault.kind == "late":  # done; only its answer is held back
            await asyncio.sleep(fault.delay)
        return response

    def _route(self, method: str, path: str) -> tuple[str, re.Match[str] | None]:
        match = PARTITION_PATH.match(path) or NODE_PATH.match(path)
        if match is not None:
            return ("progress" if match["action"].startswith("Get") else "start"), match
        if path in _FIXED_ROUTES:
            return _FIXED_ROUTES[path], None
        found = Targets.route(path) or ControlPlane.route(path) or Layouts.route(method, path)
        return found if found is not None else ("other", None)

    def _dispatch(self, route: str, match: re.Match[str] | None, method: str, query: dict[str, str]) -> web.Response:
        if route in ("progress", "start", "cancel", "list") and not self.control.fault_analysis:  # §5.8
            raise _Answer(500, FAS_MISSING, "The Fault Analysis Service is not running in this cluster")
        expected = {"start": "POST", "cancel": "POST"}.get(route, "GET")
        if route == "other" or method != expected:
            raise _invalid("The request is not supported: unknown path or verb")
        if route == "root":
            return web.Response(text="<html><body>Service Fabric Explorer</body></html>", content_type="text/html")
        version = api_version(query, self.runtime_version)
        if route == "version":
            return web.json_response({"Version": self.cluster_version})
        if route == "list":
            return self._list(query, enums_as_int=version < 3.0)
        if route in ("health", "info"):
            assert match is not None
            return self.targets.answer(match, query)
        op_id = operation_id(query)
        if route == "cancel":
            return self._cancel(op_id, query)
        assert match is not None
        kind = KIND_OF_ACTION[match["action"]]
        if kind is not OperationType.NODE_TRANSITION:
            guid(match["pid"], "partition id")
        if route == "progress":
            return self._progress(op_id, kind, enums_as_int=version < 3.0)
        return self._start(kind, match, op_id, query)

    def _find(self, op_id: uuid.UUID) -> FakeOperation | None:
        op = self.operations.get(op_id)
        if op is not None and self.retention is not None:
            _, ended = op.state_at(self.clock())
            if ended is not None and self.clock() - ended >= self.retention:
                del self.operations[op_id]
                return None
        return op

    def _not_found(self, op_id: uuid.UUID) -> _Answer:
        return _Answer(404, "FABRIC_E_KEY_NOT_FOUND", f"OperationId '{op_id}' was not found")

    def _progress(self, op_id: uuid.UUID, kind: OperationType, *, enums_as_int: bool) -> web.Response:
        op = self._find(op_id)
        if op is None:
            raise self._not_found(op_id)
        if op.kind is not kind:
            # The service finds the id, then cannot cast it to the kind asked for (§5).
            code = WRONG_KIND_CODE.get(kind, "E_POINTER")
            raise _Answer(500, code, "System.NullReferenceException (-2147467261) Object reference not set")
        now = self.clock()
        op.polls += 1
        body = op.progress_body(now, enums_as_int=enums_as_int)
        if op.first_seen_terminal_at is None and op.state_at(now)[0].is_terminal:
            op.first_seen_terminal_at = now
        return web.json_response(body)

    def _start(
        self, kind: OperationType, match: re.Match[str], op_id: uuid.UUID, query: dict[str, str]
    ) -> web.Response:
        args = read_start(kind, query, quorum_modes=self.quorum_loss_modes)
        node = None
        if kind is OperationType.NODE_TRANSITION:
            node = node_name(match["node"])
            busy = self.targets.node_ops.get(node)
            # Checked before the duplicate check: a retry of a running transition is "busy" too.
            if busy is not None and not busy.state_at(self.clock())[0].is_terminal:
                raise _Answer(400, BUSY, f"a transition is already in progress on node {node!r}")
        if self._find(op_id) is not None:
            raise _Answer(
                409,
                "FABRIC_E_TEST_COMMAND_OPERATION_ID_ALREADY_EXISTS",
                f"OperationId '{op_id}' already exists",
            )
        if node is not None:
            ref = OperationRef.node_transition(node, op_id)
        else:
            try:
                ref = OperationRef(
                    service_id=strict_unquote(match["sid"]), partition_id=match["pid"], operation_id=op_id, kind=kind
                )
            except ValueError:
                raise _Answer(400, "FABRIC_E_INVALID_NAME_URI", f"Invalid service id {match['sid']!r}") from None
        script = self._plans.pop(op_id, None) or (self.planner(ref) if self.planner else self.default_script)
        script = validated(ref, args, script, self.nodes, self.services)
        op = self.operations[op_id] = FakeOperation(
            ref, args.mode, script, self.clock(), args.node_instance_id, args.stop_duration
        )
        self._active[op_id] = op
        self.targets.track(op)
        return web.Response(status=202, reason="Accepted")

    def _cancel(self, op_id: uuid.UUID, query: dict[str, str]) -> web.Response:
        force_text = query.get("Force", "").lower()
        if force_text not in ("true", "false"):
            raise _invalid(f"Invalid Force {query.get('Force')!r}")
        op = self._find(op_id)
        now = self.clock()
        if op is None or op.state_at(now)[0].is_terminal:
            raise self._not_found(op_id)
        state = op.state_at(now)[0]
        if force_text == "true":
            if op.cancelled_at is None and state is not OperationState.ROLLING_BACK:
                raise _Answer(
                    400,
                    "FABRIC_E_INVALID_TEST_COMMAND_STATE",
                    "Force cancel is only allowed after a graceful cancel or while RollingBack",
                )
            op.force_cancelled_at = now
        elif op.cancelled_at is None:
            op.cancelled_at = now
        return web.Response(status=200)

    def _list(self, query: dict[str, str], *, enums_as_int: bool) -> web.Response:
        if self.list_unsupported is not None:
            status = self.list_unsupported
            code = UNSUPPORTED_CODES.get(status, "E_INVALIDARG")
            raise _Answer(status, code, "GetFaultOperationList is not supported")
        try:
            types = int(query.get("TypeFilter", "0"))
            states = int(query.get("StateFilter", "0"))
        except ValueError:
            raise _invalid("TypeFilter and StateFilter must be integers") from None
        history = (op for op_id in list(self.operations) if (op := self._find(op_id)) is not None)
        now = self.clock() - self.list_lag
        items: list[object] = list(list_items(self._active, history, types, states, now, enums_as_int=enums_as_int))
        return web.json_response(items + self.list_extra_items)
