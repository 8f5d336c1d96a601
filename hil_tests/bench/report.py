"""The bench's HTML report: one self-contained page (inline SVG plots drawn here, no plotting
library, no script, no external file) of the load, faults, soak and audio results.

    write_report(results, "out/")      # out/index.html and out/results.json

`results` is what `hil_tests.bench.run.run_bench` returns: {"load": [...per span count...],
"faults": [...], "soak": {...}, "audio": {...}, "summary": {...}, "machine": {...}}; any part
may be missing (it was not run) and the page says so.
"""

from __future__ import annotations

import html
import json
import os
from pathlib import Path

WIDTH, HEIGHT, PAD = 640, 260, 48
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    for power in range(-3, 12):
        for step in (1, 2, 2.5, 5):
            top = step * 10 ** power
            if top >= value:
                return top
    return value


def line_chart(title: str, series: list[tuple[str, list[tuple[float, float]]]], x_label: str, y_label: str,
               *, y_max: float | None = None, marks: list[tuple[str, float]] = ()) -> str:
    """An SVG line chart: each series a (name, [(x, y), ...]); `marks` horizontal reference lines."""
    points = [p for _, pts in series for p in pts]
    if not points:
        return f"<p><em>{html.escape(title)}: no data</em></p>"
    x_hi = _nice_max(max(x for x, _ in points))
    y_hi = y_max or _nice_max(max([y for _, y in points] + [v for _, v in marks]))
    plot_w, plot_h = WIDTH - 2 * PAD, HEIGHT - 2 * PAD

    def sx(x: float) -> float:
        return PAD + plot_w * x / x_hi

    def sy(y: float) -> float:
        return HEIGHT - PAD - plot_h * min(y, y_hi) / y_hi

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
           f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{html.escape(title)}">',
           f'<text x="{WIDTH / 2}" y="18" text-anchor="middle" font-size="14">{html.escape(title)}</text>',
           f'<rect x="{PAD}" y="{PAD}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#999"/>']
    for k in range(5):
        yv = y_hi * k / 4
        xv = x_hi * k / 4
        out.append(f'<line x1="{PAD}" x2="{WIDTH - PAD}" y1="{sy(yv):.1f}" y2="{sy(yv):.1f}" stroke="#eee"/>')
        out.append(f'<text x="{PAD - 4}" y="{sy(yv) + 4:.1f}" text-anchor="end" font-size="10">{yv:g}</text>')
        out.append(f'<text x="{sx(xv):.1f}" y="{HEIGHT - PAD + 14}" text-anchor="middle" font-size="10">{xv:g}</text>')
    out.append(f'<text x="{WIDTH / 2}" y="{HEIGHT - 8}" text-anchor="middle" font-size="11">{html.escape(x_label)}</text>')
    out.append(f'<text x="12" y="{HEIGHT / 2}" transform="rotate(-90 12 {HEIGHT / 2})" text-anchor="middle" '
               f'font-size="11">{html.escape(y_label)}</text>')
    for name, value in marks:
        out.append(f'<line x1="{PAD}" x2="{WIDTH - PAD}" y1="{sy(value):.1f}" y2="{sy(value):.1f}" '
                   f'stroke="#555" stroke-dasharray="4 3"/>')
        out.append(f'<text x="{WIDTH - PAD - 2}" y="{sy(value) - 3:.1f}" text-anchor="end" font-size="10">'
                   f'{html.escape(name)}</text>')
    for n, (name, pts) in enumerate(series):
        colour = COLOURS[n % len(COLOURS)]
        path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in pts)
        out.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{path}"/>')
        out.append(f'<text x="{PAD + 8}" y="{PAD + 14 + 13 * n}" font-size="11" fill="{colour}">'
                   f'{html.escape(name)}</text>')
    out.append("</svg>")
    return "\n".join(out)


