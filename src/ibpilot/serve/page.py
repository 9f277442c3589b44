"""The status page (``GET /``): every mode's state, a timeline, links, and Restart/Stop for token holders.

Pure rendering: status dicts in, HTML and its Content-Security-Policy out. Every value is escaped. The
page has no secret in it; the command token is typed into a password field, kept in a JavaScript
variable only, and sent in an ``Authorization`` header (never in a URL, a cookie or storage). The page
refreshes its ``<main>`` every `REFRESH_S` seconds from ``GET /status`` (token included once given).
"""

from __future__ import annotations

import html
import secrets
import time
from collections.abc import Callable
from typing import Any

# (status, now) -> (healthy, reason): `health.evaluate`, the one rule, passed in (imports stay one-way)
Judge = Callable[[dict[str, Any], float], tuple[bool, str]]

REFRESH_S = 5
TIMELINE_ROWS = 60

_OK, _BAD, _IDLE = "ok", "bad", "idle"
_STATE_CLASS = {"READY": _OK, "RECOVERING": _BAD, "STOPPED": _BAD, "STOPPING": _IDLE, "UNKNOWN": _BAD}


def e(value: Any) -> str:
    """HTML-escape anything (quotes too: safe in text and in attribute values)."""
    return html.escape("" if value is None else str(value), quote=True)


