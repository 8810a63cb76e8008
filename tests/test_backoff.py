"""Pure delay math and the retry policy."""

from __future__ import annotations

import email.utils
import itertools
import random
from datetime import timedelta

import pytest

from sf_progress import RetryPolicy, is_testing, set_testing
from sf_progress._backoff import backoff_delay, retry_after_seconds

KW = {"initial": 0.5, "multiplier": 2.0, "maximum": 8.0}


def test_backoff_grows_exponentially_without_jitter() -> None:
    """With no jitter the delay doubles up to the cap."""
    delays = [backoff_delay(n, jitter=0.0, rand=0.0, **KW) for n in range(7)]
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]


@pytest.mark.parametrize("attempt", [0, 3, 10, 1000, 10**6])
def test_backoff_bounds(attempt: int) -> None:
    """Every delay lies in [base*(1-jitter), base] and never above the maximum."""
    rng = random.Random(attempt)
    for _ in range(200):
        d = backoff_delay(attempt, jitter=0.5, rand=rng.random(), **KW)
        base = min(0.5 * 2.0 ** min(attempt, 100), 8.0)
        assert base * 0.5 <= d <= base <= 8.0


def test_jitter_survives_the_cap() -> None:
    """At the cap, delays stay spread over [max*(1-jitter), max], not collapsed onto max."""
    rng = random.Random(1)
    delays = [backoff_delay(50, jitter=0.5, rand=rng.random(), **KW) for _ in range(1000)]
    assert min(delays) < 4.5
    assert max(delays) > 7.5
    assert len({round(d, 3) for d in delays}) > 500


def test_burst_desynchronises() -> None:
    """Pollers started in the same instant do not retry in the same instant."""
    rng = random.Random(2)
    firsts = sorted(backoff_delay(20, jitter=0.5, rand=rng.random(), **KW) for _ in range(100))
    gaps = [b - a for a, b in itertools.pairwise(firsts)]
    assert max(gaps) < 1.0
    assert firsts[-1] - firsts[0] > 3.0


def test_negative_attempt_rejected() -> None:
    """A negative attempt number is a ValueError."""
    with pytest.raises(ValueError, match="attempt"):
        backoff_delay(-1, jitter=0, rand=0, **KW)


def test_retry_after_seconds_forms() -> None:
    """Retry-After is read as seconds or as an HTTP date; junk gives None."""
    now = 1_700_000_000.0
    assert retry_after_seconds("3", now=now) == 3.0
    assert retry_after_seconds(" 1.5 ", now=now) == 1.5
    assert retry_after_seconds(email.utils.formatdate(now + 10, usegmt=True), now=now) == pytest.approx(10, abs=1)
    assert retry_after_seconds(email.utils.formatdate(now - 10, usegmt=True), now=now) == 0.0
    assert retry_after_seconds("-5", now=now) == 0.0
    for junk in (None, "", "soon", "inf", "nan", "Mon, 99 Foo 2020"):
        assert retry_after_seconds(junk, now=now) is None


def test_retry_policy_defaults_and_delay() -> None:
    """The policy's delay is the pure backoff, raised to Retry-After within the cap."""
    policy = RetryPolicy(initial=timedelta(seconds=1), jitter=0.0, retry_after_cap=5)
    assert policy.delay(0, rand=0.3) == 1.0
    assert policy.delay(2, rand=0.3) == 4.0
    assert policy.delay(0, 3.0, rand=0.0) == 3.0
    assert policy.delay(0, 100.0, rand=0.0) == 5.0
    assert RetryPolicy().attempts == 5
    assert RetryPolicy(budget=None).budget is None
    assert 0.1 <= RetryPolicy().delay(0) <= 0.2


@pytest.mark.parametrize(
    "kwargs",
    [
        {"attempts": 0},
        {"attempts": 1.5},
        {"jitter": 1.5},
        {"multiplier": 0.5},
        {"initial": -1},
        {"budget": -1},
        {"maximum": -2},
        {"retry_after_cap": -1},
    ],
)
def test_retry_policy_validation(kwargs: dict[str, object]) -> None:
    """Invalid policy values are ValueErrors at construction."""
    with pytest.raises(ValueError):  # noqa: PT011 - each case has its own message
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


@pytest.mark.real_wait
def test_set_testing_as_call_and_context() -> None:
    """set_testing works as a call and as a context manager that restores the old state."""
    assert not is_testing()
    with set_testing(True, attempts=2):
        assert is_testing()
        with set_testing(False):
            assert not is_testing()
        assert is_testing()
    assert not is_testing()
    set_testing(True)
    assert is_testing()
    set_testing(False)
    assert not is_testing()
    with pytest.raises(ValueError, match="attempts"):
        set_testing(True, attempts=0)
