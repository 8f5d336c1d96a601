"""The field engineer's laptop, in software: a pseudo-terminal whose slave path the box opens
with pyserial as it would a UART, and whose master side a `Terminal` types into and reads —
or hands to a real file sender (lrzsz's `sb`/`sx`) as minicom does.  Used by the console
tests and by bench/HIL scenarios that talk to a box's serial console."""

from __future__ import annotations

import asyncio
import os
import re
import tty


class PtyPair:
    def __init__(self) -> None:
        self.master_fd, self._slave_fd = os.openpty()
        tty.setraw(self._slave_fd)
        self.slave_path = os.ttyname(self._slave_fd)

    def close(self) -> None:
        for fd in (self.master_fd, self._slave_fd):
            try:
                os.close(fd)
            except OSError:
                pass


class Terminal:
    """Types at the console and reads what it shows (the master side of the pty)."""

    def __init__(self, fd: int, loop: asyncio.AbstractEventLoop):
        self.fd = fd
        self.loop = loop
        self.received = bytearray()     # everything, for assertions over a whole session
        self._unread = bytearray()      # what `expect` has not consumed yet
        self._changed = asyncio.Event()
        self._sender: asyncio.subprocess.Process | None = None
        self.sender_bytes = 0           # what the running file sender has written so far
        os.set_blocking(fd, False)
        loop.add_reader(fd, self._on_readable)

    def close(self) -> None:
        self.loop.remove_reader(self.fd)

    def _on_readable(self) -> None:
        try:
            data = os.read(self.fd, 65536)
        except OSError:
            data = b""
        if not data:
            return
        if self._sender is not None and self._sender.stdin is not None:
            self._sender.stdin.write(data)
            return
        self.received += data
        self._unread += data
        self._changed.set()

    def send(self, data: bytes | str) -> None:
        if isinstance(data, str):
            data = data.encode()
        view = memoryview(data)
        while view:
            try:
                view = view[os.write(self.fd, view):]
            except BlockingIOError:
                os.set_blocking(self.fd, True)
                try:
                    view = view[os.write(self.fd, view):]
                finally:
                    os.set_blocking(self.fd, False)

    async def expect(self, pattern: str | bytes, timeout: float = 10.0) -> str:
        """Wait until `pattern` (a regular expression) shows; return the text up to and
        including it, consumed."""
        if isinstance(pattern, str):
            pattern = pattern.encode()
        regex = re.compile(pattern)

        async def wait() -> str:
            while True:
                match = regex.search(self._unread)
                if match:
                    text = bytes(self._unread[:match.end()])
                    del self._unread[:match.end()]
                    return text.decode("ascii", "replace")
                self._changed.clear()
                await self._changed.wait()

        try:
            return await asyncio.wait_for(wait(), timeout)
        except asyncio.TimeoutError:
            raise AssertionError(f"terminal: {pattern!r} did not show within {timeout} s; "
                                 f"unread: {bytes(self._unread[-600:])!r}") from None

    async def settle(self, seconds: float = 0.05) -> str:
        """Whatever arrives within a short real-time window (for 'nothing else happened')."""
        await asyncio.sleep(seconds)
        text = bytes(self._unread).decode("ascii", "replace")
        self._unread.clear()
        return text

    async def send_file(self, argv: list[str], timeout: float = 30.0) -> tuple[int, bytes]:
        """Run a sender (e.g. ["sb", path]) on this line as minicom does: its stdin is what
        the box sends, its stdout goes to the box.  Returns its exit status and stderr."""
        proc = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE)
        self._sender = proc
        self.sender_bytes = 0
        self._unread.clear()

        async def pump() -> None:
            assert proc.stdout is not None
            while chunk := await proc.stdout.read(65536):
                self.sender_bytes += len(chunk)
                self.send(chunk)

        try:
            _, stderr = await asyncio.wait_for(asyncio.gather(pump(), proc.stderr.read()), timeout)
            status = await asyncio.wait_for(proc.wait(), timeout)
        finally:
            self._sender = None
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        return status, stderr