def bar_chart(title: str, bars: list[tuple[str, float]], y_label: str, *, y_max: float | None = None,
              marks: list[tuple[str, float]] = ()) -> str:
    """An SVG bar chart of (label, value) with optional horizontal goal lines."""
    bars = [(label, value) for label, value in bars if value is not None]
    if not bars:
        return f"<p><em>{html.escape(title)}: no data</em></p>"
    y_hi = y_max or _nice_max(max([v for _, v in bars] + [v for _, v in marks]))
    plot_w, plot_h = WIDTH - 2 * PAD, HEIGHT - 2 * PAD - 20
    step = plot_w / len(bars)

    def sy(y: float) -> float:
        return PAD + plot_h - plot_h * min(y, y_hi) / y_hi

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
           f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{html.escape(title)}">',
           f'<text x="{WIDTH / 2}" y="18" text-anchor="middle" font-size="14">{html.escape(title)}</text>',
           f'<text x="12" y="{HEIGHT / 2}" transform="rotate(-90 12 {HEIGHT / 2})" text-anchor="middle" '
           f'font-size="11">{html.escape(y_label)}</text>',
           f'<line x1="{PAD}" x2="{WIDTH - PAD}" y1="{sy(0):.1f}" y2="{sy(0):.1f}" stroke="#999"/>']
    for n, (label, value) in enumerate(bars):
        x = PAD + n * step + step * 0.15
        out.append(f'<rect x="{x:.1f}" y="{sy(value):.1f}" width="{step * 0.7:.1f}" height="{sy(0) - sy(value):.1f}" '
                   f'fill="{COLOURS[0]}"/>')
        out.append(f'<text x="{x + step * 0.35:.1f}" y="{sy(value) - 3:.1f}" text-anchor="middle" font-size="10">'
                   f'{value:g}</text>')
        out.append(f'<text x="{x + step * 0.35:.1f}" y="{sy(0) + 13:.1f}" text-anchor="middle" font-size="9">'
                   f'{html.escape(label)}</text>')
    for name, value in marks:
        out.append(f'<line x1="{PAD}" x2="{WIDTH - PAD}" y1="{sy(value):.1f}" y2="{sy(value):.1f}" '
                   f'stroke="#d62728" stroke-dasharray="4 3"/>')
        out.append(f'<text x="{WIDTH - PAD}" y="{sy(value) - 3:.1f}" text-anchor="end" font-size="10" '
                   f'fill="#d62728">{html.escape(name)}</text>')
    out.append("</svg>")
    return "\n".join(out)


def _table(rows: list[tuple[str, object]]) -> str:
    body = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(_text(v))}</td></tr>" for k, v in rows)
    return f"<table>{body}</table>"


def _text(value) -> str:
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _load_section(load: list[dict]) -> str:
    if not load:
        return "<h2>Load</h2><p>Not run.</p>"
    held = [(f"{r['spans']} span(s)", [(t, h) for t, h, _ in r["series"]["far"]]) for r in load]
    talking = [(f"{r['spans']} span(s)", [(t, a) for t, _, a, _ in r["series"]["box"]]) for r in load]
    rss = [(f"{r['spans']} span(s)", [(t, kib / 1024) for t, _, _, kib in r["series"]["box"]]) for r in load]
    top = max(r["channels"] for r in load)
    parts = ["<h2>Load</h2>",
             "<p>Calls through the IVR (greeting, menu key), a queue and an agent on the center's PRI, arriving as a "
             "Poisson stream (ramped, then sustained) with exponential talk times, in real time; the far ends in "
             "their own process on the emulated wire.</p>",
             line_chart("Calls held at the carrier", held, "seconds", "calls",
                        marks=[(f"{r['channels']} channels", r["channels"]) for r in load if r["channels"] == top]),
             line_chart("Agents talking (the box's CTI)", talking, "seconds", "agents"),
             line_chart("Box resident memory", rss, "seconds", "MiB"),
             bar_chart("Post-dial delay p99 (SETUP to ALERTING)",
                       [(f"{r['spans']} span(s)", r["setup_to_alerting_ms"]["p99"]) for r in load], "ms")]
    keys = ("spans", "agents", "channels", "calls_held_max", "offered_erlangs", "carried_erlangs_sustain", "full_s",
            "poisson_arrivals", "refills", "offered", "blocked", "placed", "completed",
            "completion_ratio", "answered_by_agents", "agents_heard_caller", "records_naming_agent",
            "setup_to_alerting_ms", "setup_to_connect_ms", "late_ticks", "late_ticks_beside_steal",
            "late_ticks_waited_in_guest", "late_ticks_unexplained", "late_ticks_beside_reference",
            "platform_reference_late_ticks", "line_thread_inside", "line_thread_max_late_ms", "line_thread_max_work_ms",
            "line_thread_realtime",
            "far_end_late_ticks", "event_loop_lag_ms", "box_cpu_percent", "cpu_percent_per_call",
            "rss_per_call_kib", "leaked", "timers_left", "service_crashes", "settle_s", "box_when_far_end_ended", "console_before", "console_after", "console_left", "wall_s")
    head = "".join(f"<th>{r['spans']} span(s)</th>" for r in load)
    body = "".join(f"<tr><th>{k}</th>" + "".join(f"<td>{html.escape(_text(r.get(k)))}</td>" for r in load) + "</tr>"
                   for k in keys)
    parts.append(f"<table><tr><th></th>{head}</tr>{body}</table>")
    parts.append("<h3>Leak counts (before and after each run)</h3>")
    for r in load:
        parts.append(f"<p>{r['spans']} span(s):</p>" + _table(sorted(r["leaks"].items())))
    return "\n".join(parts)


