// The status page's script: it refreshes the device table from
// api/v1/devices every few seconds, updating the rows in place (open event
// lists and focus stay put), and drives the "Cycle now" buttons.
//
// Every URL is relative to the page, so it works behind a reverse proxy.
// The formatting mirrors view.go: change both together.
(function () {
  'use strict';

  const refreshMs = (Number(document.body.dataset.refresh) || 3) * 1000;
  // While an outlet is off, and just after a click, refresh faster so each
  // step shows.
  const busyRefreshMs = 1000;
  let busyUntil = 0; // a cycle was just asked for: busy until then
  let busy = false; // some device is cycling
  const tbody = document.querySelector('#devices tbody');
  const rows = new Map(); // device name -> {main, events}
  const labels = ['Device', 'State', 'Last probe', 'Failures', 'Last 24 hours', 'Last cycle', 'Next scheduled reboot', 'Plug'];
  const states = ['unknown', 'up', 'failing', 'cycling', 'booting', 'held', 'gave_up', 'blocked', 'paused'];
  const svgNS = 'http://www.w3.org/2000/svg';

  // el builds an element; strings become text nodes, never HTML.
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === false || v === null || v === undefined) continue;
      if (k === 'class') e.className = v;
      else e.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children) {
      if (c === null || c === undefined || c === '') continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }

  // put sets node's children, skipping the empty ones. Children that did
  // not change stay in place, so a refresh leaves a text selection (an error
  // to copy) alone.
  function put(node, ...children) {
    const want = children.filter((c) => c !== null && c !== undefined && c !== '')
      .map((c) => (c instanceof Node ? c : document.createTextNode(String(c))));
    const have = Array.from(node.childNodes);
    if (have.length !== want.length) {
      node.replaceChildren(...want);
      return;
    }
    want.forEach((w, i) => {
      if (!have[i].isEqualNode(w)) have[i].replaceWith(w);
    });
  }

  function sub(text, cls) {
    return text ? el('span', {class: 'sub' + (cls ? ' ' + cls : '')}, text) : null;
  }

  // span, relTime, latency, readingText: as in view.go.
  function span(secs) {
    if (secs < 60) return secs + 's';
    if (secs < 3600) return Math.floor(secs / 60) + 'm ' + (secs % 60) + 's';
    if (secs < 86400) return Math.floor(secs / 3600) + 'h ' + Math.floor(secs % 3600 / 60) + 'm';
    return Math.floor(secs / 86400) + 'd ' + Math.floor(secs % 86400 / 3600) + 'h';
  }

  function relTime(iso, now) {
    const d = now - Date.parse(iso);
    const secs = Math.floor(Math.abs(d) / 1000);
    if (secs < 1) return 'now';
    return d > 0 ? span(secs) + ' ago' : 'in ' + span(secs);
  }

  function timeEl(iso, now) {
    return el('time', {datetime: iso, title: new Date(iso).toLocaleString()}, relTime(iso, now));
  }

  function latency(secs) {
    if (secs < 0.01) return fixed1(secs * 1000) + ' ms';
    if (secs < 1) return Math.floor(secs * 1000 + 0.5) + ' ms';
    return fixed1(secs) + ' s';
  }

  // fixed1 rounds halves up, as view.go does (toFixed alone rounds the
  // exact binary value: 1.15 would read 1.1 here and 1.2 there).
  function fixed1(x) { return (Math.floor(x * 10 + 0.5) / 10).toFixed(1); }

  function relayText(on) { return on ? 'relay on' : 'relay off'; }

  function readingText(r) {
    if (!r) return 'no reading';
    if (!r.metered) return relayText(r.relay_on);
    return relayText(r.relay_on) + ' · ' + fixed1(r.power_watts) + ' W';
  }

  function stateText(s) { return (s || '').replaceAll('_', ' '); }
  function stateClass(s) { return 'state state-' + (states.includes(s) ? s : 'unknown'); }

  function modeText(m) {
    if (m === 'alert') return 'alert only';
    if (m === 'monitor') return 'monitor only';
    return m || '';
  }

  function joinNonEmpty(sep, ...parts) { return parts.filter(Boolean).join(sep); }

  function canCycle(d) { return !!d.plug && d.mode !== 'monitor'; }

  // pct, pauseText, barRuns, treeOrder: as in view.go and tree.go.
  function pct(a) { return a === undefined || a === null ? '–' : fixed1(a * 100) + '%'; }

  function pauseText(d, now) {
    if (d.paused_until) return 'paused, ends ' + relTime(d.paused_until, now) + (d.pause_reason ? ': ' + d.pause_reason : '');
    if (d.maintenance_until) return 'maintenance window, ends ' + relTime(d.maintenance_until, now);
    return '';
  }

  const barClass = {u: 'b-up', d: 'b-down', p: 'b-part'};
  function barEl(d) {
    const svg = document.createElementNS(svgNS, 'svg');
    svg.setAttribute('class', 'bar');
    svg.setAttribute('viewBox', '0 0 96 1');
    svg.setAttribute('preserveAspectRatio', 'none');
    svg.setAttribute('role', 'img');
    svg.setAttribute('aria-label', 'last 24 hours: ' + pct(d.availability_24h) + ' up');
    const bar = d.bar_24h || '';
    for (let i = 0; i < bar.length;) {
      let j = i;
      while (j < bar.length && bar[j] === bar[i]) j++;
      const r = document.createElementNS(svgNS, 'rect');
      r.setAttribute('x', String(i));
      r.setAttribute('width', String(j - i));
      r.setAttribute('height', '1');
      r.setAttribute('class', barClass[bar[i]] || 'b-none');
      svg.append(r);
      i = j;
    }
    return svg;
  }

  function treeOrder(devices) {
    const index = new Map(devices.map((d, i) => [d.name, i]));
    const children = new Map();
    const roots = [];
    devices.forEach((d, i) => {
      const p = (d.depends_on || []).find((n) => index.has(n));
      if (p === undefined) roots.push(i);
      else children.set(index.get(p), [...(children.get(index.get(p)) || []), i]);
    });
    const order = [];
    const depth = new Array(devices.length).fill(0);
    const seen = new Set();
    const walk = (i, dep) => {
      if (seen.has(i)) return;
      seen.add(i);
      depth[i] = dep;
      order.push(i);
      for (const c of children.get(i) || []) walk(c, dep + 1);
    };
    roots.forEach((r) => walk(r, 0));
    devices.forEach((_, i) => walk(i, 0));
    return order.map((i) => ({d: devices[i], depth: depth[i]}));
  }

  function pauseButton(d) {
    const label = d.paused ? 'Resume' : 'Pause';
    return el('button', {type: 'button', class: 'pause', 'aria-label': label + ': ' + d.name, 'data-paused': String(!!d.paused)}, label);
  }

  function cycleButton(name) {
    return el('button', {type: 'button', class: 'cycle', 'aria-label': 'Cycle now: ' + name}, 'Cycle now');
  }

  // createRow builds the two rows of a device that appeared after the page
  // was rendered, in the same shape as page.html.
  function createRow(name) {
    const main = el('tr', {role: 'row', class: 'device', 'data-device': name},
      el('th', {scope: 'row', role: 'rowheader', class: 'c-name', 'data-label': labels[0]}));
    for (const [i, cls] of ['c-state', 'c-probe', 'c-failures', 'c-avail', 'c-cycle', 'c-next', 'c-plug'].entries()) {
      main.append(el('td', {role: 'cell', class: cls, 'data-label': labels[i + 1]}));
    }
    main.append(el('td', {role: 'cell', class: 'c-action'}, el('span', {class: 'outcome', role: 'status', 'aria-live': 'polite'})));
    const events = el('tr', {role: 'row', class: 'events-row', 'data-device': name},
      el('td', {role: 'cell', colspan: labels.length + 1},
        el('details', {},
          el('summary', {}, 'Recent events for ', el('span', {class: 'name'}, name), ' (', el('span', {class: 'count'}, '0'), ')'),
          el('ol', {class: 'events'}))));
    return {main, events};
  }

  // fill writes a device's facts into its rows.
  function fill(r, d, now, depth) {
    const q = (sel) => r.main.querySelector(sel);
    r.main.className = 'device depth-' + depth;
    r.main.dataset.depth = String(depth);
    put(q('.c-name'), el('span', {class: 'name'}, depth ? el('span', {class: 'tree', 'aria-hidden': 'true'}, '└ ') : null, d.name),
      el('span', {class: 'sub'}, joinNonEmpty(' · ', modeText(d.mode), ((d.probe || '') + ' ' + (d.target || '')).trim())));

    let detail = '';
    if (d.state === 'held') detail = d.held_reason || '';
    if (d.state === 'booting' && d.boot_until) detail = 'boot window ends ' + relTime(d.boot_until, now);
    if (d.state === 'blocked') detail = 'waiting for ' + (d.parents_down || []).join(', ');
    if (d.state === 'paused') detail = pauseText(d, now);
    put(q('.c-state'), el('span', {class: stateClass(d.state)}, stateText(d.state)), sub(detail));

    const p = d.last_probe;
    if (!p) {
      put(q('.c-probe'), 'not probed yet');
    } else {
      put(q('.c-probe'), (p.success ? 'ok · ' : 'failed · ') + latency(p.duration_seconds),
        p.success ? null : sub(p.error, 'error-text'), el('span', {class: 'sub'}, timeEl(p.time, now)));
    }

    put(q('.c-failures'), String(d.consecutive_failures));
    put(q('.c-avail'), barEl(d), sub('24 h ' + pct(d.availability_24h) + ' · 7 d ' + pct(d.availability_7d)));
    put(q('.c-cycle'), d.last_cycle ? timeEl(d.last_cycle, now) : 'never', sub(d.cycles_in_window + ' in window'));
    put(q('.c-next'), d.next_scheduled_reboot ? timeEl(d.next_scheduled_reboot, now) : 'none');
    if (d.plug) {
      put(q('.c-plug'), joinNonEmpty(' · ', d.plug, d.outlet ? 'outlet ' + d.outlet : ''), sub(readingText(d.plug_reading)));
    } else {
      put(q('.c-plug'), 'no plug');
    }

    const action = q('.c-action');
    let btn = action.querySelector('button.cycle');
    if (canCycle(d) && !btn) {
      btn = cycleButton(d.name);
      action.prepend(btn);
    } else if (!canCycle(d) && btn) {
      btn.remove();
    }
    const pb = action.querySelector('button.pause');
    const want = pauseButton(d);
    if (!pb) {
      action.querySelector('.outcome').before(want);
    } else if (pb.dataset.paused !== want.dataset.paused) {
      // Keep the element (and keyboard focus): change its words only.
      pb.dataset.paused = want.dataset.paused;
      pb.textContent = want.textContent;
      pb.setAttribute('aria-label', want.getAttribute('aria-label'));
    }

    const events = d.events || [];
    r.events.querySelector('.count').textContent = String(events.length);
    const items = events.slice().reverse().map((e) => {
      let what = stateText(e.kind);
      if (e.trigger) what += ' (' + e.trigger + ')';
      return el('li', {class: 'event-' + e.kind}, timeEl(e.time, now), ' ', el('strong', {class: 'what'}, what),
        e.state ? ' ' : null, e.state ? el('span', {class: 'sub'}, '→ ' + stateText(e.state)) : null,
        e.detail ? el('span', {class: 'detail'}, e.detail) : null,
        e.next ? el('span', {class: 'sub'}, 'Next: ' + e.next) : null);
    });
    put(r.events.querySelector('ol.events'), ...(items.length ? items : [el('li', {class: 'none'}, 'No events yet.')]));
  }

  function banner(id, warn, text) {
    const b = document.getElementById(id);
    b.className = 'banner ' + (warn ? 'banner-warn' : 'banner-ok');
    b.querySelector('.text').textContent = text;
  }

  function render(data, now) {
    banner('guard', !!data.guard_holding, data.guard_holding
      ? 'holding automatic cycles: ' + data.guard_holding + ' (manual cycles still run)'
      : 'not holding: automatic cycles may run');
    banner('dry-run', data.dry_run, data.dry_run
      ? 'on: cycles are decided and logged, power is never switched'
      : 'off: cycles switch power');

    const devices = data.devices || [];
    busy = devices.some((d) => d.state === 'cycling');
    const seen = new Set();
    const tree = treeOrder(devices);
    for (const {d, depth} of tree) {
      seen.add(d.name);
      let r = rows.get(d.name);
      if (!r) {
        r = createRow(d.name);
        rows.set(d.name, r);
      }
      fill(r, d, now, depth);
    }
    for (const [name, r] of rows) {
      if (!seen.has(name)) {
        r.main.remove();
        r.events.remove();
        rows.delete(name);
      }
    }
    // Reorder (or insert) only when needed: moving a row would drop focus.
    const want = tree.flatMap(({d}) => [rows.get(d.name).main, rows.get(d.name).events]);
    const have = Array.from(tbody.children);
    if (want.length !== have.length || want.some((row, i) => row !== have[i])) {
      tbody.append(...want);
    }
    document.getElementById('no-devices').hidden = devices.length > 0;
  }

  // renderChannels updates the notification channels' rows (as
  // newChannelView in view.go); a channel added by a reload shows on the
  // next page load.
  const channelRows = document.querySelector('#channels tbody');
  function renderChannels(list, now) {
    if (!channelRows || !list) return;
    for (const c of list) {
      const tr = Array.from(channelRows.rows).find((r) => r.dataset.channel === c.name);
      if (!tr) continue;
      const [state, delivery, error, queued] = tr.querySelectorAll('td');
      let text = 'delivering';
      if (c.failures > 0) {
        text = 'failing (' + c.failures + ' ' + (c.failures === 1 ? 'attempt' : 'attempts') + ' in a row)';
        if (c.next_attempt) text += ', next try ' + relTime(c.next_attempt, now);
      } else if (!c.last_delivery) {
        text = 'no deliveries yet';
      }
      put(state, el('span', {class: 'state ' + (c.failures > 0 ? 'state-failing' : 'state-up')}, text));
      put(delivery, c.last_delivery ? timeEl(c.last_delivery, now) : 'never');
      put(error, c.last_error ? el('span', {class: 'error-text'}, c.last_error) : 'none',
        c.last_failure ? el('span', {class: 'sub'}, timeEl(c.last_failure, now)) : null);
      put(queued, String(c.queued));
    }
  }

  let lastOK = new Date();
  let timer = null;
  let inflight = false;

  function setRefreshError(text) {
    const e = document.getElementById('refresh-error');
    if (e.textContent !== text) e.textContent = text;
    e.hidden = !text;
  }

  async function refresh() {
    if (inflight) return;
    inflight = true;
    clearTimeout(timer);
    try {
      const resp = await fetch('api/v1/devices', {headers: {Accept: 'application/json'}, cache: 'no-store', credentials: 'same-origin'});
      if (!resp.ok) throw new Error('HTTP ' + resp.status + ': ' + (await resp.text()).trim());
      const data = await resp.json();
      lastOK = new Date();
      render(data, lastOK.getTime());
      renderChannels(data.notification_channels, lastOK.getTime());
      const t = document.querySelector('#updated time');
      t.dateTime = lastOK.toISOString();
      t.title = lastOK.toLocaleString();
      t.textContent = lastOK.toLocaleTimeString();
      setRefreshError('');
    } catch (err) {
      setRefreshError('Could not refresh the device list (' + err.message + '); showing what was known at ' +
        lastOK.toLocaleTimeString() + '. Retrying.');
    } finally {
      inflight = false;
      timer = setTimeout(refresh, busy || Date.now() < busyUntil ? busyRefreshMs : refreshMs);
    }
  }

  // setOutcome says what became of a click, with the time: the answer stays
  // until the next click, while the row moves on.
  function setOutcome(out, kind, text) {
    const now = new Date();
    out.className = 'outcome' + (kind ? ' ' + kind : '');
    put(out, el('time', {datetime: now.toISOString()}, now.toLocaleTimeString()), ' ', text);
  }

  async function cycle(btn) {
    const main = btn.closest('tr');
    const name = main.dataset.device;
    const out = main.querySelector('.outcome');
    if (!window.confirm('Power-cycle "' + name + '" now?\n\nIts outlet is switched off and on again: whatever runs on it restarts.')) {
      return;
    }
    // aria-disabled, not disabled: a disabled button would lose keyboard focus.
    btn.setAttribute('aria-disabled', 'true');
    setOutcome(out, '', 'Asking restartinator to cycle ' + name + '…');
    try {
      const resp = await fetch('api/v1/devices/' + encodeURIComponent(name) + '/cycle', {
        method: 'POST',
        headers: {Accept: 'application/json'},
        credentials: 'same-origin',
        cache: 'no-store',
      });
      const text = (await resp.text()).trim();
      let body = null;
      try { body = JSON.parse(text); } catch (_) { /* http.Error answers plain text */ }
      const said = (body && (body.error || body.next)) || text;
      switch (true) {
        case resp.status === 202:
          busyUntil = Date.now() + 30000;
          setOutcome(out, 'ok', 'Cycling… ' + (body && body.next ? body.next : ''));
          break;
        case resp.status === 409 && body && body.status === 'already_cycling':
          setOutcome(out, 'bad', 'Already cycling: ' + said);
          break;
        case resp.status === 401 || resp.status === 403: {
          let why = 'This action needs authentication: ' + said.replace(/^actions? needs? authentication:\s*/i, '');
          if (resp.status === 401) {
            why += '. A browser cannot send the webhook bearer token: give people basic auth in --web.config.file.';
          }
          setOutcome(out, 'bad', why);
          break;
        }
        default:
          setOutcome(out, 'bad', 'Not cycled (HTTP ' + resp.status + '): ' + said);
      }
    } catch (err) {
      setOutcome(out, 'bad', 'Could not reach restartinator: ' + err.message);
    } finally {
      btn.removeAttribute('aria-disabled');
      refresh();
    }
  }

  // pause asks how long and why, then pauses; on a paused device, resumes.
  async function pause(btn) {
    const main = btn.closest('tr');
    const name = main.dataset.device;
    const out = main.querySelector('.outcome');
    const resume = btn.dataset.paused === 'true';
    let body = null;
    if (!resume) {
      const dur = window.prompt('Pause "' + name + '" for how long? (e.g. 30m, 1h, 1d)\n\nIt is still probed, but never cycled automatically and sends no offline notification.', '1h');
      if (!dur) return;
      const reason = window.prompt('Why? (shown on this page; may be empty)', '') || '';
      body = JSON.stringify({for: dur.trim(), reason: reason});
    }
    btn.setAttribute('aria-disabled', 'true');
    try {
      const resp = await fetch('api/v1/devices/' + encodeURIComponent(name) + (resume ? '/resume' : '/pause'), {
        method: 'POST',
        headers: {Accept: 'application/json', 'Content-Type': 'application/json'},
        credentials: 'same-origin',
        cache: 'no-store',
        body: body,
      });
      const text = (await resp.text()).trim();
      let ans = null;
      try { ans = JSON.parse(text); } catch (_) { /* plain text */ }
      if (resp.ok) {
        setOutcome(out, 'ok', resume ? 'Resumed.' : 'Paused until ' + new Date(ans.until).toLocaleString() + '.');
      } else {
        setOutcome(out, 'bad', (resume ? 'Not resumed' : 'Not paused') + ' (HTTP ' + resp.status + '): ' + ((ans && ans.error) || text));
      }
    } catch (err) {
      setOutcome(out, 'bad', 'Could not reach restartinator: ' + err.message);
    } finally {
      btn.removeAttribute('aria-disabled');
      refresh();
    }
  }

  for (const main of tbody.querySelectorAll('tr.device')) {
    rows.set(main.dataset.device, {main, events: main.nextElementSibling});
  }
  for (const b of tbody.querySelectorAll('button.cycle, button.pause')) b.hidden = false;
  for (const e of document.querySelectorAll('.js-only')) e.hidden = false;
  tbody.addEventListener('click', (ev) => {
    const btn = ev.target.closest('button.cycle');
    if (btn && btn.getAttribute('aria-disabled') !== 'true') cycle(btn);
    const pb = ev.target.closest('button.pause');
    if (pb && pb.getAttribute('aria-disabled') !== 'true') pause(pb);
  });
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden) refresh();
  });
  refresh();
})();
