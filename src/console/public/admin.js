// The operators' page: opens an admin session (cookie for /admin/queues) with
// an admin key, and lists the workers from their heartbeats.

const $ = (id) => document.getElementById(id);
const STORAGE_KEY = 'meno.admin';
let timer = null;

async function call(path, init = {}) {
  const headers = new Headers(init.headers);
  const key = sessionStorage.getItem(STORAGE_KEY);
  if (key) headers.set('Authorization', `Bearer ${key}`);
  const res = await fetch(path, { ...init, headers });
  if (!res.ok) {
    let message = `${res.status} ${res.statusText}`;
    try {
      message = (await res.json()).error?.message ?? message;
    } catch {
      // not a JSON error envelope
    }
    const err = new Error(message);
    err.status = res.status;
    throw err;
  }
  return res;
}

function show(signedIn) {
  $('login').hidden = signedIn;
  $('workers').hidden = !signedIn;
  $('session').hidden = !signedIn;
  clearInterval(timer);
  if (signedIn) {
    void refresh();
    timer = setInterval(() => void refresh(), 5000);
  }
}

function ago(ms) {
  return ms < 1500 ? 'just now' : `${Math.round(ms / 1000)} s ago`;
}

async function refresh() {
  try {
    const { workers } = await (await call('/api/admin/workers')).json();
    const rows = workers.map((w) => {
      const tr = document.createElement('tr');
      const cells = [
        `${w.workerId}`,
        w.model,
        w.executionProvider,
        w.queues.join(', '),
        `${w.activeJobs} / ${w.concurrency}`,
        ago(w.lastBeatAgoMs),
        w.metricsPort ? `${w.host}:${w.metricsPort}/healthz` : 'no metrics port',
      ];
      for (const text of cells) {
        const td = document.createElement('td');
        td.textContent = text;
        tr.append(td);
      }
      return tr;
    });
    $('worker-rows').replaceChildren(...rows);
    $('workers-status').textContent = `${workers.length} worker${workers.length === 1 ? '' : 's'} live · updated ${new Date().toLocaleTimeString()}`;
  } catch (err) {
    if (err.status === 401 || err.status === 403) signOut(`Signed out: ${err.message}`);
    else $('workers-status').textContent = `Could not list workers: ${err.message}`;
  }
}

function signOut(message = '') {
  sessionStorage.removeItem(STORAGE_KEY);
  void fetch('/admin/session', { method: 'DELETE' }).catch(() => {});
  $('login-error').textContent = message;
  show(false);
}

$('login-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const key = $('admin-key').value.trim();
  if (!key) {
    $('login-error').textContent = 'Enter an admin API key.';
    return;
  }
  try {
    await fetch('/admin/session', { method: 'POST', headers: { Authorization: `Bearer ${key}` } }).then(async (res) => {
      if (!res.ok) throw new Error((await res.json().catch(() => null))?.error?.message ?? `${res.status}`);
    });
  } catch (err) {
    $('login-error').textContent = `Sign-in refused: ${err.message}`;
    return;
  }
  sessionStorage.setItem(STORAGE_KEY, key);
  $('admin-key').value = '';
  $('login-error').textContent = '';
  show(true);
});

$('sign-out').addEventListener('click', () => signOut());

show(sessionStorage.getItem(STORAGE_KEY) !== null);
