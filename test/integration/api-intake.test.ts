/**
 * Bad input to the registration route: every refusal has a stable code and
 * leaves MongoDB, Redis and STORAGE_DIR exactly as they were.
 */
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sweepStaging } from '../../src/api/upload.js';
import { silenceFlac } from '../helpers/fixtures.js';
import { AUDIO, type ApiHarness, createHarness, JFK, listFiles, type Snapshot, uploadForm } from './api-harness.js';

const MAX_UPLOAD = 100_000;
let h: ApiHarness;
let outside: string;
let baseline: Snapshot;

async function json(res: Response): Promise<{ error: { code: string; message: string } }> {
  return (await res.json()) as { error: { code: string; message: string } };
}

function registerUri(audioUri: string): Promise<Response> {
  return h.request('/api/projects/p1/meetings', { method: 'POST', body: JSON.stringify({ audioUri }), headers: { 'Content-Type': 'application/json' } });
}

/** A request body that arrives in pieces with no Content-Length, as a chunked upload does. */
function chunkedMultipart(bytes: Uint8Array, boundary: string): ReadableStream<Uint8Array> {
  const head = new TextEncoder().encode(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.wav"\r\nContent-Type: audio/wav\r\n\r\n`);
  const tail = new TextEncoder().encode(`\r\n--${boundary}--\r\n`);
  const parts: Uint8Array[] = [head];
  for (let i = 0; i < bytes.length; i += 16_384) parts.push(bytes.subarray(i, i + 16_384));
  parts.push(tail);
  let i = 0;
  return new ReadableStream({
    pull(controller) {
      if (i < parts.length) controller.enqueue(parts[i++]);
      else controller.close();
    },
  });
}

beforeAll(async () => {
  h = await createHarness({ env: { MAX_UPLOAD_BYTES: String(MAX_UPLOAD) } });
  outside = await mkdtemp(join(tmpdir(), 'meno-outside-'));
  await copyFile(JFK, join(outside, 'secret.wav'));
  await copyFile(JFK, join(h.audioRoot, 'jfk.wav'));
  await symlink(join(outside, 'secret.wav'), join(h.audioRoot, 'escape.wav'));
  await symlink(outside, join(h.audioRoot, 'escape-dir'));
  await mkdir(join(h.audioRoot, 'folder.wav'));
  await writeFile(join(h.audioRoot, 'list.m3u8'), `#EXTM3U\n#EXTINF:11,\n${join(h.audioRoot, 'jfk.wav')}\n#EXTINF:11,\n${join(outside, 'secret.wav')}\n`);
  await writeFile(join(h.audioRoot, 'list.ffconcat'), `ffconcat version 1.0\nfile '${join(outside, 'secret.wav')}'\n`);
  for (const name of await readdir(join(AUDIO, 'bad_inputs'))) await copyFile(join(AUDIO, 'bad_inputs', name), join(h.audioRoot, name));
  baseline = await h.snapshot();
});

afterAll(async () => {
  await h?.close();
  await rm(outside, { recursive: true, force: true });
});

describe('bad audio', () => {
  const expected: Record<string, [number, string]> = {
    'corrupt_truncated_header.wav': [400, 'BAD_AUDIO'],
    'truncated_data.wav': [400, 'BAD_AUDIO'],
    'empty.wav': [400, 'BAD_AUDIO'],
    'not_audio.wav': [415, 'UNSUPPORTED_MEDIA_TYPE'],
  };

  it('covers every file in shared/audio/bad_inputs', async () => {
    expect((await readdir(join(AUDIO, 'bad_inputs'))).sort()).toEqual(Object.keys(expected).sort());
  });

  for (const [name, [status, code]] of Object.entries(expected)) {
    it(`${name}: uploaded or referenced → ${status} ${code}, nothing written`, async () => {
      const bytes = await readFile(join(AUDIO, 'bad_inputs', name));
      const uploaded = await h.request('/api/projects/p1/meetings', { method: 'POST', body: uploadForm(bytes, { meetingId: 'bad1' }, name) });
      expect({ status: uploaded.status, code: (await json(uploaded)).error.code }).toEqual({ status, code });
      const referenced = await registerUri(name);
      const body = await json(referenced);
      expect({ status: referenced.status, code: body.error.code }).toEqual({ status, code });
      expect(body.error.message).not.toContain(h.audioRoot);
      expect(await h.snapshot()).toEqual(baseline);
    });
  }
});

describe('upload limits', () => {
  it('answers 413 while streaming a chunked upload over MAX_UPLOAD_BYTES and removes the partial file', async () => {
    const big = new Uint8Array(MAX_UPLOAD * 3);
    big.set((await readFile(JFK)).subarray(0, big.length));
    const boundary = 'meno-test-boundary';
    const res = await h.request('/api/projects/p1/meetings', {
      method: 'POST',
      body: chunkedMultipart(big, boundary),
      headers: { 'Content-Type': `multipart/form-data; boundary=${boundary}` },
      duplex: 'half',
    } as RequestInit);
    expect(res.status).toBe(413);
    expect((await json(res)).error.code).toBe('PAYLOAD_TOO_LARGE');
    expect(await listFiles(h.storageDir)).toEqual([]);
    expect(await h.snapshot()).toEqual(baseline);
  });

  it('answers 413 from Content-Length alone, before reading the body', async () => {
    let pulled = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulled++;
        controller.enqueue(new Uint8Array(1024));
      },
    });
    const res = await h.request('/api/projects/p1/meetings', {
      method: 'POST',
      body,
      headers: { 'Content-Type': 'multipart/form-data; boundary=x', 'Content-Length': String(MAX_UPLOAD * 10) },
      duplex: 'half',
    } as RequestInit);
    expect(res.status).toBe(413);
    expect((await json(res)).error.code).toBe('PAYLOAD_TOO_LARGE');
    // The stream's first pull may be issued eagerly by the runtime; nothing beyond that is read.
    expect(pulled).toBeLessThanOrEqual(2);
    expect(await h.snapshot()).toEqual(baseline);
  });

  it('refuses a second file part', async () => {
    const bytes = await readFile(JFK);
    const form = uploadForm(bytes.subarray(0, 50_000));
    form.append('file', new Blob([bytes.subarray(0, 50_000)]), 'b.wav');
    const res = await h.request('/api/projects/p1/meetings', { method: 'POST', body: form });
    expect(res.status).toBe(400);
    expect((await json(res)).error.code).toBe('VALIDATION_FAILED');
    expect(await h.snapshot()).toEqual(baseline);
  });
});

