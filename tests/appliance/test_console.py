"""The serial console driven through a pseudo-terminal, as a field engineer would."""

import asyncio
import contextlib
import re
from dataclasses import dataclass

from runtime.bus import Event, EventBus
from runtime.clock import ManualClock
from firmware.console.commands import registry
from firmware.console.services import StandaloneServices
from firmware.console.session import ConsoleSession
from firmware.console.testing import PtyPair, Terminal
from firmware.console.transport import SerialConsole
from firmware.console.users import UserStore

FAST_SCRYPT = {"n": 2 ** 10, "r": 8, "p": 1}   # the real cost is 2**14; tests need speed
ADMIN_PW = "correct horse"


@dataclass
class Box:
    clock: ManualClock
    bus: EventBus
    services: StandaloneServices
    users: UserStore
    console: SerialConsole
    term: Terminal
    reloads: list

    async def login(self, user="admin", password=ADMIN_PW):
        await self.term.expect("Username: ")
        self.term.send(user + "\r")
        await self.term.expect("Password: ")
        self.term.send(password + "\r")
        await self.term.expect(r"pribox[#>]")

    async def run(self, line, until=r"(?:^|\r\n)pribox[#>]"):
        """Type a command; return from its echo to `until` (output left over from before,
        such as a redrawn prompt, is skipped)."""
        self.term.send(line + "\r")
        echo = await self.term.expect(re.escape(line) + "\r\n")
        return echo[echo.rindex(line):] + await self.term.expect(until)


@contextlib.asynccontextmanager
async def box_on_pty(tmp_path, *, users=True, idle_timeout=600.0, config_text=None,
                     tree=registry):
    clock = ManualClock(1000.0)
    bus = EventBus()
    store = UserStore(tmp_path / "users.json", cost=FAST_SCRYPT)
    if users:
        store.set_password("admin", ADMIN_PW, role="admin")
        store.set_password("oper", "operator pw", role="operator")
    config_path = None
    if config_text is not None:
        config_path = tmp_path / "pribox.toml"
        config_path.write_text(config_text)
    reloads = []
    services = StandaloneServices(bus=bus, clock=clock, upload_dir=tmp_path / "uploads",
                                  config_path=config_path, hostname="pribox",
                                  on_reload=lambda: reloads.append(clock.now()),
                                  wall_clock=lambda: 1795708800.25)  # 2026-11-26 16:00:00.250 UTC
    pty = PtyPair()
    loop = asyncio.get_running_loop()
    console = SerialConsole(
        pty.slave_path,
        lambda pending, wakeup: ConsoleSession(services, store, idle_timeout=idle_timeout,
                                               pending_output=pending, wakeup=wakeup,
                                               tree=tree),
        clock=clock)
    console.start()
    term = Terminal(pty.master_fd, loop)
    try:
        yield Box(clock, bus, services, store, console, term, reloads)
    finally:
        term.close()
        console.close()
        pty.close()


async def send_file(box, argv):
    """Start a sender as an engineer does after the box said it is ready.  The box repeats
    its 'C' (or NAK) every 3 s on the one clock until the sender answers; the test moves that
    clock while the sender has not started, so the real process sees a fresh request."""
    async def nudge():
        while box.term.sender_bytes == 0:
            await asyncio.sleep(0.05)
            box.clock.advance(3.0)
    nudger = asyncio.create_task(nudge())
    try:
        result = await box.term.send_file(argv)
    finally:
        nudger.cancel()
    box.clock.advance(1.0)   # the box waits a second for the terminal program to step back
    return result


def run(coro):
    return asyncio.run(coro)


def test_login_and_show_version(tmp_path):
    async def main():
        async with box_on_pty(tmp_path) as box:
            await box.login()
            out = await box.run("show version")
            assert "pribox E1/PRI gateway firmware, version" in out
            assert "pribox uptime is 0 seconds" in out
    run(main())


