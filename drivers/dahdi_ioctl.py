"""DAHDI's user-space ABI as Python values: ioctl numbers, struct layouts, flag and event codes.

Everything here follows `include/dahdi/user.h` of dahdi-linux as Debian 12 ships it
(dahdi-dkms / dahdi-source 2.11.1.0.20170917), on Linux's generic ioctl encoding (x86, arm,
arm64, riscv; not the MIPS/PowerPC/SPARC variant, where `_IOC_WRITE` and the size field differ).
Pure data and packing: no file is opened here, so every encoding is unit-tested without a
kernel module (tests/dahdi/test_dahdi_ioctl.py holds the numbers the header compiles to).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

# -- ioctl encoding (asm-generic/ioctl.h) ------------------------------------------------------

_IOC_NRBITS, _IOC_TYPEBITS, _IOC_SIZEBITS = 8, 8, 14
_IOC_NRSHIFT = 0
_IOC_TYPESHIFT = _IOC_NRSHIFT + _IOC_NRBITS
_IOC_SIZESHIFT = _IOC_TYPESHIFT + _IOC_TYPEBITS
_IOC_DIRSHIFT = _IOC_SIZESHIFT + _IOC_SIZEBITS
_IOC_NONE, _IOC_WRITE, _IOC_READ = 0, 1, 2


def _ioc(direction: int, kind: int, nr: int, size: int) -> int:
    if not 0 <= size < (1 << _IOC_SIZEBITS):
        raise ValueError(f"ioctl argument of {size} octets does not fit the size field")
    return (direction << _IOC_DIRSHIFT) | (size << _IOC_SIZESHIFT) | (kind << _IOC_TYPESHIFT) | (nr << _IOC_NRSHIFT)


def _io(kind: int, nr: int) -> int:
    return _ioc(_IOC_NONE, kind, nr, 0)


def _ior(kind: int, nr: int, size: int) -> int:
    return _ioc(_IOC_READ, kind, nr, size)


def _iow(kind: int, nr: int, size: int) -> int:
    return _ioc(_IOC_WRITE, kind, nr, size)


def _iowr(kind: int, nr: int, size: int) -> int:
    return _ioc(_IOC_READ | _IOC_WRITE, kind, nr, size)


DAHDI_CODE = 0xDA
INT = struct.Struct("=i")
ELAST = 500  # what a read or write on a channel fails with while an event waits

# -- structs -----------------------------------------------------------------------------------
# "=" is native byte order with no padding: struct dahdi_spaninfo is __attribute__((packed));
# the others have only 4-octet members after 4-aligned char arrays, so packed equals natural.

SPANINFO = struct.Struct("=i20s40s3i4i5I7i40s40s40s40s2i6s")          # struct dahdi_spaninfo, 314
LINECONFIG = struct.Struct("=i20s3i")                                 # struct dahdi_lineconfig, 36
CHANCONFIG = struct.Struct("=i40s4i16s")                              # struct dahdi_chanconfig, 76
BUFFERINFO = struct.Struct("=6i")                                     # struct dahdi_bufferinfo, 24
PARAMS = struct.Struct("=12i40s11iI")                                 # struct dahdi_params, 136
MAINTINFO = struct.Struct("=2i")                                      # struct dahdi_maintinfo, 8
DYNAMIC_SPAN = struct.Struct("=20s40s3i")                             # struct dahdi_dynamic_span, 72
VERSIONINFO = struct.Struct("=80s80s")                                # struct dahdi_versioninfo, 160

DAHDI_GET_BLOCKSIZE = _ior(DAHDI_CODE, 1, INT.size)
DAHDI_SET_BLOCKSIZE = _iow(DAHDI_CODE, 1, INT.size)
DAHDI_FLUSH = _iow(DAHDI_CODE, 3, INT.size)
DAHDI_GET_PARAMS = _iowr(DAHDI_CODE, 5, PARAMS.size)
DAHDI_GETEVENT = _ior(DAHDI_CODE, 8, INT.size)
DAHDI_IOMUX = _iowr(DAHDI_CODE, 9, INT.size)
DAHDI_SPANSTAT = _iowr(DAHDI_CODE, 10, SPANINFO.size)
DAHDI_MAINT = _iow(DAHDI_CODE, 11, MAINTINFO.size)
DAHDI_SPANCONFIG = _iow(DAHDI_CODE, 18, LINECONFIG.size)
DAHDI_CHANCONFIG = _iow(DAHDI_CODE, 19, CHANCONFIG.size)
DAHDI_GET_BUFINFO = _ior(DAHDI_CODE, 27, BUFFERINFO.size)
DAHDI_SET_BUFINFO = _iow(DAHDI_CODE, 27, BUFFERINFO.size)
DAHDI_AUDIOMODE = _iow(DAHDI_CODE, 32, INT.size)
DAHDI_CHANNO = _ior(DAHDI_CODE, 34, INT.size)
DAHDI_HDLCRAWMODE = _iow(DAHDI_CODE, 36, INT.size)
DAHDI_HDLCFCSMODE = _iow(DAHDI_CODE, 37, INT.size)
DAHDI_SPECIFY = _iow(DAHDI_CODE, 38, INT.size)
DAHDI_SETLAW = _iow(DAHDI_CODE, 39, INT.size)
DAHDI_GETVERSION = _ior(DAHDI_CODE, 57, VERSIONINFO.size)
DAHDI_DYNAMIC_CREATE = _iowr(DAHDI_CODE, 80, DYNAMIC_SPAN.size)
DAHDI_DYNAMIC_DESTROY = _iow(DAHDI_CODE, 81, DYNAMIC_SPAN.size)
DAHDI_STARTUP = _iow(DAHDI_CODE, 99, INT.size)
DAHDI_SHUTDOWN = _iow(DAHDI_CODE, 100, INT.size)

IOCTL_NAMES = {value: name for name, value in globals().items()
               if name.startswith("DAHDI_") and isinstance(value, int) and value > 0xFFFF}

# -- flags -------------------------------------------------------------------------------------

# lineconfig (struct dahdi_lineconfig.lineconfig, dahdi_spaninfo.lineconfig)
DAHDI_CONFIG_AMI = 1 << 6
DAHDI_CONFIG_CCS = 1 << 8
DAHDI_CONFIG_HDB3 = 1 << 9
DAHDI_CONFIG_CRC4 = 1 << 10

# channel signalling (struct dahdi_chanconfig.sigtype, dahdi_params.sigtype)
DAHDI_SIG_NONE = 0
DAHDI_SIG_CLEAR = 1 << 7
DAHDI_SIG_HDLCRAW = (1 << 8) | DAHDI_SIG_CLEAR
DAHDI_SIG_HDLCFCS = (1 << 9) | DAHDI_SIG_HDLCRAW
DAHDI_SIG_HARDHDLC = (1 << 19) | DAHDI_SIG_CLEAR
DAHDI_SIG_CAS = 1 << 15

DAHDI_LAW_DEFAULT, DAHDI_LAW_MULAW, DAHDI_LAW_ALAW = 0, 1, 2

DAHDI_FLUSH_READ, DAHDI_FLUSH_WRITE, DAHDI_FLUSH_EVENT = 1, 2, 4
DAHDI_FLUSH_ALL = DAHDI_FLUSH_READ | DAHDI_FLUSH_WRITE | DAHDI_FLUSH_EVENT

DAHDI_POLICY_IMMEDIATE, DAHDI_POLICY_WHEN_FULL, DAHDI_POLICY_HALF_FULL = 0, 1, 2
DAHDI_MAX_NUM_BUFS = 32
DAHDI_MAX_BLOCKSIZE = 8192

# span alarms (dahdi_spaninfo.alarms)
DAHDI_ALARM_NONE = 0
DAHDI_ALARM_RECOVER = 1 << 0
DAHDI_ALARM_LOOPBACK = 1 << 1
DAHDI_ALARM_YELLOW = 1 << 2
DAHDI_ALARM_RED = 1 << 3
DAHDI_ALARM_BLUE = 1 << 4
DAHDI_ALARM_NOTOPEN = 1 << 5
DAHDI_ALARM_LOS = 1 << 8
DAHDI_ALARM_LFA = 1 << 9
DAHDI_ALARM_LMFA = 1 << 10

ALARM_BIT_NAMES = {
    DAHDI_ALARM_RECOVER: "RECOVERING", DAHDI_ALARM_LOOPBACK: "LOOPBACK", DAHDI_ALARM_YELLOW: "YELLOW",
    DAHDI_ALARM_RED: "RED", DAHDI_ALARM_BLUE: "BLUE", DAHDI_ALARM_NOTOPEN: "NOTOPEN",
    DAHDI_ALARM_LOS: "LOS", DAHDI_ALARM_LFA: "LFA", DAHDI_ALARM_LMFA: "LMFA",
}

# maintenance (struct dahdi_maintinfo.command)
DAHDI_MAINT_NONE = 0
DAHDI_MAINT_LOCALLOOP = 1
DAHDI_MAINT_NETWORKLINELOOP = 2

# -- events (DAHDI_GETEVENT) -------------------------------------------------------------------

EVENT_NAMES = {
    0: "none", 1: "onhook", 2: "ringoffhook", 3: "winkflash", 4: "alarm", 5: "noalarm",
    6: "abort", 7: "overrun", 8: "badfcs", 9: "dialcomplete", 10: "ringeron", 11: "ringeroff",
    12: "hookcomplete", 13: "bitschanged", 14: "pulse_start", 15: "timer_expired",
    16: "timer_ping", 17: "polarity", 18: "ringbegin", 19: "ec_disabled", 20: "removed",
    21: "neonmwi_active", 22: "neonmwi_inactive", 23: "tx_ced_detected", 24: "rx_ced_detected",
    25: "tx_cng_detected", 26: "rx_cng_detected", 27: "ec_nlp_disabled", 28: "ec_nlp_enabled",
    29: "read_overrun", 30: "write_underrun",
}
DAHDI_EVENT_ALARM = 4
DAHDI_EVENT_NOALARM = 5
DAHDI_EVENT_ABORT = 6
DAHDI_EVENT_OVERRUN = 7
DAHDI_EVENT_BADFCS = 8
DAHDI_EVENT_REMOVED = 20
DAHDI_EVENT_READ_OVERRUN = 29
DAHDI_EVENT_WRITE_UNDERRUN = 30
# Digit events carry the digit in the low bits, OR'd with one of these.
DAHDI_EVENT_PULSEDIGIT = 1 << 16
DAHDI_EVENT_DTMFDOWN = 1 << 17
DAHDI_EVENT_DTMFUP = 1 << 18


def event_name(code: int) -> str:
    """A name for a DAHDI_GETEVENT code, digits included ("dtmfdown:5"); unknown codes keep their number."""
    for flag, name in ((DAHDI_EVENT_DTMFDOWN, "dtmfdown"), (DAHDI_EVENT_DTMFUP, "dtmfup"),
                       (DAHDI_EVENT_PULSEDIGIT, "pulsedigit")):
        if code & flag:
            digit = code & 0xFFFF
            return f"{name}:{chr(digit) if 32 <= digit < 127 else digit}"
    return EVENT_NAMES.get(code, f"event {code}")


# -- packing -----------------------------------------------------------------------------------

def _cstr(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("latin-1")


def _cbytes(text: str, size: int, what: str) -> bytes:
    raw = text.encode("latin-1")
    if len(raw) >= size:
        raise ValueError(f"{what} {text!r} is longer than {size - 1} octets")
    return raw


def pack_int(value: int) -> bytes:
    return INT.pack(value)


def unpack_int(raw: bytes) -> int:
    return INT.unpack(raw[:INT.size])[0]


@dataclass(frozen=True)
class SpanInfo:
    """struct dahdi_spaninfo, as DAHDI_SPANSTAT fills it."""

    spanno: int
    name: str
    desc: str
    alarms: int
    txlevel: int
    rxlevel: int
    bpvcount: int
    crc4count: int
    ebitcount: int
    fascount: int
    fecount: int
    cvcount: int
    becount: int
    prbs: int
    errsec: int
    irqmisses: int
    syncsrc: int
    numchans: int
    totalchans: int
    totalspans: int
    lbo: int
    lineconfig: int
    lboname: str
    location: str
    manufacturer: str
    devicetype: str
    irq: int
    linecompat: int
    spantype: str

    _TEXT = ("name", "desc", "lboname", "location", "manufacturer", "devicetype", "spantype")

    @classmethod
    def unpack(cls, raw: bytes) -> "SpanInfo":
        if len(raw) < SPANINFO.size:
            raise ValueError(f"struct dahdi_spaninfo is {SPANINFO.size} octets, got {len(raw)}")
        values = SPANINFO.unpack(raw[:SPANINFO.size])
        names = [f for f in cls.__dataclass_fields__]
        return cls(**{name: _cstr(v) if name in cls._TEXT else v for name, v in zip(names, values)})

    def pack(self) -> bytes:
        sizes = {"name": 20, "desc": 40, "lboname": 40, "location": 40, "manufacturer": 40, "devicetype": 40,
                 "spantype": 6}
        values = [_cbytes(getattr(self, f), sizes[f], f) if f in self._TEXT else getattr(self, f)
                  for f in self.__dataclass_fields__]
        return SPANINFO.pack(*values)

    @staticmethod
    def request(spanno: int) -> bytearray:
        """The buffer DAHDI_SPANSTAT reads the span number from and writes the answer into."""
        buf = bytearray(SPANINFO.size)
        INT.pack_into(buf, 0, spanno)
        return buf


def pack_lineconfig(span: int, lbo: int, lineconfig: int, sync: int, name: str = "") -> bytes:
    return LINECONFIG.pack(span, _cbytes(name, 20, "span name"), lbo, lineconfig, sync)


def pack_chanconfig(chan: int, sigtype: int, deflaw: int = DAHDI_LAW_DEFAULT, master: int = 0,
                    idlebits: int = 0, name: str = "", netdev_name: str = "") -> bytes:
    return CHANCONFIG.pack(chan, _cbytes(name, 40, "channel name"), sigtype, deflaw, master, idlebits,
                           _cbytes(netdev_name, 16, "netdev name"))


@dataclass(frozen=True)
class BufferInfo:
    """struct dahdi_bufferinfo: a channel's buffer policy, count and size."""

    txbufpolicy: int = DAHDI_POLICY_IMMEDIATE
    rxbufpolicy: int = DAHDI_POLICY_IMMEDIATE
    numbufs: int = 4
    bufsize: int = 160
    readbufs: int = 0
    writebufs: int = 0

    def pack(self) -> bytes:
        return BUFFERINFO.pack(self.txbufpolicy, self.rxbufpolicy, self.numbufs, self.bufsize,
                               self.readbufs, self.writebufs)

    @classmethod
    def unpack(cls, raw: bytes) -> "BufferInfo":
        return cls(*BUFFERINFO.unpack(raw[:BUFFERINFO.size]))


