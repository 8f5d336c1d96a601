"""The line editor: what screen, minicom and PuTTY send, turned into an edited line.

Sans-I/O: `key(byte)` takes one received byte and returns an action or None; what must be
echoed to the terminal accumulates and is taken with `take_output()`.  Keys are fed one at a
time because an action (Enter, `?`, Tab) can change what the following bytes mean — a pager
prompt, a password, or the start of a YMODEM transfer.

Keys: printable ASCII inserts; Backspace (BS or DEL); Ctrl-A/E home/end; Ctrl-B/F and the
left/right arrows; Ctrl-U kills to the start, Ctrl-K to the end, Ctrl-W the word before the
cursor; Ctrl-D deletes under the cursor; up/down and Ctrl-P/N walk the history; Ctrl-L redraws;
Ctrl-C cancels the line; Enter is CR, LF or CR LF.  ANSI (CSI) and SS3 escape sequences are
parsed whole, so an unknown one is dropped instead of leaking into the line.  Anything else
(NUL from a line break condition, other control bytes, bytes >= 0x80) is noise: it rings the
bell once and is counted so the console can say it dropped it.
"""

from __future__ import annotations

from dataclasses import dataclass

BELL = b"\x07"
ERASE_TO_END = b"\x1b[K"
MAX_ESCAPE_LENGTH = 16


@dataclass(frozen=True)
class Submit:
    line: str
    noise: int = 0        # bytes dropped while this line was typed
    truncated: int = 0    # characters dropped because the line was over the cap


@dataclass(frozen=True)
class Help:
    before_cursor: str


@dataclass(frozen=True)
class Complete:
    before_cursor: str


@dataclass(frozen=True)
class Cancel:
    pass


