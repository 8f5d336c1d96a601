"""Remote syslog against Debian's rsyslog started by the test on 127.0.0.1 with a private
config (imudp and imtcp on free ports, one output file): PRI, timestamp, hostname, app-name,
procid, msgid and structured data arrive as sent; a stopped server is survived with drops
counted and `show logging` says so; TLS (RFC 5425) against a local TLS listener."""

import logging
import socket
import ssl
import subprocess
import threading
import time
from datetime import datetime, timezone

import pytest

import firmware.console  # noqa: F401  (installs the console's commands)
from firmware.config import ConfigError, load_text
from firmware.console.commands import registry
from firmware.syslog import sender as syslog
from firmware.syslog.console import format_logging
from firmware.syslog.msgids import msgid_of
from firmware.syslog.rfc5424 import format_message, octet_counted
from firmware.syslog.sender import ServerConfig, SyslogHandler, SyslogServer

FIELDS = "%pri%|%timereported:::date-rfc3339%|%hostname%|%app-name%|%procid%|%msgid%|%structured-data%|%msg%"


def free_port(kind=socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Rsyslog:
    """rsyslogd in the foreground with a config of our own; touches no system logging."""

    def __init__(self, folder, udp_port: int, tcp_port: int):
        self.folder, self.udp_port, self.tcp_port = folder, udp_port, tcp_port
        self.output = folder / "received.log"
        self.conf = folder / "rsyslog.conf"
        self.conf.write_text(f"""
global(workDirectory="{folder}")
module(load="imudp")
module(load="imtcp")
template(name="fields" type="string" string="{FIELDS}\\n")
input(type="imudp" address="127.0.0.1" port="{udp_port}")
input(type="imtcp" address="127.0.0.1" port="{tcp_port}")
*.* action(type="omfile" file="{self.output}" template="fields")
""")
        self.process = None

    def start(self):
        self.process = subprocess.Popen(["rsyslogd", "-n", "-f", str(self.conf), "-i", str(self.folder / "pid")],
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.tcp_port), timeout=0.2).close()
                return
            except OSError:
                assert self.process.poll() is None, self.process.stdout.read().decode()
                time.sleep(0.05)
        raise AssertionError("rsyslogd did not listen within 10 s")

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
        self.process = None

    def lines(self) -> list[list[str]]:
        if not self.output.exists():
            return []
        return [line.split("|", 7) for line in self.output.read_text().splitlines() if line]

    def wait_for(self, count: int, timeout: float = 10.0) -> list[list[str]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.lines()
            if len(got) >= count:
                return got
            time.sleep(0.05)
        raise AssertionError(f"rsyslog received {len(self.lines())} of {count} messages: {self.lines()}")


@pytest.fixture
def rsyslog(tmp_path):
    server = Rsyslog(tmp_path, free_port(socket.SOCK_DGRAM), free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def box_logger():
    logger = logging.getLogger("pribox")
    before = logger.level
    logger.setLevel(logging.DEBUG)
    handlers = []
    yield logger, handlers
    for handler in handlers:
        logger.removeHandler(handler)
        handler.close()
    logger.setLevel(before)


def test_messages_arrive_with_pri_timestamp_hostname_msgid_and_structured_data(rsyslog, box_logger):
    logger, handlers = box_logger
    udp = SyslogServer(ServerConfig("127.0.0.1", rsyslog.udp_port, "udp", facility=19, severity=6))    # local3
    tcp = SyslogServer(ServerConfig("127.0.0.1", rsyslog.tcp_port, "tcp", facility=21, severity=4))    # local5
    for server in (udp, tcp):
        server.start()
    handler = SyslogHandler([udp, tcp], hostname="pribox-lab", procid=4242)
    handlers.append(handler)
    logger.addHandler(handler)
    before = time.time()
    logging.getLogger("pribox.span").warning("span 1: alarm LOS raised (active: LOS)")
    logging.getLogger("pribox.auth").info("login: user admin (admin)", extra={"user": "admin", "syslog_severity": 5})
    logging.getLogger("pribox.isdn.dchannel").debug("below every server's minimum: not sent")
    logging.getLogger("pribox.config").error('commit 7 "weird ]\\ value" rolled back')
    got = rsyslog.wait_for(5)
    time.sleep(0.2)
    assert len(rsyslog.lines()) == 5
    by_key = {(line[0], line[5]): line for line in got}
    # local3 (19) * 8 + warning (4) = 156 over UDP; local5 (21) * 8 + warning = 172 over TCP.
    assert set(by_key) == {("156", "ALARM"), ("172", "ALARM"), ("157", "LOGIN"), ("155", "ROLLBACK"),
                           ("171", "ROLLBACK")}
    alarm = by_key["156", "ALARM"]
    assert alarm[2:5] == ["pribox-lab", "pribox", "4242"]
    assert alarm[6] == '[pribox@32473 logger="pribox.span" span="1"]'
    assert alarm[7] == "span 1: alarm LOS raised (active: LOS)"
    stamp = datetime.fromisoformat(alarm[1].replace("Z", "+00:00"))
    assert stamp.tzinfo is not None and abs(stamp.timestamp() - before) < 5
    assert by_key["157", "LOGIN"][6] == '[pribox@32473 logger="pribox.auth" user="admin"]'
    assert by_key["171", "ROLLBACK"][7] == 'commit 7 "weird ]\\ value" rolled back'
    assert (udp.sent, tcp.sent, udp.dropped, tcp.dropped) == (3, 2, 0, 0)


def test_a_stopped_server_never_blocks_and_drops_are_counted(rsyslog, box_logger):
    logger, handlers = box_logger
    tcp = SyslogServer(ServerConfig("127.0.0.1", rsyslog.tcp_port, "tcp", queue=20), retry_min=0.1, retry_max=0.2)
    tcp.start()
    handler = SyslogHandler([tcp], hostname="pribox-lab")
    handlers.append(handler)
    logger.addHandler(handler)
    logging.getLogger("pribox.daemon").info("before the server stops")
    rsyslog.wait_for(1)
    rsyslog.stop()
    began = time.monotonic()
    for i in range(500):
        logging.getLogger("pribox.span").warning("span 2: alarm AIS raised (%d)", i)
    assert time.monotonic() - began < 0.5            # the box never waited for the network
    deadline = time.monotonic() + 5
    while tcp.state != "down" and time.monotonic() < deadline:
        time.sleep(0.02)
    assert tcp.state == "down" and tcp.dropped >= 500 - 20 - 2 and tcp.last_error
    shown = "\n".join(format_logging(handler, "info"))
    assert f"tcp://127.0.0.1:{rsyslog.tcp_port}, facility local0, severity info and above" in shown
    assert f"{tcp.dropped} dropped" in shown and "state down" in shown and "last error:" in shown
    queued = tcp.queued
    assert queued == 20 and tcp.sent == 1 and tcp.sent + tcp.dropped + queued == 501
    # The server comes back: the sender reconnects on its own and what is queued then arrives.
    rsyslog.output.unlink()
    rsyslog.start()
    got = rsyslog.wait_for(queued)
    assert all(line[5] == "ALARM" for line in got) and tcp.state == "up" and tcp.sent == 1 + queued


def _self_signed(folder):
    key, cert = folder / "server.key", folder / "server.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"], check=True, capture_output=True)
    return key, cert


