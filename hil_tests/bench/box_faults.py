"""Box faults with the outcome the design promises ("nothing is lost": at most the last second of
CDRs, queue events and recordings, and no queued notification), each run against the product's
own stores and notifier in real time:

- kill -9 of a process holding all four stores at once, as the daemon does, mid-traffic;
- the CDR database locked by another process for seconds;
- the disk full under the CDR database and the CTI event log (a small tmpfs the run mounts);
- the notification provider down: answering 503, then refusing connections, then back.

Each function returns a FaultResult.  The disk-full fault needs root (to mount a tmpfs); without
it the result says so and fails, it does not pretend."""

from __future__ import annotations

import asyncio
import logging
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

from hil_tests.bench.fault_result import FaultResult, Outcome

ROOT = Path(__file__).resolve().parents[2]


def _guarded(name: str, expected: str, body) -> FaultResult:
    outcome = Outcome(name, expected)
    # The stores log every refused write and retry, as they should on a box; in a fault run
    # those lines are the expected outcome, and the result says what happened.
    quiet = [logging.getLogger(n) for n in ("pribox.cdr", "pribox.cti", "pribox.notify")]
    levels = [logger.level for logger in quiet]
    for logger in quiet:
        logger.setLevel(logging.CRITICAL)
    # A daemon run in this process sets up logging from its [logging] section; the caller's
    # logging is given back as it was.
    touched = [logging.getLogger(), logging.getLogger("pribox")]
    saved = [(logger.level, list(logger.handlers), logger.propagate) for logger in touched]
    try:
        body(outcome)
    except Exception as exc:   # a crashed fault run is a failed fault, reported
        outcome.check(False, f"the run raised {type(exc).__name__}: {exc}")
    finally:
        for logger, level in zip(quiet, levels):
            logger.setLevel(level)
        for logger, (level, handlers, propagate) in zip(touched, saved):
            logger.setLevel(level)
            logger.handlers[:] = handlers
            logger.propagate = propagate
    return outcome.result()


# ---------------------------------------------------------------- kill -9 with every store open

# A box's writers, all in one process: a call every ~10 ms through the CDR store (open, update,
# close every other one), a queue event per call in the CTI event log, one call's recording
# growing 20 ms at a time, and a notification queued every 10th call.  Each accepted change is
# reported on stdout with the time it was accepted.
_BUSY_BOX = textwrap.dedent("""
    import os, sys, time
    import numpy as np
    from pbx_cti.cdr import CallRecord, CdrStore
    from pbx_cti.cti import LogRecord, SqliteEventStore
    from pbx_cti.notify.model import Request
    from pbx_cti.notify.outbox import OutboxStore
    from pbx_cti.recording.wav import StereoWavWriter, interleave

    state = sys.argv[1]
    cdr = CdrStore(os.path.join(state, "cdr.sqlite"))
    log = SqliteEventStore(os.path.join(state, "cti-events.sqlite"))
    outbox = OutboxStore(os.path.join(state, "notify-outbox.sqlite"))
    wav = StereoWavWriter(os.path.join(state, "recordings", "call.wav"), sync_seconds=1.0)
    block = interleave(np.full(160, 1000, np.int16), np.full(160, -1000, np.int16))
    print("ready", flush=True)
    i = 0
    while True:
        call_id = f"call-{i:06d}"
        cdr.open(CallRecord(call_id, called_number="15881234", calling_number="01012345678"))
        cdr.update(call_id, called_mapped="7000", answer_time=time.time())
        if i % 2 == 0:
            cdr.close(call_id, cause=16, cleared_by="calling")
        log.append(LogRecord(i + 1, time.time(), "ENTER", "sales", call_id, "", {"priority": 0}))
        wav.write(block)
        if i % 10 == 0:
            outbox.insert(f"m{i:06d}", Request("alimtalk", "01012345678", "callback", {"time": "10:00"},
                                               call_id=call_id), f"key-{i}", time.time())
            print("notify", i, repr(time.time()), flush=True)
        print("call", i, repr(time.time()), wav.frames, flush=True)
        i += 1
        time.sleep(0.01)
""")


