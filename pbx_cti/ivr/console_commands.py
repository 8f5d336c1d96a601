"""`debug ivr` on the console: every step of every IVR session, live.

Sessions publish their trace events (trace.py) on the box's bus; this topic shows them.  The
module registers the topic when imported: whoever runs IVR sessions (the pbx service) imports
it, as firmware/isdn/service.py imports the ISDN console commands."""

from __future__ import annotations

from firmware.console.commands import CommandTree, registry
from firmware.console.debugging import register_debug_topic

from .trace import IvrTrace


def install(tree: CommandTree = registry) -> None:
    register_debug_topic("ivr", "IVR steps", kinds=(IvrTrace,), format=lambda event: event.text, tree=tree)


install()
