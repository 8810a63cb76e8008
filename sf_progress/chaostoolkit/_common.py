"""What the activities share: starting and waiting for a fault, its JSON-able result, and the faults started here."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import Any

from chaoslib.exceptions import ActivityFailed

from .. import (
    ClusterMismatchError,
    FabricError,
    FabricTransientError,
    FaultProgress,
    FaultTarget,
    OperationRef,
    OperationType,
    Outcome,
    OutcomeKind,
    SafetyError,
    SFProgressError,
    UnsupportedFaultError,
    Verification,
    WaitTimeout,
)
from ._connect import client_for, flag, logger

__all__ = ["STARTED", "failed", "ref_json", "run_fault", "server_timeout"]

#: Every fault the actions of this process started (a rollback cancels those still active).
STARTED: list[OperationRef] = []


def ref_json(ref: OperationRef) -> dict[str, Any]:
    """The fields that name an operation, as plain JSON (a verified fault's: with its baseline)."""
    fields: dict[str, Any] = dict(ref.as_dict())
    if ref.baseline is not None:
        fields["baseline"] = ref.baseline.as_dict()
    return fields


def progress_json(ref: OperationRef, progress: FaultProgress | None) -> dict[str, Any]:
    fields = {
        **ref_json(ref),
        "state": None if progress is None else progress.raw_state,
        "error_code": None if progress is None else progress.error_code,
    }
    result = None if progress is None else progress.result
    if isinstance(result, Verification):  # what was seen of a verified fault
        fields["signal"] = result.signal
    return fields


def server_timeout(value: object) -> int:
    """An activity's ``timeout`` as one call's server timeout: whole seconds in 1..4294967295.

    ``inf`` (no limit) is the longest the gateway takes; a fraction rounds up; anything else that
    is not a number > 0 is a ``ValueError`` (``int(inf)`` used to escape as an ``OverflowError``).
    """
    seconds = float(value)  # type: ignore[arg-type]
    if not seconds > 0:  # NaN too
        raise ValueError(f"timeout must be a number of seconds > 0, got {value!r}")
    return int(min(math.ceil(seconds) if seconds != math.inf else _MAX_TIMEOUT, _MAX_TIMEOUT))


_MAX_TIMEOUT = 4294967295


def failed(what: str, exc: BaseException) -> ActivityFailed:
    """The toolkit's failure for an sf_progress error (or bad input): one clear line, no traceback."""
    return ActivityFailed(f"{what}: {exc}")


def run_fault(
    make: Any,
    what: str,
    wait: bool,
    until_recovered: bool,
    timeout: float,
    configuration: Mapping[str, Any] | None,
    secrets: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """Start the fault ``make()`` describes; wait (``timeout`` seconds at most) unless ``wait`` is false."""
    try:
        # Flags may come as text from an experiment file ("false" is not truthy here): read them first.
        wait, until_recovered = flag(wait, "wait"), flag(until_recovered, "until_recovered")
        target: FaultTarget = make()
        seconds = float(timeout)
        if not seconds > 0:
            raise ValueError(f"timeout must be a number of seconds > 0, got {timeout!r}")
    except (ValueError, TypeError) as exc:
        raise failed(f"{what}: bad arguments", exc) from None
    started = time.monotonic()
    with client_for(configuration, secrets, budget=seconds) as client:  # no retry starts past the timeout
        ref = target.ref
        # Recorded before it is sent: a Ctrl-C (or a lost answer) while the start is in flight may leave
        # a fault running, and the rollback must know of it (it reads its progress before cancelling).
        STARTED.append(ref)
        try:
            # (a verified fault's ref comes back with its baseline: what the wait verifies against)
            ref = client.start(target, timeout=min(server_timeout(seconds), _START_TIMEOUT))
        except FabricError as exc:
            if not isinstance(exc, FabricTransientError):  # refused by the cluster: nothing runs
                STARTED.remove(ref)
            raise failed(f"{what} was not started", exc) from None
        except (SafetyError, UnsupportedFaultError, ClusterMismatchError) as exc:  # refused before sending
            STARTED.remove(ref)
            raise failed(f"{what} was not started", exc) from None
        except SFProgressError as exc:  # unreachable, or the answer lost: it may have landed (the rollback checks)
            raise failed(f"{what} was not started", exc) from None
        logger.info("sf_progress: started %s", ref)
        if not wait:
            return {**ref_json(ref), "state": "Running", "elapsed_s": 0.0}
        left = seconds - (time.monotonic() - started)  # the timeout covers the start too
        if left <= 0:
            raise ActivityFailed(f"{what} was started, but its timeout ({seconds:g}s) was spent starting it: {ref}")
        try:
            (outcome,) = client.wait_many([ref], deadline=left, recovery=until_recovered)
        except SFProgressError as exc:
            raise failed(f"{what} could not be followed", exc) from None
        return _ended(what, outcome, seconds, until_recovered)


def _ended(what: str, outcome: Outcome, seconds: float, until_recovered: bool) -> dict[str, Any]:
    """An action's result: the fault was applied (and ended Completed), recovered or not; else ``ActivityFailed``.

    A completed fault whose target did not recover is a finding, not a failed action: it returns
    ``recovered: false`` (and why), and a probe of the steady-state hypothesis makes the run deviate.
    """
    ref, progress = outcome.ref, outcome.progress
    if outcome.kind is OutcomeKind.TIMED_OUT:
        raise failed(f"{what} did not end within {seconds:g}s (its timeout)", outcome.error or WaitTimeout(
            "timed out", ref=ref, deadline=seconds, last_progress=progress))
    if progress is None or outcome.kind in (OutcomeKind.FAILED, OutcomeKind.NOT_FOUND):
        detail = outcome.error if outcome.error is not None else f"no progress read ({outcome.kind.value})"
        raise ActivityFailed(f"{what} could not be followed: {detail}")
    if outcome.kind is not OutcomeKind.COMPLETED:
        raise ActivityFailed(f"{what} ended {progress.raw_state} (error code {progress.error_code}): {ref}")
    result = {**progress_json(ref, progress), "elapsed_s": round(outcome.elapsed, 3),
              "time_to_end_s": round(outcome.fault_elapsed, 3)}
    recovery = outcome.recovery
    if until_recovered and recovery is not None:
        result.update(recovered=recovery.recovered, recovery_s=round(recovery.elapsed, 3))
        if not recovery.recovered:
            result["recovery_reason"] = recovery.reason
            logger.warning("sf_progress: %s completed, but its target did not recover within %gs: %s",
                           ref, seconds, recovery.reason)
    logger.info("sf_progress: %s ended %s in %.1fs", ref, progress.raw_state, outcome.elapsed)
    return result


#: The longest server timeout of a start request (a start is answered at once; the default is 60 s).
_START_TIMEOUT = 60


def kind_of(name: str) -> OperationType:
    """A fault kind from its wire name (``PartitionRestart``) or the command line's (``restart``)."""
    return OperationType.named(name)