def kill9_with_every_store_open(seconds: float = 2.0) -> FaultResult:
    from pbx_cti.cdr import CAUSE_RESTART, CdrReader, CdrStore
    from pbx_cti.cti.eventlog import read_records
    from pbx_cti.notify.outbox import OutboxStore
    from pbx_cti.recording.wav import needs_repair, repair

    def body(out: Outcome) -> None:
        with tempfile.TemporaryDirectory(prefix="pribox-kill9-") as state:
            child = subprocess.Popen([sys.executable, "-c", _BUSY_BOX, state], cwd=ROOT, stdout=subprocess.PIPE,
                                     text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
            calls: list[tuple[int, float, int]] = []
            notes: list[tuple[int, float]] = []
            ready = threading.Event()

            def read() -> None:
                for line in child.stdout:
                    parts = line.split()
                    if parts[0] == "ready":
                        ready.set()
                    elif parts[0] == "call":
                        calls.append((int(parts[1]), float(parts[2]), int(parts[3])))
                    elif parts[0] == "notify":
                        notes.append((int(parts[1]), float(parts[2])))

            reader = threading.Thread(target=read, daemon=True)
            reader.start()
            try:
                if not ready.wait(30):
                    raise RuntimeError("the busy box never opened its stores")
                time.sleep(seconds)
            finally:
                killed_at = time.time()
                child.send_signal(signal.SIGKILL)
                child.wait()
                reader.join(5)
            out.figures.update(calls_reported=len(calls), notifications_reported=len(notes))

            # CDRs: every call accepted more than a second before the kill is there, whole.
            kept = {c.call_id: c for c in CdrReader(Path(state) / "cdr.sqlite").calls(limit=None)}
            lost_cdr = [at for i, at, _ in calls if f"call-{i:06d}" not in kept
                        or (i % 2 == 0 and kept[f"call-{i:06d}"].state == "open")]
            window = killed_at - min(lost_cdr) if lost_cdr else 0.0
            out.figures["cdr_lost_window_s"] = round(window, 3)
            out.check(window <= 1.0, f"CDRs: at most the last second lost ({window * 1000:.0f} ms)")
            store = CdrStore(Path(state) / "cdr.sqlite")
            store.stop()
            cut = [c for c in CdrReader(Path(state) / "cdr.sqlite").calls(limit=None) if c.cleared_by == "restart"]
            out.check(bool(cut) and all(c.cause == CAUSE_RESTART for c in cut)
                      and not CdrReader(Path(state) / "cdr.sqlite").calls(state="open"),
                      f"CDRs: the {len(cut)} calls the kill cut are closed as cut by a restart at the next start")

            # Queue events: no hole, the last within a second of the kill.
            records = read_records(Path(state) / "cti-events.sqlite")
            seqs = [r.seq for r in records]
            out.check(seqs == list(range(1, len(seqs) + 1)), "queue events: in order, no hole")
            lag = killed_at - records[-1].time if records else float("inf")
            out.figures["cti_last_event_before_kill_s"] = round(lag, 3)
            out.check(lag <= 1.0, f"queue events: the last kept is {lag * 1000:.0f} ms before the kill")

            # The recording: repaired at the next start, keeping all but the last second.
            wav = Path(state) / "recordings" / "call.wav"
            was_torn = needs_repair(wav)
            info = repair(wav)
            wanted = max((frames for _, at, frames in calls if at <= killed_at - 1.0), default=0)
            out.figures.update(recording_seconds_kept=round(info.seconds, 2), recording_needed_repair=was_torn)
            out.check(info.frames >= wanted, f"recording: {info.seconds:.2f} s kept, every frame written "
                                             f"up to a second before the kill ({wanted / 8000:.2f} s)")

            # The outbox commits before a submit returns: every queued notification is there.
            outbox = OutboxStore(Path(state) / "notify-outbox.sqlite")
            try:
                missing = [i for i, _ in notes if outbox.status(f"m{i:06d}") is None]
            finally:
                outbox.close()
            out.figures["notifications_missing"] = len(missing)
            out.check(not missing and bool(notes), f"notifications: all {len(notes)} queued ones are in the outbox")

    return _guarded("box: kill -9 mid-traffic with every store open",
                    "CDRs, queue events and the recording lose at most the last second; no queued notification "
                    "is lost; the next start closes the calls the kill cut and repairs the recording", body)


# ---------------------------------------------------------------- the CDR database locked

def cdr_database_locked(lock_seconds: float = 3.0, calls: int = 300) -> FaultResult:
    from pbx_cti.cdr import CallRecord, CdrReader, CdrStore

    def body(out: Outcome) -> None:
        with tempfile.TemporaryDirectory(prefix="pribox-cdrlock-") as state:
            path = Path(state) / "cdr.sqlite"
            store = CdrStore(path, busy_timeout=0.2)
            try:
                store.open(CallRecord("warm-up"))
                store.flush()
                locker = sqlite3.connect(str(path), timeout=5.0, isolation_level=None)
                locker.execute("BEGIN EXCLUSIVE")                 # another process holds the database
                slowest = 0.0
                started = time.monotonic()
                for i in range(calls):
                    t = time.perf_counter()
                    store.open(CallRecord(f"call-{i:04d}", called_number="15881234"))
                    store.close(f"call-{i:04d}", cause=16, cleared_by="calling")
                    slowest = max(slowest, time.perf_counter() - t)
                    time.sleep(lock_seconds / calls)
                held_for = time.monotonic() - started
                locker.execute("COMMIT")
                locker.close()
                flushed = store.flush(timeout=10.0)
                stats = store.stats()
            finally:
                store.stop()
            kept = {c.call_id: c for c in CdrReader(path).calls(limit=None)}
            closed = sum(1 for i in range(calls) if kept.get(f"call-{i:04d}") is not None
                         and kept[f"call-{i:04d}"].state == "closed")
            out.figures.update(locked_s=round(held_for, 2), slowest_call_ms=round(slowest * 1000, 2),
                               closed=closed, calls=calls, dropped=stats.get("dropped"))
            # Waiting on the lock would take the lock's seconds; half a second leaves room for a
            # loaded machine's scheduling and still tells the two apart.
            out.check(slowest < 0.5, f"the call path never waited on the lock (slowest change {slowest * 1000:.1f} ms)")
            out.check(flushed and closed == calls and not stats.get("dropped"),
                      f"every change held and written once the lock went ({closed} of {calls} calls closed)")

    return _guarded(f"box: CDR database locked for {lock_seconds:g} s",
                    "the call path is never blocked; changes are held and all written when the lock goes", body)


# ---------------------------------------------------------------- disk full

def _mount_small_tmpfs(where: Path, size_kib: int) -> None:
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kib}k,mode=0700", "pribox-full", str(where)],
                   check=True, capture_output=True, text=True)


