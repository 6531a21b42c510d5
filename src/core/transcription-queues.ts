import { type Job, Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Config } from './config.js';
import { UnavailableError } from './errors.js';
import { isRedisOutage } from './redis.js';
import type { Logger } from './logger.js';
import type { QueueKind } from './meetings/meeting.repository.js';
import { JobName, jobIdFor, jobOptionsFrom, queueNameFor, type TranscriptionJobData } from './queues.js';
import { RedisLease } from './redis-lease.js';

export type JobState = 'waiting' | 'active' | 'completed' | 'failed' | 'delayed' | 'prioritized' | 'waiting-children' | 'unknown';

/** The guide's `getJobStatus` shape, plus the queue the job is in. */
export interface JobStatus {
  jobId: string;
  queue: QueueKind;
  status: JobState;
  progress: number;
  failedReason: string | null;
  attemptsMade: number;
  data: TranscriptionJobData;
  /** When the job last finished (completed or failed for good), ms since the epoch. */
  finishedOn?: number;
}

/** What the reconciler needs to know of a job (see TranscriptionQueues.getJobOutcomes). */
export interface JobOutcome {
  queue: QueueKind;
  /** 'unfinished': any other state BullMQ may hold it in (waiting, active, delayed, prioritized, ... or unknown). */
  status: 'completed' | 'failed' | 'unfinished';
  failedReason: string | null;
  attemptsMade: number;
  /** When the job last finished, ms since the epoch. */
  finishedOn?: number;
  /** The request time the job serves (TranscriptionJobData.requestedAt). */
  requestedAt?: number;
}

export interface QueueCounts {
  waiting: number;
  active: number;
  completed: number;
  failed: number;
  delayed: number;
  total: number;
}

/** The guide's `getQueueMetrics` shape overall, with the same counts per queue. */
export interface QueueMetrics extends QueueCounts {
  queues: Record<QueueKind, QueueCounts & { name: string }>;
}

export interface EnqueueResult {
  jobId: string;
  queue: QueueKind;
  /** False when a live job with this id already existed (a second start). */
  created: boolean;
  /**
   * True when that live job serves an older request and did not finish within
   * a short wait (a worker between its last write and BullMQ's move to
   * failed): the reconciler adds this request's job once it has.
   */
  superseded?: boolean;
}

/**
 * A Redis command failed for a reason other than an outage (a refused
 * command, a BullMQ error about the job): waiting will not fix it. Not an
 * AppError, so its internals never reach a client as they are.
 */
export class QueueCommandError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** How long enqueue waits for a live job of an older request to finish, and how often it looks. */
const SUPERSEDED_WAIT_MS = 2000;
const SUPERSEDED_POLL_MS = 100;

const LIVE_STATES: readonly JobState[] = ['waiting', 'active', 'delayed', 'prioritized', 'waiting-children'];

/**
 * The producer side of the two transcription queues. Built on a producer
 * connection (see redis.ts), so every call fails within the command timeout
 * when Redis is away instead of hanging.
 */
export class TranscriptionQueues {
  readonly regular: Queue<TranscriptionJobData>;
  readonly large: Queue<TranscriptionJobData>;
  private readonly log: Logger;
  private closing?: Promise<void>;

  constructor(
    private readonly connection: Redis,
    private readonly config: Config['queue'],
    logger: Logger,
    private readonly timeoutMs = 1000,
  ) {
    this.log = logger.child({ module: 'queues' });
    const opts = { connection, prefix: config.prefix, defaultJobOptions: jobOptionsFrom(config) };
    this.regular = new Queue<TranscriptionJobData>(queueNameFor('regular', config), opts);
    this.large = new Queue<TranscriptionJobData>(queueNameFor('large', config), opts);
    for (const queue of [this.regular, this.large]) {
      queue.on('error', (err) => this.log.debug({ err: { message: err.message }, queue: queue.name }, 'queue error'));
    }
  }

  queue(kind: QueueKind): Queue<TranscriptionJobData> {
    return kind === 'large' ? this.large : this.regular;
  }

  /**
   * Adds the meeting's job unless a live one serves the same or a newer
   * request. A finished job left under the same id (kept for inspection) is
   * removed first, so a new request is never swallowed by BullMQ's id dedupe;
   * a live job of an older request (its worker failed the meeting for good a
   * moment ago and is about to move it to failed) is waited for briefly.
   */
  async enqueue(data: TranscriptionJobData): Promise<EnqueueResult> {
    const jobId = jobIdFor(data.meetingId);
    for (let waitedMs = 0; ; waitedMs += SUPERSEDED_POLL_MS) {
      const result = await this.bounded('enqueue', async (): Promise<EnqueueResult> => {
        const existing = await this.findJob(jobId);
        if (existing) {
          const state = (await existing.job.getState()) as JobState;
          if (LIVE_STATES.includes(state)) return { jobId, queue: existing.kind, created: false, superseded: isOlderRequest(existing.job.data, data) };
          await existing.job.remove();
        }
        // LIFO puts a job a client waits on ahead of the meetings already waiting.
        await this.queue(data.queue).add(JobName.Transcribe, data, { jobId, ...(data.interactive ? { lifo: true } : {}) });
        this.log.info({ jobId, queue: data.queue, meetingId: data.meetingId, durationSec: data.durationSec }, 'job enqueued');
        return { jobId, queue: data.queue, created: true };
      });
      if (!result.superseded || waitedMs >= SUPERSEDED_WAIT_MS) return result;
      await new Promise((resolve) => setTimeout(resolve, SUPERSEDED_POLL_MS));
    }
  }