def test_wrong_passwords_lock_the_user_out_on_the_one_clock(tmp_path):
    async def main():
        async with box_on_pty(tmp_path) as box:
            for attempt in range(4):
                await box.term.expect("Username: ")
                box.term.send("admin\r")
                await box.term.expect("Password: ")
                box.term.send(f"wrong{attempt}\r")
                assert "% Login invalid" in await box.term.expect("Login invalid")
            await box.term.expect("Username: ")
            box.term.send("admin\rwrong again\r")
            await box.term.expect(r"5 failures: user admin locked out for 60 s")
            # The right password is refused while locked, without even being checked.
            box.term.send("admin\r" + ADMIN_PW + "\r")
            await box.term.expect(r"% User admin is locked out for another 60 s")
            box.clock.advance(30)
            box.term.send("admin\r" + ADMIN_PW + "\r")
            await box.term.expect(r"another 30 s")
            box.clock.advance(30)
            await box.login()
            # Unknown names count too, so the answers do not reveal which users exist.
            out = await box.run("exit", until="Username: ")
            assert "admin logged out" in out
            for _ in range(5):
                box.term.send("nobody\rguess\r")
            await box.term.expect("user nobody locked out for 60 s")
    run(main())


def test_first_boot_asks_for_the_admin_password_there_is_no_default(tmp_path):
    async def main():
        async with box_on_pty(tmp_path, users=False) as box:
            await box.term.expect("no default password")
            await box.term.expect("New admin password: ")
            box.term.send("short\r")
            await box.term.expect("Repeat admin password: ")
            box.term.send("short\r")
            await box.term.expect("password too short: at least 8 characters")
            box.term.send("first password\r")
            await box.term.expect("Repeat admin password: ")
            box.term.send("other password\r")
            await box.term.expect("The passwords differ, try again")
            box.term.send("first password\r")
            await box.term.expect("Repeat admin password: ")
            box.term.send("first password\r")
            await box.term.expect("Password for 'admin' set.")
            await box.login("admin", "first password")
        stored = (tmp_path / "users.json").read_text()
        assert "first password" not in stored and '"password_hash": "scrypt:1024:8:1:' in stored
        assert oct((tmp_path / "users.json").stat().st_mode & 0o777) == "0o600"
        # Nothing echoed the password back to the screen.
        assert b"first password" not in box.term.received
    run(main())


def test_idle_session_is_logged_out(tmp_path):
    async def main():
        async with box_on_pty(tmp_path, idle_timeout=300) as box:
            await box.login()
            box.clock.advance(299)
            assert await box.term.settle() == ""
            box.term.send("sh")                     # typing counts as activity
            await box.term.expect("sh")
            box.clock.advance(299)
            assert await box.term.settle() == ""
            box.clock.advance(2)
            await box.term.expect(r"% Idle for 5 minutes, logged out\r\n")
            await box.term.expect("Username: ")
    run(main())


def test_question_mark_lists_next_words_and_keeps_the_line(tmp_path):
    async def main():
        async with box_on_pty(tmp_path) as box:
            await box.login()
            box.term.send("show ?")
            out = await box.term.expect(r"pribox#show ")
            assert "  clock           Date and time (UTC)" in out
            assert "  version         Firmware version and uptime" in out
            assert "running-config" in out and "users" in out
            box.term.send("ver?")
            out = await box.term.expect(r"pribox#show ver")
            assert "version  Firmware version and uptime" in out
            box.term.send("\x15terminal length ?")
            out = await box.term.expect(r"pribox#terminal length ")
            assert "<lines>  0 turns paging off, else 2-512" in out
            box.term.send("\x15bogus ?")
            await box.term.expect("% Unrecognized command")
    run(main())


