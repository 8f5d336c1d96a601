// What the desktop and the wallboard share: the words in Korean and English, the API client
// (a bearer token per browser tab, a 401 sends the page back to its login with the reason),
// the WebSocket of events (reconnecting) and the record of when each event was on screen.
"use strict";

const PB = (() => {
  const WORDS = {
    ko: {
      app_desktop: "상담 데스크톱", app_wallboard: "상황판", login: "로그인", logout: "로그아웃",
      agent_id: "상담사 ID", supervisor_name: "관리자 ID", password: "비밀번호", extension: "내선",
      state: "상태", time_in_state: "상태 시간", ready: "대기", not_ready: "이석", reason: "사유",
      READY: "대기", NOT_READY: "이석", RESERVED: "호 수신중", TALKING: "통화중", HOLD: "보류",
      WRAP_UP: "후처리", LOGGED_OUT: "로그아웃",
      call: "통화", no_call: "통화 없음", caller: "발신번호", dialled: "착신번호", queue: "큐",
      ivr_data: "IVR 입력", service: "서비스", account: "계좌번호",
      answer: "응답", reject: "거절", hold: "보류", retrieve: "보류 해제", hangup: "종료",
      record_start: "녹음 시작", record_stop: "녹음 중지",
      transfer: "전환", blind_transfer: "즉시 전환", consult_transfer: "협의 전환", conference: "3자 통화",
      consult_complete: "전환 완료", consult_cancel: "협의 취소", consulting: "협의 중",
      make_call: "발신", directory: "주소록", agents: "상담사", groups: "스킬 그룹", number: "번호",
      target: "대상", keypad: "DTMF 키패드", send: "보내기",
      wrap_up: "후처리", wrap_code: "후처리 코드", note: "메모", save_wrap: "후처리 저장",
      notify: "알림톡/SMS", template: "템플릿", recipient: "수신번호 (비우면 고객)", kind: "종류",
      softphone: "소프트폰", softphone_none: "이 브라우저의 소프트폰은 아직 설치되지 않았습니다 (내선 전화를 사용하세요).",
      shortcuts: "단축키", events: "이벤트", language: "English",
      queues: "큐 현황", waiting: "대기호", longest_wait: "최장 대기", service_level: "서비스 레벨",
      asa: "평균 응답(ASA)", abandon_rate: "포기율", offered: "인입", answered: "응답", abandoned: "포기",
      handled: "처리", calls_handled: "처리 호", monitor: "감청", whisper: "코칭", barge: "끼어들기",
      force: "상태 변경", supervisor_extension: "관리자 내선", intervals: "구간별 실적",
      today: "오늘", actions: "동작", session_expired: "세션이 만료되었습니다. 다시 로그인하세요.",
      connected: "연결됨", disconnected: "연결 끊김 — 다시 연결하는 중", sent: "전송됨",
      k_ready: "대기", k_not_ready: "이석", k_answer: "응답", k_hangup: "종료", k_hold: "보류/해제",
      k_transfer: "즉시 전환", k_keypad: "키패드 숫자", k_wrap: "후처리 저장", k_lang: "언어 전환", k_help: "단축키 보기",
      sl_plot: "서비스 레벨 (%)", offered_plot: "인입/응답 호", asa_plot: "ASA (초)", abandon_plot: "포기율 (%)",
    },
    en: {
      app_desktop: "Agent desktop", app_wallboard: "Wallboard", login: "Log in", logout: "Log out",
      agent_id: "Agent ID", supervisor_name: "Supervisor", password: "Password", extension: "Extension",
      state: "State", time_in_state: "Time in state", ready: "Ready", not_ready: "Not ready", reason: "Reason",
      READY: "Ready", NOT_READY: "Not ready", RESERVED: "Offered", TALKING: "Talking", HOLD: "Hold",
      WRAP_UP: "Wrap-up", LOGGED_OUT: "Logged out",
      call: "Call", no_call: "No call", caller: "Caller", dialled: "Dialled", queue: "Queue",
      ivr_data: "IVR data", service: "Service", account: "Account",
      answer: "Answer", reject: "Reject", hold: "Hold", retrieve: "Retrieve", hangup: "Hang up",
      record_start: "Record", record_stop: "Stop rec.",
      transfer: "Transfer", blind_transfer: "Blind transfer", consult_transfer: "Consult", conference: "Conference",
      consult_complete: "Complete", consult_cancel: "Cancel consult", consulting: "Consulting",
      make_call: "Call out", directory: "Directory", agents: "Agents", groups: "Skill groups", number: "Number",
      target: "Target", keypad: "DTMF keypad", send: "Send",
      wrap_up: "Wrap-up", wrap_code: "Wrap-up code", note: "Note", save_wrap: "Save wrap-up",
      notify: "AlimTalk / SMS", template: "Template", recipient: "To (empty: the caller)", kind: "Kind",
      softphone: "Softphone", softphone_none: "No softphone in this browser yet (use the extension's phone).",
      shortcuts: "Shortcuts", events: "Events", language: "한국어",
      queues: "Queues", waiting: "Waiting", longest_wait: "Longest wait", service_level: "Service level",
      asa: "ASA", abandon_rate: "Abandon rate", offered: "Offered", answered: "Answered", abandoned: "Abandoned",
      handled: "Handled", calls_handled: "Calls", monitor: "Monitor", whisper: "Whisper", barge: "Barge",
      force: "Force state", supervisor_extension: "My extension", intervals: "Last intervals",
      today: "Today", actions: "Actions", session_expired: "Your session has expired: log in again.",
      connected: "connected", disconnected: "disconnected — reconnecting", sent: "sent",
      k_ready: "Ready", k_not_ready: "Not ready", k_answer: "Answer", k_hangup: "Hang up", k_hold: "Hold / retrieve",
      k_transfer: "Blind transfer", k_keypad: "Keypad digit", k_wrap: "Save wrap-up", k_lang: "Language", k_help: "Show shortcuts",
      sl_plot: "Service level (%)", offered_plot: "Offered / answered", asa_plot: "ASA (s)", abandon_plot: "Abandon rate (%)",
    },
  };
  // Korean unless this browser chose English with the switch.
  let lang = localStorage.getItem("pribox.lang") || "ko";
  if (!WORDS[lang]) lang = "ko";
  const langListeners = [];

  function t(key) { return (WORDS[lang] && WORDS[lang][key]) || WORDS.en[key] || key; }

  function translate(root = document) {
    document.documentElement.lang = lang;
    root.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
    root.querySelectorAll("[data-i18n-placeholder]").forEach((el) => { el.placeholder = t(el.dataset.i18nPlaceholder); });
    root.querySelectorAll("[data-i18n-title]").forEach((el) => { el.title = t(el.dataset.i18nTitle); });
  }

  function setLanguage(next) {
    lang = next;
    localStorage.setItem("pribox.lang", lang);
    translate();
    langListeners.forEach((f) => f(lang));
  }

  function toggleLanguage() { setLanguage(lang === "ko" ? "en" : "ko"); }

  // ------------------------------------------------------------------ session and API
  const storeKey = (page) => `pribox.session.${page}`;
  function loadSession(page) {
    try { return JSON.parse(sessionStorage.getItem(storeKey(page)) || "null"); } catch (e) { return null; }
  }
  function saveSession(page, session) {
    if (session) sessionStorage.setItem(storeKey(page), JSON.stringify(session));
    else sessionStorage.removeItem(storeKey(page));
  }

  class ApiError extends Error {
    constructor(status, message) { super(message); this.status = status; }
  }

  // `onUnauthorized(message)` is called on a 401 (a stale or expired token).
  function client(getToken, onUnauthorized) {
    return async function api(method, path, body) {
      const headers = {};
      const token = getToken();
      if (token) headers.Authorization = `Bearer ${token}`;
      if (body !== undefined) headers["Content-Type"] = "application/json";
      let response;
      try {
        response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
      } catch (e) {
        throw new ApiError(0, `the box did not answer (${e.message})`);
      }
      let answer = {};
      try { answer = await response.json(); } catch (e) { answer = { error: `HTTP ${response.status}` }; }
      if (response.status === 401 && token) {
        onUnauthorized(`${t("session_expired")} (${answer.error || "401"})`);
      }
      if (!response.ok) throw new ApiError(response.status, answer.error || `HTTP ${response.status}`);
      return answer;
    };
  }

  // ------------------------------------------------------------------ events
  // Every rendered event: {type, agent, state, time, arrived, at}: `time` the event's own (the
  // box's wall clock, seconds), `arrived` and `at` the epoch milliseconds (the page's
  // high-resolution clock) when its WebSocket message reached the page and of the first frame that
  // showed it: the latency measurement tells the box's share from the page's with them.
  window.priboxRenderLog = window.priboxRenderLog || [];
  function rendered(events, arrived) {
    requestAnimationFrame(() => {
      const at = performance.timeOrigin + performance.now();
      for (const e of events) {
        window.priboxRenderLog.push({ type: e.type, agent: e.agent || "", state: e.state || "", time: e.time || 0,
                                      arrived, at });
      }
      if (window.priboxRenderLog.length > 20000) window.priboxRenderLog.splice(0, 10000);
    });
  }

  // Opens /api/v1/events with the token; `handlers.event(e)` for each event, `handlers.status(ok, why)`.
  // Reconnects after a drop unless `stop()` was called or the token is refused (close before hello).
  function connect(token, handlers) {
    let ws = null, stopped = false, delay = 500, greeted = false;
    function open() {
      const scheme = location.protocol === "https:" ? "wss" : "ws";
      ws = new WebSocket(`${scheme}://${location.host}/api/v1/events?token=${encodeURIComponent(token)}`);
      greeted = false;
      ws.onmessage = (message) => {
        const arrived = performance.timeOrigin + performance.now();
        let data;
        try { data = JSON.parse(message.data); } catch (e) { return; }
        const events = data.type === "events" ? data.events : [data];
        for (const e of events) {
          if (e.type === "hello") { greeted = true; delay = 500; handlers.status(true, ""); continue; }
          try { handlers.event(e); } catch (err) { console.error("event", e, err); }
        }
        rendered(events, arrived);
      };
      ws.onclose = (close) => {
        if (stopped) return;
        handlers.status(false, close.reason || "");
        if (!greeted && handlers.refused) {
          // Refused before the hello: the token may be stale; the API call tells which.
          handlers.refused();
        }
        setTimeout(() => { if (!stopped) open(); }, delay);
        delay = Math.min(delay * 2, 8000);
      };
    }
    open();
    return { stop() { stopped = true; if (ws) ws.close(1000, "logout"); } };
  }

  // ------------------------------------------------------------------ formatting
  function duration(seconds) {
    seconds = Math.max(0, Math.floor(seconds || 0));
    const h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
    const two = (n) => String(n).padStart(2, "0");
    return h ? `${h}:${two(m)}:${two(s)}` : `${two(m)}:${two(s)}`;
  }
  function percent(value) { return value === null || value === undefined ? "—" : `${(100 * value).toFixed(1)}%`; }
  function seconds(value) { return value === null || value === undefined ? "—" : `${Number(value).toFixed(1)}s`; }

  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (k === "class") node.className = v;
      else if (k === "dataset") Object.assign(node.dataset, v);
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v);
    }
    for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return node;
  }

  // A line on the page's status bar; errors stay until the next message.
  function status(message, isError = false) {
    const bar = document.getElementById("status-bar");
    if (!bar) return;
    bar.textContent = message;
    bar.classList.toggle("error", !!isError);
  }

  return {
    t, translate, setLanguage, toggleLanguage, get lang() { return lang; }, onLanguage: (f) => langListeners.push(f),
    loadSession, saveSession, client, connect, ApiError, duration, percent, seconds, el, status,
  };
})();