  /** Status of a job in either queue; null when neither holds it. */
  async getJobStatus(jobId: string): Promise<JobStatus | null> {
    return this.bounded('getJobStatus', async () => {
      const found = await this.findJob(jobId);
      if (!found) return null;
      const { job, kind } = found;
      const state = (await job.getState()) as JobState;
      return {
        jobId,
        queue: kind,
        status: state,
        progress: typeof job.progress === 'number' ? job.progress : 0,
        failedReason: job.failedReason ?? null,
        attemptsMade: job.attemptsMade,
        data: job.data,
        ...(job.finishedOn ? { finishedOn: job.finishedOn } : {}),
      };
    });
  }

  /**
   * The outcome of many jobs in one pipelined round trip. For each job and
   * queue it reads the job's hash (`<prefix>:<queue>:<jobId>`, the fields
   * Job.fromId decodes) and its scores in the queue's `completed` and
   * `failed` sorted sets: BullMQ's getState checks those two first (in that
   * order), then scans the lists with LPOS, O(queue length) per job, which
   * this skips since every other state counts as unfinished here. A job is
   * taken from the regular queue when it has a hash there, as getJobStatus
   * does. null: no queue holds it. A command Redis refused for one job (a key
   * of the wrong type) or data that does not parse is that job's
   * QueueCommandError; an outage throws UnavailableError for all.
   */
  async getJobOutcomes(jobIds: readonly string[]): Promise<Map<string, JobOutcome | null | QueueCommandError>> {
    const kinds = ['regular', 'large'] as const;
    const replies = await this.bounded('getJobOutcomes', async () => {
      const pipeline = this.connection.pipeline();
      for (const jobId of jobIds) {
        for (const kind of kinds) {
          const queue = this.queue(kind);
          pipeline.hmget(queue.toKey(jobId), ...JOB_FIELDS);
          pipeline.zscore(queue.toKey('completed'), jobId);
          pipeline.zscore(queue.toKey('failed'), jobId);
        }
      }
      const results = await pipeline.exec();
      if (!results) throw new Error('the pipeline was discarded');
      const outage = results.find(([err]) => err && isRedisOutage(err));
      if (outage) throw outage[0];
      return results;
    });
    const outcomes = new Map<string, JobOutcome | null | QueueCommandError>();
    jobIds.forEach((jobId, j) => {
      let outcome: JobOutcome | null | QueueCommandError = null;
      for (const [k, kind] of kinds.entries()) {
        const [[hashErr, hash], [completedErr, completed], [failedErr, failed]] = replies.slice((j * kinds.length + k) * 3, (j * kinds.length + k + 1) * 3);
        const err = hashErr ?? completedErr ?? failedErr;
        if (err) {
          outcome = new QueueCommandError(`queue command failed (getJobOutcomes ${jobId}): ${err.message}`, { cause: err });
          break;
        }
        const fields = hash as (string | null)[];
        if (fields.every((v) => v === null)) continue;
        outcome = outcomeOf(kind, jobId, fields, completed !== null, failed !== null);
        break;
      }
      outcomes.set(jobId, outcome);
    });
    return outcomes;
  }

  /**
   * A lease in Redis under this deployment's queue prefix, on the producer
   * connection: one process of the deployment at a time holds `name`.
   */
  lease(name: string, ttlMs: number): RedisLease {
    return new RedisLease(this.connection, `${this.config.prefix}:meno-lease:${name}`, ttlMs);
  }

  /** True when the job exists and is waiting, active or delayed. */
  /**
   * Removes the job unless a worker holds it (BullMQ refuses to remove a
   * locked job; that worker is fenced off by the meeting instead).
   */
  async removeUnlessActive(jobId: string): Promise<'removed' | 'active' | 'missing'> {
    return this.bounded('removeUnlessActive', async () => {
      const found = await this.findJob(jobId);
      if (!found) return 'missing';
      if ((await found.job.getState()) === 'active') return 'active';
      try {
        await found.job.remove();
        return 'removed';
      } catch (err) {
        // Picked up between the state read and the remove.
        if ((await found.job.getState()) === 'active') return 'active';
        throw err;
      }
    });
  }

