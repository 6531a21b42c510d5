import type { Config } from './config.js';
import { AppError, ConflictError, UnavailableError } from './errors.js';
import type { Logger } from './logger.js';
import type { MeetingDocument, MeetingRepository, QueueKind, RequestedMeeting, TranscriptionOptions } from './meetings/meeting.repository.js';
import { publicMeetingId } from './meetings/meeting-key.js';
import { isLive } from './meetings/meeting-state.js';
import { jobIdFor, routeByDuration, type TranscriptionJobData } from './queues.js';
import { type JobOutcome, type JobStatus, QueueCommandError, type TranscriptionQueues } from './transcription-queues.js';

export type StartOptions = TranscriptionOptions;

export interface StartResult {
  jobId: string;
  queue: QueueKind;
  /**
   * 'queued': a job was added now. 'existing': a live job already existed (a second start).
   * 'deferred': recorded in MongoDB, enqueued later by the reconciler: Redis was unreachable, or the
   * job of the previous request was still finishing.
   */
  state: 'queued' | 'existing' | 'deferred';
}

export interface ReconcileReport {
  checked: number;
  enqueued: number;
  failed: number;
  /** Pages of meetings listed. */
  pages: number;
  /** False when `beforePage` ended the pass early. */
  finished: boolean;
}

export interface ReconcileOptions {
  /** Meetings listed and looked up in Redis at a time. @defaultValue 500 */
  pageSize?: number;
  /** Called before every page after the first; false ends the pass there (the caller lost its lease, or stops). */
  beforePage?: () => boolean | Promise<boolean>;
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
    assertAudioKept(meeting);
    const route = routeByDuration(meeting.audio.durationSec, this.queueConfig);
    const jobId = jobIdFor(meeting._id);
    // A canceled meeting's job may still be finishing its chunk: that job is not this start's.
    if (meeting.transcriptionRequestedAt && isLive(meeting.transcriptionStatus)) {
      const live = await this.queues.isLive(jobId).catch((err: unknown) => {
        if (err instanceof UnavailableError) return undefined;
        throw err;
      });
      if (live !== false) return { jobId, queue: meeting.queue ?? route.kind, state: live ? 'existing' : 'deferred' };
    }
    const recorded = await this.meetings.recordTranscriptionRequest(meeting._id, route.kind, jobId, options);
    return this.enqueueRequest(recorded);
  }

  /** failed → pending → a new job with the start's options; the retry resumes from the saved chunks. */
  async retry(projectId: string, meetingId: string): Promise<StartResult> {
    assertAudioKept(await this.meetings.get(projectId, meetingId));
    const meeting = await this.meetings.retry(projectId, meetingId);
    this.log.info({ meetingId, projectId }, 'transcription retry requested');
    return this.enqueueRequest(meeting);
  }

  /**
   * Cancels a pending or running transcription: the meeting turns canceled
   * (a new epoch, which stops its worker at the next chunk boundary without
   * another write), and a job no worker holds yet is removed. Saved chunks
   * stay; a later start resumes from them. With Redis away the job stays,
   * and the worker that takes it finds nothing to do.
   */
  async cancel(projectId: string, meetingId: string): Promise<{ status: 'canceled'; job: 'removed' | 'active' | 'missing' | 'unknown' }> {
    const meeting = await this.meetings.cancel(projectId, meetingId);
    const job = await this.queues.removeUnlessActive(meeting.jobId ?? jobIdFor(meeting._id)).catch((err: unknown) => {
      if (err instanceof UnavailableError || err instanceof QueueCommandError) return 'unknown' as const;
      throw err;
    });
    this.log.info({ meetingId, projectId, job }, 'transcription canceled');
    return { status: 'canceled', job };
  }

  /**
   * Brings Redis in line with MongoDB: a live, requested meeting without a
   * live job is enqueued (after a Redis restart, an AOF loss or a start made
   * while Redis was down); one whose job BullMQ failed for good after the
   * request is marked failed (the worker could not write it, e.g. MongoDB
   * was down at that moment). Every such meeting is visited: they are listed
   * in pages by id, and each page's jobs are read from Redis in one round
   * trip; only meetings without an unfinished job cost more (a read and an
   * enqueue each).
   */
  async reconcile(options: ReconcileOptions = {}): Promise<ReconcileReport> {
    const pageSize = options.pageSize ?? 500;
    const report: ReconcileReport = { checked: 0, enqueued: 0, failed: 0, pages: 0, finished: true };
    for await (const page of this.meetings.requestedLivePages(pageSize)) {
      if (report.pages > 0 && options.beforePage && !(await options.beforePage())) {
        report.finished = false;
        break;
      }
      report.pages++;
      const jobs = await this.queues.getJobOutcomes(page.map((m) => jobIdFor(m._id))).catch((err: unknown) => {
        // A refusal of the whole batch: look the page's jobs up one by one, so a refusal fails only its meeting.
        if (err instanceof QueueCommandError) return undefined;
        throw err;
      });
      for (const listed of page) {
        report.checked++;
        try {
          const job = jobs ? jobs.get(jobIdFor(listed._id)) : outcomeOf(await this.queues.getJobStatus(jobIdFor(listed._id)));
          if (job instanceof QueueCommandError) throw job;
          await this.reconcileMeeting(listed._id, job ?? null, report);
        } catch (err) {
          // An outage ends the pass (the next one retries); a refused command fails only its meeting.
          if (!(err instanceof QueueCommandError)) throw err;
          if (await this.failRefused(listed, err)) report.failed++;
        }
      }
    }
    return report;
  }

  private async reconcileMeeting(meetingId: string, status: JobOutcome | null, report: ReconcileReport): Promise<void> {
    if (status?.status === 'unfinished') return;
    // Read the meeting again after the job: one that finished in between is no longer live.
    const meeting = await this.meetings.findById(meetingId);
    if (!meeting || !isLive(meeting.transcriptionStatus)) return;
    if (status?.status === 'failed' && answersRequest(status, meeting.transcriptionRequestedAt)) {
      const failure = { errorMessage: status.failedReason ?? 'job failed', attempts: status.attemptsMade, lastAttempt: new Date(status.finishedOn!) };
      await this.meetings
        .failRequest(meeting._id, failure, meeting.transcriptionRequestedAt)
        .then((failed) => (report.failed += failed ? 1 : 0))
        .catch((err: unknown) => this.log.warn({ err, meetingId: publicMeetingId(meeting), projectId: meeting.projectId }, 'reconciler could not mark meeting failed'));
      return;
    }
    const res = await this.enqueue(meeting);
    if (res.state === 'queued') {
      report.enqueued++;
      this.log.warn({ meetingId: publicMeetingId(meeting), projectId: meeting.projectId, jobId: res.jobId, previous: status?.status ?? 'missing' }, 'reconciler enqueued a live meeting without a live job');
    }
  }

  /**
   * enqueue() for a client's start or retry: a command Redis or BullMQ
   * refused fails the meeting at once (waiting would not help) and answers
   * QUEUE_REFUSED.
   */
  private async enqueueRequest(meeting: MeetingDocument): Promise<StartResult> {
    try {
      return await this.enqueue(meeting);
    } catch (err) {
      if (!(err instanceof QueueCommandError)) throw err;
      await this.failRefused(meeting, err);
      throw new AppError('QUEUE_REFUSED', 500, `meeting ${publicMeetingId(meeting)}: ${QUEUE_REFUSED_MESSAGE}; the meeting is marked failed`);
    }
  }

  /** Enqueues the meeting's job with the options stored with its request; a Redis outage defers it. */
  private async enqueue(meeting: MeetingDocument): Promise<StartResult> {
    const route = routeByDuration(meeting.audio.durationSec, this.queueConfig);
    // The callback URL is for the webhook dispatcher, not the decoder.
    const { callbackUrl: _callbackUrl, ...options } = meeting.transcriptionOptions ?? {};
    const data: TranscriptionJobData = {
      meetingId: meeting._id,
      projectId: meeting.projectId,
      audioUri: meeting.audio.path,
      durationSec: meeting.audio.durationSec,
      queue: route.kind,
      timeoutMs: route.timeoutMs,
      options,
      ...(meeting.transcriptionRequestedAt ? { requestedAt: meeting.transcriptionRequestedAt.getTime() } : {}),
      ...(meeting.interactive ? { interactive: true } : {}),
    };
    try {
      const res = await this.queues.enqueue(data);
      if (res.superseded) {
        this.log.info({ meetingId: publicMeetingId(meeting), projectId: meeting.projectId, jobId: res.jobId }, 'the previous request\'s job is still finishing; the reconciler enqueues this one');
        return { jobId: res.jobId, queue: route.kind, state: 'deferred' };
      }
      return { jobId: res.jobId, queue: res.queue, state: res.created ? 'queued' : 'existing' };
    } catch (err) {
      if (!(err instanceof UnavailableError)) throw err;
      this.log.warn({ meetingId: publicMeetingId(meeting), projectId: meeting.projectId, err: { message: err.message } }, 'redis unavailable: transcription recorded, enqueue deferred to the reconciler');
      return { jobId: jobIdFor(meeting._id), queue: route.kind, state: 'deferred' };
    }
  }

  /** Fails the meeting's current request after Redis or BullMQ refused a command for it; the detail goes to the log only. */
  private async failRefused(meeting: RequestedMeeting, err: QueueCommandError): Promise<boolean> {
    this.log.error({ err, meetingId: meeting._id }, 'the queue refused a command for this meeting; marking it failed');
    const failure = { errorMessage: QUEUE_REFUSED_MESSAGE, attempts: 0, lastAttempt: new Date(), code: 'QUEUE_REFUSED' };
    return this.meetings.failRequest(meeting._id, failure, meeting.transcriptionRequestedAt);
  }
}