def test_tls_transport_sends_octet_counted_frames_to_a_verified_server(tmp_path, box_logger):
    logger, handlers = box_logger
    key, cert = _self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    received = bytearray()

    def serve():
        conn, _ = listener.accept()
        with context.wrap_socket(conn, server_side=True) as tls:
            tls.settimeout(5)
            while received.count(b"<") < 2:
                data = tls.recv(4096)
                if not data:
                    break
                received.extend(data)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    server = SyslogServer(ServerConfig("127.0.0.1", port, "tls", ca_file=str(cert)))
    server.start()
    handler = SyslogHandler([server], hostname="pribox-lab")
    handlers.append(handler)
    logger.addHandler(handler)
    logging.getLogger("pribox.isdn").info("span 1: D-channel up")
    logging.getLogger("pribox.upgrade").warning("bundle 2.1 installed in slot B")
    thread.join(10)
    listener.close()
    frames = []
    data = bytes(received)
    while data:
        length, _, rest = data.partition(b" ")
        frames.append(rest[:int(length)])
        data = rest[int(length):]
    assert [f.split(b" ")[5] for f in frames] == [b"DCHAN", b"UPGRADE"]
    assert frames[0].startswith(b"<134>1 ") and frames[1].startswith(b"<132>1 ")
    deadline = time.monotonic() + 5
    while server.sent < 2 and time.monotonic() < deadline:     # counted just after the send returns
        time.sleep(0.01)
    assert server.sent == 2 and server.dropped == 0


