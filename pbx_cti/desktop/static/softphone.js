// The agent's softphone in the page: WebRTC to the box (host candidates only, DTLS-SRTP, G.711
// in the trunk's law), signalled over the agent API's softphone WebSocket with the agent's token.
// Self-contained: the desktop calls window.priboxSoftphone.start(token or {token}) after login and
// stop() at logout; it listens with on("incoming" | "answered" | "ended" | "ready" | "error" |
// "closed", fn).  The page is a client of the API like any other; nothing here is a side door.
(function () {
  "use strict";

  const listeners = {};
  let ws = null, pc = null, microphone = null, remote = null, analyser = null, audioContext = null;
  let state = "idle";     // idle, connecting, ready, ringing, talking, closed
  let call = null;

  const text = {
    ko: { idle: "꺼짐", connecting: "연결 중…", ready: "대기", ringing: "전화 옴", talking: "통화 중",
          closed: "끊김", answer: "받기", reject: "거절", hangup: "끊기", from: "발신" },
    en: { idle: "Off", connecting: "Connecting…", ready: "Ready", ringing: "Ringing", talking: "Talking",
          closed: "Disconnected", answer: "Answer", reject: "Reject", hangup: "Hang up", from: "From" },
  };

  function words() {
    const lang = (document.documentElement.lang || "ko").slice(0, 2);
    return text[lang] || text.ko;
  }

  function emit(type, detail) {
    (listeners[type] || []).forEach((fn) => { try { fn(detail || {}); } catch (e) { console.error(e); } });
    window.dispatchEvent(new CustomEvent("pribox-softphone", { detail: Object.assign({ type }, detail || {}) }));
  }

  function setState(next, detail) {
    state = next;
    render(detail);
  }

  function render(detail) {
    const body = document.getElementById("softphone-body");
    if (!body) return;
    const w = words();
    body.textContent = "";
    const line = document.createElement("div");
    line.id = "softphone-state";
    line.dataset.state = state;
    line.textContent = w[state] + (call && call.caller ? ` — ${w.from} ${call.caller}` : "");
    if (detail && detail.error) line.textContent += ` (${detail.error})`;
    body.appendChild(line);
    const button = (id, label, action) => {
      const b = document.createElement("button");
      b.type = "button"; b.id = id; b.textContent = label; b.addEventListener("click", action);
      body.appendChild(b);
    };
    if (state === "ringing") { button("softphone-answer", w.answer, api.answer); button("softphone-reject", w.reject, api.reject); }
    if (state === "talking") button("softphone-hangup", w.hangup, api.hangup);
  }

  function send(message) {
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(message));
  }

  // No trickle: the box answers one complete offer, so wait for the host candidates.
  function gathered(connection) {
    if (connection.iceGatheringState === "complete") return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => { if (connection.iceGatheringState === "complete") resolve(); };
      connection.addEventListener("icegatheringstatechange", done);
      setTimeout(resolve, 2000);
    });
  }

  function listenTo(stream) {
    // A remote stream reaches WebAudio only when an <audio> element plays it too.
    remote = document.getElementById("softphone-audio") || document.createElement("audio");
    remote.id = "softphone-audio";
    remote.autoplay = true;
    remote.srcObject = stream;
    if (!remote.parentNode) document.body.appendChild(remote);
    remote.play().catch(() => {});
    try {
      audioContext = audioContext || new AudioContext();
      analyser = audioContext.createAnalyser();
      analyser.fftSize = 8192;
      analyser.smoothingTimeConstant = 0;
      audioContext.createMediaStreamSource(stream).connect(analyser);
    } catch (e) {
      analyser = null;
    }
  }

  async function onMessage(message) {
    switch (message.type) {
      case "answer":
        await pc.setRemoteDescription({ type: "answer", sdp: message.sdp });
        break;
      case "registered":
        setState("ready"); emit("ready", message);
        break;
      case "unregistered":
        if (state !== "closed") setState("connecting");
        break;
      case "incoming":
        call = { id: message.call, caller: message.caller, called: message.called };
        setState("ringing"); emit("incoming", message);
        break;
      case "answered":
        setState("talking"); emit("answered", message);
        break;
      case "ended":
        call = null; setState("ready"); emit("ended", message);
        break;
      case "error":
        render({ error: message.error }); emit("error", message);
        break;
      case "closed":
        setState("closed"); emit("closed", message);
        break;
    }
  }

  const api = {
    // options: {audio: MediaTrackConstraints} — echo cancellation stays on unless a test turns it off.
    async start(session, options) {
      const token = typeof session === "string" ? session : session && session.token;
      if (!token) throw new Error("softphone: start(token) needs the agent's API token");
      api.stop();
      options = options || {};
      // The socket first: a box without a softphone (or an agent not at an extension) refuses it,
      // and then the page keeps its own text and never asks for the microphone.
      state = "connecting";
      const scheme = location.protocol === "https:" ? "wss:" : "ws:";
      const socket = new WebSocket(`${scheme}//${location.host}/api/v1/softphone?token=${encodeURIComponent(token)}`);
      ws = socket;
      const opened = await new Promise((resolve) => {
        socket.onopen = () => resolve(true);
        socket.onerror = () => resolve(false);
        socket.onclose = () => resolve(false);
      });
      if (!opened || ws !== socket) {
        if (ws === socket) { ws = null; state = "idle"; }
        emit("error", { error: "the box serves no softphone to this agent" });
        return false;
      }
      setState("connecting");
      socket.onmessage = (event) => { onMessage(JSON.parse(event.data)).catch((e) => emit("error", { error: String(e) })); };
      socket.onclose = () => { if (ws === socket) { ws = null; setState("closed"); emit("closed", {}); } };
      const audio = Object.assign({ echoCancellation: true }, options.audio || {});
      try {
        microphone = await navigator.mediaDevices.getUserMedia({ audio, video: false });
      } catch (e) {
        render({ error: `microphone: ${e.name || e}` });
        emit("error", { error: `microphone: ${e.name || e}` });
        api.stop();
        return false;
      }
      pc = new RTCPeerConnection({ iceServers: [] });
      microphone.getTracks().forEach((track) => pc.addTrack(track, microphone));
      pc.ontrack = (event) => listenTo(event.streams[0] || new MediaStream([event.track]));
      pc.onconnectionstatechange = () => {
        if (pc && (pc.connectionState === "failed" || pc.connectionState === "closed")) setState("closed");
      };
      await pc.setLocalDescription(await pc.createOffer());
      await gathered(pc);
      send({ type: "offer", sdp: pc.localDescription.sdp });
      return true;
    },
    answer() { send({ type: "answer-call" }); },
    reject() { send({ type: "reject" }); },
    hangup() { send({ type: "hangup" }); },
    stop() {
      const wasOn = state !== "idle";
      if (ws) { send({ type: "bye" }); ws.onclose = null; ws.close(); ws = null; }
      if (pc) { pc.close(); pc = null; }
      if (microphone) { microphone.getTracks().forEach((t) => t.stop()); microphone = null; }
      call = null; analyser = null;
      if (wasOn) setState("idle"); else state = "idle";
    },
    on(type, fn) { (listeners[type] = listeners[type] || []).push(fn); },
    get state() { return state; },
    get call() { return call; },
    // What the page hears: the level (dB) of the bin nearest `hz` above the spectrum's median.
    received(hz) {
      if (!analyser) return null;
      const bins = new Float32Array(analyser.frequencyBinCount);
      analyser.getFloatFrequencyData(bins);
      const index = Math.round(hz / (audioContext.sampleRate / analyser.fftSize));
      const sorted = Array.from(bins).filter(Number.isFinite).sort((a, b) => a - b);
      const median = sorted.length ? sorted[Math.floor(sorted.length / 2)] : -200;
      let peak = -Infinity;
      for (let k = Math.max(0, index - 2); k <= Math.min(bins.length - 1, index + 2); k++) peak = Math.max(peak, bins[k]);
      return { peak, median, above: peak - median };
    },
  };

  window.priboxSoftphone = api;
})();
