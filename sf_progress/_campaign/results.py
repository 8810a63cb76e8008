"""What a fault run knows, as typed values: its gates, each target's status, each result and why.

``RunResult`` is how one target ended; ``ResultReason`` says why a result is not the
fault's own end (its start refused, the run aborted, the start unconfirmed, the wait
broken) -- a value, never text to parse.  ``TargetState`` is what the journal says of one
target and derives its one ``TargetStatus``; ``RunSnapshot`` is the journal's public,
read-only view, used by ``FaultRun`` and the report alike.  Nothing here does I/O.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any

import attrs

from .._facts import Recovery, before_recovery
from .._kinds import KINDS
from .._models import _STATE_BY_WIRE, OperationRef, OperationState, OperationType
from .._progress import Verification
from .._targets import FaultTarget, spec_of
from .._wait.machine import Outcome, OutcomeKind

__all__ = [
    "Downtime",
    "Gates",
    "ResultReason",
    "RunResult",
    "RunSnapshot",
    "TargetSnapshot",
    "TargetState",
    "TargetStatus",
    "result_line",
    "result_of",
    "seconds",
    "target_line",
    "target_of",
]


class ResultReason(enum.Enum):
    """Why a :class:`RunResult` is not the fault's own end (its ``outcome`` is then ``FAILED``)."""

    #: The cluster refused the start for good (a 400, a 409 that was not ours, ...): nothing runs.
    REFUSED = "refused"
    #: The run was aborted (``abort_on_unrecovered``) before this target was started.
    ABORTED = "aborted"
    #: The start may or may not have landed (a lost answer): a resume checks it, by its OperationId.
    UNCONFIRMED = "unconfirmed"
    #: The fault was started, but its wait ended on an error before its end was read; a resume waits again.
    WAIT_FAILED = "wait failed"

    @property
    def started(self) -> bool:
        """Whether the fault may be running on the cluster (only a refused or aborted one is surely not)."""
        return self not in (ResultReason.REFUSED, ResultReason.ABORTED)


def _max_active(_: object, __: object, value: int | None) -> None:
    if value is not None and (type(value) is not int or value < 1):
        raise ValueError(f"max_active must be an int >= 1 or None, got {value!r}")


@attrs.frozen
class Gates:
    """How a run paces its starts (written once, when it is created; a resume keeps them).

    ``max_active``: at most this many of its faults started and not yet ended (with
    ``recovery``: not yet recovered); an unconfirmed start holds its slot.  ``recovery``:
    wait for each target to recover; ``abort_on_unrecovered``: once a target fails to
    recover by its deadline, start nothing more (the active ones finish).
    """

    max_active: int | None = attrs.field(default=None, validator=_max_active)
    recovery: bool = attrs.field(default=False, validator=attrs.validators.instance_of(bool))
    abort_on_unrecovered: bool = attrs.field(default=False, validator=attrs.validators.instance_of(bool))

    def __attrs_post_init__(self) -> None:
        if self.abort_on_unrecovered and not self.recovery:
            raise ValueError(
                "abort_on_unrecovered needs recovery=True (a run that does not wait for recovery "
                "cannot see a target fail to recover)"
            )

    @property
    def paced(self) -> bool:
        """Whether starts are interleaved with the results (a gate limits them)."""
        return self.max_active is not None or self.abort_on_unrecovered


