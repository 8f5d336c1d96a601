// The supervisor's wallboard: queues and agents live (the supervisor's WebSocket sees every
// agent's events; the views are read again shortly after each), today's figures and the last
// intervals from /api/v1/stats, drawn as inline SVG.  Monitor, whisper, barge and force a state
// from an agent's row, each one request of the public API.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const SVG = "http://www.w3.org/2000/svg";
  const INTERVAL_MINUTES = 15, INTERVALS_SHOWN = 12;
  let session = PB.loadSession("wallboard");      // {token, name}
  let events = null, timers = [];
  let queues = [], agents = [], today = {}, intervals = [], reasons = [];
  let clockOffset = 0;                             // the box's wall clock minus the browser's
  let pending = null;
  const agentSince = {};                           // agent -> the box's time its state began

  const api = PB.client(() => session && session.token, (message) => backToLogin(message));
  const boxNow = () => Date.now() / 1000 + clockOffset;

  function showLogin(message) {
    $("login").classList.remove("hidden");
    $("board").classList.add("hidden");
    $("who").classList.add("hidden"); $("logout").classList.add("hidden");
    $("login-message").textContent = message || "";
    $("login-name").focus();
  }

  function backToLogin(message) {
    if (events) { events.stop(); events = null; }
    timers.forEach(clearInterval); timers = [];
    session = null;
    PB.saveSession("wallboard", null);
    showLogin(message);
    PB.status(message, !!message);
  }

  $("login").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    $("login-message").textContent = "";
    try {
      const name = $("login-name").value.trim();
      const answer = await api("POST", "/api/v1/supervisor/login", { name, password: $("login-password").value });
      session = { token: answer.token, name };
      PB.saveSession("wallboard", session);
      start();
    } catch (e) {
      $("login-message").textContent = e.message;
    }
  });
  $("logout").addEventListener("click", () => backToLogin(""));
  $("lang").addEventListener("click", () => PB.toggleLanguage());
  document.addEventListener("keydown", (ev) => { if (ev.altKey && ev.code === "KeyL") { ev.preventDefault(); PB.toggleLanguage(); } });
  $("sup-extension").value = localStorage.getItem("pribox.supervisor.extension") || "";
  $("sup-extension").addEventListener("change", () => localStorage.setItem("pribox.supervisor.extension", $("sup-extension").value.trim()));

  async function start() {
    $("login").classList.add("hidden");
    $("board").classList.remove("hidden");
    $("who").classList.remove("hidden"); $("logout").classList.remove("hidden");
    $("who").textContent = session.name;
    try {
      const directory = await api("GET", "/api/v1/directory");
      reasons = directory.not_ready_reasons;
      clockOffset = directory.now - Date.now() / 1000;
    } catch (e) { if (!session) return; }
    await Promise.all([loadLive(), loadStats()]);
    events = PB.connect(session.token, {
      event: onEvent,
      status: (ok, why) => { $("ws-status").textContent = ok ? `● ${PB.t("connected")}` : `○ ${PB.t("disconnected")} ${why}`; },
      refused: () => loadLive(),
    });
    timers.push(setInterval(loadLive, 5000), setInterval(loadStats, 15000), setInterval(tick, 1000));
  }

  async function loadLive() {
    if (!session) return;
    try {
      const [q, a] = await Promise.all([api("GET", "/api/v1/queues"), api("GET", "/api/v1/agents")]);
      queues = q.queues; agents = a.agents;
      for (const agent of agents) agentSince[agent.agent] = agent.since || boxNow();
      renderQueues(); renderAgents();
    } catch (e) { if (session) PB.status(e.message, true); }
  }

  async function loadStats() {
    if (!session) return;
    try {
      const s = await api("GET", `/api/v1/stats?since=today&interval=${INTERVAL_MINUTES}`);
      today = {}; const byInterval = {};
      for (const row of s.queues || []) {
        if (row.interval === "total") { today[row.queue] = row; continue; }
        const slot = byInterval[row.interval] || (byInterval[row.interval] = { interval: row.interval, offered: 0, answered: 0,
          abandoned: 0, inService: 0, asaWeighted: 0, abandonBase: 0, abandonCounted: 0 });
        slot.offered += row.offered; slot.answered += row.answered; slot.abandoned += row.abandoned;
        // As pbx_cti/cti/stats.py defines them: SL = answered within T / answered; ASA over the
        // answered; abandon rate = counted abandons / (answered + counted abandons).
        if (row.sl !== null) slot.inService += row.sl * row.answered;
        if (row.asa_s !== null) slot.asaWeighted += row.asa_s * row.answered;
        slot.abandonCounted += row.abandoned - row.short_abandoned;
        slot.abandonBase += row.answered + row.abandoned - row.short_abandoned;
      }
      intervals = Object.values(byInterval).sort((a, b) => a.interval.localeCompare(b.interval)).slice(-INTERVALS_SHOWN);
      $("interval-note").textContent = `(${INTERVAL_MINUTES} min, UTC)`;
      renderQueues(); renderPlots();
    } catch (e) { if (session) PB.status(e.message, true); }
  }

  // Events: an agent's state is shown at once; the counts are read again soon after.
  function onEvent(e) {
    if (e.type === "agent_state") {
      const row = agents.find((a) => a.agent === e.agent);
      if (row) { row.state = e.state; row.reason = e.reason || ""; row.caller = e.caller || ""; }
      agentSince[e.agent] = e.time || boxNow();
      renderAgents();
    }
    if (!pending) pending = setTimeout(() => { pending = null; loadLive(); if (e.type === "agent_state") loadStats(); }, 250);
  }

  function tick() {
    document.querySelectorAll("[data-since]").forEach((cell) => {
      cell.textContent = PB.duration(boxNow() - Number(cell.dataset.since));
    });
    document.querySelectorAll("[data-waited]").forEach((cell) => {
      const waited = Number(cell.dataset.waited) + (Date.now() - Number(cell.dataset.read)) / 1000;
      cell.textContent = Number(cell.dataset.waited) > 0 ? PB.duration(waited) : "—";
    });
  }

  function renderQueues() {
    const body = $("queues").tBodies[0];
    body.replaceChildren(...queues.map((q) => {
      const f = today[q.queue] || {};
      const sl = f.sl === undefined ? null : f.sl;
      const row = PB.el("tr", { dataset: { queue: q.queue } },
        PB.el("td", {}, q.queue),
        PB.el("td", { dataset: { field: "waiting" }, class: q.waiting > 0 ? "warn" : "" }, q.waiting),
        PB.el("td", { dataset: { field: "longest_wait", waited: q.longest_wait, read: Date.now() } }, q.longest_wait > 0 ? PB.duration(q.longest_wait) : "—"),
        PB.el("td", { dataset: { field: "sl" }, class: sl !== null && sl < 0.8 ? "bad" : "" }, PB.percent(sl)),
        PB.el("td", { dataset: { field: "asa" } }, PB.seconds(f.asa_s)),
        PB.el("td", { dataset: { field: "abandon_rate" } }, PB.percent(f.abandon_rate)),
        PB.el("td", { dataset: { field: "offered" } }, f.offered ?? 0),
        PB.el("td", { dataset: { field: "answered" } }, f.answered ?? 0),
        PB.el("td", { dataset: { field: "abandoned" } }, f.abandoned ?? 0),
        PB.el("td", { dataset: { field: "handled" } }, f.handled ?? 0),
        PB.el("td", {}, `${q.agents.READY || 0}/${(q.agents.TALKING || 0) + (q.agents.HOLD || 0)}/${q.agents.NOT_READY || 0}`));
      return row;
    }));
  }

  function renderAgents() {
    const body = $("agents").tBodies[0];
    body.replaceChildren(...agents.map((a) => {
      const force = PB.el("select", { "aria-label": `force ${a.agent}` },
        PB.el("option", { value: "READY" }, PB.t("READY")),
        ...reasons.map((r) => PB.el("option", { value: `NOT_READY:${r}` }, `${PB.t("NOT_READY")} · ${r}`)),
        PB.el("option", { value: "LOGGED_OUT" }, PB.t("LOGGED_OUT")));
      const busy = a.state === "TALKING" || a.state === "HOLD";
      const supervise = (mode) => PB.el("button", { type: "button", class: "mini", dataset: { action: mode },
        onclick: () => superviseAgent(a.agent, mode), ...(busy ? {} : { disabled: "" }) }, PB.t(mode));
      return PB.el("tr", { dataset: { agent: a.agent, state: a.state } },
        PB.el("td", {}, a.agent),
        PB.el("td", { class: "left" }, a.extension || "—"),
        PB.el("td", { class: "left" }, PB.el("span", { class: `state-badge state-${a.state}`, dataset: { field: "state" } }, PB.t(a.state))),
        PB.el("td", { class: "left", dataset: { field: "reason" } }, a.reason || ""),
        PB.el("td", { dataset: { since: agentSince[a.agent] || boxNow() } }, PB.duration(boxNow() - (agentSince[a.agent] || boxNow()))),
        PB.el("td", { dataset: { field: "calls" } }, a.calls_handled),
        PB.el("td", { class: "left" }, supervise("monitor"), " ", supervise("whisper"), " ", supervise("barge"), " ", force, " ",
          PB.el("button", { type: "button", class: "mini", dataset: { action: "force" }, onclick: () => forceState(a.agent, force.value) }, PB.t("force"))));
    }));
  }

  async function superviseAgent(agent, mode) {
    const extension = $("sup-extension").value.trim();
    if (!extension) { PB.status(`${PB.t("supervisor_extension")}?`, true); $("sup-extension").focus(); return; }
    try {
      await api("POST", `/api/v1/agents/${agent}/supervise/${mode}`, { extension });
      PB.status(`${PB.t(mode)} ${agent}: OK`);
    } catch (e) { PB.status(`${PB.t(mode)} ${agent}: ${e.message}`, true); }
  }

  async function forceState(agent, value) {
    const [state, reason] = value.split(":");
    const body = reason ? { state, reason } : { state };
    try {
      await api("POST", `/api/v1/agents/${agent}/state`, body);
      PB.status(`${PB.t("force")} ${agent} → ${PB.t(state)}: OK`);
      loadLive();
    } catch (e) { PB.status(`${PB.t("force")} ${agent}: ${e.message}`, true); }
  }

  // ------------------------------------------------------------------ plots
  function svg(tag, attrs, text) {
    const node = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // One small chart: bars for `bars` (and a second, lighter series), or a line for `line`.
  function chart(title, series, maxHint, asPercent) {
    const W = 300, H = 120, L = 30, B = 18, T = 6;
    const values = series.flatMap((s) => s.values.filter((v) => v !== null));
    const max = Math.max(maxHint || 0, ...values, 1);
    const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": title });
    root.append(svg("line", { class: "axis", x1: L, y1: H - B, x2: W, y2: H - B }), svg("line", { class: "axis", x1: L, y1: T, x2: L, y2: H - B }));
    root.append(svg("text", { x: 2, y: T + 8 }, asPercent ? `${Math.round(max * 100)}%` : String(Math.round(max * 10) / 10)));
    root.append(svg("text", { x: 2, y: H - B }, "0"));
    const n = Math.max(intervals.length, 1), step = (W - L - 4) / n;
    const y = (v) => H - B - ((H - B - T) * v) / max;
    series.forEach((s, k) => {
      if (s.kind === "bar") {
        const w = step / series.length - 2;
        s.values.forEach((v, i) => {
          if (v === null) return;
          root.append(svg("rect", { class: "bar", x: L + 2 + i * step + k * (w + 1), y: y(v), width: Math.max(w, 1), height: H - B - y(v),
            opacity: k ? 0.45 : 1 }, undefined));
        });
      } else {
        const points = s.values.map((v, i) => (v === null ? null : `${L + 2 + i * step + step / 2},${y(v)}`)).filter(Boolean);
        if (points.length) root.append(svg("polyline", { class: "line", points: points.join(" ") }));
        s.values.forEach((v, i) => { if (v !== null) root.append(svg("circle", { cx: L + 2 + i * step + step / 2, cy: y(v), r: 2.5, fill: "#2e7d32" })); });
      }
    });
    intervals.forEach((slot, i) => {
      if (i % Math.ceil(n / 6) === 0) root.append(svg("text", { x: L + 2 + i * step, y: H - 4 }, slot.interval.slice(11)));
    });
    return PB.el("div", { class: "plot" }, PB.el("h3", {}, title), root);
  }

  function renderPlots() {
    const offered = intervals.map((s) => s.offered), answered = intervals.map((s) => s.answered);
    const sl = intervals.map((s) => (s.answered ? s.inService / s.answered : null));
    const asa = intervals.map((s) => (s.answered ? s.asaWeighted / s.answered : null));
    const abandon = intervals.map((s) => (s.abandonBase > 0 ? s.abandonCounted / s.abandonBase : null));
    $("plots").replaceChildren(
      chart(PB.t("offered_plot"), [{ kind: "bar", values: offered }, { kind: "bar", values: answered }], 1, false),
      chart(PB.t("sl_plot"), [{ kind: "line", values: sl }], 1, true),
      chart(PB.t("asa_plot"), [{ kind: "line", values: asa }], 1, false),
      chart(PB.t("abandon_plot"), [{ kind: "line", values: abandon }], 0.1, true));
  }

  PB.onLanguage(() => { renderQueues(); renderAgents(); renderPlots(); });
  PB.translate();
  if (session && session.token) {
    api("GET", "/api/v1/queues").then(() => start()).catch((e) => { if (session) backToLogin(e.message); });
  } else {
    showLogin("");
  }
})();
