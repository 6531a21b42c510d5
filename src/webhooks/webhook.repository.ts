/**
 * All reads and writes of the webhook collections: endpoints (a project's
 * receivers), the per-project secret that signs `callbackUrl` deliveries,
 * events (the signed body, fixed once recorded, so every attempt and
 * redelivery sends the same bytes), deliveries (one per event and receiver)
 * and the attempt log.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { Collection, Db } from 'mongodb';
import type { MeetingEventType } from '../core/meetings/meeting-events.js';

/** The pseudo endpoint id of deliveries to a start request's callbackUrl. */
export const CALLBACK_ENDPOINT_ID = 'callback';

export interface WebhookEndpoint {
  /** `whep_` + 24 hex digits. */
  _id: string;
  projectId: string;
  url: string;
  events: MeetingEventType[];
  enabled: boolean;
  description?: string;
  /** `whsec_` + base64 of 24 random bytes (Standard Webhooks). Shown once, at creation or rotation. */
  secret: string;
  /** After a rotation, the old secret also signs until `previousSecretUntil`, so receivers can switch without a gap. */
  previousSecret?: string;
  previousSecretUntil?: Date;
  createdAt: Date;
  updatedAt: Date;
}

export interface WebhookEvent {
  /** The meeting event's id (`evt_...`); sent as `webhook-id`. */
  _id: string;
  projectId: string;
  meetingId: string;
  type: MeetingEventType;
  /** The exact JSON body that is signed and sent. */
  payload: string;
  createdAt: Date;
}

export type DeliveryStatus = 'pending' | 'delivered' | 'failed';

export interface WebhookDelivery {
  /** `dlv_` + 24 hex digits, derived from event and endpoint: recording an event twice makes no second delivery. */
  _id: string;
  projectId: string;
  endpointId: string;
  eventId: string;
  eventType: MeetingEventType;
  meetingId: string;
  /** The receiver of a callback delivery (endpoint deliveries use the endpoint's current URL). */
  url?: string;
  status: DeliveryStatus;
  /** The BullMQ job that delivers it now: the delivery id, then `<id>-r<n>` for the n-th redelivery. */
  jobId: string;
  redeliveries: number;
  attempts: number;
  lastStatusCode?: number;
  lastError?: string;
  /** When its job was last added to the queue; absent until it was (Redis away). */
  enqueuedAt?: Date;
  createdAt: Date;
  updatedAt: Date;
  deliveredAt?: Date;
}

export interface WebhookAttempt {
  _id: string;
  deliveryId: string;
  endpointId: string;
  projectId: string;
  eventId: string;
  /** 1 for the first attempt of the delivery (redeliveries count on). */
  attempt: number;
  statusCode?: number;
  error?: string;
  durationMs: number;
  at: Date;
}

interface ProjectSecret {
  _id: string;
  secret: string;
  createdAt: Date;
}

/** What an endpoint's owner may change. */
export type EndpointChanges = Partial<Pick<WebhookEndpoint, 'url' | 'events' | 'enabled' | 'description'>>;

export function newWebhookSecret(): string {
  return `whsec_${randomBytes(24).toString('base64')}`;
}

export function deliveryIdFor(eventId: string, endpointId: string): string {
  return `dlv_${createHash('sha256').update(`${eventId}\n${endpointId}`).digest('hex').slice(0, 24)}`;
}

export class WebhookRepository {
  private readonly endpoints: Collection<WebhookEndpoint>;
  private readonly secrets: Collection<ProjectSecret>;
  private readonly events: Collection<WebhookEvent>;
  private readonly deliveries: Collection<WebhookDelivery>;
  private readonly attempts: Collection<WebhookAttempt>;

  constructor(db: Db, private readonly now: () => Date = () => new Date()) {
    this.endpoints = db.collection<WebhookEndpoint>('webhook_endpoints');
    this.secrets = db.collection<ProjectSecret>('webhook_project_secrets');
    this.events = db.collection<WebhookEvent>('webhook_events');
    this.deliveries = db.collection<WebhookDelivery>('webhook_deliveries');
    this.attempts = db.collection<WebhookAttempt>('webhook_attempts');
  }

  async ensureIndexes(): Promise<void> {
    await this.endpoints.createIndex({ projectId: 1, createdAt: 1 }, { name: 'project_created' });
    await this.deliveries.createIndex({ endpointId: 1, createdAt: -1 }, { name: 'endpoint_created' });
    await this.deliveries.createIndex({ status: 1, enqueuedAt: 1 }, { name: 'status_enqueued' });
    await this.attempts.createIndex({ deliveryId: 1, attempt: 1 }, { name: 'delivery_attempt' });
  }

