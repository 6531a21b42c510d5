import { zValidator } from '@hono/zod-validator';
import { Hono } from 'hono';
import { z } from 'zod';
import { clientSafeMessage, ConflictError, UnavailableError, ValidationError } from '../../core/errors.js';
import { isEnglishOnlyModel, WHISPER_LANGUAGES } from '../../core/whisper-languages.js';
import { publicMeetingId } from '../../core/meetings/meeting-key.js';
import type { MeetingDocument } from '../../core/meetings/meeting.repository.js';
import { jobIdFor } from '../../core/queues.js';
import { diarizationSummary, labelSpeakers, turnsOf } from '../../core/meetings/speakers.js';
import { formatRttm } from '../../inference/diarization/turns.js';
import { MAX_WEBHOOK_URL_CHARS } from '../../webhooks/receiver-address.js';
import { type JobStatus, QueueCommandError } from '../../core/transcription-queues.js';
import {
  CUE_GRANULARITIES,
  type CueGranularity,
  formatTranscript,
  TRANSCRIPT_CONTENT_TYPES,
  TRANSCRIPT_FORMATS,
  type TranscriptFormat,
} from '../../core/transcript-format.js';
import type { AppDeps } from '../app.js';
import type { AppEnv } from '../env.js';
import { jsonBodyLimit, optionalJsonBody } from '../middleware/json-body.js';
import { meetingParams, validationHook } from '../validation.js';

/** A vocabulary hint longer than this is refused: Whisper reads at most 223 tokens before a window. */
export const MAX_PROMPT_CHARS = 1000;
/** Most speakers a client may ask for (numSpeakers, minSpeakers, maxSpeakers). */
export const MAX_SPEAKERS = 50;

const startBody = z.strictObject({
  language: z.string().regex(/^[a-z]{2,3}$/, 'expected a language code such as "en"').optional(),
  task: z.enum(['transcribe', 'translate']).optional(),
  // About 224 tokens fit before a window; a longer prompt keeps its end.
  prompt: z.string().trim().min(1, 'expected some text').max(MAX_PROMPT_CHARS, `expected at most ${MAX_PROMPT_CHARS} characters`).optional(),
  // Checked against the SSRF policy in the handler; receives this request's end event, signed with the project's callback secret.
  // Speaker labels (issue 15): off unless asked for; the count is estimated unless given.
  diarize: z.boolean().optional(),
  numSpeakers: z.number().int().min(1).max(MAX_SPEAKERS).optional(),
  minSpeakers: z.number().int().min(1).max(MAX_SPEAKERS).optional(),
  maxSpeakers: z.number().int().min(1).max(MAX_SPEAKERS).optional(),
  callbackUrl: z.string().min(1, 'expected a URL').max(MAX_WEBHOOK_URL_CHARS, `expected at most ${MAX_WEBHOOK_URL_CHARS} characters`).optional(),
  // Off by default: one more decoder pass per chunk (see bench/results for its cost).
  wordTimestamps: z.boolean().optional(),
});

const transcriptQuery = z.object({
  format: z.enum(['rttm', ...TRANSCRIPT_FORMATS] as ['rttm', ...TranscriptFormat[]]).default('json'),
  // SRT and WebVTT cues per segment, or per word (a transcription started with wordTimestamps).
  granularity: z.enum(CUE_GRANULARITIES as [CueGranularity, ...CueGranularity[]]).default('segment'),
});

type TranscriptionDeps = Pick<AppDeps, 'config' | 'meetings' | 'segments' | 'service' | 'queues' | 'webhooks' | 'deletion'>;

/**
 * Refuses (400) what no worker could do, before a job is queued: a language
 * Whisper does not know, or another language or translation on an
 * English-only model (MODEL=tiny.en and the like).
 */
function assertModelAccepts(model: string, options: { language?: string; task?: 'transcribe' | 'translate' }): void {
  if (options.language !== undefined && !WHISPER_LANGUAGES.has(options.language)) {
    throw new ValidationError(`language "${options.language}" is not one Whisper transcribes; use an ISO 639-1 code such as "en", "de" or "ja"`);
  }
  if (isEnglishOnlyModel(model) && ((options.language ?? 'en') !== 'en' || options.task === 'translate')) {
    throw new ValidationError(`this server runs the English-only model ${model}: it takes no language other than "en" and no translate task`);
  }
}

