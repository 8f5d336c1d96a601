"""Where each key of a TOML document was written.

tomllib gives values without positions, so this scanner walks the (already tomllib-valid)
text once and records, for every table header and every key, the line and column where it
appears, under the same key path the validator uses: ("span", 1, "crc4") for the `crc4` key of
the second `[[span]]`.  Values inside inline tables and arrays are not indexed; an error there is
reported at the line of the key that holds them (see `Locations.find`).
"""

from __future__ import annotations

import bisect

_BARE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
_ESCAPES = {"b": "\b", "t": "\t", "n": "\n", "f": "\f", "r": "\r", '"': '"', "\\": "\\", "e": "\x1b"}


class Locations:
    def __init__(self, text: str):
        self._text = text
        self._line_starts = [0] + [i + 1 for i, c in enumerate(text) if c == "\n"]
        self.positions: dict[tuple, tuple[int, int]] = {}
        # A key or [table] written twice: (path, where, where first); tomllib reports these
        # only "at end of document", so the loader takes the place from here.
        self.duplicates: list[tuple[tuple, tuple[int, int], tuple[int, int]]] = []
        self._defined: dict[tuple, tuple[int, int]] = {}
        self._aot_counts: dict[tuple, int] = {}
        self._pos = 0
        self._scan()

    def find(self, path: tuple) -> tuple[int | None, int | None]:
        """Line and column (1-based) of `path`, or of its nearest written ancestor."""
        for end in range(len(path), 0, -1):
            where = self.positions.get(tuple(path[:end]))
            if where is not None:
                return where
        return None, None

    # -- scanning ---------------------------------------------------------------------------

    def _where(self, pos: int) -> tuple[int, int]:
        line = bisect.bisect_right(self._line_starts, pos)
        return line, pos - self._line_starts[line - 1] + 1

    def _peek(self, offset: int = 0) -> str:
        i = self._pos + offset
        return self._text[i] if i < len(self._text) else ""

    def _remember(self, path: tuple, pos: int) -> None:
        self.positions.setdefault(path, self._where(pos))

    def _define(self, path: tuple, pos: int) -> None:
        where = self._where(pos)
        first = self._defined.setdefault(path, where)
        if first != where:
            self.duplicates.append((path, where, first))

    def _scan(self) -> None:
        table: tuple = ()
        while self._pos < len(self._text):
            self._skip_blank(newlines=True)
            c = self._peek()
            if not c:
                return
            start = self._pos
            if c == "[":
                is_array = self._peek(1) == "["
                self._pos += 2 if is_array else 1
                keys = self._read_key()
                self._pos += 2 if is_array else 1
                table = self._resolve_header(keys, is_array)
                for end in range(1, len(table) + 1):  # [[network.vlan]] also locates network
                    self._remember(table[:end], start)
                self._define(table, start)
                self._skip_to_line_end()
            else:
                keys = self._read_key()
                for i in range(1, len(keys) + 1):
                    self._remember(table + tuple(keys[:i]), start)
                self._define(table + tuple(keys), start)
                self._skip_blank()
                self._pos += 1  # '='
                self._skip_value()

    def _resolve_header(self, keys: list[str], is_array: bool) -> tuple:
        resolved: tuple = ()
        for i, key in enumerate(keys):
            resolved += (key,)
            last = i == len(keys) - 1
            if last and is_array:
                index = self._aot_counts.get(resolved, 0)
                self._aot_counts[resolved] = index + 1
                resolved += (index,)
            elif resolved in self._aot_counts:
                resolved += (self._aot_counts[resolved] - 1,)
        return resolved

    def _skip_blank(self, newlines: bool = False) -> None:
        while True:
            c = self._peek()
            if c in (" ", "\t") or (newlines and c in ("\n", "\r")):
                self._pos += 1
            elif c == "#" and newlines:
                self._skip_to_line_end()
            else:
                return

    def _skip_to_line_end(self) -> None:
        end = self._text.find("\n", self._pos)
        self._pos = len(self._text) if end < 0 else end + 1

    def _read_key(self) -> list[str]:
        keys = []
        while True:
            self._skip_blank()
            keys.append(self._read_simple_key())
            self._skip_blank()
            if self._peek() != ".":
                return keys
            self._pos += 1

    def _read_simple_key(self) -> str:
        c = self._peek()
        if c == '"':
            return self._read_basic_string()
        if c == "'":
            end = self._text.find("'", self._pos + 1)
            end = len(self._text) if end < 0 else end
            key = self._text[self._pos + 1:end]
            self._pos = end + 1
            return key
        start = self._pos
        while self._peek() and self._peek() in _BARE:
            self._pos += 1
        return self._text[start:self._pos]

    def _read_basic_string(self) -> str:
        self._pos += 1
        out = []
        while self._pos < len(self._text):
            c = self._text[self._pos]
            if c == '"':
                self._pos += 1
                break
            if c == "\\":
                code = self._peek(1)
                if code in ("u", "U"):
                    width = 4 if code == "u" else 8
                    digits = self._text[self._pos + 2:self._pos + 2 + width]
                    try:
                        out.append(chr(int(digits, 16)))
                    except ValueError:
                        out.append(digits)
                    self._pos += 2 + width
                    continue
                out.append(_ESCAPES.get(code, code))
                self._pos += 2
                continue
            out.append(c)
            self._pos += 1
        return "".join(out)

    def _skip_value(self) -> None:
        depth = 0
        text = self._text
        while self._pos < len(text):
            c = text[self._pos]
            if c in ('"', "'"):
                if text.startswith(c * 3, self._pos):
                    self._skip_multiline_string(c)
                elif c == '"':
                    self._read_basic_string()
                else:
                    end = text.find("'", self._pos + 1)
                    self._pos = len(text) if end < 0 else end + 1
                continue
            if c in "[{":
                depth += 1
            elif c in "]}":
                depth -= 1
            elif c == "#":
                self._skip_to_line_end()
                if depth <= 0:
                    return
                continue
            elif c == "\n" and depth <= 0:
                self._pos += 1
                return
            self._pos += 1

    def _skip_multiline_string(self, quote: str) -> None:
        text = self._text
        i = self._pos + 3
        while i < len(text):
            if quote == '"' and text[i] == "\\":
                i += 2
                continue
            if text.startswith(quote * 3, i):
                i += 3
                extra = 0
                while extra < 2 and i < len(text) and text[i] == quote:  # """a""""" ends with quotes
                    i += 1
                    extra += 1
                break
            i += 1
        self._pos = min(i, len(text))
