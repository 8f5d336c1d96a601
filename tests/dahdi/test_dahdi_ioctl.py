"""DAHDI's ABI as drivers/dahdi_ioctl.py encodes it, checked against what dahdi-linux's
include/dahdi/user.h (Debian 12, 2.11.1.0.20170917) compiles to with gcc on x86-64: the
numbers below were printed by a C program including that header."""

import struct

import pytest
from hypothesis import given, strategies as st

from drivers import dahdi_ioctl as io

# (name, value) as `printf("%lx", NAME)` printed them from the real header.
HEADER_IOCTLS = {
    "DAHDI_GET_BLOCKSIZE": 0x8004DA01, "DAHDI_SET_BLOCKSIZE": 0x4004DA01, "DAHDI_FLUSH": 0x4004DA03,
    "DAHDI_GET_PARAMS": 0xC088DA05, "DAHDI_GETEVENT": 0x8004DA08, "DAHDI_IOMUX": 0xC004DA09,
    "DAHDI_SPANSTAT": 0xC13ADA0A, "DAHDI_MAINT": 0x4008DA0B, "DAHDI_SPANCONFIG": 0x4024DA12,
    "DAHDI_CHANCONFIG": 0x404CDA13, "DAHDI_GET_BUFINFO": 0x8018DA1B, "DAHDI_SET_BUFINFO": 0x4018DA1B,
    "DAHDI_AUDIOMODE": 0x4004DA20, "DAHDI_CHANNO": 0x8004DA22, "DAHDI_HDLCRAWMODE": 0x4004DA24,
    "DAHDI_HDLCFCSMODE": 0x4004DA25, "DAHDI_SPECIFY": 0x4004DA26, "DAHDI_SETLAW": 0x4004DA27,
    "DAHDI_GETVERSION": 0x80A0DA39, "DAHDI_DYNAMIC_CREATE": 0xC048DA50, "DAHDI_DYNAMIC_DESTROY": 0x4048DA51,
    "DAHDI_STARTUP": 0x4004DA63, "DAHDI_SHUTDOWN": 0x4004DA64,
}
HEADER_SIZES = {"SPANINFO": 314, "LINECONFIG": 36, "CHANCONFIG": 76, "BUFFERINFO": 24, "PARAMS": 136,
                "MAINTINFO": 8, "DYNAMIC_SPAN": 72, "VERSIONINFO": 160}
# offsetof(struct dahdi_spaninfo, field) from the header
SPANINFO_OFFSETS = {"alarms": 64, "bpvcount": 76, "fecount": 92, "irqmisses": 112, "syncsrc": 116,
                    "lineconfig": 136, "lboname": 140, "irq": 300, "spantype": 308}


@pytest.mark.parametrize("name, value", sorted(HEADER_IOCTLS.items()))
def test_ioctl_numbers_are_the_headers(name, value):
    assert getattr(io, name) == value
    assert io.IOCTL_NAMES[value] == name


@pytest.mark.parametrize("name, size", sorted(HEADER_SIZES.items()))
def test_struct_sizes_are_the_headers(name, size):
    assert getattr(io, name).size == size


def test_flag_and_event_values_are_the_headers():
    assert (io.DAHDI_SIG_HDLCFCS, io.DAHDI_SIG_HARDHDLC, io.DAHDI_SIG_CLEAR) == (0x380, 0x80080, 0x80)
    assert (io.DAHDI_CONFIG_AMI, io.DAHDI_CONFIG_CCS, io.DAHDI_CONFIG_HDB3, io.DAHDI_CONFIG_CRC4) == (
        0x40, 0x100, 0x200, 0x400)
    assert (io.DAHDI_ALARM_RECOVER, io.DAHDI_ALARM_YELLOW, io.DAHDI_ALARM_RED, io.DAHDI_ALARM_BLUE,
            io.DAHDI_ALARM_NOTOPEN, io.DAHDI_ALARM_LOS, io.DAHDI_ALARM_LFA, io.DAHDI_ALARM_LMFA) == (
        1, 4, 8, 16, 32, 256, 512, 1024)
    assert (io.DAHDI_EVENT_ALARM, io.DAHDI_EVENT_NOALARM, io.DAHDI_EVENT_ABORT, io.DAHDI_EVENT_OVERRUN,
            io.DAHDI_EVENT_BADFCS, io.DAHDI_EVENT_REMOVED) == (4, 5, 6, 7, 8, 20)
    assert io.ELAST == 500


