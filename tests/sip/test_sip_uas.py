"""The registrar's transaction user, sans-I/O: what it answers to each kind of request."""

from firmware.sip.message import parse_message
from firmware.sip.registrar import Registrar
from firmware.sip.transaction import TransactionLayer
from firmware.sip.uas import RegistrarUas
from tests.sip.torture import MESSAGES

SOURCE = ("192.0.2.77", 5060)


def answer(data: bytes):
    layer = TransactionLayer(send_100_trying=False)
    uas = RegistrarUas(layer, Registrar(("example.com",)))
    layer.receive(data, SOURCE, 0.0)
    while (event := layer.next_event()) is not None:
        uas.handle(event, 0.0)
    sent = [d for d, _, _ in layer.datagrams_to_send(0.0)]
    return sent[-1], uas


def parsed(data: bytes):
    response, uas = answer(data)
    return parse_message(response), uas


def test_options_register_and_refusals():
    options, _ = parsed(MESSAGES["zeromf"])
    assert options.status == 200 and "REGISTER" in options.get("Allow") and options.to.tag
    register, uas = parsed(MESSAGES["cparam02"])
    assert register.status == 200 and register.contacts[0].params["expires"] == "3600"
    assert uas.registrar.lookup("sip:watson@example.com", 0)
    bext, _ = parsed(MESSAGES["bext01"])
    assert bext.status == 420
    assert bext.get("Unsupported") == "nothingSupportsThis, nothingSupportsThisEither"
    invite, _ = parsed(MESSAGES["esc01"])
    assert invite.status == 405 and invite.get("Allow")
    unknown, _ = parsed(MESSAGES["esc02"])
    assert unknown.status == 501


def test_malformed_input_is_answered_and_counted():
    raw, uas = answer(MESSAGES["badinv01"])
    # the Via is copied as received (RFC 3261 §8.2.6.2), broken as it is
    assert raw.startswith(b"SIP/2.0 400 Bad Via: empty parameter\r\n")
    assert b"\r\nVia: SIP/2.0/UDP 192.0.2.15;;,;,,\r\n" in raw
    assert uas.rejected == 1
    quotbal, _ = answer(MESSAGES["quotbal"])
    assert quotbal.startswith(b"SIP/2.0 400 Bad To: unterminated quoted string\r\n")
