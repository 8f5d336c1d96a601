"""GET /api/v1/stats on the running api service: JSON and CSV equal what `pribox stats` prints
from the same event log; supervisors only; bad parameters are a 400 naming the parameter.
Every JSON answer is checked against pbx_cti/api/openapi.json."""

import asyncio
import csv
import io
import math

import aiohttp
from hypothesis import example, given, settings, strategies as st
from multidict import MultiDict

from firmware import cli
from firmware.appliance.services import StopReason
from pbx_cti.api.app import Refused
from pbx_cti.cti.stats_cli import AGENT_COLUMNS, QUEUE_COLUMNS, StatsQuery, cell
from pbx_cti.metrics.stats_api import parse_stats_query
from tests.api.api_world import operation, validator
from tests.metrics.metrics_world import base, busy_morning, login, start_service, supervisor


async def get(http, service, query: str, headers: dict):
    async with http.get(base(service) + "/api/v1/stats" + query, headers=headers) as response:
        if response.content_type == "text/csv":
            return response.status, await response.text()
        answer = await response.json()
        _, op = operation("GET", "/api/v1/stats")
        documented = op["responses"].get(str(response.status))
        assert documented is not None, f"status {response.status} is not documented ({answer})"
        validator(documented["content"]["application/json"]["schema"]).validate(answer)
        return response.status, answer


def pribox_stats(capsys, *args) -> str:
    capsys.readouterr()
    assert cli.main(["stats", *args]) == 0
    return capsys.readouterr().out


def test_json_and_csv_equal_pribox_stats_and_only_supervisors_get_them(tmp_path, capsys):
    async def scenario():
        service = await start_service(tmp_path)
        try:
            async with aiohttp.ClientSession() as http:
                await busy_morning(http, service)
                service.runner("call_ended", "c1")
                # Everyone logs out, so no figure depends on the moment it is computed.
                for agent in ("alice", "bob"):
                    service.runner("logout", agent)
                sup = await supervisor(http, service)
                answers = {}
                for query in ("", "?interval=15", "?queue=sales&interval=15", "?agent=alice&agent=bob",
                              "?sl_threshold=0&short_abandon=0"):
                    answers[query] = (await get(http, service, query, sup),
                                      await get(http, service, query + ("&" if query else "?") + "format=csv", sup))
                agent = await login(http, service, "alice", "2001")
                refused = [await get(http, service, "", agent), await get(http, service, "", {}),
                           await get(http, service, "?interval=0", sup), await get(http, service, "?since=soon", sup),
                           await get(http, service, "?format=xml", sup), await get(http, service, "?colour=red", sup),
                           await get(http, service, "?interval=5&interval=15", sup)]
            return answers, refused
        finally:
            await service.stop(StopReason.SHUTDOWN)

    answers, refused = asyncio.run(scenario())
    db = str(tmp_path / "cti-events.sqlite")
    options = {"": [], "?interval=15": ["--interval", "15"], "?queue=sales&interval=15": ["--queue", "sales", "--interval", "15"],
               "?agent=alice&agent=bob": ["--agent", "alice", "--agent", "bob"],
               "?sl_threshold=0&short_abandon=0": ["--sl-threshold", "0", "--short-abandon", "0"]}
    for query, ((status, body), (csv_status, text)) in answers.items():
        assert status == 200 and csv_status == 200
        printed = pribox_stats(capsys, "--db", db, "--csv", *options[query])
        assert text == printed, query
        # The JSON holds the same rows, as numbers: shown as the CLI shows them they are its CSV.
        expected = list(csv.reader(io.StringIO(printed)))
        shown = []
        for key, columns in (("queues", QUEUE_COLUMNS), ("agents", AGENT_COLUMNS)):
            if body.get(key):
                shown.append(columns)
                shown += [[cell(c, row[c]) for c in columns] for row in body[key]]
        assert shown == expected, query
    body = answers[""][0][1]
    sales = next(r for r in body["queues"] if r["queue"] == "sales" and r["interval"] == "total")
    assert (sales["offered"], sales["answered"], sales["abandoned"], sales["handled"], sales["sl"]) == (3, 1, 1, 1, 1.0)
    assert "agents" not in answers["?queue=sales&interval=15"][0][1]
    assert {r["agent"] for r in answers["?agent=alice&agent=bob"][0][1]["agents"]} == {"alice", "bob"}
    assert "queues" not in answers["?agent=alice&agent=bob"][0][1]
    # The text table of `pribox stats` is the same computation.
    assert "sales" in pribox_stats(capsys, "--db", db)

    statuses = [status for status, _ in refused]
    assert statuses == [403, 401, 400, 400, 400, 400, 400]
    reasons = [answer["error"] for _, answer in refused]
    assert "only a supervisor" in reasons[0]
    assert "'interval'" in reasons[2] and "more than 0 minutes" in reasons[2]
    assert "'since'" in reasons[3] and "today" in reasons[3]
    assert "'format'" in reasons[4] and "xml" in reasons[4]
    assert "colour" in reasons[5]
    assert "given 2 times" in reasons[6]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["interval", "since", "until", "queue", "agent", "sl_threshold",
                                           "short_abandon", "format", "token", "x"]),
                          st.text(max_size=12)), max_size=6))
@example([("interval", "nan")])
@example([("sl_threshold", "inf")])
@example([("short_abandon", "-0.5")])
@example([("until", "2027-02-30")])
def test_any_query_is_parsed_or_refused_with_a_400(pairs):
    params = MultiDict(pairs)
    try:
        query, fmt = parse_stats_query(params)
    except Refused as exc:
        assert exc.status == 400 and exc.reason
        return
    assert isinstance(query, StatsQuery) and fmt in ("json", "csv")
    assert query.queues == tuple(params.getall("queue", [])) and query.agents == tuple(params.getall("agent", []))
    assert query.interval is None or 0 < query.interval < math.inf
    assert 0 <= query.sl_threshold < math.inf and 0 <= query.short_abandon < math.inf
