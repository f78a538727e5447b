// redfishfs web page: plain JavaScript, served by the daemon itself (no
// framework, no build step, no CDN). It logs in through the Redfish
// SessionService and keeps only the session token (never the password),
// shows every power strip (PowerEquipment/RackPDUs) with its outlets and
// every system, switches them through their actions (Outlet.PowerControl,
// ComputerSystem.Reset), and follows changes on the EventService's SSE
// stream — read with fetch(), since EventSource cannot send the
// X-Auth-Token header. Each event names a resource; that resource is read
// again and its row redrawn.
'use strict';

const R = '/redfish/v1';
const $ = (id) => document.getElementById(id);
let token = sessionStorage.getItem('rf-token');
let session = sessionStorage.getItem('rf-session');
let open = sessionStorage.getItem('rf-open') === '1';   // a server without logins (--http-no-auth)
let stream = null;              // the AbortController of the SSE fetch
const views = new Map();        // resource URI -> function(doc) redrawing it
const pending = new Set();      // URIs to read again (events coalesce here)
let flushTimer = 0;
let reloadTimer = 0;

function messageOf(j) {
  const e = j && j.error;
  if (!e) return null;
  const ext = e['@Message.ExtendedInfo'];
  if (Array.isArray(ext) && ext.length && ext[0].Message) return ext.map((m) => m.Message).join(' ');
  return e.message || null;
}

async function api(method, uri, body) {
  const headers = { Accept: 'application/json' };
  if (token) headers['X-Auth-Token'] = token;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const r = await fetch(uri, {
    method, headers, cache: 'no-store', credentials: 'omit',
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  let json = null;
  if (text) {
    try { json = JSON.parse(text); } catch (e) { json = null; }
  }
  if (!r.ok) {
    const err = new Error(messageOf(json) || `${r.status} ${r.statusText}`);
    err.status = r.status;
    throw err;
  }
  return { json, response: r };
}

const get = async (uri) => (await api('GET', uri)).json;

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'class') e.className = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const k of kids) e.append(k);
  return e;
}

function watts(v) {
  return typeof v === 'number' ? `${v.toFixed(1)} W` : '—';
}

function showError(text) {
  const p = $('error');
  p.textContent = text || '';
  p.hidden = !text;
}

// ---- login and logout ---------------------------------------------------------

function showLogin(message) {
  token = session = null;
  open = false;
  sessionStorage.removeItem('rf-token');
  sessionStorage.removeItem('rf-session');
  sessionStorage.removeItem('rf-open');
  if (stream) stream.abort();
  stream = null;
  views.clear();
  $('strips').replaceChildren();
  $('systems').replaceChildren();
  $('logout').hidden = true;
  $('live').hidden = true;
  showError('');
  $('login').hidden = false;
  $('login-error').textContent = message || '';
}

async function login(ev) {
  ev.preventDefault();
  const form = $('login');
  const user = form.elements.username.value;
  const password = form.elements.password.value;
  form.elements.password.value = '';          // the page keeps only the token
  $('login-error').textContent = '';
  try {
    const { json, response } = await api('POST', `${R}/SessionService/Sessions`,
                                          { UserName: user, Password: password });
    token = response.headers.get('X-Auth-Token');
    session = response.headers.get('Location') || (json && json['@odata.id']);
    if (!token) throw new Error('the service sent no session token');
    sessionStorage.setItem('rf-token', token);
    sessionStorage.setItem('rf-session', session || '');
    start();
  } catch (e) {
    token = null;
    if (e.status === 401 && await needsNoLogin()) {
      open = true;
      sessionStorage.setItem('rf-open', '1');
      start();
      return;
    }
    $('login-error').textContent = `Login failed: ${e.message}`;
  }
}

// A refused login on a server that takes no logins at all: it answers
// without one.
async function needsNoLogin() {
  try {
    await get(`${R}/SessionService`);
    return true;
  } catch (e) {
    return false;
  }
}

async function logout() {
  const uri = session;
  if (stream) stream.abort();
  stream = null;
  try {
    if (uri) await api('DELETE', uri);
  } catch (e) {
    // the session may have expired already; logged out either way
  }
  showLogin('Logged out.');
}

// ---- strips and outlets -----------------------------------------------------------

