import { type Job, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Config } from '../core/config.js';
import type { Logger } from '../core/logger.js';
import type { QueueKind } from '../core/meetings/meeting.repository.js';
import type { ServiceMetrics } from '../core/metrics.js';
import { queueNameFor, type TranscriptionJobData, workerOptionsFrom } from '../core/queues.js';
import type { TranscribeResult } from './transcribe.processor.js';

type Processor = (job: Job<TranscriptionJobData>, token?: string, signal?: AbortSignal) => Promise<TranscribeResult>;

export interface TranscriptionWorkerDeps {
  config: Config;
  processor: Processor;
  /** Makes one BullMQ worker connection (role 'worker') per queue. */
  connect: () => Redis;
  metrics?: ServiceMetrics;
  logger: Logger;
}

export interface TranscriptionWorker {
  /** Starts consuming every configured queue. */
  run(): void;
  /** Jobs being processed now. */
  busy(): number;
  /**
   * Stops taking jobs and waits for the active ones (which the shutdown
   * signal makes hand back at the next chunk boundary). `force` stops
   * without waiting. Idempotent.
   */
  close(force?: boolean): Promise<void>;
}

/** BullMQ wiring: one Worker per queue this process consumes, events turned into logs and metrics. */
export function createTranscriptionWorker(deps: TranscriptionWorkerDeps): TranscriptionWorker {
  const log = deps.logger.child({ module: 'worker' });
  const connections: Redis[] = [];
  let active = 0;
  // Busy is counted around the processor itself: a job handed back, delayed or cancelled ends
  // without a 'completed' or 'failed' event, so counting by events drifted up.
  const processor: Processor = async (job, token, signal) => {
    deps.metrics?.workerBusy.set(++active);
    try {
      return await deps.processor(job, token, signal);
    } finally {
      deps.metrics?.workerBusy.set(--active);
    }
  };
  const workers = deps.config.worker.queues.map((kind: QueueKind) => {
    const connection = deps.connect();
    connections.push(connection);
    const name = queueNameFor(kind, deps.config.queue);
    const worker = new Worker<TranscriptionJobData, TranscribeResult>(name, processor, { ...workerOptionsFrom(deps.config), connection });
    worker.on('failed', (job, err) => {
      if (!job) return;
      const willRetry = job.attemptsMade < (job.opts.attempts ?? 1) && err.name !== 'UnrecoverableError' && !job.finishedOn;
      if (willRetry) deps.metrics?.retries.inc({ queue: kind });
      else deps.metrics?.failures.inc({ queue: kind, code: errorCode(err) });
    });
    worker.on('stalled', (jobId) => {
      deps.metrics?.stalls.inc({ queue: kind });
      log.warn({ jobId, queue: kind }, 'stalled job moved back to wait (its worker stopped renewing the lock)');
    });
    // The lock of a job this worker still runs could not be renewed: another worker may take (or
    // has taken) the job. Abort its processor at the next chunk boundary instead of transcribing on
    // for nothing (its writes would be refused by the epoch fence anyway).
    worker.on('lockRenewalFailed', (jobIds) => {
      for (const jobId of jobIds) {
        log.warn({ jobId, queue: kind }, 'job lock lost; cancelling its processing');
        worker.cancelJob(jobId, 'lock lost');
      }
    });
    worker.on('error', (err) => log.warn({ err: { message: err.message }, queue: kind }, 'worker error'));
    return worker;
  });

  let closing: Promise<void> | undefined;
  return {
    run() {
      for (const worker of workers) {
        worker.run().catch((err: unknown) => log.error({ err }, 'worker loop stopped'));
      }
      deps.metrics?.workerUp.set(1);
      log.info({ queues: workers.map((w) => w.name), concurrency: deps.config.worker.concurrency }, 'worker consuming');
    },
    busy: () => active,
    close(force = false) {
      if (force) {
        // BullMQ's close(true) after a pending close() returns that same pending close, so force
        // here: cancel the processors and drop the connections. Lock renewal stops at once, so
        // the jobs' locks lapse and stall detection gives them to another worker.
        deps.metrics?.workerUp.set(0);
        for (const worker of workers) worker.cancelAllJobs('shutdown forced');
        for (const connection of connections) connection.disconnect();
        log.warn({ busy: active }, 'forced close: redis connections dropped, active jobs left to stall detection');
        return Promise.resolve();
      }
      closing ??= (async () => {
        deps.metrics?.workerUp.set(0);
        const results = await Promise.allSettled(workers.map((w) => w.close()));
        for (const r of results) if (r.status === 'rejected') log.warn({ err: r.reason }, 'worker close failed');
        await Promise.allSettled(connections.map((c) => c.quit()));
      })();
      return closing;
    },
  };
}

function errorCode(err: Error): string {
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string') return code;
  if (err.name === 'UnrecoverableError') return 'UNRECOVERABLE';
  if (err.name === 'JobTimeoutError') return 'TIMEOUT';
  return 'INTERNAL';
}
