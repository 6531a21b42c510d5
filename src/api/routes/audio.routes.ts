import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { zValidator } from '@hono/zod-validator';
import { Hono } from 'hono';
import { NotFoundError } from '../../core/errors.js';
import type { MeetingAudio } from '../../core/meetings/meeting.repository.js';
import type { AppDeps } from '../app.js';
import type { AppEnv } from '../env.js';
import { meetingParams, validationHook } from '../validation.js';

type AudioDeps = Pick<AppDeps, 'meetings'>;

/** ffprobe's format names (the first of a comma list) → what a browser's audio element expects. */
const CONTENT_TYPES: Record<string, string> = {
  wav: 'audio/wav',
  mp3: 'audio/mpeg',
  flac: 'audio/flac',
  ogg: 'audio/ogg',
  matroska: 'audio/webm',
  webm: 'audio/webm',
  mov: 'audio/mp4',
  mp4: 'audio/mp4',
  m4a: 'audio/mp4',
  aac: 'audio/aac',
  aiff: 'audio/aiff',
  amr: 'audio/amr',
};

/** The content type for a probed file: its container's, or application/octet-stream for one a browser would not know. */
export function audioContentType(audio: Pick<MeetingAudio, 'formatName' | 'codec'>): string {
  const container = audio.formatName.split(',')[0].trim().toLowerCase();
  // Opus in an Ogg container plays as audio/ogg; in WebM (matroska,webm) as audio/webm.
  return CONTENT_TYPES[container] ?? 'application/octet-stream';
}

export type ByteRange = { start: number; end: number } | 'unsatisfiable' | null;

/**
 * One `Range: bytes=...` request against a file of `size` bytes: null to
 * send the whole file (no header, another unit, several ranges, or
 * nonsense, all of which RFC 9110 lets a server ignore), 'unsatisfiable'
 * for a range that starts past the end.
 */
export function parseRange(header: string | undefined, size: number): ByteRange {
  if (!header) return null;
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!match || (match[1] === '' && match[2] === '')) return null;
  if (match[1] === '') {
    // Suffix range: the last N bytes.
    const suffix = Number(match[2]);
    if (suffix === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(match[1]);
  const end = match[2] === '' ? size - 1 : Math.min(Number(match[2]), size - 1);
  if (match[2] !== '' && Number(match[2]) < start) return null;
  if (start >= size) return 'unsatisfiable';
  return { start, end };
}

/**
 * `GET .../meetings/:meetingId/audio`, mounted at
 * `/api/projects/:projectId/meetings/:meetingId`: the meeting's stored
 * audio as registered (not the worker's decoded PCM), with single byte
 * ranges so that an audio element can seek. 404 once retention removed it
 * or the file under AUDIO_ROOT is gone.
 */
export function audioRoutes(deps: AudioDeps) {
  return new Hono<AppEnv>().get('/audio', zValidator('param', meetingParams, validationHook), async (c) => {
    const { projectId, meetingId } = c.req.valid('param');
    const meeting = await deps.meetings.get(projectId, meetingId);
    const { audio } = meeting;
    if (audio.removedAt) throw new NotFoundError(`meeting ${meetingId}: its audio was removed by retention on ${audio.removedAt.toISOString()}; the transcript remains`);
    const size = await stat(audio.path).then(
      (s) => (s.isFile() ? s.size : null),
      () => null,
    );
    if (size === null) throw new NotFoundError(`meeting ${meetingId}: its audio file is no longer stored`);
    const etag = `"${audio.sha256}"`;
    c.header('Content-Type', audioContentType(audio));
    c.header('Accept-Ranges', 'bytes');
    c.header('ETag', etag);
    c.header('Cache-Control', 'private, no-cache');
    if (c.req.header('If-None-Match') === etag) return c.body(null, 304);
    // If-Range with another validator: the client's copy is stale, send all of it.
    const ifRange = c.req.header('If-Range');
    const range = ifRange === undefined || ifRange === etag ? parseRange(c.req.header('Range'), size) : null;
    if (range === 'unsatisfiable') {
      c.header('Content-Range', `bytes */${size}`);
      return c.body(null, 416);
    }
    const { start, end } = range ?? { start: 0, end: size - 1 };
    c.header('Content-Length', String(end - start + 1));
    if (range) c.header('Content-Range', `bytes ${start}-${end}/${size}`);
    if (c.req.method === 'HEAD' || size === 0) return c.body(null, range ? 206 : 200);
    const stream = Readable.toWeb(createReadStream(audio.path, { start, end })) as ReadableStream<Uint8Array>;
    return c.body(stream, range ? 206 : 200);
  });
}
