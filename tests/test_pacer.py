"""The pacer on its own: numbers in, decisions out (the token bucket and the backpressure rule)."""

from __future__ import annotations

import random

import pytest

from sf_progress._wait.pacer import BURST_SECONDS, DECREASE_WINDOW, MIN_FACTOR, Pacer


def pacer(concurrency: int = 64, rate: float | None = None, cap: float = 60.0) -> Pacer:
    return Pacer(concurrency, rate, retry_after_cap=cap, now=0.0)


def test_one_transient_answer_neither_pauses_nor_halves_the_batch() -> None:
    """A single 503 among healthy answers changes nothing for the batch (its own operation retries)."""
    p = pacer()
    p.busy(1.0)
    assert (p.factor, p.resume_at, p.allowed_in_flight()) == (1.0, 0.0, 64)


def test_ten_percent_noise_never_throttles() -> None:
    """10 % random transient answers over 5,000 answers never slow the batch down."""
    p, rng = pacer(), random.Random(1)
    for i in range(5000):
        if rng.random() < 0.1:
            p.busy(i * 0.001)
        else:
            p.healthy()
    assert p.factor == 1.0


def test_a_run_of_transient_answers_halves_at_most_once_per_window_then_recovers() -> None:
    """Sustained 503s halve the batch's share, at most once per window; healthy answers bring it back."""
    p = pacer()
    now = 0.0
    for _ in range(40):
        p.busy(now)
        now += 0.001
    assert p.factor == 0.5  # many 503s, but all within one window
    assert p.allowed_in_flight() == 32
    for _ in range(400):
        p.busy(now)
        now += 0.01
    assert p.factor < 0.5
    for _ in range(64 * 6):
        p.healthy()
    assert p.factor == 1.0


def test_the_share_never_falls_below_the_floor_and_one_request_may_always_go() -> None:
    """However long the overload, the batch keeps MIN_FACTOR of its share and at least one request."""
    p = pacer(concurrency=8)
    now = 0.0
    for _ in range(10_000):
        p.busy(now)
        now += DECREASE_WINDOW / 10
    assert p.factor == MIN_FACTOR
    assert p.allowed_in_flight() == 1


def test_retry_after_is_honoured_exactly_and_capped() -> None:
    """A Retry-After pauses the batch exactly that long, up to the cap; a shorter one never shortens a pause."""
    p = pacer(cap=30.0)
    p.busy(100.0, retry_after=7.0)
    assert p.resume_at == 107.0
    assert p.blocked_until() == 107.0
    assert p.factor == 1.0
    p.busy(101.0, retry_after=1.0)
    assert p.resume_at == 107.0
    p.busy(102.0, retry_after=3600.0)
    assert p.resume_at == 132.0


@pytest.mark.parametrize("rate", [500.0, 1000.0, 3000.0])
def test_rate_bucket_keeps_the_rate_despite_late_wake_ups(rate: float) -> None:
    """The max_rate bucket delivers the asked rate even when every wake-up comes late (within 2 %)."""
    p = pacer(rate=rate)
    now, granted = 0.0, 0
    while now < 10.0:
        if p.take(now):
            granted += 1
            continue
        now = p.send_at + 0.0007  # the event loop wakes the dispatcher 0.7 ms late, every time
    assert abs(granted / 10.0 - rate) / rate < 0.02


def test_rate_bucket_has_no_burst_at_the_start() -> None:
    """At the start the bucket grants at most one request, plus what 50 ms of rate earns."""
    p = pacer(rate=1000.0)
    granted = 0
    while p.take(0.0):
        granted += 1
    assert granted == 1
    assert p.take(0.0005) is False
    assert p.send_at == pytest.approx(0.001)
    granted = sum(p.take(1.0) for _ in range(1000))
    assert granted == int(1000.0 * BURST_SECONDS)


def test_without_a_rate_every_request_may_go_and_charges_cost_nothing() -> None:
    """No max_rate: take() always grants and a list call's charge() changes nothing."""
    p = pacer()
    assert all(p.take(0.0) for _ in range(10_000))
    p.charge()
    assert p.blocked_until() == 0.0


def test_a_list_call_takes_a_token_but_never_puts_the_bucket_in_debt() -> None:
    """charge() spends a token if there is one, and leaves an empty bucket empty (not negative)."""
    p = pacer(rate=10.0)
    p.charge()
    assert p.tokens == 0.0
    p.charge()
    assert p.tokens == 0.0
    assert p.take(0.1) is True  # 0.1 s of 10/s earned exactly one


def test_backpressure_slows_the_rate_too() -> None:
    """Under backpressure the bucket refills at factor × max_rate."""
    p = pacer(rate=100.0)
    now = 0.0
    for _ in range(40):
        p.busy(now)
        now += 0.001
    assert p.factor == 0.5
    assert p.take(now)
    granted = sum(1 for i in range(1, 1001) if p.take(now + i * 0.001))
    assert 50 <= granted <= 52  # 1 s at 50/s, plus the two tokens the bucket still held
