"""RTP legs in the C data plane, for the control plane (dsp/c/rtp_port.h).

An `RtpPort` is a span of up to 30 RTP legs: each leg is a channel of the port's media plane
(`port.media`, a `PortMedia` like an E1 span's), so prompts, recorders, DTMF receivers and
bridges treat an RTP leg exactly as a B-channel.  The control plane binds and connects the
sockets here and hands them to C, which owns them from then on; nothing here runs per packet.

    port = RtpPort(now)
    leg = port.open(0, local=("127.0.0.1", 0), remote=("127.0.0.1", 40000), codec="PCMA")
    port.advance(now)              # lockstep, on the virtual clock
    thread.attach_rtp(port)        # or real time: dsp.line_port.LineThread
    port.media.play(0, samples); port.media.hear(0, e1_media, 4)
    leg.send_digits("123#"); leg.digits(); leg.stats()["mos"]
    leg.relay(other_leg)           # pass-through, same codec: no decoding
"""

from __future__ import annotations

import os
import random
import socket
import time
from dataclasses import dataclass, field

import numpy as np

from dsp import ffi, lib
from dsp.line_port import MediaPort, PortMedia

# name -> (codec number in the C core, static payload type of RFC 3551)
CODECS = {"PCMA": (lib.MEDIA_CODEC_ALAW, 8), "PCMU": (lib.MEDIA_CODEC_ULAW, 0), "G729": (lib.MEDIA_CODEC_G729, 18)}
# by -RTP_ERR_* - 1 (dsp/c/rtp_packet.h); slot 5, RTCP, is routed to the RTCP parser, never counted
MALFORMED_KINDS = {0: "short", 1: "version", 2: "csrc", 3: "extension", 4: "padding", 6: "payload"}
NTP_UNIX_OFFSET = 2208988800   # seconds from 1900 (NTP) to 1970 (Unix)

_ERRORS = {
    lib.RTP_PORT_ERR_ARGUMENT: "invalid argument",
    lib.RTP_PORT_ERR_LEG: f"leg out of range 0..{lib.RTP_PORT_LEGS - 1}",
    lib.RTP_PORT_ERR_CODEC: "unknown codec",
    lib.RTP_PORT_ERR_PTIME: f"ptime must be 10..{lib.RTP_PORT_MAX_PTIME_MS} ms in steps of 10",
    lib.RTP_PORT_ERR_SOCKET: "the socket could not be watched",
    lib.RTP_PORT_ERR_NO_MEMORY: "out of memory",
    lib.RTP_PORT_ERR_NOT_OPEN: "the leg is not open",
    lib.RTP_PORT_ERR_QUEUE_FULL: f"already {lib.RTP_PORT_DIGIT_QUEUE} digits queued",
    lib.RTP_PORT_ERR_DIGIT: "not a DTMF digit (0-9 * # A-D), duration 10..8000 ms, volume 0..63, "
                            "or no telephone-event payload type",
    lib.RTP_PORT_ERR_MISMATCH: "the legs' codecs differ: bridge them through the media plane instead",
    lib.RTP_PORT_ERR_SRTP: "libsrtp refused the keys",
}
SRTP_KEY_OCTETS = lib.RTP_PORT_SRTP_KEY_OCTETS

STATS_FIELDS = [name for name, _ in ffi.typeof("rtp_leg_stats").fields]
JITTER_FIELDS = [name for name, _ in ffi.typeof("jitter_stats_t").fields]


class RtpError(ValueError):
    pass


def _check(rc: int, what: str) -> None:
    if rc < 0:
        raise RtpError(f"{what}: {_ERRORS.get(rc, f'error {rc}')}")


def _family(host: str) -> int:
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, host)
            return family
        except OSError:
            pass
    raise RtpError(f"address {host!r}: expected an IPv4 or IPv6 literal")


