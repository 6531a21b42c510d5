/**
 * The bad-input sweep: malformed requests and files against a real API
 * process. Each gets the right 4xx with a stable error code, and nothing is
 * written to MongoDB or Redis (documents and keys counted before and after).
 */
import { readFileSync } from 'node:fs';
import { copyFile, mkdir, readdir, symlink, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BAD_INPUTS, JFK, silenceFlac } from '../helpers/fixtures.js';
import { registerMeeting } from '../helpers/meetings.js';
import { API_KEY, type Stack, startStack } from '../helpers/stack.js';

let stack: Stack;
const MAX_UPLOAD = 200_000;
/** A second key, for the rate-limit case, so the test key keeps its budget. */
const BURST_KEY = 'burst-key-0123456789';
/** Room for every request the test key makes here (about 90), at a rate slow enough to reach the limit on purpose. */
const RATE_LIMIT_BURST = 150;
const SLOW_CLIENT_TIMEOUT_MS = 1000;
/** Stored keys made in beforeAll: one of project p, one of project p that is revoked. */
const keys = { project: '', revoked: '', projectKeyId: '' };

beforeAll(async () => {
  stack = await startStack({
    env: {
      API_KEYS: `${API_KEY},${BURST_KEY}`,
      MAX_UPLOAD_BYTES: String(MAX_UPLOAD),
      MAX_JSON_BYTES: '4096',
      MAX_AUDIO_DURATION_SEC: '3600',
      RATE_LIMIT_PER_MINUTE: '60',
      RATE_LIMIT_BURST: String(RATE_LIMIT_BURST),
      HTTP_HEADERS_TIMEOUT_MS: String(SLOW_CLIENT_TIMEOUT_MS),
      UPLOAD_IDLE_TIMEOUT_MS: String(SLOW_CLIENT_TIMEOUT_MS),
    },
  });
  await stack.startApi();
  // A known meeting, so that "wrong project" and "known id" cases have something to miss.
  await registerMeeting(stack, 'p', 'known', JFK);
  await copyFile(JFK, join(stack.audioRoot, 'real.wav'));
  await writeFile(join(stack.audioRoot, 'list.m3u8'), '#EXTM3U\n#EXTINF:11,\nreal.wav\n');
  await writeFile(join(stack.audioRoot, 'list.ffconcat'), "ffconcat version 1.0\nfile 'real.wav'\n");
  const outside = join(tmpdir(), `meno-outside-${process.pid}`);
  await mkdir(outside, { recursive: true });
  await copyFile(JFK, join(outside, 'secret.wav'));
  await symlink(join(outside, 'secret.wav'), join(stack.audioRoot, 'escape.wav')).catch(() => {});
  await mkdir(join(stack.audioRoot, 'folder'), { recursive: true });
  // 3 h of silence in about 2 MB of FLAC: a duration bomb against MAX_AUDIO_DURATION_SEC=3600.
  await copyFile(silenceFlac(3 * 3600), join(stack.audioRoot, 'bomb.flac'));
  // A meeting and a job in another project, for the project key to be refused.
  await registerMeeting(stack, 'q', 'theirs', JFK);
  expect((await stack.api('/api/projects/q/meetings/theirs/transcription/start', { method: 'POST' })).status).toBe(202);
  const createKey = async (name: string) =>
    (await (await stack.api('/api/admin/keys', json({ projectId: 'p', name }))).json()) as { key: string; keyId: string };
  const project = await createKey('sweep');
  const revoked = await createKey('sweep-revoked');
  expect((await stack.api(`/api/admin/keys/${revoked.keyId}`, { method: 'DELETE' })).status).toBe(200);
  Object.assign(keys, { project: project.key, revoked: revoked.key, projectKeyId: project.keyId });
}, 60_000);
afterAll(async () => {
  await stack?.dispose();
});

const json = (body: unknown) => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

function upload(file: string | Buffer, name = 'audio.wav'): RequestInit {
  const form = new FormData();
  const bytes = typeof file === 'string' ? readFileSync(file) : file;
  form.append('file', new Blob([bytes]), name);
  return { method: 'POST', body: form };
}

