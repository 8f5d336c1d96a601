"""HTTP lookups against a real HTTP server on 127.0.0.1 and SQLite lookups against a real
database file, off the loop; and a session fed by them."""

import asyncio
import json
import sqlite3
import threading
import time
import textwrap
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from pbx_cti.ivr.actions import Hangup, Lookup, LookupFailure, LookupRequest, RouteToSkill
from pbx_cti.ivr.flow import load_flow_text
from pbx_cti.ivr.lookups import LookupRunner, run_lookup
from pbx_cti.ivr.session import IvrSession


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def _send(self, code: int, body: bytes, kind: str = "application/json") -> None:
        self.send_response(code)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path.startswith("/customer/0212"):
            self._send(200, json.dumps({"customer": {"name": "김영희", "tier": "gold", "accounts": [
                {"no": "110-1"}]}}, ensure_ascii=False).encode())
        elif self.path == "/slow":
            time.sleep(1.0)
            self._send(200, b"{}")
        elif self.path == "/bad":
            self._send(200, b"<html>not json</html>", "text/html")
        elif self.path == "/auth":
            self._send(200, json.dumps({"auth": self.headers.get("Authorization")}).encode())
        elif self.path == "/boom":
            self._send(500, b"{}")
        else:
            self._send(404, b'{"error": "no such customer"}')

    def do_POST(self):
        length = int(self.headers["Content-Length"])
        body = json.loads(self.rfile.read(length))
        self._send(200, json.dumps({"echo": body, "type": self.headers["Content-Type"]}).encode())


@pytest.fixture(scope="module")
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def http(url: str, **kwargs) -> LookupRequest:
    return LookupRequest("http", kwargs.pop("timeout", 2.0), url=url, **kwargs)


def test_http_get_post_404_500_bad_json_and_refused(server):
    result = asyncio.run(run_lookup(http(server + "/customer/0212")))
    assert result["customer"]["name"] == "김영희"
    assert asyncio.run(run_lookup(http(server + "/auth", headers={"Authorization": "Bearer k"}))) == {"auth": "Bearer k"}
    echo = asyncio.run(run_lookup(http(server + "/post", method="POST", body={"ani": "0212"})))
    assert echo == {"echo": {"ani": "0212"}, "type": "application/json; charset=utf-8"}
    assert asyncio.run(run_lookup(http(server + "/nobody"))) == LookupFailure("HTTP 404 Not Found", not_found=True)
    assert asyncio.run(run_lookup(http(server + "/boom"))) == LookupFailure("HTTP 500 Internal Server Error")
    bad = asyncio.run(run_lookup(http(server + "/bad")))
    assert isinstance(bad, LookupFailure) and bad.reason.startswith("response is not JSON") and not bad.not_found
    refused = asyncio.run(run_lookup(http("http://127.0.0.1:1/x")))
    assert isinstance(refused, LookupFailure) and "cannot reach" in refused.reason


def test_http_timeout_does_not_block_the_loop(server):
    async def scenario():
        ticks = 0

        async def ticker():
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        task = asyncio.create_task(ticker())
        started = time.monotonic()
        result = await run_lookup(http(server + "/slow", timeout=0.3))
        elapsed = time.monotonic() - started
        task.cancel()
        return result, elapsed, ticks

    result, elapsed, ticks = asyncio.run(scenario())
    assert result == LookupFailure("timed out after 0.3 s")
    assert 0.25 < elapsed < 0.9
    assert ticks >= 15   # the loop kept running while the thread waited


@pytest.fixture
def database(tmp_path):
    path = tmp_path / "customers.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE customer (phone TEXT PRIMARY KEY, name TEXT, tier TEXT, balance INTEGER)")
        db.executemany("INSERT INTO customer VALUES (?, ?, ?, ?)",
                       [("0212345678", "박민수", "silver", 120000), ("01099998888", "이수진", "gold", 5)])
    return path


def sql(database, query, params=(), timeout=2.0):
    return LookupRequest("sqlite", timeout, database=str(database), query=query, params=tuple(params))


def test_sqlite_row_no_row_bad_query_missing_file_and_read_only(database, tmp_path):
    q = "SELECT name, tier, balance FROM customer WHERE phone = ?"
    assert asyncio.run(run_lookup(sql(database, q, ["0212345678"]))) == {"name": "박민수", "tier": "silver",
                                                                          "balance": 120000}
    assert asyncio.run(run_lookup(sql(database, q, ["000"]))) == LookupFailure("no row", not_found=True)
    bad = asyncio.run(run_lookup(sql(database, "SELECT nam FROM customer")))
    assert isinstance(bad, LookupFailure) and "no such column: nam" in bad.reason
    wrong_params = asyncio.run(run_lookup(sql(database, q, [])))
    assert isinstance(wrong_params, LookupFailure) and "query failed" in wrong_params.reason
    missing = asyncio.run(run_lookup(sql(tmp_path / "none.db", q, ["1"])))
    assert missing == LookupFailure(f"no database file {tmp_path / 'none.db'}")
    write = asyncio.run(run_lookup(sql(database, "DELETE FROM customer RETURNING name")))
    assert isinstance(write, LookupFailure) and "readonly" in write.reason
    with sqlite3.connect(database) as db:
        assert db.execute("SELECT count(*) FROM customer").fetchone() == (2,)


def test_sqlite_query_past_its_timeout_is_interrupted(database):
    heavy = ("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100000000) "
             "SELECT count(*) AS c FROM n")
    started = time.monotonic()
    result = asyncio.run(run_lookup(sql(database, heavy, timeout=0.2)))
    assert result == LookupFailure("timed out after 0.2 s")
    assert time.monotonic() - started < 1.5


FLOW = """
[flow]
entry = "who"
[nodes.who]
type = "lookup"
source = "http"
url = "URL/customer/${calling}"
timeout = 1
result = { name = "customer.name", account = "customer.accounts.0.no" }
next = "tier"
on_error = "bye"
[nodes.tier]
type = "lookup"
source = "sqlite"
database = "DB"
query = "SELECT tier FROM customer WHERE phone = ?"
params = ["${calling}"]
result = { tier = "tier" }
next = "agent"
on_error = "bye"
[nodes.agent]
type = "route"
skill = "${tier}"
[nodes.bye]
type = "hangup"
cause = 41
"""


def test_a_session_fed_by_the_runner_on_a_real_loop(server, database):
    flow = load_flow_text(textwrap.dedent(FLOW.replace("URL", server).replace("DB", str(database))), "t.toml")

    async def scenario():
        loop = asyncio.get_running_loop()
        session = IvrSession(flow, {"calling": "0212345678"}, loop.time())
        runner = LookupRunner()
        done = asyncio.Event()
        handed = []

        def pump():
            while (action := session.next_action()) is not None:
                if isinstance(action, Lookup):
                    runner.start(action, lambda i, r: (session.lookup_result(i, r, loop.time()), pump()))
                else:
                    handed.append(action)
                    done.set()

        pump()
        await asyncio.wait_for(done.wait(), 5)
        runner.close()
        return session, handed

    session, handed = asyncio.run(scenario())
    assert handed == [RouteToSkill("silver", session.call_data, 0)]
    assert session.variables["name"] == "김영희" and session.variables["account"] == "110-1"
    assert session.path == ["who", "tier", "agent"]

    async def unknown_caller():
        loop = asyncio.get_running_loop()
        session = IvrSession(flow, {"calling": "0999"}, loop.time())
        action = session.next_action()
        session.lookup_result(action.id, await run_lookup(action.request), loop.time())
        return session.next_action()

    assert asyncio.run(unknown_caller()) == Hangup(41)
