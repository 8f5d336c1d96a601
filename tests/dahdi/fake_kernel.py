"""A test double for the kernel side of DAHDI, behind drivers.dahdi.DahdiDevice's narrow interface.

It keeps what the real driver keeps for the backend's purposes: spans with alarm bits and
counters (DAHDI_SPANSTAT), channels that one descriptor at a time may bind (DAHDI_SPECIFY,
EBUSY otherwise), per-channel receive queues (one HDLC frame or one audio block per read),
an event queue that makes reads and writes fail with ELAST until DAHDI_GETEVENT drains it,
and the sysfs files a span's layout is read from.  Every ioctl is logged for assertions.
The VM test (tests/image/test_image_dahdi.py) runs the same backend on the real module.
"""

from __future__ import annotations

import errno
from collections import deque
from dataclasses import dataclass, field, replace

import numpy as np

from drivers import dahdi_ioctl as io
from drivers.dahdi import CHANNEL_DEVICE, SYSFS_CHANNELS, SYSFS_SPANS, DahdiDevice


@dataclass
class FakeChannel:
    channo: int
    rx: deque = field(default_factory=deque)          # bytes per read
    tx: list = field(default_factory=list)            # bytes per write
    events: deque = field(default_factory=deque)
    open_fd: int | None = None
    bufinfo: io.BufferInfo | None = None
    tx_full: bool = False
    law: int = io.DAHDI_LAW_DEFAULT


@dataclass
class FakeSpan:
    spanno: int
    basechan: int
    channels: int = 31
    name: str = "TE4/0/1"
    hardware_hdlc: bool = True
    info: io.SpanInfo = None

    def __post_init__(self):
        if self.info is None:
            self.info = io.SpanInfo(
                spanno=self.spanno, name=self.name, desc=f"T4XXP (PCI) Card 0 Span {self.spanno}", alarms=0,
                txlevel=0, rxlevel=0, bpvcount=0, crc4count=0, ebitcount=0, fascount=0, fecount=0, cvcount=0,
                becount=0, prbs=0, errsec=0, irqmisses=0, syncsrc=self.spanno, numchans=31, totalchans=31,
                totalspans=1, lbo=0, lineconfig=io.DAHDI_CONFIG_CCS | io.DAHDI_CONFIG_HDB3 | io.DAHDI_CONFIG_CRC4,
                lboname="0 db (CSU)/0-133 feet (DSX-1)", location="PCI Bus 02 Slot 01", manufacturer="Digium",
                devicetype="Wildcard TE420 (5th Gen)", irq=0, linecompat=0, spantype="E1")


