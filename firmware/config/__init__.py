"""The box's configuration: one TOML file, validated by sections that each layer owns, stored
as candidate / committed / history in a state directory with commit-confirmed rollback.

    from firmware.config import load_file, load_text, ConfigError, Store
"""

from .errors import ConfigError, ConfigIssue
from .loader import Config, load_bytes, load_file, load_text
from .registry import all_sections, register_section

__all__ = ["Config", "ConfigError", "ConfigIssue", "load_bytes", "load_file", "load_text",
           "all_sections", "register_section"]
