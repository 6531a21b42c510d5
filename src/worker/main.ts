/**
 * Worker process: the composition root. One process per GPU (or CPU slot).
 * SIGTERM/SIGINT: stop taking jobs, hand the active ones back at the next
 * chunk boundary, release the ONNX sessions, close connections, exit 0; a
 * timer forces the close when the grace period runs out.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Config, loadConfigOrExit, summarizeConfig } from '../core/config.js';
import { createLogger, type Logger } from '../core/logger.js';
import { supervisedByParent, watchParent } from '../core/parent-watch.js';
import { MeetingRepository } from '../core/meetings/meeting.repository.js';
import { SegmentRepository } from '../core/meetings/segment.repository.js';
import { createMetrics, registerQueueGauge, type ServiceMetrics } from '../core/metrics.js';
import { connectMongo, type MongoHandle } from '../core/mongo.js';
import { startReconciler } from '../core/reconciler.js';
import { createRedisConnection, waitForRedisReady } from '../core/redis.js';
import { startHeartbeat, WorkerRegistry } from '../core/worker-registry.js';
import { TranscriptionQueues } from '../core/transcription-queues.js';
import { TranscriptionService } from '../core/transcription.service.js';
import { createTranscriber } from '../inference/transcriber.js';
import { createTranscribeProcessor } from './transcribe.processor.js';
import { createTranscriptionWorker } from './worker.js';

/** How long cleanup may take once the grace period is over. */
const FORCED_CLEANUP_MS = 2000;

/**
 * How the worker stopped: in time; forced after the grace period with
 * everything closed; or forced while the inference thread was still inside
 * a native ONNX Runtime call, which nothing can interrupt.
 */
export type StopOutcome = 'graceful' | 'forced' | 'forced-busy';

export interface RunningWorker {
  /** Graceful stop; resolves when everything is closed. `reason` is logged. Idempotent. */
  stop(reason: string): Promise<void>;
  readonly stopped: Promise<StopOutcome>;
}

export interface StartWorkerOptions {
  metrics?: ServiceMetrics;
  /** Serve /healthz and /metrics on config.worker.metricsPort. @defaultValue true */
  serveMetrics?: boolean;
}

export async function startWorker(config: Config, logger: Logger, options: StartWorkerOptions = {}): Promise<RunningWorker> {
  const log = logger.child({ module: 'worker-main' });
  const metrics = options.metrics ?? createMetrics({ process: 'worker' });
  const shutdown = new AbortController();

  const transcriber = await createTranscriber({
    model: config.inference.model,
    modelsDir: config.inference.modelsDir,
    variant: config.inference.variant,
    executionProvider: config.inference.executionProvider,
    graphs: config.inference.graphs,
    preparedDir: config.inference.preparedDir,
    decodeLoop: config.inference.decodeLoop,
    threads: config.inference.threads,
    batchSize: config.inference.batchSize,
    planner: config.inference.planner,
    ffmpegPath: config.inference.ffmpegPath,
    ffprobePath: config.inference.ffprobePath,
    decodeTimeoutMs: config.inference.ffmpegTimeoutMs,
    tempDir: config.storage.tempDir,
    maxDurationSec: config.storage.maxAudioDurationSec,
    minFreeBytes: config.storage.minFreeBytes,
    logger,
  });
  log.info({ model: transcriber.model }, 'model loaded');

  const mongo = await connectWithRetry(config, logger, shutdown.signal);
  const meetings = new MeetingRepository(mongo.db);
  const segments = new SegmentRepository(mongo.db);
  await meetings.ensureIndexes();
  await segments.ensureIndexes();

  const producer = createRedisConnection({ url: config.redis.url, role: 'producer', commandTimeoutMs: config.redis.commandTimeoutMs, logger });
  // The producer refuses commands until connected; a short wait keeps the first reconcile pass and /readyz honest.
  if (!(await waitForRedisReady(producer, 3000))) log.warn('redis not reachable yet; the worker will consume once it is');
  const queues = new TranscriptionQueues(producer, config.queue, logger, config.redis.commandTimeoutMs);
  const service = new TranscriptionService(meetings, queues, config.queue, logger);
  const reconciler = startReconciler({ service, queues, intervalMs: config.queue.reconcileIntervalMs, logger });
  registerQueueGauge(metrics, queues);

  const processor = createTranscribeProcessor({
    meetings,
    segments,
    transcriber,
    shutdownSignal: shutdown.signal,
    queueConfig: config.queue,
    outageRetryDelayMs: Math.max(1000, config.queue.backoffMs * 2),
    metrics,
    logger,
  });
  const worker = createTranscriptionWorker({
    config,
    processor,
    connect: () => createRedisConnection({ url: config.redis.url, role: 'worker', logger }),
    metrics,
    logger,
  });
  worker.run();

  const ready = async (): Promise<Record<string, boolean>> => ({
    model: !shutdown.signal.aborted,
    mongodb: await mongo.ping(),
    redis: await queues.ping(),
  });
  const server = options.serveMetrics === false ? undefined : await serveMetrics(config.worker.metricsPort, metrics, ready, log);
  // The API's worker page lists the workers from these heartbeats (GET /api/admin/workers).
  const address = server?.address();
  const identity = {
    workerId: `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`,
    host: hostname(),
    pid: process.pid,
    model: `${transcriber.model.name} (${transcriber.model.variant}${transcriber.model.prepared ? ', prepared' : ''})`,
    executionProvider: transcriber.model.executionProvider,
    queues: config.worker.queues,
    concurrency: config.worker.concurrency,
    metricsPort: address && typeof address === 'object' ? address.port : null,
    startedAt: new Date().toISOString(),
  };
  const heartbeat = startHeartbeat(new WorkerRegistry(producer, config.queue.prefix), () => ({ ...identity, activeJobs: worker.busy(), beatAt: '' }), logger);

  let resolveStopped!: (outcome: StopOutcome) => void;
  const stopped = new Promise<StopOutcome>((resolve) => {
    resolveStopped = resolve;
  });
  let stopping: Promise<void> | undefined;

  const closeAll = async (): Promise<void> => {
    // Every step runs even when one fails (each is settled on its own).
    reconciler.stop();
    await settle(log, 'leave the worker registry', () => heartbeat.stop());
    await settle(log, 'release onnx sessions', async () => {
      await transcriber.release();
      metrics.sessionsReleased.inc();
    });
    await settle(log, 'close queues', () => queues.close());
    await settle(log, 'close redis', async () => void (await producer.quit()));
    await settle(log, 'close mongodb', () => mongo.close());
    await settle(log, 'close metrics server', () => new Promise<void>((r) => (server ? server.close(() => r()) : r())));
  };

  const stop = (reason: string): Promise<void> => {
    if (stopping) {
      log.info({ reason }, 'already shutting down');
      return stopping;
    }
    log.info({ reason, busy: worker.busy(), graceMs: config.worker.shutdownGraceMs }, 'shutting down: no new jobs, active jobs hand back at the next chunk boundary');
    shutdown.abort(new Error(`shutdown (${reason})`));
    const graceful = (async () => {
      await worker.close();
      await closeAll();
      return 'graceful' as const;
    })();
    const outcome = new Promise<StopOutcome>((resolve) => {
      const timer = setTimeout(() => {
        log.warn({ graceMs: config.worker.shutdownGraceMs }, 'grace period over: forcing the close; active jobs will be recovered by stall detection');
        // A stuck job may still hold the inference thread: give the cleanup a short, bounded chance.
        void worker.close(true);
        const cleaned = closeAll().then(() => 'forced' as const);
        const timedOut = new Promise<StopOutcome>((r) => setTimeout(() => r('forced-busy'), FORCED_CLEANUP_MS));
        void Promise.race([cleaned, timedOut]).then(resolve);
      }, config.worker.shutdownGraceMs);
      void graceful.then((result) => {
        clearTimeout(timer);
        resolve(result);
      });
    });
    stopping = outcome.then((result) => {
      log.info({ outcome: result }, 'worker stopped');
      resolveStopped(result);
    });
    return stopping;
  };

  return { stop, stopped };
}

