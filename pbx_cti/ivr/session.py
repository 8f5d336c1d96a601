"""The IVR interpreter: one call's walk through a flow, sans-I/O.

    session = IvrSession(flow, {"calling": "0212345678", "called": "7000"}, now)
    while (action := session.next_action()) is not None: ...   # Play, StartCollect, Lookup...
    session.digit("1", now); session.prompt_finished(play_id, now); session.handle_timer(now)
    session.get_timer()          # when to call handle_timer next (None: nothing pending)

No clock, socket or thread inside: events and `now` go in, actions and the next timer come
out, so a test drives it on a ManualClock and the PBX drives it from its call model.  The
session keeps what the CDR and the console show: `current_node`, `path` (node visits),
`digits` (every key the caller pressed) and `variables` (the data that travels with the call).
"""

from __future__ import annotations

import itertools
import urllib.parse
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from .actions import (
    Action, Hangup, Lookup, LookupFailure, LookupRequest, Notify, Play, Record, RequestCallback, RouteToSkill,
    StartCollect,
    StopPlayback, StopRecording, Transfer,
)
from .flow import (
    DIGITS_VARIABLE, BranchNode, CallbackNode, CollectNode, Flow, HangupNode, LookupNode, Node, NotifyNode, PlayNode, RecordNode,
    RouteNode, SetNode, TransferNode, substitute,
)
from .trace import (
    IvrAction, IvrBranch, IvrCollectResult, IvrDigit, IvrEnded, IvrLookupResult, IvrNodeEntered, IvrTrace,
    IvrVariablesSet,
)

# A lookup whose adapter never answers (its own timeout failed) is given up this much later.
LOOKUP_GRACE = 1.0
# A recording the media did not end by itself at max_length is stopped this much later.
RECORD_GRACE = 2.0
# Nodes that do not wait (set, branch) chained without a wait: more means a loop in the flow.
MAX_STEPS_WITHOUT_WAIT = 200
# Causes when a flow names no failure path: no circuit/channel available, normal unspecified.
CAUSE_ROUTE_FAILED = 34
CAUSE_TRANSFER_FAILED = 31
CAUSE_FLOW_LOOP = 41  # temporary failure: the flow is at fault, not the caller


@dataclass(frozen=True)
class Visit:
    node: str
    time: float


@dataclass
class _Collecting:
    node: CollectNode
    buffer: str = ""
    listening: bool = False
    play_id: int | None = None


