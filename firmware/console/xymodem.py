"""XMODEM / YMODEM receiver: a sans-I/O core.

The field engineer's terminal program (minicom, PuTTY, Tera Term, or lrzsz's `sx`/`sb` behind
screen) is the sender; the box receives.  The core takes bytes and `now` in and gives bytes to
send, events and the next timer out, like aioquic's QuicConnection:

    rx = XYModemReceiver(batch=True, now=clock.now())
    rx.receive_data(data, now); rx.handle_timer(now)
    out = rx.data_to_send(); ev = rx.next_event(); deadline = rx.get_timer()

Supported: XMODEM with 8-bit checksum or CRC-16, 128-byte (SOH) and 1K (STX) blocks;
YMODEM batch (block 0 carries "name NUL size ..."; a null name ends the batch), CRC-16.
A block whose number, complement or check is wrong is NAKed and never delivered; ten
consecutive errors, a sequence error, a file over the size cap or CAN CAN end the transfer.
"""

from __future__ import annotations

import binascii
import posixpath
from collections import deque
from dataclasses import dataclass

SOH, STX, EOT, ACK, NAK, CAN, CRC_REQUEST, SUB = 0x01, 0x02, 0x04, 0x06, 0x15, 0x18, 0x43, 0x1A

# Timings of the classic receivers (Christensen's XMODEM note, Forsberg's YMODEM spec).
START_INTERVAL = 3.0        # repeat 'C'/NAK this often until the sender starts
START_TIMEOUT = 60.0        # an engineer needs time to pick the file in the terminal program
CHECKSUM_FALLBACK_AFTER = 3  # XMODEM: 'C' unanswered this many times -> try checksum mode (NAK)
BLOCK_TIMEOUT = 10.0        # silence while waiting for the next block -> NAK
CHAR_TIMEOUT = 1.0          # silence inside a block -> the block is lost, NAK
PURGE_SILENCE = 1.0         # after a bad block, NAK only once the line has been quiet this long
MAX_ERRORS = 10             # consecutive errors before giving up
# Eight CANs stop any sender; the backspaces erase them if a terminal displays them instead.
CANCEL_SEQUENCE = bytes([CAN] * 8 + [0x08] * 8)


@dataclass(frozen=True)
class FileStarted:
    name: str
    size: int | None   # None for XMODEM: the protocol does not carry it


@dataclass(frozen=True)
class FileData:
    data: bytes


@dataclass(frozen=True)
class FileCompleted:
    name: str
    size: int


@dataclass(frozen=True)
class TransferCompleted:
    files: int


@dataclass(frozen=True)
class TransferFailed:
    reason: str


@dataclass(frozen=True)
class BlockRejected:
    """A block that was NAKed (not an end state): for the console's progress/diagnostics."""
    reason: str


