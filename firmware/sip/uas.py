"""A transaction user for the registrar side of the box: REGISTER to the registrar, OPTIONS
answered (and counted as a keepalive), anything else checked and refused as RFC 3261 asks.

Sans-I/O: `handle(event, now)` reads one transaction-layer event and answers through the
layer; the caller then drains the layer as usual.
"""

from __future__ import annotations

from firmware.sip.checks import UasPolicy, check_request
from firmware.sip.dialog import answer_options, new_tag
from firmware.sip.message import make_response
from firmware.sip.registrar import Registrar
from firmware.sip.transaction import MessageRejected, RequestReceived, TransactionLayer


class RegistrarUas:
    def __init__(self, layer: TransactionLayer, registrar: Registrar, policy: UasPolicy | None = None):
        self.layer = layer
        self.registrar = registrar
        self.policy = policy or UasPolicy(methods=frozenset({"REGISTER", "OPTIONS", "ACK", "CANCEL"}))
        self.answered: dict[int, int] = {}     # status -> count, for the console and the logs
        self.rejected = 0

    def handle(self, event, now: float) -> None:
        if isinstance(event, MessageRejected):
            self.rejected += 1
            return
        if not isinstance(event, RequestReceived) or event.transaction is None:
            return  # ACKs of 2xx, responses: nothing for a registrar to do
        request, tx = event.request, event.transaction
        self.registrar.keepalive(event.source, now)
        problem = check_request(request, self.policy)
        if problem is not None:
            response = make_response(request, problem.status, problem.phrase, to_tag=new_tag())
            for name, value in problem.extra_headers:
                response.add(name, value)
        elif request.method == "REGISTER":
            response = self.registrar.handle_register(request, event.source, event.transport, now,
                                                      to_tag=new_tag())
        elif request.method == "OPTIONS":
            response = answer_options(request, self.policy)
        elif request.method == "CANCEL":
            response = make_response(request, 481, to_tag=new_tag())
        else:
            return
        self.answered[response.status] = self.answered.get(response.status, 0) + 1
        self.layer.send_response(tx, response, now)
