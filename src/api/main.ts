/**
 * Composition root of the API process: config, logger, MongoDB, Redis,
 * queues, service, reconciler, metrics, HTTP server, and the shutdown that
 * undoes them. `startApi` is also what the single-host `src/main.ts` calls.
 */
import { execFile } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { serve, type ServerType } from '@hono/node-server';
import { type Config, loadConfigOrExit, summarizeConfig } from '../core/config.js';
import { coerceError } from '../core/errors.js';
import { ApiKeyRepository } from '../core/keys/api-key.repository.js';
import { createLogger, type Logger } from '../core/logger.js';
import { supervisedByParent, watchParent } from '../core/parent-watch.js';
import { MeetingRepository } from '../core/meetings/meeting.repository.js';
import { SegmentRepository } from '../core/meetings/segment.repository.js';
import { createMetrics, registerQueueGauge, type ServiceMetrics } from '../core/metrics.js';
import { connectMongo } from '../core/mongo.js';
import { LifecycleSweeper } from '../core/lifecycle-sweeper.js';
import { MeetingDeletion } from '../core/meetings/meeting-deletion.js';
import { startReconciler } from '../core/reconciler.js';
import { createRedisConnection, waitForRedisReady } from '../core/redis.js';
import { TranscriptionQueues } from '../core/transcription-queues.js';
import { TranscriptionService } from '../core/transcription.service.js';
import { startWebhooks } from '../webhooks/webhooks.js';
import { bundledBinaryPaths } from '../inference/audio/probe.js';
import { createApp } from './app.js';
import { createAudioInspector } from './audio-intake.js';
import { stagingDirFor } from './routes/meetings.routes.js';
import { closeStalledBodies, type SlowClientOptions, slowClientServerOptions } from './slow-clients.js';
import { sweepStaging } from './upload.js';

export interface StartApiOptions {
  /** Registry to add the API's metrics to (the single-host process shares one). @defaultValue a new `createMetrics({ process: 'api' })` */
  metrics?: ServiceMetrics;
}

export interface ApiHandle {
  /** The port the server listens on (useful with PORT=0). */
  port: number;
  /** Stops accepting connections, waits for requests in flight, then closes the reconciler, queues, Redis and MongoDB. Idempotent; never throws. */
  close(): Promise<void>;
}

/** Throws when no API key is configured: the API never runs unauthenticated. */
export function assertApiKeys(config: Config): void {
  if (config.http.apiKeys.length === 0) {
    throw new Error('API_KEYS is empty: set at least one bearer key (comma-separated), e.g. API_KEYS=$(openssl rand -hex 32)');
  }
}

/** Builds every dependency of the API and starts serving on config.http.host/port. */
export async function startApi(config: Config, logger: Logger, options: StartApiOptions = {}): Promise<ApiHandle> {
  assertApiKeys(config);
  const log = logger.child({ module: 'api' });
  const cleanups: { name: string; run: () => Promise<unknown> | void }[] = [];
  const closeAll = async (): Promise<void> => {
    for (const step of cleanups.reverse()) {
      try {
        await step.run();
      } catch (err) {
        log.warn({ err: coerceError(err), step: step.name }, 'shutdown step failed');
      }
    }
  };

  try {
    await mkdir(resolve(config.storage.dir), { recursive: true });
    const swept = await sweepStaging(stagingDirFor(config), STALE_UPLOAD_MS);
    if (swept) log.warn({ files: swept }, 'removed uploads left over by an earlier process');
    const mongo = await connectMongo({ url: config.mongo.url, db: config.mongo.db, timeoutMs: config.mongo.timeoutMs, logger });
    cleanups.push({ name: 'mongo', run: () => mongo.close() });
    const meetings = new MeetingRepository(mongo.db);
    const segments = new SegmentRepository(mongo.db);
    await meetings.ensureIndexes();
    await segments.ensureIndexes();
    const apiKeys = new ApiKeyRepository(mongo.db);
    await apiKeys.ensureIndexes();

    const redis = createRedisConnection({ url: config.redis.url, role: 'producer', commandTimeoutMs: config.redis.commandTimeoutMs, logger });
    cleanups.push({ name: 'redis', run: () => redis.quit().catch(() => redis.disconnect()) });
    // A producer connection refuses commands until it is ready; give it a moment so the first
    // requests are not deferred needlessly, but serve anyway when Redis is down (starts are then deferred).
    if (!(await waitForRedisReady(redis, REDIS_READY_WAIT_MS))) log.warn('redis not reachable yet; starts will be deferred until it is');
    const queues = new TranscriptionQueues(redis, config.queue, logger, config.redis.commandTimeoutMs);
    cleanups.push({ name: 'queues', run: () => queues.close() });
    const service = new TranscriptionService(meetings, queues, config.queue, logger);
    const reconciler = startReconciler({ service, queues, intervalMs: config.queue.reconcileIntervalMs, logger });
    cleanups.push({ name: 'reconciler', run: () => reconciler.stop() });
    const deletion = new MeetingDeletion({ meetings, segments, queues, storageDir: config.storage.dir, logger });
    const metrics = options.metrics ?? createMetrics({ process: 'api' });
    if (!metrics.registry.getSingleMetric('meno_queue_jobs')) registerQueueGauge(metrics, queues);
    const webhooks = await startWebhooks({ config, db: mongo.db, meetings, producer: redis, logger, metrics });
    cleanups.push({ name: 'webhooks', run: () => webhooks.close() });

    const ffprobePath = config.inference.ffprobePath ?? bundledBinaryPaths().ffprobePath;
    void logBinaryVersion(ffprobePath, log);
    const app = createApp({
      config,
      logger,
      meetings,
      segments,
      service,
      queues,
      metrics,
      checks: { mongo: () => mongo.ping(), redis: () => queues.ping() },
      audio: createAudioInspector({ ffprobePath }),
      apiKeys,
      webhooks: webhooks.service,
      deletion,
    });
    const sweeper = new LifecycleSweeper({ meetings, segments, deletion, queues, retention: config.storage, metrics, logger }).start();
    cleanups.push({ name: 'lifecycle sweeper', run: () => sweeper.stop() });

    const slowClients = { headersTimeoutMs: config.http.headersTimeoutMs, bodyIdleTimeoutMs: config.http.uploadIdleTimeoutMs };
    const server = await listen(app.fetch, config.http.host, config.http.port, slowClients, logger);
    cleanups.push({ name: 'http', run: () => closeServer(server) });
    const port = (server.address() as AddressInfo).port;
    log.info({ url: `http://${config.http.host}:${port}` }, 'api listening');

    let closing: Promise<void> | undefined;
    return {
      port,
      close: () => {
        closing ??= closeAll().then(() => log.info('api closed'));
        return closing;
      },
    };
  } catch (err) {
    await closeAll();
    throw err;
  }
}

