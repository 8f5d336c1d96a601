"""SIP and RTP benchmark: each figure is one function returning a dict, listed in MEASUREMENTS;
the last line printed is one JSON object with every figure.

    rtp_g711_channels_per_core
        Bidirectional G.711 pass-through calls one core carries: per call two far ends (A and
        C) and two legs of the box relayed to each other (A <-> box leg =relay= box leg <-> C),
        20 ms packets both ways over real UDP on 127.0.0.1, lockstep on a virtual clock.  The
        figure is simulated seconds x calls / CPU seconds the box's advance took in its own
        thread (the far ends run in the same thread but outside the measured calls), best of
        the rounds.  Goal >= 2,000.
    rtp_g729_transcode_channels_per_core / bcg729_raw_channels_per_core
        Calls the box transcodes (a G.729 leg bridged through the media plane to an A-law leg,
        jitter buffers, packets and RTCP included) per core, measured as above on speech-like
        audio; beside it raw libbcg729 encode + decode of the same audio, measured in the same
        run by the code bench/dsp.py uses.  Goal >= 0.8 x raw.
    jitter_buffer_added_delay_ms_p50
        Median time a played frame spent in the box's jitter buffer while a middlebox delays
        each packet by a uniform 0..20 ms (so packets also reorder); with its p95, the target
        delay the buffer settled on and the fraction of frames dropped late.
    b2bua_calls_per_s
        Calls per second the box carries as a back-to-back user agent with media, SIPp
        (sip-tester) on both sides on 127.0.0.1: a SIPp caller offers calls at a fixed rate on the
        070 trunk (INVITE with PCMA and telephone-event for 0519..., ACK, 1 s of call, BYE); the
        box's dial plan routes `_0519X.` to `trunk:peer`, a second `[[sip_trunk]]` where a SIPp
        callee answers with PCMA and telephone-event.  Both SIPps send their own RTP for the whole
        call (`play_pcap_audio`: 1 s of speech-like A-law, 20 ms packets), so both legs carry
        media both ways; neither echoes (an echo on both sides would bounce every relayed packet
        between them forever).  The box runs its SIP user agent on a real UDP socket, the
        switching core with the embedded default's plan, and two RTP legs per call (one toward
        each SIPp, of one codec, so relayed to each other in C untouched: pbx_cti/pbx/media.py)
        in ports driven by the line thread.  The figure is the pace of answers (calls answered
        by the far SIPp - 1) / seconds from the first answer to the last (a call's own setup
        through two legs, `first_answer_ms`, is latency, not throughput): the highest pace of a
        round of the ladder (RATES) in which every call offered was answered with its media (no
        call failed, SIPp content); the ladder climbs while the box keeps up (>= 95 % of the
        offered rate) and stops at the first round it does not, which still counts when all its
        calls were carried, at the box's own pace; beside it the offered rate, the peak of calls up at once (RTP legs /
        2), the RTP packets the box's legs received and sent, of them relayed, and the frames
        the box decoded (its jitter buffers took in: near 0 when every call is relayed), all
        sampled every 0.2 s (so a little under the truth), and the CPU the box's process spent
        per call answered (its loop and line thread; not the SIPps).  For reference, in the same
        run: the lowest rate again with the relay refused (every call decoded, bridged and
        encoded by the media plane), its CPU per call beside the relay's.  Goal >= 200.

Run with nice on a shared machine; `--quick` shrinks every measurement to a smoke run; names of
measurements as arguments run only those.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

# numpy's BLAS threads would spin beside the measured thread on a shared machine.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

ROOT = Path(__file__).resolve().parent.parent
sys.path[0] = str(ROOT)  # run as bench/sip.py, look from the repo root

# seconds: of each measured round, after a warm-up of WARM_UP; rounds: the best is taken.
SCALE = {"g711_calls": 600, "g711_seconds": 1.0, "g729_calls": 30, "g729_seconds": 1.0, "rounds": 3,
         "jitter_seconds": 30.0}
WARM_UP = 0.5
STEP = 0.010


def _pair(a, leg_a: int, b, leg_b: int, codec: str, **options):
    """A leg on each port, connected to each other (the first opened twice: once to learn its
    address, once connected to the second's)."""
    host = "127.0.0.1"
    first = a.open(leg_a, (host, 0), (host, 9), codec, rtcp_mux=True, **options)
    second = b.open(leg_b, (host, 0), first.local, codec, rtcp_mux=True, **options)
    first = a.open(leg_a, first.local, second.local, codec, rtcp_mux=True, **options)
    return first, second


def _ports(n_legs: int):
    from dsp.rtp import RtpPort
    return [RtpPort(0.0) for _ in range((n_legs + RtpPort.LEGS - 1) // RtpPort.LEGS)]


def _run(far_ports, box_ports, seconds: float, rounds: int) -> float:
    """Advance everything on the virtual clock through a warm-up and then `rounds` rounds of
    `seconds` each; the box's CPU seconds in its best round (as bench/dsp.py takes the best of
    its rounds: the machine is shared)."""
    now, step = 0.0, 0
    best = float("inf")
    for round_ in range(-1, rounds):
        length = WARM_UP if round_ < 0 else seconds
        cpu = 0.0
        for _ in range(int(round(length / STEP))):
            step += 1
            now = step * STEP
            for port in far_ports:
                port.advance(now)
            start = time.thread_time()
            for port in box_ports:
                port.advance(now)
            cpu += time.thread_time() - start
        if round_ >= 0:
            best = min(best, cpu)
    return best


def measure_rtp_g711_pass_through() -> dict:
    calls, seconds = SCALE["g711_calls"], SCALE["g711_seconds"]
    legs_per_port = 30
    far, box = _ports(2 * calls), _ports(2 * calls)
    box_legs = []
    for call in range(calls):
        pair = []
        for side in range(2):
            n = 2 * call + side
            far_leg, box_leg = _pair(far[n // legs_per_port], n % legs_per_port,
                                     box[n // legs_per_port], n % legs_per_port, "PCMA")
            pair.append(box_leg)
        pair[0].relay(pair[1])
        box_legs += pair
    cpu = _run(far, box, seconds, SCALE["rounds"])
    relayed = sum(leg.stats()["relayed"] for leg in box_legs)
    lost = sum(max(0, leg.stats()["lost"]) for leg in box_legs)
    return {"rtp_g711_channels_per_core": round(calls * seconds / cpu),
            "rtp_g711_calls_measured": calls,
            "rtp_g711_relayed_packets": relayed,
            "rtp_g711_packets_lost": lost}


def measure_rtp_g729_transcode() -> dict:
    from bench.dsp import SCALE as DSP_SCALE
    from bench.dsp import bcg729_raw_channels_per_core
    from hil_tests.speechlike import speech_like

    calls, seconds = SCALE["g729_calls"], SCALE["g729_seconds"]
    far, box = _ports(2 * calls), _ports(2 * calls)
    speech = [speech_like(4.0, seed=s) for s in (3, 4)]
    box_legs = []
    for call in range(calls):
        pair = []
        for side, codec in enumerate(("G729", "PCMA")):
            n = 2 * call + side
            far_leg, box_leg = _pair(far[n // 30], n % 30, box[n // 30], n % 30, codec)
            far_leg.port.media.play(far_leg.leg, speech[side], loops=0)
            pair.append(box_leg)
        g729, alaw = pair
        g729.port.media.hear(g729.leg, alaw.port.media, alaw.leg)
        alaw.port.media.hear(alaw.leg, g729.port.media, g729.leg)
        box_legs += pair
    cpu = _run(far, box, seconds, SCALE["rounds"])
    ours = calls * seconds / cpu
    DSP_SCALE["rounds"] = SCALE["rounds"]
    raw = bcg729_raw_channels_per_core(calls, seconds)
    concealed = sum(leg.stats()["concealed"] for leg in box_legs)
    return {"rtp_g729_transcode_channels_per_core": round(ours, 1),
            "bcg729_raw_channels_per_core": round(raw, 1),
            "rtp_g729_transcode_vs_raw": round(ours / raw, 3),
            "rtp_g729_frames_concealed": concealed}


def measure_jitter_buffer_delay() -> dict:
    from dsp.rtp import RtpPort
    from hil_tests.packets.udp_middlebox import Middlebox
    from hil_tests.speechlike import speech_like

    seconds = SCALE["jitter_seconds"]
    far, box = RtpPort(0.0), RtpPort(0.0)
    middlebox = Middlebox(jitter=0.020, seed=11)
    x = far.open(0, ("127.0.0.1", 0), middlebox.for_x.getsockname()[:2], "PCMA", rtcp_mux=True)
    y = box.open(0, ("127.0.0.1", 0), middlebox.for_y.getsockname()[:2], "PCMA", rtcp_mux=True)
    middlebox.attach(x.local, y.local)
    far.media.play(0, speech_like(10.0, seed=5), loops=0)
    now, step = 0.0, 0.002
    for i in range(int(round(seconds / step))):
        now = (i + 1) * step
        middlebox.pump(now)
        far.advance(now)
        box.advance(now)
        middlebox.pump(now)
    middlebox.close()
    s = y.stats()
    histogram = box.delay_histogram(0)
    cumulative = histogram.cumsum() / max(1, histogram.sum())
    p95 = int((cumulative >= 0.95).argmax())
    return {"jitter_buffer_added_delay_ms_p50": s["jitter_delay_p50_ms"],
            "jitter_buffer_added_delay_ms_p95": p95,
            "jitter_buffer_target_ms": s["jitter_buffer"]["target_ms"],
            "jitter_buffer_late_fraction": round(s["jitter_buffer"]["late"] / max(1, s["jitter_buffer"]["frames_in"]), 4),
            "jitter_simulated_ms": 20}




RATES = (100, 200, 250, 300, 400, 500)   # calls per second SIPp offers, lowest first
LOAD_SECONDS = 4.0
KEPT_UP = 0.95                      # the ladder climbs while this share of the offered rate is answered in time


# The two SIPps of b2bua_calls_per_s: each sends RTP_CAPTURE (its own RTP for the call's second).
_B2BUA_SDP = """
      v=0
      o=bench 1 1 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 8 101
      a=rtpmap:8 PCMA/8000
      a=rtpmap:101 telephone-event/8000
      a=fmtp:101 0-15
      a=ptime:20
"""
B2BUA_CALLER = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="bench caller">
  <send retrans="500"><![CDATA[

      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
      From: <sip:0212345678@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: <sip:0212345678@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]
SDP
    ]]></send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="183" optional="true"/>
  <recv response="200" rtd="true" rrs="true"/>
  <send><![CDATA[

      ACK [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
      From: <sip:0212345678@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Contact: <sip:0212345678@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Length: 0

    ]]></send>
  <nop><action><exec play_pcap_audio="RTP_CAPTURE"/></action></nop>
  <pause milliseconds="1000"/>
  <send retrans="500"><![CDATA[

      BYE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
      From: <sip:0212345678@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 2 BYE
      Contact: <sip:0212345678@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Length: 0

    ]]></send>
  <recv response="200" crlf="true"/>
</scenario>
""".replace("SDP\n", _B2BUA_SDP)
B2BUA_CALLEE = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="bench callee">
  <recv request="INVITE" crlf="true"/>
  <send retrans="500"><![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:[local_ip]:[local_port];transport=[transport]>
      Content-Type: application/sdp
      Content-Length: [len]
SDP
    ]]></send>
  <recv request="ACK" crlf="true"/>
  <nop><action><exec play_pcap_audio="RTP_CAPTURE"/></action></nop>
  <recv request="BYE"/>
  <send><![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]></send>
</scenario>
""".replace("SDP\n", _B2BUA_SDP)


def _b2bua_round(rate: int, seconds: float) -> dict:
    import asyncio
    import shutil
    import socket
    import subprocess
    import tempfile

    from dsp.line_port import LineThread
    from firmware.config.loader import default_text, load_text
    from firmware.sip import events
    from firmware.sip.binding import SipCalls
    from firmware.sip.dialog import LocalEndpoint
    from firmware.sip.trunks import trunks_from_config
    from firmware.sip.useragent import SipUserAgent
    from pbx_cti.ivr.prompts_setup import make_prompts
    from pbx_cti.pbx.core import Pbx
    from pbx_cti.pbx.model import CallAnswered
    from pbx_cti.pbx.service import build_plan
    from pbx_cti.pbx.sip_legs import PbxSipHandler, RtpLegPool
    from runtime.bus import EventBus
    from runtime.clock import LoopClock
    import numpy as np

    from tests.support.rtp_pcap import rtp_pcap

    def free_port() -> int:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind(("127.0.0.1", 0))
            return probe.getsockname()[1]

    sipp = shutil.which("sipp")
    if sipp is None:
        raise SystemExit("b2bua_calls_per_s needs SIPp: apt-get install sip-tester (make installs it)")
    calls = int(rate * seconds)
    with tempfile.TemporaryDirectory() as tmp:
        make_prompts(Path(tmp), report=lambda line: None)
        speech = np.random.default_rng(7).normal(0, 3000, 8000).clip(-32000, 32000).astype(np.int16)
        rtp_pcap(Path(tmp) / "call.pcap", speech, {})
        for name, text in (("caller.xml", B2BUA_CALLER), ("callee.xml", B2BUA_CALLEE)):
            (Path(tmp) / name).write_text(text.replace("RTP_CAPTURE", f"{tmp}/call.pcap"))
        sipp_port, uas_port = free_port(), free_port()
        text = (default_text() + f'\n[ivr]\nprompt_dir = "{tmp}"\n'
                f'\n[[sip_trunk]]\nname = "sip070"\nhost = "127.0.0.1"\nport = {sipp_port}\nkeepalive = 0\n'
                f'\n[[sip_trunk]]\nname = "peer"\nhost = "127.0.0.1"\nport = {uas_port}\nkeepalive = 0\n'
                '\n[[dialplan]]\npattern = "_0519X."\ntarget = "trunk:peer"\n')
        config = load_text(text, "bench.toml")
        plan = build_plan(config, None)

        async def run() -> dict:
            loop = asyncio.get_running_loop()
            clock, bus = LoopClock(loop), EventBus()
            pbx = Pbx(lambda: plan, clock, bus)
            ua = SipUserAgent(LocalEndpoint("127.0.0.1", 0), trunks_from_config(config))
            calls_box = SipCalls(ua, clock=clock, bus=bus)
            thread = LineThread(0.001)
            pool = RtpLegPool("127.0.0.1", now=clock.now, started=thread.attach_rtp)
            calls_box.handler = PbxSipHandler(calls_box, pbx, pool)
            seen = {"invites": [], "answered": [], "peak": 0}
            bus.subscribe(events.IncomingCall, lambda e: seen["invites"].append(loop.time()))

            def answered(event):
                seen["answered"].append(loop.time())
                seen["peak"] = max(seen["peak"], pool.legs_open() // 2)
            bus.subscribe(CallAnswered, answered)
            media: dict = {}           # id(session) -> (packets in, packets out), last sampled

            async def sample_media():
                while True:
                    await asyncio.sleep(0.2)
                    for rtp in pool.rtp_ports:
                        for session in list(rtp.sessions.values()):
                            st = session.stats()
                            media[id(session)] = (st["packets_received"], st["packets_sent"], st["relayed"],
                                                  st["jitter_buffer"]["frames_in"])
            thread.start(realtime_priority=False)
            sampler = asyncio.ensure_future(sample_media())
            port = await calls_box.start("127.0.0.1", free_port(), tcp=False)
            ua.local = LocalEndpoint("127.0.0.1", port)
            far = await asyncio.create_subprocess_exec(
                sipp, "-sf", f"{tmp}/callee.xml", "-m", str(calls), "-i", "127.0.0.1", "-p", str(uas_port), "-mi", "127.0.0.1",
                "-mp", str(2 * (free_port() // 2)), "-timeout", f"{seconds + 30:.0f}s", "-nostdin",
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            await asyncio.sleep(0.3)                # the far SIPp listens
            proc = await asyncio.create_subprocess_exec(
                sipp, "-sf", f"{tmp}/caller.xml", "-s", "05199990000", "-r", str(rate), "-m", str(calls),
                "-l", str(rate * 4), "-i", "127.0.0.1", "-p", str(sipp_port), "-mi", "127.0.0.1",
                "-mp", str(2 * (free_port() // 2)), "-timeout", f"{seconds + 30:.0f}s", "-nostdin",
                "-trace_stat", "-stf", f"{tmp}/stat.csv", f"127.0.0.1:{port}",
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            try:        # SIPp's own -timeout aside: a stuck round must not hang the bench
                _, err = await asyncio.wait_for(proc.communicate(), seconds + 45)
            except asyncio.TimeoutError:
                proc.kill()
                _, err = await proc.communicate()
            await asyncio.sleep(0.5)
            if far.returncode is None:
                far.terminate()
            await far.wait()
            sampler.cancel()
            seen["rtp_in"] = sum(v[0] for v in media.values())
            seen["rtp_out"] = sum(v[1] for v in media.values())
            seen["rtp_relayed"] = sum(v[2] for v in media.values())
            seen["frames_decoded"] = sum(v[3] for v in media.values())
            thread.stop()
            await calls_box.stop()
            pool.close()
            return {"code": proc.returncode, "far_code": far.returncode, "stderr": err.decode(errors="replace")[-300:], **seen,
                    "faults": calls_box.faults, "left": len(pbx.active)}

        # The box answers from the loop's own thread, as in the daemon (ua.local's port set after bind).
        cpu = time.process_time()
        got = asyncio.run(run())
        cpu = time.process_time() - cpu
    invites, answered = got["invites"], got["answered"]
    # The pace of answers: a call's own setup time (two SIP legs) is latency, not throughput.
    span = (answered[-1] - answered[0]) if len(answered) > 1 else float("inf")
    return {"offered": rate, "calls": calls, "answered": len(answered), "failed": calls - len(answered),
            "sipp_exit": got["code"], "far_sipp_exit": got["far_code"],
            "calls_per_s": round((len(answered) - 1) / span, 1) if len(answered) > 1 else 0.0,
            "first_answer_ms": round(1000 * (answered[0] - invites[0]), 1) if answered else None,
            "peak_calls": got["peak"], "rtp_packets_in": got["rtp_in"], "rtp_packets_out": got["rtp_out"],
            "rtp_packets_relayed": got["rtp_relayed"], "frames_decoded": got["frames_decoded"],
            "faults": got["faults"], "left_in_core": got["left"],
            "box_cpu_ms_per_call": round(1000 * cpu / max(len(answered), 1), 2),
            **({"sipp_error": got["stderr"]} if got["code"] != 0 else {})}


def measure_b2bua_calls() -> dict:
    rounds, best = [], None
    for rate in RATES:
        result = _b2bua_round(rate, LOAD_SECONDS)
        rounds.append(result)
        print(f"  offered {rate}/s: {result}", flush=True)
        if result["failed"] or result["sipp_exit"] != 0:
            break
        if best is None or result["calls_per_s"] > best["calls_per_s"]:
            best = result
        if result["calls_per_s"] < KEPT_UP * rate:
            break                   # past what the box keeps up with: the ladder stops here
    # The reference, in the same run: the same calls at the lowest rate with the relay refused,
    # so every call goes through the media plane (decode, bridge, encode) as before the relay.
    from pbx_cti.pbx import media
    relayable, media._relayable = media._relayable, lambda a, b: False
    try:
        reference = _b2bua_round(RATES[0], LOAD_SECONDS)
    finally:
        media._relayable = relayable
    print(f"  media-plane reference at {RATES[0]}/s: {reference}", flush=True)
    return {"b2bua_calls_per_s": best["calls_per_s"] if best else 0.0,
            "b2bua_offered_calls_per_s": best["offered"] if best else 0,
            "b2bua_peak_calls": best["peak_calls"] if best else 0,
            "b2bua_box_cpu_ms_per_call": rounds[0]["box_cpu_ms_per_call"],
            "b2bua_media_plane_box_cpu_ms_per_call": reference["box_cpu_ms_per_call"],
            "b2bua_rounds": rounds, "b2bua_media_plane_reference": reference}


MEASUREMENTS = [
    measure_rtp_g711_pass_through,
    measure_rtp_g729_transcode,
    measure_jitter_buffer_delay,
    measure_b2bua_calls,
]


def main() -> None:
    if "--quick" in sys.argv[1:]:
        SCALE.update(g711_calls=20, g711_seconds=0.5, g729_calls=2, g729_seconds=0.5, jitter_seconds=2.0,
                     rounds=1)
        global RATES, LOAD_SECONDS
        RATES, LOAD_SECONDS = (20,), 1.0
    chosen = [a for a in sys.argv[1:] if not a.startswith("--")]
    results: dict = {}
    for measure in MEASUREMENTS:
        if chosen and measure.__name__ not in chosen:
            continue
        figures = measure()
        print(f"{measure.__name__}: {figures}", flush=True)
        results.update(figures)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
