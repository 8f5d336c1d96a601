"""The DAHDI span: an E1 span on a card (or a DAHDI loop span) behind the span API.

The card and the kernel do the framing, CRC-4 and the D-channel's HDLC; this backend reads and
writes D-channel frames and B-channel audio on the channel devices and reads alarms and
counters with DAHDI_SPANSTAT.  It has two halves:

* pure logic, unit-tested without a kernel module — `system_conf` (the `/etc/dahdi/system.conf`
  text `dahdi_cfg` reads, from the box's one configuration file), `channel_map` (global DAHDI
  channel numbers of a span's D- and B-channels), `line_state` and `SpanCounters` (DAHDI_SPANSTAT
  onto the same alarm and performance model as the software framer), `DahdiEvent` (event codes
  to names and what they mean), and the error messages (`explain_os_error`);
* a small I/O part behind `DahdiDevice` (open / read / write / ioctl / close, plus the sysfs
  files DAHDI publishes): tests hand the span a fake device, the VM test the real one.

Configuring DAHDI (see docs/dahdi.md): `configure_system` loads the modules, reads each span's
channel layout from sysfs, writes the generated file under /run/pribox/dahdi/ and runs
`dahdi_cfg -c FILE` once for all DAHDI spans of the box; the span then opens its channels.

I/O model.  The D-channel is one `/dev/dahdi/channel` descriptor bound with DAHDI_SPECIFY, in
HDLC-FCS mode: a read returns one frame with its two FCS octets, a write carries two placeholder
octets the kernel replaces.  Each B-channel is one descriptor whose block size (DAHDI_SET_BUFINFO's
bufsize) is one 20 ms tick; `write_bearer` / `read_bearer` move all 30 through per-channel rings
in one C call (`dsp/c/dahdi_io.c`: every waiting block read, whole blocks written, no Python
per channel), the same call the span's data-plane thread can make each tick.  A read or write that fails with ELAST means an event waits: it is
drained with DAHDI_GETEVENT and counted (alarm, bad FCS, abort, overrun, removed).  Once the
media plane is enabled (`media_port()`), each tick runs every whole 10 ms block of the 30
channels through it in one C call a block and queues the result for the card.
"""

from __future__ import annotations

import errno
import fnmatch
import logging
import os
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from drivers import dahdi_ioctl as io
from drivers.config import SpanConfig
from drivers.span import LineState, Span, SpanError
from dsp import lib
from dsp.line_port import MediaPort
from runtime.bus import EventBus
from runtime.clock import Clock

log = logging.getLogger("pribox.span")

CHANNEL_DEVICE = "/dev/dahdi/channel"
CTL_DEVICE = "/dev/dahdi/ctl"
SYSFS_SPANS = "/sys/bus/dahdi_spans/devices"
SYSFS_CHANNELS = "/sys/bus/dahdi_channels/devices"
RUN_DIR = "/run/pribox/dahdi"
E1_CHANNELS = 31
B_CHANNELS = 30
DCHANNEL_BUFSIZE = 1024        # octets: the longest D-channel frame a read can return (chan_dahdi's figure)
DCHANNEL_NUMBUFS = 16
BEARER_NUMBUFS = 8             # blocks of look-ahead per B-channel (8 x 20 ms covers a slow tick)
DEFAULT_BLOCK = 160            # octets per B-channel block: 20 ms, the bearer pump's period
SPANSTAT_PERIOD = 0.1          # seconds between DAHDI_SPANSTAT polls (and after any alarm event)
IDLE_OCTET = {"alaw": 0xD5, "ulaw": 0xFF}
LINE_CODES = ("hdb3", "ami")
FRAMINGS = ("ccs", "cas")
LINE_BUILD_OUTS = range(0, 8)  # DAHDI's lbo 0..7; on E1 cards 0 is the only build-out in use


class DahdiError(SpanError):
    """DAHDI refused or is missing; the message names the span and what to check."""


# -- configuration: channel layout and system.conf ---------------------------------------------

@dataclass(frozen=True)
class SpanLayout:
    """What DAHDI says about one of its spans (sysfs: /sys/bus/dahdi_spans/devices/span-N)."""

    spanno: int
    name: str
    desc: str
    basechan: int
    channels: int
    spantype: str = "E1"
    hardware_hdlc: bool = False   # the D-channel timeslot offers "Hardware-assisted HDLC"


@dataclass(frozen=True)
class ChannelMap:
    dchannel: int | None          # global DAHDI channel number of the D-channel (None on CAS)
    bearer: tuple[int, ...]       # B1..B30 in order
    timeslots: tuple[int, ...]    # the E1 timeslot of each B-channel


def channel_map(config: SpanConfig, layout: SpanLayout) -> ChannelMap:
    """Global channel numbers of `config`'s span, from its layout; an error when it is no E1."""
    if layout.channels != E1_CHANNELS:
        raise DahdiError(f"span {config.id}: DAHDI span {layout.spanno} ({layout.name or 'unnamed'}) has "
                         f"{layout.channels} channels; an E1 span has {E1_CHANNELS} (is it a T1 or analog card?)")
    if layout.basechan < 1:
        raise DahdiError(f"span {config.id}: DAHDI numbered span {layout.spanno}'s channels from {layout.basechan} "
                         f"(DAHDI 2.11 does so for a span assigned after one without channels, such as "
                         f"dahdi_dummy); load the timing-only driver after the cards")
    dts = config.dchannel_timeslot
    timeslots = tuple(t for t in range(1, E1_CHANNELS + 1) if t != dts)
    if config.framing == "cas":
        # TS16 carries the ABCD bits on CAS; the other 30 timeslots are the bearer channels.
        return ChannelMap(None, tuple(layout.basechan + t - 1 for t in timeslots), timeslots)
    return ChannelMap(layout.basechan + dts - 1, tuple(layout.basechan + t - 1 for t in timeslots), timeslots)