/**
 * Diarization is off unless asked for ("diarize": true, or a speaker count):
 * it adds about 210 CPU-s per audio hour, near 30% of a CPU-bound whisper-base
 * transcription and more than a GPU transcription takes (see
 * bench/results/*-diarization.md). Counts must be consistent.
 */
function withSpeakerDefaults<O extends { diarize?: boolean; numSpeakers?: number; minSpeakers?: number; maxSpeakers?: number }>(options: O): O {
  const { numSpeakers, minSpeakers, maxSpeakers } = options;
  const counts = numSpeakers !== undefined || minSpeakers !== undefined || maxSpeakers !== undefined;
  const diarize = options.diarize ?? counts;
  if (!diarize && counts) throw new ValidationError('numSpeakers, minSpeakers and maxSpeakers need "diarize": true');
  if (numSpeakers !== undefined && (minSpeakers !== undefined || maxSpeakers !== undefined)) {
    throw new ValidationError('give either numSpeakers or minSpeakers/maxSpeakers, not both');
  }
  if (minSpeakers !== undefined && maxSpeakers !== undefined && minSpeakers > maxSpeakers) {
    throw new ValidationError(`minSpeakers (${minSpeakers}) is more than maxSpeakers (${maxSpeakers})`);
  }
  // Recorded only when on, like every option the client did not give.
  const { diarize: _given, ...rest } = options;
  return (diarize ? { ...rest, diarize: true } : rest) as O;
}

/**
 * A meeting's transcription, mounted at `/api/projects/:projectId/meetings/:meetingId`.
 * Every route reads the meeting through `MeetingRepository.get`, which answers
 * 404 for a meeting of another project.
 */
export function transcriptionRoutes(deps: TranscriptionDeps) {
  const params = zValidator('param', meetingParams, validationHook);
  return new Hono<AppEnv>()
    .post(
      '/transcription/start',
      params,
      jsonBodyLimit(deps.config.http.maxJsonBytes),
      optionalJsonBody(),
      zValidator('json', startBody, validationHook),
      async (c) => {
        const { projectId, meetingId } = c.req.valid('param');
        const options = withSpeakerDefaults(c.req.valid('json'));
        assertModelAccepts(deps.config.inference.model, options);
        if (options.callbackUrl !== undefined) options.callbackUrl = deps.webhooks.checkUrl(options.callbackUrl, 'callbackUrl');
        const result = await deps.service.start(projectId, meetingId, options);
        c.get('logger').info({ meetingId, projectId, ...result }, 'transcription start');
        return c.json(result, 202);
      },
    )
    .post('/transcription/cancel', params, async (c) => {
      const { projectId, meetingId } = c.req.valid('param');
      const result = await deps.service.cancel(projectId, meetingId);
      return c.json({ meetingId, projectId, ...result }, 200);
    })
    .delete('/', params, async (c) => {
      const { projectId, meetingId } = c.req.valid('param');
      const outcome = await deps.deletion.delete(projectId, meetingId);
      // 202: hidden and its data gone, but a worker still holds its job; the lifecycle sweeper finishes it.
      return outcome === 'deleted' ? c.body(null, 204) : c.json({ meetingId, projectId, status: 'deleting' }, 202);
    })
    .post('/transcription/retry', params, async (c) => {
      const { projectId, meetingId } = c.req.valid('param');
      const result = await deps.service.retry(projectId, meetingId);
      c.get('logger').info({ meetingId, projectId, ...result }, 'transcription retry');
      return c.json(result, 202);
    })
    .get('/transcription', params, async (c) => {
      const { projectId, meetingId } = c.req.valid('param');
      const meeting = await deps.meetings.get(projectId, meetingId);
      const [job, segmentsSaved] = await Promise.all([jobOrUnreachable(deps, meeting), deps.segments.count(meeting._id)]);
      return c.json(statusBody(meeting, job, segmentsSaved), 200);
    })
    .get('/transcript', params, zValidator('query', transcriptQuery, validationHook), async (c) => {
      const { projectId, meetingId } = c.req.valid('param');
      const { format, granularity } = c.req.valid('query');
      const meeting = await deps.meetings.get(projectId, meetingId);
      if (granularity === 'word' && !meeting.transcriptionOptions?.wordTimestamps) {
        throw new ValidationError('this transcript has no word timestamps: start the transcription with "wordTimestamps": true');
      }
      const segments = await deps.segments.list(meeting._id);
      const partial = meeting.transcriptionStatus !== 'completed';
      if (format === 'rttm') {
        const diarization = meeting.diarization;
        if (diarization?.status !== 'completed') {
          throw new ConflictError(
            diarization ? `this meeting has no speaker turns: ${diarization.error ?? 'diarization failed'}` : 'this meeting has no speaker turns (yet): start its transcription with "diarize": true and wait for it to complete',
          );
        }
        return c.body(formatRttm(meetingId, turnsOf(diarization)), 200, { 'content-type': 'text/plain; charset=utf-8' });
      }
      const shown = labelSpeakers(segments, meeting.diarization).map(({ speaker, ...s }) => ({
        ...(speaker ? { speaker } : {}),
        start: s.start,
        end: s.end,
        text: s.text,
        avgLogprob: s.avgLogprob,
        noSpeechProb: s.noSpeechProb,
        ...(s.words ? { words: s.words } : {}),
      }));
      let body = formatTranscript(
        format,
        shown,
        {
          meetingId,
          projectId,
          status: meeting.transcriptionStatus,
          progress: meeting.transcriptionProgress,
          partial,
          language: meeting.language ?? null,
        ...diarizationSummary(meeting.diarization),
        },
        granularity,
      );
      if (format === 'vtt' && partial) {
        body = body.replace(/^WEBVTT\n/, `WEBVTT\n\nNOTE partial transcript: the meeting is ${meeting.transcriptionStatus} (${meeting.transcriptionProgress}% done)\n`);
      }
      c.header('X-Transcript-Partial', String(partial));
      return c.body(body, 200, { 'Content-Type': TRANSCRIPT_CONTENT_TYPES[format] });
    });
}