@dataclass(frozen=True)
class ChannelParams:
    """The part of struct dahdi_params that tells what a channel is."""

    channo: int
    spanno: int
    chanpos: int
    sigtype: int
    sigcap: int
    curlaw: int
    name: str
    chan_alarms: int

    @classmethod
    def unpack(cls, raw: bytes) -> "ChannelParams":
        v = PARAMS.unpack(raw[:PARAMS.size])
        return cls(channo=v[0], spanno=v[1], chanpos=v[2], sigtype=v[3], sigcap=v[4], curlaw=v[10],
                   name=_cstr(v[12]), chan_alarms=v[-1])

    @staticmethod
    def request(channo: int = 0) -> bytearray:
        buf = bytearray(PARAMS.size)
        INT.pack_into(buf, 0, channo)
        return buf


def pack_maint(spanno: int, command: int) -> bytes:
    return MAINTINFO.pack(spanno, command)


def pack_dynamic_span(driver: str, addr: str, numchans: int, timing: int, spanno: int = 0) -> bytes:
    return DYNAMIC_SPAN.pack(_cbytes(driver, 20, "dynamic driver"), _cbytes(addr, 40, "dynamic address"),
                             numchans, timing, spanno)


def unpack_version(raw: bytes) -> tuple[str, str]:
    version, echo = VERSIONINFO.unpack(raw[:VERSIONINFO.size])
    return _cstr(version), _cstr(echo)