  async createEndpoint(input: Pick<WebhookEndpoint, 'projectId' | 'url' | 'events' | 'enabled' | 'description'>): Promise<WebhookEndpoint> {
    const now = this.now();
    const doc: WebhookEndpoint = {
      _id: `whep_${randomUUID().replaceAll('-', '').slice(0, 24)}`,
      projectId: input.projectId,
      url: input.url,
      events: input.events,
      enabled: input.enabled,
      ...(input.description !== undefined ? { description: input.description } : {}),
      secret: newWebhookSecret(),
      createdAt: now,
      updatedAt: now,
    };
    await this.endpoints.insertOne(doc);
    return doc;
  }

  async countEndpoints(projectId: string): Promise<number> {
    return this.endpoints.countDocuments({ projectId });
  }

  async listEndpoints(projectId: string): Promise<WebhookEndpoint[]> {
    return this.endpoints.find({ projectId }).sort({ createdAt: 1, _id: 1 }).toArray();
  }

  async findEndpoint(projectId: string, endpointId: string): Promise<WebhookEndpoint | null> {
    return this.endpoints.findOne({ _id: endpointId, projectId });
  }

  async findEndpointById(endpointId: string): Promise<WebhookEndpoint | null> {
    return this.endpoints.findOne({ _id: endpointId });
  }

  /** The project's enabled endpoints that subscribe to `type`. */
  async subscribers(projectId: string, type: MeetingEventType): Promise<WebhookEndpoint[]> {
    return this.endpoints.find({ projectId, enabled: true, events: type }).toArray();
  }

  /** Projects with an enabled endpoint subscribed to progress events. */
  async projectsWithProgressSubscribers(): Promise<string[]> {
    const docs = await this.endpoints.find({ enabled: true, events: 'transcription.progress' }, { projection: { projectId: 1 } }).toArray();
    return [...new Set(docs.map((d) => d.projectId))];
  }

  async updateEndpoint(projectId: string, endpointId: string, changes: EndpointChanges): Promise<WebhookEndpoint | null> {
    return this.endpoints.findOneAndUpdate({ _id: endpointId, projectId }, { $set: { ...changes, updatedAt: this.now() } }, { returnDocument: 'after' });
  }

  /** A new secret for the endpoint; the old one keeps signing (beside it) for `graceMs`. Null when there is no such endpoint. */
  async rotateSecret(projectId: string, endpointId: string, graceMs: number): Promise<WebhookEndpoint | null> {
    const found = await this.endpoints.findOne({ _id: endpointId, projectId });
    if (!found) return null;
    const now = this.now();
    return this.endpoints.findOneAndUpdate(
      { _id: endpointId, projectId, secret: found.secret },
      { $set: { secret: newWebhookSecret(), previousSecret: found.secret, previousSecretUntil: new Date(now.getTime() + graceMs), updatedAt: now } },
      { returnDocument: 'after' },
    );
  }

  async deleteEndpoint(projectId: string, endpointId: string): Promise<boolean> {
    return (await this.endpoints.deleteOne({ _id: endpointId, projectId })).deletedCount === 1;
  }

  /** The project's secret for callbackUrl deliveries, made on first use. */
  async projectSecret(projectId: string): Promise<string> {
    const found = await this.secrets.findOne({ _id: projectId });
    if (found) return found.secret;
    await this.secrets.updateOne({ _id: projectId }, { $setOnInsert: { secret: newWebhookSecret(), createdAt: this.now() } }, { upsert: true });
    return (await this.secrets.findOne({ _id: projectId }))!.secret;
  }

  /** Records an event and its deliveries; repeating it (same ids) adds nothing. */
  async recordEvent(event: WebhookEvent, targets: { endpointId: string; url?: string }[]): Promise<void> {
    await this.events.updateOne({ _id: event._id }, { $setOnInsert: event }, { upsert: true });
    const now = this.now();
    for (const target of targets) {
      const id = deliveryIdFor(event._id, target.endpointId);
      const delivery: WebhookDelivery = {
        _id: id,
        projectId: event.projectId,
        endpointId: target.endpointId,
        eventId: event._id,
        eventType: event.type,
        meetingId: event.meetingId,
        ...(target.url ? { url: target.url } : {}),
        status: 'pending',
        jobId: id,
        redeliveries: 0,
        attempts: 0,
        createdAt: now,
        updatedAt: now,
      };
      await this.deliveries.updateOne({ _id: id }, { $setOnInsert: delivery }, { upsert: true });
    }
  }

  async findEvent(eventId: string): Promise<WebhookEvent | null> {
    return this.events.findOne({ _id: eventId });
  }

  async findDelivery(deliveryId: string): Promise<WebhookDelivery | null> {
    return this.deliveries.findOne({ _id: deliveryId });
  }