/** The job's status, null when no job exists, 'unreachable' when Redis does not answer (the route answers anyway). */
async function jobOrUnreachable(deps: TranscriptionDeps, meeting: MeetingDocument): Promise<JobStatus | null | 'unreachable'> {
  try {
    return await deps.queues.getJobStatus(meeting.jobId ?? jobIdFor(meeting._id));
  } catch (err) {
    // The status comes from MongoDB; a job Redis cannot serve (down, or a refused read) shows as 'unknown'.
    if (err instanceof UnavailableError || err instanceof QueueCommandError) return 'unreachable';
    throw err;
  }
}

function iso(date: Date | undefined): string | null {
  return date ? date.toISOString() : null;
}

/** The status body; `attempts` comes from the job, and is null while Redis cannot be asked. */
export function statusBody(m: MeetingDocument, job: JobStatus | null | 'unreachable', segmentsSaved: number) {
  const failure = m.metadata.transcription;
  let attempts: number | null = null;
  if (job && job !== 'unreachable') attempts = job.attemptsMade;
  else if (job === null) attempts = failure?.attempts ?? 0;
  return {
    meetingId: publicMeetingId(m),
    projectId: m.projectId,
    status: m.transcriptionStatus,
    progress: m.transcriptionProgress,
    attempts,
    jobState: job === 'unreachable' ? 'unknown' : (job?.status ?? null),
    error: failure
      ? { errorMessage: clientSafeMessage(failure.errorMessage), attempts: failure.attempts, lastAttempt: failure.lastAttempt.toISOString(), code: failure.code ?? null }
      : null,
    segmentsSaved,
    chunks: { total: m.plan?.chunks.length ?? null, done: m.doneChunks.length },
    queue: m.queue ?? null,
    jobId: m.jobId ?? null,
    timestamps: { createdAt: iso(m.createdAt), startedAt: iso(m.startedAt), completedAt: iso(m.completedAt), updatedAt: iso(m.updatedAt) },
  };
}
