"""A field engineer at the daemon's console on a pty (embedded default configuration, virtual
time): during a call the carrier simulator places, `show calls` lists it with its numbers,
channel and Q.931 state, `show channels` shows that B-channel in use and the rest idle, and
`debug isdn q921` shows SABME/UA when a layer-1 cut restarts the link, then I and RR frames
during a call; `undebug all` stops it."""

import asyncio
import hashlib
import re

from runtime.bus import EventBus
from runtime.clock import LoopClock, virtual_time_loop
from firmware.config.loader import default_text
from firmware.console.testing import PtyPair, Terminal
from firmware.appliance.daemon import Daemon, FileSource
from firmware.appliance.sdnotify import Notifier
from firmware.appliance.services import load_box_services
from hil_tests.carrier import StackCarrier
from tests.support.daemon_harness import run_beside, until

PASSWORD = "field engineer"


def _config(tmp_path, tty: str) -> str:
    salt = b"0123456789abcdef"
    key = hashlib.scrypt(PASSWORD.encode(), salt=salt, n=1024, r=8, p=1, dklen=32)
    text = (default_text().replace('handler = "pbx"', 'handler = "answer"').replace("/run/pribox/e1-wire-1.sock", str(tmp_path / "e1.wire")).replace("/run/pribox/e1-wire-2.sock", str(tmp_path / "e1.wire") + "-2")
            .replace('device = "/dev/ttyS0"', f'device = "{tty}"')
            .replace('hostname = "pribox"', 'hostname = "edge-7"'))
    text += f'\n[[user]]\nname = "fe"\npassword_hash = "scrypt:1024:8:1:{salt.hex()}:{key.hex()}"\nprivilege = 15\n'
    path = tmp_path / "box.toml"
    path.write_text(text)
    return str(path)


def test_show_calls_show_channels_and_debug_isdn_q921_at_the_daemons_console(tmp_path):
    loop = virtual_time_loop()
    pty = PtyPair()
    daemon = Daemon(FileSource(_config(tmp_path, pty.slave_path)), load_box_services(), clock=LoopClock(loop),
                    bus=EventBus(), notifier=Notifier(environ={}))
    seen = {}

    async def scenario():
        term = Terminal(pty.master_fd, loop)
        try:
            await until(lambda: daemon.ctx is not None and daemon.ctx.peer("isdn") is not None
                         and 1 in daemon.ctx.peer("isdn").spans, 5, "isdn service")
            isdn = daemon.ctx.peer("isdn")
            box, net = isdn.spans[1], isdn.spans[2]
            await until(lambda: box.in_service and net.in_service, 5, "both D-channels up")
            await term.expect("Username: ", timeout=30)
            term.send(f"fe\r{PASSWORD}\r")
            await term.expect("edge-7#")
            term.send("terminal length 0\r")
            await term.expect("edge-7#")

            term.send("show calls\r")
            seen["idle"] = await term.expect("edge-7#")

            term.send("debug isdn q921\r")
            await term.expect("ISDN Q921 frames debugging is on\r\nedge-7#")
            spans = daemon.ctx.peer("spans").spans
            for span in spans.values():
                span.rx_impairment.set_cut(True)
            await until(lambda: not box.layer2_up, 5, "the box's D-channel down on the cut")
            for span in spans.values():
                span.rx_impairment.set_cut(False)
            await until(lambda: box.layer2_up and net.layer2_up, 10, "both D-channels up again")
            seen["bring_up"] = await term.expect(r"Se1:15 Q921: User RX <- UAf sapi=0 tei=0")

            carrier = StackCarrier(net, hangup_after_audio=False)
            call = carrier.place_call(timeslot=7)
            await until(lambda: call.answered_at is not None, 5, "the call answered")
            seen["call_frames"] = await term.expect(r"Se1:15 Q921: User RX <- RRr sapi=0 tei=0 nr=\d+")
            term.send("undebug all\r")
            await term.expect("turned off\r\nedge-7#")
            await asyncio.sleep(1.0)
            await term.settle()

            term.send("show calls\r")
            seen["calls"] = await term.expect("edge-7#")
            term.send("show channels 1\r")
            seen["channels"] = await term.expect("edge-7#")
            term.send("show channels 9\r")
            seen["no_span"] = await term.expect("edge-7#")
            # Nothing of Q.921 reaches the console once the debug is off, though the link is busy.
            box.try_disconnect(next(iter(box.stack.calls)), 16)
            await until(lambda: not box.stack.calls, 5, "the call cleared")
            seen["after_undebug"] = await term.settle(0.1)
        finally:
            term.close()
            daemon.request_stop("scenario over")

    try:
        assert loop.run_until_complete(run_beside(daemon, scenario)) == 0
    finally:
        loop.close()
        pty.close()

    assert "No active calls" in seen["idle"]
    bring_up = seen["bring_up"]
    assert "ISDN Se1:15 Q921: User TX -> SABMEp sapi=0 tei=0" in bring_up
    assert "ISDN Se2:15 Q921: Network RX <- SABMEp sapi=0 tei=0" in bring_up
    assert "ISDN Se2:15 Q921: Network TX -> UAf sapi=0 tei=0" in bring_up
    frames = seen["call_frames"]
    # The carrier's SETUP reaches the box as an I frame carrying Q.931 (protocol discriminator 08).
    assert re.search(r"ISDN Se1:15 Q921: User RX <- INFOc sapi=0 tei=0, ns=\d+ nr=\d+ i=0x0802", frames), frames
    assert re.search(r"ISDN Se1:15 Q921: User TX -> INFOc sapi=0 tei=0, ns=\d+ nr=\d+ i=0x0802", frames), frames

    calls = seen["calls"]
    box_part = calls[calls.index("Span 1 (Se1:15)"):]
    assert "Total active calls: 2" in calls    # the box's end and the carrier simulator's end
    assert "incoming" in box_part.splitlines()[0] and "callref 0x8" in box_part.splitlines()[0]
    assert "Channel   : B7 (TS7)" in box_part
    assert "Calling   : 0212345678" in box_part and "Called    : 15881234" in box_part
    assert "Redirect  : 07012345678" in box_part
    assert "State     : U10 Active" in box_part
    assert re.search(r"Up        : connected 00:00:0\d ago", box_part)
    assert "Bearer    : speech, G.711 A-law" in box_part
    assert "State     : N10 Active" in calls[calls.index("Span 2 (Se2:15)"):]

    channels = seen["channels"]
    assert "span 1 (Se1:15), user side, layer 2 up" in channels and "span 2" not in channels
    assert re.search(r"B7 +7 +in use +call \d+ callref 0x8", channels)
    assert len(re.findall(r"\bidle\b", channels)) == 29 + 1     # 29 rows and the totals line
    assert "29 idle, 1 in use, 0 restarting, 0 out of service" in channels
    assert "% Span 9 runs no ISDN D-channel (spans with one: 1, 2, 3, 4)" in seen["no_span"]
    assert "Q921" not in seen["after_undebug"]
