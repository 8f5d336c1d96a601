"""Serve a console session on a serial device with pyserial, inside an asyncio loop.

The device is opened non-blocking and watched with loop.add_reader, so no thread is needed;
writes that the UART cannot take at once wait in a buffer drained by loop.add_writer.  A read
error (a USB serial adapter unplugged, a pseudo-terminal whose other side went away) closes
the device and reopens it a moment later: the console keeps running and never takes the box
down.
"""

from __future__ import annotations

import asyncio
import logging
import os

import serial

from runtime.clock import Clock, TimerHandle

from .session import ConsoleSession

log = logging.getLogger("pribox.console")

REOPEN_DELAY = 2.0
READ_CHUNK = 4096


class SerialConsole:
    def __init__(self, device: str, make_session, *, clock: Clock, baudrate: int = 115200,
                 loop: asyncio.AbstractEventLoop | None = None):
        """`make_session(pending_output, wakeup)` builds the ConsoleSession for this line."""
        self.device = device
        self.baudrate = baudrate
        self.clock = clock
        self._loop = loop
        self._make_session = make_session
        self.session: ConsoleSession | None = None
        self._serial: serial.Serial | None = None
        self._pending = bytearray()
        self._timer: TimerHandle | None = None
        self._timer_when: float | None = None
        self._closed = False
        self._wake_scheduled = False
        self._reopen: TimerHandle | None = None

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._loop or asyncio.get_running_loop()

    @property
    def is_open(self) -> bool:
        return self._serial is not None

    def start(self) -> None:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        self.session = self._make_session(lambda: len(self._pending), self._wakeup)
        self._open()
        self._flush()

    def close(self) -> None:
        self._closed = True
        if self._reopen is not None:
            self._reopen.cancel()
        if self._timer is not None:
            self._timer.cancel()
        self._close_device()
        if self.session is not None:
            self.session.close()

    def _open(self) -> None:
        try:
            self._serial = serial.Serial(self.device, self.baudrate, timeout=0, write_timeout=0)
        except (serial.SerialException, OSError, ValueError) as exc:
            log.error("console: cannot open %s: %s; retrying in %.0f s", self.device, exc,
                      REOPEN_DELAY)
            self._schedule_reopen()
            return
        self.loop.add_reader(self._serial.fd, self._on_readable)

    def _close_device(self) -> None:
        if self._serial is None:
            return
        try:
            self.loop.remove_reader(self._serial.fd)
            self.loop.remove_writer(self._serial.fd)
            self._serial.close()
        except (OSError, serial.SerialException, ValueError):
            pass
        self._serial = None

    def _schedule_reopen(self) -> None:
        if not self._closed:
            self._reopen = self.clock.call_later(REOPEN_DELAY, self._reopen_now)

    def _reopen_now(self) -> None:
        self._reopen = None
        if not self._closed and self._serial is None:
            self._open()
            self._flush()

    def _on_readable(self) -> None:
        assert self._serial is not None and self.session is not None
        try:
            data = self._serial.read(READ_CHUNK)
        except (serial.SerialException, OSError) as exc:
            log.warning("console: read from %s failed (%s); reopening", self.device, exc)
            self._close_device()
            self._pending.clear()
            self._schedule_reopen()
            return
        if data:
            self.session.receive_data(data, self.clock.now())
            self._flush()

    def _wakeup(self) -> None:
        # Called from a bus publisher (maybe mid-call in another layer): write soon, not now.
        if not self._wake_scheduled and not self._closed:
            self._wake_scheduled = True
            self.loop.call_soon(self._woken)

    def _woken(self) -> None:
        self._wake_scheduled = False
        self._flush()

    def _on_timer(self) -> None:
        self._timer = self._timer_when = None
        if self.session is not None:
            self.session.handle_timer(self.clock.now())
            self._flush()

    def _flush(self) -> None:
        if self.session is None:
            return
        self._pending += self.session.data_to_send()
        self._write_pending()
        when = self.session.get_timer()
        if when != self._timer_when:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = self.clock.call_at(when, self._on_timer) if when is not None else None
            self._timer_when = when

    def _write_pending(self) -> None:
        if self._serial is None or not self._pending:
            return
        try:
            # os.write on pyserial's non-blocking descriptor: pyserial's own write() spins on
            # EAGAIN when the write timeout is zero.
            written = os.write(self._serial.fd, bytes(self._pending))
        except BlockingIOError:
            written = 0
        except OSError as exc:
            log.warning("console: write to %s failed (%s)", self.device, exc)
            self._pending.clear()
            return
        del self._pending[:written]
        if self._pending:
            self.loop.add_writer(self._serial.fd, self._on_writable)

    def _on_writable(self) -> None:
        if self._serial is None:
            return
        self.loop.remove_writer(self._serial.fd)
        self._write_pending()