def _mark(sock: socket.socket, tos: int | None, priority: int | None) -> None:
    if tos is not None:
        if sock.family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_TCLASS, tos)
        else:
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, tos)
    if priority is not None:   # after IP_TOS, which sets the socket priority from the TOS bits
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_PRIORITY, priority)


def _bind_pair(family: int, host: str, port: int, rtcp_mux: bool) -> tuple[socket.socket, socket.socket | None]:
    """The RTP socket, and without rtcp-mux the RTCP socket on the next port (RFC 3550 11)."""
    attempts = 1 if port else 64
    last: OSError | None = None
    for _ in range(attempts):
        rtp = socket.socket(family, socket.SOCK_DGRAM)
        try:
            rtp.bind((host, port))
            if rtcp_mux:
                return rtp, None
            got = rtp.getsockname()[1]
            if not port and got % 2:
                rtp.close()
                continue
            rtcp = socket.socket(family, socket.SOCK_DGRAM)
            try:
                rtcp.bind((host, got + 1))
            except OSError as exc:
                rtcp.close()
                raise exc
            return rtp, rtcp
        except OSError as exc:
            rtp.close()
            last = exc
            if port:
                break
    raise RtpError(f"cannot bind RTP{'' if rtcp_mux else '/RTCP'} on {host} port {port or 'any'}: {last}")


@dataclass
class RtpSession:
    """One open leg of an RtpPort."""

    port: "RtpPort"
    leg: int
    codec: str
    local: tuple
    remote: tuple
    rtcp_local: tuple | None
    ssrc: int
    payload_type: int
    dtmf_payload_type: int
    ptime: int
    relayed_with: "RtpSession | None" = field(default=None, repr=False)
    srtp: bool = False
    srtp_keys: tuple | None = field(default=None, repr=False)    # (send, receive) while SRTP is on

    def stats(self) -> dict:
        return self.port.stats(self.leg)

    def send_digits(self, digits: str, duration: float = 0.1, volume: int = 10) -> None:
        self.port.send_digits(self.leg, digits, duration, volume)

    def digits(self) -> list[str]:
        """Digits that began since the last call: RFC 4733 events and in-band tones alike."""
        return self.port.media.digits(self.leg)

    def relay(self, other: "RtpSession", *, monitor: bool = False) -> None:
        self.port.relay(self.leg, other.port, other.leg, monitor=monitor)

    def move(self, remote: tuple[str, int], remote_rtcp: tuple[str, int] | None = None) -> None:
        self.port.move(self.leg, remote, remote_rtcp)

    def set_sending(self, sending: bool) -> None:
        self.port.set_sending(self.leg, sending)

    def set_srtp(self, send_key: bytes | None, receive_key: bytes | None) -> None:
        self.port.set_srtp(self.leg, send_key, receive_key)

    def close(self) -> None:
        self.port.close(self.leg)


