"""`pribox demo`: the box's daemon on the embedded default with the carrier simulator on the far
end of the E1 wire — the seed's call, end to end, as a live ladder: layer 1 (hil_tests/
line_demo.py's part), both D-channels up, the carrier calling the center's number 1588-1234
(forwarded from a 070 number), the gateway mapping it to route point 7000, the dial plan
sending it to the IVR, the greeting ("안녕하세요? 고객님"), the menu, the caller's key, the
skill group, the all-busy announcement ("지금은 모든 상담사가 통화중입니다") and the box
clearing with cause 16 — each prompt checked in what the caller heard — then the `debug isdn
q931` trace, `show isdn status` and `show controllers e1`.

Real time by default, with libpri (Asterisk's PRI stack) as the carrier on the NT span's
D-channel export; `--virtual` runs the same on the virtual clock with our own network-side
stack as the carrier (libpri keeps wall-clock timers, so it cannot run there).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import gc
import logging
import os
import tempfile

from drivers.events import SpanEvent
from drivers.show import show_controller
from runtime.bus import EventBus
from runtime.clock import LoopClock, virtual_time_loop
from firmware.config.loader import default_text
from firmware.appliance.daemon import Daemon, FileSource
from dsp.dtmf import DtmfGenerator
from dsp.prompts import PromptStore
from firmware.isdn.events import IsdnEvent, IsdnTrace
from firmware.isdn.pcap import PcapWriter
from firmware.isdn.q931.causes import cause_name
from firmware.isdn.show import show_isdn_status
from firmware.isdn.stack import DataLinkDown, DataLinkUp
from firmware.appliance.sdnotify import Notifier
from firmware.appliance.services import load_box_services
from pbx_cti.cti.decisions import AgentStateChanged, Offer
from pbx_cti.ivr.config import DEFAULT_PROMPT_DIR
from pbx_cti.ivr.prompts_setup import make_prompts
from pbx_cti.ivr.trace import IvrTrace
from pbx_cti.pbx.model import CallEnded, CallRouted, CallStarted

from . import carrier as carriers
from .line_demo import _describe

BOX_SPAN = 1
CARRIER_SPAN = 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seconds", type=float, default=5.0,
                        help="run at least this long (default 5); the calls finish first")
    parser.add_argument("--virtual", action="store_true",
                        help="run on the virtual clock (faster than real time) with our own network stack as carrier")
    parser.add_argument("--calls", type=int, default=1, help="calls the carrier places, one after another (default 1)")
    parser.add_argument("--digits", default="2",
                        help="the key(s) the caller presses at the menu (default 2: 이체, account transfer)")
    parser.add_argument("--prompt-dir", default=None,
                        help=f"the IVR's prompts (default {DEFAULT_PROMPT_DIR} when it exists, else the default "
                             "flow's Korean prompts are made for the demo with espeak-ng)")
    parser.add_argument("--agent", default="lee",
                        help="the contact center's agent logged in and ready at its extension before the call "
                             "(default lee, who answers 2: account transfer); 'none': every agent logged out, "
                             "the caller hears the all-busy announcement")
    parser.add_argument("--talk", type=float, default=3.0,
                        help="seconds the caller talks with the agent before hanging up (default 3)")
    parser.add_argument("--carrier", choices=["libpri", "pribox"], default=None,
                        help="the far end's stack (default: libpri in real time, pribox with --virtual)")
    parser.add_argument("--pcap", metavar="FILE", help="write the box's D-channel to FILE (LINUX_LAPD, for Wireshark)")
    parser.add_argument("--no-crc4", dest="crc4", action="store_false", help="frame without CRC-4 multiframe")
    parser.add_argument("--ppm", type=float, default=0.0,
                        help="clock offset of the NT side in ppm (the TE side follows it on line clock)")
    parser.add_argument("--wire-dir", default=None, help="directory for the sockets (default: a fresh temporary one)")


def _libpri_available() -> bool:
    try:
        import hil_tests.peers.libpri  # noqa: F401
    except ImportError:
        return False
    return True


def demo_config(wire_dir: str, carrier: str, crc4: bool = True, prompt_dir: str | None = None) -> str:
    text = default_text(wire_dir) + "\n[api]\nport = 0\n"      # beside a box's own API on 8088
    # The center's PBX (span 4): its extensions answer after a ring and listen.
    text = text.replace('handler = "none"             # the built-in simulator plays the center\'s PBX and its phones',
                        'handler = "answer"')
    if prompt_dir is not None:
        text += f'\n[ivr]\nprompt_dir = "{prompt_dir}"\n'

    # The demo runs on whatever machine types `make run`: its serial port is not a box console.
    text = text.replace("[console]\nenabled = true", "[console]\nenabled = false")
    if not crc4:
        text = text.replace("crc4 = true", "crc4 = false")
    text = text.replace('[logging]\nlevel = "info"', '[logging]\nlevel = "error"')
    if carrier == "libpri":
        text = carriers.libpri_far_end_config(text, os.path.join(wire_dir, "span2.dchan"), CARRIER_SPAN)
    return text


class CallDemo:
    def __init__(self, args, out=print):
        self.args = args
        self.out = out
        self.bus = EventBus()
        self.start = 0.0
        self.failures: list[str] = []
        self.aligned = False
        self.ended: list[CallEnded] = []
        self.prompts = PromptStore()
        self.bus.subscribe(SpanEvent, self._on_span)
        self.bus.subscribe(IsdnEvent, self._on_isdn)
        self.bus.subscribe(IsdnTrace, self._on_trace)
        self.bus.subscribe(CallStarted, self._on_call_started)
        self.bus.subscribe(CallRouted, self._on_call_routed)
        self.bus.subscribe(IvrTrace, self._on_ivr)
        self.bus.subscribe(CallEnded, self._on_call_ended)
        self.bus.subscribe(AgentStateChanged, self._on_agent)
        self.bus.subscribe(Offer, self._on_offer)
        self.connected_at: float | None = None
        self.clock = None     # the demo's clock, once it runs: the CTI's decisions carry wall time

    def _at(self, t: float) -> str:
        return f"{(t - self.start) * 1000:8.1f} ms"

    def _on_span(self, event) -> None:
        line = _describe(event, self.start)
        if line:
            self.out(line)

    def _on_isdn(self, event: IsdnEvent) -> None:
        if isinstance(event.event, (DataLinkUp, DataLinkDown)):
            state = "up (MULTIPLE_FRAME_ESTABLISHED)" if isinstance(event.event, DataLinkUp) else "down"
            self.out(f"{self._at(event.time)}  span {event.span_id}: D-channel {state}")

    def _on_trace(self, event: IsdnTrace) -> None:
        if event.span_id == BOX_SPAN:
            self.out(f"{self._at(event.time)}  {event.text}")

    def _on_call_started(self, event: CallStarted) -> None:
        s = event.summary
        numbers = ", ".join(f"{role} {s['numbers_in'][role]} -> {s['numbers'][role]}"
                            for role in ("called", "calling", "redirecting") if s["numbers_in"].get(role))
        self.out(f"{self._at(event.time)}  gateway: {event.call_id} on span {s['span']} TS{s['timeslot']} "
                 f"(trunk group {s['trunk']}): {numbers}")

    def _on_call_routed(self, event: CallRouted) -> None:
        r = event.route
        entry = f"dial plan entry {r['entry'] + 1} ({r['pattern']})" if r["entry"] >= 0 else "no dial-plan entry"
        self.out(f"{self._at(event.time)}  dial plan: {event.call_id}: {entry} -> {r['kind']} {r['target']}"
                 + (" (after hours)" if r.get("after_hours") else ""))

    def _on_ivr(self, event: IvrTrace) -> None:
        self.out(f"{self._at(event.time)}  {event.text}")

    def _on_offer(self, event: Offer) -> None:
        self.out(f"{self._at(self.clock.now())}  cti: {event.caller} in queue {event.queue}: offered to {event.agent}, "
                 f"ringing extension {event.endpoint} on span 3 (ring timeout {event.ring_timeout:g} s)")

    def _on_agent(self, event: AgentStateChanged) -> None:
        why = f" ({event.reason})" if event.reason else ""
        self.out(f"{self._at(self.clock.now())}  cti: agent {event.agent}: {event.previous.value} -> "
                 f"{event.state.value}{why}")
        if event.state.value == "TALKING":
            self.connected_at = self.clock.now()

    def _on_call_ended(self, event: CallEnded) -> None:
        self.ended.append(event)
        s = event.summary
        self.out(f"{self._at(event.time)}  pbx: {event.call_id} ended, cause {s['cause']} "
                 f"({cause_name(s['cause']) if s['cause'] else '?'}), cleared by {s['cleared_by']}")

    async def run(self, daemon: Daemon, clock) -> None:
        try:
            await self._scenario(daemon, clock)
        finally:  # whatever went wrong, the daemon must not be left running
            daemon.request_stop("demo over")

    async def _scenario(self, daemon: Daemon, clock) -> None:
        self.start = clock.now()
        self.clock = clock
        def isdn_up():
            service = daemon.ctx.peer("isdn") if daemon.ctx is not None else None
            return service if service is not None and BOX_SPAN in service.spans else None

        while isdn_up() is None:
            if clock.now() - self.start > 10:
                raise RuntimeError("the daemon's isdn service did not start; see the log")
            await asyncio.sleep(0.001)
        isdn = isdn_up()
        spans = daemon.ctx.peer("spans").spans
        self.start = min(span.opened_at for span in spans.values())
        spans[CARRIER_SPAN].ppm = self.args.ppm
        box = isdn.spans[BOX_SPAN]
        pcap = PcapWriter(self.args.pcap, network_side=False) if self.args.pcap else None
        box.pcap = pcap
        # The caller listens: no audio of its own after answer, and the box clears the call.
        options = dict(digits="", tone_seconds=0.0, hangup_after_audio=False)
        if CARRIER_SPAN in isdn.spans:
            carrier = carriers.StackCarrier(isdn.spans[CARRIER_SPAN], **options)
        else:
            carrier = carriers.LibpriCarrier(spans[CARRIER_SPAN], clock, **options)
            carrier.start()
        self.out(f"carrier simulator on span {CARRIER_SPAN}: {carrier.kind}")
        # Everything alive now lives as long as the demo: out of the collector's sight, a full
        # collection stays short enough not to stall the 1 ms line pacing in real time.
        gc.collect()
        gc.freeze()
        try:
            await self._wait(lambda: carrier.ready and box.in_service, 5, "both D-channels up, channels restarted")
            if isinstance(carrier, carriers.LibpriCarrier):
                self.out(f"{self._at(clock.now())}  span {CARRIER_SPAN}: D-channel up (libpri reports dchannel_up)")
            if self.args.agent != "none":
                await self._agent_ready(daemon)
            for number in range(1, self.args.calls + 1):
                self.connected_at = None
                call = carrier.place_call()
                self.out(f"{self._at(clock.now())}  carrier: call {number}: SETUP {carriers.CALLING} -> "
                         f"{carriers.CALLED} (forwarded from {carriers.FORWARDED_FROM}) on TS{call.timeslot}")
                heard = await self._listen(carrier, call, clock, number)
                await asyncio.sleep(0.5)        # the agent's leg clears on span 3 too
                self._summarise(number, call, heard)
            remaining = self.args.seconds - (clock.now() - self.start)
            if remaining > 0:
                # half a tick more: virtual time sums float steps, and the last second must close
                await asyncio.sleep(remaining + 0.0005)
            self.out("")
            self.out(show_isdn_status(isdn.spans.values()))
            for span in spans.values():
                span.tick(clock.now())
                self.out("")
                self.out(show_controller(span))
            self.aligned = all(s.aligned_at is not None and (not self.args.crc4 or s.multiframe_aligned_at is not None)
                               for s in spans.values())
        finally:
            gc.unfreeze()
            if pcap is not None:
                box.pcap = None
                pcap.close()
            carrier.close()

    async def _agent_ready(self, daemon) -> None:
        """The agent's application logs in at the agent's extension and goes ready (as over the API)."""
        await self._wait(lambda: daemon.ctx.peer("cti") is not None and daemon.ctx.peer("cti").runner is not None,
                         5, "the contact center (cti service) to start")
        runner = daemon.ctx.peer("cti").runner
        agent = runner.engine.agents.get(self.args.agent)
        if agent is None:
            self.failures.append(f"no agent {self.args.agent!r} in [cti] (agents: {', '.join(runner.engine.agents)})")
            raise RuntimeError(f"no agent {self.args.agent!r}")
        extension = {"kim": "2001", "lee": "2002", "park": "2003"}.get(self.args.agent, "2009")
        runner("login", self.args.agent, extension)
        runner("ready", self.args.agent)

    async def _wait(self, condition, timeout: float, what: str) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not condition():
            if loop.time() > deadline:
                self.failures.append(f"{what}: not within {timeout:g} s")
                raise RuntimeError(f"{what}: not within {timeout:g} s")
            await asyncio.sleep(0.01)

    async def _listen(self, carrier, call, clock, number: int):
        """Keep what the caller hears; press the menu key once the greeting is over."""
        await self._wait(lambda: call.timeslot is not None, 5, f"call {number} to get a channel")
        timeslot = call.timeslot
        carrier.bearer.record(timeslot, seconds=5)
        heard = []
        await self._wait(lambda: call.answered_at is not None or call.done, 10, f"call {number} to be answered")
        pressed = False
        greeting = self.prompts["greeting"].duration if "greeting" in self.prompts else 3.0
        key_at = clock.now() + greeting + 1.5
        deadline = clock.now() + 60
        while not call.done:
            if carrier.bearer.is_open(timeslot):
                heard.append(carrier.bearer.recorded(timeslot))
            if not pressed and self.args.digits and clock.now() >= key_at and call.answered_at is not None:
                pressed = True
                keys = DtmfGenerator(level_dbm0=-10.0, on_ms=100, off_ms=100)
                keys.put(self.args.digits)
                carrier.bearer.play(timeslot, keys)
                self.out(f"{self._at(clock.now())}  carrier: the caller presses {self.args.digits}")
            if self.connected_at is not None and clock.now() >= self.connected_at + self.args.talk and not call.done:
                self.connected_at = None
                self.out(f"{self._at(clock.now())}  carrier: the caller hangs up after {self.args.talk:g} s with the agent")
                carrier.hangup(call, 16)
            if clock.now() > deadline:
                self.failures.append(f"call {number}: not cleared within 60 s")
                break
            await asyncio.sleep(0.02)
        import numpy as np
        return np.concatenate(heard) if heard else np.zeros(0, np.int16)

    def _summarise(self, number: int, call, heard) -> None:
        ended = self.ended[number - 1].summary if len(self.ended) >= number else None
        if ended is None:
            self.failures.append(f"call {number}: the PBX reported no end")
            return
        heard_prompts = [name for name in ("greeting", "menu", "connecting", "all_busy_options", "all_busy")
                         if name in self.prompts and prompt_heard(heard, self.prompts[name].samples)]
        cause = call.released_cause
        agent = ended["data"].get("agent", "")
        self.out(f"call {number}: {ended['numbers_in']['called']} -> {ended['numbers']['called']}; "
                 f"{ended['route']['kind']} {ended['route']['target']}; IVR {' > '.join(ended['ivr_path'])}; "
                 f"keys {ended['digits'] or '(none)'}; the caller heard {', '.join(heard_prompts) or 'no prompt'}; "
                 + (f"queue {ended['data'].get('queue')}, agent {agent} answered; " if agent else "")
                 + f"cleared by the {ended['cleared_by']} with cause {cause} ({cause_name(cause) if cause else '?'})")
        if call.answered_at is None:
            self.failures.append(f"call {number} not answered")
        if ended["numbers"]["called"] != "7000":
            self.failures.append(f"call {number}: mapped to {ended['numbers']['called']}, expected 7000")
        routed = self.args.digits[:1] in ("1", "2", "3")
        served = routed and self.args.agent != "none" and _serves(self.args.agent, self.args.digits[:1])
        expected = (["greeting", "menu", "connecting"] + ([] if served else ["all_busy"])) if routed else ["greeting"]
        if served and agent != self.args.agent:
            self.failures.append(f"call {number}: expected agent {self.args.agent} to answer, got {agent or 'nobody'}")
        missing = [p for p in expected if p not in heard_prompts]
        if self.prompts and missing:
            self.failures.append(f"call {number}: the caller did not hear {', '.join(missing)}")
        if cause != 16:
            self.failures.append(f"call {number}: cleared with cause {cause}, expected 16")


def _serves(agent: str, key: str) -> bool:
    """The embedded default's agent answers the menu key's skill group (default.toml [cti])."""
    groups = {"kim": "12", "lee": "23", "park": "31"}
    return key in groups.get(agent, "")


def prompt_heard(heard, prompt, threshold: float = 0.9) -> bool:
    """The first second of `prompt` is in what the caller heard (normalised cross-correlation)."""
    import numpy as np
    b = prompt[:8000].astype(np.float64)
    a = heard.astype(np.float64)
    if len(a) < len(b) or not b.any():
        return False
    n = 1 << int(np.ceil(np.log2(len(a) + len(b))))
    corr = np.fft.irfft(np.fft.rfft(a, n) * np.conj(np.fft.rfft(b, n)), n)[:len(a) - len(b) + 1]
    window = np.concatenate(([0.0], np.cumsum(a * a)))
    energy = np.sqrt((window[len(b):] - window[:-len(b)]) * np.dot(b, b)) + 1e-9
    return bool(np.max(corr / energy) > threshold)


async def _run_demo(args, wire_dir: str, carrier: str, clock, out, prompt_dir: str) -> CallDemo:
    config = os.path.join(wire_dir, "pribox.toml")
    with open(config, "w") as f:
        f.write(demo_config(wire_dir, carrier, args.crc4, prompt_dir))
    demo = CallDemo(args, out)
    demo.prompts.load_directory(prompt_dir)
    daemon = Daemon(FileSource(config), load_box_services(), clock=clock, bus=demo.bus,
                    notifier=Notifier(environ={}))
    out(f"pribox demo: the embedded default on {'virtual' if args.virtual else 'real'} time — span {BOX_SPAN} "
        f"(TE, the box, user side, line clock) and span {CARRIER_SPAN} (NT, the carrier simulator, internal clock"
        f"{f', {args.ppm:+g} ppm' if args.ppm else ''}) on {wire_dir}/e1.wire")
    scene = asyncio.ensure_future(demo.run(daemon, clock))
    code = await daemon.run(install_signals=False)
    try:
        await scene
    except RuntimeError as exc:
        demo.failures.append(str(exc))
    if code:
        demo.failures.append(f"the daemon exited with {code}")
    return demo


def run(args: argparse.Namespace, out=print) -> int:
    if args.seconds <= 0:
        out(f"pribox demo: --seconds must be more than 0, got {args.seconds}")
        return 2
    if not -1000 <= args.ppm <= 1000:
        out(f"pribox demo: --ppm must be within -1000 .. 1000, got {args.ppm:g}")
        return 2
    if args.calls < 0:
        out(f"pribox demo: --calls must be 0 or more, got {args.calls}")
        return 2
    carrier = args.carrier or ("pribox" if args.virtual or not _libpri_available() else "libpri")
    if carrier == "libpri" and args.virtual:
        out("pribox demo: libpri keeps wall-clock timers and cannot run with --virtual; use --carrier pribox")
        return 2
    logging.basicConfig(format="%(name)s %(levelname)s %(message)s")
    # The daemon sets pribox's log level from the demo's config (errors only: the demo prints
    # layer 1, layer 2 and the calls itself); the caller's level comes back afterwards.
    pribox_logger = logging.getLogger("pribox")
    saved_level = pribox_logger.level
    try:
        return _run_and_report(args, carrier, out)
    finally:
        pribox_logger.setLevel(saved_level)


def _run_and_report(args: argparse.Namespace, carrier: str, out) -> int:
    with tempfile.TemporaryDirectory(prefix="pribox-demo-") as scratch:
        wire_dir = args.wire_dir or scratch
        prompt_dir = args.prompt_dir or (DEFAULT_PROMPT_DIR if os.path.isdir(DEFAULT_PROMPT_DIR) else None)
        if prompt_dir is None and args.calls == 0:
            prompt_dir = os.path.join(scratch, "prompts")       # no call, no prompt to hear
            os.makedirs(prompt_dir)
        elif prompt_dir is None:
            prompt_dir = os.path.join(scratch, "prompts")
            out(f"pribox demo: no prompts in {DEFAULT_PROMPT_DIR} (`make prompts` makes them): "
                f"making the default flow's Korean prompts in {prompt_dir}")
            with contextlib.redirect_stdout(io.StringIO()):       # the converter reports each file
                make_prompts(prompt_dir, report=lambda line: None)
        if args.virtual:
            loop = virtual_time_loop()
            try:
                demo = loop.run_until_complete(_run_demo(args, wire_dir, carrier, LoopClock(loop), out, prompt_dir))
            finally:
                loop.close()
        else:
            demo = asyncio.run(_run_demo(args, wire_dir, carrier, LoopClock(), out, prompt_dir))
    if not demo.aligned:
        demo.failures.append("a span did not reach alignment")
    if demo.failures:
        out("demo FAILED: " + "; ".join(demo.failures))
        return 1
    calls = (f"{args.calls} call(s) through the gateway, the dial plan and the IVR, prompts heard, cleared normally"
             if args.calls else "no calls")
    out(f"demo passed: {calls}; every span aligned")
    return 0
