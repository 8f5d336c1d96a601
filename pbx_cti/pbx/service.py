"""The daemon's `pbx` service: it builds the `PbxPlan` from the configuration (number mapping,
dial plan, IVR flows, prompts — loaded in a worker thread, never on the loop) and keeps the one
switching core that every `[[isdn]]` span with `handler = "pbx"` hands its calls to.

A reload that changes the plan's sections restarts only this service: the core, and the calls it
carries, outlive the restart; new calls take the new plan, calls in progress finish on theirs.
The ISDN service is not restarted, so no call is cleared with cause 41 for a dial-plan edit.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from pathlib import Path

from dsp.prompts import PromptStore
from firmware.appliance.services import BOX_SERVICES, Health, Service, ServiceContext, StopReason
from firmware.gateway.plan import GatewayPlan
from firmware.isdn.handlers import register_call_handler
from firmware.isdn.q931.causes import Cause
from pbx_cti.cdr.schema import records_path
from pbx_cti.cdr.store import open_store
from pbx_cti.ivr import console_commands as _ivr_debug  # noqa: F401  (registers `debug ivr`)
from pbx_cti.ivr.config import load_flows, prompt_dir
from runtime.bus import EventBus

from .core import Pbx, PbxPlan, PbxSpanHandler
from .dialplan import DialPlan

log = logging.getLogger("pribox.pbx")

# Where the firmware image carries the default flow's prompts (images/build_image.py).
IMAGE_PROMPT_DIR = "/usr/share/pribox/prompts"

PLAN_SECTIONS = ("pbx", "dialplan", "schedule", "ivr", "gateway", "trunk_group", "translation_profile",
                 "translation_rule", "box")

# One switching core per daemon (per bus): it outlives restarts of the pbx service.
_CORES: "weakref.WeakKeyDictionary[EventBus, Pbx]" = weakref.WeakKeyDictionary()


def core_for(ctx: ServiceContext) -> Pbx:
    core = _CORES.get(ctx.bus)
    if core is None:
        core = _CORES[ctx.bus] = Pbx(_no_plan, ctx.clock, ctx.bus)
    return core


def _no_plan():
    raise RuntimeError("the pbx service has not loaded a plan")


def build_plan(config, state_dir: str | None) -> PbxPlan:
    """Everything a call is switched by, from one configuration (file I/O: run it off the loop)."""
    prompts = PromptStore()
    directory = prompt_dir(config)
    if not directory.is_dir() and Path(IMAGE_PROMPT_DIR).is_dir():
        # A fresh box: its data partition has no prompts yet, the image carries the default's.
        log.warning("the prompt directory %s does not exist: playing the image's own prompts from %s",
                    directory, IMAGE_PROMPT_DIR)
        directory = Path(IMAGE_PROMPT_DIR)
    if directory.is_dir():
        prompts.load_directory(directory)
    else:
        log.error("the prompt directory %s does not exist: the IVR will be silent "
                  "(make one with `python -m pbx_cti.ivr.prompts_setup %s`)", directory, directory)
    record_dir = Path(state_dir) / "recordings" if state_dir else None
    return PbxPlan(GatewayPlan.from_config(config), DialPlan.from_config(config), load_flows(config, check_prompts=False),
                   prompts, config.pbx.ring_seconds if config.pbx is not None else 0.0, record_dir,
                   getattr(config, "source", ""), config.pbx.extension_trunk if config.pbx is not None else None)


class PbxService(Service):
    name = "pbx"

    def __init__(self, config):
        self.config = config
        self.plan: PbxPlan | None = None
        self.core: Pbx | None = None

    async def start(self, ctx: ServiceContext) -> None:
        self.plan = await asyncio.to_thread(build_plan, self.config, ctx.state_dir)
        self.core = core_for(ctx)
        if self.core.cdr is None:      # one store for the core's life: calls outlive restarts
            self.core.cdr = await asyncio.to_thread(open_store, records_path(ctx.state_dir))
        plan = self.plan
        self.core.plan_source = lambda: plan
        log.info("pbx: plan loaded: %d dial-plan entries, %d IVR flows, %d prompts",
                 len(plan.dialplan.entries), len(plan.flows), len(plan.prompts))

    async def run(self) -> None:
        await asyncio.Event().wait()

    async def stop(self, reason: StopReason) -> None:
        # On a reload the core and its calls stay: the next start gives it a new plan.  At
        # shutdown the ISDN service has cleared the calls already (it stops first): their
        # records are closed, and the store is flushed and let go.
        if reason is not StopReason.SHUTDOWN or self.core is None:
            return
        core = self.core
        for active in list(core.active.values()):     # whichever service stops first clears them
            core.clear(active, Cause.TEMPORARY_FAILURE)
        for _ in range(150):
            if not core.active:
                break
            await asyncio.sleep(0.01)
        if core.cdr is not None:
            store, core.cdr = core.cdr, None
            await asyncio.to_thread(store.stop)

    def health(self) -> Health:
        if self.plan is None:
            return Health(False, "no plan loaded")
        calls = len(self.core.active) if self.core else 0
        return Health(True, f"{len(self.plan.dialplan.entries)} dial-plan entries, {len(self.plan.flows)} flows, "
                            f"{len(self.plan.prompts)} prompts, {calls} call{'s' if calls != 1 else ''}")


class _LateHandler:
    """A span's handler while no pbx service runs (not configured, or restarting): calls are
    refused with cause 41 so the carrier tries again or elsewhere."""

    def __init__(self, isdn, ctx):
        self.isdn, self.ctx = isdn, ctx

    def on_event(self, event) -> None:
        core = _CORES.get(self.ctx.bus)
        if core is not None:
            core.attach_span(self.isdn)
        service = self.ctx.peer("pbx")
        if service is not None and service.core is not None:
            PbxSpanHandler(self.isdn, service.core).on_event(event)
            return
        from firmware.isdn.q931.events import IncomingCall
        if isinstance(event, IncomingCall):
            log.error("span %d: a call came in but the pbx service is not running: refused with cause 41",
                      self.isdn.span_id)
            self.isdn.try_disconnect(event.call_id, Cause.TEMPORARY_FAILURE)
        else:
            core = _CORES.get(self.ctx.bus)
            if core is not None:
                core.on_event(self.isdn, event)

    def close(self) -> None:
        core = _CORES.get(self.ctx.bus)
        if core is not None:
            core.close_span(self.isdn)

    def cleared_locally(self, q931_id: int, cause: int) -> None:
        core = _CORES.get(self.ctx.bus)
        if core is not None:
            core.cleared_locally(self.isdn.span_id, q931_id, cause)

    def describe_call(self, q931_id: int) -> list[str]:
        core = _CORES.get(self.ctx.bus)
        return core.describe_call(self.isdn.span_id, q931_id) if core is not None else []


register_call_handler("pbx", _LateHandler)


def _pbx_from_config(config) -> PbxService | None:
    sip_calls = bool(getattr(config, "sip_trunk", None)) and config.sip.handler == "pbx"
    if not sip_calls and not any(entry.handler == "pbx" for entry in config.isdn or ()):
        return None
    return PbxService(config)


BOX_SERVICES.add("pbx", _pbx_from_config, sections=PLAN_SECTIONS)