@attrs.frozen
class RunResult:
    """How one target of a run ended.

    ``number`` is its place in the run's plan (from 0), ``outcome`` how its wait ended,
    ``state`` the last state read (``None`` if none was), ``error_code`` the result's
    ``ErrorCode`` (an HRESULT when Faulted, ``None`` without a result), ``error`` what went
    wrong in words (``None`` when nothing did), ``polls`` the progress reads sent for it and
    ``elapsed`` the seconds its wait took (with ``recovery``, the recovery wait included:
    :attr:`fault_elapsed` is without it); ``recovery`` whether its target recovered, when
    the run waited for that (``None`` otherwise; from a journal, without the last facts);
    ``reason`` why the result is not the fault's own end (``None`` when it is); ``signal``, for
    a fault the client verifies, what was seen of its effect (``None`` for the other kinds).
    """

    number: int
    target: FaultTarget
    outcome: OutcomeKind
    state: OperationState | None = None
    error_code: int | None = None
    error: str | None = None
    polls: int = 0
    elapsed: float = 0.0
    recovery: Recovery | None = None
    reason: ResultReason | None = None
    signal: str | None = None

    @property
    def ref(self) -> OperationRef:
        """The ref of the target's operation."""
        return self.target.ref

    @property
    def ok(self) -> bool:
        """True when the fault Completed."""
        return self.outcome is OutcomeKind.COMPLETED

    @property
    def fault_elapsed(self) -> float:
        """The seconds its wait took up to the fault's end (``elapsed`` less the recovery wait)."""
        return before_recovery(self.elapsed, self.recovery)

    @property
    def final(self) -> bool:
        """Whether this is the target's last word (a resume waits again after a timed-out or broken wait)."""
        return self.outcome is not OutcomeKind.TIMED_OUT and self.reason not in (
            ResultReason.WAIT_FAILED,
            ResultReason.UNCONFIRMED,
        )

    @classmethod
    def of(cls, number: int, target: FaultTarget, outcome: Outcome) -> RunResult:
        """The result of a target whose wait ended with *outcome*.

        Args:
            number: The target's number in the run.
            target: The target.
            outcome: How its wait ended.

        Returns:
            The result (``reason`` :attr:`ResultReason.WAIT_FAILED` when the wait broke before any
            state was read).
        """
        progress = outcome.progress
        broken = outcome.kind is OutcomeKind.FAILED and progress is None
        return cls(
            number,
            target,
            outcome.kind,
            None if progress is None else progress.state,
            None if progress is None else progress.error_code,
            None if outcome.error is None else str(outcome.error),
            outcome.polls,
            outcome.elapsed,
            outcome.recovery,
            ResultReason.WAIT_FAILED if broken else None,
            signal.signal if isinstance(signal := None if progress is None else progress.result, Verification)
            else None,
        )

    @classmethod
    def not_started(cls, number: int, target: FaultTarget, reason: ResultReason, detail: str) -> RunResult:
        """The result of a target whose fault was not (or not surely) started.

        Args:
            number: The target's number in the run.
            target: The target.
            reason: Why (refused, aborted or unconfirmed).
            detail: What happened, in words.

        Returns:
            A ``FAILED`` result with that reason.
        """
        return cls(number, target, OutcomeKind.FAILED, error=f"not started: {detail}", reason=reason)


class TargetStatus(enum.Enum):
    """Where one target of a run stands, as its journal says."""

    #: In the plan; its start was not sent.
    PLANNED = "planned"
    #: Its start may have been sent, with no answer recorded (a resume checks it).
    UNCONFIRMED = "unconfirmed"
    #: The cluster refused its start: nothing runs.
    REFUSED = "refused"
    #: Started; its end is not recorded yet (or only a timed-out or broken wait, which is waited on again).
    ACTIVE = "active"
    #: Its result is recorded.
    ENDED = "ended"


@attrs.define
class TargetState:
    """What the journal says of one target (the mutable record ``FaultRun`` keeps)."""

    target: FaultTarget
    intent: bool = False
    intent_at: float | None = None  # wall-clock seconds when the intent was written (format 3)
    accepted: bool = False
    rejected: str | None = None
    state: str | None = None
    result: RunResult | None = None
    accepted_at: float | None = None  # wall-clock seconds of those records (format 3; for reports)
    ended_at: float | None = None
    state_at: float | None = None  # when its last state was recorded (seen not ended then)

    @property
    def status(self) -> TargetStatus:
        """The one status these records mean (derived here only)."""
        result = self.result
        if result is not None and (result.final or not self.accepted):
            return TargetStatus.ENDED
        if self.rejected is not None:
            return TargetStatus.REFUSED
        if self.accepted:
            return TargetStatus.ACTIVE
        return TargetStatus.UNCONFIRMED if self.intent else TargetStatus.PLANNED

    def snapshot(self, number: int) -> TargetSnapshot:
        """This record as a frozen, public value."""
        return TargetSnapshot(
            number=number,
            target=self.target,
            status=self.status,
            result=self.result,
            last_state=self.state,
            refused=self.rejected,
            intent_at=self.intent_at,
            accepted_at=self.accepted_at,
            ended_at=self.ended_at,
            state_at=self.state_at,
        )


