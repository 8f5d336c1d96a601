// The agent desktop: a client of the public API (/api/v1) and its WebSocket of events, nothing
// else.  The agent's state and call come from the events; every button is one API request and
// shows the API's own answer when it is refused.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  let session = PB.loadSession("desktop");       // {token, agent, extension}
  let events = null;                              // the WebSocket
  let directory = { agents: [], queues: [], not_ready_reasons: [], wrap_up_codes: [], templates: {} };
  let clockOffset = 0;                            // the box's wall clock minus the browser's, seconds
  const me = { state: "LOGGED_OUT", reason: "", since: 0, caller: "" };
  let call = null;                                // {id, info, queue, phase: "ringing"|"active"|"ended"}
  let recording = false;
  let tab = "agents";
  let refreshTimer = null;

  const api = PB.client(() => session && session.token, (message) => backToLogin(message));
  const boxNow = () => Date.now() / 1000 + clockOffset;

  // ------------------------------------------------------------------ login / logout
  function showLogin(message, previous) {
    $("login").classList.remove("hidden");
    $("desk").classList.add("hidden");
    ["who", "state-badge", "state-timer", "logout"].forEach((id) => $(id).classList.add("hidden"));
    $("login-message").textContent = message || "";
    // Who was logged in here: only the password is asked again.
    if (previous && previous.agent) $("login-agent").value = previous.agent;
    if (previous && previous.extension) $("login-extension").value = previous.extension;
    $("login-password").value = "";
    $("login-agent").focus();
  }

  function backToLogin(message) {
    stopEvents();
    const previous = session;
    session = null;
    PB.saveSession("desktop", null);
    call = null;
    showLogin(message, previous);
    PB.status(message, true);
  }

  function stopEvents() {
    if (events) { events.stop(); events = null; }
    if (refreshTimer) { clearInterval(refreshTimer); refreshTimer = null; }
    if (window.priboxSoftphone && window.priboxSoftphone.stop) {
      try { window.priboxSoftphone.stop(); } catch (e) { console.error(e); }
    }
  }

  $("login").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const agent = $("login-agent").value.trim(), extension = $("login-extension").value.trim();
    $("login-message").textContent = "";
    $("login-submit").disabled = true;
    try {
      const answer = await api("POST", "/api/v1/login", { agent, password: $("login-password").value, extension });
      session = { token: answer.token, agent, extension };
      PB.saveSession("desktop", session);
      await start(answer.agent);
    } catch (e) {
      $("login-message").textContent = e.message;
    } finally {
      $("login-submit").disabled = false;
    }
  });

  $("logout").addEventListener("click", async () => {
    try { await api("POST", `/api/v1/agents/${session.agent}/logout`); } catch (e) { /* shown below */ }
    backToLogin("");
  });

  async function start(view) {
    $("login").classList.add("hidden");
    $("desk").classList.remove("hidden");
    ["who", "state-badge", "state-timer", "logout"].forEach((id) => $(id).classList.remove("hidden"));
    $("who").textContent = `${session.agent} · ${session.extension}`;
    applyView(view);
    await loadDirectory();
    events = PB.connect(session.token, {
      event: onEvent,
      status: (ok, why) => { $("ws-status").textContent = ok ? `● ${PB.t("connected")}` : `○ ${PB.t("disconnected")} ${why}`; },
      refused: () => { refresh(); },
    });
    refreshTimer = setInterval(refresh, 30000);
    if (window.priboxSoftphone && window.priboxSoftphone.start) {
      try {
        window.priboxSoftphone.start({ token: session.token, agent: session.agent, extension: session.extension,
                                       panel: $("softphone-body") });
      } catch (e) { console.error(e); }
    }
    render();
  }

  // Reads the agent again: a stale token shows the login page (through the API client).
  async function refresh() {
    if (!session) return;
    try {
      applyView(await api("GET", `/api/v1/agents/${session.agent}`));
      render();
      directory = await api("GET", "/api/v1/directory");   // colleagues' states and extensions
      renderDirectory();
    } catch (e) { /* a 401 returns to the login; anything else waits for the next round */ }
  }

  async function loadDirectory() {
    try {
      directory = await api("GET", "/api/v1/directory");
      clockOffset = directory.now - Date.now() / 1000;
    } catch (e) { PB.status(e.message, true); }
    fillSelect($("reason"), directory.not_ready_reasons);
    fillSelect($("wrap-code"), directory.wrap_up_codes);
    fillSelect($("notify-template"), Object.keys(directory.templates));
    showTemplate();
    renderDirectory();
  }

  function fillSelect(select, values) {
    const keep = select.value;
    select.replaceChildren(...values.map((v) => PB.el("option", { value: v }, v)));
    if (values.includes(keep)) select.value = keep;
  }

  function applyView(view) {
    if (!view) return;
    me.state = view.state; me.reason = view.reason || ""; me.caller = view.caller || "";
    me.since = view.since || boxNow();
    if (view.seconds_in_state !== undefined && view.since) clockOffset = view.since + view.seconds_in_state - Date.now() / 1000;
    if (["TALKING", "HOLD", "WRAP_UP", "RESERVED"].includes(me.state) && me.caller && !call) {
      call = { id: me.caller, info: {}, queue: "", phase: me.state === "RESERVED" ? "ringing" : me.state === "WRAP_UP" ? "ended" : "active" };
    }
  }

  // ------------------------------------------------------------------ events
  function log(line) {
    const box = $("event-log");
    const time = new Date().toTimeString().slice(0, 8);
    box.prepend(PB.el("div", {}, `${time} ${line}`));
    while (box.childElementCount > 100) box.lastElementChild.remove();
  }

  function onEvent(e) {
    switch (e.type) {
      case "offer":
        call = { id: e.caller, info: e.info || {}, queue: e.queue, phase: "ringing" };
        recording = false;
        log(`offer ${e.info && e.info.calling || ""} ${e.queue}`);
        break;
      case "offer_withdrawn":
        if (call && call.id === e.caller && call.phase === "ringing") call = null;
        log(`offer withdrawn: ${e.reason}`);
        break;
      case "agent_state":
        if (e.agent !== session.agent) break;
        me.state = e.state; me.reason = e.reason || ""; me.since = e.time || boxNow(); me.caller = e.caller || "";
        if (e.state === "TALKING" || e.state === "HOLD") {
          if (!call || call.id !== e.caller) call = { id: e.caller, info: {}, queue: "", phase: "active" };
          call.phase = "active";
        } else if (e.state === "WRAP_UP") {
          if (call) call.phase = "ended";
        } else if (e.state === "READY" || e.state === "NOT_READY" || e.state === "LOGGED_OUT") {
          call = null; recording = false; $("dtmf-sent").value = "";
        }
        log(`${PB.t(e.state)}${e.reason ? " (" + e.reason + ")" : ""}`);
        if (e.state === "LOGGED_OUT") { backToLogin(`${PB.t("LOGGED_OUT")}: ${e.reason || ""}`); return; }
        break;
      case "pending_state":
        log(`→ ${PB.t("NOT_READY")} (${e.reason}) after the call`);
        break;
      case "notification_queued": case "notification_sent": case "notification_failed":
        log(`${e.kind} ${e.template} → ${e.to}: ${e.type.replace("notification_", "")}${e.reason ? " " + e.reason : ""}`);
        break;
      case "dropped":
        log(`dropped: ${e.reason}`);
        break;
      default:
        break;
    }
    render();
  }

  // ------------------------------------------------------------------ rendering
  function render() {
    const state = me.state;
    for (const badge of [$("state-badge"), $("state-big")]) {
      badge.className = `state-badge state-${state}` + (badge.id === "state-big" ? " big-state" : "");
      badge.textContent = PB.t(state);
    }
    $("state-big").dataset.state = state;
    $("state-reason").textContent = me.reason ? `${PB.t("reason")}: ${me.reason}` : "";
    tick();
    const popup = $("call-popup");
    popup.className = call ? (call.phase === "ringing" ? "ringing" : "active") : "idle";
    $("call-empty").classList.toggle("hidden", !!call);
    $("call-details").classList.toggle("hidden", !call);
    if (call) {
      const info = call.info || {};
      $("call-caller").textContent = info.calling || call.id;
      // What the customer dialled, as the carrier delivered it (`dialled` is the box's mapping of it).
      $("call-dialled").textContent = info.called || info.dialled || "—";
      $("call-queue").textContent = call.queue || "—";
      const skip = new Set(["calling", "called", "dialled", "redirecting", "skill", "queue", "agent"]);
      const rows = [];
      for (const [k, v] of Object.entries(info)) {
        if (skip.has(k) || v === "" || v === null) continue;
        rows.push(PB.el("dt", {}, PB.t(k)), PB.el("dd", { dataset: { field: k } }, String(v)));
      }
      if (info.redirecting) rows.push(PB.el("dt", {}, "redirecting"), PB.el("dd", {}, info.redirecting));
      $("call-ivr").replaceChildren(...rows);
    }
    const inCall = state === "TALKING" || state === "HOLD";
    $("btn-ready").disabled = state === "READY" || inCall;
    $("btn-not-ready").disabled = state === "NOT_READY" && $("reason").value === me.reason;
    $("btn-answer").disabled = !(call && call.phase === "ringing");
    $("btn-reject").disabled = !(call && call.phase === "ringing");
    $("btn-hangup").disabled = !inCall;
    $("btn-hold").disabled = state !== "TALKING";
    $("btn-retrieve").disabled = state !== "HOLD";
    $("btn-record").disabled = !inCall;
    $("btn-record").textContent = PB.t(recording ? "record_stop" : "record_start");
    for (const id of ["btn-blind", "btn-consult", "btn-conference"]) $(id).disabled = !inCall;
    $("btn-make-call").disabled = inCall;
    $("btn-wrap").disabled = !(state === "WRAP_UP" || inCall);
    $("btn-notify").disabled = !(inCall || state === "WRAP_UP");
    document.querySelectorAll("#keypad button").forEach((b) => { b.disabled = !inCall; });
  }

  function tick() {
    const text = PB.duration(boxNow() - me.since);
    $("state-timer").textContent = text;
    $("state-big-timer").textContent = text;
  }
  setInterval(() => { if (session) tick(); }, 1000);

  function renderDirectory() {
    document.querySelectorAll(".tabs button").forEach((b) => b.classList.toggle("on", b.dataset.tab === tab));
    const box = $("directory");
    let rows = [];
    if (tab === "agents") {
      rows = directory.agents.filter((a) => a.agent !== (session && session.agent)).map((a) => ({
        target: a.extension ? `extension:${a.extension}` : "", cells: [a.name || a.agent, a.agent, a.extension || "—", PB.t(a.state)] }));
    } else if (tab === "queues") {
      rows = directory.queues.map((q) => ({ target: `queue:${q.queue}`, cells: [q.queue, q.group] }));
    } else {
      box.replaceChildren(PB.el("div", { class: "row" }, PB.el("input", {
        id: "number-entry", class: "grow", inputmode: "tel", placeholder: "0212345678",
        oninput: (ev) => { $("target").value = ev.target.value ? `number:${ev.target.value.replace(/[^0-9*#]/g, "")}` : ""; } })));
      return;
    }
    const table = PB.el("table", {}, ...rows.map((r) => PB.el("tr", {
      dataset: { target: r.target },
      onclick: (ev) => {
        if (!r.target) return;
        box.querySelectorAll("tr").forEach((tr) => tr.classList.remove("selected"));
        ev.currentTarget.classList.add("selected");
        $("target").value = r.target;
      } }, ...r.cells.map((c) => PB.el("td", {}, c)))));
    box.replaceChildren(table);
  }
  document.querySelectorAll(".tabs button").forEach((b) => b.addEventListener("click", async () => {
    tab = b.dataset.tab;
    if (tab === "agents") { try { directory = await api("GET", "/api/v1/directory"); } catch (e) { /* shown */ } }
    renderDirectory();
  }));

  // ------------------------------------------------------------------ actions
  async function act(path, body, label) {
    try {
      const answer = await api("POST", `/api/v1/agents/${session.agent}${path}`, body);
      PB.status(`${label}: OK`);
      if (answer && answer.state && answer.agent === session.agent && answer.state !== me.state) {
        // The events will say the same; the answer is quicker when the socket lags.
        applyView(answer);
      }
      render();
      return answer;
    } catch (e) {
      PB.status(`${label}: ${e.message}`, true);
      log(`${label}: ${e.message}`);
      return null;
    }
  }
  const callAction = (action, body, label) => act(`/calls/${action}`, body, label || PB.t(action.replace("-", "_")));

  $("btn-ready").addEventListener("click", () => act("/ready", undefined, PB.t("ready")));
  $("btn-not-ready").addEventListener("click", () => act("/not-ready", { reason: $("reason").value }, PB.t("not_ready")));
  $("btn-answer").addEventListener("click", () => callAction("answer"));
  $("btn-reject").addEventListener("click", () => callAction("reject"));
  $("btn-hangup").addEventListener("click", () => callAction("hangup"));
  $("btn-hold").addEventListener("click", () => callAction("hold"));
  $("btn-retrieve").addEventListener("click", () => callAction("retrieve"));
  $("btn-record").addEventListener("click", async () => {
    const answer = await callAction(recording ? "record-stop" : "record-start", undefined, PB.t(recording ? "record_stop" : "record_start"));
    if (answer) { recording = !recording; render(); }
  });
  function target() {
    const value = $("target").value.trim();
    if (!value) { PB.status(`${PB.t("target")}?`, true); $("target").focus(); }
    return value;
  }
  $("btn-blind").addEventListener("click", () => { const t = target(); if (t) callAction("blind-transfer", { target: t }, PB.t("blind_transfer")); });
  $("btn-consult").addEventListener("click", () => { const t = target(); if (t) callAction("consult-transfer", { target: t }, PB.t("consult_transfer")); });
  $("btn-conference").addEventListener("click", () => { const t = target(); if (t) callAction("conference", { target: t }, PB.t("conference")); });
  $("btn-make-call").addEventListener("click", () => {
    const t = target();
    if (t) callAction("make-call", { number: t.replace(/^number:/, "") }, PB.t("make_call"));
  });

  async function saveWrapUp() {
    const body = { code: $("wrap-code").value };
    const note = $("wrap-note").value.trim();
    if (note) body.note = note;
    if (await act("/wrap-up", body, PB.t("save_wrap"))) { $("wrap-note").value = ""; log(`${PB.t("wrap_code")}: ${body.code}`); }
  }
  $("btn-wrap").addEventListener("click", saveWrapUp);

  const keyId = (d) => `key-${d === "*" ? "star" : d === "#" ? "hash" : d}`;
  function sendDigit(digit) {
    if ($(keyId(digit)).disabled) return;
    $("dtmf-sent").value += digit;
    callAction("dtmf", { digits: digit }, `DTMF ${digit}`);
  }
  $("keypad").replaceChildren(..."123456789*0#".split("").map((d) =>
    PB.el("button", { type: "button", id: keyId(d), onclick: () => sendDigit(d) }, d)));

  // Templates: the text with #{name} placeholders, an input for each placeholder.
  function showTemplate() {
    const text = directory.templates[$("notify-template").value] || "";
    $("notify-text").textContent = text;
    const names = [...new Set([...text.matchAll(/#\{([^}]+)\}/g)].map((m) => m[1]))];
    $("notify-params").replaceChildren(...names.map((n) => PB.el("div", { class: "row" },
      PB.el("label", { for: `param-${n}` }, n), PB.el("input", { id: `param-${n}`, class: "grow", dataset: { param: n } }))));
  }
  $("notify-template").addEventListener("change", showTemplate);
  $("btn-notify").addEventListener("click", () => {
    const params = {};
    document.querySelectorAll("#notify-params input").forEach((i) => { params[i.dataset.param] = i.value; });
    const body = { kind: $("notify-kind").value, template: $("notify-template").value, params };
    if ($("notify-to").value.trim()) body.to = $("notify-to").value.trim();
    callAction("notify", body, PB.t("notify"));
  });

  // ------------------------------------------------------------------ keyboard
  const SHORTCUTS = {
    r: () => $("btn-ready").click(), n: () => $("btn-not-ready").click(), a: () => $("btn-answer").click(),
    e: () => $("btn-hangup").click(), t: () => $("btn-blind").click(), w: () => $("btn-wrap").click(),
    h: () => (me.state === "HOLD" ? $("btn-retrieve") : $("btn-hold")).click(), l: () => PB.toggleLanguage(),
  };
  document.addEventListener("keydown", (ev) => {
    if (!session && !(ev.altKey && ev.code === "KeyL")) return;
    if (ev.altKey && !ev.ctrlKey && !ev.metaKey) {
      const key = ev.code.startsWith("Key") ? ev.code.slice(3).toLowerCase() : "";
      if (SHORTCUTS[key]) { ev.preventDefault(); SHORTCUTS[key](); }
      return;
    }
    const typing = ["INPUT", "TEXTAREA", "SELECT"].includes(document.activeElement && document.activeElement.tagName);
    if (!typing && !ev.ctrlKey && !ev.metaKey && /^[0-9*#]$/.test(ev.key) && (me.state === "TALKING" || me.state === "HOLD")) {
      ev.preventDefault();
      sendDigit(ev.key);
    }
  });

  $("lang").addEventListener("click", () => PB.toggleLanguage());
  PB.onLanguage(() => { render(); renderDirectory(); });

  // ------------------------------------------------------------------ start
  PB.translate();
  if (session && session.token) {
    // A reload or a returning tab: the token may have gone stale meanwhile.
    api("GET", `/api/v1/agents/${session.agent}`).then((view) => start(view)).catch((e) => {
      if (session) backToLogin(e.message);
    });
  } else {
    showLogin("");
  }
  window.priboxDesktop = { get state() { return me.state; }, get call() { return call; } };
})();
