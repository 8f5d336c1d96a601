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
    def __init__(self, *, max_length: int = 256, history: list[str] | None = None,
                 width: int = 80):
        self.max_length = max_length
        self.width = width            # terminal columns; 0: never scroll the line
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
        self._offset = 0              # first character shown while the line scrolls sideways

    # ---- used by the session ----------------------------------------------------------------
    def start(self, prompt: str, *, echo: bool = True, help_key: bool = True,
              record: bool = True) -> None:
        """Begin a new line: show the prompt; `echo=False` for passwords (no echo, no history);
        `record=False` keeps the line out of the history (user names, answers)."""
        self.prompt, self.echo, self.help_key = prompt, echo, help_key
        self.record = record and echo
        self._buf, self._cursor, self._offset = [], 0, 0
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
        if not self.echo:
            return
        if self._fits():
            self._offset = 0
            self._write(self.text)
            self._out += b"\b" * (len(self._buf) - self._cursor)
        else:
            self._out += b"\r"
            self._draw_window()

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
        if byte in (0x11, 0x13):
            return None  # XON/XOFF from a terminal with software flow control: not typing
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
        self._edit(self._buf[:self._cursor] + [ch] + self._buf[self._cursor:], self._cursor + 1)

    def _backspace(self) -> None:
        if self._cursor > 0:
            self._kill(self._cursor - 1, self._cursor)

    def _kill(self, start: int, end: int) -> None:
        if start < end:
            self._edit(self._buf[:start] + self._buf[end:], start)

    def _kill_word(self) -> None:
        start = self._cursor
        while start > 0 and self._buf[start - 1] == " ":
            start -= 1
        while start > 0 and self._buf[start - 1] != " ":
            start -= 1
        self._kill(start, self._cursor)

    def _move_to(self, position: int) -> None:
        self._edit(self._buf, position)

    def _replace_line(self, text: str) -> None:
        self._edit(list(text[:self.max_length]), min(len(text), self.max_length))

    # ---- drawing ----------------------------------------------------------------------------
    def _room(self) -> int:
        """Columns for the line after the prompt; the last column stays free so the cursor
        never reaches it (a terminal would wrap there and backspace cannot come back)."""
        return max(8, self.width - len(self.prompt) - 1) if self.width else 1 << 30

    def _fits(self, buf: list[str] | None = None) -> bool:
        return len(self._buf if buf is None else buf) <= self._room()

    def _edit(self, new: list[str], cursor: int) -> None:
        """Make the line `new` with the cursor at `cursor`, echoing the least that shows it."""
        old, old_cursor = self._buf, self._cursor
        self._buf, self._cursor = new, cursor
        if not self.echo:
            return
        if self._offset == 0 and self._fits(old) and self._fits(new):
            self._draw_change(old, old_cursor)
        elif (self._offset > 0 and cursor == len(new) == len(old) + 1 == old_cursor + 1
              and new[:-1] == old and cursor - self._offset < self._room()):
            self._write(new[-1])  # typing (or a paste) at the end of a scrolled line
        else:
            self._out += b"\r"
            self._draw_window()

    def _draw_change(self, old: list[str], old_cursor: int) -> None:
        new = self._buf
        if old == new:
            # Only the cursor moves: write the characters it passes, or back up over them.
            if self._cursor >= old_cursor:
                self._write("".join(new[old_cursor:self._cursor]))
            else:
                self._out += b"\b" * (old_cursor - self._cursor)
            return
        same = 0
        while same < min(len(old), len(new)) and old[same] == new[same]:
            same += 1
        start = min(same, old_cursor)
        self._out += b"\b" * (old_cursor - start)
        self._write("".join(new[start:]))
        if len(new) < len(old):
            self._out += ERASE_TO_END
        self._out += b"\b" * (len(new) - self._cursor)

    def _draw_window(self) -> None:
        """Redraw prompt and the visible part of a line wider than the terminal, IOS style:
        `$` at an end marks text scrolled out of view."""
        room = self._room()
        if self._cursor < self._offset + 1:
            self._offset = max(0, self._cursor - room // 2)
        elif self._cursor > self._offset + room - 1:
            # Jump half a window, so typing on goes on without redrawing at every character.
            self._offset = self._cursor - room // 2
        if self._fits():
            self._offset = 0
        shown = list(self._buf[self._offset:self._offset + room])
        if self._offset > 0:
            shown[0] = "$"
        if self._offset + room < len(self._buf):
            shown[-1] = "$"
        self._write(self.prompt + "".join(shown))
        self._out += ERASE_TO_END + b"\b" * (len(shown) - (self._cursor - self._offset))

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
