/**
 * The body of a webhook, in the Standard Webhooks shape `{ type, timestamp,
 * data }`. It is built once, when the event is recorded, and stored: every
 * attempt and redelivery signs and sends the same bytes.
 */
import { clientSafeMessage } from '../core/errors.js';
import type { MeetingEvent, MeetingEventType } from '../core/meetings/meeting-events.js';
import { publicMeetingId } from '../core/meetings/meeting-key.js';
import type { MeetingDocument } from '../core/meetings/meeting.repository.js';
import type { TranscriptionStatus } from '../core/meetings/meeting-state.js';

/** The status each event reports. */
const STATUS_OF_EVENT: Record<MeetingEventType, TranscriptionStatus | 'canceled'> = {
  'transcription.completed': 'completed',
  'transcription.failed': 'failed',
  'transcription.canceled': 'canceled',
  'transcription.progress': 'processing',
};

export interface WebhookPayload {
  type: MeetingEventType;
  timestamp: string;
  data: {
    eventId: string;
    projectId: string;
    meetingId: string;
    status: TranscriptionStatus;
    progress: number;
    requestedAt: string | null;
    error: { code: string | null; message: string } | null;
    /** Where the transcript is read (with an API key). */
    transcriptPath: string;
  };
}

export function buildPayload(meeting: MeetingDocument, event: Pick<MeetingEvent, 'id' | 'type' | 'at' | 'requestedAt'>, progress?: number): string {
  const failure = event.type === 'transcription.failed' ? meeting.metadata.transcription : undefined;
  const meetingId = publicMeetingId(meeting);
  const body: WebhookPayload = {
    type: event.type,
    timestamp: event.at.toISOString(),
    data: {
      eventId: event.id,
      projectId: meeting.projectId,
      meetingId,
      status: STATUS_OF_EVENT[event.type],
      progress: progress ?? (event.type === 'transcription.completed' ? 100 : meeting.transcriptionProgress),
      requestedAt: event.requestedAt ? event.requestedAt.toISOString() : null,
      error: failure ? { code: failure.code ?? null, message: clientSafeMessage(failure.errorMessage) } : null,
      transcriptPath: `/api/projects/${encodeURIComponent(meeting.projectId)}/meetings/${encodeURIComponent(meetingId)}/transcript`,
    },
  };
  return JSON.stringify(body);
}
