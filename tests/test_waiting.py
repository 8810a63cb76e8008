"""Backoff and the per-operation state machine, with plain numbers (no I/O, no sleeping)."""

from __future__ import annotations

import math
import random
from datetime import timedelta

import pytest

from sf_progress import (
    AuthError,
    Backoff,
    FabricTransientError,
    NotFoundError,
    OperationRef,
    OperationState,
    OutcomeKind,
    PartitionRestartProgress,
    Retrying,
    RetryPolicy,
    StateChanged,
    TransportError,
    WaitOptions,
    WaitTimeout,
)
from sf_progress._wait.machine import Outcome, _Tracker, first_due, step
from sf_progress._wait.options import engine_settings

RUNNING = PartitionRestartProgress(OperationState.RUNNING)
ROLLING = PartitionRestartProgress(OperationState.ROLLING_BACK)


def cfg(deadline: float = 100.0, grace: float = 5.0, backoff: Backoff | None = None):  # type: ignore[no-untyped-def]
    options = WaitOptions(backoff=backoff or Backoff(jitter=0.0), not_found_grace=grace, deadline=deadline)
    return engine_settings(options, RetryPolicy(jitter=0.0))


def test_backoff_defaults_and_validation() -> None:
    """Backoff has documented defaults and refuses nonsense."""
    b = Backoff()
    assert (b.initial, b.multiplier, b.maximum, b.jitter) == (1.0, 1.5, 10.0, 0.3)
    assert Backoff(initial=timedelta(milliseconds=500)).initial == 0.5
    for kwargs in ({"initial": 0}, {"maximum": -1}, {"multiplier": 0.9}, {"jitter": 2}):
        with pytest.raises(ValueError):  # noqa: PT011 - messages differ per field
            Backoff(**kwargs)  # type: ignore[arg-type]


def test_backoff_sequence_and_fixed() -> None:
    """Delays grow by the multiplier to the cap; Backoff.fixed never changes."""
    b = Backoff(initial=1, multiplier=2, maximum=5, jitter=0)
    assert [b.delay(n, 0.5) for n in range(5)] == [1, 2, 4, 5, 5]
    assert {Backoff.fixed(5).delay(n, random.random()) for n in range(20)} == {5.0}


def test_polling_jitter_desynchronises_a_burst() -> None:
    """1000 operations started together spread their polls, also at the cap."""
    b = Backoff()
    rng = random.Random(7)
    for poll in (0, 3, 30):
        times = sorted(b.delay(poll, rng.random()) for _ in range(1000))
        base = min(1.0 * 1.5**poll, 10.0)
        assert times[0] >= base * 0.7
        assert times[-1] <= base
        assert len({round(t, 4) for t in times}) > 600  # no lockstep: hundreds of distinct instants


def test_first_poll_after_initial_delay(ref: OperationRef) -> None:
    """The first poll is due ``initial`` after the start (minus jitter), never past the deadline."""
    tracker = _Tracker(ref, 10.0, 100.0)
    assert first_due(tracker, cfg()) == 11.0
    assert first_due(_Tracker(ref, 10.0, 0.5), cfg(deadline=0.5)) == 10.5


def test_state_change_events_only_on_change(ref: OperationRef) -> None:
    """StateChanged comes for the first state and each change, not for repeated states."""
    tracker, c = _Tracker(ref, 0.0, 100.0), cfg()
    nxt, event = step(tracker, RUNNING, 1.0, c)
    assert event == StateChanged(ref, RUNNING, None)
    assert nxt == 1.0 + 1.5
    nxt, event = step(tracker, RUNNING, 2.5, c)
    assert event is None
    assert nxt == 2.5 + 2.25
    _, event = step(tracker, ROLLING, 5.0, c)
    assert event == StateChanged(ref, ROLLING, OperationState.RUNNING)


@pytest.mark.parametrize(
    ("state", "kind"),
    [
        (OperationState.COMPLETED, OutcomeKind.COMPLETED),
        (OperationState.FAULTED, OutcomeKind.FAULTED),
        (OperationState.CANCELLED, OutcomeKind.CANCELLED),
        (OperationState.FORCE_CANCELLED, OutcomeKind.CANCELLED),
    ],
)
def test_terminal_states_end_the_wait(ref: OperationRef, state: OperationState, kind: OutcomeKind) -> None:
    """Each terminal state gives its outcome kind, with the progress and no error."""
    tracker = _Tracker(ref, 0.0, 100.0)
    step(tracker, RUNNING, 1.0, cfg())
    progress = PartitionRestartProgress(state)
    outcome, _ = step(tracker, progress, 3.0, cfg())
    assert outcome == Outcome(ref, kind, progress, None, 2, 3.0)
    assert outcome.state is state
    assert outcome.ok == (kind is OutcomeKind.COMPLETED)


def test_unknown_and_invalid_states_keep_polling(ref: OperationRef) -> None:
    """States that are not terminal (Unknown, Invalid, RollingBack) keep the wait going."""
    tracker = _Tracker(ref, 0.0, 100.0)
    for state in (OperationState.UNKNOWN, OperationState.INVALID, OperationState.ROLLING_BACK):
        nxt, _ = step(tracker, PartitionRestartProgress(state, None, "X"), 1.0, cfg())
        assert isinstance(nxt, float)


