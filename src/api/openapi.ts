/**
 * The API's OpenAPI 3.1 description, written by hand and served at
 * `GET /api/openapi.json`. test/integration/api.test.ts checks that every
 * route the app serves appears here.
 */
import { TRANSCRIPTION_STATUSES } from '../core/meetings/meeting-state.js';
import { keyPaths, keySchemas } from './openapi-keys.js';
import { webhookPaths, webhookSchemas } from './openapi-webhooks.js';

const ERROR_CODES = ['NOT_FOUND', 'VALIDATION_FAILED', 'BAD_AUDIO', 'CONFLICT', 'UNAVAILABLE', 'UNAUTHORIZED', 'FORBIDDEN', 'PAYLOAD_TOO_LARGE', 'UNSUPPORTED_MEDIA_TYPE', 'QUEUE_REFUSED', 'INSUFFICIENT_STORAGE', 'RATE_LIMITED', 'INTERNAL'];

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });

function error(description: string) {
  return { description, content: { 'application/json': { schema: ref('Error') } } };
}

const unauthorized = { 401: error('UNAUTHORIZED: missing or invalid `Authorization: Bearer <key>`.') };
const unavailable = {
  503: {
    ...error('UNAVAILABLE: Redis (or MongoDB) cannot be reached; answered within about a second. Retry after the `Retry-After` seconds.'),
    headers: { 'Retry-After': { schema: { type: 'integer' }, description: 'Seconds to wait before retrying.' } },
  },
};
const retryAfter = { 'Retry-After': { schema: { type: 'integer', minimum: 1 }, description: 'Whole seconds after which the request can succeed.' } };
const rateLimited = {
  429: {
    ...error('RATE_LIMITED: this API key is over RATE_LIMIT_PER_MINUTE requests per minute (bursts of RATE_LIMIT_BURST); nothing was done. Retry after the `Retry-After` seconds.'),
    headers: retryAfter,
  },
};
const registrationLimited = {
  429: {
    ...error(
      'RATE_LIMITED: this API key is over its request rate, or already has MAX_CONCURRENT_UPLOADS_PER_KEY registrations in flight ' +
        '(answered at once, before the body is read); nothing was stored. Retry after the `Retry-After` seconds.',
    ),
    headers: retryAfter,
  },
};
const openAiRateLimited = {
  429: { description: 'rate_limit_error: over the key\'s request rate, or (audio) its uploads in flight; retry after `Retry-After` seconds', headers: retryAfter },
};
const meetingPathParams = [
  { name: 'projectId', in: 'path', required: true, schema: ref('Id') },
  { name: 'meetingId', in: 'path', required: true, schema: ref('Id') },
];
const partialHeader = {
  'X-Transcript-Partial': { schema: { type: 'string', enum: ['true', 'false'] }, description: '`true` until the meeting is completed: the transcript holds only the chunks saved so far.' },
};

const startResult = {
  type: 'object',
  required: ['jobId', 'queue', 'state'],
  properties: {
    jobId: { type: 'string', examples: ['transcription-acme.3f2a'] },
    queue: { type: 'string', enum: ['regular', 'large'], description: 'Meetings longer than LARGE_QUEUE_THRESHOLD_SEC (40 min) go to the large queue.' },
    state: {
      type: 'string',
      enum: ['queued', 'existing', 'deferred'],
      description:
        '`queued`: a job was added now. `existing`: a live job already existed; its id is returned (the call is idempotent). ' +
        '`deferred`: Redis could not be reached. The request is already recorded in MongoDB, so it is not lost: the reconciler ' +
        'enqueues it once Redis is back (within RECONCILE_INTERVAL_MS). The API answers 202 in this case too rather than 503, ' +
        'because the request has been accepted and will be carried out without the client having to repeat it. A retry made ' +
        'while the failed attempt\'s job is still finishing is also `deferred`: the reconciler enqueues it once that job is done.',
    },
  },
};

const counts = {
  type: 'object',
  required: ['waiting', 'active', 'completed', 'failed', 'delayed', 'total'],
  properties: Object.fromEntries(['waiting', 'active', 'completed', 'failed', 'delayed', 'total'].map((k) => [k, { type: 'integer', minimum: 0 }])),
};