def lineconfig_flags(config: SpanConfig) -> int:
    flags = io.DAHDI_CONFIG_HDB3 if config.line_code == "hdb3" else io.DAHDI_CONFIG_AMI
    if config.framing == "ccs":
        flags |= io.DAHDI_CONFIG_CCS
    if config.crc4:
        flags |= io.DAHDI_CONFIG_CRC4
    return flags


def timing_priority(config: SpanConfig) -> int:
    """DAHDI's timing priority: as written, else from `clock` (line -> 1, the primary source)."""
    if config.timing_priority is not None:
        return config.timing_priority
    return 1 if config.clock == "line" else 0


def _ranges(numbers: Iterable[int]) -> str:
    numbers = sorted(numbers)
    parts, start = [], None
    for i, n in enumerate(numbers):
        if start is None:
            start = n
        if i + 1 == len(numbers) or numbers[i + 1] != n + 1:
            parts.append(str(start) if start == n else f"{start}-{n}")
            start = None
    return ",".join(parts)


def system_conf(spans: Iterable[tuple[SpanConfig, SpanLayout]], *, source: str = "the box's configuration",
                tone_zone: str = "us") -> str:
    """The `system.conf` text for `dahdi_cfg -c`: one span= line and its channels per span.

    `hardhdlc=` where the card does the D-channel's HDLC itself, `dchan=` (DAHDI's software
    HDLC-FCS) elsewhere.  The companding law is set on each B-channel descriptor
    (DAHDI_SETLAW) when the span opens, not here: dahdi_cfg refuses `alaw=` on a channel a
    `bchan=` line already named.  No echo canceller on any channel (PRI data and a contact center's own
    DSP both want the bearer untouched); a tone zone because dahdi_cfg expects one, although
    pribox makes its own tones."""
    lines = [f"# Generated by pribox from {source}; edit that file, not this one.",
             "# span=<span>,<timing>,<line build-out>,<framing>,<coding>[,crc4]"]
    channel_lines: list[str] = []
    seen: dict[int, int] = {}
    for config, layout in spans:
        if layout.spanno in seen:
            raise DahdiError(f"span {config.id}: DAHDI span {layout.spanno} is also span {seen[layout.spanno]}'s")
        seen[layout.spanno] = config.id
        cmap = channel_map(config, layout)
        span_fields = [str(layout.spanno), str(timing_priority(config)), str(config.line_build_out),
                       config.framing, config.line_code] + (["crc4"] if config.crc4 else [])
        lines.append(f"span={','.join(span_fields)}")
        channel_lines.append(f"# pribox span {config.id}: DAHDI span {layout.spanno} ({layout.name}), "
                             f"channels {layout.basechan}-{layout.basechan + layout.channels - 1}")
        channel_lines.append(f"bchan={_ranges(cmap.bearer)}")
        if cmap.dchannel is not None:
            channel_lines.append(f"{'hardhdlc' if layout.hardware_hdlc else 'dchan'}={cmap.dchannel}")
        channel_lines.append(f"# echocanceller none on {_ranges(cmap.bearer)}")
    return "\n".join(lines + channel_lines + [f"loadzone={tone_zone}", f"defaultzone={tone_zone}", ""])


# -- SPANSTAT onto the span model ----------------------------------------------------------------

def alarm_names(alarms: int) -> list[str]:
    """DAHDI's own words for an alarm bit set, as dahdi_tool and `dahdi_scan` print them."""
    return [name for bit, name in io.ALARM_BIT_NAMES.items() if alarms & bit] or ["OK"]


def line_state(info: io.SpanInfo, crc4: bool) -> LineState:
    """The software framer's line model from DAHDI's alarm bits.

    RED (or LOS / LFA) is loss of frame, with `los` when the card also says LOS; BLUE is AIS;
    YELLOW is the far end's RAI.  RECOVERING (red cleared, DAHDI still holding off) is neither
    aligned nor an alarm of its own.  A card sends RAI while it is in red, which DAHDI does not
    report, so `remote_alarm_sent` follows red."""
    a = info.alarms
    red = bool(a & (io.DAHDI_ALARM_RED | io.DAHDI_ALARM_LFA | io.DAHDI_ALARM_LOS))
    los = bool(a & io.DAHDI_ALARM_LOS) or bool(a & io.DAHDI_ALARM_NOTOPEN)
    ais = bool(a & io.DAHDI_ALARM_BLUE)
    aligned = not (red or ais or los or a & io.DAHDI_ALARM_RECOVER)
    multiframe = crc4 and aligned and not a & io.DAHDI_ALARM_LMFA
    state = "off" if not crc4 else ("aligned" if multiframe else "searching")
    return LineState(frame_aligned=aligned, multiframe_aligned=multiframe, crc4=state, los=los, ais=ais,
                     lof=red or los, rai=bool(a & io.DAHDI_ALARM_YELLOW), remote_alarm_sent=red or los)


