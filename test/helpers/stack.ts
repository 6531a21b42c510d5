/**
 * A whole service stack for end-to-end and fault tests: its own
 * redis-server (AOF) and FerretDB, an API process and worker processes,
 * plus clients to look at what a user (HTTP) and an operator (MongoDB,
 * BullMQ) would see.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { type Db, MongoClient } from 'mongodb';
import { freePort } from './ports.js';
import { killAll, spawnService, type ServiceProcess } from './processes.js';
import { type Placement, type ServerHandle, startFerretDB, startRedisServer } from './servers.js';

export const API_KEY = 'test-key-0123456789';

export interface StackOptions {
  /** Environment for every process (overrides the defaults below). */
  env?: Record<string, string>;
  /** Where Redis, FerretDB and the API run (the multi-host test bed's hosts). @defaultValue here, on 127.0.0.1 */
  redisAt?: Placement;
  mongoAt?: Placement;
  apiAt?: Placement;
}

export interface Stack {
  redis: ServerHandle;
  mongo: ServerHandle;
  env: Record<string, string>;
  audioRoot: string;
  db: Db;
  /** BullMQ queues of the stack (regular, large), for reading job records. */
  regular: Queue;
  large: Queue;
  redisClient: Redis;
  processes: ServiceProcess[];
  startApi(env?: Record<string, string>): Promise<{ proc: ServiceProcess; url: string }>;
  /** Starts a worker (in `at`'s network namespace) and resolves once it consumes. */
  startWorker(name: string, env?: Record<string, string>, at?: Placement): Promise<ServiceProcess>;
  /** Base URL of the API started by startApi(). */
  apiUrl(): string;
  /** fetch against the API with the test key. */
  api(path: string, init?: RequestInit): Promise<Response>;
  dispose(): Promise<void>;
}

export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const [redis, mongo] = await Promise.all([startRedisServer({ aof: true, at: options.redisAt }), startFerretDB({ at: options.mongoAt })]);
  const audioRoot = await mkdtemp(join(tmpdir(), 'meno-audio-root-'));
  const storage = await mkdtemp(join(tmpdir(), 'meno-storage-'));
  const env: Record<string, string> = {
    REDIS_URL: redis.url,
    MONGODB_URL: mongo.url,
    MONGODB_DB: 'meno',
    API_KEYS: API_KEY,
    AUDIO_ROOT: audioRoot,
    STORAGE_DIR: storage,
    MODEL: 'tiny',
    INFERENCE_THREADS: '1',
    INFERENCE_BATCH_SIZE: '1',
    WORKER_METRICS_PORT: '0',
    LOCK_DURATION_MS: '2000',
    STALLED_INTERVAL_MS: '1000',
    JOB_BACKOFF_MS: '500',
    RECONCILE_INTERVAL_MS: '1000',
    SHUTDOWN_GRACE_MS: '20000',
    MONGODB_TIMEOUT_MS: '2000',
    ...options.env,
  };
  const mongoClient = await MongoClient.connect(mongo.url, { serverSelectionTimeoutMS: 3000 });
  const redisClient = new Redis(redis.url, { maxRetriesPerRequest: null });
  redisClient.on('error', () => {});
  const queueOpts = { connection: redisClient, prefix: env.QUEUE_PREFIX ?? 'bull' };
  const regular = new Queue(env.QUEUE_NAME ?? 'transcription-queue', queueOpts);
  const large = new Queue(env.LARGE_QUEUE_NAME ?? 'transcription-queue-large', queueOpts);
  regular.on('error', () => {});
  large.on('error', () => {});
  const processes: ServiceProcess[] = [];
  let apiUrl = '';

  return {
    redis,
    mongo,
    env,
    audioRoot,
    db: mongoClient.db(env.MONGODB_DB),
    regular,
    large,
    redisClient,
    processes,
    async startApi(extra = {}) {
      const port = await freePort();
      const host = options.apiAt?.address ?? '127.0.0.1';
      const proc = spawnService('api', { ...env, PORT: String(port), HOST: host, ...extra }, 'api', options.apiAt);
      processes.push(proc);
      apiUrl = `http://${host}:${port}`;
      await waitForHttp(`${apiUrl}/healthz`, 30_000);
      return { proc, url: apiUrl };
    },
    async startWorker(name, extra = {}, at) {
      const proc = spawnService('worker', { ...env, ...extra }, name, at);
      processes.push(proc);
      await proc.waitForLog((l) => l.msg === 'worker consuming', 60_000);
      return proc;
    },
    apiUrl: () => apiUrl,
    api(path, init = {}) {
      const headers = new Headers(init.headers);
      if (!headers.has('authorization')) headers.set('authorization', `Bearer ${API_KEY}`);
      return fetch(`${apiUrl}${path}`, { ...init, headers, signal: init.signal ?? AbortSignal.timeout(10_000) });
    },
    async dispose() {
      await killAll(processes);
      await Promise.allSettled([regular.close(), large.close()]);
      redisClient.disconnect();
      await mongoClient.close().catch(() => {});
      await Promise.all([redis.dispose(), mongo.dispose()]);
      await Promise.all([rm(audioRoot, { recursive: true, force: true }), rm(storage, { recursive: true, force: true })]);
    },
  };
}

async function waitForHttp(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
      if (res.ok) return;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error(`${url} did not answer within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
