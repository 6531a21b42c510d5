import { rm, rmdir } from 'node:fs/promises';
import { dirname, resolve, sep } from 'node:path';
import { NotFoundError, UnavailableError } from '../errors.js';
import type { Logger } from '../logger.js';
import { jobIdFor } from '../queues.js';
import { QueueCommandError, type TranscriptionQueues } from '../transcription-queues.js';
import { publicMeetingId } from './meeting-key.js';
import type { MeetingDocument, MeetingRepository } from './meeting.repository.js';
import type { SegmentRepository } from './segment.repository.js';

export interface MeetingDeletionDeps {
  meetings: MeetingRepository;
  segments: SegmentRepository;
  queues: Pick<TranscriptionQueues, 'removeUnlessActive'>;
  /** STORAGE_DIR: uploads under it are removed with their meeting; files elsewhere (AUDIO_ROOT) are the operator's and stay. */
  storageDir: string;
  logger: Logger;
}

/**
 * 'deleted': nothing of the meeting is left. 'deleting': hidden and its data
 * removed, but a worker still holds its job; the lifecycle sweeper finishes
 * the delete once that worker has stopped (at its next chunk boundary).
 */
export type DeleteOutcome = 'deleted' | 'deleting';

/**
 * Deletes meetings: the audio upload, the segments, the BullMQ job and the
 * meeting itself, leaving a tombstone that keeps the id taken. Every step is
 * idempotent, so a delete cut short (the process died, Redis was away) is
 * finished by running it again, by the client or by the lifecycle sweeper.
 */
export class MeetingDeletion {
  private readonly log: Logger;

  constructor(private readonly deps: MeetingDeletionDeps) {
    this.log = deps.logger.child({ module: 'deletion' });
  }

  /** Deletes the project's meeting; a meeting deleted before counts as deleted, one it never had is NotFoundError. */
  async delete(projectId: string, meetingId: string): Promise<DeleteOutcome> {
    const meeting = await this.deps.meetings.find(projectId, meetingId);
    if (!meeting) {
      if (await this.deps.meetings.findTombstone(projectId, meetingId)) return 'deleted';
      throw new NotFoundError(`meeting ${meetingId} not found in project ${projectId}`);
    }
    return this.run(meeting);
  }

  /**
   * The steps, in an order that lets a worker still transcribing the meeting
   * write nothing that outlives them: the fence first (a new epoch, and the
   * tombstone), then the segments under sealed chunk fences, the audio, the
   * job, and the meeting document last.
   */
  async run(meeting: MeetingDocument): Promise<DeleteOutcome> {
    const { meetings, segments } = this.deps;
    const fenced = await meetings.beginDelete(meeting._id);
    const removedSegments = await segments.deleteMeeting(meeting._id, fenced.plan?.chunks.map((c) => c.index) ?? []);
    await this.removeUpload(fenced);
    const job = await this.deps.queues.removeUnlessActive(fenced.jobId ?? jobIdFor(fenced._id)).catch((err: unknown) => {
      if (err instanceof UnavailableError || err instanceof QueueCommandError) return 'unknown' as const;
      throw err;
    });
    const line = { meetingId: publicMeetingId(fenced), projectId: fenced.projectId, segments: removedSegments, job };
    if (job === 'active' || job === 'unknown') {
      this.log.info(line, 'meeting hidden and its data removed; the delete finishes once its job is gone');
      return 'deleting';
    }
    await meetings.finishDelete(fenced._id);
    this.log.info(line, 'meeting deleted');
    return 'deleted';
  }

  /** Removes a stored upload and its folder (`<STORAGE_DIR>/<project>/<meeting>/`); never a file outside STORAGE_DIR. */
  async removeUpload(meeting: MeetingDocument): Promise<boolean> {
    if (meeting.audio.source !== 'upload') return false;
    const root = resolve(this.deps.storageDir) + sep;
    const path = resolve(meeting.audio.path);
    if (!path.startsWith(root)) {
      this.log.warn({ meetingId: publicMeetingId(meeting), projectId: meeting.projectId, path }, 'stored audio is outside STORAGE_DIR; left in place');
      return false;
    }
    await rm(path, { force: true });
    await rmdir(dirname(path)).catch(() => {});
    return true;
  }
}
