/**
 * OpenAI-compatible endpoints, mounted at `/v1`, so existing OpenAI clients
 * work unchanged: `POST /audio/transcriptions`, `POST /audio/translations`
 * (multipart `file`, `model`, `language`, `prompt`, `response_format`,
 * `temperature`) and `GET /models`. A request is an ordinary meeting in the
 * key's project (OPENAI_PROJECT_ID for admin keys), queued ahead of waiting meetings and run by the
 * same workers; the request waits for its transcript (OPENAI_WAIT_SEC at
 * most) and answers in OpenAI's shapes. Errors use OpenAI's envelope
 * (`openAiErrorBody`, applied by the error handler under `/v1`).
 */
import { type Context, Hono } from 'hono';
import { z } from 'zod';
import { AppError, clientSafeMessage, ValidationError } from '../../core/errors.js';
import { publicMeetingId } from '../../core/meetings/meeting-key.js';
import type { MeetingDocument } from '../../core/meetings/meeting.repository.js';
import type { SegmentDocument } from '../../core/meetings/segment.repository.js';
import { toSrt, toText, toWebVtt, TRANSCRIPT_CONTENT_TYPES } from '../../core/transcript-format.js';
import { isEnglishOnlyModel, WHISPER_LANGUAGES } from '../../core/whisper-languages.js';
import type { AppDeps } from '../app.js';
import type { AppEnv } from '../env.js';
import type { ErrorBody } from '../middleware/error-handler.js';
import { describeIssues } from '../validation.js';
import { registerUpload } from './meetings.routes.js';
import { MAX_PROMPT_CHARS } from './transcription.routes.js';

type OpenAiDeps = Pick<AppDeps, 'config' | 'meetings' | 'segments' | 'service' | 'audio'>;

const RESPONSE_FORMATS = ['json', 'text', 'srt', 'verbose_json', 'vtt'] as const;
type ResponseFormat = (typeof RESPONSE_FORMATS)[number];

/** The alias OpenAI clients send; it means "the model this deployment runs". */
const OPENAI_MODEL_ALIAS = 'whisper-1';

const formFields = z.object({
  model: z.string().min(1, 'expected a model name'),
  language: z.string().regex(/^[a-z]{2,3}$/, 'expected an ISO 639-1 code such as "en"').optional(),
  prompt: z.string().max(MAX_PROMPT_CHARS, `expected at most ${MAX_PROMPT_CHARS} characters`).optional(),
  response_format: z.enum(RESPONSE_FORMATS).default('json'),
  // Accepted for compatibility: decoding always starts at 0 and falls back to higher temperatures itself.
  temperature: z.coerce.number().min(0).max(1).optional(),
  'timestamp_granularities[]': z.enum(['segment', 'word']).optional(),
});

type FormFields = z.output<typeof formFields>;

/** How often a waiting request reads its meeting. */
const POLL_MS = 250;

export function openAiRoutes(deps: OpenAiDeps) {
  const models = () => [...new Set([OPENAI_MODEL_ALIAS, modelId(deps.config.inference.model)])];
  const readFields = (task: 'transcribe' | 'translate') => (raw: Record<string, string>) => {
    const parsed = formFields.safeParse(raw);
    if (!parsed.success) throw new ValidationError(describeIssues(parsed.error));
    const fields = parsed.data;
    if (!models().includes(fields.model)) {
      throw new AppError('NOT_FOUND', 404, `model "${fields.model}" is not served here; GET /v1/models lists ${models().join(', ')}`);
    }
    if (fields['timestamp_granularities[]'] === 'word' && fields.response_format !== 'verbose_json') {
      throw new ValidationError('timestamp_granularities[]=word needs response_format=verbose_json');
    }
    if (fields.language !== undefined && !WHISPER_LANGUAGES.has(fields.language)) {
      throw new ValidationError(`language "${fields.language}" is not one Whisper transcribes`);
    }
    if (isEnglishOnlyModel(deps.config.inference.model) && ((fields.language ?? 'en') !== 'en' || task === 'translate')) {
      throw new ValidationError(`this server runs the English-only model ${deps.config.inference.model}: no other language and no translation`);
    }
    return fields;
  };

  const handle = (task: 'transcribe' | 'translate') => async (c: Context<AppEnv>) => {
    // A project key's requests are meetings of its project; admin keys' go to OPENAI_PROJECT_ID.
    const projectId = c.get('apiKeyProjectId') ?? deps.config.openai.projectId;
    const { meeting, fields } = await registerUpload(deps, projectId, c.req.raw, { readFields: readFields(task), interactive: true });
    // The upload and probe are done: waiting for the transcript holds no upload slot of the key.
    c.get('releaseUploadSlot')?.();
    // OpenAI's translations endpoint takes no language: the source is detected and the output is English.
    const language = task === 'translate' ? undefined : fields.language;
    const meetingId = publicMeetingId(meeting);
    const wordTimestamps = fields['timestamp_granularities[]'] === 'word' ? true : undefined;
    await deps.service.start(projectId, meetingId, { language, task, prompt: fields.prompt || undefined, wordTimestamps });
    c.get('logger').info({ meetingId, projectId, task, format: fields.response_format }, 'openai-compatible request queued');
    const done = await waitForMeeting(deps, meeting, deps.config.openai.waitMs, c.req.raw.signal);
    if (done.transcriptionStatus === 'failed') {
      const failure = done.metadata.transcription;
      const status = failure?.code === 'BAD_AUDIO' ? 400 : 500;
      throw new AppError(status === 400 ? 'BAD_AUDIO' : 'INTERNAL', status, clientSafeMessage(failure?.errorMessage ?? 'transcription failed'));
    }
    const segments = await deps.segments.list(meeting._id);
    return respond(c, fields, task, done, segments);
  };

  return new Hono<AppEnv>()
    .post('/audio/transcriptions', handle('transcribe'))
    .post('/audio/translations', handle('translate'))
    .get('/models', (c) =>
      c.json({ object: 'list' as const, data: models().map((id) => ({ id, object: 'model' as const, created: 0, owned_by: 'meno' })) }, 200),
    );
}

