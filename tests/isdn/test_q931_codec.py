"""Every Q.931 IE and message encodes and decodes back; the decoder never raises past the header."""

from hypothesis import given, settings, strategies as st

from firmware.isdn.q931 import ies as ie
from firmware.isdn.q931.causes import Cause, cause_name
from firmware.isdn.q931.messages import MessageHeaderError, MessageType, decode, encode

ia5 = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=24)
u = lambda bits: st.integers(0, (1 << bits) - 1)  # noqa: E731


@st.composite
def bearer(draw):
    rate = draw(st.sampled_from([0x10, 0x11, 0x13, 0x15, 0x17, 0x18]))
    layer1 = draw(st.none() | u(5))
    return ie.BearerCapability(draw(u(5)), layer1, draw(u(2)), draw(u(2)), rate,
                               draw(u(7)) if rate == 0x18 else None,
                               draw(st.binary(max_size=4)) if layer1 is not None else b"")


@st.composite
def party(draw, cls):
    pres = draw(st.none() | u(2))
    return cls(draw(ia5), draw(u(3)), draw(u(4)), pres, draw(u(2)) if pres is not None else 0)


@st.composite
def redirecting(draw):
    reason = draw(st.none() | u(4))
    pres = draw(u(2)) if reason is not None else draw(st.none() | u(2))
    return ie.RedirectingNumber(draw(ia5), draw(u(3)), draw(u(4)), pres, draw(u(2)) if pres is not None else 0, reason)


@st.composite
def channel(draw):
    ts = draw(st.none() | st.integers(0, 127))
    return ie.ChannelId(ts, draw(st.booleans()), draw(st.booleans()) if ts is None else False, draw(st.booleans()),
                        draw(st.none() | u(7)))


any_ie = st.one_of(
    st.just(ie.SendingComplete()),
    bearer(),
    st.builds(ie.Cause, u(7), u(4), u(2), st.binary(max_size=20)),
    st.builds(ie.CallState, u(6), u(2)),
    channel(),
    st.builds(ie.ProgressIndicator, u(7), u(4), u(2)),
    st.builds(ie.NotificationIndicator, u(7)),
    st.builds(ie.Display, ia5),
    st.builds(ie.KeypadFacility, ia5),
    st.builds(ie.CalledNumber, ia5, u(3), u(4)),
    party(ie.CallingNumber),
    party(ie.ConnectedNumber),
    redirecting(),
    st.builds(ie.RestartIndicator, st.sampled_from([0, 6, 7])),
    st.builds(ie.Facility, st.binary(max_size=60)),
    st.builds(ie.RawIE, st.sampled_from(sorted(ie.PASSED_THROUGH)), st.binary(max_size=30)),
)


@settings(max_examples=400, deadline=None)
@given(item=any_ie)
def test_every_ie_encodes_and_decodes_back(item):
    msg = decode(encode(MessageType.INFORMATION, 1, 0, [item]))
    assert not msg.invalid and not msg.unrecognized
    assert msg.ies == [item]


@settings(max_examples=300, deadline=None)
@given(mtype=st.sampled_from(list(MessageType)), call_ref=u(15), flag=u(1), items=st.lists(any_ie, max_size=6))
def test_every_message_encodes_and_decodes_back(mtype, call_ref, flag, items):
    msg = decode(encode(mtype, call_ref, flag, items))
    assert (msg.type, msg.call_ref, msg.flag) == (mtype, call_ref, flag)
    assert msg.ies == items
    assert msg.encode() == encode(mtype, call_ref, flag, items)


@settings(max_examples=500, deadline=None)
@given(data=st.binary(max_size=64))
def test_decoder_raises_only_header_errors(data):
    try:
        msg = decode(b"\x08\x02" + data)
    except MessageHeaderError as exc:
        assert str(exc)
        return
    for err in msg.invalid:
        assert isinstance(err, ie.IEContentError) and str(err)


