"""The SIP transaction layer (RFC 3261 §17, RFC 6026, RFC 3581) as a sans-I/O state machine.

    layer = TransactionLayer(Timers(t1=0.5))
    layer.receive(data_or_message, source_addr, now, transport="UDP")
    layer.send_request(request, dest_addr, now) -> ClientTransaction
    layer.send_response(server_transaction, response, now)
    layer.datagrams_to_send(now) -> [(bytes, addr, transport)]
    layer.next_event() -> RequestReceived | ResponseReceived | TransactionTimeout | ...
    layer.get_timer() -> the next deadline or None;  layer.handle_timer(now)

INVITE client (timers A, B, D, and M of RFC 6026 while 2xx retransmissions still arrive),
non-INVITE client (E, F, K), INVITE server (G, H, I, and L of RFC 6026 while absorbing
retransmissions after a 2xx), non-INVITE server (J).  Timer C belongs to proxies.  On a reliable
transport A, E and G never run and D, I, J, K are zero.  The client transaction sends the ACK
for a non-2xx final response itself; the ACK for a 2xx belongs to the dialog (TU).
"""

from __future__ import annotations

import heapq
import ipaddress
import itertools
from dataclasses import dataclass, field
from collections import deque
from typing import Union

from firmware.sip.errors import SipError
from firmware.sip.grammar import Via, parse_via, split_list
from firmware.sip.message import (Request, Response, decode, error_response, make_response)

MAGIC_COOKIE = "z9hG4bK"
RELIABLE_TRANSPORTS = frozenset({"TCP", "TLS", "SCTP", "WS", "WSS"})
Address = tuple[str, int]


@dataclass
class Timers:
    """RFC 3261 Table 4; T1 is the RTT estimate, T2 the cap on non-INVITE retransmission
    intervals, T4 the time a message may linger in the network."""

    t1: float = 0.5
    t2: float = 4.0
    t4: float = 5.0


# --- events handed to the transaction user -------------------------------------------------

@dataclass
class RequestReceived:
    request: Request
    source: Address
    transport: str
    transaction: "ServerTransaction | None"     # None for an ACK to a 2xx
    cancels: "ServerTransaction | None" = None   # for a CANCEL: the INVITE it matches


@dataclass
class ResponseReceived:
    response: Response
    transaction: "ClientTransaction | None"      # None for a 2xx retransmission after the end


@dataclass
class TransactionTimeout:
    transaction: "ClientTransaction | ServerTransaction"
    timer: str                                   # "B", "F" or "H"


@dataclass
class TransportFailed:
    """A message could not be sent (ICMP unreachable, refused connection): every transaction
    toward that address ends (RFC 3261 §17.1.4, §17.2.4)."""

    transaction: "ClientTransaction | ServerTransaction"
    address: Address


@dataclass
class TransactionTerminated:
    transaction: "ClientTransaction | ServerTransaction"


@dataclass
class MessageRejected:
    """A message that could not be parsed: answered with error.status when it was a request
    whose Via could be read, otherwise dropped."""

    error: SipError
    source: Address
    answered: bool


Event = Union[RequestReceived, ResponseReceived, TransactionTimeout, TransactionTerminated,
              MessageRejected, TransportFailed]


# --- transactions ---------------------------------------------------------------------------

class _Transaction:
    def __init__(self, layer: "TransactionLayer", request: Request, remote: Address,
                 transport: str, key: tuple):
        self.layer = layer
        self.request = request
        self.remote = remote
        self.transport = transport.upper()
        self.key = key
        self.state = ""
        self.timers: dict[str, float] = {}
        self.last_response: Response | None = None
        self.retransmissions = 0

    @property
    def reliable(self) -> bool:
        return self.transport in RELIABLE_TRANSPORTS

    @property
    def method(self) -> str:
        return self.request.method

    @property
    def branch(self) -> str:
        return self.key[0]

    def _arm(self, name: str, when: float) -> None:
        self.timers[name] = when
        heapq.heappush(self.layer._heap, (when, next(self.layer._seq), name, self))

    def _send(self, message, dest: Address | None = None) -> None:
        self.layer._outbox.append((message.to_bytes(), dest or self.remote, self.transport))

    def _terminate(self) -> None:
        self.state = "Terminated"
        self.timers.clear()
        self.layer._forget(self)
        self.layer._events.append(TransactionTerminated(self))

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.method} {self.branch} {self.state}>"