def test_tab_completes_and_abbreviations_run(tmp_path):
    async def main():
        async with box_on_pty(tmp_path) as box:
            await box.login()
            box.term.send("sh\t")
            await box.term.expect("show ")
            box.term.send("ver\t")
            await box.term.expect("version ")
            out = await box.run("")
            assert "pribox E1/PRI gateway firmware" in out
            out = await box.run("sh ver")
            assert "pribox E1/PRI gateway firmware" in out
            box.term.send("show u\t")                  # show users / show u... unique
            await box.term.expect("show users ")
            box.term.send("\x15u\t")                   # ambiguous: Tab lists the choices
            await box.term.expect(r"undebug  upgrade  upload  username\r\npribox#u")
            box.term.send("\x15con\t")                 # a common prefix is filled in
            await box.term.expect(r"configure")
            box.term.send("\x15zz\t")                  # nothing fits: the bell
            await box.term.expect(r"\x07")
            box.term.send("\x15")
            out = await box.run("u all")
            assert '% Ambiguous command: "u"' in out
            out = await box.run("show vresion")
            assert "\r\n            ^\r\n% Invalid input detected at '^' marker." in out
            out = await box.run("terminal length 9999")
            assert "% Invalid <lines> '9999': expected a whole number from 0 to 512" in out
            out = await box.run("show")
            assert "% Incomplete command." in out
    run(main())


def test_history_arrows_and_show_history(tmp_path):
    async def main():
        async with box_on_pty(tmp_path) as box:
            await box.login()
            await box.run("show clock")
            await box.run("sh ver")
            box.term.send("\x1b[A\x1b[A")
            # "sh ver" is shown, then "show clock" over it, rewriting from the first change.
            await box.term.expect("sh ver\b\b\b\bow clock")
            out = await box.run("")
            assert "16:00:00.250 UTC Thu Nov 26 2026" in out
            out = await box.run("show history")
            assert out.split("\r\n")[1:-1] == ["  show clock", "  sh ver", "  show clock",
                                               "  show history"]
    run(main())


RUNNING = "\n".join(f"line{n:02d} = {n}" for n in range(1, 21)) + "\n"


def test_long_output_pages_with_more(tmp_path):
    async def main():
        async with box_on_pty(tmp_path, config_text=RUNNING) as box:
            await box.login()
            box.term.send("terminal length 6\r")
            await box.term.expect("pribox#")
            box.term.send("show running-config\r")
            out = await box.term.expect(" --More-- ")
            assert "Building configuration" in out and "line02" in out and "line03" not in out
            box.term.send(" ")                              # space: the next page
            out = await box.term.expect(" --More-- ")
            assert "line03" in out and "line07" in out and "line08" not in out
            box.term.send("\r")                             # enter: one more line
            out = await box.term.expect(" --More-- ")
            assert "line08" in out and "line09" not in out
            box.term.send("x")                              # any other key: bell, stay
            await box.term.expect(r"\x07")
            box.term.send("q")                              # q: stop
            out = await box.term.expect("pribox#")
            assert "line09" not in out
            box.term.send("show running-config\r")
            await box.term.expect(" --More-- ")
            box.term.send("\x03")                           # Ctrl-C stops too
            await box.term.expect("pribox#")
            out = await box.run("terminal length 0")
            out = await box.run("show running-config")
            assert "--More--" not in out and "line20 = 20" in out and out.endswith("end\r\npribox#")
    run(main())


def test_show_commands(tmp_path):
    async def main():
        async with box_on_pty(tmp_path, config_text='hostname = "pribox"\n',
                              idle_timeout=7200) as box:
            await box.login()
            box.clock.advance(3725)
            out = await box.run("show version")
            assert "pribox uptime is 1 hour, 2 minutes, 5 seconds" in out
            assert "Python 3." in out
            out = await box.run("show running-config")
            assert 'Current configuration:\r\nhostname = "pribox"\r\nend' in out
            out = await box.run("show clock")
            assert "16:00:00.250 UTC Thu Nov 26 2026" in out
            box.clock.advance(10)
            out = await box.run("show services")
            assert "% Not running under the daemon (pribox run)" in out
            out = await box.run("show users")
            assert "    Line       User             Logged in   Idle" in out
            assert "*   con0       admin             01:02:15   00:00:00" in out
    run(main())


