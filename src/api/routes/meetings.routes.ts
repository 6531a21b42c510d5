import { randomUUID } from 'node:crypto';
import { mkdir, rename, rm, rmdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { zValidator } from '@hono/zod-validator';
import { Hono } from 'hono';
import { z } from 'zod';
import { ConflictError, UnsupportedMediaTypeError } from '../../core/errors.js';
import { meetingKey, publicMeetingId } from '../../core/meetings/meeting-key.js';
import type { MeetingAudio, MeetingDocument } from '../../core/meetings/meeting.repository.js';
import { assertDurationAllowed, assertFreeSpace, hashFile, inspectAudio, noSpaceAsInsufficientStorage, resolveAudioUri } from '../audio-intake.js';
import type { AppDeps } from '../app.js';
import type { AppEnv } from '../env.js';
import { encodeCursor, listQuery, meetingSummary, toListQuery } from '../meeting-list.js';
import { isJsonMediaType, mediaType, readJsonBody } from '../middleware/json-body.js';
import { receiveUpload } from '../upload.js';
import { idSchema, parseOrThrow, projectParams, validationHook } from '../validation.js';

const uriBody = z.strictObject({
  meetingId: idSchema.optional(),
  audioUri: z.string().min(1, 'expected a path or file:// URI').max(4096),
});

type MeetingsDeps = Pick<AppDeps, 'config' | 'meetings' | 'audio'>;

/**
 * `/api/projects/:projectId/meetings`: POST registers a meeting from an
 * upload or a server-side file; GET lists the project's meetings, newest
 * first, a page at a time.
 */
export function meetingsRoutes(deps: MeetingsDeps) {
  return new Hono<AppEnv>()
    .get('/', zValidator('param', projectParams, validationHook), zValidator('query', listQuery, validationHook), async (c) => {
      const { projectId } = c.req.valid('param');
      const query = toListQuery(c.req.valid('query'));
      // One more than the page tells whether another page follows.
      const found = await deps.meetings.listByProject(projectId, { ...query, limit: query.limit + 1 });
      const page = found.slice(0, query.limit);
      const nextCursor = found.length > query.limit ? encodeCursor(page[page.length - 1]) : null;
      return c.json({ meetings: page.map(meetingSummary), nextCursor }, 200);
    })
    .post('/', zValidator('param', projectParams, validationHook), async (c) => {
    const { projectId } = c.req.valid('param');
    const type = mediaType(c.req.header('Content-Type'));
    let meeting: MeetingDocument;
    if (type === 'multipart/form-data') meeting = (await registerUpload(deps, projectId, c.req.raw)).meeting;
    else if (isJsonMediaType(type)) meeting = await registerUri(deps, projectId, c.req.raw);
    else throw new UnsupportedMediaTypeError('send multipart/form-data with a "file" part, or application/json with an "audioUri"');
    const meetingId = publicMeetingId(meeting);
    c.get('logger').info({ meetingId, projectId, source: meeting.audio.source, durationSec: meeting.audio.durationSec }, 'meeting registered');
    c.header('Location', `/api/projects/${projectId}/meetings/${meetingId}/transcription`);
    return c.json(meetingCreated(meeting), 201);
  });
}

/** The 201 body. */
export function meetingCreated(m: MeetingDocument) {
  const { durationSec, codec, formatName, sizeBytes, sha256 } = m.audio;
  return {
    meetingId: publicMeetingId(m),
    projectId: m.projectId,
    transcriptionStatus: m.transcriptionStatus,
    audio: { durationSec, codec, formatName, sizeBytes, sha256 },
    createdAt: m.createdAt.toISOString(),
  };
}

/** Where uploads stream to before they are checked: `<STORAGE_DIR>/.incoming` (no project id can be `.incoming`). */
export function stagingDirFor(config: AppDeps['config']): string {
  return join(resolve(config.storage.dir), '.incoming');
}

function newMeetingId(): string {
  return randomUUID().replaceAll('-', '');
}

/** Refuses an id the project already has, before the audio is looked at (create() checks again, atomically). Other projects' ids do not matter. */
async function assertFree(deps: MeetingsDeps, projectId: string, meetingId: string): Promise<void> {
  if (await deps.meetings.find(projectId, meetingId)) throw new ConflictError(`meeting ${meetingId} already exists`);
}

export interface UploadRegistration<T> {
  /** Checks the form's other fields once the body is in, before anything is stored; throws to refuse. */
  readFields?: (fields: Record<string, string>) => T;
  /** Jobs of this meeting go ahead of waiting meetings (see MeetingDocument.interactive). */
  interactive?: boolean;
}

/**
 * Upload: stream to staging, check, move to `<STORAGE_DIR>/<projectId>/<meetingId>/<random>.audio`,
 * then create the meeting. Any failure removes what this request stored.
 */
export async function registerUpload<T = undefined>(
  deps: MeetingsDeps,
  projectId: string,
  request: Request,
  registration: UploadRegistration<T> = {},
): Promise<{ meeting: MeetingDocument; fields: T }> {
  const storageDir = resolve(deps.config.storage.dir);
  const declaredBytes = Number(request.headers.get('Content-Length') ?? 0) || 0;
  await assertFreeSpace(storageDir, Math.min(declaredBytes, deps.config.http.maxUploadBytes), deps.config.storage.minFreeBytes);
  const upload = await receiveUpload(request, { stagingDir: stagingDirFor(deps.config), maxBytes: deps.config.http.maxUploadBytes }).catch(
    noSpaceAsInsufficientStorage,
  );
  let stored: string | undefined;
  try {
    const fields = registration.readFields ? registration.readFields(upload.fields) : (undefined as T);
    const meetingId = upload.fields.meetingId === undefined ? newMeetingId() : parseOrThrow(idSchema, upload.fields.meetingId, 'form field meetingId');
    await assertFree(deps, projectId, meetingId);
    const inspected = await inspectAudio(upload.path, upload.sizeBytes, deps.audio);
    assertDurationAllowed(inspected.durationSec, deps.config.storage.maxAudioDurationSec);
    const dir = join(storageDir, projectId, meetingId);
    await mkdir(dir, { recursive: true });
    stored = join(dir, `${randomUUID()}.audio`);
    await rename(upload.path, stored);
    const audio: MeetingAudio = { path: stored, source: 'upload', ...audioFacts(inspected), sha256: upload.sha256 };
    const meeting = await deps.meetings.create({ id: meetingKey(projectId, meetingId), meetingId, projectId, audio, interactive: registration.interactive });
    return { meeting, fields };
  } catch (err) {
    await rm(upload.path, { force: true });
    if (stored) {
      await rm(stored, { force: true });
      // Only removes the folder if this request made it and left it empty.
      await rmdir(dirname(stored)).catch(() => {});
    }
    throw err;
  }
}

/** Server-side file: the path must resolve inside AUDIO_ROOT; the file is referenced, never copied or deleted. */
async function registerUri(deps: MeetingsDeps, projectId: string, request: Request): Promise<MeetingDocument> {
  const body = parseOrThrow(uriBody, await readJsonBody(request, deps.config.http.maxJsonBytes), 'body');
  const meetingId = body.meetingId ?? newMeetingId();
  const file = await resolveAudioUri(body.audioUri, deps.config.storage.audioRoot);
  await assertFree(deps, projectId, meetingId);
  const inspected = await inspectAudio(file.path, file.sizeBytes, deps.audio);
  assertDurationAllowed(inspected.durationSec, deps.config.storage.maxAudioDurationSec);
  const sha256 = await hashFile(file.path);
  return deps.meetings.create({ id: meetingKey(projectId, meetingId), meetingId, projectId, audio: { path: file.path, source: 'uri', ...audioFacts(inspected), sha256 } });
}

function audioFacts(a: { durationSec: number; codec: string; formatName: string; sizeBytes: number }) {
  return { durationSec: a.durationSec, codec: a.codec, formatName: a.formatName, sizeBytes: a.sizeBytes };
}