# DAHDI_SPANSTAT counter -> the span API's counter name.
SPANSTAT_COUNTERS = {"crc4count": "crc4_errors", "fascount": "fas_errors", "ebitcount": "far_end_block_errors",
                     "bpvcount": "bipolar_violations", "irqmisses": "irq_misses"}


class SpanCounters:
    """Running totals from DAHDI's counters, which a driver may reset or let wrap: a value that
    went down starts a new run rather than a negative count."""

    def __init__(self) -> None:
        self.totals = {name: 0 for name in SPANSTAT_COUNTERS.values()}
        self._last: dict[str, int] = {}

    def update(self, info: io.SpanInfo) -> None:
        for dahdi_name, name in SPANSTAT_COUNTERS.items():
            value = getattr(info, dahdi_name)
            last = self._last.get(name)
            if last is None:
                delta = value
            elif value >= last:
                delta = value - last
            else:
                delta = value  # reset (dahdi_maint -r, a card restart) or wrapped
            self.totals[name] += max(delta, 0)
            self._last[name] = value


@dataclass(frozen=True)
class DahdiEvent:
    code: int

    @property
    def name(self) -> str:
        return io.event_name(self.code)

    @property
    def counter(self) -> str:
        """The span counter this event counts in."""
        return {io.DAHDI_EVENT_BADFCS: "hdlc_bad_fcs", io.DAHDI_EVENT_ABORT: "hdlc_aborts",
                io.DAHDI_EVENT_OVERRUN: "hdlc_overruns", io.DAHDI_EVENT_ALARM: "alarm_events",
                io.DAHDI_EVENT_NOALARM: "noalarm_events", io.DAHDI_EVENT_READ_OVERRUN: "read_overruns",
                io.DAHDI_EVENT_WRITE_UNDERRUN: "write_underruns", io.DAHDI_EVENT_REMOVED: "removed_events",
                }.get(self.code, "other_events")

    @property
    def changes_alarms(self) -> bool:
        return self.code in (io.DAHDI_EVENT_ALARM, io.DAHDI_EVENT_NOALARM)


def explain_os_error(span_id: int, what: str, exc: OSError) -> str:
    """One line for a failed DAHDI call, naming the span and what a field engineer checks first."""
    hint = {
        errno.ENOENT: "DAHDI is not loaded (no device node): is the dahdi module built for this kernel?",
        errno.EBUSY: "the channel is already open elsewhere (another pribox, Asterisk, dahdi_monitor?)",
        errno.ENXIO: "no such DAHDI channel: is the card present and its span configured (dahdi_cfg)?",
        errno.EINVAL: "DAHDI refused the request: the channel is not configured as expected (dahdi_cfg -vv)",
        errno.ENODEV: "the DAHDI device vanished (card removed or driver unloaded)",
        errno.EACCES: "permission denied on the DAHDI device",
        errno.EPERM: "permission denied on the DAHDI device",
    }.get(exc.errno, os.strerror(exc.errno) if exc.errno else str(exc))
    return f"span {span_id}: {what}: {hint} [{errno.errorcode.get(exc.errno, exc.errno)}]"


# -- modules -----------------------------------------------------------------------------------

# Card drivers that take `default_linemode`: without it a TE2xx/TE4xx/TE12x/TE13x/TE43x starts
# its spans as T1 (24 channels) unless a jumper says otherwise; the box's spans are E1.
E1_LINEMODE_DRIVERS = ("wct4xxp", "wcte12xp", "wcte13xp", "wcte43x")
DAHDI_CARD_DRIVERS = ("wct4xxp", "wcte13xp", "wcte43x", "wcte12xp", "wcte11xp", "wct1xxp", "wcb4xxp",
                      "wctdm24xxp", "wcaxx", "tor2", "xpp_usb", "opvxa1200")


def card_drivers(modaliases: Iterable[str], alias_table: Iterable[str],
                 drivers: Iterable[str] = DAHDI_CARD_DRIVERS) -> list[str]:
    """The DAHDI card drivers whose `alias` lines (modules.alias) match a device's modalias."""
    wanted = set(drivers)
    patterns = []
    for line in alias_table:
        parts = line.split()
        if len(parts) == 3 and parts[0] == "alias" and parts[2] in wanted:
            patterns.append((parts[1], parts[2]))
    found = []
    for modalias in modaliases:
        for pattern, module in patterns:
            if module not in found and fnmatch.fnmatchcase(modalias, pattern):
                found.append(module)
    return found


# -- B-channel rings ------------------------------------------------------------------------------

