import { access, constants } from 'node:fs/promises';
import { DelayedError, type Job, UnrecoverableError, WaitingError } from 'bullmq';
import { MongoNetworkError, MongoNotConnectedError, MongoServerSelectionError, MongoTopologyClosedError } from 'mongodb';
import type { Config } from '../core/config.js';
import {
  BadAudioError,
  clientSafeMessage,
  coerceError,
  InsufficientStorageError,
  NotFoundError,
  StaleWriteError,
  ValidationError,
} from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { meetingIdOfKey } from '../core/meetings/meeting-key.js';
import type { MeetingRepository } from '../core/meetings/meeting.repository.js';
import type { SegmentRepository } from '../core/meetings/segment.repository.js';
import type { ServiceMetrics } from '../core/metrics.js';
import { routeByDuration, type TranscriptionJobData } from '../core/queues.js';
import type { AudioChunk, ChunkPlan, Transcriber } from '../inference/types.js';
import { AttemptDeadline } from './attempt-deadline.js';
import { diarizeStep } from './diarize-step.js';

export interface TranscribeProcessorDeps {
  meetings: MeetingRepository;
  segments: SegmentRepository;
  transcriber: Pick<Transcriber, 'transcribe' | 'diarize'>;
  /** Routing thresholds and time limits, to give an attempt the limit of the audio's real duration. */
  queueConfig: Config['queue'];
  /** Aborted when the process shuts down: the job is handed back at the next chunk boundary. */
  shutdownSignal: AbortSignal;
  /** How long a job waits when MongoDB cannot be reached or a folder is full (no attempt is spent). @defaultValue config JOB_BACKOFF_MS × 2 */
  outageRetryDelayMs: number;
  metrics?: ServiceMetrics;
  logger: Logger;
}

export interface TranscribeResult {
  /** Why nothing was done, when the meeting was no longer live. */
  skipped?: string;
  chunks: number;
  chunksResumed: number;
  segments: number;
}

/** The timeout error of one attempt; retried like any other failure. */
export class JobTimeoutError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/**
 * The BullMQ processor: orchestration only (inference runs on its own
 * thread). Per job: claim the meeting (new epoch); decode the audio once and
 * plan its chunks (or reuse the stored plan), every stage abortable; skip
 * the checkpointed chunks, then for each transcribed chunk save its segments,
 * its checkpoint and the progress, all fenced by the epoch.
 */