class ClientTransaction(_Transaction):
    def __init__(self, layer, request, remote, transport, key, now: float):
        super().__init__(layer, request, remote, transport, key)
        t = layer.timers
        self.invite = request.method == "INVITE"
        self.state = "Calling" if self.invite else "Trying"
        self._interval = t.t1
        if not self.reliable:
            self._arm("A" if self.invite else "E", now + t.t1)
        self._arm("B" if self.invite else "F", now + 64 * t.t1)
        self.ack: Request | None = None
        self._send(request)

    def on_response(self, response: Response, now: float) -> None:
        t = self.layer.timers
        code = response.status
        events = self.layer._events
        if self.invite:
            if self.state in ("Calling", "Proceeding"):
                if code < 200:
                    self.state = "Proceeding"
                    self.timers.pop("A", None)
                    self.timers.pop("B", None)   # a provisional answer ends the INVITE timeout
                    events.append(ResponseReceived(response, self))
                elif code < 300:
                    # RFC 6026: stay Accepted for Timer M so 2xx retransmissions (and 2xx from
                    # other forks) reach the TU through us; the TU owns the ACK to a 2xx.
                    self.state = "Accepted"
                    self.timers.clear()
                    self._arm("M", now + 64 * t.t1)
                    events.append(ResponseReceived(response, self))
                else:
                    self.state = "Completed"
                    self.timers.clear()
                    self.ack = self._build_ack(response)
                    self._send(self.ack)
                    self._arm("D", now + (0 if self.reliable else 32.0))
                    events.append(ResponseReceived(response, self))
            elif self.state == "Completed" and code >= 300:
                self.retransmissions += 1
                self._send(self.ack)             # the final response came again: ACK again
            elif self.state == "Accepted" and 200 <= code < 300:
                events.append(ResponseReceived(response, self))
            return
        if self.state in ("Trying", "Proceeding"):
            if code < 200:
                self.state = "Proceeding"
                events.append(ResponseReceived(response, self))
            else:
                self.state = "Completed"
                self.timers.clear()
                self._arm("K", now + (0 if self.reliable else t.t4))
                events.append(ResponseReceived(response, self))

    def on_timer(self, name: str, now: float) -> None:
        t = self.layer.timers
        if name == "A" and self.state == "Calling":
            self._interval *= 2
            self._arm("A", now + self._interval)
            self.retransmissions += 1
            self._send(self.request)
        elif name == "E" and self.state in ("Trying", "Proceeding"):
            self._interval = min(2 * self._interval, t.t2) if self.state == "Trying" else t.t2
            self._arm("E", now + self._interval)
            self.retransmissions += 1
            self._send(self.request)
        elif name in ("B", "F"):
            self.layer._events.append(TransactionTimeout(self, name))
            self._terminate()
        elif name in ("D", "K", "M"):
            self._terminate()

    def _build_ack(self, response: Response) -> Request:
        """RFC 3261 §17.1.1.3: same Request-URI, Call-ID, From, CSeq number and top Via as the
        INVITE; To from the response; the INVITE's Route headers."""
        req = self.request
        ack = Request(method="ACK", uri=req.uri, raw_uri=req.raw_uri)
        ack.add("Via", split_list(req.get("Via"), "Via")[0])
        ack.add("Max-Forwards", "70")
        ack.add("From", req.get("From"))
        ack.add("To", response.get("To"))
        ack.add("Call-ID", req.call_id)
        ack.add("CSeq", f"{req.cseq.number} ACK")
        for route in req.get_all("Route"):
            ack.add("Route", route)
        return ack

    def cancel_request(self) -> Request:
        """The CANCEL for this INVITE (RFC 3261 §9.1): same branch, URI, Call-ID, From, To,
        CSeq number and Route."""
        req = self.request
        cancel = Request(method="CANCEL", uri=req.uri, raw_uri=req.raw_uri)
        cancel.add("Via", split_list(req.get("Via"), "Via")[0])
        cancel.add("Max-Forwards", "70")
        for name in ("From", "To", "Call-ID"):
            cancel.add(name, req.get(name))
        cancel.add("CSeq", f"{req.cseq.number} CANCEL")
        for route in req.get_all("Route"):
            cancel.add("Route", route)
        return cancel


