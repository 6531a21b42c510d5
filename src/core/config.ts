/**
 * Every setting comes from environment variables, validated once at start.
 * `loadConfig(env)` is pure and throws a ConfigError listing each bad
 * variable; `loadConfigOrExit` is what the entrypoints call.
 */
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { parseCidr } from '../webhooks/receiver-address.js';

const integer = (min: number, max = Number.MAX_SAFE_INTEGER) =>
  z.coerce.number({ error: `expected an integer between ${min} and ${max}` }).int(`expected an integer between ${min} and ${max}`).min(min, `expected an integer >= ${min}`).max(max, `expected an integer <= ${max}`);

const boolean = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'], { error: 'expected true or false' })
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

const commaList = z.string().transform((v) => v.split(',').map((s) => s.trim()).filter(Boolean));

const url = (protocols: string[]) =>
  z.string().refine((v) => {
    try {
      return protocols.includes(new URL(v).protocol);
    } catch {
      return false;
    }
  }, `expected a URL starting with ${protocols.map((p) => `${p}//`).join(' or ')}`);

const DAY_MS = 24 * 3600_000;

const queueName = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'expected 1-64 letters, digits, "-" or "_" (no ":")');

/**
 * The schema, one entry per environment variable, with its default.
 * README.md's configuration table mirrors this list.
 */
