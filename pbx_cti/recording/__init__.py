"""Call recording: stereo WAV of connected calls, their metadata, policy, retention, download."""

from .policy import RecordingPolicy
from .recorder import CallRecorder
from .store import RecordingRow, RecordingStore

__all__ = ["CallRecorder", "RecordingPolicy", "RecordingRow", "RecordingStore"]
