// The web console: plain JavaScript, no build step, served by the API from
// src/console/public. Every API call carries the key as a bearer header;
// the key lives in sessionStorage (this tab only). Live progress reads the
// SSE stream with fetch(), since EventSource cannot send headers.

const $ = (id) => document.getElementById(id);
const SESSION_KEY = 'meno.console';
const LIVE = new Set(['pending', 'processing']);
const FORMAT_EXTENSIONS = { text: 'txt', srt: 'srt', vtt: 'vtt', json: 'json' };

class ApiError extends Error {
  constructor(status, message, code) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** What the tab remembers: { key, projectId }. */
let session = loadSession();
/** The open meeting: its id, status, segments, and what to abort when another is opened. */
let current = null;
let listCursor = null;
let listTimer = null;

function loadSession() {
  try {
    const saved = JSON.parse(sessionStorage.getItem(SESSION_KEY) ?? 'null');
    return saved && typeof saved.key === 'string' && typeof saved.projectId === 'string' ? saved : null;
  } catch {
    return null;
  }
}

function meetingsPath() {
  return `/api/projects/${encodeURIComponent(session.projectId)}/meetings`;
}

function meetingPath(meetingId) {
  return `${meetingsPath()}/${encodeURIComponent(meetingId)}`;
}

async function errorFrom(res) {
  let message = `${res.status} ${res.statusText}`;
  let code;
  try {
    const body = await res.json();
    if (body?.error?.message) message = body.error.message;
    code = body?.error?.code;
  } catch {
    // not a JSON error envelope
  }
  return new ApiError(res.status, message, code);
}

/** fetch with the session's key; throws ApiError for an error answer. */
async function api(path, init = {}) {
  const headers = new Headers(init.headers);
  headers.set('Authorization', `Bearer ${session.key}`);
  const res = await fetch(path, { ...init, headers });
  if (!res.ok) {
    if (res.status === 401) signOut('The API key was refused (401); enter it again.');
    throw await errorFrom(res);
  }
  return res;
}

function formatTime(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${rest}` : `${m}:${rest}`;
}

function formatDuration(seconds) {
  return seconds >= 60 ? `${Math.round(seconds / 60)} min` : `${Math.round(seconds)} s`;
}

// ---- sign in / out ----

function showWorkspace() {
  const signedIn = session !== null;
  $('login').hidden = signedIn;
  $('workspace').hidden = !signedIn;
  $('session').hidden = !signedIn;
  if (signedIn) {
    $('session-project').textContent = `Project ${session.projectId}`;
    void refreshList();
  } else {
    closeMeeting();
    $('meeting-list').replaceChildren();
    $('api-key').focus();
  }
}

function signOut(message = '') {
  session = null;
  sessionStorage.removeItem(SESSION_KEY);
  clearInterval(listTimer);
  $('login-error').textContent = message;
  showWorkspace();
}

$('login-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const key = $('api-key').value.trim();
  const projectId = $('project-id').value.trim();
  if (!key || !$('project-id').checkValidity() || !projectId) {
    $('login-error').textContent = !key ? 'Enter an API key.' : 'Enter a project id: 1-64 letters, digits, "-" or "_".';
    return;
  }
  session = { key, projectId };
  try {
    await api(`${meetingsPath()}?limit=1`);
  } catch (err) {
    session = null;
    $('login-error').textContent = err.status === 403 ? `This key cannot open project ${projectId}: ${err.message}` : `Could not open the project: ${err.message}`;
    return;
  }
  sessionStorage.setItem(SESSION_KEY, JSON.stringify(session));
  $('api-key').value = '';
  $('login-error').textContent = '';
  showWorkspace();
});

$('sign-out').addEventListener('click', () => signOut());

// ---- meeting list ----

function meetingItem(m) {
  const li = document.createElement('li');
  const button = document.createElement('button');
  button.type = 'button';
  button.className = 'meeting-item';
  button.dataset.meetingId = m.meetingId;
  if (current?.meetingId === m.meetingId) button.setAttribute('aria-current', 'true');
  const name = document.createElement('span');
  name.className = 'meeting-name';
  name.textContent = m.meetingId;
  const badge = document.createElement('span');
  badge.className = `badge status-${m.status}`;
  badge.textContent = m.status === 'processing' ? `processing ${m.progress}%` : m.status;
  const meta = document.createElement('span');
  meta.className = 'meeting-meta';
  meta.textContent = `${formatDuration(m.durationSec)} · ${new Date(m.createdAt).toLocaleString()}${m.errorCode ? ` · ${m.errorCode}` : ''}`;
  const bar = document.createElement('progress');
  bar.max = 100;
  bar.value = m.progress;
  bar.setAttribute('aria-label', `${m.meetingId}: ${m.progress}% transcribed`);
  button.append(name, badge, meta, bar);
  button.addEventListener('click', () => openMeeting(m.meetingId));
  li.append(button);
  return li;
}

async function refreshList(append = false) {
  if (!session) return;
  const params = new URLSearchParams({ limit: '25' });
  const status = $('status-filter').value;
  if (status) params.set('status', status);
  if (append && listCursor) params.set('cursor', listCursor);
  try {
    const page = await (await api(`${meetingsPath()}?${params}`)).json();
    const items = page.meetings.map(meetingItem);
    if (append) $('meeting-list').append(...items);
    else $('meeting-list').replaceChildren(...items);
    listCursor = page.nextCursor;
    $('more').hidden = !listCursor;
    $('list-empty').hidden = $('meeting-list').children.length > 0;
    $('list-error').textContent = '';
    // Live meetings change on their own: look again in a few seconds.
    clearInterval(listTimer);
    if (page.meetings.some((m) => LIVE.has(m.status))) listTimer = setInterval(() => void refreshList(), 5000);
  } catch (err) {
    if (session) $('list-error').textContent = `Could not list meetings: ${err.message}`;
  }
}

$('refresh').addEventListener('click', () => void refreshList());
$('status-filter').addEventListener('change', () => void refreshList());
$('more').addEventListener('click', () => void refreshList(true));

// ---- upload ----

/** XMLHttpRequest, because fetch() reports no upload progress. */
function uploadFile(file, meetingId, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', meetingsPath());
    xhr.setRequestHeader('Authorization', `Bearer ${session.key}`);
    xhr.responseType = 'json';
    xhr.upload.addEventListener('progress', (e) => {
      if (e.lengthComputable) onProgress(Math.round((e.loaded / e.total) * 100));
    });
    xhr.addEventListener('load', () => {
      if (xhr.status === 201) resolve(xhr.response);
      else reject(new ApiError(xhr.status, xhr.response?.error?.message ?? `${xhr.status} ${xhr.statusText}`, xhr.response?.error?.code));
    });
    xhr.addEventListener('error', () => reject(new ApiError(0, 'the upload was interrupted (network error)')));
    const form = new FormData();
    if (meetingId) form.append('meetingId', meetingId);
    form.append('file', file);
    xhr.send(form);
  });
}

$('upload-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const file = $('upload-file').files[0];
  const meetingId = $('upload-id').value.trim();
  const status = $('upload-status');
  if (!file) {
    status.textContent = 'Choose an audio file first.';
    return;
  }
  if (meetingId && !$('upload-id').checkValidity()) {
    status.textContent = 'Meeting id: 1-64 letters, digits, "-" or "_".';
    return;
  }
  const progress = $('upload-progress');
  progress.hidden = false;
  progress.value = 0;
  $('upload-button').disabled = true;
  status.textContent = `Uploading ${file.name}…`;
  try {
    const created = await uploadFile(file, meetingId, (percent) => {
      progress.value = percent;
      status.textContent = percent < 100 ? `Uploading ${file.name}: ${percent}%` : 'Checking the audio…';
    });
    progress.value = 100;
    status.textContent = `Uploaded ${created.meetingId} (${formatDuration(created.audio.durationSec)}). Start its transcription below.`;
    $('upload-form').reset();
    await refreshList();
    await openMeeting(created.meetingId);
  } catch (err) {
    status.textContent = `Upload failed: ${err.message}`;
  } finally {
    $('upload-button').disabled = false;
  }
});

// ---- one meeting ----

function closeMeeting() {
  if (!current) return;
  current.abort.abort();
  const player = $('player');
  player.pause();
  player.removeAttribute('src');
  player.load();
  if (current.audioUrl) URL.revokeObjectURL(current.audioUrl);
  current = null;
  $('meeting').hidden = true;
}

async function openMeeting(meetingId) {
  closeMeeting();
  current = { meetingId, abort: new AbortController(), status: null, segments: [], audioUrl: null, shown: -1 };
  for (const item of document.querySelectorAll('.meeting-item')) {
    if (item.dataset.meetingId === meetingId) item.setAttribute('aria-current', 'true');
    else item.removeAttribute('aria-current');
  }
  $('meeting').hidden = false;
  $('meeting-title').textContent = `Meeting ${meetingId}`;
  $('segments').replaceChildren();
  $('meeting-error').hidden = true;
  $('meeting-status').textContent = 'Loading…';
  $('meeting-progress').value = 0;
  showActions(null);
  $('meeting-title').scrollIntoView({ block: 'nearest' });
  const opened = current;
  void loadAudio(opened);
  void follow(opened);
}

/** The audio element cannot send the bearer header: fetch the file, then play it from a blob URL. */
async function loadAudio(opened) {
  const note = $('audio-status');
  note.textContent = 'Loading audio…';
  try {
    const res = await api(`${meetingPath(opened.meetingId)}/audio`, { signal: opened.abort.signal });
    const blob = await res.blob();
    if (opened !== current) return;
    opened.audioUrl = URL.createObjectURL(blob);
    $('player').src = opened.audioUrl;
    note.textContent = '';
  } catch (err) {
    if (opened === current && err.name !== 'AbortError') note.textContent = `No audio: ${err.message}`;
  }
}

function showActions(status) {
  $('start').hidden = !(status === 'pending' || status === 'canceled');
  $('start-options').hidden = $('start').hidden;
  $('retry').hidden = status !== 'failed';
  $('cancel').hidden = !LIVE.has(status);
  $('delete').hidden = status === null;
}

function showStatus(body) {
  if (!current) return;
  current.status = body.status;
  const chunks = body.chunks?.total ? ` · ${body.chunks.done}/${body.chunks.total} chunks` : '';
  $('meeting-status').textContent = `Status: ${body.status} · ${body.progress}%${chunks}`;
  $('meeting-progress').value = body.progress;
  const box = $('meeting-error');
  if (body.status === 'failed' && body.error) {
    box.hidden = false;
    box.textContent = `Failed${body.error.code ? ` (${body.error.code})` : ''}: ${body.error.errorMessage}`;
  } else {
    box.hidden = true;
  }
  showActions(body.status);
}

/**
 * Follows `.../events` until the meeting ends: `status`, then `segments`
 * as chunks are saved, then completed | failed | canceled | deleted.
 * A dropped stream is resumed with Last-Event-ID after a pause.
 */
async function follow(opened) {
  let lastId = null;
  let delayMs = 1000;
  for (;;) {
    let ended = false;
    try {
      const headers = lastId === null ? {} : { 'Last-Event-ID': lastId };
      const res = await api(`${meetingPath(opened.meetingId)}/events`, { headers, signal: opened.abort.signal });
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = '';
      delayMs = 1000;
      while (!ended) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value.replace(/\r\n?/g, '\n');
        let cut;
        while (!ended && (cut = buffer.indexOf('\n\n')) >= 0) {
          const event = parseEvent(buffer.slice(0, cut));
          buffer = buffer.slice(cut + 2);
          if (!event) continue;
          if (event.id !== undefined) lastId = event.id;
          ended = handleEvent(opened, event.name, JSON.parse(event.data));
        }
      }
      if (ended) await reader.cancel().catch(() => {});
    } catch (err) {
      if (opened.abort.signal.aborted) return;
      // 4xx (other than the stream cap) will not get better by asking again.
      if (err instanceof ApiError && err.status >= 400 && err.status < 500 && err.status !== 429) {
        $('meeting-status').textContent = `Cannot follow this meeting: ${err.message}`;
        return;
      }
    }
    if (ended || opened.abort.signal.aborted) return;
    await new Promise((resolve) => setTimeout(resolve, delayMs));
    delayMs = Math.min(delayMs * 2, 15000);
  }
}

function parseEvent(block) {
  const event = { name: 'message', data: '' };
  let hasData = false;
  for (const line of block.split('\n')) {
    if (line === '' || line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'event') event.name = value;
    else if (field === 'id') event.id = value;
    else if (field === 'data') {
      event.data += (hasData ? '\n' : '') + value;
      hasData = true;
    }
  }
  return hasData ? event : null;
}

/** Applies one event; true once the stream has ended. */
function handleEvent(opened, name, data) {
  if (opened !== current) return true;
  switch (name) {
    case 'status':
      showStatus(data);
      return false;
    case 'segments':
      addSegments(data.segments);
      return false;
    case 'completed':
      showStatus(data);
      void loadTranscript(opened);
      void refreshList();
      return true;
    case 'failed':
    case 'canceled':
      showStatus(data);
      void refreshList();
      return true;
    case 'deleted':
      $('meeting-status').textContent = 'This meeting was deleted.';
      showActions(null);
      void refreshList();
      return true;
    default:
      return false;
  }
}

/** Once completed, the JSON transcript replaces what the stream showed (it carries word timings when the worker made them). */
async function loadTranscript(opened) {
  try {
    const transcript = await (await api(`${meetingPath(opened.meetingId)}/transcript?format=json`, { signal: opened.abort.signal })).json();
    if (opened !== current) return;
    current.segments = [];
    current.shown = -1;
    $('segments').replaceChildren();
    addSegments(transcript.segments);
  } catch (err) {
    if (err.name !== 'AbortError' && opened === current) $('meeting-status').textContent += ` (transcript not loaded: ${err.message})`;
  }
}

function addSegments(segments) {
  const list = $('segments');
  for (const segment of segments) {
    const index = current.segments.length;
    current.segments.push(segment);
    const li = document.createElement('li');
    li.className = 'segment';
    li.dataset.index = String(index);
    const time = document.createElement('button');
    time.type = 'button';
    time.className = 'segment-time';
    time.textContent = formatTime(segment.start);
    time.setAttribute('aria-label', `Play from ${formatTime(segment.start)}`);
    time.dataset.start = String(segment.start);
    const text = document.createElement('span');
    text.className = 'segment-text';
    if (Array.isArray(segment.words) && segment.words.length > 0) {
      for (const word of segment.words) {
        const w = document.createElement('span');
        w.className = 'word';
        w.dataset.start = String(word.start);
        w.textContent = word.word ?? word.text ?? '';
        text.append(w);
      }
    } else {
      text.textContent = segment.text.trim();
    }
    if (segment.speaker) {
      const speaker = document.createElement('span');
      speaker.className = 'speaker';
      speaker.textContent = `${segment.speaker}: `;
      text.prepend(speaker);
    }
    li.append(time, text);
    list.append(li);
  }
}

function playFrom(seconds) {
  const player = $('player');
  if (!player.src) return;
  player.currentTime = seconds;
  void player.play().catch(() => {});
}

// One listener for every line: a word plays from the word, anything else in a line from the line's start.
$('segments').addEventListener('click', (event) => {
  const target = event.target.closest('.word, .segment-time, .segment');
  if (!target) return;
  const start = target.dataset.start ?? current?.segments[Number(target.dataset.index)]?.start;
  if (start !== undefined) playFrom(Number(start));
});

$('player').addEventListener('timeupdate', () => {
  if (!current) return;
  const t = $('player').currentTime;
  const index = current.segments.findIndex((s) => t >= s.start && t < s.end);
  if (index === current.shown) return;
  const list = $('segments');
  list.querySelector('.segment.current')?.removeAttribute('aria-current');
  list.querySelector('.segment.current')?.classList.remove('current');
  current.shown = index;
  if (index < 0) return;
  const li = list.querySelector(`.segment[data-index="${index}"]`);
  li?.classList.add('current');
  li?.setAttribute('aria-current', 'true');
  li?.scrollIntoView({ block: 'nearest' });
});

async function act(path, verb, body) {
  if (!current) return;
  const opened = current;
  $('meeting-error').hidden = true;
  try {
    const init = body ? { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) } : { method: 'POST' };
    await api(`${meetingPath(opened.meetingId)}${path}`, init);
    await refreshList();
    // The stream that ended (failed, canceled) starts again for the new run.
    if (opened === current) await openMeeting(opened.meetingId);
  } catch (err) {
    if (opened !== current) return;
    $('meeting-error').hidden = false;
    $('meeting-error').textContent = `Could not ${verb}: ${err.message}`;
  }
}

/** The start body from the options the user set (nothing set: no body, the server's defaults). */
function startOptions() {
  const options = {};
  const language = $('opt-language').value.trim();
  if (language) options.language = language;
  if ($('opt-words').checked) options.wordTimestamps = true;
  if ($('opt-diarize').checked) options.diarize = true;
  return Object.keys(options).length > 0 ? options : undefined;
}

$('start').addEventListener('click', () => {
  if (!$('opt-language').checkValidity()) {
    $('meeting-error').hidden = false;
    $('meeting-error').textContent = 'Language: a 2- or 3-letter code such as "en", or empty to detect it.';
    return;
  }
  void act('/transcription/start', 'start', startOptions());
});
$('retry').addEventListener('click', () => void act('/transcription/retry', 'retry'));
$('cancel').addEventListener('click', () => void act('/transcription/cancel', 'cancel'));

$('delete').addEventListener('click', async () => {
  if (!current || !confirm(`Delete meeting ${current.meetingId}, its audio and its transcript?`)) return;
  const { meetingId } = current;
  try {
    await api(meetingPath(meetingId), { method: 'DELETE' });
    closeMeeting();
    await refreshList();
  } catch (err) {
    $('meeting-error').hidden = false;
    $('meeting-error').textContent = `Could not delete: ${err.message}`;
  }
});

for (const button of document.querySelectorAll('.downloads button')) {
  button.addEventListener('click', async () => {
    if (!current) return;
    const format = button.dataset.format;
    try {
      const res = await api(`${meetingPath(current.meetingId)}/transcript?format=${format}`);
      const url = URL.createObjectURL(await res.blob());
      const link = document.createElement('a');
      link.href = url;
      link.download = `${current.meetingId}.${FORMAT_EXTENSIONS[format]}`;
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
    } catch (err) {
      $('meeting-error').hidden = false;
      $('meeting-error').textContent = `Could not download: ${err.message}`;
    }
  });
}

showWorkspace();