/** An OpenAI-endpoint upload with these form fields first (a file that is never read: the fields are refused first). */
function openAiUpload(fields: Record<string, string>): RequestInit {
  const form = new FormData();
  for (const [name, value] of Object.entries(fields)) form.append(name, value);
  form.append('file', new Blob([Buffer.alloc(1000)]), 'audio.wav');
  return { method: 'POST', body: form };
}

interface Case {
  name: string;
  path: string;
  init?: RequestInit;
  /** Replaces the test key: null sends no Authorization header; a function is read when the case runs (keys made in beforeAll). */
  auth?: string | null | (() => string);
  status: number;
  code: string;
}

const M = '/api/projects/p/meetings';
const W = '/api/projects/p/webhooks';
const GHOST_ENDPOINT = 'whep_000000000000000000000000';
const cases: Case[] = [
  { name: 'malformed JSON', path: M, init: { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"audioUri": ' }, status: 400, code: 'VALIDATION_FAILED' },
  { name: 'JSON array instead of object', path: M, init: json(['real.wav']), status: 400, code: 'VALIDATION_FAILED' },
  { name: 'audioUri of the wrong type', path: M, init: json({ audioUri: 42 }), status: 400, code: 'VALIDATION_FAILED' },
  { name: 'unknown field', path: M, init: json({ audioUri: 'real.wav', admin: true }), status: 400, code: 'VALIDATION_FAILED' },
  { name: 'meetingId with bad characters', path: M, init: json({ audioUri: 'real.wav', meetingId: 'a:b/c' }), status: 400, code: 'VALIDATION_FAILED' },
  { name: 'JSON body over the limit', path: M, init: json({ audioUri: 'x'.repeat(5000) }), status: 413, code: 'PAYLOAD_TOO_LARGE' },
  { name: 'wrong content type', path: M, init: { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'real.wav' }, status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' },
  { name: 'no content type', path: M, init: { method: 'POST', body: new Uint8Array([1, 2, 3]) }, status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' },
  { name: 'upload of an empty wav', path: M, init: upload(join(BAD_INPUTS, 'empty.wav')), status: 400, code: 'BAD_AUDIO' },
  { name: 'upload of a truncated-header wav', path: M, init: upload(join(BAD_INPUTS, 'corrupt_truncated_header.wav')), status: 400, code: 'BAD_AUDIO' },
  { name: 'upload of text renamed .wav', path: M, init: upload(join(BAD_INPUTS, 'not_audio.wav')), status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' },
  { name: 'upload of a truncated-data wav', path: M, init: upload(join(BAD_INPUTS, 'truncated_data.wav')), status: 400, code: 'BAD_AUDIO' },
  { name: 'upload of a playlist', path: M, init: upload(Buffer.from('#EXTM3U\nreal.wav\n'), 'a.m3u8'), status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' },
  { name: '.. traversal', path: M, init: json({ audioUri: '../../etc/passwd' }), status: 400, code: 'VALIDATION_FAILED' },
  { name: 'absolute path outside the root', path: M, init: json({ audioUri: '/etc/passwd' }), status: 400, code: 'VALIDATION_FAILED' },
  { name: 'symlink escaping the root', path: M, init: json({ audioUri: 'escape.wav' }), status: 400, code: 'VALIDATION_FAILED' },
  { name: 'http URL', path: M, init: json({ audioUri: 'http://127.0.0.1:1/a.wav' }), status: 400, code: 'VALIDATION_FAILED' },
  { name: 'concat protocol', path: M, init: json({ audioUri: 'concat:real.wav|real.wav' }), status: 400, code: 'VALIDATION_FAILED' },
  { name: 'm3u8 playlist under the root', path: M, init: json({ audioUri: 'list.m3u8' }), status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' },
  { name: 'ffconcat file under the root', path: M, init: json({ audioUri: 'list.ffconcat' }), status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' },
  { name: 'a folder', path: M, init: json({ audioUri: 'folder' }), status: 400, code: 'VALIDATION_FAILED' },
  { name: 'a missing file', path: M, init: json({ audioUri: 'nope.wav' }), status: 400, code: 'VALIDATION_FAILED' },
  { name: 'existing meeting id', path: M, init: json({ audioUri: 'real.wav', meetingId: 'known' }), status: 409, code: 'CONFLICT' },
  { name: 'start of an unknown meeting', path: `${M}/ghost/transcription/start`, init: { method: 'POST' }, status: 404, code: 'NOT_FOUND' },
  { name: 'start in another project', path: '/api/projects/q/meetings/known/transcription/start', init: { method: 'POST' }, status: 404, code: 'NOT_FOUND' },
  { name: 'status in another project', path: '/api/projects/q/meetings/known/transcription', status: 404, code: 'NOT_FOUND' },
  { name: 'retry of a meeting that is not failed', path: `${M}/known/transcription/retry`, init: { method: 'POST' }, status: 409, code: 'CONFLICT' },
  { name: 'start with a bad language type', path: `${M}/known/transcription/start`, init: json({ language: 7 }), status: 400, code: 'VALIDATION_FAILED' },
  { name: 'cancel of a meeting never started', path: `${M}/known/transcription/cancel`, init: { method: 'POST' }, status: 409, code: 'CONFLICT' },
  { name: 'cancel of an unknown meeting', path: `${M}/ghost/transcription/cancel`, init: { method: 'POST' }, status: 404, code: 'NOT_FOUND' },
  { name: 'cancel in another project', path: '/api/projects/q/meetings/known/transcription/cancel', init: { method: 'POST' }, status: 404, code: 'NOT_FOUND' },
  { name: 'delete with a bad meeting id', path: `${M}/a:b`, init: { method: 'DELETE' }, status: 400, code: 'VALIDATION_FAILED' },
  { name: 'delete of an unknown meeting', path: `${M}/ghost`, init: { method: 'DELETE' }, status: 404, code: 'NOT_FOUND' },
  { name: 'delete in another project', path: '/api/projects/q/meetings/known', init: { method: 'DELETE' }, status: 404, code: 'NOT_FOUND' },
  { name: 'start with a language Whisper does not know', path: `${M}/known/transcription/start`, init: json({ language: 'xx' }), status: 400, code: 'VALIDATION_FAILED' },
  { name: 'start with an unknown task', path: `${M}/known/transcription/start`, init: json({ task: 'summarize' }), status: 400, code: 'VALIDATION_FAILED' },
  { name: 'start with an oversize prompt', path: `${M}/known/transcription/start`, init: json({ prompt: 'x'.repeat(1001) }), status: 400, code: 'VALIDATION_FAILED' },
  { name: 'start with diarize that is not a boolean', path: `${M}/known/transcription/start`, init: json({ diarize: 'yes' }), status: 400, code: 'VALIDATION_FAILED' },
  { name: 'start with numSpeakers 0', path: `${M}/known/transcription/start`, init: json({ numSpeakers: 0 }), status: 400, code: 'VALIDATION_FAILED' },
  { name: 'start with a fractional numSpeakers', path: `${M}/known/transcription/start`, init: json({ numSpeakers: 2.5 }), status: 400, code: 'VALIDATION_FAILED' },
  { name: 'start with maxSpeakers over 50', path: `${M}/known/transcription/start`, init: json({ maxSpeakers: 51 }), status: 400, code: 'VALIDATION_FAILED' },
  { name: 'start with minSpeakers above maxSpeakers', path: `${M}/known/transcription/start`, init: json({ minSpeakers: 4, maxSpeakers: 2 }), status: 400, code: 'VALIDATION_FAILED' },
  { name: 'start with numSpeakers and minSpeakers', path: `${M}/known/transcription/start`, init: json({ numSpeakers: 3, minSpeakers: 2 }), status: 400, code: 'VALIDATION_FAILED' },
  { name: 'start with numSpeakers and diarize false', path: `${M}/known/transcription/start`, init: json({ diarize: false, numSpeakers: 2 }), status: 400, code: 'VALIDATION_FAILED' },
  { name: 'RTTM of a meeting never diarized', path: `${M}/known/transcript?format=rttm`, status: 409, code: 'CONFLICT' },
  { name: 'start with wordTimestamps that is not a boolean', path: `${M}/known/transcription/start`, init: json({ wordTimestamps: 'yes' }), status: 400, code: 'VALIDATION_FAILED' },
  { name: 'transcript cues of an unknown granularity', path: `${M}/known/transcript?format=srt&granularity=letter`, status: 400, code: 'VALIDATION_FAILED' },
  { name: 'word cues of a transcript started without word timestamps', path: `${M}/known/transcript?format=vtt&granularity=word`, status: 400, code: 'VALIDATION_FAILED' },
  { name: 'OpenAI word timestamps without verbose_json', path: '/v1/audio/transcriptions', init: openAiUpload({ model: 'whisper-1', 'timestamp_granularities[]': 'word' }), status: 400, code: 'validation_failed' },
  { name: 'duration bomb by URI (3 h declared, limit 1 h)', path: M, init: json({ audioUri: 'bomb.flac' }), status: 413, code: 'PAYLOAD_TOO_LARGE' },
  { name: 'OpenAI endpoint without a model field', path: '/v1/audio/transcriptions', init: upload(Buffer.alloc(1000)), status: 400, code: 'validation_failed' },
  { name: 'transcript in an unknown format', path: `${M}/known/transcript?format=docx`, status: 400, code: 'VALIDATION_FAILED' },
  { name: 'unknown job id', path: '/api/jobs/transcription-ghost', status: 404, code: 'NOT_FOUND' },
  { name: 'job id with a ":"', path: '/api/jobs/transcription-p:known', status: 400, code: 'VALIDATION_FAILED' },
  { name: 'audio of an unknown meeting', path: `${M}/ghost/audio`, status: 404, code: 'NOT_FOUND' },
  { name: 'audio in another project', path: '/api/projects/q/meetings/known/audio', status: 404, code: 'NOT_FOUND' },
  { name: 'audio with a bad meeting id', path: `${M}/a:b/audio`, status: 400, code: 'VALIDATION_FAILED' },
  { name: 'audio without an API key', path: `${M}/known/audio`, auth: null, status: 401, code: 'UNAUTHORIZED' },
  { name: 'project key reading another project\'s audio', path: '/api/projects/q/meetings/theirs/audio', auth: () => `Bearer ${keys.project}`, status: 403, code: 'FORBIDDEN' },
  { name: 'admin session opened with a project key', path: '/admin/session', init: { method: 'POST' }, auth: () => `Bearer ${keys.project}`, status: 403, code: 'FORBIDDEN' },
  { name: 'admin session opened without a key', path: '/admin/session', init: { method: 'POST' }, auth: null, status: 401, code: 'UNAUTHORIZED' },
  { name: 'queue board without an admin session', path: '/admin/queues/api/queues', status: 401, code: 'UNAUTHORIZED' },
  { name: 'queue board with a forged session cookie', path: '/admin/queues/api/queues', init: { headers: { cookie: `meno_admin=${'A'.repeat(43)}` } }, status: 401, code: 'UNAUTHORIZED' },
  { name: 'queue board action without an admin session', path: '/admin/queues/api/queues/transcription-queue/retry/failed', init: { method: 'PUT' }, status: 401, code: 'UNAUTHORIZED' },
  { name: 'worker list with a project key', path: '/api/admin/workers', auth: () => `Bearer ${keys.project}`, status: 403, code: 'FORBIDDEN' },
  { name: 'webhook URL with an ftp scheme', path: W, init: json({ url: 'ftp://example.com/hook', events: ['transcription.completed'] }), status: 400, code: 'VALIDATION_FAILED' },
  { name: 'webhook URL on loopback', path: W, init: json({ url: 'http://127.0.0.1:9/hook', events: ['transcription.completed'] }), status: 400, code: 'VALIDATION_FAILED' },
  { name: 'webhook URL on IPv6 loopback', path: W, init: json({ url: 'http://[::1]:9/hook', events: ['transcription.completed'] }), status: 400, code: 'VALIDATION_FAILED' },
  { name: 'webhook URL naming localhost', path: W, init: json({ url: 'http://localhost:9/hook', events: ['transcription.completed'] }), status: 400, code: 'VALIDATION_FAILED' },
  { name: 'webhook URL at the cloud metadata address', path: W, init: json({ url: 'http://169.254.169.254/latest/meta-data/', events: ['transcription.completed'] }), status: 400, code: 'VALIDATION_FAILED' },
  { name: 'webhook URL at the IPv6 metadata address', path: W, init: json({ url: 'http://[fd00:ec2::254]/', events: ['transcription.completed'] }), status: 400, code: 'VALIDATION_FAILED' },
  { name: 'webhook URL at an IPv4-mapped loopback', path: W, init: json({ url: 'http://[::ffff:127.0.0.1]/', events: ['transcription.completed'] }), status: 400, code: 'VALIDATION_FAILED' },
  { name: 'webhook URL at 0.0.0.0', path: W, init: json({ url: 'http://0.0.0.0:9/', events: ['transcription.completed'] }), status: 400, code: 'VALIDATION_FAILED' },
  { name: 'webhook URL with credentials', path: W, init: json({ url: 'https://user:pw@example.com/hook', events: ['transcription.completed'] }), status: 400, code: 'VALIDATION_FAILED' },
  { name: 'webhook URL that is not a URL', path: W, init: json({ url: 'example.com/hook', events: ['transcription.completed'] }), status: 400, code: 'VALIDATION_FAILED' },
  { name: 'webhook URL over 2048 characters', path: W, init: json({ url: `https://example.com/${'a'.repeat(2100)}`, events: ['transcription.completed'] }), status: 400, code: 'VALIDATION_FAILED' },
  { name: 'webhook with an unknown event type', path: W, init: json({ url: 'https://example.com/hook', events: ['meeting.exploded'] }), status: 400, code: 'VALIDATION_FAILED' },
  { name: 'webhook with no events', path: W, init: json({ url: 'https://example.com/hook', events: [] }), status: 400, code: 'VALIDATION_FAILED' },
  { name: 'webhook with an unknown field', path: W, init: json({ url: 'https://example.com/hook', events: ['transcription.completed'], secret: 'mine' }), status: 400, code: 'VALIDATION_FAILED' },
  { name: 'webhook body that is not JSON', path: W, init: { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'https://example.com/hook' }, status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' },
  { name: 'webhook body of malformed JSON', path: W, init: { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"url": ' }, status: 400, code: 'VALIDATION_FAILED' },
  { name: 'webhook endpoint id with bad characters', path: `${W}/whep_zz`, status: 400, code: 'VALIDATION_FAILED' },
  { name: 'unknown webhook endpoint', path: `${W}/${GHOST_ENDPOINT}`, status: 404, code: 'NOT_FOUND' },
  { name: 'change of an unknown webhook endpoint', path: `${W}/${GHOST_ENDPOINT}`, init: { ...json({ enabled: false }), method: 'PATCH' }, status: 404, code: 'NOT_FOUND' },
  { name: 'change of a webhook endpoint with no fields', path: `${W}/${GHOST_ENDPOINT}`, init: { ...json({}), method: 'PATCH' }, status: 400, code: 'VALIDATION_FAILED' },
  { name: 'delete of an unknown webhook endpoint', path: `${W}/${GHOST_ENDPOINT}`, init: { method: 'DELETE' }, status: 404, code: 'NOT_FOUND' },
  { name: 'deliveries of an unknown webhook endpoint', path: `${W}/${GHOST_ENDPOINT}/deliveries`, status: 404, code: 'NOT_FOUND' },
  { name: 'deliveries with limit 0', path: `${W}/callback/deliveries?limit=0`, status: 400, code: 'VALIDATION_FAILED' },
  { name: 'redelivery of an unknown delivery', path: `${W}/callback/deliveries/dlv_000000000000000000000000/redeliver`, init: { method: 'POST' }, status: 404, code: 'NOT_FOUND' },
  { name: 'redelivery with a malformed delivery id', path: `${W}/callback/deliveries/nope/redeliver`, init: { method: 'POST' }, status: 400, code: 'VALIDATION_FAILED' },
  { name: 'secret rotation of an unknown webhook endpoint', path: `${W}/${GHOST_ENDPOINT}/rotate-secret`, init: { method: 'POST' }, status: 404, code: 'NOT_FOUND' },
  { name: 'secret rotation of the callback pseudo-endpoint', path: `${W}/callback/rotate-secret`, init: { method: 'POST' }, status: 404, code: 'NOT_FOUND' },
  { name: 'start with a callbackUrl on loopback', path: `${M}/known/transcription/start`, init: json({ callbackUrl: 'http://127.0.0.1:9/cb' }), status: 400, code: 'VALIDATION_FAILED' },
  { name: 'start with a callbackUrl at the metadata address', path: `${M}/known/transcription/start`, init: json({ callbackUrl: 'http://169.254.169.254/' }), status: 400, code: 'VALIDATION_FAILED' },
  { name: 'start with a file: callbackUrl', path: `${M}/known/transcription/start`, init: json({ callbackUrl: 'file:///etc/passwd' }), status: 400, code: 'VALIDATION_FAILED' },
  { name: 'start with a callbackUrl of the wrong type', path: `${M}/known/transcription/start`, init: json({ callbackUrl: ['https://example.com'] }), status: 400, code: 'VALIDATION_FAILED' },
  { name: 'no API key', path: M, init: json({ audioUri: 'real.wav' }), auth: null, status: 401, code: 'UNAUTHORIZED' },
  { name: 'wrong API key', path: M, init: json({ audioUri: 'real.wav' }), auth: 'Bearer not-the-key', status: 401, code: 'UNAUTHORIZED' },
  { name: 'key without Bearer', path: M, init: json({ audioUri: 'real.wav' }), auth: API_KEY, status: 401, code: 'UNAUTHORIZED' },
  { name: 'revoked key', path: M, init: json({ audioUri: 'real.wav' }), auth: () => `Bearer ${keys.revoked}`, status: 401, code: 'UNAUTHORIZED' },
  { name: 'made-up key in the stored-key format', path: M, init: json({ audioUri: 'real.wav' }), auth: `Bearer meno_${'A'.repeat(43)}`, status: 401, code: 'UNAUTHORIZED' },
  { name: 'project key registering in another project', path: '/api/projects/q/meetings', init: json({ audioUri: 'real.wav' }), auth: () => `Bearer ${keys.project}`, status: 403, code: 'FORBIDDEN' },
  { name: 'project key starting another project\'s meeting', path: '/api/projects/q/meetings/theirs/transcription/start', init: { method: 'POST' }, auth: () => `Bearer ${keys.project}`, status: 403, code: 'FORBIDDEN' },
  { name: 'project key reading another project\'s job', path: '/api/jobs/transcription-q.theirs', auth: () => `Bearer ${keys.project}`, status: 404, code: 'NOT_FOUND' },
  { name: 'project key on queue metrics', path: '/api/queues/metrics', auth: () => `Bearer ${keys.project}`, status: 403, code: 'FORBIDDEN' },
  { name: 'project key on /metrics', path: '/metrics', auth: () => `Bearer ${keys.project}`, status: 403, code: 'FORBIDDEN' },
  { name: 'project key creating a key', path: '/api/admin/keys', init: json({ projectId: 'p', name: 'mine' }), auth: () => `Bearer ${keys.project}`, status: 403, code: 'FORBIDDEN' },
  { name: 'project key revoking its own key', path: '/api/admin/keys/0123456789abcdef', init: { method: 'DELETE' }, auth: () => `Bearer ${keys.project}`, status: 403, code: 'FORBIDDEN' },
  { name: 'key creation without projectId', path: '/api/admin/keys', init: json({ name: 'ci' }), status: 400, code: 'VALIDATION_FAILED' },
  { name: 'key creation with a bad projectId', path: '/api/admin/keys', init: json({ projectId: '../x', name: 'ci' }), status: 400, code: 'VALIDATION_FAILED' },
  { name: 'key creation with an empty name', path: '/api/admin/keys', init: json({ projectId: 'p', name: '  ' }), status: 400, code: 'VALIDATION_FAILED' },
  { name: 'key creation with an unknown field', path: '/api/admin/keys', init: json({ projectId: 'p', name: 'ci', admin: true }), status: 400, code: 'VALIDATION_FAILED' },
  { name: 'key creation as text/plain', path: '/api/admin/keys', init: { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'x' }, status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' },
  { name: 'revoke of an unknown key id', path: '/api/admin/keys/0123456789abcdef', init: { method: 'DELETE' }, status: 404, code: 'NOT_FOUND' },
  { name: 'revoke of a malformed key id', path: '/api/admin/keys/not-a-key', init: { method: 'DELETE' }, status: 400, code: 'VALIDATION_FAILED' },
  { name: 'key list with an unknown filter', path: '/api/admin/keys?owner=me', status: 400, code: 'VALIDATION_FAILED' },
];

async function snapshot(): Promise<{ docs: Record<string, number>; keys: number }> {
  const docs: Record<string, number> = {};
  for (const { name } of await stack.db.listCollections().toArray()) docs[name] = await stack.db.collection(name).countDocuments();
  // BullMQ's stalled-job checker (the API's webhook worker runs one) sets and expires its marker key by itself.
  const keys = (await stack.redisClient.keys('*')).filter((k) => !k.endsWith(':stalled-check')).length;
  return { docs, keys };
}

describe('bad input sweep', () => {
  it('has at least 25 table cases (plus the oversize upload and huge headers below)', () => {
    expect(cases.length).toBeGreaterThanOrEqual(25);
  });

  it.each(cases)('$name → $status $code, nothing written', async ({ path, init, auth, status, code }) => {
    const before = await snapshot();
    const headers = new Headers(init?.headers);
    if (auth === null) headers.set('authorization', '');
    else if (auth !== undefined) headers.set('authorization', typeof auth === 'function' ? auth() : auth);
    const res = await stack.api(path, { ...init, headers });
    const body = (await res.json()) as { error?: { code: string; message: string } };
    expect({ status: res.status, code: body.error?.code }).toEqual({ status, code });
    expect(body.error?.message).toMatch(/\w/);
    expect(JSON.stringify(body)).not.toMatch(/ at .*\.ts:\d+|stack/i);
    expect(await snapshot()).toEqual(before);
  });

  it('changing a webhook endpoint to a refused URL → 400 VALIDATION_FAILED, the endpoint and everything else unchanged', async () => {
    const created = await stack.api(W, json({ url: 'https://hooks.example.com/meno', events: ['transcription.completed'] }));
    expect(created.status).toBe(201);
    const { endpointId } = (await created.json()) as { endpointId: string };
    const before = await snapshot();
    for (const url of ['http://127.0.0.1:9/', 'http://169.254.169.254/', 'gopher://example.com/', 'https://a:b@example.com/']) {
      const res = await stack.api(`${W}/${endpointId}`, { ...json({ url }), method: 'PATCH' });
      expect(res.status, url).toBe(400);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('VALIDATION_FAILED');
    }
    expect(await snapshot()).toEqual(before);
    expect(((await (await stack.api(`${W}/${endpointId}`)).json()) as { url: string }).url).toBe('https://hooks.example.com/meno');
  });

  it('an upload over MAX_UPLOAD_BYTES → 413 PAYLOAD_TOO_LARGE, nothing written', async () => {
    const before = await snapshot();
    // The server answers 413 and closes while the client may still be sending: read the
    // answer with node:http, which reports the response even when the rest of the write fails.
    const boundary = 'sweep-boundary';
    const head = Buffer.from(`--${boundary}\r\ncontent-disposition: form-data; name="file"; filename="big.wav"\r\ncontent-type: audio/wav\r\n\r\n`);
    const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
    const body = Buffer.concat([head, Buffer.alloc(MAX_UPLOAD + 100_000, 1), tail]);
    const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = request(`${stack.apiUrl()}${M}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${API_KEY}`, 'content-type': `multipart/form-data; boundary=${boundary}`, 'content-length': body.length },
      });
      req.on('response', (res) => {
        let data = '';
        res.on('data', (c: Buffer) => (data += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: data }));
      });
      req.on('error', (err: NodeJS.ErrnoException) => {
        if (err.code !== 'EPIPE' && err.code !== 'ECONNRESET') reject(err);
      });
      req.end(body);
    });
    expect(status).toBe(413);
    expect((JSON.parse(text) as { error: { code: string } }).error.code).toBe('PAYLOAD_TOO_LARGE');
    expect(await snapshot()).toEqual(before);
  });

  it('huge request headers are refused by the server, and nothing is written', async () => {
    const before = await snapshot();
    const res = await stack.api(M, { ...json({ audioUri: 'real.wav' }), headers: { 'content-type': 'application/json', 'x-filler': 'a'.repeat(64 * 1024) } }).catch((err: unknown) => err);
    // Node's HTTP parser answers 431 (or drops the connection) before any handler runs.
    if (res instanceof Response) expect(res.status).toBe(431);
    else expect(res).toBeInstanceOf(Error);
    expect(await snapshot()).toEqual(before);
  });

  it('a burst over the key\'s rate limit → 429 RATE_LIMITED with Retry-After, nothing written', async () => {
    const before = await snapshot();
    let granted = 0;
    let refused: Response | undefined;
    // The bucket refills at 1 per second while the burst runs: send until refused.
    while (!refused && granted < RATE_LIMIT_BURST + 100) {
      const res = await stack.api('/api/openapi.json', { headers: { authorization: `Bearer ${BURST_KEY}` } });
      if (res.status === 429) refused = res;
      else {
        expect(res.status).toBe(200);
        await res.arrayBuffer();
        granted++;
      }
    }
    expect(granted).toBeGreaterThanOrEqual(RATE_LIMIT_BURST);
    expect(Number(refused?.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(((await refused?.json()) as { error: { code: string } }).error.code).toBe('RATE_LIMITED');
    const upload = await stack.api(M, { ...json({ audioUri: 'real.wav' }), headers: { 'content-type': 'application/json', authorization: `Bearer ${BURST_KEY}` } });
    expect(upload.status).toBe(429);
    expect(await snapshot()).toEqual(before);
  });

  it('a client stalled in its request headers is disconnected (408) within HTTP_HEADERS_TIMEOUT_MS, nothing written', async () => {
    const before = await snapshot();
    const socket = connect(Number(new URL(stack.apiUrl()).port), '127.0.0.1');
    let received = '';
    socket.on('data', (d: Buffer) => (received += d.toString()));
    socket.on('error', () => {});
    const started = performance.now();
    socket.write(`POST ${M} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${API_KEY}\r\nContent-Ty`);
    await new Promise((resolve) => socket.on('close', resolve));
    expect(performance.now() - started).toBeLessThan(SLOW_CLIENT_TIMEOUT_MS + 5000);
    expect(received).toMatch(/^HTTP\/1\.1 408/);
    expect(await snapshot()).toEqual(before);
  });

  it('an upload that stalls mid-body is disconnected within UPLOAD_IDLE_TIMEOUT_MS, its partial file removed, nothing written', async () => {
    const before = await snapshot();
    const staging = join(stack.env.STORAGE_DIR, '.incoming');
    const parts = async () => (await readdir(staging).catch(() => [] as string[])).filter((n) => n.endsWith('.part'));
    const boundary = 'stalled-boundary';
    const head = `--${boundary}\r\ncontent-disposition: form-data; name="file"; filename="a.wav"\r\ncontent-type: audio/wav\r\n\r\n`;
    const socket = connect(Number(new URL(stack.apiUrl()).port), '127.0.0.1');
    socket.on('error', () => {});
    const closed = new Promise((resolve) => socket.on('close', resolve));
    socket.write(
      `POST ${M} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${API_KEY}\r\n` +
        `Content-Type: multipart/form-data; boundary=${boundary}\r\nContent-Length: 150000\r\n\r\n${head}`,
    );
    socket.write(readFileSync(JFK).subarray(0, 8192));
    await waitUntil(async () => (await parts()).length === 1);
    const stalledAt = performance.now();
    expect((await stack.api('/api/queues/metrics')).status).toBe(200);
    await closed;
    expect(performance.now() - stalledAt).toBeLessThan(SLOW_CLIENT_TIMEOUT_MS + 5000);
    await waitUntil(async () => (await parts()).length === 0);
    expect(await snapshot()).toEqual(before);
  });
});

/** Polls `check` every 20 ms until it holds (10 s at most). */
async function waitUntil(check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met within 10 s');
    await new Promise((r) => setTimeout(r, 20));
  }
}