def _fill(where: Path) -> Path:
    """Write zeros until the filesystem refuses, unbuffered so nothing is left to flush."""
    filler = where / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for chunk in (65536, 512):
            try:
                while True:
                    os.write(fd, b"\0" * chunk)
            except OSError:
                pass
    finally:
        os.close(fd)
    return filler


def disk_full(calls: int = 200) -> FaultResult:
    from pbx_cti.cdr import CallRecord, CdrReader, CdrStore
    from pbx_cti.cti import LogRecord, SqliteEventStore
    from pbx_cti.cti.eventlog import read_records

    def body(out: Outcome) -> None:
        if os.geteuid() != 0 or shutil.which("mount") is None:
            out.check(False, "mounting a small tmpfs needs root and mount(8): not available here")
            return
        scratch = Path(tempfile.mkdtemp(prefix="pribox-diskfull-"))
        mounted = False
        try:
            _mount_small_tmpfs(scratch, 1024)
            mounted = True
            cdr = CdrStore(scratch / "cdr.sqlite", busy_timeout=0.2)
            events = SqliteEventStore(scratch / "cti-events.sqlite")
            cdr.open(CallRecord("before"))
            cdr.flush()
            filler = _fill(scratch)
            slowest, raised = 0.0, []
            for i in range(calls):
                t = time.perf_counter()
                try:
                    cdr.open(CallRecord(f"call-{i:04d}", called_number="15881234"))
                    cdr.close(f"call-{i:04d}", cause=16, cleared_by="calling")
                    events.append(LogRecord(i + 1, time.time(), "ENTER", "sales", f"call-{i:04d}", "", {}))
                except Exception as exc:     # what the call path would have seen
                    raised.append(f"{type(exc).__name__}: {exc}")
                slowest = max(slowest, time.perf_counter() - t)
                time.sleep(0.005)
            time.sleep(1.5)                                   # the writers try, and fail, meanwhile
            full_stats = cdr.stats()
            held_events = events.held
            filler.unlink()                                   # the operator frees space
            flushed = cdr.flush(timeout=10.0)
            events.flush()
            cdr.stop()
            events.close()
            kept = {c.call_id: c for c in CdrReader(scratch / "cdr.sqlite").calls(limit=None)}
            closed = sum(1 for i in range(calls) if getattr(kept.get(f"call-{i:04d}"), "state", None) == "closed")
            records = read_records(scratch / "cti-events.sqlite")
            out.figures.update(calls=calls, cdr_closed=closed, cti_records=len(records),
                               slowest_call_ms=round(slowest * 1000, 2), raised=raised[:3],
                               cdr_held_while_full=full_stats.get("queued"), cti_held_while_full=held_events,
                               dropped=full_stats.get("dropped"))
            out.check(held_events > 0 and full_stats.get("queued", 0) > 0,
                      "the disk really refused: both writers were holding changes while it was full")
            out.check(not raised, "the call path saw no exception while the disk was full"
                      + ("" if not raised else f" ({raised[0]})"))
            out.check(slowest < 0.5, f"the call path was never blocked (slowest {slowest * 1000:.1f} ms)")
            out.check(flushed and closed == calls, f"CDRs: every call written once space came back ({closed} of {calls})")
            out.check([r.seq for r in records] == list(range(1, calls + 1)),
                      f"queue events: all {calls} written, in order, once space came back ({len(records)})")
        finally:
            if mounted:
                subprocess.run(["umount", "-l", str(scratch)], check=False, capture_output=True)
            shutil.rmtree(scratch, ignore_errors=True)

    return _guarded("box: disk full under the CDR database and the CTI event log",
                    "no exception and no wait on the call path; changes held while full and all written "
                    "once space is freed", body)