const schema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  LOG_PRETTY: boolean.default(false),

  HOST: z.string().min(1).default('0.0.0.0'),
  PORT: integer(0, 65535).default(3000),
  API_KEYS: commaList.default([]),
  API_KEY_CACHE_MS: integer(0, 60_000).default(5000),
  MAX_UPLOAD_BYTES: integer(1).default(1024 * 1024 * 1024),
  MAX_JSON_BYTES: integer(1).default(64 * 1024),
  RATE_LIMIT_PER_MINUTE: integer(0).default(1200),
  RATE_LIMIT_BURST: integer(1).default(120),
  MAX_CONCURRENT_UPLOADS_PER_KEY: integer(0).default(4),
  MAX_EVENT_STREAMS_PER_KEY: integer(1).default(16),
  EVENT_STREAM_POLL_MS: integer(50, 60_000).default(1000),
  HTTP_HEADERS_TIMEOUT_MS: integer(100, 600_000).default(20_000),
  UPLOAD_IDLE_TIMEOUT_MS: integer(100, 3_600_000).default(30_000),
  STORAGE_DIR: z.string().min(1).default('./data/audio'),
  AUDIO_ROOT: z.string().min(1).optional(),
  MAX_AUDIO_DURATION_SEC: integer(1).default(6 * 3600),
  TEMP_DIR: z.string().min(1).optional(),
  MIN_FREE_DISK_MB: integer(0).default(256),
  RETENTION_AUDIO_DAYS: z.coerce.number({ error: 'expected a number of days (0 = keep)' }).min(0, 'expected 0 (keep) or more days').default(0),
  RETENTION_TRANSCRIPT_DAYS: z.coerce.number({ error: 'expected a number of days (0 = keep)' }).min(0, 'expected 0 (keep) or more days').default(0),
  LIFECYCLE_SWEEP_INTERVAL_MS: integer(100).default(60_000),

  REDIS_URL: url(['redis:', 'rediss:']).default('redis://127.0.0.1:6379'),
  REDIS_COMMAND_TIMEOUT_MS: integer(100).default(1000),
  MONGODB_URL: url(['mongodb:', 'mongodb+srv:']).default('mongodb://127.0.0.1:27017'),
  MONGODB_DB: z.string().regex(/^[A-Za-z0-9_-]{1,60}$/, 'expected a database name of letters, digits, "-" or "_"').default('meno'),
  MONGODB_TIMEOUT_MS: integer(100).default(5000),

  QUEUE_PREFIX: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'expected letters, digits, "-" or "_"').default('bull'),
  QUEUE_NAME: queueName.default('transcription-queue'),
  LARGE_QUEUE_NAME: queueName.default('transcription-queue-large'),
  LARGE_QUEUE_THRESHOLD_SEC: integer(1).default(40 * 60),
  JOB_ATTEMPTS: integer(1, 100).default(3),
  JOB_BACKOFF_MS: integer(0).default(1000),
  JOB_TIMEOUT_MS: integer(1000).default(30 * 60 * 1000),
  LARGE_JOB_TIMEOUT_FACTOR: z.coerce.number({ error: 'expected a number > 0' }).positive('expected a number > 0').default(1.5),
  FAILED_RETENTION_SEC: integer(0).default(7 * 24 * 3600),
  COMPLETED_KEEP_COUNT: integer(0).default(1000),
  LOCK_DURATION_MS: integer(500).default(30_000),
  STALLED_INTERVAL_MS: integer(100).default(30_000),
  MAX_STALLED_COUNT: integer(0, 1000).default(5),
  RECONCILE_INTERVAL_MS: integer(100).default(30_000),

  WORKER_CONCURRENCY: integer(1, 64).default(1),
  WORKER_QUEUES: z
    .string()
    .transform((v) => v.split(',').map((s) => s.trim()).filter(Boolean))
    .pipe(z.array(z.enum(['regular', 'large'], { error: 'expected a comma-separated list of "regular" and "large"' })).min(1))
    .default(['regular', 'large']),
  SHUTDOWN_GRACE_MS: integer(0).default(30_000),
  WORKER_METRICS_PORT: integer(0, 65535).default(9464),
  OPENAI_PROJECT_ID: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'expected 1-64 letters, digits, "-" or "_"').default('openai'),
  OPENAI_WAIT_SEC: integer(1, 24 * 3600).default(600),

  MODEL: z.string().min(1).default('tiny'),
  MODELS_DIR: z.string().min(1).default('./models'),
  MODEL_VARIANT: z.enum(['q8', 'fp16', 'fp32']).default('q8'),
  EXECUTION_PROVIDER: z.enum(['auto', 'cpu', 'cuda', 'webgpu']).default('auto'),
  MODEL_GRAPHS: z.enum(['auto', 'prepared', 'original']).default('auto'),
  PREPARED_MODELS_DIR: z.string().min(1).optional(),
  DECODE_LOOP: z.enum(['auto', 'graph', 'steps']).default('auto'),
  INFERENCE_THREADS: integer(1, 256).default(availableParallelism()),
  INFERENCE_BATCH_SIZE: integer(1, 64).default(1),
  CHUNK_PLANNER: z.enum(['vad', 'fixed']).default('vad'),
  FFMPEG_PATH: z.string().min(1).optional(),
  FFPROBE_PATH: z.string().min(1).optional(),
  FFMPEG_TIMEOUT_MS: integer(1000).default(30 * 60 * 1000),

  WEBHOOK_QUEUE_NAME: queueName.default('webhooks'),
  WEBHOOK_TIMEOUT_MS: integer(100, 120_000).default(10_000),
  WEBHOOK_BACKOFF_MS: integer(10).default(5000),
  WEBHOOK_BACKOFF_MAX_MS: integer(10).default(3600_000),
  WEBHOOK_RETRY_WINDOW_SEC: integer(0, 30 * 24 * 3600).default(25 * 3600),
  WEBHOOK_ALLOWED_NETWORKS: commaList.pipe(
    z.array(z.string().refine((v) => parseCidr(v) !== null, 'expected a comma-separated list of networks such as 10.0.0.0/8 or fd00::/8')),
  ).default([]),
  WEBHOOK_DISPATCH_INTERVAL_MS: integer(50).default(1000),
  WEBHOOK_CONCURRENCY: integer(1, 256).default(16),
  WEBHOOK_PROGRESS_INTERVAL_SEC: integer(1).default(30),
});

type Schema = z.output<typeof schema>;