@attrs.frozen(kw_only=True)
class TargetSnapshot:
    """One target of a run, as its journal says (times: wall-clock seconds, ``None`` when not recorded).

    Attributes:
        number: Its place in the plan (from 0).
        target: The fault.
        status: Where it stands.
        result: Its recorded result, if any (with ``ACTIVE``: a timed-out or broken wait).
        last_state: The last operation state recorded before its end (``Running``, ...).
        refused: Why its start was refused (``REFUSED``).
        intent_at: When its start was about to be sent.
        accepted_at: When its start was accepted.
        ended_at: When its result was recorded.
        state_at: When its last state was recorded (it was seen not ended then).
    """

    number: int
    target: FaultTarget
    status: TargetStatus
    result: RunResult | None = None
    last_state: str | None = None
    refused: str | None = None
    intent_at: float | None = None
    accepted_at: float | None = None
    ended_at: float | None = None
    state_at: float | None = None


@attrs.frozen
class Downtime:
    """A time no client watched a run: it was stopped (or killed) and later resumed.

    Attributes:
        since: The last time the run before it recorded anything (wall-clock seconds; it
            stopped at that time or a little later), ``None`` when no time was recorded.
        until: When it was resumed.
    """

    since: float | None
    until: float


@attrs.frozen(kw_only=True)
class RunSnapshot:
    """A journal's run, read without locking or changing it: :func:`read_journal` or ``FaultRun.snapshot()``.

    Attributes:
        path: The journal's path.
        endpoint: The cluster it was run against.
        created: When the journal was created (ISO 8601, UTC).
        version: Its format version.
        gates: The run's gates.
        aborted: Why the run stopped starting faults, or ``None``.
        targets: Every target, in plan order.
        notices: What reading it noticed (a cut last line, a plan cut short, ...).
        cut_plan: The run died while writing its plan (nothing of it was started).
        running: A run holds the journal now (it is being written).
        downtimes: Each time the run was stopped (or killed) and resumed, in order.
        cluster: The cluster the run was meant for (its manifest's ``Name``), when it named one.
        scenario: A failover scenario's records, in order (empty for a plain run): each a
            JSON object whose ``what`` is ``definition``, ``step``, ``validation`` or ``stopped``.
    """

    path: str
    endpoint: str
    created: str
    version: int
    gates: Gates
    aborted: str | None
    targets: tuple[TargetSnapshot, ...]
    notices: tuple[str, ...] = ()
    cut_plan: bool = False
    running: bool = False
    downtimes: tuple[Downtime, ...] = ()
    cluster: str | None = None
    scenario: tuple[Mapping[str, Any], ...] = ()

    @property
    def counts(self) -> Mapping[TargetStatus, int]:
        """How many targets stand at each status."""
        counts = dict.fromkeys(TargetStatus, 0)
        for target in self.targets:
            counts[target.status] += 1
        return counts


# --- journal lines: targets and results go to and from lines here, and only here -------------

#: The longest duration a journal line is believed (a year): beyond, or not a finite number >= 0, it is 0.
_MAX_SECONDS = 365 * 86400.0


