"""linphone-daemon (Debian linphone-cli, installed by `make deps`) driven over its command
socket: a private linphonerc (SIP port, RTP port, DTMF by SIP INFO, no sound card needed), the
codecs it may use, calls, DTMF and its events.  Debian's mediastreamer links bcg729, so G.729
is among linphone's codecs."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
from pathlib import Path

LINPHONE = shutil.which("linphone-daemon") or "/usr/bin/linphone-daemon"   # APT_PACKAGES: linphone-cli

LINPHONERC = """\
[sip]
sip_port={sip_port}
sip_tcp_port=0
sip_tls_port=0
use_info={use_info}
use_rfc2833={use_rfc2833}
contact=sip:{user}@127.0.0.1
use_ipv6=0
bind_address=127.0.0.1
register_only_when_network_is_up=0
auto_net_state_mon=0
[rtp]
audio_rtp_port={rtp_port}
bind_address=127.0.0.1
audio_jitt_comp=60
[net]
mtu=0
[sound]
echocancellation=0
[misc]
max_calls=1
"""


class LinphoneDaemon:
    """One linphone-daemon in its own directory, commands over its unix socket in /tmp."""

    def __init__(self, home: Path, sip_port: int, rtp_port: int, *, use_info: bool = True, user: str = "linphone"):
        self.home = home
        self.sip_port = sip_port
        self.pipe = f"pribox-linphone-{os.getpid()}-{sip_port}"
        (home / ".local" / "share" / "linphone").mkdir(parents=True, exist_ok=True)   # its call history
        (home / "linphonerc").write_text(LINPHONERC.format(sip_port=sip_port, rtp_port=rtp_port, user=user,
                                                           use_info=int(use_info), use_rfc2833=int(not use_info)))
        self.proc: asyncio.subprocess.Process | None = None
        self.reader = self.writer = None

    async def __aenter__(self) -> "LinphoneDaemon":
        self.proc = await asyncio.create_subprocess_exec(
            LINPHONE, "--config", str(self.home / "linphonerc"), "--pipe", self.pipe,
            "--log", str(self.home / "linphone.log"), "--disable-stats-events",
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL, start_new_session=True, cwd=str(self.home),
            env={**os.environ, "HOME": str(self.home)})
        for _ in range(200):
            try:
                self.reader, self.writer = await asyncio.open_unix_connection(f"/tmp/{self.pipe}")
                break
            except OSError:
                await asyncio.sleep(0.05)
        else:
            raise RuntimeError(f"linphone-daemon's command socket /tmp/{self.pipe} never came up")
        return self

    async def __aexit__(self, *exc) -> None:
        if self.writer is not None:
            self.writer.close()
        if self.proc is not None and self.proc.returncode is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), 5)
            except asyncio.TimeoutError:
                os.killpg(self.proc.pid, signal.SIGKILL)
                await self.proc.wait()
        try:
            os.unlink(f"/tmp/{self.pipe}")
        except OSError:
            pass

    async def command(self, line: str, timeout: float = 5.0) -> str:
        """Send one command; its answer (the daemon writes each answer at once, so the answer
        is what arrives until the socket is quiet for a moment)."""
        self.writer.write(line.encode() + b"\n")
        await self.writer.drain()
        answer = await asyncio.wait_for(self.reader.read(262144), timeout)
        while True:
            try:
                more = await asyncio.wait_for(self.reader.read(262144), 0.15)
            except asyncio.TimeoutError:
                break
            if not more:
                break
            answer += more
        return answer.decode(errors="replace")

    async def only_codec(self, payload_type: int) -> None:
        """Only this codec (by its static payload type: the daemon does not take "G729" as a name)."""
        await self.command("audio-codec-disable ALL")
        answer = await self.command(f"audio-codec-enable {payload_type}")
        if "Status: Ok" not in answer:
            raise RuntimeError(f"linphone cannot enable payload type {payload_type}: {answer}")

    def log_text(self) -> str:
        path = self.home / "linphone.log"
        return path.read_text(errors="replace") if path.exists() else ""