describe('server-side URIs', () => {
  const cases: [string, () => string, number, string][] = [
    ['a ".." escape', () => '../outside.wav', 400, 'VALIDATION_FAILED'],
    ['a ".." escape in an absolute path', () => `${h.audioRoot}/../${outside.split('/').pop()}/secret.wav`, 400, 'VALIDATION_FAILED'],
    ['a file:// URI with ".."', () => `file://${h.audioRoot}/%2e%2e/x.wav`, 400, 'VALIDATION_FAILED'],
    ['an absolute path outside AUDIO_ROOT', () => join(outside, 'secret.wav'), 400, 'VALIDATION_FAILED'],
    ['a file:// URI outside AUDIO_ROOT', () => pathToFileURL(join(outside, 'secret.wav')).href, 400, 'VALIDATION_FAILED'],
    ['a symlink leading outside', () => 'escape.wav', 400, 'VALIDATION_FAILED'],
    ['a path through a symlinked folder', () => 'escape-dir/secret.wav', 400, 'VALIDATION_FAILED'],
    ['a file:// URI with a host', () => `file://evil.example${h.audioRoot}/jfk.wav`, 400, 'VALIDATION_FAILED'],
    ['an http URL', () => 'http://127.0.0.1/jfk.wav', 400, 'VALIDATION_FAILED'],
    ['an https URL', () => 'https://example.com/a.wav', 400, 'VALIDATION_FAILED'],
    ['a data: URI', () => 'data:audio/wav;base64,UklGRg==', 400, 'VALIDATION_FAILED'],
    ['an ffmpeg concat: protocol', () => `concat:${h.audioRoot}/jfk.wav|${outside}/secret.wav`, 400, 'VALIDATION_FAILED'],
    ['a missing file', () => 'nope.wav', 400, 'VALIDATION_FAILED'],
    ['a folder', () => 'folder.wav', 400, 'VALIDATION_FAILED'],
    ['AUDIO_ROOT itself', () => '.', 400, 'VALIDATION_FAILED'],
    ['a device', () => '/dev/zero', 400, 'VALIDATION_FAILED'],
    ['an HLS playlist', () => 'list.m3u8', 415, 'UNSUPPORTED_MEDIA_TYPE'],
    ['an ffconcat script', () => 'list.ffconcat', 415, 'UNSUPPORTED_MEDIA_TYPE'],
  ];
  for (const [what, uri, status, code] of cases) {
    it(`refuses ${what} with ${status} ${code}`, async () => {
      const res = await registerUri(uri());
      const body = await json(res);
      expect({ status: res.status, code: body.error.code }).toEqual({ status, code });
      expect(body.error.message).not.toContain(outside);
      expect(await h.snapshot()).toEqual(baseline);
    });
  }

  it('refuses every URI when AUDIO_ROOT is not set', async () => {
    const noRoot = await createHarness({ env: { AUDIO_ROOT: '' } });
    try {
      const res = await noRoot.request('/api/projects/p1/meetings', {
        method: 'POST',
        body: JSON.stringify({ audioUri: JFK }),
        headers: { 'Content-Type': 'application/json' },
      });
      expect(res.status).toBe(400);
      expect((await json(res)).error.message).toMatch(/AUDIO_ROOT/);
      expect((await noRoot.snapshot()).mongo.meetings).toBe(0);
    } finally {
      await noRoot.close();
    }
  });
});

