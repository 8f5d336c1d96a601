"""What one fault run found: the outcome the standard or the design promises, what the box did,
and the figures behind it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class FaultResult:
    name: str
    expected: str
    observed: str
    passed: bool
    figures: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


class Outcome:
    """Collects the checks of one fault: each a claim and whether it held; the result passes
    when every claim held, and says which did not."""

    def __init__(self, name: str, expected: str):
        self.name, self.expected = name, expected
        self.held: list[str] = []
        self.failed: list[str] = []
        self.figures: dict = {}

    def check(self, ok: bool, claim: str) -> bool:
        (self.held if ok else self.failed).append(claim)
        return ok

    def result(self) -> FaultResult:
        if self.failed:
            observed = "NOT: " + "; ".join(self.failed) + (" | held: " + "; ".join(self.held) if self.held else "")
        else:
            observed = "; ".join(self.held)
        return FaultResult(self.name, self.expected, observed, not self.failed and bool(self.held), self.figures)
