"""The CTI core: agents, skill groups, queues and routing (engine), its event log and the
statistics derived from it.  See README.md."""

from .decisions import Announce, AgentStateChanged, Decision, Offer, PendingStateChange, WithdrawOffer
from .engine import CtiEngine
from .eventlog import LogRecord, MemoryEventStore, SqliteEventStore
from .model import (AgentConfig, AgentState, ConfigurationError, CtiConfig, CtiError, InvalidTransition,
                    QueueConfig, Strategy, UnknownAgent, UnknownCaller, config_from_mapping)

__all__ = ["Announce", "AgentStateChanged", "Decision", "Offer", "PendingStateChange", "WithdrawOffer",
           "CtiEngine", "LogRecord", "MemoryEventStore", "SqliteEventStore", "AgentConfig", "AgentState",
           "ConfigurationError", "CtiConfig", "CtiError", "InvalidTransition", "QueueConfig", "Strategy",
           "UnknownAgent", "UnknownCaller", "config_from_mapping"]
