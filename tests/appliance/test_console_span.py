"""Span commands at the console over a real emulated E1 line (drivers.lockstep): the console's
clock is the line's ManualClock, so `show span` reads a line that actually ran."""

import asyncio

from drivers.lockstep import LockstepLine
from firmware.console.services import StandaloneServices
from firmware.console.session import ConsoleSession
from firmware.console.testing import PtyPair, Terminal
from firmware.console.transport import SerialConsole
from firmware.console.users import UserStore


def test_show_span_loopback_bert_and_debug_span_on_an_emulated_line(tmp_path):
    async def main():
        with LockstepLine() as line:
            line.run_until(line.aligned, timeout=0.5)
            users = UserStore(None, cost={"n": 2 ** 10, "r": 8, "p": 1})
            users.set_password("admin", "admin password", role="admin")
            services = StandaloneServices(bus=line.bus, clock=line.clock, hostname="gw",
                                          upload_dir=tmp_path, spans={1: line.nt, 2: line.te})
            pty = PtyPair()
            console = SerialConsole(pty.slave_path, lambda p, w: ConsoleSession(
                services, users, pending_output=p, wakeup=w), clock=line.clock)
            console.start()
            term = Terminal(pty.master_fd, asyncio.get_running_loop())

            async def run(command, prompt="gw#"):
                term.send(command + "\r")
                return await term.expect(f"{command}\r\n(.|\r\n)*?{prompt}")

            try:
                await term.expect("Username: ")
                term.send("admin\radmin password\r")
                await term.expect("gw#")
                await run("terminal length 0")
                out = await run("show span 1")
                assert "E1 1 is up.\r\n  Side NT, A-law" in out
                assert "No alarms detected." in out and "Framing is CRC4, Clock Source is Internal." in out
                assert "Data in current interval" in out and "Far End Block Errors" in out
                out = await run("sh span")
                assert "E1 1 is up." in out and "E1 2 is up.\r\n  Side TE" in out
                out = await run("show span 3")
                assert "% No span 3 (spans: 1, 2)" in out
                term.send("show span \t")
                await term.expect("1  2\r\ngw#show span ")
                term.send("\x15")

                # A far-end loop and a BERT from the near end: the pattern comes back clean.
                out = await run("loopback 2 line")
                assert "E1 2: line loopback on" in out
                out = await run("bert start 1 1-15,17-31")
                assert "E1 1: BERT started, 2^15-1 pattern on timeslots 1-15,17-31" in out
                line.run(1.0)
                out = await run("bert show 1")
                assert "E1 1 BERT running, in sync:" in out and " 0 bit errors (BER 0.0e+00)" in out
                out = await run("bert stop 1")
                assert "E1 1: BERT stopped\r\nE1 1 BERT stopped, in sync" in out
                out = await run("show span 2")
                assert "In line loopback." in out
                await run("loopback 2 none")
                out = await run("bert start 1 0-3")
                assert "% Invalid <timeslots> '0-3': timeslots run from 1 to 31" in out

                # Cut the line: the alarms appear live between prompts.
                out = await run("debug span")
                assert "E1 span alarms, alignment and slips debugging is on" in out
                line.te.rx_impairment.set_cut(True)
                line.run(0.2)
                out = await term.expect(r"E1 2: alarms LOS.*\r\ngw#")
                assert "(raised LOS" in out
                line.te.rx_impairment.set_cut(False)
                line.run(0.5)
                await term.expect(r"E1 2: frame aligned, CRC-4 aligned")
                await run("undebug all")
                out = await run("show span 2")
                assert "E1 2 is up." in out
            finally:
                term.close()
                console.close()
                pty.close()
    asyncio.run(main())
