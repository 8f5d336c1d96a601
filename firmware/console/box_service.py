"""Importing this module adds the console to the daemon's BOX_SERVICES (listed in
firmware/appliance/services.py SERVICE_MODULES to be served by `pribox run`)."""

from firmware.appliance.services import BOX_SERVICES

from .daemon_service import register

if "console" not in BOX_SERVICES:
    register(BOX_SERVICES)
