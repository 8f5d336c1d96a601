"""Which connected calls are recorded, from [recording]."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RecordingPolicy:
    enabled: bool = False
    policy: str = "all"                  # all / queues / on-demand
    queues: frozenset[str] = frozenset()

    @classmethod
    def from_section(cls, section) -> "RecordingPolicy":
        if section is None:
            return cls()
        return cls(bool(section.enabled), section.policy, frozenset(section.queues))

    def should_record(self, queue: str | None, on_demand: bool = False) -> str | None:
        """Why this call is recorded — "all", "queue" or "on-demand" (the metadata's reason) —
        or None.  An agent's request is honoured under every policy while recording is enabled;
        a call the policy already records keeps the policy's reason."""
        if not self.enabled:
            return None
        if self.policy == "all":
            return "all"
        if self.policy == "queues" and queue is not None and queue in self.queues:
            return "queue"
        return "on-demand" if on_demand else None