function powerSwitch(label, target, body) {
  const btn = el('button', { type: 'button', role: 'switch', 'aria-checked': 'false',
                             'aria-label': label });
  const msg = el('span', { class: 'msg error', role: 'alert' });
  btn.addEventListener('click', async () => {
    const on = btn.getAttribute('aria-checked') === 'true';
    btn.setAttribute('aria-busy', 'true');
    msg.textContent = '';
    try {
      await api('POST', target(), await body(!on));
      btn.setAttribute('aria-checked', String(!on));
    } catch (e) {
      if (e.status === 401) return showLogin('The session ended; log in again.');
      msg.textContent = e.message;
    } finally {
      btn.removeAttribute('aria-busy');
    }
  });
  return { btn, msg };
}

async function loadStrip(uri, container) {
  const doc = await get(uri);
  const name = doc.Id;
  const total = el('span', { class: 'total' }, '—');
  const card = el('article', { class: 'card', 'data-uri': uri },
                  el('h2', {}, el('span', {}, name), total));
  container.append(card);
  views.set(uri, (d) => card.classList.toggle('offline',
                                               !!d.Status && d.Status.State === 'UnavailableOffline'));
  views.get(uri)(doc);
  if (doc.Metrics && doc.Metrics['@odata.id']) {
    const m = doc.Metrics['@odata.id'];
    views.set(m, (d) => { total.textContent = watts(d.PowerWatts && d.PowerWatts.Reading); });
    views.get(m)(await get(m));
  }
  const outlets = doc.Outlets && doc.Outlets['@odata.id'];
  if (!outlets) return;
  for (const member of (await get(outlets)).Members || []) {
    const o = await get(member['@odata.id']);
    let target = '';
    const sw = powerSwitch(`${name} outlet ${o.Id}`, () => target,
                           async (on) => ({ PowerState: on ? 'On' : 'Off' }));
    const label = el('span', { class: 'name' });
    const w = el('span', { class: 'watts' });
    card.append(el('div', { class: 'row wrap', 'data-uri': o['@odata.id'] },
                   label, w, sw.btn, sw.msg));
    const draw = (d) => {
      const a = d.Actions && d.Actions['#Outlet.PowerControl'];
      target = a ? a.target : '';
      label.textContent = d.UserLabel && d.UserLabel !== d.Id ? `${d.Id} · ${d.UserLabel}` : d.Id;
      w.textContent = watts(d.PowerWatts && d.PowerWatts.Reading);
      if (!sw.btn.hasAttribute('aria-busy')) sw.btn.setAttribute('aria-checked', String(d.PowerState === 'On'));
      sw.btn.disabled = !target || d.PowerState === null || d.PowerState === undefined;
    };
    views.set(o['@odata.id'], draw);
    draw(o);
  }
}

// ---- systems --------------------------------------------------------------------------

// The ResetType to send: the nearest one the system allows.
async function resetTypes(action) {
  if (Array.isArray(action['ResetType@Redfish.AllowableValues'])) return action['ResetType@Redfish.AllowableValues'];
  if (action['@Redfish.ActionInfo']) {
    const info = await get(action['@Redfish.ActionInfo']);
    const p = (info.Parameters || []).find((x) => x.Name === 'ResetType');
    if (p && Array.isArray(p.AllowableValues)) return p.AllowableValues;
  }
  return ['On', 'ForceOff'];
}

async function loadSystem(uri, container) {
  const doc = await get(uri);
  const name = uri.slice(uri.lastIndexOf('/') + 1);   // rack1_437XR1138R2: unique here
  let action = null;
  const sw = powerSwitch(`${name} power`, () => action && action.target, async (on) => {
    const allowed = await resetTypes(action);
    const prefer = on ? ['On', 'ForceOn'] : ['ForceOff', 'GracefulShutdown', 'Off'];
    return { ResetType: prefer.find((t) => allowed.includes(t)) || prefer[0] };
  });
  const state = el('span', { class: 'name' });
  const card = el('article', { class: 'card', 'data-uri': uri },
                  el('h2', {}, el('span', {}, name)),
                  el('div', { class: 'row wrap' }, state, sw.btn, sw.msg));
  container.append(card);
  const draw = (d) => {
    action = d.Actions && d.Actions['#ComputerSystem.Reset'];
    const health = d.Status && d.Status.Health ? d.Status.Health : 'unknown';
    state.textContent = `${d.PowerState || 'unknown'} · health ${health}`;
    if (!sw.btn.hasAttribute('aria-busy')) sw.btn.setAttribute('aria-checked', String(d.PowerState === 'On'));
    sw.btn.disabled = !action;
    card.classList.toggle('offline', !!d.Status && d.Status.State === 'UnavailableOffline');
  };
  views.set(uri, draw);
  draw(doc);
}