class IvrSession:
    def __init__(self, flow: Flow, call_data: Mapping[str, Any], now: float, *,
                 call_id: str | None = None, trace: Callable[[IvrTrace], None] | None = None):
        self.flow = flow
        self.call_id = call_id or str(call_data.get("call_id", "")) or "-"
        self.variables: dict[str, Any] = {name: "" for name in flow.inputs}
        self.variables.update(flow.variables)
        self.variables.update(call_data)
        self.visits: list[Visit] = []
        self.digits = ""                      # every key the caller pressed, in order
        self.collected: dict[str, str] = {}   # collect node -> the digits it last accepted
        self.recordings: list[str] = []       # references of finished recordings
        self.ended = False
        self.end_reason = ""
        self.hangup_cause: int | None = None
        self.outcome: str = ""                # "hangup", "caller hung up", "routed", "transferred"
        self._trace = trace
        self._actions: deque[Action] = deque()
        self._ids = itertools.count(1)
        self._deadline: float | None = None
        self._timer_kind = ""
        self._phase = ""                      # what the session is waiting for
        self._node: Node | None = None
        self._play_id: int | None = None
        self._after_play: Callable[[float], None] | None = None
        self._play_barge_in = False
        self._typeahead = ""                  # keys that barged in on a play, for the next collect
        self._collect: _Collecting | None = None
        self._counters: dict[str, list[int]] = {}  # collect node -> [no input, invalid]
        self._lookup_id: int | None = None
        self._record_id: int | None = None
        self._record_stopped = False
        self._route_skill = ""
        self._go(flow.entry, now)

    # -- what the CDR and the console read --------------------------------------------------

    @property
    def current_node(self) -> str | None:
        return self._node.name if self._node is not None else None

    @property
    def path(self) -> list[str]:
        return [v.node for v in self.visits]

    @property
    def call_data(self) -> dict[str, Any]:
        return dict(self.variables)

    # -- output -----------------------------------------------------------------------------

    def next_action(self) -> Action | None:
        return self._actions.popleft() if self._actions else None

    def get_timer(self) -> float | None:
        return self._deadline

    # -- events -----------------------------------------------------------------------------

    def digit(self, key: str, now: float) -> None:
        if self.ended:
            return
        if not isinstance(key, str) or len(key) != 1 or key not in "0123456789*#ABCD":
            self._note(IvrDigit(now, self.call_id, self.current_node or "-", repr(key), "ignored (not a DTMF key)"))
            return
        self.digits += key
        node = self.current_node or "-"
        if self._phase == "collect":
            self._collect_digit(key, now)
        elif self._phase == "play" and self._play_barge_in:
            self._note(IvrDigit(now, self.call_id, node, key, "barge-in"))
            self._typeahead += key
            play_id, then = self._play_id, self._after_play
            self._emit(StopPlayback(play_id), now)
            self._play_id = self._after_play = None
            then(now)
        elif self._phase == "record" and key in self._node.terminator:
            self._note(IvrDigit(now, self.call_id, node, key, "stops recording"))
            self._stop_recording(now)
        else:
            self._note(IvrDigit(now, self.call_id, node, key, f"ignored ({self._phase or 'idle'})"))

    def prompt_finished(self, play_id: int, now: float) -> None:
        if self.ended:
            return
        if self._phase == "collect" and self._collect.play_id == play_id:
            self._collect.play_id = None
            if not self._collect.listening:
                self._start_listening(now)
            if not self._collect.buffer:
                self._set_timer(now + self._collect.node.first_digit_timeout, "first digit")
            return
        if self._phase == "play" and self._play_id == play_id:
            then = self._after_play
            self._play_id = self._after_play = None
            then(now)

    def lookup_result(self, lookup_id: int, result: Any, now: float) -> None:
        if self.ended or self._phase != "lookup" or lookup_id != self._lookup_id:
            return  # late: the session timed the lookup out or the caller left
        node: LookupNode = self._node
        self._lookup_id = None
        self._clear_timer()
        if isinstance(result, LookupFailure):
            if result.not_found:
                self._note(IvrLookupResult(now, self.call_id, node.name, "not found", result.reason))
                self._go(node.on_not_found or node.on_error, now)
            else:
                self._note(IvrLookupResult(now, self.call_id, node.name, "error", result.reason))
                self._go(node.on_error, now)
            return
        values = {}
        for variable, field_path in node.result.items():
            found, value = _dig(result, field_path)
            if not found:
                self._note(IvrLookupResult(now, self.call_id, node.name, "error",
                                           f'the result has no field "{field_path}" (for {variable})'))
                self._go(node.on_error, now)
                return
            values[variable] = "" if value is None else value
        self._note(IvrLookupResult(now, self.call_id, node.name, "ok", ""))
        self._assign(values, now)
        self._go(node.next, now)

    def record_finished(self, record_id: int, reference: str, now: float) -> None:
        if record_id != self._record_id:
            return
        self._record_id = None
        self.recordings.append(reference)
        node: RecordNode = self._node
        if node.into:
            self.variables[node.into] = reference
        if self.ended or self._phase != "record":
            return  # the caller left while recording: the message is kept, nothing more to do
        self._clear_timer()
        if node.into:
            self._note(IvrVariablesSet(now, self.call_id, node.name, ((node.into, reference),)))
        self._go(node.next, now)

    def route_failed(self, reason: str, now: float, no_agents: bool = False) -> None:
        """The call was not queued: every agent busy, or (`no_agents`) none of the group logged in."""
        if self.ended or self._phase != "route":
            return
        node: RouteNode = self._node
        exit_to = (node.on_no_agents or node.on_busy) if no_agents else node.on_busy
        label = "no agents" if no_agents and node.on_no_agents else "busy"
        self._note(IvrEnded(now, self.call_id, node.name, f"route to {self._route_skill!r} failed: {reason}")
                   if not exit_to else IvrBranch(now, self.call_id, node.name, f"{label} ({reason})", exit_to))
        if exit_to:
            self._go(exit_to, now)
        else:
            self._hang_up(CAUSE_ROUTE_FAILED, f"route failed: {reason}", now)

    def transfer_failed(self, reason: str, cause: int | None, now: float) -> None:
        """The transfer did not happen; `cause` the Q.850 cause from the far side (None: unknown)."""
        if self.ended or self._phase != "transfer":
            return
        node: TransferNode = self._node
        if node.on_failure:
            self._note(IvrBranch(now, self.call_id, node.name, f"transfer failed ({reason})", node.on_failure))
            self._go(node.on_failure, now)
        else:
            self._hang_up(cause or CAUSE_TRANSFER_FAILED, f"transfer failed: {reason}", now)

    def handed_off(self, now: float) -> None:
        """An agent (route) or the far end (transfer) has the call: the IVR's part is over."""
        if self.ended or self._phase not in ("route", "transfer"):
            return
        self.outcome = "routed" if self._phase == "route" else "transferred"
        self._end(f"{self.outcome} from {self.current_node}", now)

    def caller_hung_up(self, now: float) -> None:
        if self.ended:
            return
        if self._phase == "record" and self._record_id is not None and not self._record_stopped:
            # Stop the recorder so the message is closed and kept (record_finished may still come).
            self._emit(StopRecording(self._record_id), now)
            self._record_stopped = True
        self.outcome = "caller hung up"
        self._end(f"caller hung up in {self.current_node} ({self._phase or 'idle'})", now)

    def handle_timer(self, now: float) -> None:
        if self.ended or self._deadline is None or now < self._deadline:
            return
        kind = self._timer_kind
        self._clear_timer()
        if self._phase == "collect":
            if kind == "first digit":
                self._no_input(now)
            else:
                self._finish_collect(now, timed_out=True)
        elif self._phase == "lookup":
            node: LookupNode = self._node
            self._lookup_id = None
            self._note(IvrLookupResult(now, self.call_id, node.name, "timeout",
                                       f"no answer within {node.timeout + LOOKUP_GRACE:g} s"))
            self._go(node.on_error, now)
        elif self._phase == "record" and not self._record_stopped:
            self._stop_recording(now)

    # -- walking the flow -------------------------------------------------------------------

    def _go(self, target: str, now: float) -> None:
        steps = 0
        while target is not None:
            steps += 1
            if steps > MAX_STEPS_WITHOUT_WAIT:
                self._hang_up(CAUSE_FLOW_LOOP, f"the flow looped through {MAX_STEPS_WITHOUT_WAIT} nodes "
                                               f"without waiting (last {target})", now)
                return
            node = self.flow.nodes[target]
            self._node = node
            self._phase = ""
            self.visits.append(Visit(node.name, now))
            self._note(IvrNodeEntered(now, self.call_id, node.name, node.type_name))
            target = self._start(node, now)

    def _start(self, node: Node, now: float) -> str | None:
        """Begin `node`; the next node when it does not wait (set, branch), else None."""
        if isinstance(node, SetNode):
            self._assign({k: substitute(v, self.variables) for k, v in node.values.items()}, now)
            return node.next
        if isinstance(node, BranchNode):
            for i, case in enumerate(node.cases):
                if case.holds(self.variables.get(case.var)):
                    self._note(IvrBranch(now, self.call_id, node.name, f"case[{i}]: {case.describe()}", case.next))
                    return case.next
            self._note(IvrBranch(now, self.call_id, node.name, "otherwise", node.otherwise))
            return node.otherwise
        if isinstance(node, CallbackNode):
            v = self.variables
            self._emit(RequestCallback(substitute(node.skill, v), substitute(node.number, v),
                                       {k: substitute(x, v) for k, x in node.data.items()}, node.priority,
                                       self.call_id), now)
            return node.next
        if isinstance(node, NotifyNode):
            v = self.variables
            self._emit(Notify(node.kind, substitute(node.to, v), node.template or "",
                              {k: substitute(x, v) for k, x in node.params.items()},
                              substitute(node.text, v) if node.text is not None else "", self.call_id), now)
            return node.next
        if isinstance(node, PlayNode):
            self._typeahead = ""
            self._play(node.prompts, node.barge_in, lambda t: self._go(node.next, t), now)
        elif isinstance(node, CollectNode):
            self._start_collect(node, (), now)
        elif isinstance(node, LookupNode):
            self._start_lookup(node, now)
        elif isinstance(node, RouteNode):
            self._play(node.prompts, False, lambda t: self._route(node, t), now)
        elif isinstance(node, TransferNode):
            self._play(node.prompts, False, lambda t: self._transfer(node, t), now)
        elif isinstance(node, RecordNode):
            self._play(node.prompts, False, lambda t: self._record(node, t), now)
        elif isinstance(node, HangupNode):
            self._play(node.prompts, False, lambda t: self._hang_up(node.cause, f"hangup node {node.name}", t), now)
        return None

    def _play(self, prompts: tuple[str, ...], barge_in: bool, then: Callable[[float], None], now: float) -> None:
        if not prompts:
            then(now)
            return
        self._phase = "play"
        self._play_id = next(self._ids)
        self._play_barge_in = barge_in
        self._after_play = then
        self._emit(Play(self._play_id, tuple(prompts), barge_in), now)

    # -- collect ----------------------------------------------------------------------------

    def _start_collect(self, node: CollectNode, retry_prompts: tuple[str, ...], now: float) -> None:
        self._phase = "collect"
        self._collect = _Collecting(node)
        self._counters.setdefault(node.name, [0, 0])
        if self._typeahead:
            # Keys pressed over the previous prompt answer this collect: its prompt is skipped.
            keys, self._typeahead = self._typeahead, ""
            self._start_listening(now)
            for key in keys:
                if self._phase != "collect" or self._collect is None or self._collect.node is not node:
                    break
                self._collect_digit(key, now)
            return
        prompts = tuple(retry_prompts) + node.prompts
        if prompts:
            self._collect.play_id = next(self._ids)
            self._emit(Play(self._collect.play_id, prompts, node.barge_in), now)
            if node.barge_in:
                self._start_listening(now)
        else:
            self._start_listening(now)
            self._set_timer(now + node.first_digit_timeout, "first digit")

    def _start_listening(self, now: float) -> None:
        node = self._collect.node
        self._collect.listening = True
        self._emit(StartCollect(node.name, node.max_digits, node.terminator), now)

    def _collect_digit(self, key: str, now: float) -> None:
        state = self._collect
        node = state.node
        if not state.listening:
            self._note(IvrDigit(now, self.call_id, node.name, key, "ignored (prompt without barge-in)"))
            return
        if state.play_id is not None:
            self._emit(StopPlayback(state.play_id), now)
            state.play_id = None
        if node.terminator and key == node.terminator:
            self._note(IvrDigit(now, self.call_id, node.name, key, "terminator"))
            self._finish_collect(now, timed_out=False)
            return
        state.buffer += key
        self._note(IvrDigit(now, self.call_id, node.name, key, "collected"))
        if len(state.buffer) >= node.max_digits:
            self._finish_collect(now, timed_out=False)
        else:
            self._set_timer(now + node.inter_digit_timeout, "inter digit")

    def _finish_collect(self, now: float, timed_out: bool) -> None:
        state = self._collect
        node = state.node
        digits = state.buffer
        self._clear_timer()
        pattern = node.valid_pattern()
        if len(digits) < node.min_digits or (pattern is not None and pattern.fullmatch(digits) is None):
            self._invalid(digits, now)
            return
        counters = self._counters[node.name]
        self._note(IvrCollectResult(now, self.call_id, node.name, "success", digits, *counters))
        self._counters[node.name] = [0, 0]
        self.collected[node.name] = digits
        values = {DIGITS_VARIABLE: digits}
        if node.into:
            values[node.into] = digits
        self._assign(values, now)
        self._collect = None
        self._go(node.next, now)

    def _no_input(self, now: float) -> None:
        node = self._collect.node
        counters = self._counters[node.name]
        counters[0] += 1
        self._retry(node, "no input", "", counters[0] > node.no_input_retries, node.on_no_input,
                    node.no_input_prompts, now)

    def _invalid(self, digits: str, now: float) -> None:
        node = self._collect.node
        counters = self._counters[node.name]
        counters[1] += 1
        self._retry(node, "invalid", digits, counters[1] > node.invalid_retries, node.on_invalid,
                    node.invalid_prompts, now)

    def _retry(self, node: CollectNode, outcome: str, digits: str, exhausted: bool, elsewhere: str | None,
               prompts: tuple[str, ...], now: float) -> None:
        counters = self._counters[node.name]
        self._note(IvrCollectResult(now, self.call_id, node.name, outcome, digits, *counters))
        self._collect = None
        if exhausted:
            self._note(IvrCollectResult(now, self.call_id, node.name, "max retries", digits, *counters))
            self._counters[node.name] = [0, 0]
            self._go(node.on_max_retries, now)
        elif elsewhere:
            self._go(elsewhere, now)
        else:
            self._start_collect(node, prompts, now)

    # -- lookups, hand-offs, recording, the end ----------------------------------------------

    def _start_lookup(self, node: LookupNode, now: float) -> None:
        v = self.variables
        if node.source == "http":
            request = LookupRequest("http", node.timeout, method=node.method,
                                    url=substitute(node.url, v, lambda text: urllib.parse.quote(text, safe="")),
                                    headers={k: substitute(x, v) for k, x in node.headers.items()},
                                    body={k: substitute(x, v) for k, x in node.body.items()} if node.method == "POST" else None)
        else:
            request = LookupRequest("sqlite", node.timeout, database=node.database, query=node.query,
                                    params=tuple(substitute(p, v) for p in node.params))
        self._phase = "lookup"
        self._lookup_id = next(self._ids)
        self._set_timer(now + node.timeout + LOOKUP_GRACE, "lookup")
        self._emit(Lookup(self._lookup_id, request), now)

    def _route(self, node: RouteNode, now: float) -> None:
        data = dict(self.variables)
        data.update({k: substitute(x, self.variables) for k, x in node.data.items()})
        self._route_skill = substitute(node.skill, self.variables)
        self._phase = "route"
        self._emit(RouteToSkill(self._route_skill, data, node.priority, node.wait), now)

    def _transfer(self, node: TransferNode, now: float) -> None:
        self._phase = "transfer"
        if node.number is not None:
            target, kind = substitute(node.number, self.variables), "number"
        else:
            target, kind = substitute(node.extension, self.variables), "extension"
        self._emit(Transfer(target, kind, dict(self.variables)), now)

    def _record(self, node: RecordNode, now: float) -> None:
        self._phase = "record"
        self._record_id = next(self._ids)
        self._record_stopped = False
        self._set_timer(now + node.max_length + RECORD_GRACE, "record")
        self._emit(Record(self._record_id, node.max_length, node.beep, node.terminator), now)

    def _stop_recording(self, now: float) -> None:
        if self._record_id is not None and not self._record_stopped:
            self._record_stopped = True
            self._clear_timer()
            self._emit(StopRecording(self._record_id), now)

    def _hang_up(self, cause: int, reason: str, now: float) -> None:
        self._emit(Hangup(cause), now)
        self.hangup_cause = cause
        self.outcome = "hangup"
        self._end(reason, now)

    def _end(self, reason: str, now: float) -> None:
        self.ended = True
        self.end_reason = reason
        self._phase = "ended"
        self._clear_timer()
        self._note(IvrEnded(now, self.call_id, self.current_node or "-", reason))

    # -- small helpers ----------------------------------------------------------------------

    def _assign(self, values: dict[str, Any], now: float) -> None:
        self.variables.update(values)
        if values:
            self._note(IvrVariablesSet(now, self.call_id, self.current_node or "-",
                                       tuple((k, str(x)) for k, x in values.items())))

    def _emit(self, action: Action, now: float) -> None:
        self._actions.append(action)
        self._note(IvrAction(now, self.call_id, self.current_node or "-", repr(action)))

    def _note(self, event: IvrTrace) -> None:
        if self._trace is not None:
            self._trace(event)

    def _set_timer(self, when: float, kind: str) -> None:
        self._deadline, self._timer_kind = when, kind

    def _clear_timer(self) -> None:
        self._deadline, self._timer_kind = None, ""


def _dig(data: Any, field_path: str) -> tuple[bool, Any]:
    """("customer.tier") in {"customer": {"tier": "gold"}} -> (True, "gold"); list items by index."""
    value = data
    for part in field_path.split("."):
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return False, None
    return True, value
