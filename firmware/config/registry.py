"""Which sections make up the box's file.

Every module in `firmware/config/sections/` is imported and calls `register_section`; a layer
above the firmware (the contact center) names its own section modules in SECTION_MODULES, one
line each, so the configuration machinery never imports the layers above it.
"""

from __future__ import annotations

import importlib
import pkgutil

from .schema import Section

# Section modules of the layers above the firmware, imported by name like the daemon's
# SERVICE_MODULES (firmware/appliance/services.py).
SECTION_MODULES: tuple[str, ...] = (
    "pbx_cti.ivr.config_section",
    "pbx_cti.pbx.config_section",
    "pbx_cti.api.config_section",
    "pbx_cti.recording.config_section",
    "pbx_cti.notify.config_section",
    "pbx_cti.webrtc.config_section",
)

_SECTIONS: dict[str, Section] = {}
_discovered = False


def register_section(section: Section) -> Section:
    existing = _SECTIONS.get(section.name)
    if existing is not None and existing is not section:
        raise ValueError(f"configuration section [{section.name}] is defined twice")
    _SECTIONS[section.name] = section
    return section


def all_sections() -> dict[str, Section]:
    global _discovered
    if not _discovered:
        from . import sections as package

        for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
            importlib.import_module(f"{package.__name__}.{info.name}")
        for module in SECTION_MODULES:
            importlib.import_module(module)
        _discovered = True
    return dict(_SECTIONS)
