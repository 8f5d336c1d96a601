"""`monitor capture` at the console: define (errors naming the field), start, show, stop, with
D-channel frames of a real call between two of our PRI stacks arriving as the bus's Q921Frame
events, filtered by span and by call, and a file tshark and scapy read."""

import subprocess
from types import SimpleNamespace

import pytest

import firmware.console  # noqa: F401  (installs the console's commands)
from runtime.bus import EventBus
from firmware.console.commands import registry
from firmware.isdn.q921_trace import Q921Frame
from firmware.isdn.q931.messages import MessageType as MT
from firmware.isdn.stack import PriStack
from hil_tests.packets.capture_file import read_capture
from hil_tests.packets.isdn_layers import Q931


def run(ctx, line):
    parsed = registry.parse(line)
    return parsed.node.handler(ctx, parsed.args)


class Line:
    """Two of our stacks back to back (span 1: we are the user side), every frame published as
    the isdn binding publishes it."""

    def __init__(self, bus):
        self.bus, self.now = bus, 0.0
        self.net, self.user = PriStack("network"), PriStack("user")
        self.net.start(0.0)
        self.user.start(0.0)
        self.pump()

    def pump(self):
        moved = True
        while moved:
            moved = False
            for frame in self.net.frames_to_send():
                moved = True
                self.bus.publish(Q921Frame(self.now, 1, "Se1:15", "user", "RX", frame))
                self.bus.publish(Q921Frame(self.now, 2, "Se2:15", "user", "RX", frame))   # another span
                self.user.receive_frame(frame, self.now)
            for frame in self.user.frames_to_send():
                moved = True
                self.bus.publish(Q921Frame(self.now, 1, "Se1:15", "user", "TX", frame))
                self.net.receive_frame(frame, self.now)
        while self.net.next_event() or self.user.next_event():
            pass


@pytest.fixture
def ctx(tmp_path):
    bus = EventBus()
    line = Line(bus)
    isdn = SimpleNamespace(spans={1: SimpleNamespace(stack=line.user), 2: SimpleNamespace(stack=PriStack("user"))})
    services = SimpleNamespace(bus=bus, upload_dir=tmp_path / "uploads", isdn=isdn)
    yield SimpleNamespace(services=services, line=line)
    try:
        run(SimpleNamespace(services=services), "monitor capture stop")
    except ValueError:
        pass


def test_define_refuses_what_it_cannot_use_naming_the_field(ctx):
    with pytest.raises(ValueError, match=r"capture span: no span 7 on this box \(spans: 1, 2\)"):
        run(ctx, "monitor capture define all span 7")
    with pytest.raises(ValueError, match=r"capture call: no call '1/99' is up"):
        run(ctx, "monitor capture define dchannel call 1/99")
    with pytest.raises(ValueError, match=r"capture packets: 'many' is not a positive packet count"):
        run(ctx, "monitor capture define all packets many")
    with pytest.raises(ValueError, match=r"capture colour: unknown option"):
        run(ctx, "monitor capture define all colour red")
    with pytest.raises(ValueError, match=r"capture seconds: needs a value"):
        run(ctx, "monitor capture define all seconds")
    assert run(ctx, "show monitor capture") == ["No capture defined"]
    with pytest.raises(ValueError, match="No capture defined"):
        run(ctx, "monitor capture start")


def test_a_call_captured_from_the_console(ctx):
    assert run(ctx, "monitor capture define dchannel span 1 packets 1k") == \
        "Capture defined: what dchannel, span 1, limits packets 1000"
    started = run(ctx, "monitor capture start")
    line = ctx.line
    call = line.net.setup("100", 0.0)
    line.pump()
    (incoming,) = line.user.calls
    line.user.answer(incoming, 0.0)
    line.pump()
    line.net.disconnect(call, 0.0)
    line.pump()
    shown = run(ctx, "show monitor capture")
    assert shown[1] == "  state running" and "0 dropped" in shown[3]
    stopped = run(ctx, "monitor capture stop")
    assert stopped.startswith("Stopped capture: ") and " 0 dropped" in stopped
    path = started.split(" to ", 1)[1]
    assert path.endswith(".pcapng") and "/captures/" in path
    packets = read_capture(path)
    messages = [p.packet[Q931].message_type for p in packets if Q931 in p.packet]
    assert messages[:2] == [MT.SETUP, MT.CONNECT] and MT.RELEASE_COMPLETE in messages
    assert all(p.interface == "dchannel" for p in packets)
    assert packets[0].outbound is False and packets[0].lapd_network_side is False
    malformed = subprocess.run(["tshark", "-r", path, "-Y", "_ws.malformed || _ws.expert.severity >= 6291456"],
                               capture_output=True, text=True, timeout=60)
    assert malformed.returncode == 0 and malformed.stdout == ""
    assert "state stopped (stopped)" in run(ctx, "show monitor capture")[1]


def test_a_call_filter_keeps_only_that_calls_messages(ctx):
    line = ctx.line
    first = line.net.setup("100", 0.0)
    line.pump()
    line.net.setup("200", 0.0, timeslot=5)
    line.pump()
    (mine, other) = sorted(line.user.calls)
    line.user.answer(other, 0.0)
    line.pump()
    run(ctx, f"monitor capture define dchannel call 1/{other}")
    run(ctx, "monitor capture start")
    line.net.disconnect(first, 0.0)
    line.pump()
    line.user.disconnect(other, 0.0)
    line.pump()
    run(ctx, "monitor capture stop")
    path = run(ctx, "show monitor capture")[2].split("file ", 1)[1]
    wanted_ref = None
    refs = set()
    for p in read_capture(path):
        refs.add(p.packet[Q931].call_ref)
        wanted_ref = p.packet[Q931].call_ref
    assert len(refs) == 1 and wanted_ref is not None
    assert [p.packet[Q931].message_type for p in read_capture(path)] == [MT.DISCONNECT, MT.RELEASE,
                                                                        MT.RELEASE_COMPLETE]
