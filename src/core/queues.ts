/**
 * Queue definitions shared by the API and the workers: names, the job
 * payload, job ids, routing by duration and options from config.
 */
import type { JobsOptions, WorkerOptions } from 'bullmq';
import type { Config } from './config.js';
import type { QueueKind } from './meetings/meeting.repository.js';

export enum JobName {
  Transcribe = 'transcribe',
}

export interface TranscriptionJobData {
  meetingId: string;
  projectId: string;
  /** Local path of the audio (the guide calls it audioUri). */
  audioUri: string;
  durationSec: number;
  queue: QueueKind;
  /** Wall-clock limit for one attempt, enforced by the processor at chunk boundaries. */
  timeoutMs: number;
  options: { language?: string; task?: 'transcribe' | 'translate'; prompt?: string };
  /**
   * The meeting's transcriptionRequestedAt (ms) this job serves: a failure of
   * a job from an older request must not fail a newer one. Absent on jobs
   * enqueued before it existed.
   */
  requestedAt?: number;
  /** A client waits on this job (OpenAI-compatible endpoint): it is added at the head of the queue. */
  interactive?: boolean;
}

/** One job per meeting, named by its key (`<projectId>.<meetingId>`, see meeting-key.ts): a second start finds the same id and adds no twin. */
export function jobIdFor(meetingId: string): string {
  return `transcription-${meetingId}`;
}

export function meetingIdFromJobId(jobId: string): string | undefined {
  return jobId.startsWith('transcription-') ? jobId.slice('transcription-'.length) : undefined;
}

/** Audio longer than the threshold goes to the large queue, with a timeout that scales with duration. */
export function routeByDuration(durationSec: number, queue: Config['queue']): { kind: QueueKind; timeoutMs: number } {
  if (durationSec > queue.largeThresholdSec) {
    return { kind: 'large', timeoutMs: Math.max(queue.timeoutMs, Math.ceil(durationSec * 1000 * queue.largeTimeoutFactor)) };
  }
  return { kind: 'regular', timeoutMs: queue.timeoutMs };
}

export function queueNameFor(kind: QueueKind, queue: Config['queue']): string {
  return kind === 'large' ? queue.largeName : queue.regularName;
}

/**
 * BullMQ counts `attempts` as total tries: with attempts 3 and backoff 1 s
 * the job runs, waits 1 s, runs, waits 2 s, runs, then fails for good.
 */
export function jobOptionsFrom(queue: Config['queue']): JobsOptions {
  return {
    attempts: queue.attempts,
    backoff: { type: 'exponential', delay: queue.backoffMs },
    removeOnFail: { age: queue.failedRetentionSec },
    removeOnComplete: { count: queue.completedKeepCount },
  };
}

/** Lock and stall settings for workers. A stall costs no attempt; past maxStalledCount the job fails, so it is raised. */
export function workerOptionsFrom(config: Config): Omit<WorkerOptions, 'connection'> {
  return {
    prefix: config.queue.prefix,
    concurrency: config.worker.concurrency,
    lockDuration: config.queue.lockDurationMs,
    stalledInterval: config.queue.stalledIntervalMs,
    maxStalledCount: config.queue.maxStalledCount,
    autorun: false,
  };
}
