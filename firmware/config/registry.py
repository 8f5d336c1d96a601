"""Which sections make up the box's file.

Every module in `firmware/config/sections/` is imported and calls `register_section`; a later
layer adds its section by dropping a module there (which may import its definitions from the
layer itself), so the machinery never changes when the box learns something new.
"""

from __future__ import annotations

import importlib
import pkgutil

from .schema import Section

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
        _discovered = True
    return dict(_SECTIONS)