class BearerRings:
    """A span's B-channel audio between the descriptors and the span API: one receive and one
    transmit ring per channel (uint8 [channels][cap] with a fill count each), moved in one
    `DahdiDevice.bearer_pass` call (C: dsp/c/dahdi_io.c)."""

    STATS = ("rx_octets", "tx_octets", "rx_dropped", "tx_busy", "errors")

    def __init__(self, fds: list[int], block: int, cap: int):
        n = len(fds)
        self.fds = np.array(fds, dtype=np.int32)
        self.block, self.cap = block, cap
        self.rx = np.zeros((n, cap), np.uint8)
        self.rx_len = np.zeros(n, np.int32)
        self.tx = np.zeros((n, cap), np.uint8)
        self.tx_len = np.zeros(n, np.int32)
        self.evented = np.zeros(max(n, 1), np.int32)
        self.stats = dict.fromkeys(self.STATS, 0)
        self.last_errno = 0
        self.tx_dropped = 0
        self.native = None   # the C pass's stats struct, made by the device on first use

    def push_tx(self, block: np.ndarray) -> None:
        m = block.shape[1]
        if m > self.cap:
            self.tx_dropped += (m - self.cap) * len(self.fds)
            block, m = block[:, m - self.cap:], self.cap
        over = self.tx_len + m - self.cap
        if (over > 0).any():   # the kernel stopped taking audio: the oldest goes
            for i in np.nonzero(over > 0)[0]:
                k = int(over[i])
                self.tx[i, :self.tx_len[i] - k] = self.tx[i, k:self.tx_len[i]]
                self.tx_len[i] -= k
                self.tx_dropped += k
        if (self.tx_len == self.tx_len[0]).all():
            start = int(self.tx_len[0])
            self.tx[:, start:start + m] = block[:len(self.fds)]
        else:
            for i, start in enumerate(self.tx_len):
                self.tx[i, start:start + m] = block[i]
        self.tx_len += m

    def take_rx(self, out: np.ndarray, n: int) -> int:
        """Move up to n octets per channel into `out` (the rest of it left as it is); returns
        the octets short across all channels."""
        if (self.rx_len == self.rx_len[0]).all():
            have = int(self.rx_len[0])
            take = min(n, have)
            out[:len(self.fds), :take] = self.rx[:, :take]
            self.rx[:, :have - take] = self.rx[:, take:have]
            self.rx_len -= take
            return (n - take) * len(self.fds)
        short = 0
        for i in range(len(self.fds)):
            have = int(self.rx_len[i])
            take = min(n, have)
            out[i, :take] = self.rx[i, :take]
            self.rx[i, :have - take] = self.rx[i, take:have]
            self.rx_len[i] -= take
            short += n - take
        return short


# -- the device ----------------------------------------------------------------------------------

class DahdiDevice:
    """The kernel's DAHDI interface, narrowed to what the backend uses (a test double replaces it)."""

    def open(self, path: str = CHANNEL_DEVICE) -> int:
        return os.open(path, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)

    def close(self, fd: int) -> None:
        os.close(fd)

    def read(self, fd: int, n: int) -> bytes:
        return os.read(fd, n)

    def write(self, fd: int, data: bytes) -> int:
        return os.write(fd, data)

    def ioctl(self, fd: int, request: int, arg: int | bytes | bytearray = 0):
        import fcntl
        if isinstance(arg, bytearray):
            fcntl.ioctl(fd, request, arg, True)
            return arg
        return fcntl.ioctl(fd, request, arg)

    def read_text(self, path: str) -> str | None:
        try:
            return Path(path).read_text()
        except OSError:
            return None

    def list_dir(self, path: str) -> list[str]:
        try:
            return sorted(os.listdir(path))
        except OSError:
            return []

    def bearer_pass(self, rings: BearerRings) -> list[int]:
        """Read every waiting block into the receive rings and write the transmit rings' whole
        blocks, in one C call for all channels; the indexes of channels with an event waiting."""
        from dsp._core import ffi, lib
        if rings.native is None:
            rings.native = ffi.new("dahdi_io_stats *")
        c = rings.native
        count = lib.dahdi_bearer_pass(
            ffi.from_buffer("int32_t[]", rings.fds), len(rings.fds), rings.block, rings.cap,
            ffi.from_buffer("uint8_t[]", rings.rx), ffi.from_buffer("int32_t[]", rings.rx_len),
            ffi.from_buffer("uint8_t[]", rings.tx), ffi.from_buffer("int32_t[]", rings.tx_len),
            ffi.from_buffer("int32_t[]", rings.evented), c)
        if count < 0:
            raise ValueError(f"bearer pass refused block {rings.block} / ring {rings.cap}")
        for name in BearerRings.STATS:
            rings.stats[name] = getattr(c, name)
        rings.last_errno = c.last_errno
        return [int(i) for i in rings.evented[:count]]

    # -- helpers built on the calls above --------------------------------------------------
    def open_channel(self, channo: int) -> int:
        fd = self.open(CHANNEL_DEVICE)
        try:
            self.ioctl(fd, io.DAHDI_SPECIFY, io.pack_int(channo))
        except OSError:
            self.close(fd)
            raise
        return fd

    def get_event(self, fd: int) -> int:
        return io.unpack_int(self.ioctl(fd, io.DAHDI_GETEVENT, bytearray(io.INT.size)))

    def span_info(self, fd: int, spanno: int) -> io.SpanInfo:
        return io.SpanInfo.unpack(bytes(self.ioctl(fd, io.DAHDI_SPANSTAT, io.SpanInfo.request(spanno))))

    def layout(self, spanno: int) -> SpanLayout | None:
        base = f"{SYSFS_SPANS}/span-{spanno}"
        basechan, channels = self.read_text(f"{base}/basechan"), self.read_text(f"{base}/channels")
        if basechan is None or channels is None:
            return None
        basechan_n, channels_n = int(basechan), int(channels)
        dchan_pos = 16
        sigcap = self.read_text(f"{SYSFS_CHANNELS}/dahdi!chan!{spanno:03d}!{dchan_pos:03d}/sigcap") or ""
        return SpanLayout(spanno, (self.read_text(f"{base}/name") or "").strip(),
                          (self.read_text(f"{base}/desc") or "").strip(), basechan_n, channels_n,
                          (self.read_text(f"{base}/spantype") or "").strip(), "Hardware-assisted HDLC" in sigcap)

    def spans_present(self) -> list[int]:
        return sorted(int(name.removeprefix("span-")) for name in self.list_dir(SYSFS_SPANS)
                      if name.startswith("span-") and name.removeprefix("span-").isdigit())


