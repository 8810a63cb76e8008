"""The report's model: a journal's run read into a typed :class:`Report` (``build_report``).

Reads the journal's public view (:func:`sf_progress.read_journal`) and nothing else.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from .. import Downtime, ResultReason, TargetSnapshot, TargetStatus, hresult_name, read_journal
from ._scenario import ScenarioReport, scenario_report
from ._stats import spread

__all__ = ["NOT_STARTED", "PENDING", "UNCONFIRMED", "Report", "ReportTarget", "build_report"]

#: Outcomes of targets that did not end in the journal.
PENDING, NOT_STARTED, UNCONFIRMED = "pending", "not started", "start not confirmed"


@attrs.frozen
class ReportTarget:
    """One target of the run, as the journal knows it (times: wall-clock seconds, ``None`` when not recorded).

    ``elapsed`` is the time from its start to the fault's end, without the recovery wait
    (``recovery_s``); when the fault ended while no client watched (the run was stopped or
    killed, and resumed), its end was not seen: ``elapsed`` is ``None`` and ``elapsed_bounds``
    holds the least and the most it can have been.
    """

    number: int
    kind: str
    target: str
    operation_id: str
    outcome: str  # completed, faulted, cancelled, not_found, timed_out, failed, pending, not started, ...
    status: str = "planned"  # the journal's TargetStatus: planned, unconfirmed, refused, active, ended
    reason: str | None = None  # why a failed result is not the fault's own end: refused, aborted, wait failed
    state: str | None = None
    error_code: int | None = None
    error_name: str | None = None  # the error code's name (FABRIC_E_TIMEOUT...), when known
    error: str | None = None
    started_at: float | None = None
    ended_at: float | None = None
    elapsed: float | None = None
    elapsed_bounds: tuple[float, float] | None = None
    recovered: bool | None = None
    recovery_s: float | None = None
    recovery_reason: str | None = None  # what was still not right when the recovery wait ended
    service: str | None = None
    signal: str | None = None  # a verified fault's: what was seen of its effect

    @property
    def why(self) -> str:
        """What went wrong in words (the error, else why the target did not recover; empty when nothing)."""
        return self.error or (self.recovery_reason if self.recovered is False else None) or ""

    @property
    def code(self) -> str:
        """The error code as shown, with its name (``FABRIC_E_TIMEOUT (-2147017729)``), or empty."""
        if self.error_code is None:
            return ""
        return f"{self.error_name} ({self.error_code})" if self.error_name else str(self.error_code)


@attrs.frozen
class Report:
    """What a journal says of its run: where it stands, its verdict, and every target."""

    journal: str
    endpoint: str
    created: str
    status: str  # finished, in progress, interrupted, cut short
    verdict: str
    targets: tuple[ReportTarget, ...]
    counts: Mapping[str, Mapping[str, int]]  # kind -> outcome -> count
    durations: Mapping[str, Mapping[str, float]]  # kind -> min / median / p95 / max seconds of ended faults
    recovery: Mapping[str, float] | None  # recovered / not / median / p95 / max seconds, when recorded
    aborted: str | None
    notices: tuple[str, ...]
    started_at: float | None
    ended_at: float | None
    downtimes: tuple[Downtime, ...] = ()  # each time no client watched the run (stopped or killed, then resumed)
    scenario: ScenarioReport | None = None  # a failover scenario's steps and verdict, when the run is one

    @property
    def problems(self) -> tuple[ReportTarget, ...]:
        """The targets that did not complete (or completed without recovering)."""
        return tuple(t for t in self.targets if t.outcome != "completed" or t.recovered is False)


#: How a target without a recorded result is shown, by its status.
_OPEN_OUTCOME = {
    TargetStatus.PLANNED: NOT_STARTED,
    TargetStatus.UNCONFIRMED: UNCONFIRMED,
    TargetStatus.REFUSED: NOT_STARTED,
    TargetStatus.ACTIVE: PENDING,
}


def _row(snap: TargetSnapshot, downtimes: tuple[Downtime, ...]) -> ReportTarget:
    ref = snap.target.ref
    result = snap.result
    fields: dict[str, Any] = {}
    started_at = snap.accepted_at or snap.intent_at
    if result is not None:
        outcome = result.outcome.value
        if result.reason in (ResultReason.REFUSED, ResultReason.ABORTED):
            outcome = NOT_STARTED
        recovery = result.recovery
        fields.update(
            state=None if result.state is None else result.state.value,
            error_code=result.error_code,
            error_name=hresult_name(result.error_code),
            error=result.error,
            recovered=None if recovery is None else recovery.recovered,
            recovery_s=None if recovery is None else recovery.elapsed,
            recovery_reason=None if recovery is None else recovery.reason,
            reason=None if result.reason is None else result.reason.value,
            signal=result.signal,
        )
        if result.reason is None or result.reason.started:
            fields.update(_time_to_end(snap, started_at, downtimes))
    else:
        outcome = _OPEN_OUTCOME[snap.status]
        if snap.refused is not None:
            fields.update(error=snap.refused, reason="refused")
        if snap.last_state is not None:
            fields["state"] = snap.last_state
    return ReportTarget(
        number=snap.number,
        kind=ref.kind.short_name,
        target=ref.target,
        operation_id=str(ref.operation_id),
        outcome=outcome,
        status=snap.status.value,
        started_at=started_at,
        ended_at=snap.ended_at,
        service=None if ref.node_name is not None else ref.service_name,
        **fields,
    )


def _time_to_end(snap: TargetSnapshot, started_at: float | None, downtimes: tuple[Downtime, ...]) -> dict[str, Any]:
    """``elapsed`` (to the fault's end, without the recovery wait) or, when its end fell where no client watched,
    ``elapsed_bounds``.

    A fault started before a downtime and ended after it was seen to end by the resumed run;
    unless that run saw it still running first (a state recorded after the resume), it ended
    somewhere between the last record before the downtime and that sighting.
    """
    result = snap.result
    assert result is not None
    recovery_s = 0.0 if result.recovery is None else result.recovery.elapsed
    to_end = result.fault_elapsed  # the wait's time, less the recovery wait that followed
    ended_at = snap.ended_at
    if started_at is None or ended_at is None:
        return {"elapsed": to_end}
    crossed = [d for d in downtimes if started_at < d.until <= ended_at]
    if not crossed:
        return {"elapsed": to_end}
    seen = max(started_at, ended_at - recovery_s)  # when the resumed run saw the fault ended
    last = crossed[-1]
    if snap.state_at is not None and snap.state_at >= last.until:  # seen running after the resume
        return {"elapsed": round(seen - started_at, 3)}
    least = max(0.0, (last.since or started_at) - started_at)
    return {"elapsed": None, "elapsed_bounds": (round(least, 3), round(max(least, seen - started_at), 3))}


def build_report(journal: str | os.PathLike[str]) -> Report:
    """Read *journal* without changing it (its lock is only tried, to tell a running run) and summarise its run.

    A journal still being written gives a snapshot; one cut by a crash gives what it knows,
    said plainly.

    Args:
        journal: The journal's path (``~`` is expanded).

    Returns:
        The :class:`Report`.

    Raises:
        JournalError: The file is not an sf_progress journal.
        OSError: The file cannot be read.
    """
    snapshot = read_journal(journal)
    path = Path(snapshot.path)
    downtimes = snapshot.downtimes
    targets = tuple(_row(target, downtimes) for target in snapshot.targets)
    counts: dict[str, Counter[str]] = {}
    for t in targets:
        counts.setdefault(t.kind, Counter())[t.outcome] += 1
    durations = {}
    for kind in counts:
        ended = [t.elapsed for t in targets if t.kind == kind and t.elapsed is not None and t.outcome != "failed"]
        if ended:
            durations[kind] = spread(ended)
    recoveries = [t for t in targets if t.recovered is not None]
    recovery = None
    if recoveries:
        back = [t.recovery_s for t in recoveries if t.recovered and t.recovery_s is not None]
        recovery = {"recovered": float(sum(1 for t in recoveries if t.recovered)),
                    "not_recovered": float(sum(1 for t in recoveries if not t.recovered))}
        if back:
            recovery.update(spread(back))
    aborted = snapshot.aborted
    open_targets = snapshot.counts[TargetStatus.UNCONFIRMED]
    if aborted is None:  # once aborted, a planned target is never started: it is not waiting to be
        open_targets += snapshot.counts[TargetStatus.PLANNED]
    open_targets += sum(1 for t in snapshot.targets if t.status is TargetStatus.ACTIVE and t.result is None)
    if snapshot.running:
        status = "in progress"
    elif snapshot.cut_plan:
        status = "cut short"
    elif open_targets:
        status = "interrupted"
    else:
        status = "finished"
    times = [x for t in targets for x in (t.started_at, t.ended_at) if x is not None]
    return Report(
        journal=str(path),
        endpoint=snapshot.endpoint,
        created=snapshot.created,
        status=status,
        verdict=_verdict(targets, status, aborted, open_targets),
        targets=targets,
        counts={kind: dict(c) for kind, c in sorted(counts.items())},
        durations=durations,
        recovery=recovery,
        aborted=aborted,
        notices=snapshot.notices + _downtime_notice(downtimes, targets),
        started_at=min(times) if times else None,
        ended_at=max(times) if times else None,
        downtimes=downtimes,
        scenario=scenario_report(snapshot.scenario),
    )


def _downtime_notice(downtimes: tuple[Downtime, ...], targets: tuple[ReportTarget, ...]) -> tuple[str, ...]:
    """What a report says of the times no client watched its run (nothing when there were none)."""
    if not downtimes:
        return ()
    gone = sum(d.until - d.since for d in downtimes if d.since is not None)
    times = "once" if len(downtimes) == 1 else f"{len(downtimes)} times"
    text = f"the run was stopped or killed and resumed {times}; no client watched it for {gone:.0f} s"
    unseen = sum(1 for t in targets if t.elapsed_bounds is not None)
    if unseen:
        text += (f"; {unseen} fault(s) ended meanwhile, unseen: their durations are bounds (least to most), "
                 "left out of the duration figures")
    return (text,)


def _verdict(targets: tuple[ReportTarget, ...], status: str, aborted: str | None, open_targets: int) -> str:
    if not targets:
        return "no targets" + (" (the plan was cut short by a crash)" if status == "cut short" else "")
    outcomes = Counter(t.outcome for t in targets)
    unrecovered = sum(1 for t in targets if t.recovered is False)
    parts = []
    if aborted is not None:
        parts.append(f"aborted because {aborted}")
    if status == "cut short":
        parts.append("the plan was cut short by a crash: nothing of it was started")
    bad = {k: v for k, v in outcomes.items() if k != "completed"}
    if not bad and not unrecovered:
        parts.append(f"all {len(targets)} completed")
    else:
        parts.extend(f"{count} {outcome.replace('_', ' ')}" for outcome, count in sorted(bad.items()))
        if unrecovered:
            parts.append(f"{unrecovered} did not recover")
        parts.append(f"{outcomes.get('completed', 0)} completed")
    if status in ("in progress", "interrupted") and open_targets:
        parts.append(f"{status}: {open_targets} not ended yet")
    return "; ".join(parts)
