"""[ivr]: the IVR's flow files and prompt directory (definitions live with the IVR itself,
pbx_cti/ivr/config.py); the check loads every flow file the section lists."""

from __future__ import annotations

from pbx_cti.ivr.config import IVR_TABLE, check_ivr_section

from firmware.config.registry import register_section
from firmware.config.schema import Section

IVR = register_section(Section("ivr", IVR_TABLE, doc="IVR flows and prompts", checks=[check_ivr_section],
                               files=lambda ivr: list(ivr.flows)))