def test_reload_asks_for_confirmation(tmp_path):
    async def main():
        async with box_on_pty(tmp_path) as box:
            await box.login()
            await box.run("reload", until=r"Proceed with reload\? \[confirm\]")
            box.term.send("n\r")
            await box.term.expect("% Reload cancelled")
            assert box.reloads == []
            await box.run("reload", until=r"\[confirm\]")
            box.term.send("\r")
            await box.term.expect("Reloading the box...")
            assert box.reloads == [1000.0]
    run(main())


def test_operator_cannot_run_admin_commands(tmp_path):
    async def main():
        async with box_on_pty(tmp_path) as box:
            await box.login("oper", "operator pw")
            out = await box.run("reload", until="pribox>")
            assert "% 'reload' needs an admin user" in out
            out = await box.run("upload ymodem", until="pribox>")
            assert "needs an admin user" in out
            out = await box.run("show version", until="pribox>")
            assert "firmware" in out
    run(main())


def test_username_adds_a_user_who_can_log_in(tmp_path):
    async def main():
        async with box_on_pty(tmp_path) as box:
            await box.login()
            await box.run("username tech operator", until="New password for tech: ")
            box.term.send("tech pass 1\r")
            await box.term.expect("Repeat password: ")
            box.term.send("tech pass 1\r")
            await box.term.expect(r"Password of tech set \(operator\)\r\npribox#")
            out = await box.run("username Bad!")
            assert "% Invalid <name> 'Bad!': 1-32 lower-case letters" in out
            await box.run("exit", until="admin logged out")
            await box.login("tech", "tech pass 1")
    run(main())


@dataclass(frozen=True)
class SpanAlarm(Event):
    span: int
    alarm: str


def test_debug_stream_appears_live_between_prompts_and_is_rate_limited(tmp_path):
    async def main():
        async with box_on_pty(tmp_path) as box:
            await box.login()
            out = await box.run("debug events")
            assert "All events on the bus debugging is on" in out
            box.term.send("show ver")                    # half-typed when the event arrives
            await box.term.expect("show ver")
            box.clock.advance(61.5)
            box.bus.publish(SpanAlarm(box.clock.now(), 1, "LOS"))
            out = await box.term.expect(r"pribox#show ver")
            assert "*00:01:01.500: SpanAlarm: span=1, alarm='LOS'\r\n" in out
            out = await box.run("")                      # the typed line survived the event
            assert "firmware" in out
            # A flood: the console shows a burst, drops the rest and says how many.
            for n in range(1000):
                box.bus.publish(SpanAlarm(box.clock.now(), 2, f"AIS{n}"))
            await box.term.expect("AIS38'")     # a burst of 40, the LOS above included
            assert "AIS39'" not in await box.term.settle(0.1)
            box.clock.advance(1)
            box.bus.publish(SpanAlarm(box.clock.now(), 3, "clear"))
            out = await box.term.expect("alarm='clear'")
            assert "% 961 debug messages not shown (rate limit 20/s, screen busy or line backed up)" in out
            out = await box.run("show debugging")
            assert "All events on the bus debugging is on" in out
            out = await box.run("undebug all")
            assert "All possible debugging has been turned off" in out
            box.clock.advance(10)
            box.bus.publish(SpanAlarm(box.clock.now(), 4, "after"))
            assert "after" not in await box.term.settle(0.1)
    run(main())


def test_debug_is_held_back_while_paging_and_stops_at_logout(tmp_path):
    async def main():
        async with box_on_pty(tmp_path, config_text=RUNNING) as box:
            await box.login()
            await box.run("debug events")
            await box.run("terminal length 5")
            box.term.send("show running-config\r")
            await box.term.expect(" --More-- ")
            box.bus.publish(SpanAlarm(box.clock.now(), 1, "LOF"))
            assert "LOF" not in await box.term.settle(0.1)  # never inside the pager
            box.term.send("q")
            await box.term.expect("pribox#")
            box.clock.advance(5)
            box.bus.publish(SpanAlarm(box.clock.now(), 1, "clear"))
            out = await box.term.expect("alarm='clear'")
            assert "% 1 debug message not shown" in out
            await box.run("exit", until="Username: ")
            box.bus.publish(SpanAlarm(box.clock.now(), 1, "LOS"))
            assert "LOS" not in await box.term.settle(0.1)
            assert box.bus.errors == 0
    run(main())


