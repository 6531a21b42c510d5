/**
 * The events a meeting's end produces (webhooks deliver them). They are
 * recorded in the same document update as the transition that ends the
 * meeting (MeetingRepository.transition), so no crash can separate the two,
 * and their ids are derived from what they describe, so a repeat of the same
 * transition can never make a second, distinct event.
 */
import { createHash } from 'node:crypto';
import type { TranscriptionStatus } from './meeting-state.js';

export const MEETING_EVENT_TYPES = ['transcription.completed', 'transcription.failed', 'transcription.canceled', 'transcription.progress'] as const;
export type MeetingEventType = (typeof MEETING_EVENT_TYPES)[number];

/** The terminal statuses and the event each produces (keyed by name: `canceled` is a status only where cancel exists). */
const EVENT_OF_STATUS: Readonly<Record<string, MeetingEventType>> = {
  completed: 'transcription.completed',
  failed: 'transcription.failed',
  canceled: 'transcription.canceled',
};

/** An event waiting in a meeting's outbox (MeetingDocument.pendingEvents) until the webhook dispatcher takes it. */
export interface MeetingEvent {
  /** `evt_` + 32 hex digits, see meetingEventId. Sent as `webhook-id`. */
  id: string;
  type: MeetingEventType;
  at: Date;
  /** The request the event answers (transcriptionRequestedAt), absent for a meeting never started. */
  requestedAt?: Date;
  /** The start request's callbackUrl, if it had one: that URL receives the event too. */
  callbackUrl?: string;
}

/**
 * One id per (meeting, request, event type): a meeting ends at most once per
 * request (a retry or a new start records a new request time), so an id is
 * never reused for a different event and a repeated transition finds its
 * event already there. `extra` tells progress events of one request apart.
 */
export function meetingEventId(projectId: string, meetingId: string, requestedAt: Date | undefined, type: MeetingEventType, extra = ''): string {
  const key = [projectId, meetingId, requestedAt?.getTime() ?? 0, type, extra].join('\n');
  return `evt_${createHash('sha256').update(key).digest('hex').slice(0, 32)}`;
}

/** What a meeting needs for its event to be derived. */
export interface EventSource {
  _id: string;
  projectId: string;
  transcriptionStatus: TranscriptionStatus;
  transcriptionRequestedAt?: Date;
  transcriptionOptions?: { callbackUrl?: string };
}

/**
 * The event a change from `before` to status `next` produces: one when the
 * meeting enters a terminal status it was not in, none otherwise.
 */
export function eventForTransition(before: EventSource, next: TranscriptionStatus | undefined, at: Date): MeetingEvent | undefined {
  if (!next || next === before.transcriptionStatus) return undefined;
  const type = EVENT_OF_STATUS[next];
  if (!type) return undefined;
  const requestedAt = before.transcriptionRequestedAt;
  const callbackUrl = before.transcriptionOptions?.callbackUrl;
  return {
    id: meetingEventId(before.projectId, before._id, requestedAt, type),
    type,
    at,
    ...(requestedAt ? { requestedAt } : {}),
    ...(callbackUrl ? { callbackUrl } : {}),
  };
}