/** Builds the document (a plain object; safe to serialise). */
export function openApiDocument() {
  return {
    openapi: '3.1.0',
    info: {
      title: 'meno transcription API',
      version: '0.1.0',
      description:
        'Register meeting audio, start and follow its transcription, read the transcript. Every error is ' +
        '`{ "error": { "code", "message" } }` with a stable `code`. Everything under `/api` needs ' +
        '`Authorization: Bearer <key>`, and so does `/metrics`; `/healthz` and `/readyz` do not. Admin keys (API_KEYS, or stored keys without a project) reach everything; ' +
        'a project key (`POST /api/admin/keys`, `npm run keys`) reaches only `/api/projects/<its project>/...` (403 FORBIDDEN for any other project, ' +
        "whether or not it exists), that project's jobs (another project's job is 404), `/v1` (meetings of its project) and this document; " +
        '`/api/queues`, `/api/admin` and `/metrics` need an admin key (403). Every response carries `X-Request-Id` (sent by the client or generated). ' +
        'Each key may make RATE_LIMIT_PER_MINUTE requests per minute (1200, in bursts of RATE_LIMIT_BURST, 120) to `/api`, `/v1` and `/metrics` together, ' +
        'and have MAX_CONCURRENT_UPLOADS_PER_KEY (4) registrations or `/v1/audio/*` uploads in flight; beyond either the answer is 429 RATE_LIMITED ' +
        'with `Retry-After`, and nothing is done. Both are counted per API process. A client that has not sent its request headers within ' +
        'HTTP_HEADERS_TIMEOUT_MS (20 s) gets 408 and is disconnected; a request body that sends nothing for UPLOAD_IDLE_TIMEOUT_MS (30 s) is ' +
        'aborted and its connection closed, and the partial upload is discarded.',
    },
    security: [{ bearer: [] }],
    paths: {
      '/api/projects/{projectId}/meetings': {
        get: {
          summary: "List the project's meetings, newest first, a page at a time",
          description:
            'Ordered by creation time, then id (both descending): pages never skip or repeat a meeting, also while meetings are ' +
            'added. Pass `nextCursor` as `cursor` for the next page; it is null on the last page.',
          parameters: [
            meetingPathParams[0],
            { name: 'status', in: 'query', schema: { type: 'string' }, description: 'Comma-separated: pending, processing, completed, failed, canceled.' },
            { name: 'createdFrom', in: 'query', schema: { type: 'string', format: 'date-time' }, description: 'Created at or after.' },
            { name: 'createdBefore', in: 'query', schema: { type: 'string', format: 'date-time' }, description: 'Created before.' },
            { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 100, default: 20 } },
            { name: 'cursor', in: 'query', schema: { type: 'string' } },
          ],
          responses: {
            200: {
              description: '`{ meetings: [{ meetingId, status, progress, durationSec, language, createdAt, completedAt, errorCode }], nextCursor }`',
            },
            400: error('VALIDATION_FAILED: an unknown status, a malformed time, a limit over 100, a cursor this API did not give out, or an unknown parameter.'),
            ...unauthorized,
            ...rateLimited,
          },
        },
        post: {
          summary: 'Register a meeting from an uploaded file or a server-side file',
          description:
            'Either `multipart/form-data` with a `file` part (streamed to STORAGE_DIR, at most MAX_UPLOAD_BYTES; 413 otherwise, ' +
            'checked against Content-Length first and then while streaming) and an optional `meetingId` field, or ' +
            '`application/json` `{ meetingId?, audioUri }` where `audioUri` is a path (absolute, or relative to AUDIO_ROOT) or a ' +
            '`file://` URI whose real path (symlinks followed) lies inside AUDIO_ROOT. Other schemes, `..` segments, symlinks ' +
            'leading outside and non-regular files are 400 VALIDATION_FAILED. The file is then identified by its magic number ' +
            '(not a known audio/video container, e.g. text, playlists, ffconcat scripts: 415 UNSUPPORTED_MEDIA_TYPE) and ' +
            'probed with ffprobe (empty, truncated or corrupt audio, or no audio stream: 400 BAD_AUDIO). Only then is the ' +
            'meeting created; a refused request writes nothing to MongoDB or Redis and removes what it uploaded.',
          parameters: [{ name: 'projectId', in: 'path', required: true, schema: ref('Id') }],
          requestBody: {
            required: true,
            content: {
              'multipart/form-data': {
                schema: { type: 'object', required: ['file'], properties: { file: { type: 'string', format: 'binary' }, meetingId: ref('Id') } },
              },
              'application/json': {
                schema: {
                  type: 'object',
                  required: ['audioUri'],
                  additionalProperties: false,
                  properties: { meetingId: ref('Id'), audioUri: { type: 'string', examples: ['calls/2024-06-01.flac', 'file:///data/import/a.wav'] } },
                },
              },
            },
          },
          responses: {
            201: {
              description: 'Created. `Location` points at the status route.',
              headers: { Location: { schema: { type: 'string' } } },
              content: { 'application/json': { schema: ref('MeetingCreated') } },
            },
            400: error('VALIDATION_FAILED (bad ids, body, URI, malformed JSON or multipart) or BAD_AUDIO (empty, corrupt or unreadable audio).'),
            ...unauthorized,
            ...registrationLimited,
            409: error('CONFLICT: a meeting with this id already exists.'),
            413: error('PAYLOAD_TOO_LARGE: upload over MAX_UPLOAD_BYTES, JSON over MAX_JSON_BYTES, or audio that declares more than MAX_AUDIO_DURATION_SEC.'),
            507: error('INSUFFICIENT_STORAGE: STORAGE_DIR cannot take the upload and keep MIN_FREE_DISK_MB free; try again later.'),
            415: error('UNSUPPORTED_MEDIA_TYPE: request Content-Type is neither multipart/form-data nor JSON, or the file is not a recognised audio/video container.'),
            ...unavailable,
          },
        },
      },
      '/api/projects/{projectId}/meetings/{meetingId}/transcription/start': {
        post: {
          summary: 'Start the transcription (idempotent while a job is live)',
          parameters: meetingPathParams,
          requestBody: {
            required: false,
            content: {
              'application/json': {
                schema: {
                  type: 'object',
                  additionalProperties: false,
                  properties: {
                    language: {
                      type: 'string',
                      examples: ['en'],
                      description: "ISO 639-1 code of a language Whisper knows; detected per window when omitted. An English-only model (MODEL=tiny.en, …) takes only 'en'.",
                    },
                    task: { type: 'string', enum: ['transcribe', 'translate'], description: "'translate' needs a multilingual model." },
                    prompt: {
                      type: 'string',
                      maxLength: 1000,
                      examples: ['Kubernetes, BullMQ, ONNX Runtime, Dr. Nguyen'],
                      description:
                        'Vocabulary hint given to every 30-s window (after <|startofprev|>): names and terms to spell as written, or the ' +
                        'punctuation style to follow. Whisper reads at most 223 tokens of it; a longer prompt keeps its end.',
                    },
                    wordTimestamps: {
                      type: 'boolean',
                      default: false,
                      description:
                        "Time every word (cross-attention + DTW, one more decoder pass per chunk): the transcript's segments get `words`, " +
                        'and SRT/WebVTT can give one cue per word (`granularity=word`).',
                    },
                    diarize: {
                      type: 'boolean',
                      default: false,
                      description:
                        'Label speakers (pyannote segmentation + CAM++ embeddings, after the last chunk; about 210 CPU-s per audio hour): ' +
                        'segments and words get `speaker`, text/SRT get `[Speaker N]`, WebVTT `<v Speaker N>`, and `format=rttm` is served. ' +
                        'On by itself when a speaker count is given.',
                    },
                    numSpeakers: { type: 'integer', minimum: 1, maximum: 50, description: 'The number of speakers, when known (else estimated).' },
                    minSpeakers: { type: 'integer', minimum: 1, maximum: 50, description: 'Bounds for the estimated number of speakers (not with numSpeakers).' },
                    maxSpeakers: { type: 'integer', minimum: 1, maximum: 50 },
                    callbackUrl: {
                      type: 'string',
                      maxLength: 2048,
                      description:
                        "Also receives this request's end event (transcription.completed, failed or canceled) as a signed webhook, with the " +
                        'project\'s callback secret (GET /api/projects/{projectId}/webhooks/callback-secret). Checked like endpoint URLs.',
                    },
                  },
                },
              },
            },
          },
          responses: {
            202: { description: 'Accepted (see `state`, including `deferred` while Redis is down).', content: { 'application/json': { schema: startResult } } },
            400: error('VALIDATION_FAILED: a malformed body, a language Whisper does not know, or a language or task the English-only model cannot do.'),
            ...unauthorized,
            ...rateLimited,
            404: error('NOT_FOUND: no such meeting in this project.'),
            409: error('CONFLICT: the meeting is completed, or failed (use retry).'),
            413: error('PAYLOAD_TOO_LARGE'),
            415: error('UNSUPPORTED_MEDIA_TYPE: a body that is not JSON.'),
            500: error('QUEUE_REFUSED: Redis or BullMQ refused the job (not an outage); the meeting is marked failed, the server log has the detail.'),
            ...unavailable,
          },
        },
      },
      '/api/projects/{projectId}/meetings/{meetingId}/transcription/retry': {
        post: {
          summary: 'Retry a failed transcription; it resumes from the chunks already saved',
          parameters: meetingPathParams,
          responses: {
            202: { description: 'Accepted.', content: { 'application/json': { schema: startResult } } },
            400: error('VALIDATION_FAILED'),
            ...unauthorized,
            ...rateLimited,
            404: error('NOT_FOUND'),
            409: error('CONFLICT: only a failed meeting can be retried.'),
            500: error('QUEUE_REFUSED: Redis or BullMQ refused the job (not an outage); the meeting is marked failed, the server log has the detail.'),
            ...unavailable,
          },
        },
      },
      '/api/projects/{projectId}/meetings/{meetingId}/transcription/cancel': {
        post: {
          summary: 'Cancel a pending or running transcription',
          description:
            'The meeting turns `canceled` at once and keeps the chunks already saved; a worker transcribing it stops at its next chunk ' +
            'boundary without another write, and a job no worker holds yet is removed. Canceling a canceled meeting answers the same. ' +
            'A later start resumes from the saved chunks.',
          parameters: meetingPathParams,
          responses: {
            200: {
              description: '`job`: removed from the queue, `active` (its worker stops at the next chunk boundary), `missing`, or `unknown` while Redis is away.',
              content: {
                'application/json': {
                  schema: {
                    type: 'object',
                    required: ['meetingId', 'projectId', 'status', 'job'],
                    properties: {
                      meetingId: ref('Id'),
                      projectId: ref('Id'),
                      status: { type: 'string', enum: ['canceled'] },
                      job: { type: 'string', enum: ['removed', 'active', 'missing', 'unknown'] },
                    },
                  },
                },
              },
            },
            400: error('VALIDATION_FAILED'),
            ...unauthorized,
            ...rateLimited,
            404: error('NOT_FOUND'),
            409: error('CONFLICT: the transcription already ended (completed or failed), or was never started.'),
          },
        },
      },
      '/api/projects/{projectId}/meetings/{meetingId}/events': {
        get: {
          summary: "The meeting's progress as Server-Sent Events, until it ends",
          description:
            'Events: `status` (status, progress, chunks; on connect and whenever they change), `segments` (one chunk\'s segments ' +
            '`{chunk, segments}`, once its checkpoint is saved, in chunk order; final from then on), and one closing event named ' +
            'after the end: `completed`, `failed` (with `error`), `canceled` or `deleted`. Every event id is the number of chunks ' +
            'sent so far: reconnect with `Last-Event-ID` to get only the chunks after it. A comment line every 15 s keeps proxies ' +
            'from closing a quiet stream. Each API key may hold MAX_EVENT_STREAMS_PER_KEY streams open per API process.',
          parameters: [
            ...meetingPathParams,
            { name: 'Last-Event-ID', in: 'header', required: false, schema: { type: 'string', pattern: '^[0-9]{1,6}$' }, description: 'The id of the last event received.' },
          ],
          responses: {
            200: { description: 'The event stream.', content: { 'text/event-stream': { schema: { type: 'string' } } } },
            400: error('VALIDATION_FAILED: a bad id or Last-Event-ID.'),
            ...unauthorized,
            404: error('NOT_FOUND'),
            429: { ...error('RATE_LIMITED: over the request rate, or MAX_EVENT_STREAMS_PER_KEY streams already open.'), headers: retryAfter },
          },
        },
      },
      '/api/projects/{projectId}/meetings/{meetingId}': {
        delete: {
          summary: 'Delete a meeting: its stored upload, transcript, job and the meeting itself',
          description:
            'A running transcription is canceled first, and its worker writes nothing after the delete. Idempotent: deleting a deleted ' +
            'meeting answers 204. The id stays taken for 7 days (until no worker from before the delete can be running), then can be used again. ' +
            'Audio registered by path under AUDIO_ROOT is the operator\'s file and is never removed.',
          parameters: meetingPathParams,
          responses: {
            204: { description: 'Deleted: nothing of the meeting is left.' },
            202: {
              description: 'Deleting: the meeting is hidden and its data removed; a worker still holds its job, and the delete finishes once it has stopped.',
              content: { 'application/json': { schema: { type: 'object', properties: { meetingId: ref('Id'), projectId: ref('Id'), status: { type: 'string', enum: ['deleting'] } } } } },
            },
            400: error('VALIDATION_FAILED'),
            ...unauthorized,
            ...rateLimited,
            404: error('NOT_FOUND: the project never had this meeting.'),
            ...unavailable,
          },
        },
      },
      '/api/projects/{projectId}/meetings/{meetingId}/transcription': {
        get: {
          summary: 'Status and progress (answers from MongoDB even while Redis is down; `attempts` is then null)',
          parameters: meetingPathParams,
          responses: {
            200: { description: 'OK', content: { 'application/json': { schema: ref('TranscriptionStatus') } } },
            400: error('VALIDATION_FAILED'),
            ...unauthorized,
            ...rateLimited,
            404: error('NOT_FOUND'),
            ...unavailable,
          },
        },
      },
      '/': {
        get: {
          summary: 'The web console (HTML; no key needed to load it)',
          description:
            'A single page that asks for an API key and a project id, keeps them in the tab\'s sessionStorage, and calls this API with ' +
            'the bearer header: meeting list, upload with progress, start/retry/cancel/delete, live progress (the events stream), ' +
            'the transcript beside an audio player, downloads. Served with a same-origin Content-Security-Policy and `Cache-Control: no-cache` (ETag).',
          security: [],
          responses: { 200: { description: 'The page.', content: { 'text/html': { schema: { type: 'string' } } } }, 304: { description: 'Not modified.' } },
        },
      },
      '/admin': {
        get: {
          summary: "The operators' page (HTML; no key needed to load it): admin sign-in, link to the queue board, worker list",
          security: [],
          responses: { 200: { description: 'The page.', content: { 'text/html': { schema: { type: 'string' } } } }, 304: { description: 'Not modified.' } },
        },
      },
      '/admin/session': {
        post: {
          summary: 'Open a browser session for the operator pages (bull-board at /admin/queues)',
          description:
            'Send an admin key as the bearer header (a browser cannot send one when it navigates). The answer sets `meno_admin`, a random ' +
            'token in an HttpOnly, SameSite=Strict cookie for path /admin (Secure over HTTPS, or when X-Forwarded-Proto says https), valid ' +
            'for 15 minutes on every API process (its hash is kept in Redis). /admin/queues is bull-board: the transcription queues\' ' +
            'waiting, active, delayed, failed (with reasons) and completed jobs, with its retry and remove actions; without a session a ' +
            'browser is redirected to /admin and other clients get 401.',
          responses: {
            204: { description: 'Signed in; the cookie is set.', headers: { 'Set-Cookie': { schema: { type: 'string' } } } },
            ...unauthorized,
            403: error('FORBIDDEN: a project key; the operator pages need an admin key.'),
            ...rateLimited,
          },
        },
        delete: {
          summary: 'End the browser session (by its cookie) and clear the cookie',
          security: [],
          responses: { 204: { description: 'Signed out (also when there was no session).' } },
        },
      },
      '/api/admin/workers': {
        get: {
          summary: 'The live workers, from their heartbeats in Redis (admin keys only)',
          description:
            'Each worker process writes a heartbeat every 5 s that expires after 15 s: id, host, pid, model, execution provider, queues, ' +
            'concurrency, jobs running, and the port of its /healthz and /metrics server. A worker that stops cleanly leaves at once; one that ' +
            'dies drops out after three missed beats.',
          responses: {
            200: {
              description: 'OK',
              content: {
                'application/json': {
                  schema: {
                    type: 'object',
                    required: ['workers'],
                    properties: {
                      workers: {
                        type: 'array',
                        items: {
                          type: 'object',
                          properties: {
                            workerId: { type: 'string' },
                            host: { type: 'string' },
                            pid: { type: 'integer' },
                            model: { type: 'string', examples: ['whisper-tiny (q8, prepared)'] },
                            executionProvider: { type: 'string', examples: ['cuda', 'cpu'] },
                            queues: { type: 'array', items: { type: 'string', enum: ['regular', 'large'] } },
                            concurrency: { type: 'integer' },
                            activeJobs: { type: 'integer' },
                            metricsPort: { type: ['integer', 'null'] },
                            startedAt: { type: 'string', format: 'date-time' },
                            beatAt: { type: 'string', format: 'date-time' },
                            lastBeatAgoMs: { type: 'integer' },
                          },
                        },
                      },
                    },
                  },
                },
              },
            },
            ...unauthorized,
            403: error('FORBIDDEN: a project key.'),
            ...rateLimited,
          },
        },
      },
      '/console/{file}': {
        get: {
          summary: "The web console's script, styles and icon",
          security: [],
          parameters: [{ name: 'file', in: 'path', required: true, schema: { type: 'string', examples: ['console.js'] } }],
          responses: {
            200: { description: 'The file, with its content type.' },
            304: { description: 'Not modified.' },
            400: error('VALIDATION_FAILED: not a console file name.'),
            404: error('NOT_FOUND: no such console file.'),
          },
        },
      },
      '/api/projects/{projectId}/meetings/{meetingId}/audio': {
        get: {
          summary: "The meeting's audio as registered, for playback beside the transcript",
          description:
            'The stored upload (or the file under AUDIO_ROOT) byte for byte, with the content type of its container (`audio/wav`, `audio/mpeg`, ' +
            '`audio/flac`, `audio/ogg`, `audio/webm`, `audio/mp4`; `application/octet-stream` for others). One byte range per request ' +
            '(`Range: bytes=start-end`, `bytes=start-` or `bytes=-suffix`) answers 206; several ranges or another unit get the whole file. ' +
            '`ETag` is the SHA-256 of the file; `If-None-Match` answers 304 and `If-Range` is honoured. 404 once retention removed the audio.',
          parameters: [
            ...meetingPathParams,
            { name: 'Range', in: 'header', required: false, schema: { type: 'string', examples: ['bytes=0-65535'] } },
          ],
          responses: {
            200: {
              description: 'The whole file.',
              headers: { 'Accept-Ranges': { schema: { type: 'string', enum: ['bytes'] } }, ETag: { schema: { type: 'string' } } },
              content: { 'audio/*': { schema: { type: 'string', format: 'binary' } } },
            },
            206: {
              description: 'The range asked for.',
              headers: { 'Content-Range': { schema: { type: 'string', examples: ['bytes 0-65535/352844'] } } },
              content: { 'audio/*': { schema: { type: 'string', format: 'binary' } } },
            },
            304: { description: 'Not modified (If-None-Match matched the ETag).' },
            400: error('VALIDATION_FAILED: bad ids.'),
            ...unauthorized,
            ...rateLimited,
            404: error('NOT_FOUND: no such meeting in the project, or its audio was removed by retention or is no longer stored.'),
            416: { description: 'The range starts past the end of the file; `Content-Range: bytes */<size>`.' },
          },
        },
      },
      '/api/projects/{projectId}/meetings/{meetingId}/transcript': {
        get: {
          summary: 'The transcript, complete or partial, in JSON, plain text, SRT or WebVTT',
          parameters: [
            ...meetingPathParams,
            {
              name: 'format',
              in: 'query',
              required: false,
              description: "'rttm': the speaker turns (NIST RTTM), for a transcription started with diarize.",
              schema: { type: 'string', enum: ['json', 'text', 'srt', 'vtt', 'rttm'], default: 'json' },
            },
            {
              name: 'granularity',
              in: 'query',
              required: false,
              description: "SRT and WebVTT cues per segment or per word; 'word' needs a transcription started with wordTimestamps (else 400).",
              schema: { type: 'string', enum: ['segment', 'word'], default: 'segment' },
            },
          ],
          responses: {
            200: {
              description: 'Segments in order. While the meeting is not completed the transcript is partial: `partial: true` in JSON, a NOTE block in WebVTT, and the `X-Transcript-Partial` header in every format.',
              headers: partialHeader,
              content: {
                'application/json': { schema: ref('Transcript') },
                'text/plain': { schema: { type: 'string' } },
                'application/x-subrip': { schema: { type: 'string' } },
                'text/vtt': { schema: { type: 'string' } },
              },
            },
            400: error('VALIDATION_FAILED: bad ids or format.'),
            ...unauthorized,
            ...rateLimited,
            404: error('NOT_FOUND'),
            409: error('CONFLICT: format=rttm for a meeting without speaker turns (not diarized, not finished, or its diarization failed: the message says which).'),
            ...unavailable,
          },
        },
      },
      '/api/jobs/{jobId}': {
        get: {
          summary: "A job's status (the guide's getJobStatus); for operators",
          parameters: [{ name: 'jobId', in: 'path', required: true, schema: { type: 'string', examples: ['transcription-acme.3f2a'] }, description: '`transcription-<projectId>.<meetingId>`, as the start and status answers show it.' }],
          responses: {
            200: { description: 'OK', content: { 'application/json': { schema: ref('JobStatus') } } },
            400: error('VALIDATION_FAILED'),
            ...unauthorized,
            ...rateLimited,
            404: error('NOT_FOUND: no such job in either queue.'),
            ...unavailable,
          },
        },
      },
      '/api/queues/metrics': {
        get: {
          summary: 'Job counts (the guide\'s getQueueMetrics), overall and per queue',
          responses: {
            200: { description: 'OK', content: { 'application/json': { schema: ref('QueueMetrics') } } },
            ...unauthorized,
            ...rateLimited,
            ...unavailable,
          },
        },
      },
      '/api/openapi.json': {
        get: { summary: 'This document', responses: { 200: { description: 'OK', content: { 'application/json': { schema: { type: 'object' } } } }, ...unauthorized, ...rateLimited } },
      },
      '/healthz': {
        get: {
          summary: 'Liveness: the process serves HTTP (no dependency checks, no API key)',
          security: [],
          responses: { 200: { description: 'OK', content: { 'application/json': { schema: { type: 'object', properties: { status: { const: 'ok' } } } } } } },
        },
      },
      '/readyz': {
        get: {
          summary: 'Readiness: Redis and MongoDB answer a ping (no API key)',
          security: [],
          responses: {
            200: { description: 'Ready', content: { 'application/json': { schema: ref('Readiness') } } },
            503: { description: 'UNAVAILABLE; `checks` says which dependency is down.', content: { 'application/json': { schema: ref('Readiness') } } },
          },
        },
      },
      '/v1/audio/transcriptions': {
        post: {
          summary: 'OpenAI-compatible transcription (waits for the transcript, OPENAI_WAIT_SEC at most)',
          description:
            "Multipart `file`, `model` (`whisper-1` or the served model's name, see /v1/models), `language`, `prompt`, " +
            '`response_format` (json, text, srt, vtt, verbose_json), `timestamp_granularities[]` (segment, or word with verbose_json: ' +
            'adds `words`), `temperature` (accepted, ignored). Stored as a meeting of ' +
            'OPENAI_PROJECT_ID and queued ahead of waiting meetings. Errors use OpenAI\'s envelope ' +
            '`{ "error": { "message", "type", "param", "code" } }`; 504 when the wait runs out (the meeting goes on).',
          responses: {
            200: { description: 'The transcript in the requested format.' },
            400: { description: 'invalid_request_error' },
            401: { description: 'authentication_error' },
            404: { description: 'model_not_found' },
            ...openAiRateLimited,
            504: { description: 'the transcript was not ready within OPENAI_WAIT_SEC' },
          },
        },
      },
      '/v1/audio/translations': {
        post: {
          summary: 'OpenAI-compatible translation to English (same fields and answers as /v1/audio/transcriptions, no language)',
          responses: { 200: { description: 'The English transcript in the requested format.' }, ...openAiRateLimited },
        },
      },
      '/v1/models': {
        get: {
          summary: 'OpenAI-compatible model list: `whisper-1` and the served model',
          responses: { 200: { description: '`{ object: "list", data: [{ id, object: "model", created, owned_by }] }`' }, ...openAiRateLimited },
        },
      },
      ...webhookPaths(),
      ...keyPaths(),
      '/metrics': {
        get: {
          summary: 'Prometheus metrics (needs an API key: give Prometheus one as its bearer credentials)',
          responses: { 200: { description: 'Prometheus text format', content: { 'text/plain': { schema: { type: 'string' } } } }, ...unauthorized, ...rateLimited },
        },
      },
    },
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'An admin key of API_KEYS, or a stored key (`POST /api/admin/keys`, `npm run keys`).' } },
      schemas: {
        Id: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,64}$' },
        ...webhookSchemas,
        ...keySchemas,
        Error: {
          type: 'object',
          required: ['error'],
          properties: {
            error: {
              type: 'object',
              required: ['code', 'message'],
              properties: { code: { type: 'string', enum: ERROR_CODES }, message: { type: 'string' }, details: { type: 'object' } },
            },
          },
        },
        MeetingCreated: {
          type: 'object',
          required: ['meetingId', 'projectId', 'transcriptionStatus', 'audio', 'createdAt'],
          properties: {
            meetingId: ref('Id'),
            projectId: ref('Id'),
            transcriptionStatus: { type: 'string', enum: ['pending'] },
            audio: {
              type: 'object',
              properties: {
                durationSec: { type: 'number', description: 'Seconds, as the container states (0 when it does not say).' },
                codec: { type: 'string' },
                formatName: { type: 'string' },
                sizeBytes: { type: 'integer' },
                sha256: { type: 'string' },
              },
            },
            createdAt: { type: 'string', format: 'date-time' },
          },
        },
        TranscriptionStatus: {
          type: 'object',
          properties: {
            meetingId: ref('Id'),
            projectId: ref('Id'),
            status: { type: 'string', enum: [...TRANSCRIPTION_STATUSES] },
            progress: { type: 'number', minimum: 0, maximum: 100 },
            attempts: { type: ['integer', 'null'], description: "Attempts made by the job; null while Redis cannot be asked." },
            jobState: { type: ['string', 'null'], description: "BullMQ's state of the job; 'unknown' while Redis cannot be asked, null when there is no job." },
            error: {
              type: ['object', 'null'],
              description: 'Set on permanent failure (the guide\'s metadata.transcription).',
              properties: { errorMessage: { type: 'string' }, attempts: { type: 'integer' }, lastAttempt: { type: 'string', format: 'date-time' }, code: { type: ['string', 'null'] } },
            },
            segmentsSaved: { type: 'integer' },
            chunks: { type: 'object', properties: { total: { type: ['integer', 'null'] }, done: { type: 'integer' } } },
            queue: { type: ['string', 'null'], enum: ['regular', 'large', null] },
            jobId: { type: ['string', 'null'] },
            timestamps: {
              type: 'object',
              properties: Object.fromEntries(['createdAt', 'startedAt', 'completedAt', 'updatedAt'].map((k) => [k, { type: ['string', 'null'], format: 'date-time' }])),
            },
          },
        },
        Transcript: {
          type: 'object',
          properties: {
            meetingId: ref('Id'),
            projectId: ref('Id'),
            status: { type: 'string' },
            progress: { type: 'number' },
            partial: { type: 'boolean' },
            language: { type: ['string', 'null'] },
            text: { type: 'string' },
            diarization: {
              type: 'object',
              description: 'Present when the transcription was started with diarize.',
              properties: {
                status: { type: 'string', enum: ['completed', 'failed'] },
                speakers: { type: 'integer', description: 'Speakers found.' },
                error: { type: 'string', description: 'Why diarization failed; the transcript is complete without speakers.' },
              },
            },
            segments: {
              type: 'array',
              items: {
                type: 'object',
                properties: {
                  start: { type: 'number', description: 'Seconds from the start of the audio.' },
                  end: { type: 'number' },
                  text: { type: 'string' },
                  avgLogprob: { type: 'number' },
                  noSpeechProb: { type: 'number' },
                  speaker: { type: 'string', examples: ['Speaker 1'], description: 'Present when the transcription was diarized.' },
                  words: {
                    type: 'array',
                    description: 'Present when the transcription was started with wordTimestamps.',
                    items: {
                      type: 'object',
                      properties: { word: { type: 'string' }, start: { type: 'number' }, end: { type: 'number' }, probability: { type: 'number' }, speaker: { type: 'string' } },
                    },
                  },
                },
              },
            },
          },
        },
        JobStatus: {
          type: 'object',
          properties: {
            jobId: { type: 'string' },
            queue: { type: 'string', enum: ['regular', 'large'] },
            status: { type: 'string', enum: ['waiting', 'active', 'completed', 'failed', 'delayed', 'prioritized', 'waiting-children', 'unknown'] },
            progress: { type: 'number' },
            failedReason: { type: ['string', 'null'] },
            attemptsMade: { type: 'integer' },
            data: {
              type: 'object',
              description: 'The job data an operator needs; file paths and decoding options are left out.',
              properties: { meetingId: { type: 'string' }, projectId: { type: 'string' }, queue: { type: 'string' }, durationSec: { type: 'number' } },
            },
            finishedOn: { type: ['string', 'null'], format: 'date-time' },
          },
        },
        QueueMetrics: {
          allOf: [
            counts,
            {
              type: 'object',
              properties: {
                queues: {
                  type: 'object',
                  properties: {
                    regular: { allOf: [counts, { type: 'object', properties: { name: { type: 'string' } } }] },
                    large: { allOf: [counts, { type: 'object', properties: { name: { type: 'string' } } }] },
                  },
                },
              },
            },
          ],
        },
        Readiness: {
          type: 'object',
          properties: {
            status: { const: 'ok' },
            error: { type: 'object', properties: { code: { const: 'UNAVAILABLE' }, message: { type: 'string' } } },
            checks: { type: 'object', properties: { mongo: { type: 'string', enum: ['ok', 'down'] }, redis: { type: 'string', enum: ['ok', 'down'] } } },
          },
        },
      },
    },
  };
}
