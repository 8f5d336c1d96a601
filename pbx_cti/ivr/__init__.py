"""The IVR: flows as validated TOML data, a sans-I/O interpreter per call, and the asyncio
adapter that runs its HTTP and SQLite lookups off the loop.  See README.md."""

from .actions import (
    Hangup, Lookup, LookupFailure, LookupRequest, Play, Record, RouteToSkill, StartCollect, StopPlayback,
    StopRecording, Transfer,
)
from .flow import Flow, FlowError, load_flow_file, load_flow_text
from .session import IvrSession

__all__ = ["Flow", "FlowError", "load_flow_file", "load_flow_text", "IvrSession", "Play", "StopPlayback",
           "StartCollect", "Lookup", "LookupRequest", "LookupFailure", "RouteToSkill", "Transfer", "Record",
           "StopRecording", "Hangup"]