class RtpPort:
    """Up to 30 RTP legs through one media port (dsp/c/rtp_port.h)."""

    LEGS = lib.RTP_PORT_LEGS

    def __init__(self, now: float = 0.0, ntp_offset: float | None = None):
        if ntp_offset is None:   # `now` is CLOCK_MONOTONIC on a running box
            ntp_offset = NTP_UNIX_OFFSET + time.time() - time.monotonic()
        handle = lib.rtp_port_new(now, ntp_offset)
        if handle == ffi.NULL:
            raise MemoryError("RTP port: out of memory (or no epoll descriptor)")
        self._port = ffi.gc(handle, lib.rtp_port_free)
        self.media = PortMedia(MediaPort(lib.rtp_port_media(self._port), owner=self))
        self.sessions: dict[int, RtpSession] = {}
        self._stats = ffi.new("rtp_leg_stats *")
        self._fds: dict[int, tuple[int, int]] = {}   # leg -> (RTP, RTCP or -1) descriptors the C port owns
        self._relayed: dict[int, RtpPort] = {}
        self._taps: list = []   # every tap ever set, alive as long as the port

    def open(self, leg: int, local: tuple[str, int], remote: tuple[str, int], codec: str = "PCMA", *,
             payload_type: int | None = None, ptime: int = 20, dtmf_payload_type: int | None = 101,
             rtcp_mux: bool = False, remote_rtcp: tuple[str, int] | None = None, ssrc: int | None = None,
             jitter_ms: tuple[int, int] = (20, 300), rtcp_interval: float = 5.0,
             inband_dtmf: bool | None = None, tos: int | None = None,
             priority: int | None = None) -> RtpSession:
        """Bind `local` (port 0: any even port, RTCP on the next unless rtcp_mux), connect to
        `remote`, and carry the leg's audio in `codec` ("PCMA", "PCMU" or "G729") with 10 ms
        frames packed `ptime` ms to a packet.  The leg's media channel opens in the codec's line
        law (A-law for G.729) with a DTMF receiver, as a B-channel does; `inband_dtmf` False
        leaves the receiver out (the default for G.729, whose frames do not carry tones: its
        digits come as RFC 4733 events, reported on the channel all the same).  `tos` (the
        traffic-class octet: DSCP << 2) and `priority` (the socket priority a voice VLAN sends
        as its 802.1p PCP) mark both sockets."""
        if not isinstance(leg, int) or not 0 <= leg < self.LEGS:
            raise RtpError(f"leg: expected 0..{self.LEGS - 1}, got {leg!r}")
        if codec not in CODECS:
            raise RtpError(f"codec: expected one of {', '.join(CODECS)}, got {codec!r}")
        number, static_pt = CODECS[codec]
        family = _family(local[0])
        if _family(remote[0]) != family:
            raise RtpError(f"local {local[0]} and remote {remote[0]} are not of one address family")
        self.close(leg)
        rtp, rtcp = _bind_pair(family, local[0], local[1], rtcp_mux)
        try:
            for sock in (rtp, rtcp):
                if sock is not None:
                    _mark(sock, tos, priority)
            rtp.connect(tuple(remote))
            if rtcp is not None:
                rtcp.connect(tuple(remote_rtcp) if remote_rtcp else (remote[0], remote[1] + 1))
        except OSError as exc:
            rtp.close()
            if rtcp is not None:
                rtcp.close()
            raise RtpError(f"cannot connect to {remote}: {exc}") from None
        rng = random.SystemRandom()
        cfg = ffi.new("rtp_leg_config *")
        cfg.codec = number
        cfg.payload_type = static_pt if payload_type is None else payload_type
        cfg.dtmf_payload_type = -1 if dtmf_payload_type is None else dtmf_payload_type
        cfg.ptime_ms = ptime
        cfg.ssrc = rng.getrandbits(32) if ssrc is None else ssrc
        cfg.first_sequence = rng.getrandbits(15)      # RFC 3550: random, leaving room before the wrap
        cfg.first_timestamp = rng.getrandbits(32)
        cfg.jitter_min_ms, cfg.jitter_max_ms = jitter_ms
        cfg.rtcp_interval = rtcp_interval
        if inband_dtmf is None:
            inband_dtmf = number != lib.MEDIA_CODEC_G729
        # RFC 4733 events come back as tones on the leg's line: an in-band receiver reports them
        # as it would an E1 channel's digits; without one the port reports them itself.
        cfg.report_events = int(not inband_dtmf)
        local_address = rtp.getsockname()[:2]
        rtcp_address = rtcp.getsockname()[:2] if rtcp is not None else None
        rtp_fd = rtp.detach()
        rtcp_fd = rtcp.detach() if rtcp is not None else -1
        rc = lib.rtp_port_open(self._port, leg, rtp_fd, rtcp_fd, cfg)
        if rc < 0:
            os.close(rtp_fd)
            if rtcp_fd >= 0:
                os.close(rtcp_fd)
            _check(rc, f"open leg {leg}")
        self.media.open(leg, lib.MEDIA_CODEC_ALAW if number == lib.MEDIA_CODEC_G729 else number, dtmf=inband_dtmf)
        session = RtpSession(self, leg, codec, tuple(local_address), tuple(remote[:2]), rtcp_address,
                             int(cfg.ssrc), int(cfg.payload_type), int(cfg.dtmf_payload_type), ptime)
        self.sessions[leg] = session
        self._fds[leg] = (rtp_fd, rtcp_fd)
        return session

    def move(self, leg: int, remote: tuple[str, int], remote_rtcp: tuple[str, int] | None = None) -> None:
        """Send `leg`'s RTP to `remote` from now on (a re-INVITE moved the far end) and take
        packets from there only; RTCP to `remote_rtcp` or the port above.  The leg keeps its
        local port, SSRC, sequence and timestamps (one stream for the peer), and takes the next
        packet as a new source."""
        session = self.sessions.get(leg)
        if session is None:
            raise RtpError(f"move: leg {leg} is not open")
        remote = (str(remote[0]), int(remote[1]))
        if _family(remote[0]) != _family(session.local[0]):
            raise RtpError(f"move: local {session.local[0]} and remote {remote[0]} are not of one address family")
        rtp_fd, rtcp_fd = self._fds[leg]
        targets = [(rtp_fd, remote)]
        if rtcp_fd >= 0:
            targets.append((rtcp_fd, tuple(remote_rtcp) if remote_rtcp else (remote[0], remote[1] + 1)))
        for fd, target in targets:
            # a duplicate of the port's descriptor: connecting it connects the one socket both name
            with socket.socket(fileno=os.dup(fd)) as sock:
                try:
                    sock.connect(target)
                except OSError as exc:
                    raise RtpError(f"move: cannot connect leg {leg} to {target}: {exc}") from None
        _check(lib.rtp_port_moved(self._port, leg), f"move leg {leg}")
        session.remote = remote

    def set_srtp(self, leg: int, send_key: bytes | None, receive_key: bytes | None) -> None:
        """SRTP on `leg` (AES_CM_128_HMAC_SHA1_80, RFC 3711): 30-octet master key and salt for
        what it sends and for what it receives, as SDES exchanges them; None for both turns it off."""
        if leg not in self.sessions:
            raise RtpError(f"set_srtp: leg {leg} is not open")
        if (send_key is None) != (receive_key is None):
            raise RtpError("set_srtp: give both keys, or neither")
        for name, key in (("send_key", send_key), ("receive_key", receive_key)):
            if key is not None and (not isinstance(key, (bytes, bytearray)) or len(key) != SRTP_KEY_OCTETS):
                raise RtpError(f"set_srtp: {name} must be {SRTP_KEY_OCTETS} octets (16 key + 14 salt), "
                               f"got {len(key) if isinstance(key, (bytes, bytearray)) else type(key).__name__}")
        keys = [ffi.NULL if k is None else ffi.from_buffer("uint8_t[]", bytes(k)) for k in (send_key, receive_key)]
        _check(lib.rtp_port_set_srtp(self._port, leg, *keys), f"set_srtp leg {leg}")
        self.sessions[leg].srtp = send_key is not None
        self.sessions[leg].srtp_keys = (bytes(send_key), bytes(receive_key)) if send_key is not None else None

    def set_sending(self, leg: int, sending: bool) -> None:
        """Hold from our side (RFC 3264 recvonly/inactive): False stops the leg's RTP, True
        resumes it; reception and RTCP go on."""
        if leg not in self.sessions:
            raise RtpError(f"set_sending: leg {leg} is not open")
        _check(lib.rtp_port_set_sending(self._port, leg, int(bool(sending))), f"set_sending leg {leg}")

    def close(self, leg: int) -> None:
        session = self.sessions.get(leg)
        if session is None:
            return
        self.unrelay(leg)
        del self.sessions[leg]
        self._fds.pop(leg, None)
        self.media.close(leg)
        lib.rtp_port_close(self._port, leg)

    def set_capture_tap(self, tap) -> None:
        """Copy every datagram this port's legs send and receive into `tap` (dsp.capture_tap),
        or stop with None.  The port keeps the tap alive: a partner relaying through one of its
        legs may still be copying."""
        lib.rtp_port_set_capture_tap(self._port, ffi.NULL if tap is None else tap._tap)
        if tap is not None:
            self._taps.append(tap)

    def advance(self, now: float) -> None:
        """Receive what arrived, run every 10 ms block due by `now`, send, and report (RTCP)."""
        lib.rtp_port_advance(self._port, now)

    def send_digits(self, leg: int, digits: str, duration: float = 0.1, volume: int = 10) -> None:
        for digit in digits:
            _check(lib.rtp_port_send_digit(self._port, leg, digit.encode(), int(round(duration * 1000)), volume),
                   f"leg {leg}: send digit {digit!r}")

    def relay(self, leg: int, other: "RtpPort", other_leg: int, *, monitor: bool = False) -> None:
        """Pass-through between this leg and `other_leg` of `other`: payloads relayed untouched.
        With `monitor`, each leg's channel also decodes what it receives, so a recorder, DTMF
        receiver or supervisor on the channel hears the call (prompts cannot be played into it)."""
        _check(lib.rtp_port_relay(self._port, leg, other._port, other_leg, int(monitor)),
               f"relay leg {leg} with {other_leg}")
        a, b = self.sessions.get(leg), other.sessions.get(other_leg)
        if a and b:
            a.relayed_with, b.relayed_with = b, a
        # Each port keeps its partner alive while relayed: C sends on the partner's socket.
        self._relayed[leg] = other
        other._relayed[other_leg] = self

    def unrelay(self, leg: int) -> None:
        lib.rtp_port_unrelay(self._port, leg)
        self._relayed.pop(leg, None)
        session = self.sessions.get(leg)
        if session and session.relayed_with:
            partner = session.relayed_with
            partner.port._relayed.pop(partner.leg, None)
            partner.relayed_with = None
            session.relayed_with = None

    def stats(self, leg: int) -> dict:
        st = self._stats
        _check(lib.rtp_port_stats(self._port, leg, st), f"stats of leg {leg}")
        out: dict = {}
        for name in STATS_FIELDS:
            if name == "malformed":
                out[name] = {kind: int(st.malformed[k]) for k, kind in MALFORMED_KINDS.items()}
            elif name == "jitter_buffer":
                out[name] = {f: int(getattr(st.jitter_buffer, f)) for f in JITTER_FIELDS}
            else:
                value = getattr(st, name)
                out[name] = float(value) if isinstance(value, float) else int(value)
        out["packets"] = out["packets_received"]
        out["loss"] = out["lost"] / out["expected"] if out["expected"] > 0 else 0.0
        out["jitter"] = out["jitter_ms"]
        out["rtt"] = out["rtt_ms"]
        return out

    def blocks(self) -> dict:
        """10 ms blocks run, and blocks skipped because an advance came over half a second late."""
        run, skipped = ffi.new("int64_t *"), ffi.new("uint64_t *")
        lib.rtp_port_blocks(self._port, run, skipped)
        return {"run": int(run[0]), "skipped": int(skipped[0])}

    def delay_histogram(self, leg: int) -> np.ndarray:
        """Played frames by whole ms spent in the jitter buffer."""
        out = np.zeros(lib.JITTER_HISTOGRAM_MS, np.uint32)
        _check(lib.rtp_port_delay_histogram(self._port, leg, ffi.from_buffer("uint32_t[]", out)),
               f"delay histogram of leg {leg}")
        return out


def emodel(codec: str, loss_percent: float, delay_ms: float) -> tuple[float, float]:
    """(R, MOS) of the simplified E-model the stats use."""
    r = lib.rtp_emodel_r(CODECS[codec][0], loss_percent, delay_ms)
    return r, lib.rtp_emodel_mos(r)