export function createTranscribeProcessor(deps: TranscribeProcessorDeps) {
  return async function transcribe(job: Job<TranscriptionJobData>, token?: string, jobSignal?: AbortSignal): Promise<TranscribeResult> {
    const { meetingId, queue } = job.data;
    const attempt = job.attemptsMade + 1;
    const maxAttempts = job.opts.attempts ?? 1;
    // Logs name the meeting as its clients do (its id and project), not by its key.
    const log = deps.logger.child({ jobId: job.id, meetingId: meetingIdOfKey(job.data.projectId, meetingId), projectId: job.data.projectId, queue, attempt });
    const startedAt = Date.now();

    const deadline = new AttemptDeadline(job.data.timeoutMs);
    const signal = AbortSignal.any([deps.shutdownSignal, deadline.signal, ...(jobSignal ? [jobSignal] : [])]);
    let epoch: number | undefined;
    let savedSegments = 0;
    let audioDone = 0;
    try {
      const claim = await deps.meetings.claim(meetingId);
      if (!claim) {
        const meeting = await deps.meetings.findById(meetingId);
        if (!meeting) throw new UnrecoverableError(`meeting ${meetingId} does not exist`);
        log.info({ status: meeting.transcriptionStatus }, 'meeting is no longer live; job has nothing to do');
        return { skipped: `meeting is ${meeting.transcriptionStatus}`, chunks: 0, chunksResumed: 0, segments: 0 };
      }
      epoch = claim.epoch;
      log.info({ epoch, resumedChunks: claim.doneChunks.length, progress: claim.progress, maxAttempts }, 'job started');
      await assertReadable(job.data.audioUri);
      // A resumed job reuses the first pickup's plan: same chunk indices, and no second VAD pass.
      const stored = claim.meeting.plan;
      const done = new Set(claim.doneChunks);
      let planned: ChunkPlan | undefined;
      let speechSec = 0;
      let doneSec = 0;
      const onPlan = async (plan: ChunkPlan) => {
        if (!stored) await deps.meetings.recordPlan(meetingId, claim.epoch, plan);
        planned = plan;
        speechSec = sumDurations(plan.chunks);
        doneSec = sumDurations(plan.chunks.filter((c) => done.has(c.index)));
        // A header can understate the duration (or state none): the real one sets the limit.
        const route = routeByDuration(plan.durationSec, deps.queueConfig);
        if (deadline.raiseTo(route.timeoutMs)) {
          log.info(
            { declaredSec: job.data.durationSec, durationSec: plan.durationSec, timeoutMs: route.timeoutMs, routedQueue: route.kind },
            'audio is longer than its header said; the attempt gets the time limit of its real duration',
          );
        }
        log.info({ chunks: plan.chunks.length, skipping: done.size, planner: plan.planner, durationSec: plan.durationSec, reused: !!stored }, 'chunks planned');
      };

      const options = { ...job.data.options, plan: stored, onPlan, skipChunks: done, signal };
      for await (const result of deps.transcriber.transcribe(job.data.audioUri, options)) {
        const { chunk } = result;
        // Cheap early exit for a zombie; the writes below are fenced regardless.
        await deps.meetings.assertOwner(meetingId, epoch);
        await deps.segments.saveChunk(meetingId, chunk.index, epoch, result.segments);
        doneSec += chunk.end - chunk.start;
        audioDone += chunk.end - chunk.start;
        const progress = speechSec > 0 ? Math.min(99.9, (doneSec / speechSec) * 100) : 99.9;
        await deps.meetings.checkpointChunk(meetingId, epoch, chunk.index, progress, result.language);
        savedSegments += result.segments.length;
        // Not awaited: with Redis away the worker connection queues commands until it is back,
        // and the transcription goes on meanwhile (the guide's Scenario 2).
        job.updateProgress(Math.floor(progress)).catch((err: unknown) => log.debug({ err }, 'progress not sent to redis'));
        deps.metrics?.chunks.inc({ queue });
        deps.metrics?.audioSeconds.inc({ queue }, chunk.end - chunk.start);
        log.info({ chunk: chunk.index, segments: result.segments.length, progress: Math.floor(progress) }, 'chunk saved');
      }
      // The iterator can end quietly on abort; never complete a job that stopped early.
      signal.throwIfAborted();

      // Speakers, when asked for, once every chunk is saved: a failure here keeps the transcript.
      await diarizeStep({
        meetingId,
        epoch,
        audioUri: job.data.audioUri,
        options: claim.meeting.transcriptionOptions,
        existing: claim.meeting.diarization,
        transcriber: deps.transcriber,
        meetings: deps.meetings,
        signal,
        log,
      });
      signal.throwIfAborted();

      await deps.meetings.complete(meetingId, epoch);
      const wallSec = (Date.now() - startedAt) / 1000;
      deps.metrics?.jobDuration.observe({ queue, outcome: 'completed' }, wallSec);
      if (audioDone > 0) deps.metrics?.realtimeFactor.observe({ queue }, audioDone / wallSec);
      log.info({ segments: savedSegments, wallSec: round(wallSec), audioSec: round(audioDone) }, 'job completed');
      return { chunks: planned?.chunks.length ?? 0, chunksResumed: done.size, segments: savedSegments };
    } catch (thrown) {
      deps.metrics?.jobDuration.observe({ queue, outcome: 'failed' }, (Date.now() - startedAt) / 1000);
      const err = coerceError(thrown);
      const endedBy = epoch !== undefined && (err instanceof StaleWriteError || err instanceof NotFoundError) ? await endedByClient(deps.meetings, meetingId) : undefined;
      if (endedBy) {
        // The client canceled or deleted the meeting: its new epoch refused this worker's next write.
        log.info({ epoch, endedBy, segments: savedSegments }, `meeting ${endedBy} by its client; stopped at a chunk boundary`);
        return { skipped: `meeting ${endedBy}`, chunks: 0, chunksResumed: 0, segments: savedSegments };
      }
      if (deps.shutdownSignal.aborted && !deadline.expired && !(err instanceof StaleWriteError)) {
        // Graceful shutdown: give the job back now so another worker resumes it from the
        // checkpoints at once, instead of after stall detection, and without spending an attempt.
        if (token) await job.moveToWait(token);
        deps.metrics?.handBacks.inc({ queue });
        log.info({ epoch }, 'job handed back to the queue (shutdown)');
        throw new WaitingError();
      }
      if (err instanceof StaleWriteError) {
        log.warn({ epoch, err: { message: err.message } }, 'another worker took over this meeting; stopping without writing');
        throw err;
      }
      if (jobSignal?.aborted && !deadline.expired) {
        // BullMQ could not renew the lock: the job was declared stalled and belongs to the
        // queue again. Stop here, and leave the meeting to whoever picks the job up next.
        log.warn({ epoch, reason: String(jobSignal.reason) }, 'job lock lost; stopped at a chunk boundary without failing the meeting');
        throw err;
      }
      const outage = isDatabaseUnreachable(err) ? 'mongodb unreachable' : err instanceof InsufficientStorageError ? 'not enough disk space' : undefined;
      if (outage && !deadline.expired && token) {
        // MongoDB is away or a folder is full: not the job's fault, so wait and try again without
        // spending an attempt (a few short outages must not fail a meeting for good). Saved chunks stay saved.
        await job.moveToDelayed(Date.now() + deps.outageRetryDelayMs, token).catch((moveErr: unknown) => {
          // Cut off from Redis past the lock (a partition): the job is someone else's now. Say so with the meeting's id.
          log.warn({ epoch, err: { message: err.message }, moveErr: { message: (moveErr as Error).message } }, `${outage} and the job's lock is lost; stopped without writing, the queue has the job`);
          throw moveErr;
        });
        deps.metrics?.retries.inc({ queue });
        log.warn({ epoch, err: { message: err.message, name: err.name }, delayMs: deps.outageRetryDelayMs }, `${outage}; job attempt stopped and delayed without spending an attempt`);
        throw new DelayedError();
      }
      const failure = deadline.expired ? new JobTimeoutError(`attempt exceeded its time limit of ${deadline.limitMs} ms (${queue} queue)`) : err;
      // Clients read the failure (meeting error, BullMQ failedReason): no server paths; the logs keep them.
      const reported = clientSafeMessage(failure.message);
      // A language or task the model cannot do (ValidationError from the engine) fails the same way every time.
      const permanent = err instanceof BadAudioError || err instanceof UnrecoverableError || err instanceof NotFoundError || err instanceof ValidationError;
      const last = permanent || attempt >= maxAttempts;
      if (last && epoch === undefined) {
        log.error({ err: failure }, 'job failed for good before it could claim the meeting; the reconciler will mark it failed');
      } else if (last && epoch !== undefined) {
        await deps.meetings
          .fail(meetingId, { errorMessage: reported, attempts: attempt, lastAttempt: new Date(), code: (err as { code?: string }).code }, epoch)
          .catch((e: unknown) => log.warn({ err: e }, 'could not mark meeting failed now; the reconciler will'));
        log.error({ err: failure, permanent }, 'job failed for good');
      } else {
        log.warn({ err: { message: failure.message, name: failure.name } }, 'job attempt failed; will retry (meeting stays processing)');
      }
      if (permanent) throw Object.assign(new UnrecoverableError(reported), { code: (err as { code?: string }).code ?? 'UNRECOVERABLE' });
      if (reported === failure.message) throw failure;
      throw Object.assign(new Error(reported, { cause: failure }), { name: failure.name, code: (failure as { code?: string }).code });
    } finally {
      deadline.dispose();
    }
  };
}

