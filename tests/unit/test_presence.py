"""The presence and contact rules, table by table, and contacts against a
minute-by-minute reference written here independently."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ravao_central.presence import (
    Hit,
    Place,
    Sighting,
    Visit,
    contacts,
    in_window,
    merged,
    presence,
    span_to_load,
    to_read,
    visits_of,
)

T0 = datetime(2026, 11, 27, 7, 0, tzinfo=UTC)
DWELL = timedelta(minutes=60)
DOOR, MARKET = Place("bv-tw-hue"), Place("cho-dong-ba")
BUS = Place("hue-bus", vehicle="75B-012.34")


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def seen(minutes: float, direction: str, place: Place = DOOR, device: str = "door-01") -> Sighting:
    return Sighting(at(minutes), direction, place, device)


def spans(visits: list[Visit]) -> list[tuple[float, float, bool, bool]]:
    return [((v.start - T0).total_seconds() / 60, (v.end - T0).total_seconds() / 60, v.start_inferred,
             v.end_inferred) for v in visits]


@pytest.mark.parametrize("events, expected", [
    pytest.param([seen(0, "in"), seen(30, "out")], [(0, 30, False, False)], id="in then out"),
    pytest.param([seen(0, "in")], [(0, 60, False, True)], id="in alone: the dwell"),
    pytest.param([seen(0, "in"), seen(20, "in", MARKET)], [(0, 20, False, True), (20, 80, False, True)],
                 id="in, then in elsewhere: ends at the next event"),
    pytest.param([seen(0, "in"), seen(20, "in")], [(0, 20, False, True), (20, 80, False, True)],
                 id="scanned in twice"),
    pytest.param([seen(0, "in"), seen(60, "out")], [(0, 60, False, False)], id="out exactly at the dwell"),
    pytest.param([seen(0, "in"), seen(24 * 60, "out")], [(0, 24 * 60, False, False)], id="out exactly at 24 h"),
    pytest.param([seen(0, "in"), seen(24 * 60 + 1, "out")], [(0, 60, False, True), (24 * 60 - 59, 24 * 60 + 1,
                                                                                    True, False)],
                 id="out just over 24 h: two visits"),
    pytest.param([seen(0, "in"), seen(30, "out", MARKET)], [(0, 30, False, True), (0, 30, True, False)],
                 id="out at another place"),
    pytest.param([seen(100, "out")], [(40, 100, True, False)], id="out alone: start one dwell before"),
    pytest.param([seen(0, "in", MARKET), seen(10, "out", MARKET), seen(30, "out")],
                 [(0, 10, False, False), (10, 30, True, False)], id="out with a previous event: starts there"),
    pytest.param([seen(0, "in"), seen(0, "in", MARKET)], [(0, 60, False, True)],
                 id="no length (two places at once): dropped"),
    pytest.param([seen(0, "in", MARKET), seen(30, "out", MARKET), seen(30, "in")],
                 [(0, 30, False, False), (30, 90, False, True)], id="out and in elsewhere at once: out first"),
    pytest.param([seen(0, "in"), seen(0, "out")], [(-60, 0, True, False), (0, 60, False, True)],
                 id="out and in at one door at once: placed there"),
    pytest.param([seen(0, "in"), seen(200, "out")], [(0, 200, False, False)],
                 id="out past the dwell, within 24 h: still ends it"),
    pytest.param([seen(0, "in"), seen(30, "in", MARKET, "m"), seen(40, "out")],
                 [(0, 30, False, True), (30, 40, False, True), (30, 40, True, False)],
                 id="an out after an event elsewhere: not the in's end"),
    pytest.param([seen(0, "in", BUS, "bus-7"), seen(45, "out", BUS, "bus-7")], [(0, 45, False, False)],
                 id="a bus"),
    pytest.param([Sighting(datetime(2026, 11, 27, 23, 30, tzinfo=UTC), "in", DOOR, "d"),
                  Sighting(datetime(2026, 11, 28, 0, 40, tzinfo=UTC), "out", DOOR, "d")],
                 [(990, 1060, False, False)], id="across midnight"),
])
def test_visits_from_pass_events(events, expected):
    assert spans(visits_of(reversed(events), DWELL)) == expected  # any order in


def test_two_devices_at_one_door_make_one_visit_naming_both():
    (visit,) = visits_of([seen(0, "in", device="door-in"), seen(40, "out", device="door-out")], DWELL)
    assert visit.devices == {"door-in", "door-out"} and visit.place == DOOR


def test_ties_at_one_instant_do_not_depend_on_the_input_order():
    events = [seen(0, "in"), seen(0, "in", MARKET, "m"), seen(0, "out", BUS, "bus-7"), seen(0, "in", device="door-b")]
    assert visits_of(events, DWELL) == visits_of(reversed(events), DWELL)


def test_the_window_keeps_whole_visits_that_touch_it():
    visits = visits_of([seen(0, "in"), seen(50, "out"), seen(120, "in"), seen(130, "out")], DWELL)
    assert spans(in_window(visits, at(40), at(100))) == [(0, 50, False, False)]
    assert in_window(visits, at(50), at(120)) == []  # half-open at both ends
    assert span_to_load(at(0), at(10), DWELL) == (at(-24 * 60), at(10 + 24 * 60))


def test_visits_at_a_place_merge_before_overlaps():
    visits = visits_of([seen(0, "in"), seen(20, "in"), seen(50, "out")], DWELL)
    assert merged(visits) == {DOOR: [(at(0), at(50))]}


@st.composite
def window_and_events(draw):
    """A window, a dwell, and a person's events, many of them a minute either side of the window's margins."""
    start, length = 3000, draw(st.integers(0, 600))
    dwell = draw(st.sampled_from([1, 60, 2000]))
    margin = max(24 * 60, dwell)
    edges = [m + d for m in (start - margin, start, start + length, start + length + margin, start - dwell)
             for d in (-1, 0, 1)]
    minutes = st.one_of(st.integers(0, 7000), st.sampled_from(edges))
    events = draw(st.lists(st.tuples(minutes, st.sampled_from(["in", "out"]), st.sampled_from([DOOR, MARKET])),
                           max_size=25))
    return (at(start), at(start + length)), timedelta(minutes=dwell), events


@settings(max_examples=500, deadline=None)
@given(window_and_events())
def test_the_span_to_load_is_enough_for_every_visit_touching_it(case):
    window, dwell, events = case
    sightings = [seen(m, direction, place) for m, direction, place in events]
    low, high = span_to_load(*window, dwell)
    loaded = [s for s in sightings if low <= s.ts <= high]
    assert in_window(visits_of(loaded, dwell), *window) == in_window(visits_of(sightings, dwell), *window)


@st.composite
def people_around_intervals(draw):
    """Intervals at a door, a dwell, and several people's events at the door
    and the market, many of them a minute either side of the intervals' ends,
    a dwell off them, 24 hours off them; and ins and outs a dwell or 24 hours
    apart."""
    dwell = draw(st.sampled_from([1, 60, 2000]))
    intervals = sorted(draw(st.lists(st.tuples(st.integers(2000, 5000), st.integers(1, 600)), min_size=1,
                                     max_size=3)))
    around = merged([visit(a, a + n) for a, n in intervals])
    edges = [m + shift + d for a, n in intervals for m in (a, a + n) for shift in (0, dwell, -dwell, 1440, -1440)
             for d in (-1, 0, 1)]
    minutes = st.one_of(st.integers(0, 8000), st.sampled_from(edges))
    people = draw(st.dictionaries(st.sampled_from("bcdefg"), st.lists(
        st.tuples(minutes, st.sampled_from(["in", "out"]), st.sampled_from([DOOR, MARKET])), max_size=12),
        max_size=5))
    for events in people.values():  # an in and an out a dwell or 24 hours apart, give or take a minute
        for m, apart, d in draw(st.lists(st.tuples(minutes, st.sampled_from([dwell, 1440]), st.sampled_from(
                [-1, 0, 1])), max_size=2)):
            events += [(m, "in", DOOR), (m + apart + d, "out", DOOR)]
    return around, timedelta(minutes=dwell), people


@settings(max_examples=500, deadline=None)
@given(people_around_intervals())
def test_reading_only_the_spans_to_read_makes_every_overlapping_visit_exactly(case):
    around, dwell, people = case
    everything = {who: [seen(m, direction, place) for m, direction, place in events]
                  for who, events in people.items()}
    windows = {place: span_to_load(intervals[0][0], intervals[-1][1], dwell) for place, intervals in around.items()}
    hits = {place: [Hit(who, s.ts, s.direction) for who, seen_ in everything.items() for s in seen_
                    if s.place == place and lo <= s.ts <= hi] for place, (lo, hi) in windows.items()}
    wanted = to_read(around, hits, dwell)

    def overlapping(visits: list[Visit]) -> list[Visit]:
        return [v for v in visits if any(v.start < b and v.end > a for a, b in around.get(v.place, []))]

    for who, seen_ in everything.items():
        lo, hi = wanted.get(who, (T0, T0 - timedelta(minutes=1)))
        read = [s for s in seen_ if lo <= s.ts <= hi]
        assert overlapping(visits_of(read, dwell)) == overlapping(visits_of(seen_, dwell)), who


def visit(start: float, end: float, place: Place = DOOR) -> Visit:
    return Visit(place, at(start), at(end), False, False, frozenset({"d"}))


@pytest.mark.parametrize("others, expected", [
    pytest.param({"b": [visit(10, 25)]}, [("b", DOOR, 15.0, 10, 25)], id="exactly the minimum"),
    pytest.param({"b": [visit(10, 24)]}, [], id="just under the minimum"),
    pytest.param({"b": [visit(0, 60, MARKET)]}, [], id="another place"),
    pytest.param({"b": [visit(-30, 10), visit(50, 90)]}, [("b", DOOR, 20.0, 0, 60)], id="two pieces add up"),
    pytest.param({"b": [visit(0, 20)], "c": [visit(0, 60)]}, [("c", DOOR, 60.0, 0, 60), ("b", DOOR, 20.0, 0, 20)],
                 id="largest first"),
    pytest.param({"b": [visit(0, 40), visit(10, 30)]}, [("b", DOOR, 40.0, 0, 40)], id="own visits merged"),
    pytest.param({"b": [visit(0, 0.33 + 15)]}, [("b", DOOR, 15.3, 0, 15.33)], id="rounded to one decimal"),
    pytest.param({"b": [visit(0, 15.25)]}, [("b", DOOR, 15.3, 0, 15.25)], id="a half rounded up"),
    pytest.param({"b": [visit(0, 15.45)]}, [("b", DOOR, 15.5, 0, 15.45)], id="another half rounded up"),
    pytest.param({"b": [visit(0, 14.96)]}, [], id="rounds to the minimum, yet under it"),
    pytest.param({"c": [visit(30, 50)], "b": [visit(0, 20)]}, [("b", DOOR, 20.0, 0, 20), ("c", DOOR, 20.0, 30, 50)],
                 id="equal overlaps: the earlier first"),
])
def test_contacts(others, expected):
    found = contacts([visit(0, 60)], others, timedelta(minutes=15))
    assert [(c.person, c.place, c.overlap_minutes, (c.first - T0).total_seconds() / 60,
             round((c.last - T0).total_seconds() / 60, 2)) for c in found] == expected


def test_contacts_are_per_place_on_a_bus_too():
    traced = [visit(0, 30, BUS), visit(40, 90)]
    found = contacts(traced, {"b": [visit(0, 30, BUS), visit(40, 90)]}, timedelta(minutes=15))
    assert {(c.place, c.overlap_minutes) for c in found} == {(BUS, 30.0), (DOOR, 50.0)}


def test_presence_counts_at_each_point_half_open():
    by_person = {"a": [visit(0, 30)], "b": [visit(15, 45)], "c": [visit(0, 60, Place("bv-tw-hue", "bus-1"))],
                 "d": [visit(0, 60, MARKET)]}
    points = presence(by_person, "bv-tw-hue", at(0), at(60), timedelta(minutes=15))
    assert [((t - T0).total_seconds() / 60, n) for t, n in points] == [(0, 2), (15, 3), (30, 2), (45, 1)]
    with pytest.raises(ValueError):
        presence(by_person, "bv-tw-hue", at(0), at(60), timedelta(0))


def minute_reference(traced: list[tuple[int, int, int]], others: dict[str, list[tuple[int, int, int]]],
                     min_overlap: int) -> dict[tuple[str, int], int]:
    """(person, place) → shared minutes, counted minute by minute."""
    mine = {(place, m) for start, end, place in traced for m in range(start, end)}
    counts: dict[tuple[str, int], int] = {}
    for person, visits in others.items():
        theirs = {(place, m) for start, end, place in visits for m in range(start, end)}
        for place, _ in mine & theirs:
            counts[person, place] = counts.get((person, place), 0) + 1
    return {key: n for key, n in counts.items() if n >= min_overlap}


VISITS = st.lists(st.tuples(st.integers(0, 300), st.integers(1, 120), st.integers(0, 2)), max_size=6).map(
    lambda vs: [(start, start + length, place) for start, length, place in vs])


@settings(max_examples=300, deadline=None)
@given(traced=VISITS, others=st.dictionaries(st.sampled_from("bcdef"), VISITS, max_size=4),
       min_overlap=st.integers(1, 60))
def test_contacts_match_a_minute_by_minute_count(traced, others, min_overlap):
    places = [DOOR, MARKET, BUS]

    def as_visits(vs):
        return [visit(start, end, places[p]) for start, end, p in vs]

    found = contacts(as_visits(traced), {k: as_visits(v) for k, v in others.items()}, timedelta(minutes=min_overlap))
    got = {(c.person, places.index(c.place)): c.overlap.total_seconds() / 60 for c in found}
    assert got == minute_reference(traced, others, min_overlap)
    assert [c.overlap for c in found] == sorted((c.overlap for c in found), reverse=True)
