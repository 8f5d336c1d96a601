"""The box's SIP side in real time on 127.0.0.1, for tests with real peers: the switching core
on the embedded default's plan and IVR, the SIP user agent on UDP, RTP legs run by a line
thread.  `extra` adds configuration (a [[sip_trunk]] for the peer); the recorded PBX events
tell a test what the call did.

    async with LiveBox(tmp_path, trunk_text) as box:
        ...  # a peer calls sip:07012345678@127.0.0.1:{box.port}
        await box.until(lambda: box.ended, 10, "the call's end")
"""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

from dsp.line_port import LineThread
from firmware.sip.binding import SipCalls
from firmware.sip.dialog import LocalEndpoint
from firmware.sip.trunks import trunks_from_config
from firmware.sip.useragent import SipUserAgent
from pbx_cti.ivr.prompts_setup import make_prompts
from pbx_cti.pbx.core import Pbx
from pbx_cti.pbx.model import CallAnswered, CallEnded, CallUpdated
from pbx_cti.pbx.service import build_plan
from pbx_cti.pbx.sip_legs import PbxSipHandler, RtpLegPool
from runtime.bus import EventBus
from runtime.clock import LoopClock
from tests.support.pbx_line import pbx_config

_PROMPTS: list[Path] = []


def prompts_in(directory: Path) -> Path:
    """The default IVR's prompts (espeak-ng, a few seconds), made once per test session in the
    first test's directory and shared by the rest: they only read them."""
    if not _PROMPTS or not _PROMPTS[0].is_dir():
        prompts = directory / "prompts"
        make_prompts(prompts, report=lambda line: None)
        _PROMPTS[:] = [prompts]
    return _PROMPTS[0]


def free_port(kind=socket.SOCK_DGRAM, spacing: int = 1, host: str = "127.0.0.1") -> int:
    """A port with `spacing - 1` free ports after it."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, kind) as s:
            s.bind((host, 0))
            port = s.getsockname()[1]
        if port + spacing < 65535 and all(_free(port + i, kind, host) for i in range(1, spacing)):
            return port
    raise RuntimeError("no free port range")


def _free(port: int, kind, host: str) -> bool:
    with socket.socket(socket.AF_INET, kind) as s:
        try:
            s.bind((host, port))
            return True
        except OSError:
            return False


async def until(condition, timeout: float, what: str, step: float = 0.05) -> None:
    for _ in range(int(timeout / step)):
        if condition():
            return
        await asyncio.sleep(step)
    raise AssertionError(f"waited {timeout} s for {what}")


class LiveBox:
    def __init__(self, tmp_path: Path, extra: str, *, host: str = "127.0.0.1", port: int | None = None,
                 tcp: bool = False, tls=None, ua_options: dict | None = None):
        self.config = pbx_config(prompts_in(tmp_path), extra)
        self.host = host
        self.port = port or free_port(spacing=3, host=host)
        self.tcp = tcp
        self.tls = tls                     # firmware.sip.tls.TlsSettings for a TLS listener
        self.ua_options = ua_options or {}
        self.ended: list[CallEnded] = []
        self.updates: list[CallUpdated] = []
        self.answered: list[CallAnswered] = []
        self.sip_events: list = []
        self.until = until

    async def __aenter__(self) -> "LiveBox":
        loop = asyncio.get_running_loop()
        self.clock, self.bus = LoopClock(loop), EventBus()
        self.bus.subscribe(CallEnded, self.ended.append)
        self.bus.subscribe(CallUpdated, self.updates.append)
        self.bus.subscribe(CallAnswered, self.answered.append)
        plan = build_plan(self.config, None)
        self.pbx = Pbx(lambda: plan, self.clock, self.bus)
        self.ua = SipUserAgent(LocalEndpoint(self.host, self.port), trunks_from_config(self.config),
                               **self.ua_options)
        self.calls = SipCalls(self.ua, clock=self.clock, bus=self.bus)
        self.thread = LineThread(0.001)
        self.pool = RtpLegPool(self.host, now=self.clock.now, started=self.thread.attach_rtp)
        self.handler = PbxSipHandler(self.calls, self.pbx, self.pool)
        self.calls.handler = _Tap(self.handler, self.sip_events)
        self.thread.start(realtime_priority=False)
        await self.calls.start(self.host, self.port, tcp=self.tcp, tls=self.tls)
        return self

    async def __aexit__(self, *exc) -> None:
        await self.calls.stop()
        self.thread.stop()
        self.pool.close()


class _Tap:
    """The PBX handler, with every SIP event kept for the test."""

    def __init__(self, handler, seen: list):
        self.handler, self.seen = handler, seen

    def on_event(self, event) -> None:
        self.seen.append(event)
        self.handler.on_event(event)

    def __getattr__(self, name):
        return getattr(self.handler, name)
