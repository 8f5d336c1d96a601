"""Two DAHDI loop spans back to back in one kernel: pribox's DAHDI backend on one, libpri on the
other, as chan_dahdi drives it.  Runs inside the firmware image under qemu (the image's kernel
loads the modules; a development machine's usually cannot): `make image-dahdi-test` boots the
image with `systemd.wants=pribox-dahdi-bench.service`, which runs `python -m hil_tests.dahdi_loop`.

Steps, each printed as it passes (`dahdi-loop: ...`), the last line one JSON object:

1. kernel: `dahdi` (spans assigned as they register), two `dahdi_dynamic_loc` spans "1:0" and
   "1:1" joined back to back, both timing 0, then `dahdi_dummy` as the timing source (last:
   DAHDI 2.11 numbers a span assigned after a channel-less one from channel 0);
2. `drivers.dahdi.configure_system` writes system.conf for both spans and runs dahdi_cfg;
3. the box: a DahdiSpan (TE, user side) with pribox's ISDN stack and the AnswerAndListen policy;
   the far end: libpri (network side) on the far span's HDLC-FCS D-channel descriptor;
4. a call from the far end: ringback measured at the far end, the call answered, DTMF and a
   1 kHz tone sent by the far end and heard by the box;
5. the far span stopped (its channels closed, the dynamic span destroyed) and started again
   (re-created and configured through DAHDI's ioctls): the box's alarms raised and cleared, the
   D-channel re-established, a second call on the same B-channel answered (no channel stuck);
   then the box's PBX takes the span over (handler "pbx": the embedded default's trunk group,
   translation 15881234 -> 7000 and dial plan 7000 -> ivr:main, prompts from the image's
   /usr/share/pribox/prompts): libpri calls 15881234, the far end finds the greeting prompt
   in what it hears (correlation) and its level, presses 2 in-band and sends a -10 dBm0 1 kHz
   tone (a recorder tap on the box's channel measures it), then hears the all-busy prompt and
   is cleared with cause 16; the IVR's trace (IvrDigit, IvrCollectResult) and the PBX's
   CallEnded show the digit collected;
6. the box as it runs: `pribox config check` on a configuration with DAHDI spans (and on one
   naming a DAHDI span twice), then `pribox run` with a DAHDI span on the box's loop span plus
   one on a DAHDI span that does not exist: the daemon configures DAHDI itself, its ISDN stack
   and its PBX (handler "pbx", the same sections) answer 15881234 from libpri with the IVR's
   greeting, take the digit 2 and clear with cause 16, and the missing card is named in the
   health while the rest runs;
7. CPU: this process's CPU time per wall second: the far end alone, then with the box's span
   idle (its 10 ms tick: status, and the media plane on its 30 B-channels; the 2 ms D-channel
   poll), then in a call.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import resource
import subprocess
import sys
import time

import numpy as np

from drivers import dahdi_ioctl as io
from drivers.config import SpanConfig
from drivers.dahdi import (CTL_DEVICE, DahdiDevice, DahdiSpan, channel_map, configure_span,
                           configure_system)
from drivers.events import SpanAlarmsChanged
from drivers.pacing import SpanPacer
from dsp.codecs import Codec, decode, encode
from dsp.dtmf import DtmfGenerator
from dsp.levels import dbm0_to_amplitude, power_dbm0
from dsp.prompts import load_prompt
from runtime.bus import Event, EventBus
from firmware.appliance.control_service import CONTROL_SOCKET, query_status
from runtime.clock import LoopClock
from firmware.isdn.answer import AnswerAndListen
from firmware.isdn.binding import IsdnSpan
from firmware.isdn.events import CallAudioReport, DtmfDigit
from firmware.isdn.stack import PriStack
from hil_tests.peers.libpri import LibpriPeer
from hil_tests.scenarios.analysis import find_frequency, find_prompt, level_dbm0
from firmware.config.loader import default_text, load_text
from pbx_cti.ivr.trace import IvrCollectResult, IvrDigit
from pbx_cti.pbx.core import Pbx, PbxSpanHandler
from pbx_cti.pbx.model import CallEnded
from pbx_cti.pbx.service import build_plan

BOX_ADDR, FAR_ADDR = "1:0", "1:1"
BLOCK = 160                       # octets per B-channel read: 20 ms
DIGITS = "1234#"
TONE_HZ, TONE_DBM0 = 1000.0, -10.0
IVR_NUMBER, IVR_DIGIT = "15881234", "2"   # the center's number; menu choice 2 (이체)
PROMPT_DIR = "/usr/share/pribox/prompts"  # the default flow's prompts, made at image build
STEP_TIMEOUT = 60.0               # generous: under plain emulation Python runs several times slower


def say(text: str) -> None:
    print(f"dahdi-loop: {text}", flush=True)


class BenchError(RuntimeError):
    pass


def run(cmd: list[str]) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise BenchError(f"{' '.join(cmd)} failed (exit {proc.returncode}): {(proc.stdout + proc.stderr).strip()[-400:]}")
    return (proc.stdout + proc.stderr).strip()


def wait_path(path: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            raise BenchError(f"{path} did not appear within {timeout:.0f} s")
        time.sleep(0.05)


def create_loop_span(device: DahdiDevice, addr: str) -> int:
    fd = device.open(CTL_DEVICE)
    try:
        buf = bytearray(io.pack_dynamic_span("loc", addr, 31, 0))
        device.ioctl(fd, io.DAHDI_DYNAMIC_CREATE, buf)
        return io.DYNAMIC_SPAN.unpack(bytes(buf))[4]
    finally:
        device.close(fd)


def destroy_loop_span(device: DahdiDevice, addr: str) -> None:
    fd = device.open(CTL_DEVICE)
    try:
        device.ioctl(fd, io.DAHDI_DYNAMIC_DESTROY, io.pack_dynamic_span("loc", addr, 31, 0))
    finally:
        device.close(fd)


def tone_power(pcm: np.ndarray, hz: float) -> float:
    """Goertzel power of `hz` in `pcm`, relative to the block's total power (0..1)."""
    x = pcm.astype(np.float64)
    n = np.arange(len(x))
    ref = np.exp(-2j * np.pi * hz * n / 8000.0)
    energy = np.sum(x * x) or 1.0
    return float(abs(np.dot(x, ref)) ** 2 * 2 / len(x) / energy)