  /**
   * Pending deliveries whose job was never added, or was added before
   * `addedBefore` (the job may have been lost with Redis data: adding it
   * again is a no-op while it exists).
   */
  async deliveriesToEnqueue(addedBefore: Date, limit: number): Promise<WebhookDelivery[]> {
    const never = await this.deliveries.find({ status: 'pending', enqueuedAt: { $exists: false } }).limit(limit).toArray();
    if (never.length >= limit) return never;
    const stale = await this.deliveries.find({ status: 'pending', enqueuedAt: { $lt: addedBefore } }).limit(limit - never.length).toArray();
    return [...never, ...stale];
  }

  async markEnqueued(deliveryId: string, jobId: string): Promise<void> {
    await this.deliveries.updateOne({ _id: deliveryId, jobId }, { $set: { enqueuedAt: this.now() } });
  }

  /** Logs one attempt and updates the delivery's status with it. */
  async recordAttempt(delivery: WebhookDelivery, result: { statusCode?: number; error?: string; durationMs: number }, status: DeliveryStatus): Promise<void> {
    const at = this.now();
    const attempt = delivery.attempts + 1;
    await this.attempts.insertOne({
      _id: randomUUID(),
      deliveryId: delivery._id,
      endpointId: delivery.endpointId,
      projectId: delivery.projectId,
      eventId: delivery.eventId,
      attempt,
      ...(result.statusCode !== undefined ? { statusCode: result.statusCode } : {}),
      ...(result.error !== undefined ? { error: result.error } : {}),
      durationMs: result.durationMs,
      at,
    });
    const set: Partial<WebhookDelivery> = { status, attempts: attempt, updatedAt: at, ...(status === 'delivered' ? { deliveredAt: at } : {}) };
    const unset: Record<string, ''> = {};
    if (result.statusCode !== undefined) set.lastStatusCode = result.statusCode;
    else unset.lastStatusCode = '';
    if (result.error !== undefined) set.lastError = result.error;
    else unset.lastError = '';
    await this.deliveries.updateOne({ _id: delivery._id }, { $set: set, ...(Object.keys(unset).length ? { $unset: unset } : {}) });
  }

  /** Ends a delivery that cannot be made (its endpoint was deleted or disabled) without an attempt. */
  async markFailed(deliveryId: string, reason: string): Promise<void> {
    await this.deliveries.updateOne({ _id: deliveryId }, { $set: { status: 'failed', lastError: reason, updatedAt: this.now() } });
  }

  /** Sets the delivery pending again under a new job id (a redelivery); null when it is not this endpoint's. */
  async prepareRedelivery(projectId: string, endpointId: string, deliveryId: string): Promise<WebhookDelivery | null> {
    const found = await this.deliveries.findOne({ _id: deliveryId, projectId, endpointId });
    if (!found) return null;
    const redeliveries = found.redeliveries + 1;
    return this.deliveries.findOneAndUpdate(
      { _id: deliveryId, redeliveries: found.redeliveries },
      { $set: { status: 'pending', redeliveries, jobId: `${deliveryId}-r${redeliveries}`, updatedAt: this.now() }, $unset: { enqueuedAt: '' } },
      { returnDocument: 'after' },
    );
  }

  /**
   * Removes deliveries recorded before `before` that are no longer pending,
   * their attempts, and events older than that; returns the deliveries removed.
   */
  async prune(before: Date): Promise<number> {
    const old = await this.deliveries.find({ createdAt: { $lt: before }, status: { $ne: 'pending' } }, { projection: { _id: 1 } }).limit(10_000).toArray();
    const ids = old.map((d) => d._id);
    if (ids.length) {
      await this.attempts.deleteMany({ deliveryId: { $in: ids } });
      await this.deliveries.deleteMany({ _id: { $in: ids } });
    }
    const pendingEvents = await this.deliveries.distinct('eventId', { status: 'pending' });
    await this.events.deleteMany({ createdAt: { $lt: before }, _id: { $nin: pendingEvents } });
    return ids.length;
  }

  /** An endpoint's deliveries, newest first, each with its attempts (oldest first). */
  async listDeliveries(projectId: string, endpointId: string, limit: number): Promise<(WebhookDelivery & { attemptLog: WebhookAttempt[] })[]> {
    const page = await this.deliveries.find({ projectId, endpointId }).sort({ createdAt: -1, _id: -1 }).limit(limit).toArray();
    if (page.length === 0) return [];
    const attempts = await this.attempts.find({ deliveryId: { $in: page.map((d) => d._id) } }).sort({ attempt: 1 }).toArray();
    return page.map((d) => ({ ...d, attemptLog: attempts.filter((a) => a.deliveryId === d._id) }));
  }
}
