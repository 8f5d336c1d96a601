"""A CDR filled from what the PBX holds: the gateway's numbers before and after mapping and the
seed's IVR flow walked by a caller who presses 3."""

from pathlib import Path

from firmware.gateway.numbers import Number
from firmware.isdn.q931.ies import Presentation, TypeOfNumber
from pbx_cti.cdr import CallRecord, CdrReader, CdrStore, Leg, ivr_fields, number_fields
from pbx_cti.ivr.flow import load_flow_file
from tests.support.ivr_driver import Driver

DEFAULT_FLOW = Path(__file__).resolve().parents[2] / "pbx_cti" / "ivr" / "default" / "main.toml"


def test_the_seed_call_recorded_from_the_gateway_and_the_ivr(tmp_path):
    received = dict(called=Number("15881234", TypeOfNumber.NATIONAL),
                    calling=Number("01012345678", TypeOfNumber.NATIONAL, presentation=Presentation.ALLOWED),
                    redirecting=Number("07012345678", TypeOfNumber.NATIONAL, presentation=Presentation.RESTRICTED,
                                       anonymous=True))
    mapped = dict(called=Number("7000", TypeOfNumber.UNKNOWN), calling=received["calling"],
                  redirecting=received["redirecting"])
    ivr = Driver(load_flow_file(DEFAULT_FLOW), {"call_id": "c7", "calling": "01012345678", "called": "7000"})
    ivr.finish_prompt()
    ivr.finish_prompt()
    ivr.press("3")
    ivr.finish_prompt()
    ivr.session.route_failed("nobody of the group logged in", ivr.clock.now(), no_agents=True)   # all busy
    ivr._pump()
    ivr.finish_prompt()

    with CdrStore.in_state_dir(tmp_path) as store:
        store.open(CallRecord("c7", legs=(Leg("in", "isdn", "carrier", 1, 1),), **number_fields(**received)))
        store.update("c7", **number_fields(**mapped, mapped=True), route_entry="center", route_target="ivr:main")
        store.update("c7", **ivr_fields(ivr.session))
        store.close("c7", cause=ivr.session.hangup_cause, cleared_by="box")
    call = CdrReader.in_state_dir(tmp_path).call("c7")
    assert (call.called_number, call.called_ton, call.called_mapped, call.called_mapped_ton) == \
        ("15881234", "national", "7000", "unknown")
    assert (call.calling_number, call.calling_presentation, call.calling_mapped) == \
        ("01012345678", "allowed", "01012345678")
    assert (call.redirecting_number, call.redirecting_presentation) == ("anonymous", "restricted")
    assert call.ivr_path == ("greeting", "menu", "service", "incident", "incident_report", "all_busy")
    assert call.digits == "3"
    assert call.ivr_data == ivr.session.call_data and call.ivr_data["menu_choice"] == "3"
    assert (call.cause, call.cleared_by) == (16, "box")