class XYModemReceiver:
    def __init__(self, *, batch: bool, now: float, xmodem_name: str = "upload.bin",
                 use_crc: bool = True, max_file_size: int = 64 * 1024 * 1024,
                 check_file=None):
        """`check_file(name, size)` may refuse a YMODEM file before its header is ACKed, by
        returning the reason (no room, folder not writable); None accepts it."""
        self.batch = batch
        self.check_file = check_file
        self.max_file_size = max_file_size
        self._xmodem_name = xmodem_name
        self._use_crc = True if batch else use_crc
        self._out = bytearray()
        self._events: deque = deque()
        self._buf = bytearray()
        self._finished = False
        self._errors = 0
        self._start_tries = 0
        self._expected = 0 if batch else 1
        self._file_name: str | None = None
        self._file_size: int | None = None
        self._received = 0
        self._held_back: bytes | None = None  # XMODEM: the last block, padding stripped at EOT
        self._files_done = 0
        self._started = False        # first valid block of the transfer seen
        self._waiting_start = True   # repeating 'C'/NAK until a block (or YMODEM header) comes
        self._purging = False        # dropping the rest of a bad block until the line is quiet
        self._awaiting_header = batch
        self._start_deadline = now + START_TIMEOUT
        self._deadline: float | None = None
        self.blocks_accepted = 0
        self.blocks_rejected = 0
        self._send_start(now)

    # ---- the sans-I/O surface -------------------------------------------------------------
    @property
    def finished(self) -> bool:
        return self._finished

    def data_to_send(self) -> bytes:
        out = bytes(self._out)
        self._out.clear()
        return out

    def next_event(self):
        return self._events.popleft() if self._events else None

    def get_timer(self) -> float | None:
        return None if self._finished else self._deadline

    def receive_data(self, data: bytes, now: float) -> None:
        if self._finished:
            return
        if self._purging:
            # The rest of a broken block (or more): never parsed, so a payload byte cannot be
            # mistaken for a block start or a cancel.  Only a bare cancel is honoured.
            if data.count(CAN) >= 2 and not data.replace(bytes([CAN]), b"").strip(b"\x08"):
                self._purging = False
                self._finish_failed("cancelled by the sender (CAN CAN)", send_cancel=False)
                return
            self._deadline = now + PURGE_SILENCE
            return
        self._buf += data
        self._parse(now)

    def handle_timer(self, now: float) -> None:
        if self._finished or self._deadline is None or now < self._deadline:
            return
        if self._purging:
            self._purging = False
            self._out.append(NAK)
            self._deadline = now + BLOCK_TIMEOUT
            return
        if self._waiting_start:
            if now >= self._start_deadline:
                self._fail(f"no sender started within {START_TIMEOUT:.0f} s")
                return
            self._buf.clear()
            self._send_start(now)
            return
        reason = ("block cut short (line silent for %.0f s)" % CHAR_TIMEOUT if self._buf
                  else "no block within %.0f s" % BLOCK_TIMEOUT)
        self._reject(now, reason, line_quiet=True)

    def cancel(self, reason: str) -> None:
        """Stop the transfer from our side (the engineer pressed Ctrl-C, the disk is full...)."""
        if not self._finished:
            self._fail(reason)

    # ---- internals --------------------------------------------------------------------------
    def _send_start(self, now: float) -> None:
        if not self.batch and not self._started and self._use_crc \
                and self._start_tries >= CHECKSUM_FALLBACK_AFTER:
            self._use_crc = False  # an old sender that ignores 'C' answers NAK
        self._start_tries += 1
        self._out.append(CRC_REQUEST if self._use_crc else NAK)
        self._deadline = now + START_INTERVAL

    def _block_length(self, header: int) -> int:
        size = 128 if header == SOH else 1024
        return 3 + size + (2 if self._use_crc else 1)

    def _parse(self, now: float) -> None:
        while self._buf and not self._finished:
            head = self._buf[0]
            if head in (SOH, STX):
                need = self._block_length(head)
                if len(self._buf) < need:
                    self._deadline = now + CHAR_TIMEOUT
                    return
                block = bytes(self._buf[:need])
                del self._buf[:need]
                self._on_block(block, now)
            elif head == EOT:
                del self._buf[0]
                self._on_eot(now)
            elif head == CAN:
                if len(self._buf) < 2:
                    self._deadline = now + CHAR_TIMEOUT
                    return
                if self._buf[1] == CAN:
                    self._buf.clear()
                    self._finish_failed("cancelled by the sender (CAN CAN)", send_cancel=False)
                    return
                del self._buf[0]
            else:
                del self._buf[0]  # line noise between blocks

    def _on_block(self, block: bytes, now: float) -> None:
        number, complement = block[1], block[2]
        payload = block[3:3 + (128 if block[0] == SOH else 1024)]
        check = block[3 + len(payload):]
        if number ^ complement != 0xFF:
            self._reject(now, f"block number {number} and its complement {complement} disagree")
            return
        if self._use_crc:
            if binascii.crc_hqx(payload, 0) != int.from_bytes(check, "big"):
                self._reject(now, f"CRC error in block {number}")
                return
        elif sum(payload) & 0xFF != check[0]:
            self._reject(now, f"checksum error in block {number}")
            return
        self._errors = 0
        self._waiting_start = False
        if self._awaiting_header:
            if number != 0:
                self._fail(f"expected a YMODEM header (block 0), got block {number}")
                return
            self._on_header(payload, now)
            return
        self._started = True
        if number == (self._expected - 1) & 0xFF:
            self._ack(now)  # duplicate: our ACK was lost, the sender repeated the block
            return
        if number != self._expected & 0xFF:
            self._fail(f"block sequence error: expected {self._expected & 0xFF}, got {number}")
            return
        self._expected += 1
        self.blocks_accepted += 1
        self._deliver(payload)
        if not self._finished:
            self._ack(now)

    def _on_header(self, payload: bytes, now: float) -> None:
        self._started = True
        name_end = payload.find(b"\0")
        raw_name = payload[:max(name_end, 0)]
        if not raw_name:
            self._ack(now)
            self._finished = True
            self._deadline = None
            self._events.append(TransferCompleted(self._files_done))
            return
        try:
            name = _safe_file_name(raw_name)
        except ValueError as exc:
            self._fail(str(exc))
            return
        fields = payload[name_end + 1:].split(b"\0", 1)[0].split()
        size: int | None = None
        if fields:
            try:
                size = int(fields[0].decode("ascii"))
            except (UnicodeDecodeError, ValueError):
                self._fail(f"YMODEM header for {name!r}: size {fields[0]!r} is not a number")
                return
        if size is not None and size > self.max_file_size:
            self._fail(f"{name}: {size} bytes is over the {self.max_file_size}-byte limit")
            return
        refusal = self.check_file(name, size) if self.check_file else None
        if refusal:
            self._fail(refusal)
            return
        self._file_name, self._file_size, self._received = name, size, 0
        self._awaiting_header = False
        self._expected = 1
        self.blocks_accepted += 1
        self._events.append(FileStarted(name, size))
        self._ack(now)
        self._out.append(CRC_REQUEST)  # YMODEM: 'C' again starts the data phase

    def _deliver(self, payload: bytes) -> None:
        if self._file_name is None:  # XMODEM: the first block opens the file
            self._file_name = self._xmodem_name
            self._events.append(FileStarted(self._file_name, None))
        if self._file_size is not None:
            payload = payload[:max(0, self._file_size - self._received)]
        elif not self.batch:
            payload, self._held_back = self._held_back or b"", payload
        if self._received + len(payload) > self.max_file_size:
            self._fail(f"{self._file_name}: over the {self.max_file_size}-byte limit")
            return
        self._received += len(payload)
        if payload:
            self._events.append(FileData(payload))

    def _on_eot(self, now: float) -> None:
        if self._file_name is None:
            if self.batch and self._started:
                # The sender repeats EOT because our ACK was lost; the file is already closed.
                self._out.append(ACK)
                self._out.append(CRC_REQUEST)
                self._deadline = now + START_INTERVAL
                return
            if not self._started:
                return  # stray EOT before anything began: line noise
        if self._held_back is not None:
            last = self._held_back.rstrip(bytes([SUB]))
            self._held_back = None
            self._received += len(last)
            if last:
                self._events.append(FileData(last))
        if self._file_size is not None and self._received < self._file_size:
            self._fail(f"{self._file_name}: sender ended after {self._received} of "
                       f"{self._file_size} bytes")
            return
        self._out.append(ACK)
        self._events.append(FileCompleted(self._file_name, self._received))
        self._files_done += 1
        self._file_name = None
        if self.batch:
            self._awaiting_header = True
            self._expected = 0
            self._start_tries = 0
            self._start_deadline = now + START_TIMEOUT
            self._waiting_start = True
            self._out.append(CRC_REQUEST)
            self._deadline = now + START_INTERVAL
        else:
            self._finished = True
            self._deadline = None
            self._events.append(TransferCompleted(self._files_done))

    def _ack(self, now: float) -> None:
        self._out.append(ACK)
        self._deadline = now + BLOCK_TIMEOUT

    def _reject(self, now: float, reason: str, *, line_quiet: bool = False) -> None:
        """NAK a block.  After a timeout the line is already quiet: NAK now.  After a bad block
        the sender may still be sending: drop everything until the line has been quiet for
        PURGE_SILENCE, then NAK (Christensen's rule), so the retry starts on a clean line."""
        self._buf.clear()
        self.blocks_rejected += 1
        self._errors += 1
        self._events.append(BlockRejected(reason))
        if self._errors >= MAX_ERRORS:
            self._fail(f"{MAX_ERRORS} errors in a row, last: {reason}")
            return
        if line_quiet:
            self._out.append(NAK)
            self._deadline = now + BLOCK_TIMEOUT
        else:
            self._purging = True
            self._deadline = now + PURGE_SILENCE

    def _fail(self, reason: str) -> None:
        self._finish_failed(reason, send_cancel=True)

    def _finish_failed(self, reason: str, *, send_cancel: bool) -> None:
        if send_cancel:
            self._out += CANCEL_SEQUENCE
        self._finished = True
        self._deadline = None
        self._events.append(TransferFailed(reason))


def _safe_file_name(raw: bytes) -> str:
    """The sender's file name, reduced to a plain name in the upload folder."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"YMODEM header: file name {raw[:40]!r} is not UTF-8") from None
    name = posixpath.basename(text.replace("\\", "/"))
    if not name or name in (".", "..") or name.startswith("."):
        raise ValueError(f"YMODEM header: file name {text!r} is not usable")
    if any(ord(c) < 0x20 or c == "\x7f" for c in name):
        raise ValueError(f"YMODEM header: file name {text!r} has control characters")
    return name
