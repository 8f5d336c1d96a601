"""Q.931 call control for an E1 PRI (ETSI EN 300 403-1), both user and network side.
See link.py for the API the layers above use."""

from .calls import Q931Timers
from .causes import Cause, cause_name
from .link import CallStateError, Q931Link

__all__ = ["Q931Link", "Q931Timers", "Cause", "cause_name", "CallStateError"]