/** The validated, frozen settings of one process. */
export interface Config {
  env: Schema['NODE_ENV'];
  log: { level: Schema['LOG_LEVEL']; pretty: boolean };
  http: {
    host: string;
    port: number;
    apiKeys: readonly string[];
    /** How long an API process reuses a stored key's lookup: a revoked key is refused everywhere within this time. */
    apiKeyCacheMs: number;
    maxUploadBytes: number;
    maxJsonBytes: number;
    /** Requests per minute one API key may make, per API process (token bucket); 0 = no limit. */
    rateLimitPerMinute: number;
    /** Requests a key may make in a burst on top of the rate: the bucket's size. */
    rateLimitBurst: number;
    /** Uploads (meeting registrations, `/v1/audio/*`) one key may have in flight, per API process; 0 = no cap. */
    maxConcurrentUploadsPerKey: number;
    /** Server-Sent Event streams one key may hold open, per API process. */
    maxEventStreamsPerKey: number;
    /** How often an event stream reads its meeting again. */
    eventStreamPollMs: number;
    /** A client that has not sent its request headers within this long is disconnected. */
    headersTimeoutMs: number;
    /** A request body (an upload) that sends no byte for this long is aborted and its connection closed. */
    uploadIdleTimeoutMs: number;
  };
  storage: {
    dir: string;
    audioRoot?: string;
    /** Longest audio accepted: refused at intake on the declared duration, and while decoding on the real one. */
    maxAudioDurationSec: number;
    /** Decoded audio goes here (64 KB per second of audio); os.tmpdir() unless set. */
    tempDir?: string;
    /** Uploads and decoding are refused when they would leave less free space than this in their folder. */
    minFreeBytes: number;
    /** Finished meetings' uploaded audio is removed this long after they last changed; 0 keeps it. */
    retentionAudioMs: number;
    /** Finished meetings are deleted (transcript, audio, meeting) this long after they last changed; 0 keeps them. */
    retentionTranscriptMs: number;
    /** How often the lifecycle sweeper finishes interrupted deletes and applies retention. */
    lifecycleSweepIntervalMs: number;
  };
  redis: { url: string; commandTimeoutMs: number };
  mongo: { url: string; db: string; timeoutMs: number };
  queue: {
    prefix: string;
    regularName: string;
    largeName: string;
    largeThresholdSec: number;
    attempts: number;
    backoffMs: number;
    timeoutMs: number;
    largeTimeoutFactor: number;
    failedRetentionSec: number;
    completedKeepCount: number;
    lockDurationMs: number;
    stalledIntervalMs: number;
    maxStalledCount: number;
    reconcileIntervalMs: number;
  };
  worker: { concurrency: number; queues: readonly ('regular' | 'large')[]; shutdownGraceMs: number; metricsPort: number };
  /** The OpenAI-compatible endpoint: the project its requests are stored under, and how long a request waits for its transcript. */
  openai: { projectId: string; waitMs: number };
  inference: {
    model: string;
    modelsDir: string;
    variant: Schema['MODEL_VARIANT'];
    executionProvider: Schema['EXECUTION_PROVIDER'];
    graphs: Schema['MODEL_GRAPHS'];
    /** Prepared graphs; `<modelsDir>/prepared` unless set. */
    preparedDir: string;
    decodeLoop: Schema['DECODE_LOOP'];
    threads: number;
    batchSize: number;
    planner: Schema['CHUNK_PLANNER'];
    ffmpegPath?: string;
    ffprobePath?: string;
    ffmpegTimeoutMs: number;
  };
  /** Signed webhooks: delivery queue, per-attempt timeout, retry schedule, SSRF allowlist. */
  webhooks: {
    queueName: string;
    /** One delivery attempt's limit (connect, send, answer). */
    timeoutMs: number;
    /** First retry delay; each next one doubles, capped at backoffMaxMs. */
    backoffMs: number;
    backoffMaxMs: number;
    /** Retries go on until their delays add up to this (attempts are computed from the schedule). */
    retryWindowMs: number;
    /** CIDRs a receiver may be in even though refused by default (loopback, link-local, ...). */
    allowedNetworks: readonly string[];
    /** How often the dispatcher moves recorded events into the delivery queue. */
    dispatchIntervalMs: number;
    /** Deliveries in flight per API process. */
    concurrency: number;
    /** At most one transcription.progress event per meeting per this long. */
    progressIntervalMs: number;
  };
}

