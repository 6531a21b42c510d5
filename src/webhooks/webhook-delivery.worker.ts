/**
 * The delivery side: a BullMQ Worker on the webhooks queue, run by the API
 * process (never by a GPU worker, so a slow or failing receiver cannot touch
 * transcription). Each attempt is logged in `webhook_attempts`; a 2xx answer
 * delivers, anything else throws so BullMQ retries on the webhook schedule.
 */
import { type Job, UnrecoverableError, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Config } from '../core/config.js';
import { coerceError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { ServiceMetrics } from '../core/metrics.js';
import type { ReceiverPolicy } from './receiver-address.js';
import { retryDelayMs, type WebhookJobData } from './webhook-queue.js';
import { CALLBACK_ENDPOINT_ID, type WebhookRepository } from './webhook.repository.js';
import { sendWebhook } from './webhook-sender.js';

export interface WebhookWorkerOptions {
  /** A connection for BullMQ's blocking commands (role 'worker'). */
  connection: Redis;
  prefix: string;
  config: Config['webhooks'];
  repository: WebhookRepository;
  policy: ReceiverPolicy;
  logger: Logger;
  /** Counts attempts by outcome (meno_webhook_attempts_total). */
  metrics?: Pick<ServiceMetrics, 'webhookAttempts'>;
}

export interface WebhookWorker {
  /** Stops taking jobs and waits for attempts in flight (each ends within the attempt timeout). Idempotent. */
  close(): Promise<void>;
}

/** What one attempt did. */
export type AttemptOutcome = 'delivered' | 'retry' | 'failed' | 'skipped';

/**
 * Makes one attempt of a delivery. `lastAttempt`: no retry follows, so a
 * failure ends the delivery as failed.
 */
export async function attemptDelivery(
  deliveryId: string,
  lastAttempt: boolean,
  deps: Pick<WebhookWorkerOptions, 'repository' | 'policy' | 'config'>,
): Promise<{ outcome: AttemptOutcome; statusCode?: number; error?: string }> {
  const { repository } = deps;
  const delivery = await repository.findDelivery(deliveryId);
  // Delivered already (a job added twice), or redelivered under a newer job.
  if (!delivery || delivery.status !== 'pending') return { outcome: 'skipped' };
  const event = await repository.findEvent(delivery.eventId);
  if (!event) {
    await repository.markFailed(deliveryId, 'the event is gone');
    return { outcome: 'failed', error: 'the event is gone' };
  }
  let url: string;
  let secrets: string[];
  if (delivery.endpointId === CALLBACK_ENDPOINT_ID) {
    url = delivery.url!;
    secrets = [await repository.projectSecret(delivery.projectId)];
  } else {
    const endpoint = await repository.findEndpointById(delivery.endpointId);
    if (!endpoint?.enabled) {
      const reason = endpoint ? 'the endpoint is disabled' : 'the endpoint was deleted';
      await repository.markFailed(deliveryId, reason);
      return { outcome: 'failed', error: reason };
    }
    url = endpoint.url;
    const rotating = endpoint.previousSecret && endpoint.previousSecretUntil && endpoint.previousSecretUntil.getTime() > Date.now();
    secrets = rotating ? [endpoint.secret, endpoint.previousSecret!] : [endpoint.secret];
  }
  const result = await sendWebhook(url, { id: event._id, payload: event.payload, secrets }, deps.policy, deps.config.timeoutMs);
  const delivered = result.error === undefined;
  await repository.recordAttempt(delivery, result, delivered ? 'delivered' : lastAttempt ? 'failed' : 'pending');
  if (delivered) return { outcome: 'delivered', statusCode: result.statusCode };
  return { outcome: lastAttempt ? 'failed' : 'retry', statusCode: result.statusCode, error: result.error };
}

export function startWebhookWorker(options: WebhookWorkerOptions): WebhookWorker {
  const log = options.logger.child({ module: 'webhooks' });
  const processor = async (job: Job<WebhookJobData>): Promise<AttemptOutcome> => {
    const lastAttempt = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
    const res = await attemptDelivery(job.data.deliveryId, lastAttempt, options);
    const line = { deliveryId: job.data.deliveryId, attempt: job.attemptsMade + 1, statusCode: res.statusCode, error: res.error };
    if (res.outcome !== 'skipped') options.metrics?.webhookAttempts.inc({ outcome: res.outcome });
    if (res.outcome === 'delivered') log.info(line, 'webhook delivered');
    else if (res.outcome === 'retry') log.warn(line, 'webhook attempt failed; will retry');
    else if (res.outcome === 'failed') log.error(line, 'webhook delivery failed for good');
    if (res.outcome === 'retry') throw new Error(res.error ?? 'delivery failed');
    if (res.outcome === 'failed') throw new UnrecoverableError(res.error ?? 'delivery failed');
    return res.outcome;
  };
  const worker = new Worker<WebhookJobData>(options.config.queueName, processor, {
    connection: options.connection,
    prefix: options.prefix,
    concurrency: options.config.concurrency,
    // An attempt lasts at most the timeout (plus a DNS lookup); the lock outlives it.
    lockDuration: Math.max(30_000, options.config.timeoutMs * 3),
    // A job that stalls (its API process died mid-attempt) is simply tried again; BullMQ's default of one stall
    // would fail it for good, leaving its delivery pending under a job id that can never be added again.
    maxStalledCount: 1000,
    // Webhook jobs name WEBHOOK_BACKOFF_TYPE; it is the only custom type this queue has.
    settings: { backoffStrategy: (attemptsMade: number) => retryDelayMs(attemptsMade, options.config) },
    autorun: true,
  });
  let failing = false;
  worker.on('error', (err) => {
    if (!failing) log.warn({ err: coerceError(err) }, 'webhook worker error (Redis away?); it resumes by itself');
    failing = true;
  });
  worker.on('ready', () => {
    failing = false;
  });
  let closing: Promise<void> | undefined;
  return {
    close: () => {
      closing ??= worker.close().catch((err: unknown) => log.warn({ err: coerceError(err) }, 'webhook worker close failed'));
      return closing;
    },
  };
}
