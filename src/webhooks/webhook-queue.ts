/**
 * The `webhooks` BullMQ queue: one job per delivery (job id = delivery id,
 * so adding it again is a no-op), retried on an exponential schedule capped
 * per attempt, with as many attempts as it takes to cover the retry window.
 */
import { type JobsOptions, Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Config } from '../core/config.js';
import { UnavailableError } from '../core/errors.js';

export interface WebhookJobData {
  deliveryId: string;
}

/** The backoff type webhook jobs name; the worker's backoffStrategy answers it. */
export const WEBHOOK_BACKOFF_TYPE = 'webhook';

export type RetrySchedule = Pick<Config['webhooks'], 'backoffMs' | 'backoffMaxMs' | 'retryWindowMs'>;

/** The wait before retry `retry` (1 for the first retry): backoffMs doubled each time, at most backoffMaxMs. */
export function retryDelayMs(retry: number, schedule: RetrySchedule): number {
  return Math.min(schedule.backoffMaxMs, schedule.backoffMs * 2 ** Math.min(Math.max(retry - 1, 0), 40));
}

/** Total tries (BullMQ's `attempts`): the first one plus the retries whose waits together reach retryWindowMs. */
export function attemptsFor(schedule: RetrySchedule): number {
  let waited = 0;
  let retries = 0;
  while (waited < schedule.retryWindowMs) {
    retries++;
    waited += retryDelayMs(retries, schedule);
  }
  return retries + 1;
}

export function webhookJobOptions(schedule: RetrySchedule): JobsOptions {
  return {
    attempts: attemptsFor(schedule),
    backoff: { type: WEBHOOK_BACKOFF_TYPE },
    removeOnComplete: { count: 1000 },
    removeOnFail: { age: 7 * 24 * 3600 },
  };
}

/** The producer side, on a producer connection: calls fail within `timeoutMs` while Redis is away. */
export class WebhookQueue {
  readonly queue: Queue<WebhookJobData>;
  private closing?: Promise<void>;

  constructor(connection: Redis, prefix: string, private readonly config: Config['webhooks'], private readonly timeoutMs = 1000) {
    this.queue = new Queue<WebhookJobData>(config.queueName, { connection, prefix, defaultJobOptions: webhookJobOptions(config) });
    this.queue.on('error', () => {});
  }

  /** Adds the delivery's job unless one with this id exists. Throws UnavailableError while Redis is away. */
  async add(deliveryId: string, jobId: string): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new UnavailableError(`webhook queue unavailable: no answer within ${this.timeoutMs} ms`)), this.timeoutMs);
    });
    try {
      await Promise.race([this.queue.add('deliver', { deliveryId }, { jobId }), deadline]);
    } catch (err) {
      if (err instanceof UnavailableError) throw err;
      throw new UnavailableError(`webhook queue unavailable: ${(err as Error).message}`, { cause: err });
    } finally {
      clearTimeout(timer);
    }
  }

  /** Idempotent. */
  close(): Promise<void> {
    this.closing ??= this.queue.close().catch(() => undefined);
    return this.closing;
  }
}
