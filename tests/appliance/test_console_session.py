"""The console session without a serial line: fuzzed input never breaks it, a failing
command is reported, and debug output backs off when the line is congested."""

from dataclasses import dataclass

from hypothesis import HealthCheck, given, settings, strategies as st

from runtime.bus import Event, EventBus
from runtime.clock import ManualClock
from firmware.console.commands import CommandTree
from firmware.console import builtin
from firmware.console.services import StandaloneServices
from firmware.console.session import ConsoleSession
from firmware.console.users import UserStore

FAST = {"n": 2 ** 4, "r": 1, "p": 1}   # fuzzing logs in thousands of times


def logged_in_session(tmp_path, *, tree=None, pending=lambda: 0):
    clock = ManualClock(0.0)
    users = UserStore(None, cost=FAST)
    users.set_password("admin", "admin password", role="admin")
    services = StandaloneServices(bus=EventBus(), clock=clock, upload_dir=tmp_path / "up",
                                  hostname="box", wall_clock=lambda: 0.0)
    kwargs = {"tree": tree} if tree is not None else {}
    session = ConsoleSession(services, users, pending_output=pending, **kwargs)
    session.receive_data(b"admin\radmin password\r", clock.now())
    assert session.data_to_send().endswith(b"box#")
    return session, clock, services


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(chunks=st.lists(st.binary(max_size=300), max_size=12), advance=st.floats(0, 700))
def test_any_bytes_in_any_order_never_raise_and_output_stays_ascii(tmp_path, chunks, advance):
    session, clock, _ = logged_in_session(tmp_path)
    for chunk in chunks:
        session.receive_data(chunk, clock.now())
        out = session.data_to_send()
        assert out.isascii()
        when = session.get_timer()
        if when is not None and when <= clock.now() + advance:
            clock.run_until(when)
            session.handle_timer(clock.now())
            assert session.data_to_send().isascii()
    # Whatever happened, Ctrl-C and a command (after logging in again if it timed out) work.
    session.receive_data(b"\x03\x03q\x03", clock.now())
    if session.user is None:
        session.receive_data(b"\radmin\radmin password\r", clock.now())
    session.data_to_send()
    session.receive_data(b"show clock\r", clock.now())
    assert b"UTC Thu Jan 01 1970" in session.data_to_send()


def test_a_failing_command_is_reported_and_the_console_carries_on(tmp_path):
    tree = CommandTree()
    builtin.install(tree)
    tree.add("crash", lambda ctx, args: 1 / 0, help="a broken layer's command")
    session, clock, _ = logged_in_session(tmp_path, tree=tree)
    session.receive_data(b"crash\r", clock.now())
    assert b"% Command failed: ZeroDivisionError: division by zero\r\nbox#" in session.data_to_send()
    session.receive_data(b"show clock\r", clock.now())
    assert b"00:00:00.000 UTC" in session.data_to_send()


@dataclass(frozen=True)
class Tick(Event):
    n: int


def test_debug_output_is_dropped_while_the_serial_line_is_backed_up(tmp_path):
    backlog = [0]
    session, clock, services = logged_in_session(tmp_path, pending=lambda: backlog[0])
    session.receive_data(b"debug events\r", clock.now())
    session.data_to_send()
    backlog[0] = 1_000_000          # a terminal that stopped reading (XOFF, unplugged)
    services.bus.publish(Tick(clock.now(), 1))
    assert session.data_to_send() == b""
    backlog[0] = 0
    clock.advance(1)
    services.bus.publish(Tick(clock.now(), 2))
    out = session.data_to_send()
    assert b"Tick: n=2" in out and b"Tick: n=1" not in out
    assert b"% 1 debug message not shown" in out


def test_upload_into_a_folder_that_cannot_be_written_is_cancelled_with_the_reason(tmp_path):
    from tests.appliance.test_ymodem import block, header
    session, clock, services = logged_in_session(tmp_path)
    services.upload_dir = tmp_path / "a-file"
    services.upload_dir.write_text("not a folder")
    session.receive_data(b"upload ymodem\r", clock.now())
    assert session.data_to_send().endswith(b"C")
    session.receive_data(header("fw.bin", 10), clock.now())
    assert session.data_to_send().startswith(b"\x18" * 8)     # the sender is told to stop
    clock.advance(1)
    session.handle_timer(clock.now())
    out = session.data_to_send()
    assert b"% Upload failed: cannot write the upload into " in out and out.endswith(b"box#")


def test_upload_larger_than_the_free_space_is_refused_before_any_block(tmp_path, monkeypatch):
    import shutil
    from collections import namedtuple
    from tests.appliance.test_ymodem import header
    session, clock, services = logged_in_session(tmp_path)
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(100 << 20, 80 << 20, 20 << 20))
    too_big = (20 << 20) - (16 << 20) + 1     # leaves less than the 16 MiB kept free
    session.receive_data(b"upload ymodem\r", clock.now())
    session.data_to_send()
    session.receive_data(header("huge.raucb", too_big), clock.now())
    assert session.data_to_send().startswith(b"\x18" * 8)
    clock.advance(1)
    session.handle_timer(clock.now())
    out = session.data_to_send()
    assert f"huge.raucb needs {too_big} bytes".encode() in out
    assert list((tmp_path / "up").iterdir()) == []
