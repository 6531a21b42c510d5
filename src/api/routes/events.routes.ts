import { zValidator } from '@hono/zod-validator';
import { Hono } from 'hono';
import { streamSSE } from 'hono/streaming';
import { clientSafeMessage, RateLimitedError, ValidationError } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import { publicMeetingId } from '../../core/meetings/meeting-key.js';
import type { MeetingDocument } from '../../core/meetings/meeting.repository.js';
import { isLive } from '../../core/meetings/meeting-state.js';
import type { SegmentDocument } from '../../core/meetings/segment.repository.js';
import type { AppDeps } from '../app.js';
import type { AppEnv } from '../env.js';
import { UploadSlots } from '../middleware/upload-slots.js';
import { meetingParams, validationHook } from '../validation.js';

type EventsDeps = Pick<AppDeps, 'config' | 'meetings' | 'segments' | 'logger'>;

export interface EventStreamOptions {
  /** How often an open stream looks at the meeting again. */
  pollMs: number;
  /** Streams one API key may hold open at a time, per API process. */
  perKey: number;
  /** A comment line this often keeps proxies from closing a quiet stream. */
  keepAliveMs?: number;
}

/** What a refused stream is told to wait. */
const STREAM_SLOT_RETRY_AFTER_SEC = 5;

/**
 * `GET .../meetings/:meetingId/events`: the meeting's progress as
 * Server-Sent Events, mounted at `/api/projects/:projectId/meetings/:meetingId`.
 *
 * - `status`: status and progress, whenever either changes (and first thing on connect);
 * - `segments`: one saved chunk's segments, once its checkpoint is in (final from then on), in chunk order;
 * - `completed` | `failed` | `canceled` | `deleted`: the end, with the status body; the stream then closes.
 *
 * Every event's id is the number of chunks sent so far, so a client that
 * reconnects with `Last-Event-ID` gets only the chunks after those, then
 * the current status. The stream reads MongoDB every `pollMs`, so it works
 * the same whichever API process the client reaches.
 */
export function eventsRoutes(deps: EventsDeps, options: EventStreamOptions) {
  const slots = new UploadSlots(options.perKey);
  const log = deps.logger.child({ module: 'events' });
  return new Hono<AppEnv>().get('/events', zValidator('param', meetingParams, validationHook), async (c) => {
    const { projectId, meetingId } = c.req.valid('param');
    const resumeFrom = parseLastEventId(c.req.header('Last-Event-ID'));
    const first = await deps.meetings.get(projectId, meetingId);
    const apiKeyId = c.get('apiKeyId');
    const release = slots.acquire(apiKeyId);
    if (!release) {
      throw new RateLimitedError(`this API key already has ${options.perKey} event streams open (MAX_EVENT_STREAMS_PER_KEY); close one first`, STREAM_SLOT_RETRY_AFTER_SEC);
    }
    return streamSSE(c, async (stream) => {
      let closed = false;
      stream.onAbort(() => {
        closed = true;
      });
      try {
        await followMeeting(deps, first, resumeFrom, options, {
          write: (event, id, data) => stream.writeSSE({ event, id: String(id), data: JSON.stringify(data) }),
          keepAlive: () => stream.write(': keep-alive\n\n').then(() => undefined),
          sleep: (ms) => stream.sleep(ms).then(() => undefined),
          closed: () => closed,
        }, log);
      } finally {
        release();
      }
    });
  });
}

interface EventSink {
  write(event: string, id: number, data: unknown): Promise<void>;
  keepAlive(): Promise<void>;
  sleep(ms: number): Promise<void>;
  closed(): boolean;
}

/** Sends the meeting's events until it ends, it is deleted, or the client goes. */
async function followMeeting(deps: EventsDeps, first: MeetingDocument, resumeFrom: number, options: EventStreamOptions, sink: EventSink, log: Logger): Promise<void> {
  const keepAliveMs = options.keepAliveMs ?? 15_000;
  let sent = resumeFrom;
  let lastStatus = '';
  let lastWrite = Date.now();
  let meeting: MeetingDocument | null = first;
  while (!sink.closed()) {
    if (!meeting || meeting.deletingAt) {
      await sink.write('deleted', sent, { meetingId: publicMeetingId(first), projectId: first.projectId, status: 'deleted' });
      return;
    }
    // Chunks go out in order, each once its checkpoint (written after its segments) is in.
    const done = new Set(meeting.doneChunks);
    if (done.has(sent)) {
      const saved = await deps.segments.list(meeting._id, { fromChunk: sent });
      const byChunk = groupByChunk(saved);
      while (done.has(sent)) {
        await sink.write('segments', sent + 1, { chunk: sent, segments: (byChunk.get(sent) ?? []).map(shownSegment) });
        sent++;
      }
      lastWrite = Date.now();
    }
    const status = statusOf(meeting);
    if (JSON.stringify(status) !== lastStatus) {
      lastStatus = JSON.stringify(status);
      await sink.write('status', sent, status);
      lastWrite = Date.now();
    }
    if (!isLive(meeting.transcriptionStatus)) {
      await sink.write(meeting.transcriptionStatus, sent, status);
      return;
    }
    if (Date.now() - lastWrite >= keepAliveMs) {
      await sink.keepAlive();
      lastWrite = Date.now();
    }
    await sink.sleep(options.pollMs);
    meeting = await deps.meetings.findById(first._id).catch((err: unknown) => {
      // MongoDB away: keep the stream and look again at the next tick.
      log.debug({ err: { message: (err as Error).message }, meetingId: first._id }, 'event stream could not read the meeting');
      return meeting;
    });
  }
}

function statusOf(m: MeetingDocument) {
  const failure = m.metadata.transcription;
  return {
    meetingId: publicMeetingId(m),
    projectId: m.projectId,
    status: m.transcriptionStatus,
    progress: m.transcriptionProgress,
    chunks: { total: m.plan?.chunks.length ?? null, done: m.doneChunks.length },
    error: failure ? { errorMessage: clientSafeMessage(failure.errorMessage), code: failure.code ?? null } : null,
  };
}

function shownSegment(s: SegmentDocument) {
  return { start: s.start, end: s.end, text: s.text, avgLogprob: s.avgLogprob, noSpeechProb: s.noSpeechProb, ...(s.words ? { words: s.words } : {}) };
}

function groupByChunk(segments: SegmentDocument[]): Map<number, SegmentDocument[]> {
  const byChunk = new Map<number, SegmentDocument[]>();
  for (const s of segments) byChunk.set(s.chunk, [...(byChunk.get(s.chunk) ?? []), s]);
  return byChunk;
}

/** `Last-Event-ID` is the count of chunks the client has; absent means none. */
function parseLastEventId(header: string | undefined): number {
  if (header === undefined || header === '') return 0;
  if (!/^\d{1,6}$/.test(header)) throw new ValidationError('Last-Event-ID: expected the id of an event this stream sent (a chunk count)');
  return Number(header);
}
