"""The daemon on the embedded default in real time, with libpri (Asterisk's PRI stack) as the
carrier on the NT span's D-channel export, through the emulated E1 wire: libpri's call is
answered by the box and its in-band DTMF detected; and SIGTERM to `pribox run` clears an
answered call with cause 41, which libpri reports."""

import asyncio
import gc

from runtime.bus import Event, EventBus
from firmware.config.loader import default_text
from firmware.appliance.daemon import Daemon, FileSource
from firmware.isdn.events import CallAudioReport, DtmfDigit, IsdnEvent
from firmware.isdn.q931.events import IncomingCall
from firmware.appliance.sdnotify import Notifier
from firmware.appliance.services import load_box_services
from hil_tests.carrier import LibpriCarrier, libpri_far_end_config
from tests.support.daemon_harness import run_beside, until


def test_libpri_carrier_call_through_the_emulated_wire_in_real_time(tmp_path):
    text = default_text().replace('handler = "pbx"', 'handler = "answer"').replace("[console]\nenabled = true", "[console]\nenabled = false").replace("/run/pribox/e1-wire-1.sock", str(tmp_path / "e1.wire")).replace("/run/pribox/e1-wire-2.sock", str(tmp_path / "e1.wire") + "-2")
    config = tmp_path / "box.toml"
    config.write_text(libpri_far_end_config(text, str(tmp_path / "span2.dchan")))
    bus = EventBus()
    events = []
    bus.subscribe(Event, events.append)
    daemon = Daemon(FileSource(str(config)), load_box_services(), bus=bus, notifier=Notifier(environ={}))
    seen = {}

    async def scenario():
        await until(lambda: daemon.ctx is not None and daemon.ctx.peer("isdn") is not None
                     and 1 in daemon.ctx.peer("isdn").spans, 5, "isdn service")
        spans = daemon.ctx.peer("spans").spans
        box = daemon.ctx.peer("isdn").spans[1]
        assert list(daemon.ctx.peer("isdn").spans) == [1, 3, 4]
        carrier = LibpriCarrier(spans[2], daemon.clock, digits="159", tone_seconds=0.3, ring_seconds=0.2)
        carrier.start()
        gc.collect()
        gc.freeze()  # as the demo does: a full collection must not stall real-time line pacing
        try:
            await until(lambda: carrier.ready and box.in_service, 5, "libpri and the box's D-channel up, channels restarted")
            first = carrier.place_call(timeslot=1)
            await until(lambda: first.done, 8, "the first call to clear")
            # libpri reports the call done on RELEASE; the box finishes on RELEASE COMPLETE a
            # moment later, and only then reports what it heard.
            await until(lambda: any(isinstance(e, CallAudioReport) for e in events), 3, "the box's audio report")
            seen["first"] = first
        finally:
            gc.unfreeze()
            carrier.close()

    assert asyncio.run(run_beside(daemon, scenario)) == 0
    incoming = [e.event for e in events if isinstance(e, IsdnEvent) and isinstance(e.event, IncomingCall)]
    assert incoming[0].called == "15881234" and incoming[0].calling.digits == "0212345678"
    assert incoming[0].redirecting.digits == "07012345678"
    first = seen["first"]
    assert first.answered_at is not None and first.released_cause == 16
    assert "".join(e.digit for e in events if isinstance(e, DtmfDigit) and e.call_id == 1) == "159"
    report = next(e for e in events if isinstance(e, CallAudioReport))
    assert abs(report.tone_level_dbm0 + 10.0) <= 0.5


def test_sigterm_to_pribox_run_clears_libpris_call_with_cause_41(tmp_path):
    import os
    import signal
    import socket
    import subprocess
    import sys
    import time

    from hil_tests.peers.libpri import LibpriPeer

    export = tmp_path / "span2.dchan"
    text = default_text().replace('handler = "pbx"', 'handler = "answer"').replace("[console]\nenabled = true", "[console]\nenabled = false").replace("/run/pribox/e1-wire-1.sock", str(tmp_path / "e1.wire")).replace("/run/pribox/e1-wire-2.sock", str(tmp_path / "e1.wire") + "-2")
    config = tmp_path / "box.toml"
    config.write_text(libpri_far_end_config(text, str(export)))
    env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC")}
    proc = subprocess.Popen([sys.executable, "-m", "firmware.cli", "run", "--config", str(config)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + 10
        while not export.exists():
            assert time.monotonic() < deadline and proc.poll() is None, "pribox run did not open span 2"
            time.sleep(0.02)

        async def far_end():
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            sock.connect(str(export))
            peer = LibpriPeer(sock, "network")
            peer.start()
            try:
                await peer.wait_for("dchannel_up", timeout=5)
                # The box restarts its B-channels at its first link-up: libpri reports the
                # RESTART (the whole interface: no channel) before the box takes calls.
                restart = await peer.wait_for("restart", timeout=5)
                assert restart.channel in (None, 0xFF)
                call = peer.call("15881234", calling="0212345678", channel=1)
                await peer.wait_for("answer", timeout=5, call=call)
                proc.send_signal(signal.SIGTERM)
                return await peer.wait_for("hangup_req", timeout=5, call=call)
            finally:
                peer.close()
                sock.close()

        cleared = asyncio.run(far_end())
        assert cleared.cause == 41
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    output = proc.stdout.read().decode()
    assert "span 1: clearing 1 call(s) with cause 41 (shutdown)" in output
