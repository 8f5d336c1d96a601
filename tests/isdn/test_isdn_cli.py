"""`pribox call`: one call against libpri with a live debug-isdn-q931 trace, as a user runs it."""

import pytest

from firmware.cli import main


@pytest.mark.parametrize("argv,expected", [
    (["call", "--hold", "0"], ["RX <- SETUP", "Redirecting Number", "TX -> CONNECT", "RX <- CONNECT_ACK",
                               "cause 16 (Normal call clearing); B-channels 30/30 idle"]),
    (["call", "--role", "network", "--direction", "out", "--busy"],
     ["TX -> SETUP", "RX <- CALL_PROC", "RX <- DISCONNECT", "User busy", "cause 17 (User busy)"]),
])
def test_pribox_call_traces_a_whole_call(capsys, argv, expected):
    assert main(argv) == 0
    out = capsys.readouterr().out
    for text in expected:
        assert text in out, out
    assert "Invalid IE" not in out and "STATUS" not in out