/** 'canceled' or 'deleted' when the client ended the meeting; undefined otherwise, also when MongoDB cannot tell. */
async function endedByClient(meetings: MeetingRepository, meetingId: string): Promise<'canceled' | 'deleted' | undefined> {
  const meeting = await meetings.findById(meetingId).catch(() => undefined);
  if (meeting === null || meeting?.deletingAt) return 'deleted';
  return meeting?.transcriptionStatus === 'canceled' ? 'canceled' : undefined;
}

/** Connection-level MongoDB failures (the server is down or unreachable), as opposed to a refused write. */
function isDatabaseUnreachable(err: Error): boolean {
  return (
    err instanceof MongoNetworkError ||
    err instanceof MongoServerSelectionError ||
    err instanceof MongoNotConnectedError ||
    err instanceof MongoTopologyClosedError
  );
}

/** A missing file may be a storage mount that is briefly away: retried, unlike unreadable audio. */
async function assertReadable(path: string): Promise<void> {
  try {
    await access(path, constants.R_OK);
  } catch (err) {
    throw new Error(`audio file not readable: ${path} (${(err as NodeJS.ErrnoException).code ?? 'error'})`, { cause: err });
  }
}

function sumDurations(chunks: readonly AudioChunk[]): number {
  return chunks.reduce((sum, c) => sum + (c.end - c.start), 0);
}

function round(value: number): number {
  return Math.round(value * 100) / 100;
}
