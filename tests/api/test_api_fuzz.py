"""Whatever bytes a client sends as a body, the API answers with a documented status and a JSON
reason, and the engine's state is as it was (unless the request was valid and allowed)."""

import asyncio
import json

from hypothesis import HealthCheck, given, settings, strategies as st

from pbx_cti.api.app import ApiSettings
from tests.api.api_world import World

json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
                           max_leaves=8)
bodies = st.one_of(
    st.binary(max_size=64),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries({}, optional={"agent": json_values, "password": json_values, "extension": json_values,
                                        "reason": json_values, "code": json_values, "state": json_values,
                                        "groups": json_values}).map(lambda v: json.dumps(v).encode()),
)
paths = st.sampled_from(["/api/v1/login", "/api/v1/supervisor/login", "/api/v1/agents/alice/not-ready",
                         "/api/v1/agents/alice/wrap-up", "/api/v1/agents/alice/state", "/api/v1/agents/alice/ready",
                         "/api/v1/agents/alice/calls/hold"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(path=paths, body=bodies)
def test_any_body_gets_a_documented_json_answer_and_bad_ones_change_nothing(path, body):
    async def scenario():
        async with World(ApiSettings(request_burst=1000)) as w:
            token = await w.supervisor() if path.endswith("/state") else await w.login("alice")
            before = w.runner.engine.snapshot()
            status, answer = await w.contract.call("POST", path, raw=body, token=token)
            if status >= 400:
                assert answer["error"]
                assert w.runner.engine.snapshot() == before
    asyncio.run(scenario())
