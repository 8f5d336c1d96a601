"""The ISDN PRI stack: LAPD (Q.921) data link, Q.931 call control, D-channel adapter, traces.

Layer 2, as the layers above use it:

* `firmware.isdn.lapd.Lapd(role, timers=LapdTimers(), *, sapi=0, tei=0)` — sans-I/O LAPD for
  one point-to-point link.  Inputs: `receive_frame(frame, now)`, `establish(now)`,
  `release(now)`, `send(payload, now)`, `set_own_busy(busy, now)`, `layer1_changed(up, now)`,
  `handle_timer(now)`.  Outputs: `frames_to_send()` (call it after every input),
  `next_event()` -> DlEstablished | DlReleased | DlData | DlUnitData | DlError,
  `get_timer()`; plus `state`, `established`, `counters`.
* `firmware.isdn.lapd_frames` — the frame codec (`encode`, `decode`, `Frame`, `Kind`).
* `firmware.isdn.dchannel.DChannel(lapd, sock, clock, *, layer3=None, pcap=None)` — the asyncio
  adapter onto a SOCK_SEQPACKET D-channel with DAHDI hdlcfcs framing; a layer 3 plugs in through
  the `Layer3` protocol (`dl_event`, `messages_to_send`, `get_timer`, `handle_timer`) and calls
  `service()` after acting on its own.
* `firmware.isdn.pcap.PcapWriter(target, *, network_side)` — LINUX_LAPD (177) traces.

In the box (the daemon's "isdn" service, firmware/isdn/service.py; see docs/isdn-service.md):

* `firmware.isdn.binding.IsdnSpan(span, PriStack(role), clock=, bus=, restart_on_first_link_up=,
  restart_scope=)` — a stack bound straight to its span object and the ISDN endpoint the PBX
  drives: setup / setup_ack / send_info / proceed / alert / progress / answer / notify /
  facility / disconnect / restart, law_of / open_audio (the call API with its events is in
  docs/isdn-service.md).  Every stack event goes on the bus as `events.IsdnEvent(span_id,
  event)`, every `debug isdn q931` block as `events.IsdnTrace`.  Its `handler` (a
  `CallHandler`) decides what calls do: `answer.AnswerAndListen` until the PBX replaces it.
* `firmware.isdn.bearer.SpanAudio` — the span's 30 B-channels in its C media plane (open in a
  law, play, record, hear); `listen.InbandListener` drains the DTMF receivers
  (`events.DtmfDigit`, `CallAudioReport`).

The far end in tests is libpri: `hil_tests.peers.libpri.LibpriPeer`, on a
`hil_tests.peers.line.CuttableLine` when the wire has to break.
"""