class ServerTransaction(_Transaction):
    def __init__(self, layer, request, remote, transport, key, response_addr: Address):
        super().__init__(layer, request, remote, transport, key)
        self.invite = request.method == "INVITE"
        self.state = "Proceeding" if self.invite else "Trying"
        self.response_addr = response_addr
        self._interval = layer.timers.t1
        self.ack_received = False
        self.merge_key: tuple | None = None

    def on_retransmission(self, request: Request, now: float) -> None:
        self.retransmissions += 1
        if request.method == "ACK":
            if self.state == "Completed":
                self.state = "Confirmed"
                self.ack_received = True
                self.timers.clear()
                self._arm("I", now + (0 if self.reliable else self.layer.timers.t4))
            return
        if self.last_response is not None and self.state in ("Proceeding", "Completed"):
            self._send(self.last_response, self.response_addr)

    def respond(self, response: Response, now: float) -> None:
        t = self.layer.timers
        code = response.status
        if self.state in ("Completed", "Confirmed", "Terminated"):
            raise SipError(f"transaction is {self.state}; no further response", status=500)
        if self.state == "Accepted":
            if 200 <= code < 300:  # the TU retransmitting its 2xx (RFC 6026 §8.5)
                self._send(response, self.response_addr)
            return
        self.last_response = response
        self._send(response, self.response_addr)
        if code < 200:
            if not self.invite:
                self.state = "Proceeding"
            return
        if self.invite:
            if code < 300:
                self.state = "Accepted"
                self._arm("L", now + 64 * t.t1)
            else:
                self.state = "Completed"
                if not self.reliable:
                    self._arm("G", now + t.t1)
                self._arm("H", now + 64 * t.t1)
        else:
            self.state = "Completed"
            self._arm("J", now + (0 if self.reliable else 64 * t.t1))

    def on_timer(self, name: str, now: float) -> None:
        t = self.layer.timers
        if name == "G" and self.state == "Completed":
            self._interval = min(2 * self._interval, t.t2)
            self._arm("G", now + self._interval)
            self.retransmissions += 1
            self._send(self.last_response, self.response_addr)
        elif name == "H" and self.state == "Completed":
            self.layer._events.append(TransactionTimeout(self, "H"))
            self._terminate()
        elif name in ("I", "J", "L"):
            self._terminate()


# --- the layer ----------------------------------------------------------------------------

def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
        return True
    except ValueError:
        return False


def response_address(via: Via, source: Address, transport: str) -> Address:
    """Where a response goes (RFC 3261 §18.2.2 with RFC 3581): back on the connection for a
    reliable transport; else to `received` (or the sent-by host) at the `rport` port when the
    client asked for it, otherwise at the sent-by port (default 5060)."""
    if transport.upper() in RELIABLE_TRANSPORTS:
        return source
    host = via.params.get("received") or via.host
    rport = via.params.get("rport")
    port = int(rport) if rport else (via.port or 5060)
    return host.strip("[]"), port