class FakeDahdi(DahdiDevice):
    def __init__(self, spans: list[FakeSpan] | None = None, *, loaded: bool = True):
        self.loaded = loaded
        self.spans = {s.spanno: s for s in (spans or [FakeSpan(1, 1)])}
        self.channels: dict[int, FakeChannel] = {}
        for span in self.spans.values():
            for pos in range(span.channels):
                self.channels[span.basechan + pos] = FakeChannel(span.basechan + pos)
        self.fds: dict[int, int | None] = {}      # fd -> bound channel (None until SPECIFY)
        self.ioctls: list[tuple[int, str, object]] = []
        self.closed: list[int] = []
        self.removed = False
        self._next_fd = 100

    # -- test controls -----------------------------------------------------------------------
    def set_alarms(self, spanno: int, alarms: int) -> None:
        span = self.spans[spanno]
        span.info = replace(span.info, alarms=alarms)

    def set_counters(self, spanno: int, **values) -> None:
        span = self.spans[spanno]
        span.info = replace(span.info, **values)

    def channel_of(self, fd: int) -> FakeChannel:
        return self.channels[self.fds[fd]]

    # -- DahdiDevice -------------------------------------------------------------------------
    def open(self, path: str = CHANNEL_DEVICE) -> int:
        if not self.loaded or path != CHANNEL_DEVICE:
            raise FileNotFoundError(errno.ENOENT, "No such file or directory", path)
        self._next_fd += 1
        self.fds[self._next_fd] = None
        return self._next_fd

    def close(self, fd: int) -> None:
        channo = self.fds.pop(fd)
        if channo is not None:
            self.channels[channo].open_fd = None
        self.closed.append(fd)

    def _bound(self, fd: int) -> FakeChannel:
        if self.removed:
            raise OSError(errno.ENODEV, "No such device")
        channo = self.fds.get(fd)
        if channo is None:
            raise OSError(errno.EINVAL, "Invalid argument")
        return self.channels[channo]

    def read(self, fd: int, n: int) -> bytes:
        chan = self._bound(fd)
        if chan.events:
            raise OSError(io.ELAST, "event pending")
        if not chan.rx:
            raise BlockingIOError(errno.EAGAIN, "Resource temporarily unavailable")
        return bytes(chan.rx.popleft()[:n])

    def write(self, fd: int, data: bytes) -> int:
        chan = self._bound(fd)
        if chan.events:
            raise OSError(io.ELAST, "event pending")
        if chan.tx_full:
            raise BlockingIOError(errno.EAGAIN, "Resource temporarily unavailable")
        limit = chan.bufinfo.bufsize if chan.bufinfo else len(data)
        chan.tx.append(bytes(data[:limit]))
        return min(len(data), limit)

    def ioctl(self, fd: int, request: int, arg=0):
        name = io.IOCTL_NAMES.get(request, hex(request))
        self.ioctls.append((fd, name, bytes(arg) if isinstance(arg, (bytes, bytearray)) else arg))
        if self.removed:
            raise OSError(errno.ENODEV, "No such device")
        if request == io.DAHDI_SPECIFY:
            channo = io.unpack_int(arg)
            chan = self.channels.get(channo)
            if chan is None:
                raise OSError(errno.ENXIO, "No such device or address")
            if chan.open_fd is not None:
                raise OSError(errno.EBUSY, "Device or resource busy")
            chan.open_fd = fd
            self.fds[fd] = channo
            return 0
        if request == io.DAHDI_SET_BUFINFO:
            self._bound(fd).bufinfo = io.BufferInfo.unpack(arg)
            return 0
        if request == io.DAHDI_GETEVENT:
            chan = self._bound(fd)
            code = chan.events.popleft() if chan.events else 0
            arg[:] = io.pack_int(code)
            return arg
        if request == io.DAHDI_SPANSTAT:
            spanno = io.unpack_int(arg)
            if spanno not in self.spans:
                raise OSError(errno.EINVAL, "Invalid argument")
            arg[:] = self.spans[spanno].info.pack()
            return arg
        if request == io.DAHDI_SETLAW:
            self._bound(fd).law = io.unpack_int(arg)
            return 0
        if request == io.DAHDI_MAINT:
            return 0
        raise OSError(errno.ENOTTY, f"fake DAHDI has no {name}")

    def bearer_pass(self, rings) -> list[int]:
        """What dsp/c/dahdi_io.c does, on the fake channels (its own test runs the C on sockets)."""
        evented = []
        for i, fd in enumerate(int(f) for f in rings.fds):
            flagged = False
            for _ in range(64):
                try:
                    data = self.read(fd, rings.block)
                except BlockingIOError:
                    break
                except OSError as exc:
                    if exc.errno != io.ELAST:
                        rings.stats["errors"] += 1
                        rings.last_errno = exc.errno
                    flagged = exc.errno == io.ELAST
                    break
                excess = int(rings.rx_len[i]) + len(data) - rings.cap
                if excess > 0:
                    rings.rx[i, :rings.rx_len[i] - excess] = rings.rx[i, excess:rings.rx_len[i]].copy()
                    rings.rx_len[i] -= excess
                    rings.stats["rx_dropped"] += excess
                rings.rx[i, rings.rx_len[i]:rings.rx_len[i] + len(data)] = np.frombuffer(data, np.uint8)
                rings.rx_len[i] += len(data)
            while not flagged and rings.tx_len[i] >= rings.block:
                try:
                    put = self.write(fd, rings.tx[i, :rings.block].tobytes())
                except BlockingIOError:
                    rings.stats["tx_busy"] += 1
                    break
                except OSError as exc:
                    if exc.errno != io.ELAST:
                        rings.stats["errors"] += 1
                        rings.last_errno = exc.errno
                    flagged = exc.errno == io.ELAST
                    break
                rings.tx[i, :rings.tx_len[i] - put] = rings.tx[i, put:rings.tx_len[i]].copy()
                rings.tx_len[i] -= put
            if flagged:
                evented.append(i)
        return evented

    def read_text(self, path: str) -> str | None:
        if not self.loaded:
            return None
        for span in self.spans.values():
            base = f"{SYSFS_SPANS}/span-{span.spanno}"
            files = {f"{base}/basechan": f"{span.basechan}\n", f"{base}/channels": f"{span.channels}\n",
                     f"{base}/name": f"{span.name}\n", f"{base}/desc": f"{span.info.desc}\n",
                     f"{base}/spantype": "E1\n",
                     f"{SYSFS_CHANNELS}/dahdi!chan!{span.spanno:03d}!016/sigcap":
                         "Clear HDLCRAW HDLCFCS " + ("Hardware-assisted HDLC " if span.hardware_hdlc else "") + "\n"}
            if path in files:
                return files[path]
        return None

    def list_dir(self, path: str) -> list[str]:
        if path == SYSFS_SPANS and self.loaded:
            return [f"span-{n}" for n in sorted(self.spans)]
        return []
