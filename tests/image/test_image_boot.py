"""The built firmware image boots under qemu (TCG) and its console answers on the second
serial port: first-boot admin password, login, `show version` with the image's version, every
service running.  The box boots with a data partition holding a committed configuration (the
image's own, plus eth0, a voice VLAN 100 with its 802.1p priority, a 070 SIP trunk on that
VLAN and a syslog server on the management subnet) and one NIC whose far end is this test
(hil_tests/packets/l2_peer.py); qemu's filter-dump writes the NIC's frames, and scapy checks
that the box's SIP and RTP carry VLAN 100, priority 5 and their DSCP while its management
traffic (ping replies, syslog) is untagged.  The guest's Debian kernel has 802.1Q, which the
machines the rest of the suite runs on may lack.  Not in the default run (it needs a built
image and ~2 minutes):

    make image        # build out/image (root: debootstrap, chroot)
    make image-test   # this test

PRIBOX_IMAGE_DIR points at another built image directory.
"""

import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import serial
from scapy.layers.inet import ICMP, IP, UDP
from scapy.layers.l2 import Dot1Q, Ether
from scapy.utils import rdpcap

from hil_tests.packets.l2_peer import WirePeer
from images.appliance_files import image_config_text
from images.qemu_boot import QemuBox, QemuNic, make_data_disk
from tests.support.sip_pbx import SIP070

IMAGE_DIR = Path(os.environ.get("PRIBOX_IMAGE_DIR", Path(__file__).resolve().parents[2] / "out" / "image"))
BOOT_TIMEOUT = 300.0
ADMIN_PASSWORD = "bench admin 1"
PROMPT = r"pribox#"
VOICE_VLAN, VOICE_PRIORITY = 100, 5
BOX_ETH0, PEER_ETH0 = "10.0.2.15", "10.0.2.2"          # the management subnet, untagged
BOX_VOICE, PEER_VOICE = "10.100.0.2", "10.100.0.1"     # the voice VLAN
RTP_FIRST = 30000
DSCP_EF, DSCP_CS3 = 46, 24


def vlan_config() -> str:
    """The image's configuration with the box's network: eth0 on the management subnet, the
    voice VLAN on it, SIP and RTP on the VLAN toward a 070 trunk, syslog to the management side."""
    text = image_config_text()
    network = (f'[network]\n[[network.interface]]\nname = "eth0"\naddresses = ["{BOX_ETH0}/24"]\n\n'
               f'[[network.vlan]]\nid = {VOICE_VLAN}\nparent = "eth0"\nrole = "voice"\npriority = {VOICE_PRIORITY}\n'
               f'addresses = ["{BOX_VOICE}/24"]\n\n')
    assert "[network]\n" in text and '[logging]\nlevel = "info"\n' in text
    text = text.replace("[network]\n", network, 1)
    # Syslog to the management side, errors only: under TCG the emulated spans' alarms come and
    # go (LOF, RAI) many times a minute, and a warning-level server gets every one of them.
    text = text.replace('[logging]\nlevel = "info"\n',
                        f'[logging]\nlevel = "info"\n[[logging.server]]\nhost = "{PEER_ETH0}"\ntransport = "udp"\n'
                        'severity = "err"\n', 1)
    text += SIP070.replace('host = "127.0.0.2"', f'host = "{PEER_VOICE}"')
    text += f'\n[sip]\naddress = "{BOX_VOICE}"\nport = 5060\nrtp_port_min = {RTP_FIRST}\nrtp_port_max = {RTP_FIRST + 58}\n'
    return text


