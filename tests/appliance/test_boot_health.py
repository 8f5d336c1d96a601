"""The post-boot health check: the daemon's status on its control socket, the checks read from
it, and confirming a slot only once they pass — on virtual time."""

import asyncio

from firmware.appliance.boot_health import confirm_when_healthy, daemon_health_checks, isdn_check, services_check, spans_check
from runtime.bus import EventBus
from runtime.clock import LoopClock, virtual_time_loop
from firmware.config.loader import default_text
from firmware.appliance.control_service import CONTROL_SOCKET, query_status
from firmware.appliance.daemon import Daemon, FileSource
from firmware.appliance.sdnotify import Notifier
from firmware.appliance.services import load_box_services
from firmware.update.agent import UpdateAgent
from tests.appliance.test_update import bundle, device, keys, new_image  # noqa: F401  (fixtures)
from tests.support.daemon_harness import run_beside


class RecordingRauc:
    """The agent's RAUC side, recording what the health check decided (the real RAUC path is
    tested in test_update.py and test_update_console.py)."""

    def __init__(self, clock):
        self.clock = clock
        self.marks = []

    async def mark(self, how, slot="booted"):
        self.marks.append((round(self.clock.now(), 3), how, slot))


def box_config(tmp_path):
    config = tmp_path / "box.toml"
    wire = tmp_path / "run" / "e1.wire"
    config.write_text(default_text().replace("[console]\nenabled = true", "[console]\nenabled = false")
                      .replace("/run/pribox/e1-wire-1.sock", str(wire)).replace("/run/pribox/e1-wire-2.sock", str(wire) + "-2"))
    return config


def test_confirm_waits_for_the_daemon_then_passes_on_its_real_status(tmp_path):
    loop = virtual_time_loop()
    clock = LoopClock(loop)
    state = tmp_path / "state"
    state.mkdir()
    daemon = Daemon(FileSource(str(box_config(tmp_path))), load_box_services(), clock=clock, bus=EventBus(),
                    notifier=Notifier(environ={}), state_dir=str(state))
    rauc = RecordingRauc(clock)
    seen = {}

    async def scenario():
        # Started with the daemon, before its services: the first rounds find no socket.
        agent = UpdateAgent(rauc, compatible="pribox-e1-gateway",
                            health_checks=daemon_health_checks(lambda: query_status(state / CONTROL_SOCKET)))
        rounds = []
        seen["results"] = await confirm_when_healthy(agent, clock, wait=30.0, interval=2.0, report=rounds.append)
        seen["rounds"] = rounds
        seen["status"] = await query_status(state / CONTROL_SOCKET)
        daemon.request_stop("test")

    try:
        assert loop.run_until_complete(run_beside(daemon, scenario)) == 0
    finally:
        loop.close()
    assert [(r.name, r.ok) for r in seen["results"]] == [("services", True), ("spans", True), ("isdn", True), ("loop", True)]
    assert seen["results"][1].detail == "4 configured, layer 1 up on all"
    assert len(rauc.marks) == 1 and rauc.marks[0][1:] == ("good", "booted")
    # Each failed round said why, two virtual seconds apart.
    assert seen["rounds"] and all(not all(r.ok for r in rnd) for rnd in seen["rounds"])
    assert rauc.marks[0][0] == 2.0 * len(seen["rounds"]) + rauc.marks[0][0] % 2.0
    status = seen["status"]
    # Not started here: the console (its device is off), recording (off unless [recording]
    # enables it) and sip (off without a [[sip_trunk]]).
    assert [s["name"] for s in status["services"]] == [e.name for e in load_box_services().entries()
                                                       if e.name not in ("console", "recording", "sip")]
    assert {(s["id"], s["layer1_up"]) for s in status["spans"]} == {(1, True), (2, True), (3, True), (4, True)}
    assert status["configured"] == {"spans": [1, 2, 3, 4], "isdn": [1, 2, 3, 4]}
    assert not (state / CONTROL_SOCKET).exists()  # removed at shutdown


def status(services=None, spans=None, configured_spans=(1, 2), isdn=(), registered=()):
    services = services if services is not None else [
        {"name": "spans", "state": "running", "crashes": 0, "last_error": "", "healthy": True, "detail": "ok"}]
    spans = spans if spans is not None else [
        {"id": i, "open": True, "layer1_up": True, "alarms": []} for i in configured_spans]
    return {"services": services, "spans": spans, "registered": list(registered) or [s["name"] for s in services],
            "configured": {"spans": list(configured_spans), "isdn": list(isdn)}}


