/**
 * What the webhook routes do: endpoint registration (URLs checked by the
 * SSRF policy), the delivery log and redelivery. Errors are AppErrors.
 */
import { ConflictError, NotFoundError, UnavailableError, ValidationError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { MeetingEventType } from '../core/meetings/meeting-events.js';
import { type ReceiverPolicy, ReceiverRefusedError } from './receiver-address.js';
import type { WebhookQueue } from './webhook-queue.js';
import {
  CALLBACK_ENDPOINT_ID,
  type EndpointChanges,
  type WebhookAttempt,
  type WebhookDelivery,
  type WebhookEndpoint,
  type WebhookRepository,
} from './webhook.repository.js';

/** Endpoints one project may register. */
export const MAX_ENDPOINTS_PER_PROJECT = 20;

/** How long a rotated-out secret keeps signing beside the new one. */
export const SECRET_ROTATION_GRACE_MS = 24 * 3600_000;

export interface NewEndpoint {
  url: string;
  events: MeetingEventType[];
  enabled?: boolean;
  description?: string;
}

export class WebhookService {
  private readonly log: Logger;

  constructor(
    private readonly repository: WebhookRepository,
    private readonly queue: Pick<WebhookQueue, 'add'>,
    readonly policy: ReceiverPolicy,
    logger: Logger,
  ) {
    this.log = logger.child({ module: 'webhooks' });
  }

  /** A receiver URL as a client gave it, normalized; ValidationError when refused. */
  checkUrl(url: string, field = 'url'): string {
    try {
      return this.policy.checkUrl(url);
    } catch (err) {
      if (err instanceof ReceiverRefusedError) throw new ValidationError(`${field}: ${err.message}`);
      throw err;
    }
  }

  async create(projectId: string, input: NewEndpoint): Promise<WebhookEndpoint> {
    const url = this.checkUrl(input.url);
    if ((await this.repository.countEndpoints(projectId)) >= MAX_ENDPOINTS_PER_PROJECT) {
      throw new ConflictError(`project ${projectId} has ${MAX_ENDPOINTS_PER_PROJECT} webhook endpoints already; delete one first`);
    }
    const endpoint = await this.repository.createEndpoint({ projectId, url, events: unique(input.events), enabled: input.enabled ?? true, description: input.description });
    this.log.info({ projectId, endpointId: endpoint._id, events: endpoint.events }, 'webhook endpoint created');
    return endpoint;
  }

  list(projectId: string): Promise<WebhookEndpoint[]> {
    return this.repository.listEndpoints(projectId);
  }

  async get(projectId: string, endpointId: string): Promise<WebhookEndpoint> {
    const endpoint = await this.repository.findEndpoint(projectId, endpointId);
    if (!endpoint) throw new NotFoundError(`webhook endpoint ${endpointId} not found in project ${projectId}`);
    return endpoint;
  }

  async update(projectId: string, endpointId: string, changes: EndpointChanges): Promise<WebhookEndpoint> {
    const checked: EndpointChanges = { ...changes };
    if (changes.url !== undefined) checked.url = this.checkUrl(changes.url);
    if (changes.events !== undefined) checked.events = unique(changes.events);
    await this.get(projectId, endpointId);
    const updated = await this.repository.updateEndpoint(projectId, endpointId, checked);
    if (!updated) throw new NotFoundError(`webhook endpoint ${endpointId} not found in project ${projectId}`);
    return updated;
  }

  /** A new signing secret; the old one signs too for SECRET_ROTATION_GRACE_MS. */
  async rotateSecret(projectId: string, endpointId: string): Promise<WebhookEndpoint> {
    const rotated = await this.repository.rotateSecret(projectId, endpointId, SECRET_ROTATION_GRACE_MS);
    if (!rotated) throw new NotFoundError(`webhook endpoint ${endpointId} not found in project ${projectId}`);
    this.log.info({ projectId, endpointId, previousSecretUntil: rotated.previousSecretUntil }, 'webhook secret rotated');
    return rotated;
  }

  async remove(projectId: string, endpointId: string): Promise<void> {
    if (!(await this.repository.deleteEndpoint(projectId, endpointId))) throw new NotFoundError(`webhook endpoint ${endpointId} not found in project ${projectId}`);
    this.log.info({ projectId, endpointId }, 'webhook endpoint deleted');
  }

  /** The delivery log of an endpoint, or of the project's callbackUrl deliveries (endpoint id `callback`). */
  async deliveries(projectId: string, endpointId: string, limit: number): Promise<(WebhookDelivery & { attemptLog: WebhookAttempt[] })[]> {
    if (endpointId !== CALLBACK_ENDPOINT_ID) await this.get(projectId, endpointId);
    return this.repository.listDeliveries(projectId, endpointId, limit);
  }

  /**
   * Sends a delivery's event again (same `webhook-id` and body) under a new
   * job, whatever its status. Enqueued at once when Redis answers, else by the dispatcher.
   */
  async redeliver(projectId: string, endpointId: string, deliveryId: string): Promise<WebhookDelivery> {
    if (endpointId !== CALLBACK_ENDPOINT_ID) await this.get(projectId, endpointId);
    const delivery = await this.repository.prepareRedelivery(projectId, endpointId, deliveryId);
    if (!delivery) throw new NotFoundError(`delivery ${deliveryId} not found for webhook endpoint ${endpointId}`);
    try {
      await this.queue.add(delivery._id, delivery.jobId);
      await this.repository.markEnqueued(delivery._id, delivery.jobId);
    } catch (err) {
      if (!(err instanceof UnavailableError)) throw err;
      this.log.warn({ deliveryId, err: { message: err.message } }, 'redis unavailable: redelivery recorded, enqueued by the dispatcher later');
    }
    this.log.info({ projectId, endpointId, deliveryId, jobId: delivery.jobId }, 'webhook redelivery requested');
    return delivery;
  }

  /** The secret that signs the project's callbackUrl deliveries (made on first use). */
  callbackSecret(projectId: string): Promise<string> {
    return this.repository.projectSecret(projectId);
  }
}

function unique<T>(values: T[]): T[] {
  return [...new Set(values)];
}
