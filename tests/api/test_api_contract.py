"""The OpenAPI description and the server agree: every route is described, every described
path is served, and the description's schemas are themselves valid JSON Schema."""

import re

from jsonschema import Draft202012Validator

from pbx_cti.api.app import CALL_ACTIONS, SUPERVISE_MODES, AgentApi, Credentials
from pbx_cti.cti import CtiEngine
from pbx_cti.cti.runner import CtiRunner
from pbx_cti.recording.api_routes import add_routes, make_authorize
from pbx_cti.metrics.stats_api import add_stats_route
from pbx_cti.webrtc.signalling import EndpointThread, install as install_softphone
from runtime.bus import EventBus
from runtime.clock import ManualClock
from tests.api.api_world import SPEC
from tests.cti.cti_world import center


def test_every_route_is_described_and_every_description_is_served():
    bus = EventBus()
    api = AgentApi(CtiRunner(CtiEngine(center()), ManualClock(), bus), bus, Credentials())
    add_routes(api.app.router, lambda: None, make_authorize(api.session))   # as the api service adds them
    add_stats_route(api)  # the api service adds it beside the agent API's own routes
    install_softphone(api, EndpointThread(lambda: None))   # with [webrtc] enabled (not started here)
    served = {(route.method, re.sub(r"\{[^}]+\}", "{}", route.resource.canonical))
              for route in api.app.router.routes() if route.method != "HEAD"}
    described = {(method.upper(), re.sub(r"\{[^}]+\}", "{}", path))
                 for path, item in SPEC["paths"].items() for method in item}
    assert served == described


def test_the_schemas_are_valid_and_the_enums_match_the_server():
    for name, schema in SPEC["components"]["schemas"].items():
        Draft202012Validator.check_schema(schema)
    paths = SPEC["paths"]
    actions = paths["/api/v1/agents/{agent}/calls/{action}"]["post"]["parameters"][1]["schema"]["enum"]
    modes = paths["/api/v1/agents/{agent}/supervise/{mode}"]["post"]["parameters"][1]["schema"]["enum"]
    assert tuple(actions) == CALL_ACTIONS and tuple(modes) == SUPERVISE_MODES
    for path, item in paths.items():
        for method, op in item.items():
            for status, answer in op["responses"].items():
                audio = path.endswith("/audio") and status in ("200", "206", "416")   # the WAV itself
                assert status == "101" or audio or "application/json" in answer["content"], (method, path, status)
