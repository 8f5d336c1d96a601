"""The box's own counts read over its serial console, as a bench reads a real box: log in, then
`show calls` (the ISDN calls up) and `show channels` (each B-channel's state), before a run and
after it.  In the bench the console is on a pty (firmware/console/testing.py's `PtyPair`, the
box opening the slave end as its UART); on a real box it is the serial port of the bench
machine wired to the box's console (`open_serial`).

    probe = await ConsoleProbe.login(fd, "bench", password)
    counts = await probe.counts()      # {"calls": n, "channels_in_use": n, "channels_restarting": n, ...}
"""

from __future__ import annotations

import asyncio
import os
import re
import termios
import tty

from firmware.console.testing import Terminal

_TOTAL = re.compile(r"Total active calls: (\d+)")
_CHANNELS = re.compile(r"(\d+) idle, (\d+) in use, (\d+) restarting, (\d+) out of service")

BAUDS = {9600: termios.B9600, 19200: termios.B19200, 38400: termios.B38400, 57600: termios.B57600,
         115200: termios.B115200}


def open_serial(device: str, baud: int = 115200) -> int:
    """A serial port opened raw at `baud` (8N1), as an fd for `ConsoleProbe.login`."""
    if baud not in BAUDS:
        raise ValueError(f"{device}: baud {baud} is not one of {', '.join(map(str, BAUDS))}")
    fd = os.open(device, os.O_RDWR | os.O_NOCTTY)
    tty.setraw(fd)
    attrs = termios.tcgetattr(fd)
    attrs[4] = attrs[5] = BAUDS[baud]
    termios.tcsetattr(fd, termios.TCSANOW, attrs)
    return fd


def parse_counts(show_calls: str, show_channels: str) -> dict[str, int]:
    """Counts from the two commands' output; ValueError naming the output that did not parse."""
    if "No active calls" in show_calls:
        calls = 0
    else:
        total = _TOTAL.search(show_calls)
        if total is None:
            raise ValueError(f"`show calls`: neither 'No active calls' nor 'Total active calls: N' in {show_calls[-300:]!r}")
        calls = int(total.group(1))
    spans = _CHANNELS.findall(show_channels)
    if not spans:
        raise ValueError(f"`show channels`: no per-span summary line in {show_channels[-300:]!r}")
    return {"calls": calls, "spans": len(spans), "channels_idle": sum(int(s[0]) for s in spans),
            "channels_in_use": sum(int(s[1]) for s in spans), "channels_restarting": sum(int(s[2]) for s in spans),
            "channels_out_of_service": sum(int(s[3]) for s in spans)}


class ConsoleProbe:
    def __init__(self, terminal: Terminal, prompt: str):
        self.terminal = terminal
        self.prompt = prompt

    @classmethod
    async def login(cls, fd: int, user: str, password: str, timeout: float = 20.0) -> "ConsoleProbe":
        terminal = Terminal(fd, asyncio.get_running_loop())
        terminal.send("\r")
        await terminal.expect("Username: ", timeout)
        terminal.send(f"{user}\r{password}\r")
        seen = await terminal.expect(r"\r?\n?([\w.-]+)#", timeout)
        prompt = re.findall(r"([\w.-]+)#", seen)[-1] + "#"
        probe = cls(terminal, prompt)
        await probe.command("terminal length 0")
        return probe

    async def command(self, line: str, timeout: float = 20.0) -> str:
        self.terminal.send(line + "\r")
        return await self.terminal.expect(re.escape(self.prompt), timeout)

    async def counts(self) -> dict[str, int]:
        return parse_counts(await self.command("show calls"), await self.command("show channels"))

    def close(self) -> None:
        self.terminal.send("exit\r")
        self.terminal.close()
