"""B-channel hunting: within a span (ChannelTable) and across a trunk group's spans."""

import pytest
from hypothesis import given, settings, strategies as st

from firmware.gateway.trunks import TrunkGroup, TrunkHunter
from firmware.isdn.q931.channels import ChannelState, ChannelTable, Hunting

FIVE = (1, 2, 3, 4, 5)


def seize(table, hunting=None, call_id=[0]):
    ts = table.pick(hunting)
    call_id[0] += 1
    table.claim(ts, call_id[0])
    return ts, call_id[0]


def test_ascending_and_descending_keep_their_old_meaning():
    assert ChannelTable().pick() == 1
    assert ChannelTable(hunt_down=True).pick() == 31
    assert ChannelTable(hunt_down=True).hunting is Hunting.DESCENDING
    assert ChannelTable(hunting="ascending").pick(Hunting.DESCENDING) == 31


def test_round_robin_takes_the_channel_after_the_last_seized_and_wraps():
    table = ChannelTable(FIVE, hunting=Hunting.ROUND_ROBIN)
    first, call = seize(table)
    assert first == 1
    table.free(first, call)
    # Channel 1 is free again, but the next call goes on to 2, 3 ... and wraps to 1.
    picks = []
    for _ in range(5):
        ts, call = seize(table)
        picks.append(ts)
        table.free(ts, call)
    assert picks == [2, 3, 4, 5, 1]


def test_round_robin_skips_busy_and_out_of_service_channels():
    table = ChannelTable(FIVE, hunting=Hunting.ROUND_ROBIN)
    seize(table)                      # 1 busy
    table.set_out_of_service(2, True)
    assert seize(table)[0] == 3
    table.claim(4, 99)
    table.claim(5, 98)
    assert table.pick() is None       # 1, 3, 4, 5 busy, 2 out of service


def test_least_used_picks_the_channel_with_fewest_calls_then_the_lowest():
    table = ChannelTable(FIVE, hunting=Hunting.LEAST_USED)
    for _ in range(3):
        ts, call = seize(table)
        table.free(ts, call)
    assert table.seizures == {1: 1, 2: 1, 3: 1, 4: 0, 5: 0}
    assert table.pick() == 4
    table.state[4] = ChannelState.RESTARTING
    assert table.pick() == 5


@settings(max_examples=200)
@given(ops=st.lists(st.tuples(st.booleans(), st.integers(0, 4)), max_size=60))
def test_least_used_keeps_seizures_within_one_of_each_other_when_calls_end_at_once(ops):
    table = ChannelTable(FIVE, hunting=Hunting.LEAST_USED)
    for _ in ops:
        ts, call = seize(table)
        table.free(ts, call)
        assert max(table.seizures.values()) - min(table.seizures.values()) <= 1


@pytest.mark.parametrize("hunting", list(Hunting))
@settings(max_examples=50)
@given(busy=st.sets(st.sampled_from(FIVE)))
def test_every_scheme_picks_an_idle_channel_or_none_when_all_are_busy(hunting, busy):
    table = ChannelTable(FIVE, hunting=hunting)
    for ts in busy:
        table.claim(ts, ts)
    ts = table.pick()
    assert (ts is None) == (busy == set(FIVE))
    assert ts is None or table.is_idle(ts)


def tables(*spans, hunting=Hunting.ASCENDING):
    return {span: ChannelTable(FIVE, hunting=hunting) for span in spans}


def test_group_ascending_fills_the_first_span_first_and_descending_the_last_from_the_top():
    group_tables = tables(1, 2)
    hunter = TrunkHunter(TrunkGroup("g", (1, 2), Hunting.ASCENDING))
    for expected in [(1, 1), (1, 2), (1, 3), (1, 4), (1, 5), (2, 1)]:
        span, ts = hunter.pick(group_tables)
        assert (span, ts) == expected
        group_tables[span].claim(ts, 100 + ts)
    down = TrunkHunter(TrunkGroup("g", (1, 2), Hunting.DESCENDING))
    assert down.pick(tables(1, 2)) == (2, 5)


def test_group_round_robin_alternates_spans_and_channels():
    group_tables = tables(1, 2, 3)
    hunter = TrunkHunter(TrunkGroup("g", (1, 2, 3), Hunting.ROUND_ROBIN))
    picks = []
    for call in range(7):
        span, ts = hunter.pick(group_tables)
        group_tables[span].claim(ts, call)
        group_tables[span].free(ts, call)
        picks.append((span, ts))
    assert picks == [(1, 1), (2, 1), (3, 1), (1, 2), (2, 2), (3, 2), (1, 3)]


def test_group_least_used_prefers_the_span_with_most_free_channels():
    group_tables = tables(1, 2)
    hunter = TrunkHunter(TrunkGroup("g", (1, 2), Hunting.LEAST_USED))
    group_tables[1].claim(1, 1)
    assert hunter.pick(group_tables) == (2, 1)
    group_tables[2].claim(1, 2)
    group_tables[2].claim(2, 3)
    assert hunter.pick(group_tables) == (1, 2)


def test_group_passes_over_a_span_without_a_table_and_reports_all_busy_as_none():
    hunter = TrunkHunter(TrunkGroup("g", (1, 2), Hunting.ASCENDING))
    only_two = tables(2)
    assert hunter.pick(only_two) == (2, 1)
    for ts in FIVE:
        only_two[2].claim(ts, ts)
    assert hunter.pick(only_two) is None
    assert hunter.pick({}) is None
