"""tshark decodes captured calls between our stack and libpri (pcap of link type LINUX_LAPD
written by firmware.isdn.pcap) with the expected Q.931 sequence and no malformed packet or
expert warning — Wireshark's dissectors as an independent judge of our encoding."""

import shutil
import subprocess

import pytest

from firmware.isdn.pcap import PcapWriter
from firmware.isdn.q931 import ies as ie
from firmware.isdn.q931.events import IncomingCall, Released, RestartDone, StatusReceived
from tests.support.q931_libpri_link import LibpriLink, lib

WARNING = 0x00600000      # expert severity "warning"; errors are larger
FIELDS = ["q931.message_type", "q931.called_party_number.digits", "q931.calling_party_number.digits",
          "q931.redirecting_number.digits", "q931.cause_value", "q931.channel.number", "lapd.direction",
          "_ws.malformed", "_ws.expert.severity"]


def tshark(path):
    assert shutil.which("tshark"), "tshark is not installed (Debian package 'tshark', in the Makefile)"
    out = subprocess.run(["tshark", "-r", str(path), "-T", "fields", "-E", "separator=|", "-E", "occurrence=a",
                          *sum((["-e", f] for f in FIELDS), [])],
                         capture_output=True, text=True, timeout=30, check=True).stdout
    rows = []
    for line in out.splitlines():
        values = dict(zip(FIELDS, line.split("|")))
        assert not values["_ws.malformed"], f"malformed packet: {line}"
        severities = [int(s, 0) for s in values["_ws.expert.severity"].split(",") if s]
        assert all(s < WARNING for s in severities), f"expert warning: {line}"
        rows.append(values)
    return [r for r in rows if r["q931.message_type"]]


def capture(lk, path):
    writer = PcapWriter(path, network_side=lk.stack.role == "network")
    for direction, t, frame in lk.tap:
        writer.write(frame, sent=direction == "tx", timestamp=1.7e9 + t)
    writer.close()


@pytest.mark.parametrize("role", ["user", "network"])
def test_captured_calls_decode_cleanly(tmp_path, role):
    lk = LibpriLink(role)
    try:
        lk.up()
        # Inbound from libpri, forwarded from a 070 number, answered, cleared by us.
        call = lk.lp_setup("15881234", 5, redirecting="07012345678", reason=15)
        inc = lk.wait_ours(IncomingCall)
        now = lk.now()
        lk.stack.proceed(inc.call_id, now)
        lk.stack.alert(inc.call_id, now, inband=True)
        lk.stack.answer(inc.call_id, now, connected=ie.ConnectedNumber("15881234"))
        lk.wait_libpri("ANSWER")
        lk.run_for(0.05)
        lk.stack.status_enquiry(inc.call_id, lk.now())
        lk.wait_ours(StatusReceived)
        lk.stack.disconnect(inc.call_id, lk.now(), 16)
        lk.wait_ours(Released)
        # Outbound to libpri, refused busy (libpri only clears a call it has answered something to).
        cid = lk.stack.setup("0212345678", lk.now(), calling="15881234", timeslot=9, display="pribox")
        ring = lk.wait_libpri("RING")
        lib.lp_proceeding(lk.peer, ring.call, 9, 0)
        lib.lp_hangup(lk.peer, ring.call, 17)
        assert lk.wait_ours(Released).cause == 17
        # RESTART of one channel.
        lk.stack.restart(lk.now(), [12])
        lk.wait_ours(RestartDone)
        lk.run_for(0.05)
    finally:
        lk.close()
    path = tmp_path / f"call-{role}.pcap"
    capture(lk, path)
    rows = tshark(path)
    sequence = [int(r["q931.message_type"], 0) for r in rows]
    assert sequence == [0x05, 0x02, 0x01, 0x07, 0x0F, 0x75, 0x7D, 0x45, 0x4D, 0x5A,
                        0x05, 0x02, 0x45, 0x4D, 0x5A, 0x46, 0x4E], [hex(s) for s in sequence]
    setup_in, setup_out = rows[0], rows[10]
    assert setup_in["q931.called_party_number.digits"] == "15881234"
    assert setup_in["q931.redirecting_number.digits"] == "07012345678"
    assert setup_in["q931.channel.number"] == "5"
    assert setup_out["q931.calling_party_number.digits"] == "15881234"
    assert setup_out["q931.channel.number"] == "9"
    assert rows[12]["q931.cause_value"] == "17"
    assert rows[15]["q931.channel.number"] == "12"
