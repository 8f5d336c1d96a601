"""The far end of a virtual machine's Ethernet wire (qemu `-netdev socket,udp=...`, see
images/qemu_boot.py QemuNic), played with scapy: it answers ARP for its addresses, tagged or
not as the subnet is, answers pings, and plays a SIP trunk on the voice VLAN — an INVITE with
an SDP offer (sent again until the box answers), then the ACK — so the box sends SIP and RTP
over the VLAN while management traffic (ping replies, syslog) stays untagged.

    peer = WirePeer(listen_port, qemu_port, {None: "10.0.2.2", 100: "10.100.0.1"})
    peer.start(); ...; peer.invite("10.100.0.2", "07012345678"); peer.stop()
    peer.counts   # what the box sent, by kind
"""

from __future__ import annotations

import socket
import threading
import time
from collections import Counter

from scapy.layers.inet import ICMP, IP, UDP
from scapy.layers.l2 import ARP, Dot1Q, Ether

PEER_MAC = "52:54:00:00:00:02"


class WirePeer:
    def __init__(self, listen_port: int, qemu_port: int, addresses: dict, *, mac: str = PEER_MAC,
                 rtp_port: int = 40000):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", listen_port))
        self.sock.settimeout(0.2)
        self.qemu = ("127.0.0.1", qemu_port)
        self.addresses = dict(addresses)          # VLAN id (None: untagged) -> our IPv4 address
        self.mac = mac
        self.rtp_port = rtp_port
        self.box_mac: str | None = None
        self.box_addresses: dict = {}              # VLAN id -> the box's address seen there
        self.counts: Counter = Counter()
        self.sip_responses: list[str] = []
        self._invite: tuple | None = None          # (vlan, frame builder) while unanswered
        self._acked = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.errors: list[str] = []

    # -- the wire --------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="wire-peer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.sock.close()

    def _frame(self, vlan, payload, dst_mac=None):
        ether = Ether(src=self.mac, dst=dst_mac or self.box_mac or "ff:ff:ff:ff:ff:ff")
        return ether / Dot1Q(vlan=vlan) / payload if vlan is not None else ether / payload

    def send(self, vlan, payload, dst_mac=None) -> None:
        self.sock.sendto(bytes(self._frame(vlan, payload, dst_mac)), self.qemu)

    def _run(self) -> None:
        last_invite = 0.0
        while not self._stop.is_set():
            if self._invite is not None and time.monotonic() - last_invite > 2.0 and self.box_mac:
                vlan, packet = self._invite
                self.send(vlan, packet)
                last_invite = time.monotonic()
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            try:
                self._receive(Ether(data))
            except Exception as exc:      # a frame the peer cannot read is noted, never fatal
                self.errors.append(f"{type(exc).__name__}: {exc}")

    def _receive(self, frame) -> None:
        if frame.src == self.mac:
            return
        self.box_mac = self.box_mac or frame.src
        vlan = frame[Dot1Q].vlan if Dot1Q in frame else None
        ours = self.addresses.get(vlan)
        if ARP in frame:
            arp = frame[ARP]
            self.box_addresses.setdefault(vlan, arp.psrc)
            if arp.op == 1 and arp.pdst == ours:
                self.send(vlan, ARP(op=2, hwsrc=self.mac, psrc=ours, hwdst=arp.hwsrc, pdst=arp.psrc), frame.src)
            return
        if IP not in frame:
            return
        ip = frame[IP]
        self.box_addresses.setdefault(vlan, ip.src)
        if ICMP in frame and frame[ICMP].type == 0:
            self.counts["ping reply"] += 1
        elif UDP in frame:
            udp = frame[UDP]
            if udp.sport == 5060 or udp.dport == 5060:
                self.counts["sip"] += 1
                self._sip(vlan, ip, bytes(udp.payload))
            elif udp.dport == 514:
                self.counts["syslog"] += 1
            elif udp.dport == self.rtp_port:
                self.counts["rtp"] += 1
            elif udp.dport == self.rtp_port + 1:
                self.counts["rtcp"] += 1

    # -- management: ping --------------------------------------------------------------------

    def ping(self, box_address: str, vlan=None) -> None:
        self.send(vlan, IP(src=self.addresses[vlan], dst=box_address) / ICMP(id=0x5eed, seq=1))

    # -- a SIP trunk on the voice VLAN ------------------------------------------------------

    def invite(self, box_address: str, number: str, vlan=None, *, caller: str = "0212345678") -> None:
        """Offer a G.711 call to `number` at the box, sent again every 2 s until it answers."""
        ours = self.addresses[vlan]
        sdp = (f"v=0\r\no=- 1 1 IN IP4 {ours}\r\ns=-\r\nc=IN IP4 {ours}\r\nt=0 0\r\n"
               f"m=audio {self.rtp_port} RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\n"
               "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=ptime:20\r\na=sendrecv\r\n")
        self._dialog = {"box": box_address, "number": number, "caller": caller, "ours": ours, "vlan": vlan}
        text = (f"INVITE sip:{number}@{box_address}:5060 SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP {ours}:5060;branch=z9hG4bK-wire-peer-1;rport\r\n"
                "Max-Forwards: 70\r\n"
                f"From: <sip:{caller}@{ours}>;tag=wire-peer\r\n"
                f"To: <sip:{number}@{box_address}>\r\n"
                f"Call-ID: wire-peer-1@{ours}\r\nCSeq: 1 INVITE\r\n"
                f"Contact: <sip:{caller}@{ours}:5060>\r\n"
                f"Content-Type: application/sdp\r\nContent-Length: {len(sdp)}\r\n\r\n{sdp}")
        self._invite = (vlan, IP(src=ours, dst=box_address) / UDP(sport=5060, dport=5060) / text.encode())

    def _sip(self, vlan, ip, payload: bytes) -> None:
        first = payload.split(b"\r\n", 1)[0].decode("ascii", "replace")
        if not first.startswith("SIP/2.0"):
            return
        self.sip_responses.append(first)
        if "INVITE" not in _header(payload, "CSeq"):
            return
        self._invite = None               # answered: no more sending it
        if first.startswith("SIP/2.0 200") and not self._acked:
            d = self._dialog
            to = _header(payload, "To")
            ack = (f"ACK sip:{d['number']}@{d['box']}:5060 SIP/2.0\r\n"
                   f"Via: SIP/2.0/UDP {d['ours']}:5060;branch=z9hG4bK-wire-peer-ack;rport\r\n"
                   "Max-Forwards: 70\r\n"
                   f"From: <sip:{d['caller']}@{d['ours']}>;tag=wire-peer\r\nTo: {to}\r\n"
                   f"Call-ID: wire-peer-1@{d['ours']}\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n")
            self.send(vlan, IP(src=d["ours"], dst=ip.src) / UDP(sport=5060, dport=5060) / ack.encode())
            self._acked = True


def _header(message: bytes, name: str) -> str:
    for line in message.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]:
        key, _, value = line.partition(b":")
        if key.strip().lower() == name.lower().encode():
            return value.strip().decode("ascii", "replace")
    return ""
