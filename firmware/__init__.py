"""What makes the box a gateway appliance: the one clock, the event bus, ISDN, gateway,
configuration, daemon, console, network and update agent.

Kept import-light: drivers and protocol cores import `firmware.clock` and `firmware.bus`.
"""
