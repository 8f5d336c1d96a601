"""`debug ivr` on the field engineer's console shows a session's steps live."""

from pathlib import Path

from tests.appliance.test_console import box_on_pty, run  # the console on a pseudo-terminal

from firmware.console import builtin
from firmware.console.commands import CommandTree
from pbx_cti.ivr import console_commands
from pbx_cti.ivr.flow import load_flow_file
from pbx_cti.ivr.session import IvrSession

DEFAULT_FLOW = Path(__file__).resolve().parents[2] / "pbx_cti" / "ivr" / "default" / "main.toml"


def test_debug_ivr_traces_a_session_step_by_step(tmp_path):
    tree = CommandTree()
    builtin.install(tree)
    console_commands.install(tree)
    flow = load_flow_file(DEFAULT_FLOW)

    async def main():
        async with box_on_pty(tmp_path, tree=tree) as box:
            await box.login()
            out = await box.run("debug ivr")
            assert "IVR steps debugging is on" in out
            session = IvrSession(flow, {"call_id": "Se1:15/B3", "calling": "0212345678"}, box.clock.now(),
                                 trace=box.bus.publish)
            box.clock.advance(1.5)
            session.digit("2", box.clock.now())
            out = await box.term.expect("account_transfer: enter route")
            assert "IVR Se1:15/B3: greeting: enter play" in out
            assert "IVR Se1:15/B3: greeting: -> Play(id=1, prompts=('greeting',), barge_in=True)" in out
            assert "IVR Se1:15/B3: greeting: digit 2 barge-in" in out
            assert "IVR Se1:15/B3: menu: collect success digits='2' (no input 0, invalid 0)" in out
            assert "IVR Se1:15/B3: service: branch case[1]: menu_choice equals '2' -> transfer" in out
            out = await box.run("undebug ivr")
            assert "IVR steps debugging is off" in out
            session.caller_hung_up(box.clock.now())
            assert "caller hung up" not in await box.term.settle(0.1)
    run(main())
