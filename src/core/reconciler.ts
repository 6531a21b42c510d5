import type { Logger } from './logger.js';
import type { TranscriptionQueues } from './transcription-queues.js';
import type { ReconcileReport, TranscriptionService } from './transcription.service.js';

export interface ReconcilerOptions {
  service: Pick<TranscriptionService, 'reconcile'>;
  queues: Pick<TranscriptionQueues, 'cleanExpiredFailed' | 'lease'>;
  /** Time between passes. @defaultValue 30000 */
  intervalMs: number;
  /**
   * How long the deployment-wide lease lasts after its holder last renewed
   * it (at every tick and every page), ms: another process takes over this
   * long after a holder dies. @defaultValue 3 × intervalMs
   */
  leaseTtlMs?: number;
  /** Meetings per page of a pass. @defaultValue 500 */
  pageSize?: number;
  logger: Logger;
}

/** What one tick did: a pass, or why none ran. */
export type PassOutcome =
  | { ran: true; report: ReconcileReport & { removedFailedJobs: number; ms: number } }
  | { ran: false; reason: 'held-elsewhere' | 'failed' | 'stopped' };

export interface Reconciler {
  /** Runs one pass now if this process holds (or can take) the lease; what the timer does. Never throws. */
  runOnce(): Promise<PassOutcome>;
  /** Stops the timer, ends a running pass at its next page and releases the lease. Idempotent; never throws. */
  stop(): Promise<void>;
}

/**
 * Periodically re-enqueues live meetings that lost their job and sweeps
 * expired failed jobs. Every API and worker process starts one, but a lease
 * in Redis lets one process of the deployment run the passes: it keeps the
 * lease while it lives (renewed at every tick and every page), the others
 * skip their ticks, and one of them takes over once a dead holder's lease
 * has run out. A pass visits every live requested meeting, page by page.
 * Errors (Redis or MongoDB down) are logged once per outage, never thrown.
 */
export function startReconciler(options: ReconcilerOptions): Reconciler {
  const log = options.logger.child({ module: 'reconciler' });
  const lease = options.queues.lease('reconciler', options.leaseTtlMs ?? 3 * options.intervalMs);
  let running: Promise<PassOutcome> | undefined;
  let stopping: Promise<void> | undefined;
  let failing = false;

  /** Takes or renews the lease, logging when this process starts or stops being the one that reconciles. */
  const hold = async (): Promise<boolean> => {
    const had = lease.isHeld();
    const has = await lease.hold();
    if (has && !had) log.info({ leaseTtlMs: lease.ttlMs }, 'reconciler lease taken: this process runs the reconcile passes');
    if (!has && had) log.warn('reconciler lease lost to another process');
    return has;
  };

  const pass = async (): Promise<PassOutcome> => {
    if (stopping) return { ran: false, reason: 'stopped' };
    try {
      if (!(await hold())) {
        log.debug('reconcile pass skipped: another process holds the lease');
        if (failing) log.info('reconciler recovered');
        failing = false;
        return { ran: false, reason: 'held-elsewhere' };
      }
      const started = performance.now();
      const report = await options.service.reconcile({ pageSize: options.pageSize, beforePage: () => !stopping && hold() });
      const removedFailedJobs = report.finished ? await options.queues.cleanExpiredFailed() : 0;
      const ms = Math.round(performance.now() - started);
      if (failing) log.info('reconciler recovered');
      failing = false;
      const line = { ...report, removedFailedJobs, ms };
      if (report.enqueued || report.failed || removedFailedJobs || !report.finished) log.info(line, 'reconcile pass');
      else log.debug(line, 'reconcile pass');
      return { ran: true, report: line };
    } catch (err) {
      if (!failing) log.warn({ err: { message: (err as Error).message } }, 'reconcile pass failed; will retry');
      failing = true;
      return { ran: false, reason: 'failed' };
    }
  };
  const runOnce = (): Promise<PassOutcome> => {
    running ??= pass().finally(() => {
      running = undefined;
    });
    return running;
  };
  const timer = setInterval(() => void runOnce(), options.intervalMs);
  timer.unref();
  void runOnce();
  return {
    runOnce,
    stop: () => {
      clearInterval(timer);
      stopping ??= (async () => {
        await running;
        await lease.release().catch((err: unknown) => log.debug({ err: { message: (err as Error).message } }, 'could not release the reconciler lease; it expires by itself'));
      })();
      return stopping;
    },
  };
}
