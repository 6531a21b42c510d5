/**
 * `GET /api/projects/:projectId/meetings`: the query (status and time
 * filters, a capped limit, an opaque cursor) and the page it answers.
 */
import { z } from 'zod';
import { ValidationError } from '../core/errors.js';
import { publicMeetingId } from '../core/meetings/meeting-key.js';
import type { MeetingDocument, MeetingListQuery } from '../core/meetings/meeting.repository.js';
import { TRANSCRIPTION_STATUSES } from '../core/meetings/meeting-state.js';
import { ID_PATTERN } from './validation.js';

export const DEFAULT_PAGE_SIZE = 20;
export const MAX_PAGE_SIZE = 100;

const STATUSES = TRANSCRIPTION_STATUSES;

export const listQuery = z.strictObject({
  status: z
    .string()
    .transform((value) => value.split(',').map((s) => s.trim()))
    .pipe(z.array(z.enum(STATUSES, { error: `expected ${STATUSES.join(', ')} (comma-separated)` })))
    .optional(),
  createdFrom: z.iso.datetime({ offset: true, error: 'expected an ISO 8601 time such as 2026-12-01T00:00:00Z' }).optional(),
  createdBefore: z.iso.datetime({ offset: true, error: 'expected an ISO 8601 time such as 2026-12-01T00:00:00Z' }).optional(),
  limit: z.coerce.number().int().min(1).max(MAX_PAGE_SIZE, `expected at most ${MAX_PAGE_SIZE}`).default(DEFAULT_PAGE_SIZE),
  cursor: z.string().max(200).optional(),
});

/** The cursor names the last meeting of a page: its creation time and key (`_id`), base64url-encoded. */
export function encodeCursor(meeting: Pick<MeetingDocument, '_id' | 'createdAt'>): string {
  return Buffer.from(`${meeting.createdAt.getTime()}:${meeting._id}`, 'utf8').toString('base64url');
}

/** A meeting key `<projectId>.<meetingId>`, or a bare id (meetings registered before ids were scoped). */
const CURSOR_KEY = new RegExp(`^(?:${ID_PATTERN.source.slice(1, -1)}\\.)?${ID_PATTERN.source.slice(1, -1)}$`);

function decodeCursor(cursor: string): { createdAt: Date; id: string } {
  const [ms, id] = Buffer.from(cursor, 'base64url').toString('utf8').split(/:(.*)/s);
  const createdAt = new Date(Number(ms));
  if (!/^\d+$/.test(ms ?? '') || Number.isNaN(createdAt.getTime()) || !CURSOR_KEY.test(id ?? '')) {
    throw new ValidationError('cursor: not a cursor this API gave out (use nextCursor of the previous page)');
  }
  return { createdAt, id };
}

/** The repository query for a parsed request query. */
export function toListQuery(q: z.output<typeof listQuery>): MeetingListQuery {
  return {
    statuses: q.status,
    createdFrom: q.createdFrom ? new Date(q.createdFrom) : undefined,
    createdBefore: q.createdBefore ? new Date(q.createdBefore) : undefined,
    after: q.cursor ? decodeCursor(q.cursor) : undefined,
    limit: q.limit,
  };
}

/** One meeting in a list: what a dashboard shows, without server paths. */
export function meetingSummary(m: MeetingDocument) {
  const failure = m.metadata.transcription;
  return {
    meetingId: publicMeetingId(m),
    status: m.transcriptionStatus,
    progress: m.transcriptionProgress,
    durationSec: m.audio.durationSec,
    language: m.language ?? null,
    createdAt: m.createdAt.toISOString(),
    completedAt: m.completedAt?.toISOString() ?? null,
    errorCode: failure ? (failure.code ?? null) : null,
  };
}