class LineEditor:
    def __init__(self, *, max_length: int = 256, history: list[str] | None = None):
        self.max_length = max_length
        self.history = history if history is not None else []
        self.prompt = ""
        self.echo = True
        self.help_key = True
        self.record = True
        self._buf: list[str] = []
        self._cursor = 0
        self._out = bytearray()
        self._escape: bytearray | None = None
        self._after_cr = False
        self._noise = 0
        self._bell_rung = False
        self._truncated = 0
        self._history_index = 0
        self._draft = ""

    # ---- used by the session ----------------------------------------------------------------
    def start(self, prompt: str, *, echo: bool = True, help_key: bool = True,
              record: bool = True) -> None:
        """Begin a new line: show the prompt; `echo=False` for passwords (no echo, no history);
        `record=False` keeps the line out of the history (user names, answers)."""
        self.prompt, self.echo, self.help_key = prompt, echo, help_key
        self.record = record and echo
        self._buf, self._cursor = [], 0
        self._noise = self._truncated = 0
        self._history_index = len(self.history)
        self._draft = ""
        self._write(prompt)

    @property
    def text(self) -> str:
        return "".join(self._buf)

    def take_output(self) -> bytes:
        out = bytes(self._out)
        self._out.clear()
        self._bell_rung = False
        return out

    def insert(self, text: str) -> None:
        for ch in text:
            self._insert_char(ch)

    def hide(self) -> None:
        """Clear the prompt line so asynchronous output (a debug event) can be printed."""
        self._out += b"\r" + ERASE_TO_END

    def redraw(self) -> None:
        self._write(self.prompt)
        if self.echo:
            self._write(self.text)
            self._out += b"\b" * (len(self._buf) - self._cursor)

    def key(self, byte: int):
        if self._escape is not None:
            self._escape_byte(byte)
            return None
        after_cr, self._after_cr = self._after_cr, byte == 0x0D
        if byte == 0x0D or (byte == 0x0A and not after_cr):
            return self._submit()
        if byte == 0x0A:
            return None  # LF of a CR LF pair
        if 0x20 <= byte <= 0x7E:
            ch = chr(byte)
            if ch == "?" and self.help_key and self.echo:
                self._write("?")  # IOS shows the ? then the help below it
                return Help(self.text[:self._cursor])
            self._insert_char(ch)
            return None
        if byte in (0x08, 0x7F):
            self._backspace()
        elif byte == 0x03:
            return Cancel()
        elif byte == 0x09:
            if self.echo:
                return Complete(self.text[:self._cursor])
            self._noise_byte()
        elif byte == 0x15:
            self._kill(0, self._cursor)
        elif byte == 0x1B:
            self._escape = bytearray()
        elif not self.echo:
            self._noise_byte()  # no cursor games while a password is typed blind
        elif byte == 0x01:
            self._move_to(0)
        elif byte == 0x05:
            self._move_to(len(self._buf))
        elif byte == 0x02:
            self._move_to(max(0, self._cursor - 1))
        elif byte == 0x06:
            self._move_to(min(len(self._buf), self._cursor + 1))
        elif byte == 0x0B:
            self._kill(self._cursor, len(self._buf))
        elif byte == 0x17:
            self._kill_word()
        elif byte == 0x04:
            self._kill(self._cursor, min(len(self._buf), self._cursor + 1))
        elif byte == 0x10:
            self._history_step(-1)
        elif byte == 0x0E:
            self._history_step(+1)
        elif byte == 0x0C:
            self._out += b"\r\n"
            self.redraw()
        else:
            self._noise_byte()
        return None

    # ---- editing ----------------------------------------------------------------------------
    def _write(self, text: str) -> None:
        self._out += text.encode("ascii", "replace")

    def _submit(self) -> Submit:
        line = self.text
        if self.record and line.strip() and (not self.history or self.history[-1] != line):
            self.history.append(line)
        self._out += b"\r\n"
        submitted = Submit(line, self._noise, self._truncated)
        # Ready for the next line even before start(): keys typed ahead belong to it.
        self._buf, self._cursor = [], 0
        self._noise = self._truncated = 0
        self._history_index = len(self.history)
        return submitted

    def _noise_byte(self) -> None:
        self._noise += 1
        if not self._bell_rung:
            self._out += BELL
            self._bell_rung = True

    def _insert_char(self, ch: str) -> None:
        if len(self._buf) >= self.max_length:
            if self._truncated == 0:
                self._out += (f"\r\n% Line too long: at most {self.max_length} characters, "
                              f"the rest is dropped\r\n").encode()
                self.redraw()
            self._truncated += 1
            return
        self._buf.insert(self._cursor, ch)
        self._cursor += 1
        if not self.echo:
            return
        tail = "".join(self._buf[self._cursor:])
        self._write(ch + tail)
        self._out += b"\b" * len(tail)

    def _backspace(self) -> None:
        if self._cursor == 0:
            return
        self._kill(self._cursor - 1, self._cursor)

    def _kill(self, start: int, end: int) -> None:
        if start >= end:
            return
        del self._buf[start:end]
        old_cursor = self._cursor
        self._cursor = start
        if not self.echo:
            return
        self._out += b"\b" * (old_cursor - start)
        tail = "".join(self._buf[start:])
        self._write(tail)
        self._out += ERASE_TO_END + b"\b" * len(tail)

    def _kill_word(self) -> None:
        start = self._cursor
        while start > 0 and self._buf[start - 1] == " ":
            start -= 1
        while start > 0 and self._buf[start - 1] != " ":
            start -= 1
        self._kill(start, self._cursor)

    def _move_to(self, position: int) -> None:
        if position < self._cursor:
            self._out += b"\b" * (self._cursor - position)
        else:
            self._write("".join(self._buf[self._cursor:position]))
        self._cursor = position

    def _replace_line(self, text: str) -> None:
        self._move_to(0)
        self._buf = list(text[:self.max_length])
        self._cursor = len(self._buf)
        self._write(self.text)
        self._out += ERASE_TO_END

    def _history_step(self, step: int) -> None:
        index = self._history_index + step
        if index < 0 or index > len(self.history):
            self._out += BELL
            return
        if self._history_index == len(self.history):
            self._draft = self.text
        self._history_index = index
        self._replace_line(self.history[index] if index < len(self.history) else self._draft)

    def _escape_byte(self, byte: int) -> None:
        seq = self._escape
        assert seq is not None
        seq.append(byte)
        if len(seq) == 1:
            if byte not in (ord("["), ord("O")):
                self._escape = None  # Alt-key or a lone ESC: drop both bytes
            return
        if seq[0] == ord("[") and 0x20 <= byte <= 0x3F and len(seq) < MAX_ESCAPE_LENGTH:
            return  # parameter and intermediate bytes of a CSI sequence
        self._escape = None
        if not 0x40 <= byte <= 0x7E:
            self._noise_byte()
            return
        if not self.echo:
            return  # cursor keys mean nothing while a password is typed blind
        final = chr(byte)
        params = bytes(seq[1:-1]).decode("ascii", "replace")
        if final == "A":
            self._history_step(-1)
        elif final == "B":
            self._history_step(+1)
        elif final == "C":
            self._move_to(min(len(self._buf), self._cursor + 1))
        elif final == "D":
            self._move_to(max(0, self._cursor - 1))
        elif final == "H" or (final == "~" and params in ("1", "7")):
            self._move_to(0)
        elif final == "F" or (final == "~" and params in ("4", "8")):
            self._move_to(len(self._buf))
        elif final == "~" and params == "3":
            self._kill(self._cursor, min(len(self._buf), self._cursor + 1))
        # Other sequences (function keys, focus reports) are understood and ignored.
