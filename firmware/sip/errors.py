"""The one error type of the SIP core: what was wrong, where, and which status answers it."""

from __future__ import annotations


class SipError(Exception):
    """A message (or a part of one) we cannot accept.

    `status` is the response a server sends for it (400 for syntax, 505 for the version, 416 for
    the URI scheme, 420 for Require, 415 for Content-Type, 413/513 for size); `header` names the
    header field at fault (None for the start line or the framing); `reason` says what was wrong
    and becomes the reason phrase of that response.
    """

    def __init__(self, reason: str, status: int = 400, header: str | None = None,
                 extra_headers: tuple[tuple[str, str], ...] = ()):
        self.reason = reason
        self.status = status
        self.header = header
        # Headers the error response must carry (Unsupported for 420, Accept for 415, ...).
        self.extra_headers = extra_headers
        self.raw = b""  # the octets of the message at fault, when a framer had them
        super().__init__(self.phrase)

    @property
    def phrase(self) -> str:
        """The reason phrase of the answering response: names the header and the fault."""
        text = f"Bad {self.header}: {self.reason}" if self.header else self.reason
        # A reason phrase is one line of printable text; keep it short and clean.
        text = "".join(ch if " " <= ch <= "~" else "?" for ch in text)
        return text[:120]

    def __repr__(self) -> str:
        return f"SipError({self.status}, {self.phrase!r})"
