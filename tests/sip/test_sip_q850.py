"""Q.850 <-> SIP per RFC 3398, and the Reason header of RFC 3326."""

import pytest
from hypothesis import given, strategies as st

from firmware.sip.message import Request, parse_message
from firmware.sip.q850 import cause_from_reason, cause_of_status, reason_header, sip_status


@pytest.mark.parametrize("cause,status", [
    (1, 404), (2, 404), (3, 404), (17, 486), (18, 408), (19, 480), (21, 403), (22, 410), (27, 502),
    (28, 484), (34, 503), (38, 503), (41, 503), (42, 503), (47, 503), (55, 403), (58, 503), (65, 488),
    (79, 501), (102, 504), (111, 500), (127, 500), (16, 480), (31, 480)])
def test_cause_to_status_follows_rfc_3398(cause, status):
    assert sip_status(cause) == status


@pytest.mark.parametrize("status,cause", [
    (400, 41), (401, 21), (403, 21), (404, 1), (405, 63), (406, 79), (407, 21), (408, 102), (410, 22),
    (415, 79), (420, 127), (480, 18), (481, 41), (482, 25), (484, 28), (485, 1), (486, 17), (500, 41),
    (501, 79), (502, 38), (503, 41), (504, 102), (505, 127), (600, 17), (603, 21), (604, 1)])
def test_status_to_cause_follows_rfc_3398(status, cause):
    assert cause_of_status(status) == cause


def test_statuses_outside_the_table_fall_back_by_class():
    assert cause_of_status(487) == 16         # the answer to our own CANCEL
    assert cause_of_status(488) == 65         # no common media
    assert cause_of_status(499) == 21
    assert cause_of_status(599) == 41
    assert cause_of_status(302) == 23         # a redirection the box does not follow
    assert sip_status(50) == 503 and sip_status(90) == 400


@given(st.integers(1, 127))
def test_every_cause_has_a_failure_status_and_comes_back_as_a_cause(cause):
    status = sip_status(cause)
    assert 400 <= status < 700
    assert 1 <= cause_of_status(status) <= 127


def test_busy_and_unallocated_round_trip():
    assert cause_of_status(sip_status(17)) == 17
    assert cause_of_status(sip_status(1)) == 1


def test_out_of_range_values_are_refused_with_a_message():
    with pytest.raises(ValueError, match="1..127"):
        sip_status(0)
    with pytest.raises(ValueError, match="not a failure"):
        cause_of_status(200)


def test_reason_header_both_ways():
    assert reason_header(17) == 'Q.850;cause=17;text="User busy"'
    bye = parse_message(b"BYE sip:a@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK1\r\n"
                        b"From: <sip:b@x>;tag=1\r\nTo: <sip:a@y>;tag=2\r\nCall-ID: c\r\nCSeq: 2 BYE\r\n"
                        b"Reason: SIP;cause=200;text=\"Call completed elsewhere\"\r\n"
                        b"Reason: Q.850;cause=34;text=\"No circuit, channel\"\r\nContent-Length: 0\r\n\r\n")
    assert cause_from_reason(bye) == 34
    assert cause_from_reason(Request(method="BYE")) is None
    request = Request(method="BYE")
    request.add("Reason", "Q.850;cause=999")
    assert cause_from_reason(request) is None
