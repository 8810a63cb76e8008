"""The adaptive list tick: numbers in, intervals out (pure; no clock, no server)."""

from __future__ import annotations

import pytest

from sf_progress._wait.observer import ITEM_COST
from sf_progress._wait.tick import CEILING, END_SHARE, FLOOR, JITTER, LIST_SHARE, REQUEST_TICK, Ticker

MID = 0.5  # rand placing the jitter in the middle: no jitter


def steady(
    ticker: Ticker,
    *,
    size: int,
    waiting: int,
    gone_per_s: float,
    every: float,
    ticks: int = 40,
    ceiling: float = CEILING,
) -> float:
    """Feed *ticks* list answers *every* seconds apart; return the last interval chosen."""
    now, delay = 0.0, 0.0
    for _ in range(ticks):
        gone = round(gone_per_s * every)
        delay = ticker.listed(now, size=size, waiting=waiting, gone=gone, answer_s=0.002, rand=MID, ceiling=ceiling)
        now += every
    return delay


def test_a_large_calm_batch_ticks_at_the_items_share() -> None:
    """2,000 of our own operations in the list, ending fast: ITEM_COST / LIST_SHARE seconds (0.4 s)."""
    delay = steady(Ticker(ITEM_COST), size=2000, waiting=2000, gone_per_s=400, every=0.4)
    assert delay == pytest.approx(ITEM_COST / LIST_SHARE)
    assert FLOOR < delay < REQUEST_TICK


def test_the_floor_bounds_a_list_cheaper_than_its_waits() -> None:
    """A list shorter than the waits it answers (most of ours ended meanwhile) never ticks under FLOOR."""
    assert steady(Ticker(ITEM_COST), size=100, waiting=2000, gone_per_s=400, every=0.2) == pytest.approx(FLOOR)


def test_a_handful_of_waits_lists_about_once_a_second() -> None:
    """Five waits, nothing ended yet: the request rules hold the tick at the former 1 s, never longer."""
    assert steady(Ticker(ITEM_COST), size=5, waiting=5, gone_per_s=0, every=1.0) == pytest.approx(REQUEST_TICK)


def test_long_operations_keep_list_calls_near_a_tenth_of_the_reads() -> None:
    """600 waits ending 30 per second: about one list call per 1 / END_SHARE operations found ended."""
    delay = steady(Ticker(ITEM_COST), size=600, waiting=600, gone_per_s=30, every=0.4, ticks=100)
    assert delay == pytest.approx(1.0 / (END_SHARE * 30), rel=0.05)


def test_before_anything_ends_the_horizon_bounds_the_rate() -> None:
    """600 waits, none ended: 600 / 60 s taken as the end rate -> 1 / (0.08 * 10) capped at 1 s."""
    assert steady(Ticker(ITEM_COST), size=600, waiting=600, gone_per_s=0, every=1.0) == pytest.approx(REQUEST_TICK)


def test_a_list_crowded_with_other_operations_ticks_at_the_ceiling() -> None:
    """9,200 items answering 200 waits: the items alone would cost more than LIST_SHARE of the reads."""
    assert steady(Ticker(ITEM_COST), size=9200, waiting=200, gone_per_s=10, every=5.0) == pytest.approx(CEILING)


def test_a_moderately_crowded_list_costs_its_share_of_the_loop() -> None:
    """1,000 items for 100 waits: items cost 1000 * ITEM_COST reads per call, at most 5 reads a second."""
    delay = steady(Ticker(ITEM_COST), size=1000, waiting=100, gone_per_s=50, every=2.0)
    assert delay == pytest.approx(1000 * ITEM_COST / (LIST_SHARE * 100))


def test_a_list_chosen_over_prompt_reads_is_held_to_their_pace() -> None:
    """The same list chosen over prompt reads (ceiling 1.5 s): 4 s by the share rule, 1.5 s at most."""
    delay = steady(Ticker(ITEM_COST), size=1000, waiting=100, gone_per_s=50, every=1.5, ceiling=1.5)
    assert delay == pytest.approx(1.5)
    ticker = Ticker(ITEM_COST)
    steady(ticker, size=1000, waiting=100, gone_per_s=50, every=1.5, ceiling=1.5)
    assert ticker.failed(MID) == pytest.approx(3.0)  # a penalty may still lengthen it, up to CEILING


def test_a_slow_list_lengthens_the_tick() -> None:
    """A list answering in 0.5 s is sent at most every 2 s (SLOW_FACTOR 4)."""
    ticker = Ticker(ITEM_COST)
    steady(ticker, size=2000, waiting=2000, gone_per_s=400, every=0.2)
    assert ticker.listed(10.0, size=2000, waiting=2000, gone=80, answer_s=0.5, rand=MID) == pytest.approx(2.0)


def test_transient_answers_double_the_tick_and_answers_halve_it_back() -> None:
    """Each failure doubles a penalty (capped by the ceiling); each answer halves it."""
    ticker = Ticker(ITEM_COST)
    base = steady(ticker, size=5, waiting=5, gone_per_s=0, every=1.0)
    assert ticker.failed(MID) == pytest.approx(2 * base)
    assert ticker.failed(MID) == pytest.approx(4 * base)
    for _ in range(10):
        ticker.failed(MID)
    assert ticker.failed(MID) == pytest.approx(CEILING)
    assert ticker.listed(100.0, size=5, waiting=5, gone=0, answer_s=0.0, rand=MID) == pytest.approx(CEILING)
    for i in range(5):
        ticker.listed(101.0 + i, size=5, waiting=5, gone=0, answer_s=0.0, rand=MID)
    assert ticker.listed(107.0, size=5, waiting=5, gone=0, answer_s=0.0, rand=MID) == pytest.approx(base)


@pytest.mark.parametrize("rand", [0.0, 0.25, 0.999])
def test_jitter_stays_within_its_band(rand: float) -> None:
    """Every interval lies within +-JITTER of the rule's value."""
    ticker = Ticker(ITEM_COST)
    delay = ticker.listed(0.0, size=5, waiting=5, gone=0, answer_s=0.0, rand=rand)
    assert (1 - JITTER) * REQUEST_TICK <= delay <= (1 + JITTER) * REQUEST_TICK
