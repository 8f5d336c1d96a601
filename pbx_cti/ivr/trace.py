"""What an IVR session did, step by step: one small event per step, published on the box's bus
by whoever runs the session (`IvrSession(..., trace=bus.publish)`), shown live by the
console's `debug ivr` and kept by anything else that subscribes (a log, a recorder).

Every event is a runtime.bus.Event (its `time` is the one clock's `now`) with the call it
belongs to and the node it happened in; `text` is the line `debug ivr` prints."""

from __future__ import annotations

from dataclasses import dataclass

from runtime.bus import Event


@dataclass(frozen=True)
class IvrTrace(Event):
    call: str
    node: str

    @property
    def text(self) -> str:
        return f"IVR {self.call}: {self.node}: {self.detail()}"

    def detail(self) -> str:
        return type(self).__name__


@dataclass(frozen=True)
class IvrNodeEntered(IvrTrace):
    node_type: str

    def detail(self) -> str:
        return f"enter {self.node_type}"


@dataclass(frozen=True)
class IvrDigit(IvrTrace):
    digit: str
    handling: str  # "collected", "barge-in", "terminator", "stops recording", "ignored (...)"

    def detail(self) -> str:
        return f"digit {self.digit} {self.handling}"


@dataclass(frozen=True)
class IvrCollectResult(IvrTrace):
    outcome: str  # "success", "no input", "invalid", "max retries"
    digits: str
    no_input_count: int
    invalid_count: int

    def detail(self) -> str:
        return (f"collect {self.outcome} digits={self.digits!r} "
                f"(no input {self.no_input_count}, invalid {self.invalid_count})")


@dataclass(frozen=True)
class IvrLookupResult(IvrTrace):
    outcome: str  # "ok", "not found", "error", "timeout"
    detail_text: str

    def detail(self) -> str:
        return f"lookup {self.outcome}" + (f": {self.detail_text}" if self.detail_text else "")


@dataclass(frozen=True)
class IvrVariablesSet(IvrTrace):
    values: tuple[tuple[str, str], ...]

    def detail(self) -> str:
        return "set " + ", ".join(f"{k}={v!r}" for k, v in self.values)


@dataclass(frozen=True)
class IvrBranch(IvrTrace):
    taken: str  # "case[0]: choice equals '1'" or "otherwise"
    target: str

    def detail(self) -> str:
        return f"branch {self.taken} -> {self.target}"


@dataclass(frozen=True)
class IvrAction(IvrTrace):
    action: str  # the action as repr'd, e.g. "Play(id=1, prompts=('greeting',), barge_in=False)"

    def detail(self) -> str:
        return f"-> {self.action}"


@dataclass(frozen=True)
class IvrEnded(IvrTrace):
    reason: str

    def detail(self) -> str:
        return f"end: {self.reason}"
