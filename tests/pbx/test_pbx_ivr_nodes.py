"""Every kind of IVR step on the box itself, not only in the interpreter: a lookup in SQLite, a
variable set, a branch, a recorded message written to a WAV file, and a transfer to an agent's
extension behind the second PRI, bridged — with the call's record holding what it went through."""

from __future__ import annotations

import sqlite3
import wave

from dsp.dtmf import DtmfGenerator
from firmware.config.loader import default_text, load_text
from firmware.isdn.events import CallAudioReport
from pbx_cti.pbx.model import CallEnded, LegState
from tests.pbx.test_pbx_outbound import CENTER, TwoPris, prompts  # noqa: F401  (fixture)

FLOW = '''
[flow]
entry = "look"
inputs = ["calling"]

[nodes.look]
type = "lookup"
source = "sqlite"
database = "DATABASE"
query = "SELECT name, tier FROM customers WHERE phone = ?"
params = ["${calling}"]
result = { customer = "name", tier = "tier" }
next = "mark"
on_error = "bye"

[nodes.mark]
type = "set"
values = { note = "gold customer ${customer}" }
next = "check"

[nodes.check]
type = "branch"
otherwise = "bye"

[[nodes.check.case]]
var = "tier"
equals = "gold"
next = "message"

[nodes.message]
type = "record"
prompts = ["greeting"]
max_length = 2
beep = true
terminator = "#"
into = "voicemail"
next = "out"

[nodes.out]
type = "transfer"
extension = "2001"
on_failure = "bye"

[nodes.bye]
type = "hangup"
prompts = ["goodbye"]
cause = 16
'''


def test_lookup_set_branch_record_and_transfer_on_the_box(prompts, tmp_path):
    database = tmp_path / "customers.sqlite"
    with sqlite3.connect(database) as db:
        db.execute("CREATE TABLE customers (phone TEXT, name TEXT, tier TEXT)")
        db.execute("INSERT INTO customers VALUES ('0212345678', 'Kim', 'gold')")
    flow = tmp_path / "vip.toml"
    flow.write_text(FLOW.replace("DATABASE", str(database)))
    text = default_text()
    text = text.replace('target = "ivr:main"', 'target = "ivr:vip"')
    config = load_text(text + CENTER + f'\n[ivr]\nflows = ["{flow}"]\nprompt_dir = "{prompts}"\n', str(tmp_path / "box.toml"))
    rig = TwoPris(config, state_dir=str(tmp_path / "state"), carrier_digits="", carrier_hangs_up=False)
    try:
        rig.run_until(lambda: all(s.in_service for s in rig.stacks), 3.0)
        call = rig.carrier.place_call(timeslot=2)
        rig.run_until(lambda: call.answered_at is not None, 3.0)
        rig.run_until(lambda: any(a.out is not None and a.out.leg.state is LegState.ANSWERED
                                  for a in rig.pbx.active.values()), 20.0)     # the agent took it
        keys = DtmfGenerator(level_dbm0=-10.0, on_ms=100, off_ms=100)
        keys.put("77")
        rig.net.bearer.play(call.timeslot, keys)          # the caller speaks to the agent now
        rig.carrier_line.run(1.5)
        rig.carrier.hangup(call, 16)
        rig.run_until(lambda: call.done, 5.0)
        rig.carrier_line.run(0.5)
    finally:
        rig.close()
    ended = next(e for e in rig.events if isinstance(e, CallEnded)).summary
    assert ended["ivr_path"] == ["look", "mark", "check", "message", "out"]
    data = ended["data"]
    assert data["customer"] == "Kim" and data["tier"] == "gold" and data["note"] == "gold customer Kim"
    recording = data["voicemail"]
    assert recording.endswith(".wav")
    with wave.open(recording) as w:                      # written off the loop, 2 s of the caller
        assert w.getframerate() == 8000 and 1.5 <= w.getnframes() / 8000 <= 3.5
    assert ended["route"]["dialled"] == "2001" and ended["cleared_by"] == "caller"
    report = next(e for e in rig.events if isinstance(e, CallAudioReport) and e.span_id == 4)
    assert report.digits == "77"                         # the agent heard the caller after the transfer