Runner = Callable[[list[str]], tuple[int, str]]


def run_command(cmd: list[str]) -> tuple[int, str]:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    except FileNotFoundError:
        return 127, f"{cmd[0]}: not found"
    except subprocess.TimeoutExpired:
        return 124, f"{cmd[0]}: no answer in 60 s"
    return proc.returncode, (proc.stdout + proc.stderr).strip()


@dataclass
class SystemReport:
    """What `configure_system` did: the file, the spans it configured and those it could not."""

    conf_path: str | None = None
    conf_text: str = ""
    dahdi_cfg_output: str = ""
    configured: dict[int, SpanLayout] = field(default_factory=dict)   # pribox span id -> layout
    failed: dict[int, str] = field(default_factory=dict)              # pribox span id -> message


def load_modules(device: DahdiDevice, runner: Runner = run_command) -> list[str]:
    """Load `dahdi` and the driver of each DAHDI card present; returns what was loaded."""
    loaded = []
    # Debian's DAHDI leaves new spans unassigned (auto_assign_spans=0) for a udev helper that
    # its packages do not ship; pribox numbers them in the order the drivers register them.
    code, out = runner(["modprobe", "dahdi", "auto_assign_spans=1"])
    if code != 0:
        raise DahdiError(f"DAHDI: modprobe dahdi failed: {out or f'exit {code}'}")
    loaded.append("dahdi")
    release = os.uname().release
    aliases = (device.read_text(f"/lib/modules/{release}/modules.alias") or "").splitlines()
    modaliases = []
    for bus in ("/sys/bus/pci/devices", "/sys/bus/usb/devices"):
        for name in device.list_dir(bus):
            text = device.read_text(f"{bus}/{name}/modalias")
            if text:
                modaliases.append(text.strip())
    for module in card_drivers(modaliases, aliases):
        extra = ["default_linemode=e1"] if module in E1_LINEMODE_DRIVERS else []
        code, out = runner(["modprobe", module, *extra])
        if code == 0:
            loaded.append(module)
        else:
            log.error("DAHDI: modprobe %s failed: %s", module, out)
    return loaded


def configure_system(configs: Iterable[SpanConfig], device: DahdiDevice | None = None, *,
                     runner: Runner = run_command, run_dir: str = RUN_DIR, load: bool = True,
                     source: str = "the box's configuration", settle: float = 5.0) -> SystemReport:
    """Make DAHDI match the box's DAHDI spans: modules, the generated file, `dahdi_cfg`.

    A span DAHDI does not have is reported in `failed` (and left out of the file), so the other
    spans come up; only a DAHDI that cannot be loaded or configured at all fails every span."""
    device = device or DahdiDevice()
    configs = [c for c in configs if c.driver == "dahdi"]
    report = SystemReport()
    if not configs:
        return report
    try:
        if load:
            load_modules(device, runner)
    except DahdiError as exc:
        report.failed = {c.id: f"span {c.id}: {exc}" for c in configs}
        return report
    # A card's driver registers its spans some time after the module loads.
    wanted = {c.dahdi_span for c in configs}
    deadline = time.monotonic() + settle
    while not wanted <= set(device.spans_present()) and time.monotonic() < deadline:
        time.sleep(0.1)
    present = device.spans_present()
    usable: list[tuple[SpanConfig, SpanLayout]] = []
    for config in configs:
        layout = device.layout(config.dahdi_span)
        if layout is None:
            have = ", ".join(map(str, present)) or "none"
            report.failed[config.id] = (f"span {config.id}: DAHDI span {config.dahdi_span} not present "
                                        f"(DAHDI spans present: {have}); is the card in and its driver loaded?")
            continue
        try:
            channel_map(config, layout)
        except DahdiError as exc:
            report.failed[config.id] = str(exc)
            continue
        usable.append((config, layout))
    if not usable:
        return report
    text = system_conf(usable, source=source)
    os.makedirs(run_dir, exist_ok=True)
    path = os.path.join(run_dir, "system.conf")
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.replace(path + ".tmp", path)
    report.conf_path, report.conf_text = path, text
    code, out = runner(["dahdi_cfg", "-c", path])
    report.dahdi_cfg_output = out
    if code != 0:
        lines = out.splitlines()
        detail = [line.strip() for line in lines if "rror" in line or "line " in line.lower()][:3] or lines[-1:]
        message = f"dahdi_cfg -c {path} failed (exit {code}): {' | '.join(detail) or 'no output'}"
        for config, _ in usable:
            report.failed[config.id] = f"span {config.id}: {message}"
        return report
    report.configured = {config.id: layout for config, layout in usable}
    return report


