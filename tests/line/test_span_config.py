"""SpanConfig: the fields of one [[span]] table, each bad value rejected by name."""

import pytest

from drivers import make_span
from drivers.config import SpanConfig, SpanConfigError

GOOD = dict(id=1, driver="emulated", side="te", clock="line", law="alaw",
            wire="/tmp/pribox-span1.wire", wire_role="connect")


def test_defaults_are_those_of_a_euroisdn_pri():
    c = SpanConfig(**GOOD)
    assert (c.crc4, c.dchannel_timeslot, c.frames_per_datagram, c.dchannel_export) == (True, 16, 8, None)
    assert SpanConfig.fields() == ("id", "driver", "side", "clock", "law", "wire", "wire_role", "crc4",
                                   "dchannel_timeslot", "frames_per_datagram", "dchannel_export", "dahdi_span",
                                   "line_code", "framing", "line_build_out", "timing_priority")


@pytest.mark.parametrize("field, value, expected", [
    ("dchannel_timeslot", 0, "got 0, expected 1..31"),
    ("dchannel_timeslot", 32, "got 32, expected 1..31"),
    ("dchannel_timeslot", "16", "expected an integer"),
    ("side", "cpe", "got 'cpe', expected 'te' or 'nt'"),
    ("clock", "external", "expected 'line' or 'internal'"),
    ("law", "mulaw", "expected 'alaw' or 'ulaw'"),
    ("driver", "mISDN", "expected 'emulated' or 'dahdi'"),
    ("wire_role", "server", "expected 'listen' or 'connect'"),
    ("crc4", 1, "expected true or false"),
    ("id", 0, "expected an integer >= 1"),
    ("id", True, "expected an integer"),
    ("frames_per_datagram", 0, "expected 1..160"),
    ("frames_per_datagram", 161, "expected 1..160"),
    ("wire", "", "expected a Unix socket path"),
    ("wire", "/tmp/" + "x" * 120, "a Unix socket path holds at most 107"),
    ("dchannel_export", "/tmp/pribox-span1.wire", "also the wire socket"),
])
def test_bad_values_name_the_field_and_what_was_expected(field, value, expected):
    with pytest.raises(SpanConfigError) as info:
        SpanConfig(**{**GOOD, field: value})
    assert info.value.field == field
    assert f"span field '{field}'" in str(info.value)
    assert expected in str(info.value)


def test_from_mapping_rejects_unknown_and_missing_keys_with_the_place():
    with pytest.raises(SpanConfigError, match=r"pribox.toml: span\[2\]: span field 'crc': unknown key"):
        SpanConfig.from_mapping({**GOOD, "crc": True}, where="pribox.toml: span[2]")
    missing = dict(GOOD)
    del missing["law"]
    with pytest.raises(SpanConfigError, match=r"span field 'law': missing"):
        SpanConfig.from_mapping(missing)
    with pytest.raises(SpanConfigError, match=r"x.toml: span field 'dchannel_timeslot': got 40"):
        SpanConfig.from_mapping({**GOOD, "dchannel_timeslot": 40}, where="x.toml")
    assert SpanConfig.from_mapping({**GOOD, "crc4": False}).crc4 is False


def test_make_span_names_the_driver_it_cannot_build():
    config = SpanConfig(**GOOD)
    object.__setattr__(config, "driver", "mISDN")   # as if a newer config reached an older box
    with pytest.raises(SpanConfigError, match="no backend for 'mISDN'"):
        make_span(config, clock=None, bus=None)
