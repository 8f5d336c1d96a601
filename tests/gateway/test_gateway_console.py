"""The console's `test number NUMBER [trunk T] [direction in|out]` in a logged-in session."""

from runtime.bus import EventBus
from runtime.clock import ManualClock
from firmware.config.loader import default_text
from firmware.console.services import StandaloneServices
from firmware.console.session import ConsoleSession
from firmware.console.users import UserStore
import firmware.console  # noqa: F401  (installs every layer's commands, `test number` among them)

FAST = {"n": 2 ** 4, "r": 1, "p": 1}


def session_on(tmp_path, config_text=None):
    clock = ManualClock(0.0)
    users = UserStore(None, cost=FAST)
    users.set_password("admin", "admin password", role="admin")
    path = None
    if config_text is not None:
        path = tmp_path / "box.toml"
        path.write_text(config_text)
    services = StandaloneServices(bus=EventBus(), clock=clock, upload_dir=tmp_path / "up", config_path=path,
                                  hostname="box", wall_clock=lambda: 0.0)
    session = ConsoleSession(services, users)
    session.receive_data(b"admin\radmin password\r", clock.now())
    session.receive_data(b"terminal length 0\r", clock.now())
    session.data_to_send()

    def type_line(line: str) -> str:
        session.receive_data(line.encode() + b"\r", clock.now())
        shown = session.data_to_send().decode("ascii").replace("\r\n", "\n")
        echo, _, output = shown.partition("\n")
        assert echo == line
        return output

    return type_line


def test_test_number_shows_the_seed_mapping_from_the_running_configuration(tmp_path):
    type_line = session_on(tmp_path, default_text())
    out = type_line("test number 15881234")
    assert "Trunk group carrier (span 1, hunting descending), direction in: translation profile carrier-in" in out
    assert "rule 1  match /^15881234$/ -> replace /7000/, set type unknown" in out
    assert "MATCHED" in out
    assert "  result 7000 (type unknown, plan isdn)\n" in out
    assert out.endswith("box#")
    # Abbreviated, with the keywords.
    out = type_line("tes num 15881234 tr carrier dir in")
    assert "result 7000" in out
    out = type_line("test number 0212345678 trunk carrier")
    assert "no match: 0212345678 does not match /^15881234$/" in out
    assert "  result 0212345678 (type unknown, plan isdn)" in out


def test_test_number_follows_an_edited_running_configuration(tmp_path):
    type_line = session_on(tmp_path, default_text().replace("'/7000/'", "'/7200/'"))
    assert "result 7200" in type_line("test number 15881234")


def test_a_console_without_a_configuration_file_uses_the_embedded_default(tmp_path):
    type_line = session_on(tmp_path)
    out = type_line("test number 15881234")
    assert "[embedded default]" in out and "result 7000" in out


def test_bad_input_is_one_error_line_and_the_console_carries_on(tmp_path):
    type_line = session_on(tmp_path, default_text())
    assert type_line("test number 1588abcd") == (
        "% called number '1588abcd' has the letter 'a' at position 5; a number is digits, * and #\nbox#")
    assert type_line("test number 15881234 trunk nope") == (
        '% no trunk group "nope" (trunk groups: carrier, center)\nbox#')
    assert type_line("test number 15881234 direction sideways") == (
        "% direction is 'in' or 'out', not 'sideways'\nbox#")
    assert type_line("test number 15881234 trunk") == "% 'trunk' needs a value\nbox#"
    assert "% Incomplete command: missing <NUMBER>" in type_line("test number")
    assert "result 7000" in type_line("test number 15881234")
