"""Q.850 causes at the edge: every clearing path of the box takes its cause from the one table
(firmware/isdn/q931/causes.py), and a cause the table does not assign never reaches the carrier."""

import ast
import pathlib

import pytest

from firmware.isdn.q931 import ies as ie
from firmware.isdn.q931.causes import Cause, cause_name, edge_cause
from firmware.isdn.q931.events import Disconnected, IncomingCall, Released
from firmware.isdn.q931.link import Q931Link
from firmware.isdn.q931.messages import MessageType as MT, decode, encode
from tests.support.isdn_pair import StackPair

ISDN = pathlib.Path(__file__).resolve().parents[2] / "firmware" / "isdn"
# Calls that put a cause on the wire or report one.
CLEARING = {"disconnect", "try_disconnect", "release", "finish", "_reject_setup", "_clear_after_answer",
            "emit_error", "send_status", "Cause", "_global_status", "_answer_cause"}


def bare_cause_literals():
    found = []
    for path in sorted(ISDN.rglob("*.py")):
        if path.name == "causes.py":
            continue
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
                args = list(node.args) + [k.value for k in node.keywords if k.arg in ("cause", "value")]
                if name in CLEARING:
                    found += [f"{path.relative_to(ISDN.parent.parent)}:{a.lineno} {name}({a.value})"
                              for a in args if isinstance(a, ast.Constant) and type(a.value) is int and a.value > 0]
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                defaults = node.args.defaults + node.args.kw_defaults
                names = [a.arg for a in node.args.args[-len(node.args.defaults):]] if node.args.defaults else []
                names += [a.arg for a in node.args.kwonlyargs]
                for arg_name, default in zip(names, defaults):
                    if arg_name == "cause" and isinstance(default, ast.Constant) and type(default.value) is int:
                        found.append(f"{path.relative_to(ISDN.parent.parent)}:{default.lineno} {node.name}(cause={default.value})")
    return found


def test_no_clearing_path_in_firmware_isdn_names_a_cause_by_a_bare_number():
    assert bare_cause_literals() == []


@pytest.mark.parametrize("value, sent", [(16, 16), (17, 17), (34, 34), (35, 47), (13, 31), (60, 63), (75, 79),
                                         (92, 95), (104, 111), (120, 127)])
def test_an_unassigned_cause_goes_out_as_its_class_unspecified(value, sent):
    assert edge_cause(value) == sent and "Unassigned" not in cause_name(int(edge_cause(value)))


@pytest.mark.parametrize("bad", [0, 128, -1, "16", 16.0, True, None])
def test_a_cause_out_of_range_or_not_an_int_is_refused(bad):
    with pytest.raises(ValueError, match="out of range 1..127"):
        edge_cause(bad)


@pytest.mark.parametrize("state", ["offered", "proceeding", "active"])
def test_the_box_clearing_with_an_unassigned_cause_sends_the_class_cause(state):
    pair = StackPair()
    pair.up()
    net_call = pair.net.setup("15881234", pair.now, timeslot=3)
    pair.run_for(0.1)
    (offer,) = pair.take("user", IncomingCall)
    if state != "offered":
        pair.user.proceed(offer.call_id, pair.now)
    if state == "active":
        pair.user.answer(offer.call_id, pair.now)
    pair.run_for(0.1)
    pair.user.disconnect(offer.call_id, pair.now, 35)
    pair.run_for(0.5)
    causes = {e.cause for e in pair.take("network") if isinstance(e, (Disconnected, Released)) and e.call_id == net_call}
    assert causes == {Cause.RESOURCE_UNAVAILABLE}
    assert not pair.user.calls and not pair.net.calls


def test_disconnect_with_a_bad_cause_raises_and_sends_nothing():
    link = Q931Link("user")
    link.dl_established(0.0)
    link.receive(encode(MT.SETUP, 7, 0, [ie.BearerCapability(), ie.ChannelId(3), ie.CalledNumber("1")]), 0.0)
    (offer,) = [e for e in iter(link.next_event, None) if isinstance(e, IncomingCall)]
    with pytest.raises(ValueError, match="disconnect: cause 0 out of range"):
        link.disconnect(offer.call_id, 0.0, 0)
    assert not link.payloads_to_send() and offer.call_id in link.calls
    link.disconnect(offer.call_id, 0.0, Cause.USER_BUSY)
    (msg,) = [decode(p) for p in link.payloads_to_send()]
    assert msg.get(ie.Cause).value == 17