def data_disk_with_config(folder: Path) -> Path:
    """The data partition, its state directory holding vlan_config() committed, as the image's
    first-boot unit commits its own (`pribox config commit`)."""
    state = folder / "state"
    state.mkdir()
    config = folder / "box.toml"
    config.write_text(vlan_config())
    subprocess.run([sys.executable, "-m", "firmware.cli", "config", "commit", str(config), "-m",
                    "bench: voice VLAN", "--state-dir", str(state)], check=True, capture_output=True)
    return make_data_disk(folder / "data.img", contents=state)


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SerialTerminal:
    def __init__(self, path: str):
        self.port = serial.Serial(path, 115200, timeout=0.2)
        self.seen = ""
        self.unread = ""

    def send(self, text: str) -> None:
        self.port.write(text.encode())

    def expect(self, pattern: str, timeout: float, poke: float | None = None) -> str:
        """Read until `pattern`; with `poke`, press Enter that often while nothing matches
        (what the console printed before the port was opened is gone)."""
        deadline = time.monotonic() + timeout
        last_poke = time.monotonic()
        while True:
            match = re.search(pattern, self.unread)
            if match:
                text, self.unread = self.unread[:match.end()], self.unread[match.end():]
                return text
            if time.monotonic() > deadline:
                break
            chunk = self.port.read(4096).decode("ascii", "replace")
            self.unread += chunk
            self.seen += chunk
            if poke is not None and time.monotonic() - last_poke > poke:
                self.send("\r")
                last_poke = time.monotonic()
        raise AssertionError(f"{pattern!r} did not show within {timeout:.0f} s; last output: {self.unread[-500:]!r}")

    def command(self, line: str, timeout: float = 60.0) -> str:
        self.unread = ""
        self.send(line + "\r")
        return self.expect(re.escape(line) + r"[\s\S]*?\r\n" + PROMPT, timeout)


@pytest.fixture(scope="module")
def booted(tmp_path_factory):
    facts_file = IMAGE_DIR / "image.json"
    if not facts_file.exists():
        raise AssertionError(f"{facts_file} missing: build the image first (make image)")
    facts = json.loads(facts_file.read_text())
    folder = tmp_path_factory.mktemp("box")
    peer_port, qemu_port = free_udp_port(), free_udp_port()
    peer = WirePeer(peer_port, qemu_port, {None: PEER_ETH0, VOICE_VLAN: PEER_VOICE})
    peer.start()
    nic = QemuNic(peer_port, qemu_port, dump=IMAGE_DIR / "eth0.pcap")   # kept beside boot.log to read after
    box = QemuBox(IMAGE_DIR, data_disk=data_disk_with_config(folder), nic=nic)
    box.peer = peer
    pty = box.start()
    term = SerialTerminal(pty)
    try:
        first = term.expect(r"New admin password: |Username: ", BOOT_TIMEOUT, poke=5.0)
        console_seconds = time.monotonic() - box.started_at
        yield box, term, facts, first, console_seconds
    finally:
        term.port.close()
        box.stop()
        peer.stop()
        boot_log = (IMAGE_DIR / "boot.log").read_text(errors="replace")
        print(f"\nboot log: {IMAGE_DIR / 'boot.log'} ({boot_log.count('FAILED')} FAILED units)")


def test_image_boots_to_the_console_and_runs_every_service(booted):
    box, term, facts, first, console_seconds = booted
    assert "New admin password: " in first, "a fresh box asks for the admin password first"
    term.send(ADMIN_PASSWORD + "\r")
    term.expect("Repeat admin password: ", 30)
    term.send(ADMIN_PASSWORD + "\r")
    term.expect("Password for 'admin' set.", 60)
    term.expect("Username: ", 30)
    term.send("admin\r")
    term.expect("Password: ", 30)
    term.send(ADMIN_PASSWORD + "\r")
    term.expect(PROMPT, 60)

    version = term.command("show version")
    assert f"pribox E1/PRI gateway firmware, version {facts['version']}" in version

    services = term.command("show services")
    lines = services.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("Service "))   # after the loop-lag line
    rows = [line.split() for line in lines[header + 1:] if line.strip() and not line.startswith("pribox")]
    names = {row[0]: row[1] for row in rows if len(row) >= 2}
    assert {"network", "spans", "console", "control"} <= set(names), services
    assert all(state == "running" for state in names.values()), services

    interfaces = term.command("show interfaces")
    assert "lo is up, line protocol is" in interfaces and "Internet address is 127.0.0.1/8" in interfaces

    boot_log = (IMAGE_DIR / "boot.log").read_text(errors="replace")
    failed = [line for line in boot_log.splitlines() if "FAILED" in line]
    assert not failed, "units failed during boot:\n" + "\n".join(failed)

    image_bytes = Path(facts["rootfs"]).stat().st_size
    figures = {"build_seconds": facts.get("build_seconds"), "boot_to_console_seconds": round(console_seconds, 1),
               "rootfs_bytes": image_bytes, "rootfs_mib": round(image_bytes / 2**20, 1),
               "bundle_bytes": facts.get("bundle_bytes"), "version": facts["version"]}
    print("\n" + json.dumps(figures))