def test_a_server_whose_certificate_does_not_verify_is_down_not_trusted(tmp_path):
    (tmp_path / "server").mkdir()
    (tmp_path / "ca").mkdir()
    key, cert = _self_signed(tmp_path / "server")
    _, unrelated_cert = _self_signed(tmp_path / "ca")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve():
        try:
            conn, _ = listener.accept()
            with context.wrap_socket(conn, server_side=True):
                pass
        except (ssl.SSLError, OSError):
            pass

    threading.Thread(target=serve, daemon=True).start()
    server = SyslogServer(ServerConfig("127.0.0.1", port, "tls", ca_file=str(unrelated_cert)))
    server.start()
    server.submit(b"<134>1 - - - - - - not for an unverified server")
    deadline = time.monotonic() + 5
    while server.state != "down" and time.monotonic() < deadline:
        time.sleep(0.02)
    listener.close()
    server.stop(0)
    assert "CERTIFICATE_VERIFY_FAILED" in (server.last_error or "") and server.sent == 0 and server.dropped == 1


def test_format_escapes_and_frames():
    message = format_message(facility=16, severity=3, epoch=0.5, hostname="box one", app_name="pribox", procid=None,
                             msgid="CALLFAIL", sd={"pribox@32473": {"why": 'a "b" ]c\\'}}, message="héllo")
    assert message.startswith(b'<131>1 1970-01-01T00:00:00.500000Z box_one pribox - CALLFAIL '
                              b'[pribox@32473 why="a \\"b\\" \\]c\\\\"] \xef\xbb\xbfh')
    assert octet_counted(b"abc") == b"3 abc"
    with pytest.raises(ValueError, match="facility 24"):
        format_message(facility=24, severity=0, epoch=0, hostname=None, app_name=None, procid=None, msgid=None,
                       sd=None, message="")


@pytest.mark.parametrize("name, text, msgid", [
    ("pribox.span", "span 1: alarm LOS raised", "ALARM"),
    ("pribox.isdn", "span 1: layer 1 down", "SPAN"),
    ("pribox.isdn", "span 1: D-channel up", "DCHAN"),
    ("pribox.isdn.dchannel", "D-channel MDL-ERROR C", "DCHAN"),
    ("pribox.isdn", "span 1: call 3 not answered: busy", "CALLFAIL"),
    ("pribox.auth", "user admin locked out", "LOGIN"),
    ("pribox.config", "commit 4 must be confirmed", "CONFIG"),
    ("pribox.config", "rolled back to commit 3", "ROLLBACK"),
    ("pribox.daemon", "configuration reloaded; changed sections: isdn", "CONFIG"),
    ("pribox.daemon", "service isdn crashed (boom)", "SERVICE"),
    ("pribox.upgrade", "installed", "UPGRADE"),
    ("pribox.wire", "anything", "WIRE"),
])
def test_msgids(name, text, msgid):
    record = logging.LogRecord(name, logging.INFO, __file__, 1, text, (), None)
    assert msgid_of(record, text) == msgid


def test_logging_section_checks_servers_naming_the_field():
    with pytest.raises(ConfigError) as info:
        load_text('[logging]\n[[logging.server]]\nhost = "no-such-host.invalid"\nfacility = "local9"\n'
                  'severity = 8\n', "box.toml")
    text = str(info.value)
    assert 'box.toml:3:1: logging.server[0].host: syslog server "no-such-host.invalid" does not resolve' in text
    assert "logging.server[0].facility: expected a facility name" in text and 'got "local9"' in text
    assert "logging.server[0].severity: severity 8 is out of range 0..7" in text
    with pytest.raises(ConfigError, match=r"logging.server\[0\].ca_file: only for transport = \"tls\""):
        load_text('[logging]\n[[logging.server]]\nhost = "127.0.0.1"\nca_file = "/etc/ca.pem"\n')
    config = load_text('[logging]\n[[logging.server]]\nhost = "localhost"\ntransport = "tls"\nfacility = 17\n'
                       'severity = "warn"\n')
    (server,) = syslog.server_configs(config.logging)
    assert (server.address, server.facility, server.severity) == (("localhost", 6514), 17, 4)


def test_apply_swaps_servers_only_when_they_change():
    one = [ServerConfig("127.0.0.1", free_port(socket.SOCK_DGRAM))]
    first = syslog.apply(one, hostname="a")
    try:
        assert syslog.apply(list(one), hostname="a") is first and syslog.current() is first
        parsed = registry.parse("sh logg")                   # the console command, abbreviated
        shown = "\n".join(parsed.node.handler(None, parsed.args))
        assert "Remote syslog: 1 server(s), hostname a" in shown and "0 dropped, 0 queued of 1000" in shown
        second = syslog.apply(one, hostname="b")
        assert second is not first and first.servers[0].state == "stopped"
    finally:
        assert syslog.apply([], hostname="b") is None and syslog.current() is None
    assert "disabled" in format_logging(None)[0]
    assert not any(isinstance(h, SyslogHandler) for h in logging.getLogger("pribox").handlers)