async function loadAll() {
  views.clear();
  const strips = el('section', { id: 'strips', 'aria-label': 'Power strips' });
  const systems = el('section', { id: 'systems', 'aria-label': 'Systems' });
  try {
    const root = await get(R);
    if (root.PowerEquipment) {
      const pe = await get(root.PowerEquipment['@odata.id']);
      if (pe.RackPDUs) {
        for (const m of (await get(pe.RackPDUs['@odata.id'])).Members || []) await loadStrip(m['@odata.id'], strips);
      }
    }
    if (root.Systems) {
      for (const m of (await get(root.Systems['@odata.id'])).Members || []) await loadSystem(m['@odata.id'], systems);
    }
    $('strips').replaceWith(strips);
    $('systems').replaceWith(systems);
    showError('');
  } catch (e) {
    if (e.status === 401) return showLogin('The session ended; log in again.');
    showError(`Loading failed: ${e.message}`);
  }
}

// ---- live updates --------------------------------------------------------------------

async function flush() {
  flushTimer = 0;
  const uris = [...pending];
  pending.clear();
  for (const uri of uris) {
    const draw = views.get(uri);
    if (!draw) continue;
    try {
      draw(await get(uri));
    } catch (e) {
      if (e.status === 401) return showLogin('The session ended; log in again.');
      if (e.status === 404) scheduleReload();
    }
  }
}

function scheduleReload() {
  if (!reloadTimer) reloadTimer = setTimeout(() => { reloadTimer = 0; loadAll(); }, 300);
}

function onEvent(text) {
  const data = text.split('\n').filter((l) => l.startsWith('data:'))
    .map((l) => l.slice(5).replace(/^ /, '')).join('\n');
  if (!data) return;
  let ev;
  try { ev = JSON.parse(data); } catch (e) { return; }
  for (const rec of ev.Events || []) {
    const uri = rec.OriginOfCondition && rec.OriginOfCondition['@odata.id'];
    if (!uri) continue;
    if (views.has(uri)) pending.add(uri);
    else if (/\/RackPDUs(\/[^/]+)?$|\/Systems(\/[^/]+)?$/.test(uri)) scheduleReload();   // one came or went
  }
  if (pending.size && !flushTimer) flushTimer = setTimeout(flush, 30);
}

async function follow() {
  const ctl = new AbortController();
  stream = ctl;
  try {
    const headers = { Accept: 'text/event-stream' };
    if (token) headers['X-Auth-Token'] = token;
    const r = await fetch(`${R}/EventService/SSE`, {
      headers,
      signal: ctl.signal, cache: 'no-store', credentials: 'omit',
    });
    if (r.status === 401) return showLogin('The session ended; log in again.');
    if (!r.ok || !r.body) throw new Error(`events: ${r.status}`);
    $('live').hidden = false;
    const reader = r.body.getReader();
    const dec = new TextDecoder();
    let buf = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += dec.decode(value, { stream: true }).replace(/\r\n/g, '\n');
      let i;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        onEvent(buf.slice(0, i));
        buf = buf.slice(i + 2);
      }
    }
  } catch (e) {
    if (ctl.signal.aborted) return;
  }
  $('live').hidden = true;
  // The stream ended (the daemon restarted?): read everything again, follow again.
  setTimeout(() => {
    if (stream === ctl && (token || open)) { loadAll(); follow(); }
  }, 2000);
}

function start() {
  $('login').hidden = true;
  $('logout').hidden = false;
  loadAll().then(() => { if (token || open) follow(); });
}

$('login').addEventListener('submit', login);
$('logout').addEventListener('click', logout);
if (token || open) start();
else showLogin('');
