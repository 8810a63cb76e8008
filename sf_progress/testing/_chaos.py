"""The fake cluster's SF Chaos runs: the events each run makes over time, served as the runtime serves them.

A run started at ``t0`` (the fake's clock) makes ``Started`` at ``t0``; then every
``WaitTimeBetweenIterationsInSeconds`` (at least 1 s) an iteration: ``ExecutingFaults`` (its
``MaxConcurrentFaults`` faults, as the runtime's free text) and, in the **same millisecond**,
``Waiting`` (two events one timestamp apart only by a tick, as the runtime makes them); an
iteration listed in ``ChaosRuns.validation_failures`` adds ``ValidationFailed`` a quarter second
later; ``Stopped`` when it is stopped or its ``TimeToRunInSeconds`` is up.  The events call
(health-and-chaos-protocol.md §8.2): a token **or** a range (both: 400; neither: an empty
segment), ``MaxResults`` pages (0: all), the token ``x<FILETIME>-<GUID>`` naming the rest of the
range, events ascending and inclusive at both ends, timestamps to the millisecond.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from .._chaos_events import filetime
from .._config import wall_time
from ._answers import Answer, invalid

__all__ = ["FAULT_TEXTS", "ChaosRuns"]

#: The shapes of the runtime's fault texts, one per action (filled with an iteration's targets).
FAULT_TEXTS = (
    "ActionType: RestartReplica, ServiceUri: fabric:/app/svc, PartitionId: {pid}, ReplicaId: {rid}",
    "ActionType: RemoveReplica, ServiceUri: fabric:/app/svc, PartitionId: {pid}, ReplicaId: {rid}",
    "ActionType: RestartNode, NodeName: _Node_{n}, NodeInstanceId: {rid}",
    "ActionType: RestartDeployedCodePackage, NodeName: _Node_{n}, ApplicationName: fabric:/app, "
    "ServiceManifestName: SvcPkg, CodePackageName: Code, ServicePackageActivationId: ",
    "ActionType: MovePrimary, ServiceUri: fabric:/app/svc, PartitionId: {pid}, NewNodeName: _Node_{n}",
    "ActionType: MoveSecondary, ServiceUri: fabric:/app/svc, PartitionId: {pid}, CurrentNodeName: _Node_{n}, "
    "NewNodeName: _Node_{m}",
)


class _Run:
    def __init__(self, t0: float, wall0: float, parameters: dict[str, Any], until: float) -> None:
        self.t0, self.wall0, self.parameters, self.until = t0, wall0, parameters, until
        self.by_user = False

    def when(self, t: float) -> datetime:
        return datetime.fromtimestamp(self.wall0 + (t - self.t0), tz=UTC)


class ChaosRuns:
    """Every Chaos run of the fake and the events they made so far (``FakeCluster.control.chaos``)."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.runs: list[_Run] = []
        self.validation_failures: set[int] = set()  # iterations (from 0) that fail validation
        self._tokens: dict[str, tuple[int, int]] = {}

    def start(self, parameters: dict[str, Any], seconds: float) -> None:
        now = self.clock()
        self.runs.append(_Run(now, wall_time(), parameters, now + seconds))

    def stop(self) -> None:
        if self.runs and self.runs[-1].until > self.clock():
            self.runs[-1].until, self.runs[-1].by_user = self.clock(), True

    @property
    def running(self) -> bool | None:
        """Whether the last run runs now (``None``: no run was started here)."""
        return None if not self.runs else self.runs[-1].until > self.clock()

    def events(self) -> list[tuple[int, dict[str, Any]]]:
        """(FILETIME ticks, event) of everything made so far, in time order."""
        now, made = self.clock(), []
        for run in self.runs:
            made += self._of(run, min(now, run.until), stopped=run.until <= now)
        made.sort(key=lambda item: item[0])
        return made

    def _of(self, run: _Run, end: float, *, stopped: bool) -> list[tuple[int, dict[str, Any]]]:
        out = [self._event(run, run.t0, 0, "Started", ChaosParameters=run.parameters)]
        period = max(1.0, float(run.parameters.get("WaitTimeBetweenIterationsInSeconds", 30)))
        count = max(1, int(run.parameters.get("MaxConcurrentFaults", 1)))
        i = 0
        while run.t0 + 0.5 + i * period <= end:
            t = run.t0 + 0.5 + i * period
            faults = [FAULT_TEXTS[(i + k) % len(FAULT_TEXTS)].format(
                pid=uuid.UUID(int=i * 7 + k), rid=133117243825817603 + i, n=(i + k) % 5, m=(i + k + 1) % 5)
                for k in range(count)]
            out.append(self._event(run, t, 0, "ExecutingFaults", Faults=faults))
            out.append(self._event(run, t, 1, "Waiting", Reason=f"Waiting for {period:g} seconds before the next "
                                   "iteration."))
            if i in self.validation_failures and t + 0.25 <= end:
                out.append(self._event(run, t + 0.25, 0, "ValidationFailed", Reason="Partition "
                                       f"{uuid.UUID(int=i * 7)} is in quorum loss."))
            i += 1
        if stopped:
            why = "user issued StopChaosAsync API" if run.by_user else "TimeToRun specified in ChaosParameters is up"
            out.append(self._event(run, run.until + 0.001, 0, "Stopped", Reason=f"Chaos is stopped, because {why}."))
        return out

    def _event(self, run: _Run, t: float, tick: int, kind: str, **fields: Any) -> tuple[int, dict[str, Any]]:
        when = run.when(t)
        stamp = when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"
        return filetime(when) + tick, {"ChaosEvent": {"Kind": kind, "TimeStampUtc": stamp, **fields}}

    def answer(self, query: dict[str, str]) -> web.Response:
        token = query.get("ContinuationToken")
        ranged = "StartTimeUtc" in query or "EndTimeUtc" in query
        if token and ranged:
            raise Answer(400, "E_INVALIDARG", "ContinuationToken cannot be given with StartTimeUtc/EndTimeUtc")
        try:
            limit = int(query.get("MaxResults", "0"))
            if token:
                start, end = self._tokens.get(token, (1, 0))  # unknown or expired: the empty request range
            elif ranged:
                start, end = int(query.get("StartTimeUtc", "0")), int(query.get("EndTimeUtc", "0"))
            else:
                return web.json_response({"ContinuationToken": "", "History": []})
        except ValueError:
            raise Answer(400, "Invalid_Int64", "StartTimeUtc, EndTimeUtc and MaxResults are int64") from None
        if limit < 0:
            raise invalid("MaxResults must be >= 0")
        chosen = [(ticks, event) for ticks, event in self.events() if start <= ticks <= end]
        next_token = ""
        if limit and len(chosen) > limit:
            next_token = f"x{filetime(datetime.now(UTC))}-{uuid.uuid4()}"
            self._tokens[next_token] = (chosen[limit][0], end)
            chosen = chosen[:limit]
        return web.json_response({"ContinuationToken": next_token, "History": [event for _, event in chosen]})