def test_known_setup_bytes_decode_as_libpri_and_wireshark_read_them():
    # A-law speech, exclusive channel 1, calling 5551234 (ISDN/unknown, allowed), called 1234.
    raw = bytes.fromhex("080200010504038090a31803a983816c0900803535353132333470058131323334")
    msg = decode(raw)
    assert msg.get(ie.BearerCapability).layer1 == ie.Layer1.ALAW
    assert msg.get(ie.ChannelId) == ie.ChannelId(1, exclusive=True)
    assert msg.get(ie.CallingNumber).digits == "5551234"
    assert msg.get(ie.CalledNumber).digits == "1234"


def test_ie_content_errors_name_the_ie_and_the_fault():
    msg = decode(encode(MessageType.SETUP, 1, 0, []) + bytes((0x18, 3, 0xA9, 0x84, 0x81)) + bytes((0x70, 0)))
    assert [e.ident for e in msg.invalid] == [0x18, 0x70]
    assert "Channel ID" in str(msg.invalid[0]) and "B-channel" in str(msg.invalid[0])
    assert "Called Party Number" in str(msg.invalid[1])
    truncated = decode(encode(MessageType.SETUP, 1, 0, [ie.CalledNumber("123")])[:-2])
    assert "runs 2 octets past the end" in str(truncated.invalid[0])


def test_codeset_shift_ies_are_carried_not_interpreted():
    raw = encode(MessageType.SETUP, 1, 0, [ie.BearerCapability()]) + bytes((0x96, 0x01, 0x02, 0xAA, 0xBB))
    msg = decode(raw + bytes((0x70, 2, 0x81, 0x31)))
    assert msg.ies[1] == ie.RawIE(0x01, b"\xaa\xbb", 6)
    assert msg.ies[2] == ie.RawIE(0x70, b"\x81\x31", 6)       # locking shift stays in codeset 6
    nonlocking = decode(encode(MessageType.SETUP, 1, 0, []) + bytes((0x9E, 0x01, 0x00, 0x70, 2, 0x81, 0x31)))
    assert nonlocking.get(ie.CalledNumber).digits == "1"


def test_header_errors_say_what_and_where():
    for raw, words in [(b"\x08", "too short"), (b"\x09\x02\x00\x01\x05", "protocol discriminator"),
                       (b"\x08\x12\x00\x01\x05", "bits 5-8"), (b"\x08\x03\x00\x00\x01\x05", "length 3"),
                       (b"\x08\x02\x00\x01", "message type")]:
        try:
            decode(raw)
        except MessageHeaderError as exc:
            assert words in str(exc)
        else:
            raise AssertionError(f"{raw.hex()} decoded")


def test_cause_table_names_every_cause_in_one_place():
    assert cause_name(Cause.USER_BUSY) == "User busy"
    assert cause_name(44) == "Requested circuit/channel not available"
    assert "Unassigned" in cause_name(120)
    assert all(cause_name(c) for c in range(128))


multi_octet_ie = any_ie.filter(lambda item: not isinstance(item, ie.SendingComplete))


@settings(max_examples=400, deadline=None)
@given(head=st.lists(any_ie, max_size=4), last=multi_octet_ie, data=st.data())
def test_a_truncated_last_ie_is_reported_and_never_read_as_a_shorter_one(head, last, data):
    """EN 300 403-1 5.8.6-5.8.7: cut a message anywhere inside its last IE (after its
    identifier): the IEs before it decode as they were, the cut one is in `invalid` under its
    identifier, and nothing is decoded from its remains."""
    whole = encode(MessageType.INFORMATION, 1, 0, head + [last])
    tail = len(last.encode())
    cut = data.draw(st.integers(1, tail - 1), label="octets left of the last IE")
    msg = decode(whole[:len(whole) - tail + cut])
    assert msg.ies == head
    assert [e.ident for e in msg.invalid] == [last.IDENT] and not msg.unrecognized