def ago(seconds: float) -> str:
    s = int(max(seconds, 0))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h {s % 3600 // 60:02d}m"
    return f"{s // 86400}d {s % 86400 // 3600}h"


def when(t: Any, now: float) -> str:
    """``20:15:03 UTC (3m 12s ago)``; the date too when it is not today; ``-`` when unknown."""
    if not isinstance(t, int | float) or isinstance(t, bool):
        return "-"
    fmt = "%H:%M:%S UTC" if time.gmtime(t)[:3] == time.gmtime(now)[:3] else "%Y-%m-%d %H:%M:%S UTC"
    return f"{time.strftime(fmt, time.gmtime(t))} ({ago(now - t)} ago)"


def _card(status: dict[str, Any], now: float, this: bool, judge: Judge) -> str:
    state = str(status.get("state") or "UNKNOWN")
    healthy, reason = judge(status, now)
    cls = _STATE_CLASS.get(state, _IDLE)
    probe = status.get("probe") if isinstance(status.get("probe"), dict) else {}
    assert isinstance(probe, dict)
    latency = probe.get("latency_ms")
    restarts = status.get("restarts") if isinstance(status.get("restarts"), dict) else {}
    assert isinstance(restarts, dict)
    alert = status.get("last_alert") if isinstance(status.get("last_alert"), dict) else None
    rows = [
        ("since", when(status.get("since"), now)),
        ("API port", status.get("api_port") or "-"),
        ("JVM pid", status.get("jvm_pid") or "not running"),
        ("last API probe", when(probe.get("last_at"), now)),
        ("last success", when(probe.get("last_ok_at"), now)
         + (f", {latency:.0f} ms" if isinstance(latency, int | float) else "")),
        ("last login", when(status.get("last_login_at"), now)),
        ("restarts", ", ".join(f"{k} {v}" for k, v in sorted(restarts.items())) or "none"),
    ]
    if probe.get("error"):
        rows.append(("probe error", probe["error"]))
    if alert:
        rows.append(("last alert", f"{alert.get('alert', '')}: {alert.get('msg', '')} · {when(alert.get('t'), now)}"))
    if status.get("error"):
        rows.append(("error", status["error"]))
    dl = "".join(f"<dt>{e(k)}</dt><dd>{e(v)}</dd>" for k, v in rows)
    mode = status.get("mode") or "?"
    who = "this controller" if this else "other mode"
    return (
        f'<article class="card {cls}" data-mode="{e(mode)}" data-state="{e(state)}" '
        f'data-healthy="{str(healthy).lower()}">'
        f'<header><h2>{e(mode)}</h2><span class="who">{e(who)}</span>'
        f'<span class="badge {cls}">{e(state)}</span></header>'
        f'<p class="reason {_OK if healthy else cls}">{"healthy" if healthy else "not healthy"}: {e(reason)}</p>'
        f"<dl>{dl}</dl></article>"
    )


def _timeline(statuses: list[dict[str, Any]], now: float) -> str:
    entries: list[tuple[float, str, str, str]] = []
    for st in statuses:
        for item in st.get("timeline") or []:
            if isinstance(item, dict) and isinstance(item.get("t"), int | float):
                entries.append((float(item["t"]), str(st.get("mode") or "?"), str(item.get("kind") or ""),
                                str(item.get("text") or "")))
    if not entries:
        return '<p class="empty">No transitions or alerts yet.</p>'
    entries.sort(key=lambda x: x[0], reverse=True)
    rows = "".join(
        f'<tr class="{e(kind)}"><td class="t">{e(when(t, now))}</td><td>{e(mode)}</td>'
        f'<td><span class="kind {e(kind)}">{e(kind)}</span></td><td class="text">{e(text)}</td></tr>'
        for t, mode, kind, text in entries[:TIMELINE_ROWS]
    )
    return ('<table><thead><tr><th>time</th><th>mode</th><th>kind</th><th>what</th></tr></thead>'
            f"<tbody>{rows}</tbody></table>")


def _links(status: dict[str, Any]) -> str:
    links = status.get("links") if isinstance(status.get("links"), dict) else {}
    assert isinstance(links, dict)
    names = {"novnc": "Gateway screen (noVNC)", "supervisord": "Processes (supervisord)"}
    items = [f'<a href="{e(url)}" rel="noopener noreferrer" target="_blank">{e(names.get(k, k))}</a>'
             for k, url in links.items() if url]
    return f'<nav class="links">{"".join(items)}</nav>' if items else ""


def render_main(status: dict[str, Any], peers: list[dict[str, Any]], *, judge: Judge, commands_enabled: bool,
                authorized: bool, now: float) -> str:
    """The ``<main id="status">`` part: what the page refreshes (``GET /status``); no script, no style."""
    mode, state = status.get("mode") or "?", status.get("state") or "UNKNOWN"
    cards = _card(status, now, True, judge) + "".join(_card(p, now, False, judge) for p in peers)
    controls = ""
    if commands_enabled and authorized:
        controls = ('<section class="controls"><h2>Controls</h2>'
                    f'<button type="button" data-command="RESTART">Restart {e(mode)} Gateway</button>'
                    f'<button type="button" class="danger" data-command="STOP">Stop {e(mode)} controller</button>'
                    "</section>")
    return f"""<main id="status" data-title="ibpilot {e(mode)}: {e(state)}">
<header class="top"><h1>ibpilot</h1><span class="ver">{e(status.get("version") or "")}</span>
<span class="gen">updated {e(time.strftime("%H:%M:%S UTC", time.gmtime(now)))}</span>{_links(status)}</header>
<section class="cards">{cards}</section>
{controls}
<section class="timeline"><h2>Timeline</h2>{_timeline([status] + peers, now)}</section>
</main>"""


def render(status: dict[str, Any], peers: list[dict[str, Any]], *, judge: Judge, commands_enabled: bool,
           authorized: bool, now: float) -> tuple[str, str]:
    """(HTML, Content-Security-Policy) of the page; `status` and `peers` must already be scrubbed."""
    nonce = secrets.token_urlsafe(16)
    csp = (f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; connect-src 'self'; "
           "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
    mode, state = status.get("mode") or "?", status.get("state") or "UNKNOWN"
    main = render_main(status, peers, judge=judge, commands_enabled=commands_enabled, authorized=authorized,
                       now=now)
    unlock = ""
    if commands_enabled and not authorized:
        unlock = ('<form id="unlock" autocomplete="off"><label>Command token '
                  '<input type="password" name="token" autocomplete="off" required></label>'
                  '<button type="submit">Unlock Restart / Stop</button></form>')
    doc = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>ibpilot {e(mode)}: {e(state)}</title>
<style nonce="{nonce}">{_CSS}</style></head>
<body>
{main}
{unlock}
<p id="msg" role="status"></p>
<script nonce="{nonce}">{_JS}</script>
</body></html>
"""
    return doc, csp


_CSS = """
:root{--ok:#1b7f3b;--bad:#b3261e;--idle:#8a6d00;--fg:#1d2330;--muted:#5d6677;--line:#dde1e8;--bg:#f5f6f8}
*{box-sizing:border-box}
body{margin:0;padding:24px;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);
background:var(--bg)}
main{max-width:1100px;margin:0 auto}
.top{display:flex;align-items:baseline;gap:14px;flex-wrap:wrap;margin-bottom:18px}
h1{margin:0;font-size:24px}
h2{margin:0;font-size:17px}
.ver,.gen,.who{color:var(--muted);font-size:13px}
.links{margin-left:auto;display:flex;gap:14px}
.links a{color:#1a56b0;text-decoration:none;font-weight:500}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(330px,1fr));gap:16px}
.card{background:#fff;border:1px solid var(--line);border-left:6px solid var(--idle);border-radius:8px;
padding:14px 18px}
.card.ok{border-left-color:var(--ok)}.card.bad{border-left-color:var(--bad)}
.card header{display:flex;align-items:center;gap:10px}
.badge{margin-left:auto;padding:3px 10px;border-radius:999px;color:#fff;font-weight:600;font-size:13px;
letter-spacing:.03em;background:var(--idle)}
.badge.ok{background:var(--ok)}.badge.bad{background:var(--bad)}
.reason{margin:8px 0 10px;font-weight:500}
.reason.ok{color:var(--ok)}.reason.bad{color:var(--bad)}.reason.idle{color:var(--idle)}
dl{display:grid;grid-template-columns:max-content 1fr;gap:3px 14px;margin:0;font-size:14px}
dt{color:var(--muted)}dd{margin:0;overflow-wrap:anywhere}
.controls,.timeline{margin-top:22px}
.controls h2,.timeline h2{margin-bottom:8px}
button{font:inherit;padding:7px 16px;border-radius:6px;border:1px solid #1a56b0;background:#1a56b0;color:#fff;
cursor:pointer;margin-right:10px}
button.danger{background:#fff;color:var(--bad);border-color:var(--bad)}
table{width:100%;border-collapse:collapse;background:#fff;border:1px solid var(--line);border-radius:8px;
font-size:14px}
th,td{text-align:left;padding:6px 10px;border-bottom:1px solid var(--line);vertical-align:top}
th{color:var(--muted);font-weight:500;background:#fafbfc}
td.t{white-space:nowrap;color:var(--muted)}
td.text{overflow-wrap:anywhere;font-family:ui-monospace,Menlo,Consolas,monospace;font-size:13px}
.kind{padding:1px 8px;border-radius:4px;font-size:12px;background:#e8ecf3}
.kind.alert{background:#fbe3e1;color:var(--bad)}
.empty{color:var(--muted)}
#unlock{max-width:1100px;margin:22px auto 0;display:flex;gap:10px;align-items:center}
#unlock input{font:inherit;padding:6px 8px;border:1px solid var(--line);border-radius:6px;margin-left:8px}
#msg{max-width:1100px;margin:10px auto;color:var(--muted)}
"""

_JS = """
(() => {
  let token = null;
  const say = (text) => { document.getElementById('msg').textContent = text; };
  async function load(tok) {
    const r = await fetch('/status', {headers: tok ? {Authorization: 'Bearer ' + tok} : {}, cache: 'no-store'});
    if (r.status === 401) throw new Error('wrong token');
    if (!r.ok) throw new Error('HTTP ' + r.status);
    const doc = new DOMParser().parseFromString(await r.text(), 'text/html');
    const fresh = doc.getElementById('status');
    if (fresh) document.getElementById('status').replaceWith(document.adoptNode(fresh));
    if (fresh) document.title = fresh.dataset.title;
  }
  const form = document.getElementById('unlock');
  if (form) form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const tok = form.elements.token.value;
    form.elements.token.value = '';
    try { await load(tok); token = tok; form.hidden = true; say('Restart and Stop unlocked.'); }
    catch (err) { say(err.message); }
  });
  document.addEventListener('click', async (ev) => {
    const b = ev.target.closest('button[data-command]');
    if (!b || !token) return;
    const name = b.dataset.command;
    if (!window.confirm(name + '?')) return;
    try {
      const r = await fetch('/command', {method: 'POST', body: name,
        headers: {Authorization: 'Bearer ' + token, 'Content-Type': 'text/plain'}});
      say(name + ': ' + (await r.text()));
    } catch (err) { say(name + ' failed: ' + err.message); }
  });
  setInterval(() => load(token).catch((err) => say('refresh failed: ' + err.message)), REFRESH_MS);
})();
""".replace("REFRESH_MS", str(REFRESH_S * 1000))