def test_ymodem_upload_with_lrzsz_sb_lands_atomically(tmp_path):
    firmware_image = tmp_path / "pribox-1.3.raucb"
    firmware_image.write_bytes(bytes(range(256)) * 600 + b"tail")
    async def main():
        async with box_on_pty(tmp_path) as box:
            await box.login()
            out = await box.run("upload ymodem", until="Ctrl-X Ctrl-X cancels")
            assert "Ready to receive by YMODEM into" in out
            status, stderr = await send_file(box, ["sb", "-q", str(firmware_image)])
            assert status == 0, stderr
            out = await box.term.expect("pribox#")
            target = tmp_path / "uploads" / "pribox-1.3.raucb"
            assert f"Received pribox-1.3.raucb (153604 bytes) as {target}" in out
            assert target.read_bytes() == firmware_image.read_bytes()
            assert [p.name for p in (tmp_path / "uploads").iterdir()] == ["pribox-1.3.raucb"]
            out = await box.run("show version")              # the console carries on
            assert "firmware" in out
    run(main())


def test_xmodem_upload_with_lrzsz_sx_checksum_mode(tmp_path):
    data = b"old terminal program\n" * 40
    source = tmp_path / "src.bin"
    source.write_bytes(data)
    async def main():
        async with box_on_pty(tmp_path) as box:
            await box.login()
            await box.run("upload xmodem fw.bin checksum", until="cancels")
            status, stderr = await send_file(box, ["sx", "-q", str(source)])
            assert status == 0, stderr
            out = await box.term.expect("pribox#")
            assert f"Received fw.bin ({len(data)} bytes)" in out
            assert (tmp_path / "uploads" / "fw.bin").read_bytes() == data
            out = await box.run("upload xmodem ../x")
            assert "% Invalid <name> '../x': a plain file name" in out
    run(main())


def test_cancelled_upload_keeps_nothing_and_the_console_recovers(tmp_path):
    async def main():
        async with box_on_pty(tmp_path) as box:
            (tmp_path / "uploads").mkdir()
            (tmp_path / "uploads" / "fw.bin").write_bytes(b"previous good image")
            await box.login()
            await box.run("upload ymodem", until="cancels")
            await box.term.expect("C")
            # The engineer starts a transfer, then gives up with Ctrl-X Ctrl-X.
            from tests.appliance.test_ymodem import block, header
            box.term.send(header("fw.bin", 5000))
            await box.term.expect("\x06C")
            box.term.send(block(1, b"n" * 1024))
            await box.term.expect("\x06")
            box.term.send(b"\x18\x18")
            out = await box.term.settle(0.1)
            assert "pribox#" not in out                  # still draining the sender's leftovers
            box.term.send(b"leftover junk")
            await box.term.settle(0.1)
            box.clock.advance(1.0)
            out = await box.term.expect("pribox#")
            assert "% Upload failed: cancelled by the sender (CAN CAN); nothing was kept" in out
            assert (tmp_path / "uploads" / "fw.bin").read_bytes() == b"previous good image"
            assert sorted(p.name for p in (tmp_path / "uploads").iterdir()) == ["fw.bin"]
            out = await box.run("sh ver")
            assert "firmware" in out
    run(main())


def test_upload_gives_up_when_no_sender_starts(tmp_path):
    async def main():
        async with box_on_pty(tmp_path) as box:
            await box.login()
            await box.run("upload ymodem", until="cancels")
            box.clock.advance(61)
            out = await box.term.expect("pribox#")
            assert out.count("C") >= 20
            assert "% Upload failed: no sender started within 60 s" in out
    run(main())