def _spaninfo(**overrides):
    values = dict(spanno=3, name="TE4/0/3", desc="T4XXP (PCI) Card 0 Span 3", alarms=io.DAHDI_ALARM_RED,
                  txlevel=0, rxlevel=1, bpvcount=11, crc4count=22, ebitcount=33, fascount=44, fecount=55,
                  cvcount=66, becount=77, prbs=88, errsec=99, irqmisses=5, syncsrc=1, numchans=31,
                  totalchans=31, totalspans=4, lbo=0, lineconfig=0x700, lboname="0 db (CSU)",
                  location="PCI Bus 02 Slot 01", manufacturer="Digium", devicetype="Wildcard TE420",
                  irq=17, linecompat=0x7F0, spantype="E1")
    values.update(overrides)
    return io.SpanInfo(**values)


def test_spaninfo_fields_sit_at_the_headers_offsets():
    raw = _spaninfo().pack()
    assert len(raw) == 314
    at = SPANINFO_OFFSETS
    assert struct.unpack_from("=i", raw, at["alarms"])[0] == io.DAHDI_ALARM_RED
    assert struct.unpack_from("=4i", raw, at["bpvcount"]) == (11, 22, 33, 44)
    assert struct.unpack_from("=5I", raw, at["fecount"]) == (55, 66, 77, 88, 99)
    assert struct.unpack_from("=2i", raw, at["irqmisses"]) == (5, 1)
    assert struct.unpack_from("=i", raw, at["lineconfig"])[0] == 0x700
    assert raw[at["lboname"]:at["lboname"] + 11] == b"0 db (CSU)\0"
    assert struct.unpack_from("=2i", raw, at["irq"]) == (17, 0x7F0)
    assert raw[at["spantype"]:] == b"E1\0\0\0\0"


def test_spaninfo_round_trips_and_request_carries_the_span_number():
    info = _spaninfo()
    assert io.SpanInfo.unpack(info.pack()) == info
    request = io.SpanInfo.request(7)
    assert len(request) == 314 and request[:4] == (7).to_bytes(4, "little")


def test_a_short_spaninfo_is_refused_by_name():
    with pytest.raises(ValueError, match="dahdi_spaninfo is 314 octets, got 10"):
        io.SpanInfo.unpack(b"\0" * 10)


@given(st.binary(min_size=314, max_size=314))
def test_any_kernel_answer_unpacks(raw):
    info = io.SpanInfo.unpack(raw)
    assert isinstance(info.name, str) and isinstance(info.alarms, int)


def test_lineconfig_and_chanconfig_pack_as_the_kernel_reads_them():
    raw = io.pack_lineconfig(2, 0, io.DAHDI_CONFIG_CCS | io.DAHDI_CONFIG_HDB3 | io.DAHDI_CONFIG_CRC4, 1)
    assert raw == struct.pack("=i20siii", 2, b"", 0, 0x700, 1)
    chan = io.pack_chanconfig(16, io.DAHDI_SIG_HDLCFCS, io.DAHDI_LAW_ALAW)
    assert len(chan) == 76 and struct.unpack_from("=4i", chan, 44) == (0x380, 2, 0, 0)
    with pytest.raises(ValueError, match="longer than 19 octets"):
        io.pack_lineconfig(1, 0, 0, 0, name="x" * 20)


def test_bufferinfo_and_dynamic_span_and_maint():
    info = io.BufferInfo(numbufs=8, bufsize=160)
    assert io.BufferInfo.unpack(info.pack()) == info
    assert info.pack() == struct.pack("=6i", 0, 0, 8, 160, 0, 0)
    dyn = io.pack_dynamic_span("loc", "1:0", 31, 0)
    assert dyn[:4] == b"loc\0" and dyn[20:24] == b"1:0\0" and struct.unpack_from("=3i", dyn, 60) == (31, 0, 0)
    assert io.pack_maint(2, io.DAHDI_MAINT_LOCALLOOP) == struct.pack("=2i", 2, 1)


def test_channel_params_unpack():
    raw = bytearray(io.PARAMS.size)
    struct.pack_into("=4i", raw, 0, 16, 1, 16, io.DAHDI_SIG_HARDHDLC)
    struct.pack_into("=i", raw, 40, io.DAHDI_LAW_ALAW)
    raw[48:56] = b"TE4/0/1/"
    params = io.ChannelParams.unpack(bytes(raw))
    assert (params.channo, params.spanno, params.chanpos, params.sigtype, params.curlaw) == (
        16, 1, 16, io.DAHDI_SIG_HARDHDLC, io.DAHDI_LAW_ALAW)
    assert params.name == "TE4/0/1/"


@pytest.mark.parametrize("code, name", [
    (4, "alarm"), (5, "noalarm"), (6, "abort"), (7, "overrun"), (8, "badfcs"), (20, "removed"),
    (29, "read_overrun"), (30, "write_underrun"), (io.DAHDI_EVENT_DTMFDOWN | ord("5"), "dtmfdown:5"),
    (io.DAHDI_EVENT_DTMFUP | ord("#"), "dtmfup:#"), (999, "event 999"),
])
def test_event_names(code, name):
    assert io.event_name(code) == name
