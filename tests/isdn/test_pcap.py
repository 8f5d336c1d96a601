"""LINUX_LAPD pcap traces: the writer's bytes, and real tshark decoding a capture of a link with
libpri (bring-up, keepalive, Q.931 both ways) with the expected sequence and no malformed
packet or expert warning."""

import asyncio
import io
import shutil
import struct
import subprocess

import pytest

from firmware.isdn.lapd import DlData, LapdTimers, Role
from firmware.isdn.pcap import LINKTYPE_LINUX_LAPD, PcapWriter, read_pcap
from tests.support.libpri_link import CHANNEL_1, PAIRINGS, link, q931

TSHARK = shutil.which("tshark") or "tshark"  # installed by `make deps` (APT_PACKAGES)
PROBLEMS = "_ws.malformed || _ws.expert.severity >= 6291456"


def test_global_header_and_record_layout():
    buf = io.BytesIO()
    w = PcapWriter(buf, network_side=True)
    w.write(b"\x02\x01\x7f", sent=True, timestamp=1_700_000_000.25)
    w.write(b"\x02\x01\x73", sent=False, timestamp=1_700_000_000.5)
    data = buf.getvalue()
    magic, major, minor, _, _, snaplen, linktype = struct.unpack_from("<IHHiIII", data)
    assert (magic, major, minor, linktype) == (0xA1B2C3D4, 2, 4, 177)
    assert LINKTYPE_LINUX_LAPD == 177
    sec, usec, incl, orig = struct.unpack_from("<IIII", data, 24)
    assert (sec, usec, incl, orig) == (1_700_000_000, 250_000, 19, 19)
    pseudo = data[40:56]
    assert pseudo[:2] == b"\x00\x04"           # sent: LINUX_SLL_OUTGOING
    assert pseudo[6] == 1                      # first address octet: we are the network side
    assert pseudo[14:16] == b"\x00\x30"        # ETH_P_LAPD
    assert data[56:59] == b"\x02\x01\x7f"      # the frame, no FCS
    assert read_pcap(data) == [(1_700_000_000.25, True, True, b"\x02\x01\x7f"),
                               (1_700_000_000.5, False, True, b"\x02\x01\x73")]


def test_user_side_marks_address_octet_zero_and_received_packet_type():
    buf = io.BytesIO()
    PcapWriter(buf, network_side=False).write(b"\x00\x01\x7f", sent=False, timestamp=1.0)
    assert buf.getvalue()[40:42] == b"\x00\x00" and buf.getvalue()[46] == 0


def test_bad_targets_and_files_are_named():
    with pytest.raises(TypeError, match="pcap target"):
        PcapWriter(42, network_side=True)
    with pytest.raises(ValueError, match="shorter than its 24-octet header"):
        read_pcap(b"\xd4\xc3")
    with pytest.raises(ValueError, match="link type 1,"):
        read_pcap(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    buf = io.BytesIO()
    PcapWriter(buf, network_side=True).write(b"\x00\x01\x7f", sent=True, timestamp=1.0)
    with pytest.raises(ValueError, match="offset 24"):
        read_pcap(buf.getvalue()[:-2])


def capture_call(our_role: Role, peer_role: str, path) -> None:
    """Bring-up, one T203 keepalive, libpri's SETUP, our ALERTING and CONNECT, its DISCONNECT."""
    async def scenario():
        with PcapWriter(path, network_side=our_role is Role.NETWORK) as pcap:
            async with link(our_role, peer_role, our_timers=LapdTimers(t200=0.2, t203=0.3),
                            peer_timers={"T200": 200, "T203": 5000}, pcap=pcap) as (dc, peer, _):
                await asyncio.sleep(0.4)
                call = peer.call("15881234", calling="0212345678", channel=1)
                setup = (await dc.wait_for(DlData)).payload
                cref = int.from_bytes(setup[2:4], "big") & 0x7FFF
                dc.send(q931(0x01, cref, CHANNEL_1))
                await peer.wait_for("ringing")
                dc.send(q931(0x07, cref, CHANNEL_1))
                await peer.wait_for("answer")
                peer.hangup(call, 16)
                while (await dc.wait_for(DlData)).payload[4] != 0x45:  # up to DISCONNECT
                    pass
                await asyncio.sleep(0.05)  # our RR for it goes out
    asyncio.run(scenario())


def tshark_fields(path, *fields, display_filter=None):
    cmd = [TSHARK, "-r", str(path), "-T", "fields"] + [a for f in fields for a in ("-e", f)]
    if display_filter:
        cmd += ["-Y", display_filter]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=True).stdout
    return [line.split("\t") for line in out.splitlines()]


@pytest.mark.parametrize("our_role,peer_role", PAIRINGS)
def test_tshark_decodes_a_libpri_session_with_no_malformed_packet(our_role, peer_role, tmp_path):
    path = tmp_path / "dchannel.pcap"
    capture_call(our_role, peer_role, path)
    rows = tshark_fields(path, "lapd.direction", "lapd.control.ftype", "_ws.col.Info", "q931.message_type")
    ours = "0" if our_role is Role.USER else "1"  # lapd.direction: 0 user->network, 1 network->user
    seq = []
    for direction, _, info, message in rows:
        who = "us" if direction == ours else "peer"
        func = info.split("func=")[1].split(",")[0].split(" ")[0] if "func=" in info else "I"
        seq.append((who, func, int(message, 16) if message else None))
    # Both sides call SABME and answer UA at once (libpri is persistent too); then data flows.
    assert {("us", "SABME", None), ("peer", "SABME", None), ("us", "UA", None), ("peer", "UA", None)} <= set(seq[:4])
    assert ("us", "RR", None) in seq  # our keepalive
    messages = [(who, m) for who, f, m in seq if f == "I"]
    assert messages[:3] == [("peer", 0x05), ("us", 0x01), ("us", 0x07)]
    assert ("peer", 0x45) in messages
    assert tshark_fields(path, "frame.number", display_filter=PROBLEMS) == []
    assert len(rows) == len(read_pcap(path.read_bytes()))