def test_garbage_noise_break_and_overlong_lines_never_stop_the_console(tmp_path):
    async def main():
        async with box_on_pty(tmp_path) as box:
            await box.term.expect("Username: ")
            box.term.send(bytes(range(256)) * 4)           # binary noise before login
            box.term.send(b"\x15\r")
            await box.login()
            box.term.send(b"show\x00\x00\x01\x05 ver\x80\xfe\r")  # NUL: a line break condition
            out = await box.term.expect("pribox#")
            assert "% Ignored 4 control or non-ASCII bytes in that line" in out
            assert "firmware" in out
            box.term.send(b"x" * 300 + b"\r")
            out = await box.term.expect(r"% Invalid input detected at '\^' marker.\r\npribox#")
            assert "% Line too long: at most 256 characters, the rest is dropped" in out
            assert "\rpribox#$xxxxxxxxxx" in out                   # scrolled sideways
            await box.run("terminal width 0")
            box.term.send(b"x" * 100 + b"\x15")
            out = await box.term.expect(r"x{100}\x08{100}\x1b\[K")  # no scrolling: one long line
            box.term.send(b"\x1b[" + b"9" * 100 + b"show version\r")  # a runaway escape sequence
            await box.term.expect("pribox#")
            box.term.send(bytes(range(256)) * 20 + b"\x03")
            await box.term.expect(r"\^C\r\npribox#")
            out = await box.run('configure set a "unbalanced')
            assert "% Unbalanced double quote." in out
            out = await box.run("show version")
            assert "firmware" in out
    run(main())


class TomlTextConfig:
    """A ConfigService over TOML text with real parsing (tomllib), commit history and
    commit-confirmed, for driving the console's `configure` commands; the daemon supplies
    the config branch's store in the same shape."""

    def __init__(self, running: str, clock):
        self.clock = clock
        self.commits = [("bootstrap", running, "")]
        self._candidate = None
        self.pending_since = None

    def candidate(self):
        return self._candidate if self._candidate is not None else self.commits[-1][1]

    def replace(self, text):
        self._candidate = text

    def check(self):
        import tomllib
        try:
            tomllib.loads(self.candidate())
        except tomllib.TOMLDecodeError as exc:
            return [f"candidate: {exc}"]
        return []

    def diff(self):
        import difflib
        return "\n".join(difflib.unified_diff(self.commits[-1][1].splitlines(),
                                              self.candidate().splitlines(), "running",
                                              "candidate", lineterm=""))

    def commit(self, confirm_minutes, user):
        self.commits.append(("commit", self.candidate(), user))
        self._candidate = None
        if confirm_minutes:
            self.pending_since = self.clock.now()
            return (f"Commit {len(self.commits)} applied; it rolls back unless confirmed within "
                    f"{confirm_minutes} minutes")
        return f"Commit {len(self.commits)} applied"

    def confirm(self):
        if self.pending_since is None:
            raise ValueError("no commit is waiting for confirmation")
        self.pending_since = None
        return f"Commit {len(self.commits)} confirmed"

    def rollback(self, commit_id, user):
        target = commit_id or len(self.commits) - 1
        if not 1 <= target <= len(self.commits):
            raise ValueError(f"no commit {target}")
        self.commits.append(("rollback", self.commits[target - 1][1], user))
        return f"Rolled back to commit {target} as commit {len(self.commits)}"

    def discard(self):
        self._candidate = None

    def history(self):
        return [f"{n:3d}  {kind:<9} {user}" for n, (kind, _, user) in enumerate(self.commits, 1)]