def seconds(value: object) -> float:
    """A duration read from a journal line: a finite number of seconds in ``0..a year``, else 0.

    A journal is a file anyone can edit: ``NaN``, infinities and ``1e308`` must not reach a
    report (they crashed the HTML one and made its JSON invalid).
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return 0.0
    number = float(value)
    return number if 0.0 <= number <= _MAX_SECONDS else 0.0  # NaN fails both comparisons

#: Format version 1 named kinds by their command-line spelling.
_V1_KINDS = {kind.short_name: kind for kind in KINDS}  # (format 1 knew only these)


def _spec_value(_: object, __: object, value: object) -> object:
    return value.value if isinstance(value, enum.Enum) else value


def target_line(n: int, target: FaultTarget) -> dict[str, Any]:
    """The journal line of target *n*."""
    spec = attrs.asdict(target.spec, value_serializer=_spec_value)
    return {"event": "target", "n": n, **target.ref.as_dict(), "spec": spec}


def target_of(line: dict[str, Any], version: int) -> FaultTarget:
    """The target a journal line of format *version* names (``KeyError``/``ValueError``/``TypeError`` if none)."""
    if version == 1:
        kind = _V1_KINDS[line["kind"]]
        spec_fields = dict(line.get("params") or {})
    else:
        kind = OperationType(line["type"])
        spec_fields = dict(line.get("spec") or {})
    where = {p.name: line[p.name] for p in FaultTarget.parameters(kind) if p.target}
    ref = OperationRef(kind=kind, operation_id=line["operation_id"], **where)
    return FaultTarget(ref, spec_of(kind)(**spec_fields))


def result_line(result: RunResult) -> dict[str, Any]:
    """The journal line of a target's result."""
    return {
        "event": "outcome",
        "n": result.number,
        "outcome": result.outcome.value,
        "state": None if result.state is None else result.state.value,
        "error_code": result.error_code,
        "error": result.error,
        "polls": result.polls,
        "elapsed": result.elapsed,
        **_recovery_line(result.recovery),
        **({} if result.reason is None else {"reason": result.reason.value}),
        **({} if result.signal is None else {"signal": result.signal}),
    }


def _recovery_line(recovery: Recovery | None) -> dict[str, Any]:
    if recovery is None:
        return {}
    return {
        "recovered": recovery.recovered,
        "recovery_s": recovery.elapsed,
        "recovery_reason": recovery.reason,
        "recovery_checks": recovery.checks,
    }


def _recovery_of(line: dict[str, Any], ref: OperationRef) -> Recovery | None:
    recovered = line.get("recovered")
    if type(recovered) is not bool:
        return None
    reason = line.get("recovery_reason")
    return Recovery(
        ref,
        recovered,
        seconds(line.get("recovery_s")),
        None if reason is None else str(reason),
        int(line.get("recovery_checks") or 0),
    )


def result_of(line: dict[str, Any], target: FaultTarget, version: int) -> RunResult:
    """The result a journal line of format *version* holds, for *target*."""
    fields = dict(line.get("record") or {}) if version == 1 else line
    state = fields.get("state")
    code = fields.get("error_code")
    error = fields.get("error")
    outcome = OutcomeKind(fields.get("outcome" if version > 1 else "kind", "failed"))
    reason = fields.get("reason")
    return RunResult(
        int(line["n"]),
        target,
        outcome,
        None if state is None else _STATE_BY_WIRE.get(str(state), OperationState.UNKNOWN),
        code if type(code) is int else None,
        None if error is None else str(error),
        int(fields.get("polls") or 0),
        seconds(fields.get("elapsed" if version > 1 else "elapsed_s")),
        _recovery_of(fields, target.ref) if version > 1 else None,
        ResultReason(reason) if reason is not None else _legacy_reason(outcome, state, error),
        None if fields.get("signal") is None else str(fields.get("signal")),
    )


def _legacy_reason(outcome: OutcomeKind, state: object, error: object) -> ResultReason | None:
    """The reason of a result written before reasons were (sf_progress 0.x journals): read from its words once."""
    if outcome is not OutcomeKind.FAILED:
        return None
    text = str(error or "")
    if text.startswith("not started: the run was aborted"):
        return ResultReason.ABORTED
    if text.startswith("not started"):
        return ResultReason.REFUSED
    return ResultReason.WAIT_FAILED if state is None else None