def test_slot_is_confirmed_by_the_post_boot_health_check(booted):
    box, term, facts, first, console_seconds = booted
    deadline = time.monotonic() + 240
    finished = "Finished \x1b[0;1;39mpribox-confirm"
    while finished not in (IMAGE_DIR / "boot.log").read_text(errors="replace"):
        assert time.monotonic() < deadline, "pribox-confirm.service did not finish after boot"
        time.sleep(2)
    status = term.command("upgrade status", timeout=90)
    assert "Booted slot A, next boot A" in status and "(A): booted, boot status good" in status, status
    out = term.command("upgrade confirm", timeout=120)
    assert "ok   services:" in out and "ok   spans: 4 configured, layer 1 up on all" in out, out
    assert "This slot is confirmed good." in out


def test_voice_leaves_on_its_vlan_with_its_priority_and_management_traffic_untagged(booted):
    """The box's SIP and RTP/RTCP on the voice VLAN: every frame tagged VLAN 100 with 802.1p
    priority 5, SIP marked CS3 and media EF; its ping replies and syslog on eth0 untagged."""
    box, term, facts, first, console_seconds = booted
    peer = box.peer
    deadline = time.monotonic() + 120
    peer.invite(BOX_VOICE, "07012345678", VOICE_VLAN)     # the IVR answers and plays its greeting
    while time.monotonic() < deadline:
        if peer.counts["ping reply"] == 0:
            peer.ping(BOX_ETH0)
        if peer.counts["rtp"] >= 100 and peer.counts["ping reply"]:
            break
        time.sleep(1.0)
    assert peer.counts["rtp"] >= 100 and peer.counts["ping reply"], (dict(peer.counts), peer.sip_responses,
                                                                       peer.box_addresses, peer.errors)
    box.stop()                           # filter-dump's file is complete once qemu is gone
    frames = [f for f in rdpcap(str(box.nic.dump)) if f.src == peer.box_mac]
    voice, management = [], []
    for frame in frames:
        if IP not in frame:
            continue
        ip = frame[IP]
        if UDP in frame and (frame[UDP].sport == 5060 or RTP_FIRST <= frame[UDP].sport <= RTP_FIRST + 59):
            voice.append(frame)
        elif ICMP in frame or (UDP in frame and frame[UDP].dport == 514):
            management.append(frame)
        assert (ip.src == BOX_VOICE) == (Dot1Q in frame), frame.summary()   # the VLAN's address only on the VLAN
    sip = [f for f in voice if f[UDP].sport == 5060]
    media = [f for f in voice if f[UDP].sport != 5060]
    assert sip and len(media) >= 100 and management
    for frame in voice:
        assert Dot1Q in frame, f"untagged voice: {frame.summary()}"
        tag = frame[Dot1Q]
        assert (tag.vlan, tag.prio) == (VOICE_VLAN, VOICE_PRIORITY), frame.summary()
    assert {f[IP].tos >> 2 for f in sip} == {DSCP_CS3}
    assert {f[IP].tos >> 2 for f in media} == {DSCP_EF}
    for frame in management:
        assert Dot1Q not in frame and frame[Ether].type == 0x0800, f"management tagged: {frame.summary()}"
    print("\n" + json.dumps({"voice_vlan_frames": {"sip": len(sip), "rtp_rtcp": len(media)},
                              "management_frames": len(management), "peer_counts": dict(peer.counts)}))