def test_configure_replace_check_commit_confirm_rollback(tmp_path):
    async def main():
        async with box_on_pty(tmp_path) as box:
            box.services.config = TomlTextConfig('[console]\nbaud = 115200\n', box.clock)
            await box.login()
            out = await box.run("configure replace", until=r"Ctrl-C abandons it\)\.\r\n")
            box.term.send("[console]\rbaud = 9600\rbroken = [\rend\r")
            out = await box.term.expect(r"pribox#")
            assert "Candidate replaced (3 lines); it has problems:" in out
            assert "% candidate: Invalid value (at end of document)" in out
            out = await box.run("configure commit")
            assert "% Not committed: the candidate has problems" in out
            await box.run("configure replace", until=r"abandons it\)\.\r\n")
            box.term.send("[console]\rbaud = 9600\rend\r")
            out = await box.term.expect(r"pribox#")
            assert "it is valid: `configure commit` applies it" in out
            out = await box.run("configure diff")
            assert "-baud = 115200\r\n+baud = 9600" in out
            out = await box.run("configure commit 5")
            assert "Commit 2 applied; it rolls back unless confirmed within 5 minutes" in out
            out = await box.run("configure confirm")
            assert "Commit 2 confirmed" in out
            out = await box.run("configure confirm")
            assert "% no commit is waiting for confirmation" in out
            out = await box.run("configure rollback")
            assert "Rolled back to commit 1 as commit 3" in out
            out = await box.run("configure show")
            assert "baud = 115200" in out
            out = await box.run("configure history")
            assert "  2  commit    admin" in out and "  3  rollback  admin" in out
            out = await box.run("configure rollback 0")
            assert "% Invalid <commit> '0'" in out
    run(main())


def test_configure_without_the_daemon_says_so(tmp_path):
    async def main():
        async with box_on_pty(tmp_path) as box:
            await box.login()
            out = await box.run("configure check")
            assert "% No configuration service on this console: run the console inside the " \
                   "daemon (pribox run)" in out
    run(main())


@dataclass(frozen=True)
class Q931Message(Event):
    span: int
    direction: str
    message: str
    cref: int


def test_a_layer_adds_show_and_debug_commands_without_touching_the_console(tmp_path):
    from firmware.console import builtin
    from firmware.console.commands import Arg, CommandTree, int_range
    from firmware.console.debugging import register_debug_topic

    tree = CommandTree()
    builtin.install(tree)

    # What a span layer's module does at import, given its own service on ctx.services.
    def show_span(ctx, args):
        spans = ctx.services.spans
        numbers = [args["N"]] if args["N"] else sorted(spans)
        return "\n".join(f"E1 {n} is {spans[n]}." for n in numbers)
    tree.add("show span", show_span, help="E1 span status, like show controllers e1",
             args=[Arg("N", "span number", parse=int_range(1, 8), optional=True,
                       complete=lambda ctx: [str(n) for n in sorted(ctx.services.spans)])])
    register_debug_topic("isdn q931", "ISDN Q931 packets", kinds=(Q931Message,), tree=tree,
                         format=lambda ev: f"ISDN Se{ev.span}:15 Q931: {ev.direction} "
                                           f"{ev.message} callref = 0x{ev.cref:04X}")

    async def main():
        async with box_on_pty(tmp_path, tree=tree) as box:
            box.services.spans = {1: "up", 2: "down"}
            await box.login()
            box.term.send("show span ?")
            out = await box.term.expect("pribox#show span ")
            assert "  <N>   span number\r\n  <cr>" in out
            box.term.send("\t")
            await box.term.expect("1  2\r\npribox#show span ")
            box.term.send("\x15")
            out = await box.run("sh sp 2")
            assert "E1 2 is down." in out
            out = await box.run("show span")
            assert "E1 1 is up.\r\nE1 2 is down." in out
            box.term.send("debug ?")
            out = await box.term.expect("pribox#debug ")
            assert "events" in out and "isdn" in out
            box.term.send("\x15")
            out = await box.run("deb isdn q931")
            assert "ISDN Q931 packets debugging is on" in out
            box.bus.publish(Q931Message(box.clock.now(), 1, "TX ->", "SETUP", 0x8001))
            box.bus.publish(SpanAlarm(box.clock.now(), 1, "LOS"))  # not this topic
            out = await box.term.expect("callref = 0x8001")
            assert "*00:00:00.000: ISDN Se1:15 Q931: TX -> SETUP callref = 0x8001" in out
            assert "LOS" not in await box.term.settle(0.1)
            out = await box.run("undebug isdn q931")
            assert "ISDN Q931 packets debugging is off" in out
    run(main())