# ---------------------------------------------------------------- notification provider down

async def _provider_outage(out: Outcome, messages: int) -> None:
    from aiohttp import web

    from pbx_cti.notify.config_section import NotifySettings
    from pbx_cti.notify.notifier import Notifier
    from pbx_cti.notify.providers import HttpAlimTalkProvider
    from runtime.bus import EventBus
    from runtime.clock import LoopClock

    mode = {"now": "503"}
    delivered: dict[str, int] = {}
    answered_503 = 0

    async def handle(request: web.Request) -> web.Response:
        nonlocal answered_503
        body = await request.json()
        if mode["now"] == "503":
            answered_503 += 1
            return web.json_response({"error": "maintenance"}, status=503)
        key = request.headers.get("X-NC-API-IDEMPOTENCY-KEY", "")
        recipient = body["recipientList"][0]["recipientNo"]
        delivered[key] = delivered.get(key, 0) + 1
        return web.json_response({"header": {"isSuccessful": True, "resultCode": 0, "resultMessage": "success"},
                                  "message": {"requestId": "r", "sendResults": [
                                      {"recipientNo": recipient, "resultCode": 0, "resultMessage": "success"}]}})

    app = web.Application()
    app.router.add_post("/alimtalk/messages", handle)
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.2)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    settings = NotifySettings(provider="http", url=f"http://127.0.0.1:{port}/alimtalk/messages", sender_key="s" * 40,
                              sender_number="15881234", app_key="k", timeout=0.3, backoff=0.05, backoff_max=0.3,
                              max_attempts=500, max_age=600,
                              templates={"callback": "요청하신 상담 전화를 #{time}에 드리겠습니다."})
    with tempfile.TemporaryDirectory(prefix="pribox-notify-") as state:
        notifier = await Notifier.open(Path(state) / "outbox.sqlite", HttpAlimTalkProvider(settings), settings,
                                       LoopClock(), EventBus(), rng=random.Random(3))
        task = asyncio.create_task(notifier.run())
        try:
            ids = [await notifier.submit(kind="alimtalk", to="01012345678", template="callback",
                                         params={"time": f"10:{i:02d}"}, call_id=f"call-{i}") for i in range(messages)]
            await asyncio.sleep(1.0)                         # 503s
            out.figures["answered_503"] = answered_503
            await runner.cleanup()                            # now the provider refuses connections
            mode["now"] = "refused"
            await asyncio.sleep(1.0)
            statuses = [await notifier.status(i) for i in ids]
            out.check(answered_503 > 0 and not delivered and all(s.state.value in ("queued", "sending") for s in statuses),
                      f"during the outage every message stays queued ({answered_503} answers of 503, then refused)")
            mode["now"] = "up"                               # back, on the same port
            runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.2)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", port).start()
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                statuses = [await notifier.status(i) for i in ids]
                if all(s.state.value == "sent" for s in statuses):
                    break
                await asyncio.sleep(0.1)
            sent = sum(s.state.value == "sent" for s in statuses)
            out.figures.update(messages=messages, sent=sent, attempts_max=max(s.attempts for s in statuses),
                               deliveries=sum(delivered.values()))
            out.check(sent == messages, f"all {messages} sent once the provider is back ({sent})")
            out.check(sum(delivered.values()) == messages and all(n == 1 for n in delivered.values()),
                      "each delivered exactly once (same idempotency key on every retry)")
        finally:
            await notifier.close()
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await runner.cleanup()