def stamp_via(request: Request, source: Address) -> Via:
    """Add received= (and rport= when asked for) to the top Via, as a server does on receipt
    (RFC 3261 §18.2.1, RFC 3581 §4)."""
    for index, (name, value) in enumerate(request.headers):
        if name != "Via":
            continue
        items = split_list(value, "Via")
        if not any(items):
            continue  # an empty Via line ("Via:"); the parser found the real one after it
        via = parse_via(items[0])
        host, port = source
        if "rport" in via.params:
            via.params["rport"] = str(port)
            via.params["received"] = host
        elif via.host.strip("[]") != host:
            via.params["received"] = host
        items[0] = str(via)
        request.headers[index] = ("Via", ", ".join(items))
        return via
    raise SipError("missing", header="Via")


class TransactionLayer:
    def __init__(self, timers: Timers | None = None, send_100_trying: bool = True):
        self.timers = timers or Timers()
        self.send_100_trying = send_100_trying
        self._client: dict[tuple, ClientTransaction] = {}
        self._server: dict[tuple, ServerTransaction] = {}
        self._outbox: list[tuple[bytes, Address, str]] = []
        self._events: deque = deque()
        self.rejected = 0
        # Every armed timer, (deadline, order, name, transaction); entries whose transaction has
        # since moved on are skipped when they surface, so arming stays O(log n).
        self._heap: list = []
        self._seq = itertools.count()
        # (From tag, Call-ID, CSeq) of open out-of-dialog server transactions, to answer a
        # forked copy arriving by another path with 482 (RFC 3261 §8.2.2.2).
        self._merge: dict[tuple, ServerTransaction] = {}
        self.merged = 0

    # -- keys (RFC 3261 §17.1.3, §17.2.3) -------------------------------------------------------
    @staticmethod
    def _server_key(request: Request, via: Via) -> tuple:
        method = "INVITE" if request.method == "ACK" else request.method
        branch = via.branch or ""
        if branch.startswith(MAGIC_COOKIE) and len(branch) > len(MAGIC_COOKIE):
            return (branch, via.sent_by.lower(), method)
        # RFC 2543 peers: no usable branch; match on the dialog and CSeq instead.
        return ("2543", request.call_id, request.from_.tag, request.cseq.number,
                via.sent_by.lower(), method)

    @staticmethod
    def _client_key(branch: str, method: str) -> tuple:
        return (branch, "INVITE" if method == "ACK" else method)

    # -- input -------------------------------------------------------------------------------
    def receive(self, message: bytes | Request | Response, source: Address, now: float,
                transport: str = "UDP") -> None:
        if isinstance(message, (bytes, bytearray, memoryview)):
            data = bytes(message)
            if not data.strip(b"\r\n"):
                return  # a CRLF keepalive
            message = decode(data, stream=transport.upper() in RELIABLE_TRANSPORTS)
            if isinstance(message, SipError):
                self.rejected += 1
                answer = error_response(data, message)
                if answer is not None:
                    self._outbox.append((answer.to_bytes(), source, transport.upper()))
                self._events.append(MessageRejected(message, source, answer is not None))
                return
        if isinstance(message, Response):
            self._receive_response(message, now)
        else:
            self._receive_request(message, source, now, transport.upper())

    def _receive_response(self, response: Response, now: float) -> None:
        vias = response.get_all("Via")
        if len(vias) != 1:  # RFC 3261 §18.1.2: a response with more than one Via is not ours
            return
        via = parse_via(vias[0])
        tx = self._client.get(self._client_key(via.branch or "", response.cseq.method))
        if tx is None:
            self._events.append(ResponseReceived(response, None))
            return
        tx.on_response(response, now)

    def _receive_request(self, request: Request, source: Address, now: float, transport: str) -> None:
        via = stamp_via(request, source)
        key = self._server_key(request, via)
        tx = self._server.get(key)
        if request.method == "ACK":
            if tx is not None and tx.state in ("Completed", "Confirmed"):
                tx.on_retransmission(request, now)  # ACK for our non-2xx: absorbed
                return
            self._events.append(RequestReceived(request, source, transport, None))
            return
        if tx is not None:
            tx.on_retransmission(request, now)
            return
        dest = response_address(via, source, transport)
        tx = ServerTransaction(self, request, source, transport, key, dest)
        self._server[key] = tx
        if request.to.tag is None and request.method != "CANCEL":
            merge_key = (request.from_.tag, request.call_id, request.cseq.number, request.method)
            earlier = self._merge.get(merge_key)
            if earlier is not None and earlier.state != "Terminated":
                self.merged += 1
                tx.respond(make_response(request, 482, to_tag="merged"), now)
                return
            self._merge[merge_key] = tx
            tx.merge_key = merge_key
        cancels = None
        if request.method == "CANCEL":
            invite_key = key[:-1] + ("INVITE",)
            cancels = self._server.get(invite_key)
        self._events.append(RequestReceived(request, source, transport, tx, cancels))
        if tx.invite and self.send_100_trying:
            tx.respond(make_response(request, 100), now)

    # -- output ------------------------------------------------------------------------------
    def send_request(self, request: Request, dest: Address, now: float,
                     transport: str = "UDP") -> ClientTransaction:
        if request.method == "ACK":
            raise SipError("an ACK is sent with send_stateless", status=500)
        via = parse_via(split_list(request.get("Via"), "Via")[0])
        key = self._client_key(via.branch or "", request.method)
        if key in self._client:
            raise SipError(f"branch {via.branch} is already in use", status=500)
        tx = ClientTransaction(self, request, dest, transport, key, now)
        self._client[key] = tx
        return tx

    def send_response(self, transaction: ServerTransaction, response: Response, now: float) -> None:
        transaction.respond(response, now)

    def send_stateless(self, message: Request | Response, dest: Address, transport: str = "UDP") -> None:
        """An ACK for a 2xx, or a 2xx retransmitted by the TU: no transaction carries it."""
        self._outbox.append((message.to_bytes(), dest, transport.upper()))

    def datagrams_to_send(self, now: float | None = None) -> list[tuple[bytes, Address, str]]:
        out, self._outbox = self._outbox, []
        return out

    def next_event(self) -> Event | None:
        return self._events.popleft() if self._events else None

    def transport_error(self, address: Address, now: float) -> None:
        """The adapter could not deliver to `address`: end the transactions that depend on it."""
        for tx in list(self._all()):
            target = tx.remote if isinstance(tx, ClientTransaction) else tx.response_addr
            if target == address and tx.state != "Terminated":
                self._events.append(TransportFailed(tx, address))
                tx._terminate()

    # -- time --------------------------------------------------------------------------------
    def get_timer(self) -> float | None:
        heap = self._heap
        while heap and heap[0][3].timers.get(heap[0][2]) != heap[0][0]:
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    def handle_timer(self, now: float) -> None:
        heap = self._heap
        while heap and heap[0][0] <= now:
            when, _, name, tx = heapq.heappop(heap)
            if tx.timers.get(name) == when:
                del tx.timers[name]
                tx.on_timer(name, now)

    # -- bookkeeping ---------------------------------------------------------------------------
    def _all(self):
        yield from list(self._client.values())
        yield from list(self._server.values())

    def _forget(self, tx) -> None:
        table = self._client if isinstance(tx, ClientTransaction) else self._server
        if table.get(tx.key) is tx:
            del table[tx.key]
        merge_key = getattr(tx, "merge_key", None)
        if merge_key is not None and self._merge.get(merge_key) is tx:
            del self._merge[merge_key]

    def find_server(self, request: Request) -> ServerTransaction | None:
        return self._server.get(self._server_key(request, request.top_via))

    @property
    def transaction_count(self) -> int:
        return len(self._client) + len(self._server)