async function connectWithRetry(config: Config, logger: Logger, signal: AbortSignal): Promise<MongoHandle> {
  const log = logger.child({ module: 'worker-main' });
  for (let attempt = 1; ; attempt++) {
    try {
      return await connectMongo({ url: config.mongo.url, db: config.mongo.db, timeoutMs: config.mongo.timeoutMs, logger });
    } catch (err) {
      if (signal.aborted) throw err;
      log.warn({ attempt, err: { message: (err as Error).message } }, 'mongodb unreachable at start; retrying');
      await new Promise((r) => setTimeout(r, Math.min(1000 * attempt, 5000)));
    }
  }
}

/** The worker's small HTTP side: /healthz (process up), /readyz (model loaded, MongoDB and Redis reachable), /metrics. */
async function serveMetrics(port: number, metrics: ServiceMetrics, ready: () => Promise<Record<string, boolean>>, log: Logger): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.url === '/healthz') {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
      return;
    }
    if (req.url === '/readyz') {
      ready().then(
        (checks) => {
          const ok = Object.values(checks).every(Boolean);
          res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify({ status: ok ? 'ready' : 'not ready', checks }));
        },
        () => res.writeHead(503).end(),
      );
      return;
    }
    if (req.url === '/metrics') {
      metrics.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text),
        () => res.writeHead(500).end(),
      );
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, () => resolve());
  });
  const address = server.address();
  log.info({ port: typeof address === 'object' && address ? address.port : port }, 'worker metrics on /metrics and /healthz');
  return server;
}

async function settle(log: Logger, step: string, fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (err) {
    log.warn({ err, step }, 'shutdown step failed');
  }
}

/**
 * Installs SIGTERM/SIGINT handlers (and, under npm or `npm start`'s
 * supervisor, a watch on the parent process that acts as SIGTERM) that stop the worker, then exit: 0 when
 * graceful, 1 when forced. When the inference thread is still inside a
 * native ONNX Runtime call, a normal exit aborts in ONNX Runtime's teardown
 * (SIGABRT, seen here), so the process kills itself instead, as a container
 * runtime would at the end of its stop grace period.
 */
export function exitOnSignals(running: RunningWorker, logger: Logger): () => void {
  const onSignal = (signal: NodeJS.Signals) => {
    void running.stop(signal);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  const stopWatching = supervisedByParent()
    ? watchParent({
        onGone: (reason) => {
          logger.warn({ reason }, 'parent process gone; stopping as on SIGTERM');
          onSignal('SIGTERM');
        },
      })
    : () => {};
  void running.stopped.then((outcome) => {
    if (outcome === 'forced-busy') process.kill(process.pid, 'SIGKILL');
    else process.exit(outcome === 'graceful' ? 0 : 1);
  });
  return () => {
    stopWatching();
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const config = loadConfigOrExit(process.env);
  const logger = createLogger({ level: config.log.level, pretty: config.log.pretty, name: 'meno-worker' });
  logger.info({ config: summarizeConfig(config) }, 'worker starting');
  startWorker(config, logger).then(
    (running) => exitOnSignals(running, logger),
    (err: unknown) => {
      logger.fatal({ err }, 'worker failed to start');
      process.exit(1);
    },
  );
}
