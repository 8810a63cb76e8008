"""``ScenarioRun``: a failover scenario's loop -- fault, wait for its verified end, validate the whole service, wait
-- on one ``FaultRun`` journal, so that a killed run resumes where it stopped.

The journal holds the run's faults as any ``FaultRun``'s targets (each started exactly once,
held by the safety rules, stopped by the lever) and the scenario's own records (``scenario``
events): its ``definition`` (the scenario, the service, the partitions, the steps and the
seed, resolved once), each ``step`` before its fault is sent, its ``fault`` end, each
``validation`` and the final ``stopped``.  Step *i*'s fault and partition follow from the
definition alone, so a resume takes up step *k* where the journal left it: its fault waited for
(never sent twice), its validation redone, and on.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from .._campaign.journal import JournalError
from .._campaign.run import FaultRun
from .._config import wall_time
from .._errors import UnsupportedFaultError
from .._ids import normalize_service_id
from .._safety.planning import PlannedFault
from .._selection import check_kind
from .._targets import FaultTarget
from .events import ScenarioEvent, ScenarioEventKind, StopReason
from .model import FaultStep, Scenario, default_steps

__all__ = ["ScenarioRun"]

INITIAL = -1  # the step number of the validation before the first fault
#: The client: a :class:`ProgressClient` (typed loosely: the client's modules import nothing of this one).
Client = Any


class ScenarioRun:
    """A failover scenario's run on its journal: fault, validate the whole service, wait -- with a verdict.

    ``await ScenarioRun.create(client, scenario, journal=path)`` resolves the scenario (the
    service's kind and its fault list, the partitions, the seed) and journals it before any
    fault; ``await ScenarioRun.resume(client, path)`` opens a killed run's journal.
    ``async for event in run.events():`` runs it (or goes on with it) to its ``stopped``
    event, which carries the verdict; :meth:`plan` says what it would do, sending nothing.
    Use it as ``async with``: the journal is locked while the run is open.
    """

    def __init__(self, client: Client, run: FaultRun, scratch: Path | None = None) -> None:
        records = run.journal.scenario_records
        if not records or records[0].get("what") != "definition":
            run.close()
            raise JournalError(f"journal {str(run.journal.path)!r} holds no failover scenario")
        self.client, self.run, self.scratch = client, run, scratch
        definition = records[0]
        self.service_id: str = definition["service_id"]
        self.partitions = [uuid.UUID(p) for p in definition["partitions"]]
        self.steps = [FaultStep.of(step) for step in definition["steps"]]
        self.seed: str = str(definition["seed"])
        self.rounds: int | None = definition["rounds"]
        self.duration: float | None = definition["duration"]
        self.started_at: float = definition["at"]
        options: Mapping[str, Any] = definition["scenario"]
        self.wait_between = float(options["wait_between"])
        self.stabilization = float(options["stabilization_timeout"])
        self.max_errors = int(options["max_fault_errors"])
        self.deadline = float(options["fault_deadline"])
        self.last: ScenarioEvent | None = None  # the stopped event, once the run ended
        self.definition: dict[str, Any] = dict(definition)  # the scenario as resolved (the journal's first record)

    @classmethod
    async def create(
        cls,
        client: Client,
        scenario: Scenario | Mapping[str, Any] | str | os.PathLike[str],
        *,
        journal: str | os.PathLike[str] | None = None,
        hold_timeout: float | None = None,
        cancel_on_lever: bool = False,
    ) -> ScenarioRun:
        """Resolve a scenario against the cluster and journal it (nothing is sent but reads).

        Args:
            client: The :class:`ProgressClient` to run it with.
            scenario: A :class:`Scenario`, a scenario file's object, or the path of a JSON or
                YAML scenario file.
            journal: The journal to create (``sf-progress scenario resume`` takes it up after a
                crash); ``None``: a scratch journal, removed when the run is closed.
            hold_timeout: How long a fault a safety rule forbids is held before the run stops
                (``None``: held until the rule opens), as for :class:`FaultRun`.
            cancel_on_lever: Once the stop lever is engaged, also cancel the fault under way (a
                Fault Analysis one), as for :class:`FaultRun`.

        Returns:
            The run, its journal locked.

        Raises:
            ValueError: A bad scenario or file.
            UnsupportedFaultError: A fault of the list the service's kind does not allow.
            NotFoundError: No such service.
            JournalError: The journal exists or cannot be written.
        """
        if not isinstance(scenario, Scenario):
            scenario = Scenario.from_dict(scenario) if isinstance(scenario, Mapping) else Scenario.load(scenario)
        definition = await _resolve(client, scenario)
        scratch = None
        if journal is None:
            scratch = Path(tempfile.mkdtemp(prefix="sf-progress-scenario-"))
            journal = scratch / "scenario.jsonl"
        try:
            run = await FaultRun.create(journal, client, hold_timeout=hold_timeout, cancel_on_lever=cancel_on_lever)
        except BaseException:
            if scratch is not None:
                shutil.rmtree(scratch, ignore_errors=True)
            raise
        try:
            run.journal.scenario(definition)
        except BaseException:
            run.close()
            raise
        return cls(client, run, scratch)

    @classmethod
    async def resume(
        cls, client: Client, journal: str | os.PathLike[str], *, hold_timeout: float | None = None,
        cancel_on_lever: bool = False,
    ) -> ScenarioRun:
        """Open a scenario run's journal to go on with it (no fault repeated, an interrupted validation redone).

        Args:
            client: The :class:`ProgressClient` (of the journal's cluster).
            journal: The journal.
            hold_timeout: As for :meth:`create`.
            cancel_on_lever: As for :meth:`create`.

        Returns:
            The run, its journal locked.

        Raises:
            JournalError: Not a scenario's journal, locked, or another cluster's.
        """
        run = await FaultRun.resume(journal, client, hold_timeout=hold_timeout, cancel_on_lever=cancel_on_lever)
        return cls(client, run)

    @classmethod
    def drive(
        cls,
        scenario: Scenario | Mapping[str, Any] | str | os.PathLike[str] | None,
        *,
        journal: str | os.PathLike[str] | None = None,
        hold_timeout: float | None = None,
        on_event: Callable[[ScenarioEvent], object] | None = None,
    ) -> Callable[[Client], Awaitable[list[ScenarioEvent]]]:
        """A whole run as one call (the blocking client's ``run_scenario``), its arguments checked now.

        Args:
            scenario: As for :meth:`create`; ``None``: resume the run kept in *journal*.
            journal: The journal to create, or to resume.
            hold_timeout: As for :meth:`create`.
            on_event: Called with each event as it happens.

        Returns:
            ``drive(client)``: runs it to its end; every event, the last the ``stopped`` one.

        Raises:
            ValueError: ``scenario=None`` without a journal.
            TypeError: An *on_event* that cannot be called.
        """
        if scenario is None and journal is None:
            raise ValueError("give a scenario, or scenario=None and the journal of a run to resume")
        if on_event is not None and not callable(on_event):
            raise TypeError(f"on_event must be callable, not {type(on_event).__name__}")

        async def go(client: Client) -> list[ScenarioEvent]:
            if scenario is None:
                assert journal is not None
                run = await cls.resume(client, journal, hold_timeout=hold_timeout)
            else:
                run = await cls.create(client, scenario, journal=journal, hold_timeout=hold_timeout)
            events = []
            async with run:
                async for event in run.events():
                    events.append(event)
                    if on_event is not None:
                        on_event(event)
            return events

        return go

    async def __aenter__(self) -> ScenarioRun:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Make the journal durable and release it (a scratch journal is removed).  Safe to call twice."""
        self.run.close()
        if self.scratch is not None:
            shutil.rmtree(self.scratch, ignore_errors=True)
            self.scratch = None

    @property
    def journal(self) -> str:
        """The journal's path."""
        return str(self.run.journal.path)

    @property
    def result(self) -> ScenarioEvent | None:
        """The ``stopped`` event (its verdict, reason and evidence) once the run ended, else ``None``."""
        return self.last

    # --- the plan of steps (a pure function of the definition) -------------------------------

    @property
    def total(self) -> int | None:
        """How many steps in all (``None``: as many as the time budget lets)."""
        return None if self.rounds is None else self.rounds * len(self.steps)

    def _step(self, i: int) -> tuple[FaultStep, uuid.UUID]:
        """Step *i*'s fault (each fault ``rounds`` times in a row; by a budget alone, in turn) and partition."""
        entry = self.steps[i // self.rounds if self.rounds is not None else i % len(self.steps)]
        return entry, random.Random(f"{self.seed}/{i}").choice(self.partitions)

    def _progress(self, done: int) -> float:
        shares = [] if self.total is None else [done / self.total]
        if self.duration is not None:
            shares.append((wall_time() - self.started_at) / self.duration)
        return round(min(1.0, max(shares, default=0.0)), 3)

    async def plan(self) -> list[PlannedFault]:
        """Each fault of the list on the partition it first takes, prepared and held to the rules; nothing sent.

        Returns:
            One :class:`PlannedFault` per fault of the list.
        """
        firsts: dict[int, FaultTarget] = {}
        i = 0
        while len(firsts) < len(self.steps) and (self.total is None or i < self.total):
            entry, pid = self._step(i)
            firsts.setdefault(self.steps.index(entry), entry.target(self.service_id, pid))
            i += 1
        planned: list[PlannedFault] = await self.client.plan([firsts[k] for k in sorted(firsts)])
        return planned

    # --- the loop -----------------------------------------------------------------------------

    def _record(self, what: str, **fields: Any) -> None:
        self.run.journal.scenario({"what": what, "at": round(wall_time(), 3), **fields})

    def _event(self, kind: ScenarioEventKind, **fields: Any) -> ScenarioEvent:
        return ScenarioEvent(kind, wall_time(), **fields)

    async def events(self) -> AsyncIterator[ScenarioEvent]:
        """Run (or go on with) the scenario, yielding its events; :attr:`result` is set at its end.

        Yields:
            Each :class:`ScenarioEvent` as it happens (a resumed run says so in ``started``).
        """
        records = self.run.journal.scenario_records
        ended = next((r for r in records if r["what"] == "stopped"), None)
        if ended is not None:  # a finished run: its end again, nothing sent
            yield self._stopped(StopReason(ended["reason"]), tuple(ended.get("evidence") or ()))
            return
        steps = [r for r in records if r["what"] == "step"]
        yield self._event(ScenarioEventKind.STARTED, detail=(
            f"resumed at step {len(steps)}" if len(records) > 1 else
            f"{self.service_id}: {len(self.steps)} fault(s) on {len(self.partitions)} partition(s)"),
            progress=self._progress(len(steps)))
        async for event in self._take_up(steps):
            yield event
        if self.last is None:
            async for event in self._loop(len(steps)):
                yield event

    async def _take_up(self, steps: list[dict[str, Any]]) -> AsyncIterator[ScenarioEvent]:
        """What the journal left half done: the check before the first fault, the last step's fault and validation."""
        records = self.run.journal.scenario_records
        validated = {r["step"] for r in records if r["what"] == "validation"}
        if INITIAL not in validated:
            event, stop = await self._validate(INITIAL, [], len(steps))
            yield event
            if stop is not None:
                yield self._stop(stop, event.evidence)
                return
        i = len(steps) - 1
        if steps and not any(r["what"] == "fault" and r["step"] == i for r in records):
            last = steps[-1]  # killed with its fault under way: wait for it (never sent twice)
            if last["n"] >= len(self.run.journal.targets):  # killed before its fault was even planned
                entry, pid = self._step(i)
                await self.run.start(FaultTarget.of(entry.fault, service_id=self.service_id, partition_id=pid,
                                                    operation_id=last["operation_id"], **entry.parameters))
            async for event in self._fault_end(i, last["n"], last):
                yield event
        if steps and self._last_fault_ok(i) and i not in validated:
            event, stop = await self._validate(i, [uuid.UUID(steps[-1]["partition"])], i + 1, steps[-1]["fault"])
            yield event
            if stop is not None:
                yield self._stop(stop, event.evidence)

    async def _loop(self, i: int) -> AsyncIterator[ScenarioEvent]:
        """Steps *i* and on: wait, fault, wait for its end, validate -- until a reason to stop."""
        errors = self._errors_so_far()
        while True:
            stop = self._should_stop(i, errors)
            if stop is None and i > 0 and self.wait_between > 0:
                yield self._event(ScenarioEventKind.WAITING, seconds=self.wait_between, progress=self._progress(i))
                await self.client.clock.sleep(self.wait_between)
                stop = self._should_stop(i, errors)  # (the budget may have run out meanwhile)
            if stop is not None:
                yield self._stop(stop)
                return
            entry, pid = self._step(i)
            target = entry.target(self.service_id, pid)
            n = len(self.run.journal.targets)
            self._record("step", step=i, n=n, fault=entry.label, partition=str(pid),
                         operation_id=str(target.operation_id))
            yield self._event(ScenarioEventKind.FAULT_STARTED, step=i, fault=entry.label, partition=str(pid),
                              operation_id=str(target.operation_id), progress=self._progress(i))
            await self.run.start(target)
            if self.run.stopped_by_lever or self.run.held_out:
                yield self._stop(StopReason.LEVER if self.run.stopped_by_lever else StopReason.HELD_OUT)
                return
            ok = None
            async for event in self._fault_end(i, n, {"fault": entry.label, "partition": str(pid)}):
                ok = event.ok
                yield event
            errors = 0 if ok else errors + 1
            if ok:
                event, stop = await self._validate(i, [pid], i + 1, entry.label)
                yield event
                if stop is not None:
                    yield self._stop(stop, event.evidence)
                    return
            i += 1

    def _should_stop(self, i: int, errors: int) -> StopReason | None:
        if errors > self.max_errors:
            return StopReason.FAULT_ERRORS
        if self.run.stopped_by_lever:
            return StopReason.LEVER
        if self.total is not None and i >= self.total:
            return StopReason.ROUNDS_DONE
        if self.duration is not None and wall_time() - self.started_at >= self.duration:
            return StopReason.BUDGET_SPENT
        return None

    def _errors_so_far(self) -> int:
        """The fault errors in a row at the journal's end (a fault that completed sets it back to 0)."""
        errors = 0
        for record in self.run.journal.scenario_records:
            if record["what"] == "fault":
                errors = 0 if record.get("ok") else errors + 1
        return errors

    def _last_fault_ok(self, i: int) -> bool:
        return any(r["what"] == "fault" and r["step"] == i and r.get("ok") for r in self.run.journal.scenario_records)

    async def _fault_end(self, i: int, n: int, step: Mapping[str, Any]) -> AsyncIterator[ScenarioEvent]:
        """Wait for step *i*'s fault (target *n* of the run) to end; journal and yield its end."""
        run = self.run
        state = run.journal.targets[n]
        result = None
        if state.rejected is None and not run.stopped_by_lever:
            await run.start_pending()  # (a resumed run: a start with no answer is checked, never sent twice)
            async for found in run.results(deadline=self.deadline):
                if found.number == n:
                    result = found
        if result is not None and result.ok:
            ok, detail = True, str(result.state.value if result.state is not None else "Completed") + (
                f" ({result.signal})" if result.signal else "")
        else:
            ok = False
            detail = str(state.rejected) if state.rejected is not None else (
                "not ended" if result is None else (result.error or str(result.outcome.value)))
        self._record("fault", step=i, ok=ok, detail=detail)
        yield self._event(ScenarioEventKind.FAULT_ENDED, step=i, fault=step.get("fault"),
                          partition=step.get("partition"), operation_id=str(state.target.operation_id), ok=ok,
                          seconds=None if result is None else result.elapsed, detail=detail,
                          progress=self._progress(i))

    async def _validate(
        self, i: int, faulted: list[uuid.UUID], done: int, fault: str | None = None
    ) -> tuple[ScenarioEvent, StopReason | None]:
        found = await self.client.validate_service(self.service_id, partitions=faulted,
                                                   timeout=self.stabilization)
        self._record("validation", step=i, stable=found.stable, seconds=round(found.seconds, 3),
                     looks=found.looks, evidence=list(found.evidence))
        kind = ScenarioEventKind.VALIDATION_PASSED if found.stable else ScenarioEventKind.VALIDATION_FAILED
        event = self._event(kind, step=i, fault=fault, ok=found.stable, seconds=found.seconds, evidence=found.evidence,
                            partition=str(faulted[0]) if faulted else None, progress=self._progress(done))
        if found.stable:
            return event, None
        return event, StopReason.NOT_STABLE if i == INITIAL else StopReason.VALIDATION_FAILED

    def _stop(self, reason: StopReason, evidence: tuple[str, ...] = ()) -> ScenarioEvent:
        self._record("stopped", reason=reason.value, verdict=reason.verdict.value, evidence=list(evidence))
        return self._stopped(reason, evidence)

    def _stopped(self, reason: StopReason, evidence: tuple[str, ...]) -> ScenarioEvent:
        records = self.run.journal.scenario_records
        faults = sum(1 for r in records if r["what"] == "step")
        errors = sum(1 for r in records if r["what"] == "fault" and not r.get("ok"))
        self.last = self._event(ScenarioEventKind.STOPPED, verdict=reason.verdict, reason=reason, evidence=evidence,
                                progress=self._progress(faults), detail=f"{faults} fault(s), {errors} error(s)")
        return self.last


async def _resolve(client: Client, scenario: Scenario) -> dict[str, Any]:
    """The scenario's definition record: the service's kind and fault list, the partitions, the seed."""
    service_id = normalize_service_id(scenario.service)
    persisted = stateful = True
    try:  # what the service's kind allows, as the selectors judge it (one read of its kind, cached)
        await client.select_targets("restart-replica", service=service_id, count=1)
    except UnsupportedFaultError:
        persisted = False
        with contextlib.suppress(UnsupportedFaultError):
            await client.select_targets("move-instance", service=service_id, count=1)
            stateful = False
    steps = scenario.faults if scenario.faults is not None else default_steps(stateful, persisted)
    for step in steps:  # a fault the service's kind does not allow: refused here, before anything is sent
        check_kind(step.fault, scenario.service, stateful, persisted)
    seed = scenario.seed if scenario.seed is not None else random.SystemRandom().randrange(2**32)
    picked = scenario.partitions
    if isinstance(picked, tuple):
        known = {t.ref.partition_id for t in await client.select_targets("restart", service=service_id)}
        strangers = [str(p) for p in picked if p not in known]
        if strangers:
            raise ValueError(f"partitions: {', '.join(strangers)} not of {scenario.service}")
        partitions = [str(p) for p in picked]
    else:
        targets = await client.select_targets("restart", service=service_id, seed=seed,
                                              count=None if picked == "all" else picked)
        partitions = [str(t.ref.partition_id) for t in targets]
    return {"what": "definition", "at": round(wall_time(), 3), "scenario": scenario.as_dict(),
            "service_id": service_id, "partitions": partitions, "steps": [step.as_dict() for step in steps],
            "seed": seed, "rounds": scenario.rounds_per_fault, "duration": scenario.duration,
            "stateful": stateful, "persisted": persisted}
