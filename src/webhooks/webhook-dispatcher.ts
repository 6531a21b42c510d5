/**
 * Moves events from meetings' outboxes into deliveries and deliveries into
 * the webhooks queue, on a timer in the API process. Every step is
 * idempotent (ids derived from event and receiver, job id = delivery id), so
 * a crash between steps or two API processes dispatching at once repeat work
 * without making a second delivery. MongoDB alone records events; Redis is
 * needed only to enqueue, and a delivery waits as pending until it is.
 */
import { coerceError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { type MeetingEvent, meetingEventId } from '../core/meetings/meeting-events.js';
import { publicMeetingId } from '../core/meetings/meeting-key.js';
import type { MeetingDocument, MeetingRepository } from '../core/meetings/meeting.repository.js';
import { buildPayload } from './webhook-payload.js';
import type { WebhookQueue } from './webhook-queue.js';
import { CALLBACK_ENDPOINT_ID, deliveryIdFor, type WebhookRepository } from './webhook.repository.js';

export interface WebhookDispatcherOptions {
  meetings: Pick<MeetingRepository, 'withPendingEvents' | 'clearPendingEvents' | 'listByProject'>;
  repository: WebhookRepository;
  queue: Pick<WebhookQueue, 'add'>;
  /** Time between passes, ms. */
  intervalMs: number;
  /** At most one progress event per meeting per this long, ms. */
  progressIntervalMs: number;
  /** A pending delivery's job is added again this long after the last add (in case Redis lost it). @defaultValue 60 × intervalMs */
  requeueAfterMs?: number;
  /** Finished deliveries, their attempts and events are removed this long after they were recorded. @defaultValue 30 days */
  keepLogMs?: number;
  logger: Logger;
}

export interface DispatchReport {
  events: number;
  enqueued: number;
  progress: number;
}

export interface WebhookDispatcher {
  /** One pass now (the timer's work); never throws. */
  runOnce(): Promise<DispatchReport | undefined>;
  /** Stops the timer and waits for a running pass. Idempotent. */
  stop(): Promise<void>;
}

/** Meetings (with events) and deliveries handled per pass. */
const PAGE = 200;

/** How often old delivery logs are pruned (FerretDB, the test stand-in, has no TTL indexes). */
const PRUNE_EVERY_MS = 3600_000;

/** Meetings (or deliveries) a pass handles at once. */
const CONCURRENCY = 8;

/** Meetings whose last progress event a dispatcher remembers. */
const PROGRESS_KEPT = 10_000;

export function startWebhookDispatcher(options: WebhookDispatcherOptions): WebhookDispatcher {
  const log = options.logger.child({ module: 'webhook-dispatcher' });
  const { meetings, repository, queue } = options;
  const requeueAfterMs = options.requeueAfterMs ?? 60 * options.intervalMs;
  const keepLogMs = options.keepLogMs ?? 30 * 24 * 3600_000;
  const lastProgress = new Map<string, { at: number; progress: number }>();
  let prunedAt = 0;
  let running: Promise<DispatchReport | undefined> | undefined;
  let stopped = false;
  const failing = { record: false, enqueue: false, prune: false };

  /** Set when an add failed in this pass (Redis away): the rest of the pass leaves adding to the enqueue step. */
  let queueFailed = false;

  const recordOutboxes = async (): Promise<number> => {
    let recorded = 0;
    await forEachLimited(await meetings.withPendingEvents(PAGE), CONCURRENCY, async (meeting) => {
      const events = meeting.pendingEvents ?? [];
      for (const event of events) {
        await recordEvent(meeting, event);
        recorded++;
      }
      await meetings.clearPendingEvents(meeting._id, events.map((e) => e.id)).catch((err: unknown) => {
        // Deleted meanwhile: its events are recorded, nothing is left to clear.
        if ((err as { code?: string }).code !== 'NOT_FOUND') throw err;
      });
    });
    return recorded;
  };

  const recordEvent = async (meeting: MeetingDocument, event: MeetingEvent, progress?: number): Promise<void> => {
    const endpoints = await repository.subscribers(meeting.projectId, event.type);
    const targets: { endpointId: string; url?: string }[] = endpoints.map((e) => ({ endpointId: e._id }));
    if (event.callbackUrl && event.type !== 'transcription.progress') targets.push({ endpointId: CALLBACK_ENDPOINT_ID, url: event.callbackUrl });
    const payload = buildPayload(meeting, event, progress);
    const meetingId = publicMeetingId(meeting);
    await repository.recordEvent({ _id: event.id, projectId: meeting.projectId, meetingId, type: event.type, payload, createdAt: event.at }, targets);
    log.debug({ eventId: event.id, type: event.type, meetingId: meeting._id, receivers: targets.length }, 'webhook event recorded');
    // Queue the new deliveries now rather than at the enqueue step; one that fails here is left to that step.
    for (const target of targets) {
      if (queueFailed) break;
      const id = deliveryIdFor(event.id, target.endpointId);
      try {
        await queue.add(id, id);
        await repository.markEnqueued(id, id);
      } catch {
        queueFailed = true;
      }
    }
  };

  const enqueuePending = async (): Promise<number> => {
    let enqueued = 0;
    await forEachLimited(await repository.deliveriesToEnqueue(new Date(Date.now() - requeueAfterMs), PAGE), CONCURRENCY, async (delivery) => {
      await queue.add(delivery._id, delivery.jobId);
      await repository.markEnqueued(delivery._id, delivery.jobId);
      enqueued++;
    });
    return enqueued;
  };

  /** Progress events: opt-in per endpoint, at most one per meeting per progressIntervalMs, only when progress moved. Not kept across restarts. */
  const emitProgress = async (): Promise<number> => {
    let emitted = 0;
    const now = Date.now();
    for (const projectId of await repository.projectsWithProgressSubscribers()) {
      for (const meeting of await meetings.listByProject(projectId, { statuses: ['processing'], limit: 100 })) {
        const last = lastProgress.get(meeting._id);
        if (last && (now - last.at < options.progressIntervalMs || last.progress === meeting.transcriptionProgress)) continue;
        const requestedAt = meeting.transcriptionRequestedAt;
        const id = meetingEventId(projectId, meeting._id, requestedAt, 'transcription.progress', String(meeting.transcriptionProgress));
        await recordEvent(meeting, { id, type: 'transcription.progress', at: new Date(now), ...(requestedAt ? { requestedAt } : {}) }, meeting.transcriptionProgress);
        lastProgress.delete(meeting._id);
        lastProgress.set(meeting._id, { at: now, progress: meeting.transcriptionProgress });
        if (lastProgress.size > PROGRESS_KEPT) lastProgress.delete(lastProgress.keys().next().value!);
        emitted++;
      }
    }
    return emitted;
  };

  /** Runs a step, logging its first failure of an outage and its recovery. */
  const step = async (name: keyof typeof failing, fn: () => Promise<number>): Promise<number> => {
    try {
      const n = await fn();
      if (failing[name]) log.info({ step: name }, 'webhook dispatch recovered');
      failing[name] = false;
      return n;
    } catch (err) {
      if (!failing[name]) log.warn({ step: name, err: coerceError(err) }, 'webhook dispatch step failed; will retry');
      failing[name] = true;
      return 0;
    }
  };

  const pass = async (): Promise<DispatchReport> => {
    queueFailed = false;
    const events = await step('record', recordOutboxes);
    const progress = await step('record', emitProgress);
    const enqueued = await step('enqueue', enqueuePending);
    if (Date.now() - prunedAt >= PRUNE_EVERY_MS) {
      const removed = await step('prune', () => repository.prune(new Date(Date.now() - keepLogMs)));
      if (!failing.prune) prunedAt = Date.now();
      if (removed) log.info({ removed, keepLogMs }, 'old webhook deliveries removed');
    }
    if (events || enqueued || progress) log.debug({ events, enqueued, progress }, 'webhook dispatch pass');
    return { events, enqueued, progress };
  };

  const runOnce = (): Promise<DispatchReport | undefined> => {
    if (stopped) return Promise.resolve(undefined);
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
    stop: async () => {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}

/** Runs `fn` on every item, at most `limit` at a time; rejects with the first error once the running ones have settled. */
async function forEachLimited<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const run = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++]!);
  };
  const results = await Promise.allSettled(Array.from({ length: Math.min(limit, items.length) }, run));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}