/** Staged uploads older than this are leftovers of a dead process (no upload takes a day). */
const STALE_UPLOAD_MS = 24 * 3600 * 1000;

/** How long startApi waits for Redis before serving without it. */
const REDIS_READY_WAIT_MS = 3000;

function listen(
  fetch: (request: Request) => Response | Promise<Response>,
  hostname: string,
  port: number,
  slowClients: SlowClientOptions,
  logger: Logger,
): Promise<ServerType> {
  return new Promise((resolvePromise, reject) => {
    // Node's default requestTimeout (300 s) would cut off a large upload on a slow link; the header and body-idle timeouts guard against stalled clients instead.
    const server = serve({ fetch, hostname, port, serverOptions: slowClientServerOptions(slowClients) });
    if (!(server instanceof HttpServer)) throw new Error('expected a node:http server');
    closeStalledBodies(server, slowClients.bodyIdleTimeoutMs, logger);
    server.once('error', reject);
    server.once('listening', () => {
      server.off('error', reject);
      resolvePromise(server);
    });
  });
}

function closeServer(server: ServerType): Promise<void> {
  return new Promise((resolvePromise) => {
    server.close(() => resolvePromise());
    // Keep-alive sockets with no request in flight would otherwise hold close() open.
    if ('closeIdleConnections' in server) server.closeIdleConnections();
  });
}

/** DESIGN §5: log which ffprobe parses untrusted files, and its version. */
function logBinaryVersion(binary: string, log: Logger): Promise<void> {
  return new Promise((resolvePromise) => {
    execFile(binary, ['-version'], { timeout: 5000 }, (err, stdout) => {
      if (err) log.warn({ ffprobe: binary, err: { message: err.message } }, 'ffprobe does not run; uploads will be refused');
      else log.info({ ffprobe: binary, version: stdout.split('\n')[0] }, 'ffprobe');
      resolvePromise();
    });
  });
}

/**
 * Runs the API until SIGTERM/SIGINT (or, under npm or `npm start`'s supervisor,
 * until that parent is gone), then shuts down within config.worker.shutdownGraceMs.
 */
export async function main(): Promise<void> {
  const config = loadConfigOrExit();
  const logger = createLogger({ level: config.log.level, pretty: config.log.pretty, name: 'meno-api' });
  try {
    assertApiKeys(config);
  } catch (err) {
    console.error((err as Error).message);
    process.exit(1);
  }
  logger.info({ config: summarizeConfig(config) }, 'starting api');
  let api: ApiHandle;
  try {
    api = await startApi(config, logger);
  } catch (err) {
    logger.fatal({ err: coerceError(err) }, 'api failed to start');
    process.exit(1);
  }
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) {
      logger.warn({ signal }, 'already shutting down');
      return;
    }
    stopping = true;
    logger.info({ signal, graceMs: config.worker.shutdownGraceMs }, 'shutting down');
    const force = setTimeout(() => {
      logger.error({ graceMs: config.worker.shutdownGraceMs }, 'shutdown grace period over; exiting now');
      process.exit(1);
    }, config.worker.shutdownGraceMs);
    force.unref();
    void api.close().then(() => process.exit(0));
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  if (supervisedByParent()) {
    watchParent({
      onGone: (reason) => {
        logger.warn({ reason }, 'parent process gone; shutting down as on SIGTERM');
        onSignal('SIGTERM');
      },
    });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) void main();
