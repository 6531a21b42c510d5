import type { Config } from './config.js';
import { ConflictError } from './errors.js';
import type { Logger } from './logger.js';
import type { MeetingDeletion } from './meetings/meeting-deletion.js';
import type { MeetingRepository } from './meetings/meeting.repository.js';
import type { SegmentRepository } from './meetings/segment.repository.js';
import type { ServiceMetrics } from './metrics.js';
import type { RedisLease } from './redis-lease.js';
import type { TranscriptionQueues } from './transcription-queues.js';

export interface LifecycleSweeperDeps {
  meetings: MeetingRepository;
  segments: SegmentRepository;
  deletion: MeetingDeletion;
  queues: Pick<TranscriptionQueues, 'lease'>;
  retention: Pick<Config['storage'], 'retentionAudioMs' | 'retentionTranscriptMs' | 'lifecycleSweepIntervalMs'>;
  metrics?: Pick<ServiceMetrics, 'retentionRemoved'>;
  logger: Logger;
  now?: () => Date;
}

/** What one pass did. */
export interface SweepReport {
  /** Deletes finished that had been interrupted or were waiting for a worker to let go of the job. */
  deletesFinished: number;
  /** Tombstones older than TOMBSTONE_KEEP_MS dropped (their ids are free again). */
  idsFreed: number;
  /** Retention: whole meetings deleted, and uploads removed from meetings that stay. */
  meetingsDeleted: number;
  audioRemoved: number;
}

/** Meetings each step handles per pass; the next pass goes on where this one stopped. */
const BATCH = 200;

/**
 * The data lifecycle: finishes deletes (those cut short, and those that waited
 * for a worker to stop at its chunk boundary), frees the ids of meetings
 * deleted long ago, and applies retention when configured. One API process
 * of the deployment runs it at a time (a Redis lease); a pass that fails
 * (MongoDB or Redis away) is logged and tried again at the next tick.
 */
export class LifecycleSweeper {
  private readonly log: Logger;
  private readonly now: () => Date;
  private timer?: NodeJS.Timeout;
  private running?: Promise<SweepReport | null>;
  private lease?: RedisLease;

  constructor(private readonly deps: LifecycleSweeperDeps) {
    this.log = deps.logger.child({ module: 'lifecycle' });
    this.now = deps.now ?? (() => new Date());
  }

  /** Runs a pass at every interval, while this process holds the lease. */
  start(): this {
    const intervalMs = this.deps.retention.lifecycleSweepIntervalMs;
    const lease = (this.lease = this.deps.queues.lease('lifecycle', 3 * intervalMs));
    const tick = async (): Promise<SweepReport | null> => {
      try {
        if (!(await lease.hold())) return null;
        return await this.sweep();
      } catch (err) {
        this.log.warn({ err: { message: (err as Error).message } }, 'lifecycle pass failed; will retry');
        return null;
      }
    };
    this.timer = setInterval(() => {
      this.running ??= tick().finally(() => (this.running = undefined));
    }, intervalMs);
    this.timer.unref();
    return this;
  }

  /** Stops the timer, waits for a pass in progress and hands the lease on (else another process waits for it to expire). */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
    await this.lease?.release().catch((err: unknown) => this.log.debug({ err: { message: (err as Error).message } }, 'could not release the lifecycle lease; it expires by itself'));
  }

  /** One pass; throws when MongoDB cannot be reached. */
  async sweep(): Promise<SweepReport> {
    const { meetings, segments, deletion, retention, metrics } = this.deps;
    const report: SweepReport = { deletesFinished: 0, idsFreed: 0, meetingsDeleted: 0, audioRemoved: 0 };
    for (const meeting of await meetings.unfinishedDeletes(BATCH)) {
      if ((await deletion.run(meeting)) === 'deleted') report.deletesFinished++;
    }
    const freed = await meetings.dropOldTombstones();
    await segments.dropSeals(freed);
    report.idsFreed = freed.length;

    const now = this.now().getTime();
    if (retention.retentionTranscriptMs > 0) {
      for (const meeting of await meetings.finishedBefore(new Date(now - retention.retentionTranscriptMs), { limit: BATCH })) {
        await deletion.run(meeting);
        report.meetingsDeleted++;
        metrics?.retentionRemoved.inc({ kind: 'meeting' });
      }
    }
    if (retention.retentionAudioMs > 0) {
      for (const meeting of await meetings.finishedBefore(new Date(now - retention.retentionAudioMs), { uploadsOnly: true, limit: BATCH })) {
        // Marked first: from then on no start or retry can hand the file to a worker.
        const marked = await meetings.markAudioRemoved(meeting._id).catch((err: unknown) => {
          if (err instanceof ConflictError) return null; // retried meanwhile: live again, its audio in use
          throw err;
        });
        if (!marked) continue;
        await deletion.removeUpload(marked);
        report.audioRemoved++;
        metrics?.retentionRemoved.inc({ kind: 'audio' });
      }
    }
    if (Object.values(report).some((n) => n > 0)) this.log.info(report, 'lifecycle pass');
    return report;
  }
}