export class ConfigError extends Error {
  /** One line per bad variable: `NAME: what is expected (got "value")`. */
  readonly problems: readonly string[];

  constructor(problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  ${p}`).join('\n')}`);
    this.name = new.target.name;
    this.problems = problems;
  }
}

const SECRET_VARIABLES = new Set(['API_KEYS']);

/** Validates `env` and returns frozen settings; throws ConfigError naming every bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv): Config {
  // Empty strings count as unset, as in most shells' `VAR= cmd`.
  const input = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = schema.safeParse(input);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      const name = String(issue.path[0] ?? '(config)');
      const shown = SECRET_VARIABLES.has(name) ? '[redacted]' : JSON.stringify(input[name]);
      return `${name}: ${issue.message} (got ${shown})`;
    });
    throw new ConfigError(problems);
  }
  const e = parsed.data;
  if (e.STALLED_INTERVAL_MS > e.LOCK_DURATION_MS) {
    throw new ConfigError([`STALLED_INTERVAL_MS: expected <= LOCK_DURATION_MS (${e.LOCK_DURATION_MS}) (got ${e.STALLED_INTERVAL_MS})`]);
  }
  if (e.WEBHOOK_QUEUE_NAME === e.QUEUE_NAME || e.WEBHOOK_QUEUE_NAME === e.LARGE_QUEUE_NAME) {
    throw new ConfigError([`WEBHOOK_QUEUE_NAME: expected a name different from QUEUE_NAME and LARGE_QUEUE_NAME (got "${e.WEBHOOK_QUEUE_NAME}")`]);
  }
  if (e.QUEUE_NAME === e.LARGE_QUEUE_NAME) {
    throw new ConfigError([`LARGE_QUEUE_NAME: expected a name different from QUEUE_NAME (got "${e.LARGE_QUEUE_NAME}")`]);
  }
  return deepFreeze<Config>({
    env: e.NODE_ENV,
    log: { level: e.LOG_LEVEL, pretty: e.LOG_PRETTY },
    http: {
      host: e.HOST,
      port: e.PORT,
      apiKeys: e.API_KEYS,
      apiKeyCacheMs: e.API_KEY_CACHE_MS,
      maxUploadBytes: e.MAX_UPLOAD_BYTES,
      maxJsonBytes: e.MAX_JSON_BYTES,
      rateLimitPerMinute: e.RATE_LIMIT_PER_MINUTE,
      rateLimitBurst: e.RATE_LIMIT_BURST,
      maxConcurrentUploadsPerKey: e.MAX_CONCURRENT_UPLOADS_PER_KEY,
      maxEventStreamsPerKey: e.MAX_EVENT_STREAMS_PER_KEY,
      eventStreamPollMs: e.EVENT_STREAM_POLL_MS,
      headersTimeoutMs: e.HTTP_HEADERS_TIMEOUT_MS,
      uploadIdleTimeoutMs: e.UPLOAD_IDLE_TIMEOUT_MS,
    },
    storage: {
      dir: e.STORAGE_DIR,
      audioRoot: e.AUDIO_ROOT,
      maxAudioDurationSec: e.MAX_AUDIO_DURATION_SEC,
      tempDir: e.TEMP_DIR,
      minFreeBytes: e.MIN_FREE_DISK_MB * 1024 * 1024,
      retentionAudioMs: Math.round(e.RETENTION_AUDIO_DAYS * DAY_MS),
      retentionTranscriptMs: Math.round(e.RETENTION_TRANSCRIPT_DAYS * DAY_MS),
      lifecycleSweepIntervalMs: e.LIFECYCLE_SWEEP_INTERVAL_MS,
    },
    redis: { url: e.REDIS_URL, commandTimeoutMs: e.REDIS_COMMAND_TIMEOUT_MS },
    mongo: { url: e.MONGODB_URL, db: e.MONGODB_DB, timeoutMs: e.MONGODB_TIMEOUT_MS },
    queue: {
      prefix: e.QUEUE_PREFIX,
      regularName: e.QUEUE_NAME,
      largeName: e.LARGE_QUEUE_NAME,
      largeThresholdSec: e.LARGE_QUEUE_THRESHOLD_SEC,
      attempts: e.JOB_ATTEMPTS,
      backoffMs: e.JOB_BACKOFF_MS,
      timeoutMs: e.JOB_TIMEOUT_MS,
      largeTimeoutFactor: e.LARGE_JOB_TIMEOUT_FACTOR,
      failedRetentionSec: e.FAILED_RETENTION_SEC,
      completedKeepCount: e.COMPLETED_KEEP_COUNT,
      lockDurationMs: e.LOCK_DURATION_MS,
      stalledIntervalMs: e.STALLED_INTERVAL_MS,
      maxStalledCount: e.MAX_STALLED_COUNT,
      reconcileIntervalMs: e.RECONCILE_INTERVAL_MS,
    },
    worker: { concurrency: e.WORKER_CONCURRENCY, queues: e.WORKER_QUEUES, shutdownGraceMs: e.SHUTDOWN_GRACE_MS, metricsPort: e.WORKER_METRICS_PORT },
    openai: { projectId: e.OPENAI_PROJECT_ID, waitMs: e.OPENAI_WAIT_SEC * 1000 },
    inference: {
      model: e.MODEL,
      modelsDir: e.MODELS_DIR,
      variant: e.MODEL_VARIANT,
      executionProvider: e.EXECUTION_PROVIDER,
      graphs: e.MODEL_GRAPHS,
      preparedDir: e.PREPARED_MODELS_DIR ?? join(e.MODELS_DIR, 'prepared'),
      decodeLoop: e.DECODE_LOOP,
      threads: e.INFERENCE_THREADS,
      batchSize: e.INFERENCE_BATCH_SIZE,
      planner: e.CHUNK_PLANNER,
      ffmpegPath: e.FFMPEG_PATH,
      ffprobePath: e.FFPROBE_PATH,
      ffmpegTimeoutMs: e.FFMPEG_TIMEOUT_MS,
    },
    webhooks: {
      queueName: e.WEBHOOK_QUEUE_NAME,
      timeoutMs: e.WEBHOOK_TIMEOUT_MS,
      backoffMs: e.WEBHOOK_BACKOFF_MS,
      backoffMaxMs: e.WEBHOOK_BACKOFF_MAX_MS,
      retryWindowMs: e.WEBHOOK_RETRY_WINDOW_SEC * 1000,
      allowedNetworks: e.WEBHOOK_ALLOWED_NETWORKS,
      dispatchIntervalMs: e.WEBHOOK_DISPATCH_INTERVAL_MS,
      concurrency: e.WEBHOOK_CONCURRENCY,
      progressIntervalMs: e.WEBHOOK_PROGRESS_INTERVAL_SEC * 1000,
    },
  });
}

/** For entrypoints: on bad config, prints one line per bad variable to stderr and exits 1. */
export function loadConfigOrExit(env: NodeJS.ProcessEnv = process.env): Config {
  try {
    return loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error('invalid configuration:');
      for (const problem of err.problems) console.error(`  ${problem}`);
      process.exit(1);
    }
    throw err;
  }
}

/** A loggable summary: secrets masked, URL passwords removed. */
export function summarizeConfig(config: Config): Record<string, unknown> {
  return {
    ...config,
    http: { ...config.http, apiKeys: `${config.http.apiKeys.length} key(s)` },
    redis: { ...config.redis, url: maskUrl(config.redis.url) },
    mongo: { ...config.mongo, url: maskUrl(config.mongo.url) },
  };
}

function maskUrl(value: string): string {
  try {
    const u = new URL(value);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '[invalid url]';
  }
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

/** Every environment variable the service reads (README's configuration table lists each). */
export const CONFIG_VARIABLES: readonly string[] = Object.keys(schema.shape);
