"""The serial console for field engineers.

Public API for other layers:
  commands.registry / Arg / int_range  — add `show ...` and other commands
  debugging.register_debug_topic        — add a `debug ...` topic fed from the event bus
  services.ConsoleServices              — what the daemon hands the console
  transport.SerialConsole               — serve a session on a serial device
"""

from . import builtin as _builtin  # noqa: F401  (installs the console's own commands)
from . import span_commands as _span_commands  # noqa: F401  (show span, loopback, bert)
from . import isdn_debug as _isdn_debug  # noqa: F401  (debug isdn q931)
from firmware.update import console as _update_console  # noqa: F401,E402  (upgrade ...)
from firmware.network import console as _network_console  # noqa: F401,E402  (show interfaces)
from firmware.gateway import console as _gateway_console  # noqa: F401,E402  (test number)
from firmware.syslog import console as _syslog_console  # noqa: F401,E402  (show logging)
from firmware.capture import console as _capture_console  # noqa: F401,E402  (monitor capture)
