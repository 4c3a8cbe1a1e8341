/**
 * The dashboard's only script and stylesheet, served from `/assets/*` (CSP `script-src 'self'`:
 * no inline script anywhere). Kept as strings so there is no build step and nothing to copy.
 *
 * The script: live updates over server-sent events (re-fetches the `#live` fragment, but not
 * while the human is typing a paste) and countdowns for every `<time data-countdown>`.
 */
export const DASHBOARD_JS = `'use strict';
(function () {
  var live = document.getElementById('live');
  var status = document.getElementById('conn-status');
  function fmt(ms) {
    var s = Math.round(Math.abs(ms) / 1000);
    var d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    var t = d > 0 ? d + 'd ' + h + 'h' : h > 0 ? h + 'h ' + m + 'm' : m > 0 ? m + 'm ' + r + 's' : r + 's';
    return ms >= 0 ? 'in ' + t : t + ' ago';
  }
  function tick() {
    var els = document.querySelectorAll('time[data-countdown]');
    for (var i = 0; i < els.length; i++) {
      var at = Date.parse(els[i].getAttribute('datetime'));
      if (!isNaN(at)) els[i].textContent = fmt(at - Date.now());
    }
  }
  function typing() {
    var a = document.activeElement;
    if (a && a.tagName === 'TEXTAREA' && live.contains(a)) return true;
    var ts = live.querySelectorAll('textarea');
    for (var i = 0; i < ts.length; i++) if (ts[i].value) return true;
    return false;
  }
  var pending = false, timer = null;
  function refresh() {
    timer = null;
    if (typing()) { pending = true; return; }
    pending = false;
    fetch('/?partial=1', { credentials: 'same-origin', headers: { accept: 'text/html' } })
      .then(function (r) { if (r.status === 401) { location.reload(); return null; } return r.ok ? r.text() : null; })
      .then(function (html) { if (html !== null) { live.innerHTML = html; tick(); document.body.setAttribute('data-updated', String(Date.now())); } })
      .catch(function () {});
  }
  function schedule() { if (!timer) timer = setTimeout(refresh, 100); }
  document.addEventListener('focusout', function () { if (pending) schedule(); });
  if (window.EventSource && live) {
    var es = new EventSource('/events/stream');
    es.addEventListener('warden', schedule);
    es.onopen = function () { if (status) status.textContent = 'live'; document.body.setAttribute('data-live', '1'); };
    es.onerror = function () { if (status) status.textContent = 'reconnecting…'; document.body.removeAttribute('data-live'); };
  }
  tick();
  setInterval(tick, 1000);
})();
`;

export const DASHBOARD_CSS = `:root{--bg:#0f1115;--card:#181b22;--fg:#e6e8ee;--dim:#9aa3b2;--ok:#3fb950;--warn:#d29922;--bad:#f85149;--link:#58a6ff}
*{box-sizing:border-box}body{margin:0;font:15px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;background:var(--bg);color:var(--fg)}
header{display:flex;align-items:center;gap:.75rem;padding:.75rem 1rem;border-bottom:1px solid #262b36;position:sticky;top:0;background:var(--bg)}
header h1{font-size:1.1rem;margin:0;flex:1}main{max-width:60rem;margin:0 auto;padding:1rem}
section{margin-bottom:1.5rem}h2{font-size:1rem;color:var(--dim);text-transform:uppercase;letter-spacing:.05em}
.card{background:var(--card);border-radius:.5rem;padding:.9rem 1rem;margin:.6rem 0;border-left:4px solid #333}
.card.healthy{border-left-color:var(--ok)}.card.degraded,.card.expiring,.card.refreshing{border-left-color:var(--warn)}
.card.reauth_required,.card.awaiting_human,.card.unauthorized,.card.flow{border-left-color:var(--bad)}
.row{display:flex;flex-wrap:wrap;gap:.3rem 1.2rem}.k{color:var(--dim);font-size:.85rem}
.badge{display:inline-block;padding:.05rem .5rem;border-radius:1rem;font-size:.8rem;background:#2a2f3a}
.badge.healthy{background:#1f3a26;color:var(--ok)}.badge.reauth_required,.badge.awaiting_human,.badge.unauthorized{background:#3d1f1f;color:var(--bad)}
.badge.degraded,.badge.expiring{background:#3a321c;color:var(--warn)}
.cause{margin:.5rem 0;padding:.5rem .7rem;background:#221a1a;border-radius:.4rem}.fix{color:var(--warn)}
.learned{margin:.5rem 0}.learned .cause{background:#1f1f17}
a{color:var(--link);word-break:break-all}.qr{background:#fff;padding:.4rem;border-radius:.3rem;width:12rem;max-width:60vw;height:auto;display:block;margin:.5rem 0}
textarea{width:100%;min-height:4.5rem;background:#0c0e12;color:var(--fg);border:1px solid #333;border-radius:.4rem;padding:.5rem;font:inherit}
button{background:#238636;color:#fff;border:0;border-radius:.4rem;padding:.55rem 1rem;font:inherit;cursor:pointer}button.secondary{background:#30363d}
.notice{padding:.6rem .8rem;border-radius:.4rem;margin-bottom:1rem}.notice.ok{background:#1f3a26}.notice.warn{background:#3a321c}.notice.error{background:#3d1f1f}
ol.timeline{list-style:none;padding:0;margin:0}ol.timeline li{padding:.4rem 0;border-bottom:1px solid #232833}
.ev-type{font-family:ui-monospace,monospace;font-size:.8rem;color:var(--dim)}code{font-family:ui-monospace,monospace}
table{border-collapse:collapse;width:100%}td,th{text-align:left;padding:.25rem .4rem;border-bottom:1px solid #232833;font-size:.9rem}
#conn-status{font-size:.8rem;color:var(--dim)}
@media (max-width:40rem){main{padding:.6rem}.card{padding:.7rem}}
`;