/** `tiny` → `whisper-tiny`; a folder → its last part. */
function modelId(model: string): string {
  const name = model.replace(/\/+$/, '').split('/').pop()!;
  return name.startsWith('whisper-') ? name : `whisper-${name}`;
}

/**
 * Reads the meeting until it completes or fails. Past `waitMs` it answers
 * 504 naming the meeting, whose transcript stays available through the
 * meetings API; a client that hangs up stops the wait, not the job.
 */
async function waitForMeeting(deps: OpenAiDeps, registered: MeetingDocument, waitMs: number, clientGone: AbortSignal): Promise<MeetingDocument> {
  const { projectId } = registered;
  const meetingId = publicMeetingId(registered);
  const deadline = Date.now() + waitMs;
  for (;;) {
    const meeting = await deps.meetings.findById(registered._id);
    if (meeting && (meeting.transcriptionStatus === 'completed' || meeting.transcriptionStatus === 'failed')) return meeting;
    if (clientGone.aborted) throw new AppError('CONFLICT', 499, 'the client closed the request; the transcription goes on');
    if (Date.now() >= deadline) {
      throw new AppError(
        'UNAVAILABLE',
        504,
        `the transcription did not finish within ${Math.round(waitMs / 1000)} s (OPENAI_WAIT_SEC); it goes on as meeting ${meetingId} ` +
          `of project ${projectId}: GET /api/projects/${projectId}/meetings/${meetingId}/transcript`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

function respond(c: Context<AppEnv>, fields: FormFields, task: string, meeting: MeetingDocument, segments: SegmentDocument[]) {
  // OpenAI's `text` is the segments' text in one line.
  const text = toText(segments).trim().replace(/\n/g, ' ');
  const format: ResponseFormat = fields.response_format;
  switch (format) {
    case 'json':
      return c.json({ text }, 200);
    case 'text':
      return c.body(`${text}\n`, 200, { 'Content-Type': TRANSCRIPT_CONTENT_TYPES.text });
    case 'srt':
      return c.body(toSrt(segments), 200, { 'Content-Type': TRANSCRIPT_CONTENT_TYPES.srt });
    case 'vtt':
      return c.body(toWebVtt(segments), 200, { 'Content-Type': TRANSCRIPT_CONTENT_TYPES.vtt });
    case 'verbose_json':
      return c.json(
        {
          task,
          language: meeting.language ?? fields.language ?? null,
          duration: meeting.audio.durationSec,
          text,
          segments: segments.map((s, id) => ({
            id,
            seek: 0,
            start: s.start,
            end: s.end,
            text: s.text,
            tokens: [],
            temperature: 0,
            avg_logprob: s.avgLogprob,
            no_speech_prob: s.noSpeechProb,
          })),
          // OpenAI's words carry no leading space and no probability.
          ...(fields['timestamp_granularities[]'] === 'word'
            ? { words: segments.flatMap((s) => (s.words ?? []).map((w) => ({ word: w.word.trim(), start: w.start, end: w.end }))) }
            : {}),
        },
        200,
      );
  }
}

/** OpenAI's error envelope for the same error our own routes answer as {@link ErrorBody}. */
export function openAiErrorBody(body: ErrorBody, status: number) {
  const type = status === 401 ? 'authentication_error' : status === 429 ? 'rate_limit_error' : status >= 500 ? 'server_error' : 'invalid_request_error';
  const code = body.error.code === 'NOT_FOUND' && /model/.test(body.error.message) ? 'model_not_found' : body.error.code.toLowerCase();
  return { error: { message: body.error.message, type, param: null, code } };
}