describe('duration and disk limits', () => {
  it('answers 413 for audio that declares more than MAX_AUDIO_DURATION_SEC (a duration bomb), upload or URI, and stores nothing', async () => {
    const limited = await createHarness({ env: { MAX_AUDIO_DURATION_SEC: '3600' } });
    try {
      const bomb = silenceFlac(3 * 3600);
      expect((await stat(bomb)).size).toBeLessThan(3_000_000);
      await copyFile(bomb, join(limited.audioRoot, 'bomb.flac'));
      const before = await limited.snapshot();
      const uploaded = await limited.request('/api/projects/p1/meetings', { method: 'POST', body: uploadForm(await readFile(bomb), {}, 'bomb.flac') });
      const byUri = await limited.request('/api/projects/p1/meetings', {
        method: 'POST',
        body: JSON.stringify({ audioUri: 'bomb.flac' }),
        headers: { 'Content-Type': 'application/json' },
      });
      for (const res of [uploaded, byUri]) {
        expect(res.status).toBe(413);
        const body = await json(res);
        expect(body.error.code).toBe('PAYLOAD_TOO_LARGE');
        expect(body.error.message).toBe('the audio lasts 10800 s; this server accepts at most 3600 s (MAX_AUDIO_DURATION_SEC)');
      }
      expect(await limited.snapshot()).toEqual(before);
    } finally {
      await limited.close();
    }
  });

  it('answers 507 before reading an upload when STORAGE_DIR lacks the room (MIN_FREE_DISK_MB counts), and stores nothing', async () => {
    // A reserve larger than any disk: the real free space of STORAGE_DIR is checked against it.
    const full = await createHarness({ env: { MIN_FREE_DISK_MB: String(1024 ** 3) } });
    try {
      const before = await full.snapshot();
      const res = await full.request('/api/projects/p1/meetings', { method: 'POST', body: uploadForm(await readFile(JFK)) });
      expect(res.status).toBe(507);
      const body = await json(res);
      expect(body.error.code).toBe('INSUFFICIENT_STORAGE');
      expect(body.error.message).toBe('the server has no room for this upload right now; try again later');
      expect(await full.snapshot()).toEqual(before);
    } finally {
      await full.close();
    }
  });
});

describe('staging sweep', () => {
  it('removes only .part files older than the age limit', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'meno-staging-'));
    try {
      await writeFile(join(dir, 'old.part'), 'x');
      await writeFile(join(dir, 'young.part'), 'x');
      await writeFile(join(dir, 'other.txt'), 'x');
      const twoDaysAgo = new Date(Date.now() - 48 * 3600 * 1000);
      await utimes(join(dir, 'old.part'), twoDaysAgo, twoDaysAgo);
      await utimes(join(dir, 'other.txt'), twoDaysAgo, twoDaysAgo);
      expect(await sweepStaging(dir, 24 * 3600 * 1000)).toBe(1);
      expect((await readdir(dir)).sort()).toEqual(['other.txt', 'young.part']);
      expect(await sweepStaging(join(dir, 'missing'), 1)).toBe(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