def span_ioctls(config: SpanConfig, layout: SpanLayout) -> list[tuple[int, bytes]]:
    """What `dahdi_cfg` does for one span, as (request, argument) pairs for /dev/dahdi/ctl:
    DAHDI_SPANCONFIG, DAHDI_CHANCONFIG for each channel, DAHDI_STARTUP.  `system_conf` +
    dahdi_cfg is the box's path (see docs/dahdi.md); this one restarts a single span without
    touching the others (the loop bench uses it for the far span)."""
    cmap = channel_map(config, layout)
    law = io.DAHDI_LAW_ALAW if config.law == "alaw" else io.DAHDI_LAW_MULAW
    calls = [(io.DAHDI_SPANCONFIG, io.pack_lineconfig(layout.spanno, config.line_build_out,
                                                      lineconfig_flags(config), timing_priority(config)))]
    calls += [(io.DAHDI_CHANCONFIG, io.pack_chanconfig(channo, io.DAHDI_SIG_CLEAR, law)) for channo in cmap.bearer]
    if cmap.dchannel is not None:
        sig = io.DAHDI_SIG_HARDHDLC if layout.hardware_hdlc else io.DAHDI_SIG_HDLCFCS
        calls.append((io.DAHDI_CHANCONFIG, io.pack_chanconfig(cmap.dchannel, sig, law)))
    calls.append((io.DAHDI_STARTUP, io.pack_int(layout.spanno)))
    return calls


def configure_span(device: DahdiDevice, config: SpanConfig, layout: SpanLayout) -> None:
    fd = device.open(CTL_DEVICE)
    try:
        for request, arg in span_ioctls(config, layout):
            try:
                device.ioctl(fd, request, arg)
            except OSError as exc:
                raise DahdiError(explain_os_error(config.id, f"{io.IOCTL_NAMES.get(request, request)} on "
                                                             f"DAHDI span {layout.spanno}", exc)) from None
    finally:
        device.close(fd)


# -- the span ----------------------------------------------------------------------------------