/** A meeting whose upload retention removed can never be transcribed again. */
function assertAudioKept(meeting: MeetingDocument): void {
  if (meeting.audio.removedAt) {
    throw new ConflictError(`meeting ${publicMeetingId(meeting)}: its audio was removed by retention on ${meeting.audio.removedAt.toISOString()}; upload it again as a new meeting`);
  }
}

const QUEUE_REFUSED_MESSAGE = 'the job queue refused this transcription (the server log has the detail); retry it once the operator has looked';

/**
 * Whether a failed job answers the meeting's current request. Jobs carry the
 * request time they were enqueued for; older jobs without it count when they
 * finished after the request.
 */
function answersRequest(status: JobOutcome, requestedAt: Date | undefined): boolean {
  const requested = requestedAt?.getTime() ?? 0;
  if (status.requestedAt !== undefined) return status.requestedAt >= requested;
  return status.finishedOn !== undefined && status.finishedOn >= requested;
}

/** A job's status as getJobOutcomes reports it. */
function outcomeOf(status: JobStatus | null): JobOutcome | null {
  if (!status) return null;
  return {
    queue: status.queue,
    status: status.status === 'completed' || status.status === 'failed' ? status.status : 'unfinished',
    failedReason: status.failedReason,
    attemptsMade: status.attemptsMade,
    ...(status.finishedOn !== undefined ? { finishedOn: status.finishedOn } : {}),
    ...(status.data.requestedAt !== undefined ? { requestedAt: status.data.requestedAt } : {}),
  };
}
