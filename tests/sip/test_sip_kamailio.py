"""Two boxes behind Kamailio 5.6 (Debian kamailio), all on loopback: `pribox run` daemons with
the sip and pbx services only, on 127.0.0.2 and 127.0.0.3, each with a [[sip_trunk]] for the
proxy on 127.0.0.1; Kamailio runs docs/kamailio/dispatcher.cfg (the file a user copies) with
faster probing set by -A.  SIPp places calls to Kamailio: they alternate between the boxes.  One
box stops; once the OPTIONS probes mark it down (kamcmd dispatcher.list), every new call goes
to the survivor.  About 15 s."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import sys
from pathlib import Path

from tests.sip.live_box import free_port, prompts_in, until

ROOT = Path(__file__).resolve().parents[2]
DISPATCHER_CFG = ROOT / "docs" / "kamailio" / "dispatcher.cfg"
DISPATCHER_LIST = ROOT / "docs" / "kamailio" / "dispatcher.list"
SCENARIOS = Path(__file__).parent / "sipp"
KAMAILIO = shutil.which("kamailio") or "/usr/sbin/kamailio"   # APT_PACKAGES: kamailio
KAMCMD = shutil.which("kamcmd") or "/usr/sbin/kamcmd"
SIPP = shutil.which("sipp") or "/usr/bin/sipp"                # APT_PACKAGES: sip-tester
BOXES = ("127.0.0.2", "127.0.0.3")

BOX_CONFIG = """\
[box]
hostname = "pribox-{n}"

[pbx]
ring_seconds = 0
unknown_number = "reject:1"

[[dialplan]]
name = "route point 7000"
pattern = "7000"
target = "ivr:main"

[ivr]
prompt_dir = "{prompts}"

[console]
enabled = false

[api]
port = 0

[sip]
address = "{address}"
port = {port}
tcp = false
rtp_port_min = {rtp}
rtp_port_max = {rtp_max}

[[sip_trunk]]
name = "kamailio"
host = "127.0.0.1"
port = {proxy_port}
keepalive = 0
translation_in = "kamailio-in"

[[translation_profile]]
name = "kamailio-in"
called = "070-called"

[[translation_rule]]
name = "070-called"
[[translation_rule.rule]]
match = '/^07012345678$/'
replace = '/7000/'
set_type = "unknown"
"""


async def stop(proc: asyncio.subprocess.Process, timeout: float = 5.0) -> None:
    if proc.returncode is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        await asyncio.wait_for(proc.wait(), timeout)
    except asyncio.TimeoutError:
        os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()


async def dispatcher_flags(ctl: str) -> dict[str, str]:
    """Each box's dispatcher flags ("AP": active and probed, "IP": inactive, probed)."""
    proc = await asyncio.create_subprocess_exec(KAMCMD, "-s", ctl, "dispatcher.list",
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
    out, _ = await proc.communicate()
    text = out.decode(errors="replace")
    return {m.group(1): m.group(2) for m in re.finditer(r"URI: sip:([0-9.]+):\d+\s+FLAGS: (\w+)", text)}


async def calls(proxy_port: int, count: int, tmp_path: Path, name: str) -> list[str]:
    """`count` calls through the proxy, one after another; the boxes that answered, in order."""
    log = tmp_path / f"{name}.log"
    proc = await asyncio.create_subprocess_exec(
        SIPP, "-sf", str(SCENARIOS / "uac_dispatch.xml"), "-s", "07012345678", "-m", str(count), "-l", "1",
        "-i", "127.0.0.1", "-p", str(free_port()), "-mi", "127.0.0.1", "-mp", str(free_port(spacing=4)),
        "-timeout", "20s", "-nostdin", "-trace_logs", "-log_file", str(log), "-trace_err",
        "-error_file", str(tmp_path / f"{name}.err"), f"127.0.0.1:{proxy_port}",
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    _, err = await asyncio.wait_for(proc.communicate(), 25)
    assert proc.returncode == 0, err.decode(errors="replace") + (tmp_path / f"{name}.err").read_text(errors="replace")
    return re.findall(r"box ([0-9.]+)", log.read_text())


def test_calls_spread_over_two_boxes_behind_kamailio_and_go_to_the_survivor_when_one_stops(tmp_path):
    prompts = prompts_in(tmp_path)
    proxy_port = free_port()
    box_port = free_port(host=BOXES[0])
    ctl = f"unix:{tmp_path / 'kamailio.ctl'}"
    # the documented list, with this run's box port
    listing = DISPATCHER_LIST.read_text().replace(":5060", f":{box_port}")
    assert all(f"sip:{address}:{box_port}" in listing for address in BOXES)
    (tmp_path / "dispatcher.list").write_text(listing)

    async def scenario():
        boxes = []
        for n, address in enumerate(BOXES):
            rtp = 2 * (15500 + 50 * n)
            config = tmp_path / f"box{n}.toml"
            config.write_text(BOX_CONFIG.format(n=n, prompts=prompts, address=address, port=box_port, rtp=rtp,
                                                rtp_max=rtp + 38, proxy_port=proxy_port))
            boxes.append(await asyncio.create_subprocess_exec(
                sys.executable, "-m", "firmware.cli", "run", "--config", str(config), "--state-dir",
                str(tmp_path / f"state{n}"), cwd=str(ROOT), start_new_session=True,
                stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
                stderr=open(tmp_path / f"box{n}.log", "w")))
        kamailio = await asyncio.create_subprocess_exec(
            KAMAILIO, "-f", str(DISPATCHER_CFG), "-DD", "-E", "-Y", str(tmp_path), "-P", str(tmp_path / "k.pid"),
            "-A", f"LISTEN=udp:127.0.0.1:{proxy_port}", "-A", f'DISPATCHER_LIST="{tmp_path / "dispatcher.list"}"',
            "-A", f'CTL_SOCKET="{ctl}"', "-A", "PROBE_INTERVAL=1", "-A", "PROBE_FAILURES=1",
            start_new_session=True,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
            stderr=open(tmp_path / "kamailio.log", "w"))
        seen = {}
        try:
            flags = {}

            async def probed(want: dict[str, str]) -> bool:
                flags.update(await dispatcher_flags(ctl))
                return all(flags.get(a, "").startswith(w) for a, w in want.items())

            # both boxes listening, then a round of probes answered (the dispatcher starts with
            # every box active, probed or not)
            await until(lambda: all("pribox running" in (tmp_path / f"box{n}.log").read_text()
                                    for n in range(len(BOXES))), 20, "both boxes running")
            await asyncio.sleep(1.5)
            await probed({})
            seen["up"] = dict(flags)
            seen["spread"] = await calls(proxy_port, 4, tmp_path, "spread")
            await stop(boxes[1])
            for _ in range(100):          # the probes mark the stopped box down
                if await probed({BOXES[1]: "I"}):
                    break
                await asyncio.sleep(0.1)
            seen["down"] = dict(flags)
            seen["survivor"] = await calls(proxy_port, 3, tmp_path, "survivor")
        finally:
            for proc in (kamailio, *boxes):
                await stop(proc)
        return seen

    seen = asyncio.run(scenario())
    assert {a: f[0] for a, f in seen["up"].items()} == {BOXES[0]: "A", BOXES[1]: "A"}, seen
    assert sorted(seen["spread"]) == sorted(BOXES * 2)               # round robin: two calls each
    assert seen["down"][BOXES[1]].startswith("I") and seen["down"][BOXES[0]].startswith("A")
    assert seen["survivor"] == [BOXES[0]] * 3
