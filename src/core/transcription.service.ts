import type { Config } from './config.js';
import { ConflictError, UnavailableError } from './errors.js';
import type { Logger } from './logger.js';
import type { MeetingDocument, MeetingRepository, QueueKind, TranscriptionOptions } from './meetings/meeting.repository.js';
import { isLive } from './meetings/meeting-state.js';
import { jobIdFor, routeByDuration, type TranscriptionJobData } from './queues.js';
import type { TranscriptionQueues } from './transcription-queues.js';

export type StartOptions = TranscriptionOptions;

export interface StartResult {
  jobId: string;
  queue: QueueKind;
  /**
   * 'queued': a job was added now. 'existing': a live job already existed (a second start).
   * 'deferred': Redis was unreachable; the request is recorded in MongoDB and the reconciler enqueues it.
   */
  state: 'queued' | 'existing' | 'deferred';
}

export interface ReconcileReport {
  checked: number;
  enqueued: number;
  failed: number;
}

/**
 * The rules that span meetings and queues: starting, retrying and
 * reconciling transcriptions. The intent is always written to MongoDB
 * before Redis is touched, so a Redis outage can delay a job but never lose it.
 */
export class TranscriptionService {
  private readonly log: Logger;

  constructor(
    private readonly meetings: MeetingRepository,
    private readonly queues: TranscriptionQueues,
    private readonly queueConfig: Config['queue'],
    logger: Logger,
  ) {
    this.log = logger.child({ module: 'transcription' });
  }

  /** Starts (or finds) the meeting's transcription job. Idempotent while the meeting is live. */
  async start(projectId: string, meetingId: string, options: StartOptions = {}): Promise<StartResult> {
    const meeting = await this.meetings.get(projectId, meetingId);
    if (meeting.transcriptionStatus === 'completed') throw new ConflictError(`meeting ${meetingId} is already transcribed`);
    if (meeting.transcriptionStatus === 'failed') throw new ConflictError(`meeting ${meetingId} failed; use the retry endpoint to try again`);
    const route = routeByDuration(meeting.audio.durationSec, this.queueConfig);
    const jobId = jobIdFor(meetingId);
    if (meeting.transcriptionRequestedAt) {
      const live = await this.queues.isLive(jobId).catch(() => undefined);
      if (live !== false) return { jobId, queue: meeting.queue ?? route.kind, state: live ? 'existing' : 'deferred' };
    }
    const recorded = await this.meetings.recordTranscriptionRequest(meetingId, route.kind, jobId, options);
    return this.enqueue(recorded);
  }

  /** failed → pending → a new job with the start's options; the retry resumes from the saved chunks. */
  async retry(projectId: string, meetingId: string): Promise<StartResult> {
    const meeting = await this.meetings.retry(projectId, meetingId);
    this.log.info({ meetingId, projectId }, 'transcription retry requested');
    return this.enqueue(meeting);
  }

  /**
   * Brings Redis in line with MongoDB: a live, requested meeting without a
   * live job is enqueued (after a Redis restart, an AOF loss or a start made
   * while Redis was down); one whose job BullMQ failed for good after the
   * request is marked failed (the worker could not write it, e.g. MongoDB
   * was down at that moment).
   */
  async reconcile(): Promise<ReconcileReport> {
    const report: ReconcileReport = { checked: 0, enqueued: 0, failed: 0 };
    for (const listed of await this.meetings.listRequestedLive()) {
      report.checked++;
      const status = await this.queues.getJobStatus(jobIdFor(listed._id));
      if (status && !['completed', 'failed'].includes(status.status)) continue;
      // Read the meeting again after the job: one that finished in between is no longer live.
      const meeting = await this.meetings.findById(listed._id);
      if (!meeting || !isLive(meeting.transcriptionStatus)) continue;
      const requestedAt = meeting.transcriptionRequestedAt?.getTime() ?? 0;
      const finishedAfterRequest = status?.finishedOn !== undefined && status.finishedOn >= requestedAt;
      if (status?.status === 'failed' && finishedAfterRequest) {
        await this.meetings
          .fail(meeting._id, { errorMessage: status.failedReason ?? 'job failed', attempts: status.attemptsMade, lastAttempt: new Date(status.finishedOn!) })
          .then(() => report.failed++)
          .catch((err: unknown) => this.log.warn({ err, meetingId: meeting._id }, 'reconciler could not mark meeting failed'));
        continue;
      }
      const res = await this.enqueue(meeting);
      if (res.state === 'queued') {
        report.enqueued++;
        this.log.warn({ meetingId: meeting._id, jobId: res.jobId, previous: status?.status ?? 'missing' }, 'reconciler enqueued a live meeting without a live job');
      }
    }
    return report;
  }

  /** Enqueues the meeting's job with the options stored with its request. */
  private async enqueue(meeting: MeetingDocument): Promise<StartResult> {
    const route = routeByDuration(meeting.audio.durationSec, this.queueConfig);
    const data: TranscriptionJobData = {
      meetingId: meeting._id,
      projectId: meeting.projectId,
      audioUri: meeting.audio.path,
      durationSec: meeting.audio.durationSec,
      queue: route.kind,
      timeoutMs: route.timeoutMs,
      options: meeting.transcriptionOptions ?? {},
    };
    try {
      const res = await this.queues.enqueue(data);
      return { jobId: res.jobId, queue: res.queue, state: res.created ? 'queued' : 'existing' };
    } catch (err) {
      if (!(err instanceof UnavailableError)) throw err;
      this.log.warn({ meetingId: meeting._id, err: { message: err.message } }, 'redis unavailable: transcription recorded, enqueue deferred to the reconciler');
      return { jobId: jobIdFor(meeting._id), queue: route.kind, state: 'deferred' };
    }
  }
}