def provider_down(messages: int = 20) -> FaultResult:
    return _guarded("box: notification provider down (503, then refusing), then back",
                    "messages stay queued through the outage, retried with backoff, each delivered once after",
                    lambda out: asyncio.run(_provider_outage(out, messages)))


BOX_FAULTS = [
    (kill9_with_every_store_open, ()),
    (cdr_database_locked, ()),
    (disk_full, ()),
    (provider_down, ()),
]


# ---------------------------------------------------------------- kill -9 of the daemon mid-call

async def _daemon_kill(out: Outcome, calls: int) -> None:
    from firmware.isdn.events import IsdnTrace
    from hil_tests.scenarios.bench import SIM_CARRIER_SPAN, Simulator, box_config, layout, running_daemon, \
        simulator_config
    from hil_tests.scenarios.trunks import Dial, PartyNumber
    from pbx_cti.cdr import CdrReader
    from runtime.clock import LoopClock

    with tempfile.TemporaryDirectory(prefix="pribox-daemon-kill-") as work:
        lay = layout(work, 1, 0)
        Path(work, "box.toml").write_text(box_config(lay))
        Path(work, "simulator.toml").write_text(simulator_config(lay, "pribox"))
        state = Path(work, "state")
        log = open(Path(work, "box.log"), "w")

        def start_box() -> subprocess.Popen:
            return subprocess.Popen([sys.executable, "-m", "firmware.cli", "run", "--config", str(Path(work, "box.toml")),
                                     "--state-dir", str(state)], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                    env={**os.environ, "PYTHONPATH": str(ROOT)})

        async def wait_for(condition, timeout: float) -> bool:
            deadline = time.monotonic() + timeout
            while not condition():
                if time.monotonic() > deadline:
                    return False
                await asyncio.sleep(0.02)
            return True

        box = start_box()
        clock = LoopClock()
        try:
            async with running_daemon(str(Path(work, "simulator.toml")), clock) as daemon:
                sim = Simulator(daemon, clock, "pribox", {1: SIM_CARRIER_SPAN}, {})
                await sim.attach()
                trunk = sim.carrier[1]
                traces: list[tuple[float, str]] = []
                daemon.bus.subscribe(IsdnTrace, lambda e: traces.append((time.time(), e.text))
                                     if e.span_id == SIM_CARRIER_SPAN else None)
                if not await wait_for(lambda: trunk.ready, 30.0):
                    raise RuntimeError("the box's D-channel never came up")
                legs = [trunk.place(f"caller {i}", Dial(PartyNumber("15881234"), PartyNumber(f"021234560{i}"),
                                                         record=False)) for i in range(calls)]
                answered = await wait_for(lambda: all(leg.answered_at is not None for leg in legs), 10.0)
                out.check(answered, f"{calls} calls answered by the box's IVR before the kill")
                await asyncio.sleep(1.5)                     # the calls' CDRs are committed
                killed_at = time.time()
                box.send_signal(signal.SIGKILL)
                box.wait()
                box = start_box()                            # as the supervisor would
                noticed = await wait_for(lambda: not trunk.ready, 10.0)
                out.check(noticed, "the carrier sees the box's D-channel go down")
                back = await wait_for(lambda: trunk.ready, 30.0)
                back_after = time.time() - killed_at
                await wait_for(lambda: all(leg.done for leg in legs), 15.0)
                await wait_for(lambda: trunk.idle_channels() >= 30, 10.0)
                restarts = [t for t, text in traces if t > killed_at and "RX <- RESTART " in text]
                causes = sorted({int(leg.cause) for leg in legs if leg.cause is not None})
                out.figures.update(calls=calls, box_back_after_s=round(back_after, 2), carrier_causes=causes,
                                   restarts_received=len(restarts))
                out.check(back, f"the restarted box's D-channel is up again ({back_after:.1f} s after the kill)")
                out.check(bool(restarts), "the restarted box sent RESTART for its B-channels toward the carrier")
                out.check(all(leg.done for leg in legs) and set(causes) <= {27, 41, 101},
                          f"every call the kill cut is over at the carrier too (causes {causes}: 41 by the box's "
                          f"RESTART; 101 when the carrier's STATUS ENQUIRY on the link's return found no call; 27 "
                          f"by the carrier's T309 if the box took longer than that)")
                again = trunk.place("after", Dial(PartyNumber("15881234"), PartyNumber("0212345699"), record=False))
                out.check(await wait_for(lambda: again.answered_at is not None, 10.0),
                          "a new call is answered by the restarted box")
                trunk.hangup(again)
                await wait_for(lambda: again.done, 5.0)
        finally:
            box.terminate()
            try:
                box.wait(timeout=15)
            except subprocess.TimeoutExpired:
                box.kill()
                box.wait()
            log.close()
        rows = CdrReader(state / "cdr.sqlite").calls(limit=None)
        cut = [r for r in rows if r.cleared_by == "restart"]
        out.figures["cdr_rows"] = len(rows)
        out.check(len(cut) >= calls and all(r.state == "closed" for r in rows),
                  f"CDRs: the {len(cut)} calls cut by the kill are closed as cut by a restart; none left open")
        lag = max((killed_at - r.end_time for r in cut), default=None)
        if lag is not None:
            out.figures["cdr_end_before_kill_s"] = round(lag, 2)
            out.check(lag <= 2.0, f"CDRs: each cut call ends within a heartbeat and a commit of the kill "
                                  f"({lag:.2f} s)")