class DahdiSpan(Span):
    def __init__(self, config: SpanConfig, *, clock: Clock, bus: EventBus, device: DahdiDevice | None = None,
                 layout: SpanLayout | None = None, block: int = DEFAULT_BLOCK, spanstat_period: float = SPANSTAT_PERIOD):
        super().__init__(config, clock=clock, bus=bus)
        if config.driver != "dahdi":
            raise SpanError(f"span {config.id}: driver {config.driver!r} is not the dahdi backend")
        if not 8 <= block <= 1600:
            raise SpanError(f"span {config.id}: B-channel block of {block} octets, expected 8..1600")
        self.device = device or DahdiDevice()
        self.layout = layout
        self.block = block
        self.spanstat_period = spanstat_period
        self.fault: str | None = None       # why the span is not working, for `show` and health
        self.info: io.SpanInfo | None = None
        self.cmap: ChannelMap | None = None
        self._dfd: int | None = None
        self._bfds: list[int] = []
        self._rings: BearerRings | None = None
        self._rx_primed = False
        self._media: MediaPort | None = None      # the media plane, once media_port() enabled it
        self._media_primed = False                # this opening's transmit rings hold its first block
        self._idle = IDLE_OCTET[config.law]
        self._span_counters = SpanCounters()
        self._counts: dict[str, int] = {}
        self._next_stat = 0.0
        self._last_aligned = True
        self.events: list[tuple[float, str]] = []   # the last events, newest last
        self._reset_counts()

    def _reset_counts(self) -> None:
        self._counts = {name: 0 for name in (
            "hdlc_rx_frames", "hdlc_tx_frames", "hdlc_rx_short", "hdlc_tx_busy", "hdlc_bad_fcs", "hdlc_aborts",
            "hdlc_overruns", "alarm_events", "noalarm_events", "read_overruns", "write_underruns",
            "removed_events", "other_events", "bearer_rx_short", "bearer_rx_priming", "bearer_rx_underruns",
            "bearer_tx_dropped", "frame_alignment_losses", "media_blocks",
            "spanstat_polls")}

    # -- life cycle -------------------------------------------------------------------------
    def _open(self, now: float) -> None:
        self.fault = None
        layout = self.layout or self.device.layout(self.config.dahdi_span)
        if layout is None:
            raise DahdiError(f"span {self.id}: DAHDI span {self.config.dahdi_span} not present "
                             f"(DAHDI spans present: {', '.join(map(str, self.device.spans_present())) or 'none'})")
        self.layout = layout
        self.cmap = channel_map(self.config, layout)
        opened: list[int] = []
        try:
            if self.cmap.dchannel is not None:
                self._dfd = self._open_channel(self.cmap.dchannel, "D-channel", opened)
                self.device.ioctl(self._dfd, io.DAHDI_SET_BUFINFO, io.BufferInfo(
                    numbufs=DCHANNEL_NUMBUFS, bufsize=DCHANNEL_BUFSIZE).pack())
            for n, channo in enumerate(self.cmap.bearer, 1):
                fd = self._open_channel(channo, f"B-channel {n}", opened)
                self.device.ioctl(fd, io.DAHDI_SET_BUFINFO, io.BufferInfo(
                    numbufs=BEARER_NUMBUFS, bufsize=self.block).pack())
                self.device.ioctl(fd, io.DAHDI_SETLAW, io.pack_int(
                    io.DAHDI_LAW_ALAW if self.config.law == "alaw" else io.DAHDI_LAW_MULAW))
                self._bfds.append(fd)
        except OSError as exc:
            for fd in opened:
                self.device.close(fd)
            self._dfd, self._bfds = None, []
            raise DahdiError(explain_os_error(self.id, getattr(exc, "pribox_what", "opening DAHDI"), exc)) from None
        self._rings = BearerRings(self._bfds, self.block, (BEARER_NUMBUFS + 2) * self.block)
        self._rx_primed = False
        self._media_primed = False
        if self._media is not None:
            self._prime_media()
        self._reset_counts()
        self._span_counters = SpanCounters()
        self._next_stat = now
        self._last_aligned = True
        self._poll_spanstat(now)

    def _open_channel(self, channo: int, what: str, opened: list[int]) -> int:
        try:
            fd = self.device.open(CHANNEL_DEVICE)
        except OSError as exc:
            exc.pribox_what = f"opening {CHANNEL_DEVICE} for {what} (channel {channo})"
            raise
        opened.append(fd)
        try:
            self.device.ioctl(fd, io.DAHDI_SPECIFY, io.pack_int(channo))
        except OSError as exc:
            exc.pribox_what = f"binding {what} to DAHDI channel {channo}"
            raise
        return fd

    def _close(self) -> None:
        for fd in ([self._dfd] if self._dfd is not None else []) + self._bfds:
            try:
                self.device.close(fd)
            except OSError:
                pass
        self._dfd, self._bfds, self._rings = None, [], None

    # -- pacing: the card paces the line; a tick polls its status --------------------------
    def _tick(self, now: float) -> None:
        if self._media is not None:
            self._run_media()
        if now >= self._next_stat:
            self._poll_spanstat(now)

    # -- the media plane: B-channel audio in 10 ms blocks through one C call each --------------
    def media_port(self) -> MediaPort:
        """The span's media plane, enabled by the first call: from then on each tick takes every
        whole 10 ms block all 30 receive rings hold through it and queues its result for the
        card (the bearer read/write calls are then the media plane's).  The channels' law on
        the card is the span's (DAHDI_SETLAW at open); each call's own law applies inside."""
        if self._media is None:
            self._media = MediaPort()
            self._media.set_idle_law(lib.MEDIA_CODEC_ALAW if self.config.law == "alaw" else lib.MEDIA_CODEC_ULAW)
            self._prime_media()
        return self._media

    def _prime_media(self) -> None:
        rings = self._rings
        if rings is None or self._media_primed or not len(rings.fds):
            return
        # Whatever the bearer calls left in the rings belongs to no one now.
        rings.rx_len[:] = 0
        self._rx_primed = False
        # One block of silence ahead, as the emulated port does, so a block's answer is queued
        # before the card needs it.
        rings.push_tx(np.full((B_CHANNELS, MediaPort.BLOCK), self._idle, np.uint8))
        self._media_primed = True

    def _run_media(self) -> None:
        rings = self._rings
        if rings is None or not len(rings.fds):
            return
        self._bearer_pass()
        size = MediaPort.BLOCK
        blocks = int(rings.rx_len.min()) // size
        if not blocks:
            return
        line_in = np.empty((B_CHANNELS, blocks * size), np.uint8)
        rings.take_rx(line_in, blocks * size)
        line_out = np.empty_like(line_in)
        for k in range(blocks):
            line_out[:, k * size:(k + 1) * size] = self._media.block(
                np.ascontiguousarray(line_in[:, k * size:(k + 1) * size]))
        self._counts["media_blocks"] += blocks
        rings.push_tx(line_out)
        self._bearer_pass()

    def _poll_spanstat(self, now: float) -> None:
        self._next_stat = now + self.spanstat_period
        fd = self._dfd if self._dfd is not None else (self._bfds[0] if self._bfds else None)
        if fd is None:
            return
        try:
            info = self.device.span_info(fd, self.layout.spanno)
        except OSError as exc:
            self._failed(explain_os_error(self.id, f"DAHDI_SPANSTAT on DAHDI span {self.layout.spanno}", exc))
            return
        self._counts["spanstat_polls"] += 1
        self.info = info
        self._span_counters.update(info)
        aligned = line_state(info, self.config.crc4).frame_aligned
        if self._last_aligned and not aligned:
            self._counts["frame_alignment_losses"] += 1
        self._last_aligned = aligned
        if info.alarms & io.DAHDI_ALARM_NOTOPEN and self.fault is None:
            self.fault = (f"span {self.id}: DAHDI span {self.layout.spanno} is not started "
                          f"(dahdi_cfg did not configure it)")

    def _failed(self, message: str) -> None:
        if self.fault != message:
            self.fault = message
            log.error("%s", message)

    def _note_event(self, code: int) -> None:
        event = DahdiEvent(code)
        self._counts[event.counter] += 1
        self.events.append((self.clock.now(), event.name))
        del self.events[:-32]
        if event.changes_alarms:
            self._next_stat = 0.0   # read the new alarm state at the next tick
        if code == io.DAHDI_EVENT_REMOVED:
            self._failed(f"span {self.id}: the DAHDI device was removed (card gone or driver unloaded)")

    def _drain_events(self, fd: int) -> None:
        for _ in range(64):  # DAHDI keeps at most 64 (DAHDI_MAX_EVENTSIZE)
            try:
                code = self.device.get_event(fd)
            except OSError as exc:
                self._failed(explain_os_error(self.id, "DAHDI_GETEVENT", exc))
                return
            if code == 0:
                return
            self._note_event(code)

    # -- state -------------------------------------------------------------------------------
    def _line_state(self) -> LineState:
        if self.info is None or self.fault is not None:
            # Nothing trustworthy from the card: report it as no signal, as a framer would.
            return LineState(False, False, "searching" if self.config.crc4 else "off", los=True, ais=False,
                             lof=True, rai=False, remote_alarm_sent=False)
        return line_state(self.info, self.config.crc4)

    def _counters(self) -> dict[str, int]:
        counters = dict(self._span_counters.totals)
        counters.update(self._counts)
        if self._rings is not None:
            counters["bearer_rx_dropped"] = self._rings.stats["rx_dropped"]
            counters["bearer_tx_busy"] = self._rings.stats["tx_busy"]
            counters["bearer_tx_dropped"] = self._rings.tx_dropped
        counters["slips"] = 0  # DAHDI reports no slip count; a card's driver logs them
        if self.info is not None:
            counters["sync_source"] = self.info.syncsrc
        return counters

    def _slip_count(self) -> int:
        return 0

    def alarm_text(self) -> str:
        """DAHDI's words for the current alarm bits ("RED LOS", "OK"), as dahdi_tool shows them."""
        return " ".join(alarm_names(self.info.alarms)) if self.info is not None else "unknown"

    # -- D-channel ---------------------------------------------------------------------------
    def _send_dchannel(self, frame: bytes) -> bool:
        if self._dfd is None:
            raise SpanError(f"span {self.id}: no D-channel on a CAS span")
        data = frame + b"\0\0"   # HDLC-FCS: the kernel fills in the FCS
        for _ in range(2):
            try:
                self.device.write(self._dfd, data)
                self._counts["hdlc_tx_frames"] += 1
                return True
            except BlockingIOError:
                self._counts["hdlc_tx_busy"] += 1
                return False
            except OSError as exc:
                if exc.errno == io.ELAST:
                    self._drain_events(self._dfd)
                    continue
                self._failed(explain_os_error(self.id, "writing the D-channel", exc))
                return False
        return False

    def _recv_dchannel(self) -> list[bytes]:
        frames: list[bytes] = []
        if self._dfd is None:
            return frames
        for _ in range(DCHANNEL_NUMBUFS * 2):
            try:
                data = self.device.read(self._dfd, DCHANNEL_BUFSIZE)
            except BlockingIOError:
                break
            except OSError as exc:
                if exc.errno == io.ELAST:
                    self._drain_events(self._dfd)
                    continue
                self._failed(explain_os_error(self.id, "reading the D-channel", exc))
                break
            if not data:
                break
            if len(data) < 3:   # a frame is at least one octet plus its FCS
                self._counts["hdlc_rx_short"] += 1
                continue
            self._counts["hdlc_rx_frames"] += 1
            frames.append(bytes(data[:-2]))
        return frames

    # -- B-channels --------------------------------------------------------------------------
    def _write_bearer(self, block: np.ndarray) -> None:
        if self._rings is None:
            return
        self._rings.push_tx(block)
        self._bearer_pass()

    def _bearer_pass(self) -> None:
        rings = self._rings
        errors = rings.stats["errors"]
        for index in self.device.bearer_pass(rings):
            self._drain_events(self._bfds[index])
        if rings.stats["errors"] > errors:
            self._failed(explain_os_error(self.id, "moving B-channel audio",
                                          OSError(rings.last_errno, os.strerror(rings.last_errno))))

    def _read_bearer(self, n: int) -> np.ndarray:
        out = np.full((B_CHANNELS, n), self._idle, dtype=np.uint8)
        rings = self._rings
        if rings is None or not len(rings.fds):
            return out
        self._bearer_pass()
        have = int(rings.rx_len.min())
        if not self._rx_primed:
            # Hand audio out only with a block in hand beyond what is asked: the reader's timer
            # and the card's blocks jitter against each other, and without that cushion every
            # late block would become a gap of idle octets.
            if have < min(n + self.block, rings.cap):
                self._counts["bearer_rx_priming"] += n
                return out
            self._rx_primed = True
        if have < n:
            self._counts["bearer_rx_underruns"] += 1
            self._rx_primed = False
        self._counts["bearer_rx_short"] += rings.take_rx(out, n)
        return out

    # -- maintenance -------------------------------------------------------------------------
    def _set_loopback(self, mode: str) -> None:
        command = {"none": io.DAHDI_MAINT_NONE, "local": io.DAHDI_MAINT_LOCALLOOP,
                   "line": io.DAHDI_MAINT_NETWORKLINELOOP}[mode]
        fd = self._dfd if self._dfd is not None else self._bfds[0]
        try:
            self.device.ioctl(fd, io.DAHDI_MAINT, io.pack_maint(self.layout.spanno, command))
        except OSError as exc:
            raise DahdiError(explain_os_error(self.id, f"loopback {mode} (DAHDI_MAINT)", exc)) from None

    def _bert_start(self, timeslots) -> None:
        raise DahdiError(f"span {self.id}: BERT on a DAHDI span is the card's own (dahdi_maint), not pribox's")

    def _bert_stop(self) -> None:
        return None

    def _bert_result(self) -> dict:
        return {"running": False, "pattern": None, "bit_errors": self.info.becount if self.info else 0}

    def describe(self) -> str:
        c = self.config
        where = f"DAHDI span {c.dahdi_span}" + (f" {self.layout.name}" if self.layout else "")
        return (f"E1 span {c.id} (dahdi, {where}, {c.side.upper()}): {c.framing.upper()}/{c.line_code.upper()}"
                f"{'/CRC4' if c.crc4 else ''}, timing priority {timing_priority(c)}, {c.law}, "
                f"D-channel TS{c.dchannel_timeslot}")