def not_found(ref: OperationRef) -> NotFoundError:
    return NotFoundError(status=404, code="FABRIC_E_KEY_NOT_FOUND", message="gone", ref=ref)


def test_not_found_grace_then_not_found(ref: OperationRef) -> None:
    """A 404 within the grace period is retried; after it, the outcome is NOT_FOUND."""
    tracker, c = _Tracker(ref, 0.0, 100.0), cfg(grace=5.0)
    nxt, event = step(tracker, not_found(ref), 1.0, c)
    assert isinstance(nxt, float)
    assert event is None
    outcome, _ = step(tracker, not_found(ref), 5.0, c)
    assert isinstance(outcome, Outcome)
    assert outcome.kind is OutcomeKind.NOT_FOUND
    assert isinstance(outcome.error, NotFoundError)


def test_not_found_after_progress_is_final(ref: OperationRef) -> None:
    """A 404 after the operation was seen (purged) ends at once, grace or not."""
    tracker, c = _Tracker(ref, 0.0, 100.0), cfg(grace=50.0)
    step(tracker, RUNNING, 1.0, c)
    outcome, _ = step(tracker, not_found(ref), 2.0, c)
    assert isinstance(outcome, Outcome)
    assert outcome.kind is OutcomeKind.NOT_FOUND
    assert outcome.progress == RUNNING


def test_transient_errors_retry_with_growing_delay(ref: OperationRef) -> None:
    """Transient errors never end the wait while budget remains; Retry-After raises the delay."""
    tracker, c = _Tracker(ref, 0.0, 100.0), cfg()
    busy = FabricTransientError(status=503, code="E_ABORT", message="busy", ref=ref)
    reset = TransportError("reset", ref=ref)
    delays = []
    for now, error in ((1.0, busy), (2.0, reset), (3.0, busy)):
        nxt, event = step(tracker, error, now, c)
        assert isinstance(event, Retrying)
        delays.append(event.delay)
        assert nxt == now + event.delay
    assert delays == [0.2, 0.4, 0.8]
    later = FabricTransientError(status=503, code="E_ABORT", message="busy", retry_after=7.0, ref=ref)
    _, event = step(tracker, later, 4.0, c)
    assert isinstance(event, Retrying)
    assert event.delay == 7.0
    step(tracker, RUNNING, 11.0, c)
    assert tracker.failures == 0


def test_other_errors_fail_the_operation(ref: OperationRef) -> None:
    """A non-transient error ends that operation as FAILED with the error."""
    error = AuthError(status=401, code=None, message="Unauthorized", ref=ref)
    outcome, _ = step(_Tracker(ref, 0.0, 100.0), error, 1.0, cfg())
    assert isinstance(outcome, Outcome)
    assert outcome.kind is OutcomeKind.FAILED
    assert outcome.error is error


def test_deadline_clips_last_sleep_then_times_out(ref: OperationRef) -> None:
    """The last poll is moved to the deadline; after it the outcome is TIMED_OUT with the last progress."""
    tracker, c = (
        _Tracker(ref, 0.0, 10.0),
        cfg(deadline=10.0, backoff=Backoff(initial=4, multiplier=1, jitter=0)),
    )
    assert step(tracker, RUNNING, 4.0, c)[0] == 8.0
    assert step(tracker, RUNNING, 8.0, c)[0] == 10.0
    outcome, _ = step(tracker, RUNNING, 10.0, c)
    assert isinstance(outcome, Outcome)
    assert outcome.kind is OutcomeKind.TIMED_OUT
    assert isinstance(outcome.error, WaitTimeout)
    assert isinstance(outcome.error, TimeoutError)
    assert outcome.error.last_progress == RUNNING
    assert outcome.error.deadline == 10.0
    assert outcome.polls == 3


def test_timeout_after_transient_errors_carries_last_error(ref: OperationRef) -> None:
    """A wait that ends on the deadline while the cluster is failing reports the last error."""
    tracker = _Tracker(ref, 0.0, 1.0)
    busy = FabricTransientError(status=503, code="E_ABORT", message="busy", ref=ref)
    outcome, _ = step(tracker, busy, 1.0, cfg(deadline=1.0))
    assert isinstance(outcome, Outcome)
    assert isinstance(outcome.error, WaitTimeout)
    assert outcome.error.last_error is busy
    assert outcome.error.last_progress is None
    assert "none read" in str(outcome.error)


def test_settings_validation() -> None:
    """Wait options are validated once, before anything is sent."""
    with pytest.raises(TypeError, match="Backoff"):
        WaitOptions(backoff={"initial": 1})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="deadline"):
        WaitOptions(deadline=-1)
    with pytest.raises(ValueError, match="not_found_grace"):
        WaitOptions(not_found_grace=-1)
    with pytest.raises(ValueError, match="concurrency"):
        WaitOptions(concurrency=WaitOptions.MAX_CONCURRENCY + 1)
    with pytest.raises(ValueError, match="max_rate"):
        WaitOptions(max_rate=0)
    with pytest.raises(TypeError, match="coalesce"):
        WaitOptions(coalesce="yes")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="on_event"):
        WaitOptions(on_event=3)  # type: ignore[arg-type]
    assert WaitOptions(deadline=None).deadline == math.inf
