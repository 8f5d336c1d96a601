"""[console]: the field engineer's serial console."""

from __future__ import annotations

from ..registry import register_section
from ..schema import Bool, Choice, Field, Int, Path, Section, Seconds, Table

BAUD_RATES = (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600)

CONSOLE = register_section(Section("console", Table({
    "enabled": Field(Bool(), True),
    "device": Field(Path("a serial device path"), "/dev/ttyS0"),
    "baud": Field(Choice(*BAUD_RATES), 115200),
    "idle_timeout": Field(Seconds(min=0, max=86400), 900.0, "0 never logs out"),
    "login_attempts": Field(Int(1, 20), 5, "failures before lockout"),
    "lockout": Field(Seconds(min=0, max=86400), 60.0),
}), doc="serial console"))
