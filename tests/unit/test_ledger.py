"""The completeness ledger's missing ranges and a trace's coverage, table by
table, and missing ranges against a set difference written here."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ravao_central.ledger import (
    DeviceRecord,
    Gap,
    Holes,
    StatusChange,
    coverage,
    gaps_in_window,
    missing,
    offline_in_window,
    runs_of,
)

T0 = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
START, END = T0, T0 + timedelta(hours=2)  # the window of every table below


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


@pytest.mark.parametrize("seqs, runs", [
    pytest.param([], [], id="nothing stored"),
    pytest.param([1, 2, 3], [(1, 3)], id="one run"),
    pytest.param([4, 1, 2, 7, 8, 2], [(1, 2), (4, 4), (7, 8)], id="any order, repeats"),
])
def test_runs_of_seq_numbers(seqs, runs):
    assert runs_of(seqs) == runs


@pytest.mark.parametrize("stored, last_seq, expected", [
    pytest.param([(1, 120)], 120, [], id="gapless"),
    pytest.param([(1, 4), (7, 120)], 120, [[5, 6]], id="the contract's example"),
    pytest.param([(3, 10)], 10, [[1, 2]], id="the first events missing"),
    pytest.param([(1, 1), (3, 3), (5, 5)], 5, [[2, 2], [4, 4]], id="single numbers"),
    pytest.param([(7, 9), (1, 3)], 9, [[4, 6]], id="runs in any order"),
    pytest.param([(1, 5), (3, 8), (10, 12)], 12, [[9, 9]], id="overlapping runs"),
    pytest.param([(1, 3), (8, 9)], 5, [[4, 5]], id="runs past last_seq ignored"),
    pytest.param([], 0, [], id="no events"),
])
def test_missing_ranges(stored, last_seq, expected):
    assert [list(r) for r in missing(stored, last_seq)] == expected


@given(st.sets(st.integers(1, 200)))
def test_missing_is_every_number_not_stored(seqs):
    last_seq = max(seqs, default=0)
    numbers = {n for first, last in missing(runs_of(seqs), last_seq) for n in range(first, last + 1)}
    assert numbers == set(range(1, last_seq + 1)) - seqs


@pytest.mark.parametrize("before, after, counts", [
    pytest.param(10, 20, True, id="both neighbours in the window"),
    pytest.param(-30, 20, True, id="the one before, before the window"),
    pytest.param(100, 150, True, id="the one after, after the window"),
    pytest.param(-30, 150, True, id="spanning the whole window"),
    pytest.param(-30, -10, False, id="all before the window"),
    pytest.param(130, 150, False, id="all after the window"),
    pytest.param(-30, 0, True, id="the one after, at the window's start"),
    pytest.param(120, 150, False, id="the one before, at the window's end (half-open)"),
    pytest.param(None, 20, True, id="from seq 1, before an event in the window"),
    pytest.param(None, -10, False, id="from seq 1, before the window"),
    pytest.param(150, 100, True, id="neighbours out of order: the span between them"),
])
def test_a_missing_range_counts_when_its_neighbours_span_meets_the_window(before, after, counts):
    gap = Gap(5, 6, None if before is None else at(before), at(after))
    assert gaps_in_window([gap], START, END) == ([(5, 6)] if counts else [])


def status(minutes: float, state: str) -> StatusChange:
    return StatusChange(at(minutes), state)


@pytest.mark.parametrize("statuses, expected", [
    pytest.param([], [], id="no status"),
    pytest.param([status(-60, "online")], [], id="online throughout"),
    pytest.param([status(10, "offline"), status(40, "online")], [(10, 40)], id="offline inside the window"),
    pytest.param([status(-60, "offline"), status(30, "online")], [(0, 30)], id="since before: clipped"),
    pytest.param([status(90, "offline")], [(90, 120)], id="still offline: to the window's end"),
    pytest.param([status(-60, "offline")], [(0, 120)], id="offline all along"),
    pytest.param([status(-60, "offline"), status(-10, "online")], [], id="back before the window"),
    pytest.param([status(120, "offline")], [], id="at the window's end (half-open)"),
    pytest.param([status(10, "offline"), status(20, "offline"), status(40, "online"), status(50, "online")],
                 [(10, 40)], id="repeated states: from the first offline to the first online"),
    pytest.param([status(40, "online"), status(10, "offline"), status(60, "offline")], [(10, 40), (60, 120)],
                 id="any order, two periods"),
])
def test_offline_periods_in_the_window(statuses, expected):
    got = offline_in_window(statuses, START, END)
    assert [((s - T0).total_seconds() / 60, (e - T0).total_seconds() / 60) for s, e in got] == expected


def test_coverage_names_only_the_devices_with_holes():
    complete = DeviceRecord("door-01", "bv", (Gap(5, 6, at(-90), at(-80)),), (status(-60, "online"),))
    gapped = DeviceRecord("door-02", "bv", (Gap(5, 6, at(10), at(20)), Gap(9, 9, at(200), at(210))), ())
    offline = DeviceRecord("bus-7", "bv", (), (status(30, "offline"), status(45, "online")))
    assert coverage([complete, gapped, offline], START, END) == [
        Holes("door-02", "bv", ((5, 6),), ()),
        Holes("bus-7", "bv", (), ((at(30), at(45)),)),
    ]
    assert coverage([complete], START, END) == []
