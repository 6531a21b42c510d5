import type { Logger } from './logger.js';
import type { TranscriptionQueues } from './transcription-queues.js';
import type { TranscriptionService } from './transcription.service.js';

export interface ReconcilerOptions {
  service: Pick<TranscriptionService, 'reconcile'>;
  queues: Pick<TranscriptionQueues, 'cleanExpiredFailed'>;
  /** Time between passes. @defaultValue 30000 */
  intervalMs: number;
  logger: Logger;
}

export interface Reconciler {
  /** Runs one pass now (also what the timer does); never throws. */
  runOnce(): Promise<void>;
  stop(): void;
}

/**
 * Periodically re-enqueues live meetings that lost their job and sweeps
 * expired failed jobs. Several processes may run one: job-id dedupe makes
 * concurrent passes harmless. Errors (Redis or MongoDB down) are logged once
 * per outage, never thrown.
 */
export function startReconciler(options: ReconcilerOptions): Reconciler {
  const log = options.logger.child({ module: 'reconciler' });
  let running: Promise<void> | undefined;
  let failing = false;

  const pass = async (): Promise<void> => {
    try {
      const report = await options.service.reconcile();
      const removed = await options.queues.cleanExpiredFailed();
      if (failing) log.info('reconciler recovered');
      failing = false;
      if (report.enqueued || report.failed || removed) log.info({ ...report, removedFailedJobs: removed }, 'reconcile pass');
    } catch (err) {
      if (!failing) log.warn({ err: { message: (err as Error).message } }, 'reconcile pass failed; will retry');
      failing = true;
    }
  };
  const runOnce = (): Promise<void> => {
    running ??= pass().finally(() => {
      running = undefined;
    });
    return running;
  };
  const timer = setInterval(() => void runOnce(), options.intervalMs);
  timer.unref();
  void runOnce();
  return { runOnce, stop: () => clearInterval(timer) };
}