def test_checks_name_what_is_wrong():
    down = status(spans=[{"id": 1, "open": True, "layer1_up": False, "alarms": ["AIS", "LOS"]},
                         {"id": 2, "open": True, "layer1_up": True, "alarms": []}])
    result = spans_check(down)
    assert not result.ok and result.detail == "span 1 layer 1 down (AIS, LOS)"
    missing = spans_check(status(spans=[{"id": 2, "open": True, "layer1_up": True, "alarms": []}]))
    assert not missing.ok and missing.detail == "span 1 not open"
    assert spans_check(status(configured_spans=(), spans=[])).detail == "no span configured"

    crashed = status(services=[
        {"name": "spans", "state": "running", "crashes": 0, "last_error": "", "healthy": True, "detail": "up"},
        {"name": "console", "state": "failed", "crashes": 5, "last_error": "OSError: /dev/ttyS1", "healthy": False,
         "detail": "failed"},
        {"name": "network", "state": "running", "crashes": 0, "last_error": "", "healthy": False,
         "detail": "eth0: no such link"}])
    result = services_check(crashed)
    assert not result.ok
    assert result.detail == "not healthy: console failed (OSError: /dev/ttyS1); network running (eth0: no such link)"

    # [[isdn]] with no ISDN service in this firmware: said so, not failed; once the service
    # exists its own health (D-channels) decides.
    assert isdn_check(status(isdn=(1, 2))).ok
    assert "no ISDN service" in isdn_check(status(isdn=(1, 2))).detail
    isdn_down = status(isdn=(1,), services=[
        {"name": "isdn", "state": "running", "crashes": 0, "last_error": "", "healthy": False,
         "detail": "span 1 D-channel down"}])
    assert not isdn_check(isdn_down).ok and "span 1 D-channel down" in isdn_check(isdn_down).detail
    absent = status(isdn=(1,), registered=("spans", "isdn"))
    assert isdn_check(absent).detail == "the ISDN service is not running"


def test_a_box_that_stays_unhealthy_is_not_confirmed_when_the_wait_runs_out():
    loop = virtual_time_loop()
    clock = LoopClock(loop)
    rauc = RecordingRauc(clock)
    fetches = []

    async def fetch():
        fetches.append(clock.now())
        return status(spans=[{"id": 1, "open": True, "layer1_up": False, "alarms": ["LOS"]},
                             {"id": 2, "open": True, "layer1_up": True, "alarms": []}])

    async def main():
        agent = UpdateAgent(rauc, compatible="x", health_checks=daemon_health_checks(fetch))
        return await confirm_when_healthy(agent, clock, wait=10.0, interval=2.0)

    try:
        results = loop.run_until_complete(main())
    finally:
        loop.close()
    assert rauc.marks == []
    assert [r.ok for r in results] == [True, False, True, True]
    assert fetches == [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]  # one status fetch per round


def test_pribox_upgrade_confirm_keeps_a_new_slot_only_with_a_healthy_daemon_running(tmp_path, device, bundle,
                                                                                  monkeypatch, capsys):
    """The CLI pribox-confirm.service runs: real RAUC on emulated slots, the real daemon's
    spans on its control socket, in real time."""
    import argparse

    from firmware.update import cli as upgrade_cli
    from images.bootloader import BootSelector

    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", device.env["DBUS_SYSTEM_BUS_ADDRESS"])
    assert upgrade_cli.run(argparse.Namespace(action="install", bundle=str(bundle), conf=str(device.conf),
                                              keyring=None, state_dir=None, wait=0.0)) == 0
    assert device.reboot() == "B"
    state = tmp_path / "state"
    state.mkdir()
    confirm = argparse.Namespace(action="confirm", bundle=None, conf=str(device.conf), keyring=None,
                                 state_dir=str(state), wait=0.0)

    # No daemon answering: not confirmed, and the engineer is told why.
    assert upgrade_cli.run(confirm) == 1
    out = capsys.readouterr().out
    assert "FAIL services: no answer from the pribox daemon" in out and "not confirmed" in out
    assert not BootSelector(device.boot_state).describe()["slots"]["B"]["confirmed"]

    daemon = Daemon(FileSource(str(box_config(tmp_path))), load_box_services(), bus=EventBus(),
                    notifier=Notifier(environ={}), state_dir=str(state))

    async def main():
        running = asyncio.ensure_future(daemon.run(install_signals=False))
        confirm.wait = 20.0
        code = await asyncio.to_thread(upgrade_cli.run, confirm)  # its own loop, as under systemd
        daemon.request_stop("test")
        await running
        return code

    assert asyncio.run(main()) == 0
    out = capsys.readouterr().out
    assert "ok   spans: 4 configured, layer 1 up on all" in out and "this slot is confirmed good" in out
    assert BootSelector(device.boot_state).describe()["slots"]["B"]["confirmed"]