class Fd:
    """A descriptor with fileno(), which is all LibpriPeer needs of a DAHDI D-channel."""

    def __init__(self, fd: int):
        self.fd = fd

    def fileno(self) -> int:
        return self.fd


class FarSpan:
    """The carrier: libpri on the far span's D-channel, and one B-channel's audio, from asyncio."""

    def __init__(self, device: DahdiDevice, config: SpanConfig, layout):
        self.device = device
        self.cmap = channel_map(config, layout)
        self.dfd = device.open_channel(self.cmap.dchannel)
        device.ioctl(self.dfd, io.DAHDI_SET_BUFINFO, io.BufferInfo(numbufs=16, bufsize=1024).pack())
        self.peer = LibpriPeer(Fd(self.dfd), "network")
        self.bfd: int | None = None
        self.received: list[np.ndarray] = []
        self.to_send: list[np.ndarray] = []
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self.peer.start()

    def open_bearer(self, timeslot: int) -> None:
        channo = self.cmap.bearer[self.cmap.timeslots.index(timeslot)]
        self.bfd = self.device.open_channel(channo)
        self.device.ioctl(self.bfd, io.DAHDI_SET_BUFINFO, io.BufferInfo(numbufs=8, bufsize=BLOCK).pack())
        self.device.ioctl(self.bfd, io.DAHDI_SETLAW, io.pack_int(io.DAHDI_LAW_ALAW))
        self.received.clear()
        self._task = asyncio.get_running_loop().create_task(self._pump())

    async def _pump(self) -> None:
        silence = np.full(BLOCK, 0xD5, dtype=np.uint8)
        while self.bfd is not None:
            await asyncio.sleep(0.01)
            for _ in range(8):
                try:
                    data = self.device.read(self.bfd, BLOCK)
                except BlockingIOError:
                    break
                except OSError as exc:
                    if exc.errno == io.ELAST:
                        self.device.get_event(self.bfd)
                        continue
                    raise
                self.received.append(decode(Codec.ALAW, np.frombuffer(data, dtype=np.uint8)))
                out = encode(Codec.ALAW, self.to_send.pop(0)) if self.to_send else silence
                try:
                    self.device.write(self.bfd, out.tobytes())
                except (BlockingIOError, OSError):
                    pass

    def send_audio(self, pcm: np.ndarray) -> None:
        pcm = np.concatenate([pcm, np.zeros((-len(pcm)) % BLOCK, dtype=np.int16)])
        self.to_send.extend(pcm.reshape(-1, BLOCK))

    def close_bearer(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None
        if self.bfd is not None:
            self.device.close(self.bfd)
            self.bfd = None

    def close(self) -> None:
        self.close_bearer()
        self.peer.close()
        self.device.close(self.dfd)


async def until(predicate, what: str, timeout: float = STEP_TIMEOUT) -> float:
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout:
            raise BenchError(f"{what}: not within {timeout:.0f} s")
        await asyncio.sleep(0.02)
    return time.monotonic() - started


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def call_once(far: FarSpan, box: IsdnSpan, bus_events: list, result: dict, label: str) -> None:
    far.open_bearer(1)
    call = far.peer.call("15881234", calling="0212345678", channel=1)
    await far.peer.wait_for("ringing", timeout=STEP_TIMEOUT, call=call)
    await asyncio.sleep(0.7)                      # ringback plays until the box answers after 1 s
    ringback = np.concatenate(far.received[-20:-5]) if len(far.received) > 5 else np.zeros(0, np.int16)
    await far.peer.wait_for("answer", timeout=STEP_TIMEOUT, call=call)
    say(f"{label}: answered")
    if len(ringback):
        result[f"{label}_ringback_dbm0"] = round(power_dbm0(ringback), 1)
        result[f"{label}_ringback_440_480_share"] = round(tone_power(ringback, 440) + tone_power(ringback, 480), 2)
    await asyncio.sleep(0.3)
    dtmf = DtmfGenerator(level_dbm0=-10.0)
    dtmf.put(DIGITS)
    far.send_audio(dtmf.generate(8000))
    t = np.arange(8000 * 2) / 8000.0
    amplitude = dbm0_to_amplitude(TONE_DBM0)
    far.send_audio((amplitude * np.sin(2 * np.pi * TONE_HZ * t)).astype(np.int16))
    await until(lambda: not far.to_send, f"{label}: far end's audio sent", timeout=STEP_TIMEOUT)
    await asyncio.sleep(0.5)
    far.peer.hangup(call, 16)
    await until(lambda: any(isinstance(e, CallAudioReport) for e in bus_events), f"{label}: box's audio report")
    report = next(e for e in bus_events if isinstance(e, CallAudioReport))
    digits = "".join(e.digit for e in bus_events if isinstance(e, DtmfDigit))
    result[f"{label}_digits"] = digits
    result[f"{label}_tone_dbm0"] = None if report.tone_level_dbm0 is None else round(report.tone_level_dbm0, 1)
    await until(lambda: not box.stack.calls, f"{label}: the box's call cleared")
    far.close_bearer()
    say(f"{label}: digits {digits!r} heard, tone {result[f'{label}_tone_dbm0']} dBm0, ringback "
        f"{result.get(f'{label}_ringback_dbm0')} dBm0")


def pbx_sections() -> str:
    """The embedded default's gateway and dial-plan sections: the trunk group on span 1 maps
    15881234 to route point 7000, and 7000 runs the IVR flow `main`."""
    text = default_text()
    start, end = text.index("\n[gateway]"), text.index("\n[console]")
    # The center's PRI (span 3) and its extension trunk are not on this bench's one box span.
    sections = re.sub(r'\[\[trunk_group\]\]\nname = "center".*?\n\n', "", text[start:end], flags=re.S)
    sections = re.sub(r'\nextension_trunk = .*', "", sections)
    return sections + f'\n[ivr]\nprompt_dir = "{PROMPT_DIR}"\n'


BOX_PBX_CONFIG = """\
[[span]]
id = 1
driver = "dahdi"
dahdi_span = {box}
side = "te"
clock = "internal"
law = "alaw"
crc4 = false

[[isdn]]
span = 1
handler = "pbx"
"""


def box_pbx(box_spanno: int, clock, bus) -> Pbx:
    """The box's PBX as the daemon's pbx service builds it, from the box's one file."""
    config = load_text(BOX_PBX_CONFIG.format(box=box_spanno) + pbx_sections(), source="the DAHDI loop bench")
    plan = build_plan(config, None)
    missing = {"greeting", "menu", "all_busy"} - set(plan.prompts)
    if missing:
        raise BenchError(f"the prompt directory {PROMPT_DIR} lacks {sorted(missing)}")
    return Pbx(lambda: plan, clock, bus)


async def ivr_call(far: FarSpan, box: IsdnSpan, pbx: Pbx, events: list, result: dict) -> None:
    """15881234 from the far end, answered by the box's IVR: the far end hears the greeting,
    presses 2, sends a 1 kHz tone (which the box's side records), hears the all-busy prompt and
    is cleared with cause 16."""
    prompts = pbx.plan_source().prompts
    greeting, all_busy = prompts["greeting"].samples, prompts["all_busy"].samples
    far.open_bearer(1)
    call = far.peer.call(IVR_NUMBER, calling="0212345678", channel=1)
    await far.peer.wait_for("answer", timeout=STEP_TIMEOUT, call=call)
    box.bearer.record(1, seconds=60.0)            # a tap on the box's own channel
    box_heard: list[np.ndarray] = []
    say("ivr: answered by the box's IVR")

    def heard() -> np.ndarray:
        return np.concatenate(far.received) if far.received else np.zeros(0, np.int16)

    def found_greeting() -> bool:
        box_heard.append(box.bearer.recorded(1))
        rec = heard()
        return rec.size > greeting.size and find_prompt(rec, greeting, 0.6) is not None

    await until(found_greeting, "ivr: the greeting heard at the far end")
    rec = heard()
    at = find_prompt(rec, greeting, 0.6)
    start = int(at.at * 8000)
    result["ivr_greeting_score"] = round(at.score, 3)
    result["ivr_greeting_dbm0"] = round(level_dbm0(rec[start:start + greeting.size]), 1)
    result["ivr_greeting_prompt_dbm0"] = round(level_dbm0(greeting), 1)
    say(f"ivr: greeting heard (correlation {at.score:.3f}, {result['ivr_greeting_dbm0']} dBm0)")
    dtmf = DtmfGenerator(level_dbm0=-10.0)
    dtmf.put(IVR_DIGIT)
    far.send_audio(dtmf.generate(2000))
    t = np.arange(int(8000 * 1.5)) / 8000.0
    far.send_audio((dbm0_to_amplitude(TONE_DBM0) * np.sin(2 * np.pi * TONE_HZ * t)).astype(np.int16))
    await until(lambda: not far.to_send, "ivr: far end's digit and tone sent")
    box_heard.append(box.bearer.recorded(1))
    hangup = await far.peer.wait_for("hangup_req", timeout=STEP_TIMEOUT, call=call)
    result["ivr_cause"] = hangup.cause
    rec = heard()
    busy = find_prompt(rec, all_busy, 0.6)
    result["ivr_all_busy_score"] = None if busy is None else round(busy.score, 3)
    box_rec = np.concatenate(box_heard) if box_heard else np.zeros(0, np.int16)
    tone = find_frequency(box_rec, TONE_HZ, 0.5)
    if tone is not None:
        start = int(tone.at * 8000)
        result["ivr_box_tone_dbm0"] = round(level_dbm0(box_rec[start:start + int(tone.score * 8000)]), 1)
    else:
        result["ivr_box_tone_dbm0"] = None
    result["ivr_digits"] = "".join(e.digit for e in events if isinstance(e, IvrDigit))
    result["ivr_collect"] = [[e.outcome, e.digits] for e in events if isinstance(e, IvrCollectResult)]
    await until(lambda: any(isinstance(e, CallEnded) for e in events), "ivr: the PBX's CallEnded")
    summary = next(e for e in events if isinstance(e, CallEnded)).summary
    result["ivr_summary"] = {k: summary.get(k) for k in ("digits", "cause", "cleared_by", "data")}
    await until(lambda: not box.stack.calls, "ivr: the box's call cleared")
    far.close_bearer()
    say(f"ivr: digits {result['ivr_digits']!r} collected {result['ivr_collect']}, all-busy "
        f"{result['ivr_all_busy_score']}, cause {result['ivr_cause']}, "
        f"tone at the box {result['ivr_box_tone_dbm0']} dBm0")


async def scenario(result: dict) -> None:
    device = DahdiDevice()
    loop_started = time.monotonic()
    run(["modprobe", "dahdi", "auto_assign_spans=1"])   # as drivers.dahdi.load_modules does
    run(["modprobe", "dahdi_dynamic_loc"])
    wait_path(CTL_DEVICE)
    box_spanno = create_loop_span(device, BOX_ADDR)
    far_spanno = create_loop_span(device, FAR_ADDR)
    wait_path(f"/sys/bus/dahdi_spans/devices/span-{far_spanno}")
    # dahdi_dummy (no channels) last: DAHDI 2.11 numbers a span assigned after a channel-less
    # one from channel 0 (it reads the empty span's first channel), which dahdi_cfg refuses.
    run(["modprobe", "dahdi_dummy"])
    dummy = far_spanno + 1
    wait_path(f"/sys/bus/dahdi_spans/devices/span-{dummy}")
    say(f"kernel: loop spans {box_spanno} and {far_spanno}, dahdi_dummy span {dummy} (timing)")
    # Both loop spans with timing 0: a loop span as timing master never ticks.
    box_cfg = SpanConfig(id=1, driver="dahdi", dahdi_span=box_spanno, side="te", clock="internal", law="alaw",
                         crc4=False, timing_priority=0)
    far_cfg = SpanConfig(id=2, driver="dahdi", dahdi_span=far_spanno, side="nt", clock="internal", law="alaw",
                         crc4=False, timing_priority=0)
    report = configure_system([box_cfg, far_cfg], device, load=False, source="the DAHDI loop bench")
    if report.failed:
        say(f"system.conf was:\n{report.conf_text}\ndahdi_cfg said:\n{report.dahdi_cfg_output}")
        raise BenchError(f"configure_system: {report.failed}")
    result["system_conf"] = report.conf_text
    say("dahdi_cfg: configured both spans from the generated system.conf")

    far = FarSpan(device, far_cfg, report.configured[2])
    far.start()
    cpu0, wall0 = cpu_seconds(), time.monotonic()
    await asyncio.sleep(3.0)          # the far end alone: libpri calling for a link nobody answers
    result["cpu_far_alone_percent"] = round(100 * (cpu_seconds() - cpu0) / (time.monotonic() - wall0), 1)

    clock, bus = LoopClock(), EventBus()
    events: list[Event] = []
    bus.subscribe(Event, events.append)
    span = DahdiSpan(box_cfg, clock=clock, bus=bus, device=device, layout=report.configured[1])
    span.open()
    pacer = SpanPacer(clock, [span], 0.01)
    pacer.start()
    # The backend alone: its status tick, then its 30 B-channels through its media plane, every
    # 10 ms block in one C call, as the ISDN layer's SpanAudio will run it (no ISDN stack yet).
    cpu0, wall0 = cpu_seconds(), time.monotonic()
    await asyncio.sleep(3.0)
    result["cpu_backend_tick_percent"] = round(100 * (cpu_seconds() - cpu0) / (time.monotonic() - wall0), 1)
    span.media_port()
    cpu0, wall0 = cpu_seconds(), time.monotonic()
    await asyncio.sleep(3.0)
    result["cpu_backend_bearer_percent"] = round(100 * (cpu_seconds() - cpu0) / (time.monotonic() - wall0), 1)
    say(f"CPU: far end alone {result['cpu_far_alone_percent']} %, + backend tick "
        f"{result['cpu_backend_tick_percent']} %, + 30 B-channels in the media plane {result['cpu_backend_bearer_percent']} %")
    isdn = IsdnSpan(span, PriStack("user"), clock=clock, bus=bus)
    isdn.handler = AnswerAndListen(isdn, ring_seconds=1.0, max_call_seconds=60.0)
    isdn.start()
    took = await until(lambda: isdn.layer2_up and far.peer.dchannel_up, "D-channel up on both sides")
    result["dchannel_up_seconds"] = round(took, 1)
    say(f"D-channel up on both sides after {took:.1f} s (box alarms: {sorted(span.status().alarms) or 'none'})")

    cpu0, wall0 = cpu_seconds(), time.monotonic()
    await asyncio.sleep(5.0)
    result["cpu_idle_percent"] = round(100 * (cpu_seconds() - cpu0) / (time.monotonic() - wall0), 1)

    call_events: list[Event] = []
    sub = bus.subscribe(Event, call_events.append)
    cpu0, wall0 = cpu_seconds(), time.monotonic()
    await call_once(far, isdn, call_events, result, "call1")
    result["cpu_call_percent"] = round(100 * (cpu_seconds() - cpu0) / (time.monotonic() - wall0), 1)
    sub.cancel()

    # The far span stops: the carrier's end goes away, then comes back.
    alarms_before = len([e for e in events if isinstance(e, SpanAlarmsChanged)])
    far.close()
    destroy_loop_span(device, FAR_ADDR)
    took = await until(lambda: bool(span.status().alarms & {"lof", "los"}), "box span in alarm after the far span stopped")
    await until(lambda: not isdn.layer2_up, "box D-channel down")
    result["alarm_raised_seconds"] = round(took, 1)
    result["alarms_while_down"] = sorted(span.status().alarms)
    say(f"far span stopped: box alarms {result['alarms_while_down']} after {took:.1f} s, D-channel down")
    again = create_loop_span(device, FAR_ADDR)
    if again != far_spanno:
        raise BenchError(f"the far loop span came back as DAHDI span {again}, not {far_spanno}")
    configure_span(device, far_cfg, report.configured[2])
    far = FarSpan(device, far_cfg, report.configured[2])
    far.start()
    took = await until(lambda: not span.status().alarms and isdn.layer2_up and far.peer.dchannel_up,
                       "alarms cleared and D-channel back")
    result["recovered_seconds"] = round(took, 1)
    changes = [e for e in events if isinstance(e, SpanAlarmsChanged)][alarms_before:]
    result["alarm_changes"] = [{"raised": sorted(e.raised), "cleared": sorted(e.cleared)} for e in changes]
    say(f"far span started: alarms cleared and D-channel back after {took:.1f} s")

    call_events = []
    sub = bus.subscribe(Event, call_events.append)
    await call_once(far, isdn, call_events, result, "call2")
    sub.cancel()

    # The box's PBX takes the span over: the call path the daemon runs with handler = "pbx".
    isdn.handler.close()
    pbx = box_pbx(box_spanno, clock, bus)
    isdn.handler = PbxSpanHandler(isdn, pbx)
    call_events = []
    sub = bus.subscribe(Event, call_events.append)
    await ivr_call(far, isdn, pbx, call_events, result)
    sub.cancel()
    busy = {ts: state for ts, state in isdn.stack.channels.summary().items() if state != "idle"}
    result["channels_not_idle"] = busy
    result["box_counters"] = {k: v for k, v in span.counters().items() if v}
    result["far_dahdi_events"] = far.peer.dahdi_events
    result["box_dahdi_events"] = [name for _, name in span.events]
    result["seconds"] = round(time.monotonic() - loop_started, 1)
    isdn.stop()
    pacer.stop()
    far.close()
    span.close()
    await daemon_phase(device, box_spanno, far_cfg, report.configured[2], result)


PRIBOX = "/opt/pribox/bin/pribox"
BENCH_DIR = "/run/pribox-bench"
MISSING_SPAN = 9
DAEMON_CONFIG = """\
[console]
enabled = false

[[span]]
id = 1
driver = "dahdi"
dahdi_span = {box}
side = "te"
clock = "internal"
law = "alaw"
crc4 = false

[[span]]
id = 2
driver = "dahdi"
dahdi_span = {missing}
side = "te"
clock = "internal"
law = "alaw"

[[isdn]]
span = 1
handler = "pbx"
"""


def config_check(path: str) -> tuple[int, str]:
    proc = subprocess.run([PRIBOX, "config", "check", path], capture_output=True, text=True, timeout=120)
    return proc.returncode, (proc.stdout + proc.stderr).strip()


async def daemon_phase(device: DahdiDevice, box_spanno: int, far_cfg: SpanConfig, far_layout, result: dict) -> None:
    """The daemon, not the bench, brings up the box's DAHDI span from its one file."""
    os.makedirs(f"{BENCH_DIR}/state", exist_ok=True)
    path = f"{BENCH_DIR}/box.toml"
    with open(path, "w") as f:
        f.write(DAEMON_CONFIG.format(box=box_spanno, missing=MISSING_SPAN) + pbx_sections())
    result["config_check"] = config_check(path)
    bad = f"{BENCH_DIR}/twice.toml"
    with open(bad, "w") as f:
        f.write(DAEMON_CONFIG.format(box=box_spanno, missing=box_spanno) + pbx_sections())
    result["config_check_twice"] = config_check(bad)
    say(f"config check: {result['config_check'][1]!r}; named twice: {result['config_check_twice'][1]!r}")
    log = open(f"{BENCH_DIR}/daemon.log", "w")
    daemon = subprocess.Popen([PRIBOX, "run", "--config", path, "--state-dir", f"{BENCH_DIR}/state"],
                              stdout=log, stderr=subprocess.STDOUT)
    far = None
    try:
        in_use = f"/sys/bus/dahdi_channels/devices/dahdi!chan!{box_spanno:03d}!016/in_use"
        took = await until(lambda: (device.read_text(in_use) or "0").strip() == "1",
                           "the daemon opened the box's D-channel")
        say(f"daemon: the box's span open after {took:.1f} s")
        # The daemon's dahdi_cfg knew only its own spans; give the far span its channels again.
        configure_span(device, far_cfg, far_layout)
        far = FarSpan(device, far_cfg, far_layout)
        far.start()
        await until(lambda: far.peer.dchannel_up, "libpri's D-channel up with the daemon")
        # The daemon restarts its B-channels at its first link-up: a call placed before that
        # RESTART crosses it and is cleared, so the far end waits for it (libpri acknowledges).
        await far.peer.wait_for("restart", timeout=STEP_TIMEOUT)
        await asyncio.sleep(0.5)
        greeting = load_prompt(f"{PROMPT_DIR}/greeting.wav").samples
        far.open_bearer(1)
        call = far.peer.call(IVR_NUMBER, calling="0212345678", channel=1)
        await far.peer.wait_for("answer", timeout=STEP_TIMEOUT, call=call)
        await until(lambda: len(far.received) * BLOCK > greeting.size
                    and find_prompt(np.concatenate(far.received), greeting, 0.6) is not None,
                    "the daemon's IVR greeting heard")
        dtmf = DtmfGenerator(level_dbm0=-10.0)
        dtmf.put(IVR_DIGIT)
        far.send_audio(dtmf.generate(2000))
        hangup = await far.peer.wait_for("hangup_req", timeout=STEP_TIMEOUT, call=call)
        result["daemon_ivr_cause"] = hangup.cause
        far.close_bearer()
        await asyncio.sleep(1.0)
        status = await query_status(f"{BENCH_DIR}/state/{CONTROL_SOCKET}", timeout=30.0)
        result["daemon_services"] = {s["name"]: [s["state"], s["healthy"], s["detail"]] for s in status["services"]}
        result["daemon_spans"] = status["spans"]
        say(f"daemon: 15881234 answered by its IVR, 2 pressed, cleared with cause {hangup.cause}; "
            f"services {result['daemon_services']}")
    finally:
        if far is not None:
            far.close()
        daemon.terminate()
        try:
            result["daemon_exit"] = daemon.wait(timeout=60)
        except subprocess.TimeoutExpired:
            daemon.kill()
            result["daemon_exit"] = "killed"
        log.close()
        lines = open(f"{BENCH_DIR}/daemon.log").read().splitlines()
        result["daemon_log"] = [line for line in lines if "span" in line or "dahdi" in line.lower()][-12:]


def main() -> int:
    result: dict = {"ok": False}
    started = time.monotonic()
    try:
        asyncio.run(scenario(result))
        result["ok"] = True
    except Exception as exc:  # the host reads the failure from the console log
        result["error"] = f"{type(exc).__name__}: {exc}"
        say(f"FAILED: {result['error']}")
    result["total_seconds"] = round(time.monotonic() - started, 1)
    try:
        result["kernel_log_tail"] = run(["dmesg"]).splitlines()[-15:]
    except BenchError:
        pass
    print("DAHDI-LOOP-RESULT " + json.dumps(result), flush=True)
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
