/**
 * The webhook parts of an API process, built and closed together: the
 * service the routes use, the dispatcher (outboxes → deliveries → queue) and
 * the delivery worker on its own Redis connection.
 */
import type { Redis } from 'ioredis';
import type { Db } from 'mongodb';
import type { Config } from '../core/config.js';
import { coerceError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { ServiceMetrics } from '../core/metrics.js';
import type { MeetingRepository } from '../core/meetings/meeting.repository.js';
import { createRedisConnection } from '../core/redis.js';
import { ReceiverPolicy } from './receiver-address.js';
import { startWebhookWorker } from './webhook-delivery.worker.js';
import { startWebhookDispatcher, type WebhookDispatcher } from './webhook-dispatcher.js';
import { WebhookQueue } from './webhook-queue.js';
import { WebhookRepository } from './webhook.repository.js';
import { WebhookService } from './webhook.service.js';

export interface WebhooksOptions {
  config: Config;
  db: Db;
  meetings: MeetingRepository;
  /** The API's producer connection (fails fast while Redis is away). */
  producer: Redis;
  logger: Logger;
  /** Run the dispatcher and the delivery worker. @defaultValue true */
  deliver?: boolean;
  metrics?: Pick<ServiceMetrics, 'webhookAttempts'>;
}

export interface Webhooks {
  service: WebhookService;
  repository: WebhookRepository;
  queue: WebhookQueue;
  dispatcher?: WebhookDispatcher;
  /** Stops dispatching and delivering (attempts in flight finish), then closes the queue and the worker's connection. Idempotent; never throws. */
  close(): Promise<void>;
}

export async function startWebhooks(options: WebhooksOptions): Promise<Webhooks> {
  const { config, logger } = options;
  const log = logger.child({ module: 'webhooks' });
  const repository = new WebhookRepository(options.db);
  await repository.ensureIndexes();
  const policy = new ReceiverPolicy(config.webhooks.allowedNetworks);
  const queue = new WebhookQueue(options.producer, config.queue.prefix, config.webhooks, config.redis.commandTimeoutMs);
  const service = new WebhookService(repository, queue, policy, logger);
  if (options.deliver === false) {
    return { service, repository, queue, close: () => queue.close() };
  }
  const dispatcher = startWebhookDispatcher({
    meetings: options.meetings,
    repository,
    queue,
    intervalMs: config.webhooks.dispatchIntervalMs,
    progressIntervalMs: config.webhooks.progressIntervalMs,
    logger,
  });
  const connection = createRedisConnection({ url: config.redis.url, role: 'worker', logger });
  const worker = startWebhookWorker({ connection, prefix: config.queue.prefix, config: config.webhooks, repository, policy, logger, metrics: options.metrics });
  let closing: Promise<void> | undefined;
  return {
    service,
    repository,
    queue,
    dispatcher,
    close: () => {
      closing ??= (async () => {
        for (const [name, step] of [
          ['dispatcher', () => dispatcher.stop()],
          ['worker', () => worker.close()],
          ['queue', () => queue.close()],
          ['connection', () => connection.quit().then(() => undefined)],
        ] as const) {
          try {
            await step();
          } catch (err) {
            if (name === 'connection') connection.disconnect();
            else log.warn({ err: coerceError(err), step: name }, 'webhook shutdown step failed');
          }
        }
      })();
      return closing;
    },
  };
}