def daemon_kill9_mid_call(calls: int = 3) -> FaultResult:
    return _guarded("box: kill -9 of the daemon with calls up, and its restart",
                    "the restarted box restarts its B-channels toward the carrier, so every cut call is over "
                    "there too; the cut calls' CDRs are closed as cut by a restart; calls are taken again",
                    lambda out: asyncio.run(_daemon_kill(out, calls)))


BOX_FAULTS.append((daemon_kill9_mid_call, ()))


# ---------------------------------------------------------------- console work during calls

def _password_hash(password: str) -> str:
    import hashlib
    salt = os.urandom(16)
    key = hashlib.scrypt(password.encode(), salt=salt, n=1024, r=8, p=1, dklen=32)
    return f"scrypt:1024:8:1:{salt.hex()}:{key.hex()}"


async def _console_during_calls(out: Outcome, calls: int, upload_kib: int) -> None:
    from firmware.appliance.daemon import Daemon, StoreSource
    from firmware.appliance.sdnotify import Notifier
    from firmware.appliance.services import load_box_services
    from firmware.config.store import ConfigStore
    from firmware.console.testing import PtyPair, Terminal
    from hil_tests.scenarios.bench import SIM_CARRIER_SPAN, Simulator, box_config, layout, running_daemon, \
        simulator_config
    from hil_tests.scenarios.trunks import Dial, PartyNumber
    from runtime.bus import EventBus
    from runtime.clock import LoopClock

    pty = PtyPair()
    try:
        with tempfile.TemporaryDirectory(prefix="pribox-console-load-") as work:
            lay = layout(work, 1, 0)
            text = box_config(lay).replace('[console]\nenabled = false\n',
                                           f'[console]\nenabled = true\ndevice = "{pty.slave_path}"\n')
            text += f'\n[[user]]\nname = "noc"\npassword_hash = "{_password_hash("noc password")}"\nprivilege = 15\n'
            Path(work, "simulator.toml").write_text(simulator_config(lay, "pribox"))
            store = ConfigStore(Path(work, "state"))
            store.commit(0.0, "bench", text=text)
            clock = LoopClock()
            box = Daemon(StoreSource(store), load_box_services(), clock=clock, bus=EventBus(),
                         notifier=Notifier(environ={}), state_dir=str(Path(work, "state")))
            box_task = asyncio.ensure_future(box.run(install_signals=False))
            term = Terminal(pty.master_fd, asyncio.get_running_loop())
            try:
                async with running_daemon(str(Path(work, "simulator.toml")), clock) as daemon:
                    sim = Simulator(daemon, clock, "pribox", {1: SIM_CARRIER_SPAN}, {})
                    await sim.attach()
                    trunk = sim.carrier[1]
                    deadline = time.monotonic() + 30
                    while not trunk.ready and time.monotonic() < deadline:
                        await asyncio.sleep(0.05)
                    legs = [trunk.place(f"caller {i}", Dial(PartyNumber("15881234"), PartyNumber(f"02123456{i:02d}"),
                                                             record=False)) for i in range(calls)]
                    deadline = time.monotonic() + 15
                    while not all(leg.answered_at is not None for leg in legs) and time.monotonic() < deadline:
                        await asyncio.sleep(0.05)
                    out.check(all(leg.answered_at is not None for leg in legs), f"{calls} calls up in the IVR")

                    started = time.monotonic()
                    await term.expect("Username: ", timeout=20)
                    term.send("noc\rnoc password\r")
                    await term.expect("pribox#", timeout=10)
                    out.figures["login_s"] = round(time.monotonic() - started, 2)
                    term.send("terminal length 0\r")
                    await term.expect("pribox#")
                    term.send("configure replace\r")
                    await term.expect(r"abandons it\)\.\r\n")
                    edited = text.replace('hostname = "pribox"', 'hostname = "edge-7"')
                    term.send("\r".join(edited.splitlines()) + "\rend\r")
                    await term.expect("applies it\r\npribox#", timeout=20)
                    committed = time.monotonic()
                    term.send("configure commit 5\r")
                    await term.expect("pribox#", timeout=20)
                    for _ in range(100):
                        term.send("\r")
                        if "edge-7#" in await term.expect("#", timeout=10):
                            break
                        await asyncio.sleep(0.1)
                    out.figures["commit_to_new_prompt_s"] = round(time.monotonic() - committed, 2)
                    term.send("configure confirm\r")
                    confirm = await term.expect("edge-7#", timeout=10)
                    out.check("confirmed" in confirm, "the commit is applied (the prompt shows the new hostname) "
                                                      "and confirmed")
                    # An upgrade bundle's upload (YMODEM, as from minicom) while the calls go on.
                    bundle = Path(work, "pribox-upgrade.raucb")
                    bundle.write_bytes(random.Random(5).randbytes(upload_kib * 1024))
                    term.send("upload ymodem\r")
                    await term.expect("Ctrl-X Ctrl-X cancels", timeout=10)
                    uploading = time.monotonic()
                    status, stderr = await term.send_file(["sb", "-q", str(bundle)], timeout=120)
                    received = await term.expect("edge-7#", timeout=30)
                    upload_s = time.monotonic() - uploading
                    out.figures.update(upload_kib=upload_kib, upload_s=round(upload_s, 2))
                    out.check(status == 0 and f"Received {bundle.name}" in received,
                              f"a {upload_kib} KiB upgrade bundle uploaded over YMODEM ({upload_s:.1f} s)"
                              + ("" if status == 0 else f" (sb: {stderr.decode(errors='replace')[:100]})"))
                    await asyncio.sleep(1.0)
                    dropped = [leg.name for leg in legs if leg.done]
                    out.figures["calls_dropped"] = len(dropped)
                    out.check(not dropped, f"all {calls} calls stayed up through the login, the commit and the upload "
                                           f"(dropped: {dropped or 'none'})")
                    again = trunk.place("after", Dial(PartyNumber("15881234"), PartyNumber("0212345699"), record=False))
                    deadline = time.monotonic() + 10
                    while again.answered_at is None and time.monotonic() < deadline:
                        await asyncio.sleep(0.05)
                    out.check(again.answered_at is not None, "a new call is answered after the commit")
                    for leg in legs + [again]:
                        trunk.hangup(leg)
                    await asyncio.sleep(1.0)
            finally:
                box.request_stop("bench")
                await asyncio.wait_for(box_task, 30)
                term.close()
    finally:
        pty.close()


def console_work_during_calls(calls: int = 10, upload_kib: int = 64) -> FaultResult:
    return _guarded("box: a console login, a config commit and an upgrade upload with calls up",
                    "the calls in progress stay up; the commit applies (new hostname) and is confirmed; the "
                    "upload completes; calls are taken after",
                    lambda out: asyncio.run(_console_during_calls(out, calls, upload_kib)))


BOX_FAULTS.append((console_work_during_calls, ()))
