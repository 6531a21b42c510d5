/**
 * The soak's load: short meetings (single clips from ../shared/audio) and a
 * few long ones (a cut of the long-form recording), registered by path
 * under AUDIO_ROOT and started through the HTTP API, spread over time.
 * Requests that fail because a server is away are retried, as a client would.
 */
import { copyFile, readdir } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { AUDIO_DIR, JFK, longformClip } from '../../test/helpers/fixtures.js';
import type { Stack } from '../../test/helpers/stack.js';
import { sleep } from './logs.js';
import type { Rng } from './prng.js';

export const PROJECT = 'soak';

export interface Submission {
  meetingId: string;
  kind: 'short' | 'long';
  /** Source file, relative to ../shared/audio. */
  clip: string;
  /** When the start request that was accepted was sent, ms since the epoch. */
  startRequestedAt?: number;
  /** The 202 body's state: 'queued', 'existing' or 'deferred'. */
  startState?: string;
  /** Failed register/start requests before success (a server was away). */
  retries: number;
  /** Set when the meeting could not be submitted at all. */
  error?: string;
}

/** Short clips: LibriSpeech, JFK, pocketsphinx test data and synthetic espeak. */
export async function shortClips(): Promise<string[]> {
  const out: string[] = [JFK];
  for (const [dir, ext] of [['librispeech/test-clean', '.flac'], ['librispeech/test-other', '.flac'], ['pocketsphinx_testdata', '.flac'], ['synthetic_espeak', '.wav']] as const) {
    const names = await readdir(join(AUDIO_DIR, dir)).catch(() => [] as string[]);
    out.push(...names.filter((n) => n.endsWith(ext)).sort().map((n) => join(AUDIO_DIR, dir, n)));
  }
  return out;
}

/** Meetings to submit, in order: long ones early (they take longest), shorts around them. */
export async function planSubmissions(rng: Rng, short: number, long: number, longSec: number): Promise<{ sub: Submission; file: string }[]> {
  const clips = await shortClips();
  const shorts = Array.from({ length: short }, (_, i) => {
    const file = rng.pick(clips);
    return { sub: { meetingId: `short-${String(i + 1).padStart(3, '0')}`, kind: 'short' as const, clip: file.slice(AUDIO_DIR.length), retries: 0 }, file };
  });
  const longFile = long > 0 ? longformClip(longSec) : '';
  const longs = Array.from({ length: long }, (_, i) => ({
    sub: { meetingId: `long-${i + 1}`, kind: 'long' as const, clip: `longform/dev_longform.flac (first ${longSec} s)`, retries: 0 },
    file: longFile,
  }));
  const total = short + long;
  const order: { sub: Submission; file: string }[] = [...shorts];
  // Long meeting j goes at position j·total/(2·long): all within the first half of the submissions.
  longs.forEach((l, j) => order.splice(Math.min(order.length, Math.floor((j * total) / (2 * long)) + j), 0, l));
  return order;
}

export interface SubmitOptions {
  stack: Stack;
  items: { sub: Submission; file: string }[];
  /** Submissions are spread evenly over this long, ms. */
  spreadMs: number;
  /** Give up retrying a request after this time, ms since the epoch. */
  deadline: number;
  signal: AbortSignal;
  log: (text: string) => void;
}

/** Registers and starts every meeting through the API, spread over `spreadMs`. Resolves when all are submitted or given up. */
export async function submitAll(o: SubmitOptions): Promise<void> {
  const t0 = Date.now();
  const pending: Promise<void>[] = [];
  for (const [i, item] of o.items.entries()) {
    await sleep(t0 + (i * o.spreadMs) / Math.max(1, o.items.length) - Date.now(), o.signal);
    if (o.signal.aborted) {
      item.sub.error = 'aborted before submission';
      continue;
    }
    pending.push(submitOne(o, item.sub, item.file));
  }
  await Promise.all(pending);
}

async function submitOne(o: SubmitOptions, sub: Submission, file: string): Promise<void> {
  const name = `${sub.meetingId}${extname(file)}`;
  await copyFile(file, join(o.stack.audioRoot, name));
  const base = `/api/projects/${PROJECT}/meetings`;
  const registered = await request(o, sub, 'register', () =>
    o.stack.api(base, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ meetingId: sub.meetingId, audioUri: name }) }),
    // 409: an earlier try was stored but its answer was lost.
    [201, 409],
  );
  if (!registered) return;
  let sentAt = 0;
  const started = await request(o, sub, 'start', () => {
    sentAt = Date.now();
    return o.stack.api(`${base}/${sub.meetingId}/transcription/start`, { method: 'POST' });
  }, [202]);
  if (!started) return;
  sub.startRequestedAt = sentAt;
  sub.startState = String(((await started.json()) as { state?: unknown }).state);
}

/** Sends until one of `ok` comes back; retries network errors and 5xx with a 500 ms pause. Other answers are final errors. */
async function request(o: SubmitOptions, sub: Submission, what: string, send: () => Promise<Response>, ok: number[]): Promise<Response | undefined> {
  let last = '';
  while (Date.now() < o.deadline && !o.signal.aborted) {
    try {
      const res = await send();
      if (ok.includes(res.status)) return res;
      last = `${res.status} ${(await res.text()).slice(0, 200)}`;
      if (res.status < 500) break;
    } catch (err) {
      last = (err as Error).message;
    }
    sub.retries++;
    await sleep(500, o.signal);
  }
  sub.error = `${what} failed: ${last || 'deadline'}`;
  o.log(`${sub.meetingId}: ${sub.error}`);
  return undefined;
}