def _soak_section(soak: dict | None) -> str:
    if not soak:
        return "<h2>Soak</h2><p>Not run.</p>"
    series = soak.get("series", [])
    return "\n".join([
        "<h2>Soak</h2>",
        f"<p>{soak['hours']:g} hours of a center's traffic on the virtual clock in {soak['wall_s']:g} s of real time "
        f"({soak['speedup']}x).</p>",
        line_chart("Calls held over the day", [("calls held", [(s[0], s[1]) for s in series]),
                                               ("agents talking", [(s[0], s[2]) for s in series])], "hour", "calls"),
        line_chart("Resident memory over the day", [("MiB", [(s[0], s[3]) for s in series])], "hour", "MiB"),
        _table([(k, v) for k, v in soak.items() if k not in ("series", "leaks")] + sorted(soak["leaks"].items())),
    ])


def _faults_section(faults) -> str:
    if faults is None:
        return "<h2>Faults</h2><p>Not run (the faults module is not on this build).</p>"
    rows = []
    for f in faults:
        f = f if isinstance(f, dict) else getattr(f, "__dict__", {"name": str(f)})
        ok = f.get("passed", f.get("ok"))
        rest = {k: v for k, v in f.items() if k not in ("name", "passed", "ok", "expected", "observed")}
        rows.append(f"<tr><th>{html.escape(str(f.get('name', '?')))}</th>"
                    f"<td class=\"{'pass' if ok else 'fail'}\">{'pass' if ok else 'FAIL'}</td>"
                    f"<td>{html.escape(str(f.get('expected', '')))}</td><td>{html.escape(str(f.get('observed', '')))}</td>"
                    f"<td>{html.escape(_text(rest.get('figures', rest)))}</td></tr>")
    passed = sum(1 for f in faults if (f if isinstance(f, dict) else {}).get("passed"))
    return (f"<h2>Faults</h2><p>{passed} of {len(faults)} passed.</p><table><tr><th>fault</th><th></th>"
            "<th>expected</th><th>observed</th><th>figures</th></tr>" + "".join(rows) + "</table>")


def _audio_section(audio: dict | None) -> str:
    if not audio:
        return "<h2>Audio</h2><p>Not run (the audio-quality module is not on this build).</p>"
    bars = [(k[len("pesq_"):], v) for k, v in audio.items() if k.startswith("pesq_") and isinstance(v, (int, float))]
    goals = audio.get("goals", {})
    return "\n".join([
        "<h2>Audio</h2>",
        f"<p>Model: {html.escape(str(audio.get('model', '')))}; reference: {html.escape(str(audio.get('reference', '')))}</p>",
        bar_chart("Listening quality by path", bars, "score", y_max=4.5,
                  marks=[(f"{k} goal {v}", v) for k, v in goals.items()]),
        _table([(k, v) for k, v in audio.items() if not k.startswith("pesq_")]),
    ])


def render(results: dict) -> str:
    summary = results.get("summary") or {}
    machine = results.get("machine") or {}
    return "\n".join([
        "<!doctype html>", '<html lang="en"><head><meta charset="utf-8"><title>pribox bench report</title>',
        "<style>body{font-family:sans-serif;max-width:980px;margin:2em auto;padding:0 1em}"
        "table{border-collapse:collapse;margin:1em 0;font-size:13px}th,td{border:1px solid #ccc;padding:3px 6px;"
        "text-align:left;vertical-align:top}td.pass{color:#2ca02c}td.fail{color:#d62728;font-weight:bold}"
        "svg{display:block;margin:1em 0}</style></head><body>",
        "<h1>pribox bench report</h1>",
        _table(sorted(summary.items()) + sorted(machine.items())),
        _load_section(results.get("load", [])),
        _faults_section(results.get("faults")),
        _soak_section(results.get("soak")),
        _audio_section(results.get("audio")),
        "</body></html>",
    ])


def write_report(results: dict, directory: str) -> str:
    """index.html (the report) and results.json (every figure) in `directory`; the page's path."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    page = out / "index.html"
    page.write_text(render(results), encoding="utf-8")
    (out / "results.json").write_text(json.dumps(results, indent=1, default=str, ensure_ascii=False), encoding="utf-8")
    return os.fspath(page)
