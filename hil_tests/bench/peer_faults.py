"""Peer faults with calls up, on the virtual clock: the agent's device vanishing mid-call (the
line to the agents' PBX lost for good), the agent application disconnecting mid-call, and the
070 SIP trunk vanishing mid-call (no BYE, no RTP).

These drive the whole contact center and the SIP trunk through the rigs the test suite keeps
(tests/acd/center_rig.py, tests/support/sip_pbx.py), so they run from a source checkout, as the
bench does."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

from hil_tests.bench.fault_result import FaultResult, Outcome

T309 = 6.0


def _guarded(name: str, expected: str, body) -> FaultResult:
    outcome = Outcome(name, expected)
    quiet = [logging.getLogger(n) for n in ("pribox.cdr", "pribox.cti", "pribox.pbx", "pribox.isdn")]
    levels = [logger.level for logger in quiet]
    for logger in quiet:
        logger.setLevel(logging.CRITICAL)
    try:
        with tempfile.TemporaryDirectory(prefix="pribox-peer-") as state:
            body(outcome, Path(state))
    except Exception as exc:   # a crashed fault run is a failed fault, reported
        outcome.check(False, f"the run raised {type(exc).__name__}: {exc}")
    finally:
        for logger, level in zip(quiet, levels):
            logger.setLevel(level)
    return outcome.result()


def _nothing_left(rig, out: Outcome) -> None:
    out.check(not rig.live_calls() and not rig.pbx.active and all(not s.stack.calls for s in rig.stacks),
              "no call left anywhere: carrier, core, the box's two spans, the agents' PBX")
    rows = rig.cdr_rows()
    out.check(bool(rows) and all(r.state == "closed" for r in rows), "every CDR closed")
    out.check(all(s.counters["faults"] == 0 for s in rig.stacks), "no fault counted in any stack")


def agent_device_vanishes() -> FaultResult:
    def body(out: Outcome, state: Path) -> None:
        from pbx_cti.acd.distributor import LostPolicy
        from pbx_cti.cti.model import AgentState
        from tests.acd.center_rig import EXTENSIONS, Center

        hold = 10.0
        rig = Center(state, policy=LostPolicy(device_lost="hold", hold_seconds=hold))
        try:
            rig.runner("login", "kim", EXTENSIONS["kim"])
            rig.runner("ready", "kim")
            caller = rig.place_call("1")
            rig.run(3.0)
            out.check(rig.engine.agents["kim"].state is AgentState.TALKING, "kim talks with the caller")
            call_id = next(iter(rig.core_connected()), None)
            gone_at = rig.clock.now()
            for span in rig.center_line.spans:            # the agents' side goes away for good
                span.rx_impairment.set_cut(True)
            rig.run_until(lambda: call_id in rig.distributor.parked or caller.done, 3 * T309)
            lost_after = rig.clock.now() - gone_at
            out.figures.update(agent_leg_lost_after_s=round(lost_after, 2))
            out.check(not caller.done and call_id in rig.distributor.parked and lost_after <= T309 + 1.0,
                      f"T309 clears the agent's leg ({lost_after:.1f} s) and the caller is kept on hold for "
                      f"the agent ([cti] device_lost = hold), not cleared")
            out.check(not rig.core_connected(), "the agent's leg is gone")
            rig.run(hold + 1.0)
            out.check(not caller.done and call_id not in rig.distributor.parked and call_id in rig.distributor.queued,
                      f"after {hold:g} s the caller is queued again (at the head of its queue)")
            agent = rig.engine.agents["kim"]
            out.figures["agent_state_after"] = agent.state.name
            out.check(agent.state is not AgentState.TALKING, f"kim is no longer talking ({agent.state.name})")
            for span in rig.center_line.spans:
                span.rx_impairment.set_cut(False)
            rig.run(15.0)                                    # wrap-up over, the line back
            out.figures["agent_state_after_wrap_up"] = rig.engine.agents["kim"].state.name
            if rig.engine.agents["kim"].state is not AgentState.READY and \
                    rig.engine.agents["kim"].state is not AgentState.TALKING:
                rig.runner("ready", "kim")
            rig.run(3.0)
            out.check(rig.engine.agents["kim"].state is AgentState.TALKING and not caller.done,
                      "with the device back, the same caller reaches kim")
            rig.carrier.hangup(caller)
            rig.run(2.0)
            rows = {r.call_id: r for r in rig.cdr_rows()}
            row = rows.get(call_id)
            out.check(row is not None and row.agent == "kim", "the CDR names the agent")
            _nothing_left(rig, out)
        finally:
            rig.close()

    return _guarded("peers: the agent's device vanishes mid-call",
                    "T309 clears the agent's leg; the caller is kept on hold for the agent per [cti] device_lost, "
                    "then queued again at the head; the agent leaves TALKING; once the device is back the same "
                    "caller reaches it; nothing is left behind", body)


def agent_application_disconnects() -> FaultResult:
    def body(out: Outcome, state: Path) -> None:
        from pbx_cti.cti.model import AgentState
        from tests.acd.center_rig import EXTENSIONS, Center

        rig = Center(state)
        try:
            rig.runner("login", "kim", EXTENSIONS["kim"])
            rig.runner("ready", "kim")
            caller = rig.place_call("1")
            rig.run(3.0)
            rig.runner("app_disconnected", "kim")
            rig.run(5.0)
            agent = rig.engine.agents["kim"]
            out.check(agent.state is AgentState.TALKING and bool(rig.core_connected()) and not caller.done,
                      "the conversation goes on without the application")
            rig.phones.hang_up(EXTENSIONS["kim"])
            rig.run(1.0)
            agent = rig.engine.agents["kim"]
            out.figures["agent_after"] = [agent.state.name, agent.reason]
            out.check((agent.state, agent.reason) == (AgentState.NOT_READY, "app-disconnected"),
                      "once the call ends the agent is NOT_READY (app-disconnected): no call is offered to "
                      "an agent nobody can see")
            another = rig.place_call("1")
            rig.run(3.0)
            out.check(not rig.core_connected() and not another.done, "the next caller waits in the queue")
            rig.carrier.hangup(another)
            rig.run(2.0)
            _nothing_left(rig, out)
        finally:
            rig.close()

    return _guarded("peers: the agent application disconnects mid-call",
                    "the call goes on; the agent goes NOT_READY when it ends; nothing is offered to it", body)


def sip_trunk_vanishes(wait: float = 150.0) -> FaultResult:
    def body(out: Outcome, state: Path) -> None:
        from pbx_cti.ivr.prompts_setup import make_prompts
        from pbx_cti.pbx.model import CallEnded
        from pbx_cti.pbx.sip_legs import MEDIA_TIMEOUT
        from tests.pbx.test_pbx_outbound import CENTER
        from tests.support.pbx_line import pbx_config
        from tests.support.sip_pbx import CARRIER, SIP070, SipPbx

        make_prompts(state, report=lambda line: None)
        rig = SipPbx(pbx_config(state, SIP070 + CENTER), center=True, phone_call_seconds=3600.0)
        try:
            rig.up()
            call = rig.place_call(called="2001")
            rig.run_until(lambda: call.answered, 5.0)
            rig.run(1.0)
            rig.box.endpoint.transport.network.pop(CARRIER)      # the trunk is gone: nothing reaches it
            rig.carrier.endpoint.transport.network = {}          # and nothing comes from it
            rig.carrier_rtp.close(call.leg.leg)                  # RTP stops too
            gone_at = rig.clock.now()
            rig.run_until(lambda: all(not s.stack.calls for s in rig.stacks), wait, raise_timeout=False)
            freed_after = rig.clock.now() - gone_at
            out.figures["extension_freed_after_s"] = round(freed_after, 1)
            out.check(all(not s.stack.calls for s in rig.stacks) and freed_after <= MEDIA_TIMEOUT + 15,
                      f"the agent's extension is freed once the media timeout ({MEDIA_TIMEOUT:g} s) finds "
                      f"no RTP and no RTCP ({freed_after:.0f} s)")
            rig.run_until(lambda: bool(rig.of(CallEnded)), wait, raise_timeout=False)
            ended = rig.of(CallEnded)
            out.figures["call_ended_after_s"] = round(rig.clock.now() - gone_at, 1)
            out.check(bool(ended) and ended[0].summary["cause"] == 102 and ended[0].summary["cleared_by"] == "box",
                      "the call ends, cleared by the box with cause 102 (recovery on timer expiry), once the "
                      "BYE to the dead trunk has timed out")
            out.check(rig.pool.legs_open() == 0 and not rig.pbx.active, "its RTP leg is back in the pool")
        finally:
            rig.close()

    return _guarded("peers: the 070 SIP trunk vanishes mid-call",
                    "the media timeout finds no RTP and no RTCP: the box clears the call (cause 102) and frees "
                    "the agent's extension", body)


PEER_FAULTS = [
    (agent_device_vanishes, ()),
    (agent_application_disconnects, ()),
    (sip_trunk_vanishes, ()),
]