  async isLive(jobId: string): Promise<boolean> {
    const status = await this.getJobStatus(jobId);
    return !!status && LIVE_STATES.includes(status.status);
  }

  async getQueueMetrics(): Promise<QueueMetrics> {
    return this.bounded('getQueueMetrics', async () => {
      const per = {} as QueueMetrics['queues'];
      const total: QueueCounts = { waiting: 0, active: 0, completed: 0, failed: 0, delayed: 0, total: 0 };
      for (const kind of ['regular', 'large'] as const) {
        const queue = this.queue(kind);
        const c = await queue.getJobCounts('waiting', 'prioritized', 'active', 'completed', 'failed', 'delayed');
        const counts: QueueCounts = {
          waiting: (c.waiting ?? 0) + (c.prioritized ?? 0),
          active: c.active ?? 0,
          completed: c.completed ?? 0,
          failed: c.failed ?? 0,
          delayed: c.delayed ?? 0,
          total: 0,
        };
        counts.total = counts.waiting + counts.active + counts.completed + counts.failed + counts.delayed;
        per[kind] = { name: queue.name, ...counts };
        for (const key of Object.keys(total) as (keyof QueueCounts)[]) total[key] += counts[key];
      }
      return { ...total, queues: per };
    });
  }

  /** BullMQ removes expired failed jobs lazily; this sweeps those past the retention. */
  async cleanExpiredFailed(): Promise<number> {
    const graceMs = this.config.failedRetentionSec * 1000;
    let removed = 0;
    for (const queue of [this.regular, this.large]) removed += (await queue.clean(graceMs, 1000, 'failed')).length;
    return removed;
  }

  /** The producer connection the queues use, for small operator records beside them (admin sessions, worker heartbeats). */
  get redis(): Redis {
    return this.connection;
  }

  async ping(): Promise<boolean> {
    try {
      await this.bounded('ping', () => this.connection.ping());
      return true;
    } catch {
      return false;
    }
  }

  /** Idempotent. */
  close(): Promise<void> {
    this.closing ??= Promise.allSettled([this.regular.close(), this.large.close()]).then(() => undefined);
    return this.closing;
  }

  private async findJob(jobId: string): Promise<{ job: Job<TranscriptionJobData>; kind: QueueKind } | null> {
    for (const kind of ['regular', 'large'] as const) {
      const job = await this.queue(kind).getJob(jobId);
      if (job) return { job, kind };
    }
    return null;
  }

  /**
   * Runs a Redis call with a hard deadline. An outage (see isRedisOutage) or
   * the deadline becomes UnavailableError, which callers wait out; anything
   * else becomes QueueCommandError, which they must not.
   */
  private async bounded<T>(what: string, fn: () => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Error(`timed out after ${this.timeoutMs} ms`);
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(timedOut), this.timeoutMs);
    });
    try {
      return await Promise.race([fn(), deadline]);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      if (err === timedOut || isRedisOutage(err)) throw new UnavailableError(`queue unavailable (${what}): ${message}`, { cause: err });
      throw new QueueCommandError(`queue command failed (${what}): ${message}`, { cause: err });
    } finally {
      clearTimeout(timer);
    }
  }
}

/** The job hash fields getJobOutcomes reads; attemptsMade is stored as `atm` by newer BullMQ scripts. */
const JOB_FIELDS = ['name', 'data', 'failedReason', 'attemptsMade', 'atm', 'finishedOn'] as const;

function outcomeOf(kind: QueueKind, jobId: string, fields: (string | null)[], completed: boolean, failed: boolean): JobOutcome | QueueCommandError {
  const [, data, failedReason, attemptsMade, atm, finishedOn] = fields;
  let requestedAt: unknown;
  try {
    requestedAt = (JSON.parse(data ?? '{}') as Partial<TranscriptionJobData>).requestedAt;
  } catch (err) {
    return new QueueCommandError(`queue command failed (getJobOutcomes ${jobId}): job data is not JSON`, { cause: err });
  }
  return {
    queue: kind,
    status: completed ? 'completed' : failed ? 'failed' : 'unfinished',
    // As BullMQ's rawToJobJson and Job.fromJSON decode them.
    failedReason: failedReason || null,
    attemptsMade: parseInt(attemptsMade || atm || '0', 10),
    ...(finishedOn ? { finishedOn: parseInt(finishedOn, 10) } : {}),
    ...(typeof requestedAt === 'number' ? { requestedAt } : {}),
  };
}

/** Whether `live` was enqueued for an earlier client request than `next` (jobs from before requestedAt existed count as the same). */
function isOlderRequest(live: TranscriptionJobData, next: TranscriptionJobData): boolean {
  return live.requestedAt !== undefined && next.requestedAt !== undefined && live.requestedAt < next.requestedAt;
}
