/**
 * Builds the API on real servers for the api*.test.ts files: the shared
 * redis-server and FerretDB (or given URLs), a temp STORAGE_DIR and
 * AUDIO_ROOT, and counters for "nothing changed" assertions.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { createApp } from '../../src/api/app.js';
import { createAudioInspector } from '../../src/api/audio-intake.js';
import type { Config } from '../../src/core/config.js';
import { ApiKeyRepository } from '../../src/core/keys/api-key.repository.js';
import type { Logger } from '../../src/core/logger.js';
import { MeetingDeletion } from '../../src/core/meetings/meeting-deletion.js';
import { MeetingRepository } from '../../src/core/meetings/meeting.repository.js';
import { SegmentRepository } from '../../src/core/meetings/segment.repository.js';
import { createMetrics, registerQueueGauge, type ServiceMetrics } from '../../src/core/metrics.js';
import { connectMongo, type MongoHandle } from '../../src/core/mongo.js';
import { createRedisConnection } from '../../src/core/redis.js';
import { TranscriptionQueues } from '../../src/core/transcription-queues.js';
import { TranscriptionService } from '../../src/core/transcription.service.js';
import { startWebhooks, type Webhooks } from '../../src/webhooks/webhooks.js';
import { AUDIO_DIR } from '../helpers/fixtures.js';
import { silentLogger, type TestNamespace, testNamespace } from '../helpers/services.js';

export const API_KEY = 'test-key-0123456789';
export const OTHER_KEY = 'second-key-abcdef';
export { AUDIO_DIR as AUDIO, JFK } from '../helpers/fixtures.js';
/** 21.5 s: goes to the large queue with LARGE_QUEUE_THRESHOLD_SEC=15, while jfk.wav (11 s) stays regular. */
export const LONG_CLIP = `${AUDIO_DIR}/librispeech/test-other/3331-159605-0008.flac`;

export interface Snapshot {
  mongo: Record<string, number>;
  redisKeys: number;
  storedFiles: string[];
}

export interface ApiHarness {
  ns: TestNamespace;
  config: Config;
  app: ReturnType<typeof createApp>;
  mongo: MongoHandle;
  redis: Redis;
  queues: TranscriptionQueues;
  meetings: MeetingRepository;
  segments: SegmentRepository;
  apiKeys: ApiKeyRepository;
  service: TranscriptionService;
  metrics: ServiceMetrics;
  /** Routes and repository; the dispatcher and delivery worker only with `webhookDelivery`. */
  webhooks: Webhooks;
  deletion: MeetingDeletion;
  storageDir: string;
  audioRoot: string;
  /** `app.request` with the API key unless `headers.Authorization` is given. */
  request(path: string, init?: RequestInit): Promise<Response>;
  /** Documents per collection, Redis keys under the prefix, files under STORAGE_DIR. */
  snapshot(): Promise<Snapshot>;
  close(): Promise<void>;
}

export interface HarnessOptions {
  env?: Record<string, string>;
  /** Use this Redis instead of the shared one (fault tests). */
  redisUrl?: string;
  logger?: Logger;
  /** Run the webhook dispatcher and delivery worker too. @defaultValue false */
  webhookDelivery?: boolean;
}

export async function createHarness(options: HarnessOptions = {}): Promise<ApiHarness> {
  const ns = testNamespace({ redisUrl: options.redisUrl });
  const storageDir = await mkdtemp(join(tmpdir(), 'meno-api-storage-'));
  const audioRoot = await mkdtemp(join(tmpdir(), 'meno-api-root-'));
  const config = ns.config({
    API_KEYS: `${API_KEY},${OTHER_KEY}`,
    STORAGE_DIR: storageDir,
    AUDIO_ROOT: audioRoot,
    LARGE_QUEUE_THRESHOLD_SEC: '15',
    // Some tests fire ten registrations with one key at once; the cap itself is tested in api-abuse.test.ts.
    MAX_CONCURRENT_UPLOADS_PER_KEY: '16',
    ...options.env,
  });
  const logger = options.logger ?? silentLogger();
  const mongo = await connectMongo({ url: ns.mongoUrl, db: ns.dbName, timeoutMs: 3000, logger });
  const meetings = new MeetingRepository(mongo.db);
  const segments = new SegmentRepository(mongo.db);
  await meetings.ensureIndexes();
  await segments.ensureIndexes();
  const apiKeys = new ApiKeyRepository(mongo.db);
  await apiKeys.ensureIndexes();
  // The production timeouts (REDIS_COMMAND_TIMEOUT_MS), so the fault tests time what production does.
  const redis = createRedisConnection({ url: ns.redisUrl, role: 'producer', commandTimeoutMs: config.redis.commandTimeoutMs, logger });
  const queues = new TranscriptionQueues(redis, config.queue, logger, config.redis.commandTimeoutMs);
  const service = new TranscriptionService(meetings, queues, config.queue, logger);
  const deletion = new MeetingDeletion({ meetings, segments, queues, storageDir, logger });
  const metrics = createMetrics({ process: 'api' });
  registerQueueGauge(metrics, queues);
  const webhooks = await startWebhooks({ config, db: mongo.db, meetings, producer: redis, logger, deliver: options.webhookDelivery ?? false, metrics });
  const app = createApp({
    config,
    logger,
    meetings,
    segments,
    service,
    queues,
    metrics,
    checks: { mongo: () => mongo.ping(), redis: () => queues.ping() },
    audio: createAudioInspector(),
    apiKeys,
    webhooks: webhooks.service,
    deletion,
  });

  const observer = new Redis(ns.redisUrl, { maxRetriesPerRequest: 1, lazyConnect: true, enableOfflineQueue: false });
  observer.on('error', () => {});

  return {
    ns,
    config,
    app,
    mongo,
    redis,
    queues,
    meetings,
    segments,
    apiKeys,
    service,
    metrics,
    webhooks,
    deletion,
    storageDir,
    audioRoot,
    request(path, init = {}) {
      const headers = new Headers(init.headers);
      if (!headers.has('Authorization')) headers.set('Authorization', `Bearer ${API_KEY}`);
      return Promise.resolve(app.request(path, { ...init, headers }));
    },
    async snapshot() {
      const mongoCounts: Record<string, number> = {};
      for (const name of ['meetings', 'meeting_changes', 'segments', 'segment_fences', 'meeting_tombstones']) mongoCounts[name] = await mongo.db.collection(name).countDocuments();
      if (observer.status === 'wait') await observer.connect();
      let redisKeys = 0;
      let cursor = '0';
      do {
        const [next, keys] = await observer.scan(cursor, 'MATCH', `${ns.prefix}:*`, 'COUNT', 1000);
        cursor = next;
        redisKeys += keys.length;
      } while (cursor !== '0');
      return { mongo: mongoCounts, redisKeys, storedFiles: await listFiles(storageDir) };
    },
    async close() {
      observer.disconnect();
      await webhooks.close();
      await queues.close();
      redis.disconnect();
      await mongo.close();
      await ns.cleanup();
      await rm(storageDir, { recursive: true, force: true });
      await rm(audioRoot, { recursive: true, force: true });
    },
  };
}

/** Every file under `dir`, relative, sorted. */
export async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name).slice(dir.length + 1))
    .sort();
}

/** A multipart body with a `file` part holding `bytes` (and optional extra fields). */
export function uploadForm(bytes: Uint8Array, fields: Record<string, string> = {}, filename = 'audio.wav'): FormData {
  const form = new FormData();
  for (const [k, v] of Object.entries(fields)) form.append(k, v);
  form.append('file', new Blob([bytes]), filename);
  return form;
}
