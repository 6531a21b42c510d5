import { type Collection, type Db, MongoServerError } from 'mongodb';
import { ConflictError, NotFoundError, StaleWriteError } from '../errors.js';
import { canTransition, isLive, type TranscriptionStatus } from './meeting-state.js';

export type QueueKind = 'regular' | 'large';

/** What a client may ask of a transcription at start. */
export interface TranscriptionOptions {
  language?: string;
  task?: 'transcribe' | 'translate';
  /** Vocabulary hint put before every window (see TranscribeOptions.prompt). */
  prompt?: string;
}

/** The options without undefined fields (MongoDB would store them as null). */
function definedOnly(options: TranscriptionOptions): TranscriptionOptions {
  return Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as TranscriptionOptions;
}

export interface MeetingAudio {
  /** Absolute path of the audio file the worker reads (stored upload or a file under AUDIO_ROOT). */
  path: string;
  source: 'upload' | 'uri';
  durationSec: number;
  sizeBytes: number;
  sha256: string;
  codec: string;
  formatName: string;
}

export interface FailureMetadata {
  errorMessage: string;
  /** Attempts made when the job failed for good. */
  attempts: number;
  lastAttempt: Date;
  /** Stable error code (e.g. BAD_AUDIO) when one is known. */
  code?: string;
}

export interface MeetingDocument {
  /** The client's meeting id; unique across projects. */
  _id: string;
  projectId: string;
  audio: MeetingAudio;
  transcriptionStatus: TranscriptionStatus;
  /** Share of the audio transcribed, 0-100; never decreases within one transcription. */
  transcriptionProgress: number;
  /** Bumped at every pickup by a worker; a write carrying an older epoch (a zombie's) is refused. */
  epoch: number;
  /** Bumped at every change; see MeetingRepository's compare-and-set. */
  version: number;
  /** Set when a client asked for a transcription; the reconciler re-enqueues live meetings that have it. */
  transcriptionRequestedAt?: Date;
  /**
   * The start request's options (language, task), kept with the request so
   * that every later enqueue (retry, deferred start, reconciler) decodes the
   * same way as the first.
   */
  transcriptionOptions?: TranscriptionOptions;
  queue?: QueueKind;
  jobId?: string;
  /** A client waits on the answer (the OpenAI-compatible endpoint): its jobs go ahead of waiting meetings. */
  interactive?: boolean;
  language?: string;
  /**
   * The chunk plan of the first pickup. Later pickups reuse it instead of
   * planning again: checkpoints are chunk indices, so every worker (whatever
   * its VAD version or settings) must cut the audio the same way.
   */
  plan?: StoredPlan;
  /** Chunk checkpoints: indices whose segments are saved. Written after the segments. */
  doneChunks: number[];
  createdAt: Date;
  updatedAt: Date;
  startedAt?: Date;
  completedAt?: Date;
  metadata: { transcription?: FailureMetadata };
}

export interface StoredPlan {
  planner: 'vad' | 'fixed';
  durationSec: number;
  /** `pieces`: the stretches a packed chunk joins (see AudioChunk). */
  chunks: { index: number; start: number; end: number; pieces?: { start: number; end: number }[] }[];
}

export interface MeetingListQuery {
  statuses?: TranscriptionStatus[];
  /** Created at or after this time. */
  createdFrom?: Date;
  /** Created before this time. */
  createdBefore?: Date;
  /** The last meeting of the previous page. */
  after?: { createdAt: Date; id: string };
  limit: number;
}

export interface NewMeeting {
  id: string;
  projectId: string;
  audio: MeetingAudio;
  /** See MeetingDocument.interactive. */
  interactive?: boolean;
}

/** What a worker gets when it picks a meeting up: the epoch that fences its writes and the checkpoints to skip. */
export interface Claim {
  epoch: number;
  doneChunks: number[];
  progress: number;
  meeting: MeetingDocument;
}

/** One entry of a meeting's change log: the version it created and the fields it set. */
interface MeetingChange {
  _id: string;
  meetingId: string;
  version: number;
  set: Partial<MeetingDocument>;
  unset?: string[];
  action: string;
  at: Date;
}

type Decision = { set: Partial<MeetingDocument>; unset?: string[] } | null;

/** How often a transition re-reads and retries after losing a race before it gives up. */
const MAX_TRANSITION_TRIES = 50;

/**
 * All reads and writes of the `meetings` collection.
 *
 * Every change after creation is a compare-and-set on the meeting's
 * `version`: the writer first claims the next version by inserting a
 * `meeting_changes` entry whose `_id` is `<meetingId>:<version>`. The unique
 * `_id` lets exactly one writer win each version, also on FerretDB, whose
 * conditional updates are a read followed by a whole-document replace (two
 * racing writers could otherwise both "win" and erase each other's fields).
 * The entry holds the new field values, so if its writer dies before applying
 * it, the next writer applies it first (roll-forward). On MongoDB the apply
 * step is additionally atomic on `version`.
 */
export class MeetingRepository {
  private readonly meetings: Collection<MeetingDocument>;
  private readonly changes: Collection<MeetingChange>;

  constructor(db: Db, private readonly now: () => Date = () => new Date()) {
    this.meetings = db.collection<MeetingDocument>('meetings');
    this.changes = db.collection<MeetingChange>('meeting_changes');
  }

  async ensureIndexes(): Promise<void> {
    await this.meetings.createIndex({ projectId: 1, createdAt: 1 }, { name: 'project_created' });
    await this.meetings.createIndex({ transcriptionStatus: 1, transcriptionRequestedAt: 1 }, { name: 'status_requested' });
    await this.changes.createIndex({ meetingId: 1, version: 1 }, { name: 'meeting_version' });
  }

  async create(input: NewMeeting): Promise<MeetingDocument> {
    const now = this.now();
    const doc: MeetingDocument = {
      _id: input.id,
      projectId: input.projectId,
      audio: input.audio,
      transcriptionStatus: 'pending',
      transcriptionProgress: 0,
      epoch: 0,
      version: 0,
      doneChunks: [],
      createdAt: now,
      updatedAt: now,
      metadata: {},
      ...(input.interactive ? { interactive: true } : {}),
    };
    try {
      await this.meetings.insertOne(doc);
    } catch (err) {
      if (isDuplicateKey(err)) throw new ConflictError(`meeting ${input.id} already exists`, { cause: err });
      throw err;
    }
    return doc;
  }

  /** The meeting, only if it belongs to the project; NotFoundError otherwise (no hint that it exists elsewhere). */
  async get(projectId: string, meetingId: string): Promise<MeetingDocument> {
    const doc = await this.meetings.findOne({ _id: meetingId, projectId });
    if (!doc) throw new NotFoundError(`meeting ${meetingId} not found in project ${projectId}`);
    return doc;
  }

  async findById(meetingId: string): Promise<MeetingDocument | null> {
    return this.meetings.findOne({ _id: meetingId });
  }

  /**
   * Records the client's intent before anything reaches Redis, so that a
   * Redis outage cannot lose it: the reconciler enqueues from here.
   */
  async recordTranscriptionRequest(meetingId: string, queue: QueueKind, jobId: string, options: TranscriptionOptions = {}): Promise<MeetingDocument> {
    return this.transition(meetingId, 'request', (m) => {
      if (!isLive(m.transcriptionStatus)) throw new ConflictError(`meeting ${meetingId} is ${m.transcriptionStatus}; it cannot be started again`);
      return { set: { queue, jobId, transcriptionRequestedAt: this.now(), transcriptionOptions: definedOnly(options) } };
    });
  }

  /** pending|processing → processing with a new epoch. Null when the meeting is no longer live (completed, failed or gone). */
  async claim(meetingId: string): Promise<Claim | null> {
    try {
      const doc = await this.transition(meetingId, 'claim', (m) => {
        if (!canTransition(m.transcriptionStatus, 'claim')) return null;
        return { set: { transcriptionStatus: 'processing', epoch: m.epoch + 1, startedAt: m.startedAt ?? this.now() } };
      });
      if (doc.transcriptionStatus !== 'processing') return null;
      return { epoch: doc.epoch, doneChunks: [...doc.doneChunks].sort((a, b) => a - b), progress: doc.transcriptionProgress, meeting: doc };
    } catch (err) {
      if (err instanceof NotFoundError) return null;
      throw err;
    }
  }

  /** Records the chunk plan (once: a stored plan is never replaced). Fenced. */
  async recordPlan(meetingId: string, epoch: number, plan: StoredPlan): Promise<void> {
    await this.transition(meetingId, 'plan', (m) => {
      assertOwner(m, epoch);
      if (m.plan) return null;
      const chunks = plan.chunks.map(({ index, start, end, pieces }) =>
        pieces ? { index, start, end, pieces: pieces.map((p) => ({ start: p.start, end: p.end })) } : { index, start, end },
      );
      const stored: StoredPlan = { planner: plan.planner, durationSec: plan.durationSec, chunks };
      return { set: { plan: stored } };
    });
  }

  /**
   * The chunk checkpoint: marks a chunk done (after its segments are saved)
   * and raises progress, never lowering it. Fenced.
   */
  async checkpointChunk(meetingId: string, epoch: number, chunk: number, progress: number, language?: string): Promise<MeetingDocument> {
    return this.transition(meetingId, 'checkpoint', (m) => {
      assertOwner(m, epoch);
      const set: Partial<MeetingDocument> = {
        doneChunks: m.doneChunks.includes(chunk) ? m.doneChunks : [...m.doneChunks, chunk],
        transcriptionProgress: Math.max(m.transcriptionProgress, clampProgress(progress)),
      };
      if (language) set.language = language;
      return { set };
    });
  }

  /** Throws StaleWriteError when another pickup has taken the meeting (a cheap check before saving segments). */
  async assertOwner(meetingId: string, epoch: number): Promise<void> {
    const doc = await this.meetings.findOne({ _id: meetingId }, { projection: { epoch: 1, transcriptionStatus: 1 } });
    if (!doc) throw new NotFoundError(`meeting ${meetingId} not found`);
    assertOwner(doc as MeetingDocument, epoch);
  }

  /** processing → completed, progress 100. Fenced: exactly one writer wins. */
  async complete(meetingId: string, epoch: number): Promise<MeetingDocument> {
    return this.transition(meetingId, 'complete', (m) => {
      assertOwner(m, epoch);
      return { set: { transcriptionStatus: 'completed', transcriptionProgress: 100, completedAt: this.now() } };
    });
  }

  /** processing → failed with the guide's metadata, by the worker that owns the meeting; set only on permanent failure. Fenced. */
  async fail(meetingId: string, failure: FailureMetadata, epoch: number): Promise<MeetingDocument> {
    return this.transition(meetingId, 'fail', (m) => {
      assertOwner(m, epoch);
      return { set: { transcriptionStatus: 'failed', metadata: { ...m.metadata, transcription: failure } } };
    });
  }

  /**
   * → failed without an epoch, for a failure found outside a worker (BullMQ
   * failed the job, or the queue refused it), but only while the meeting is
   * live and still on the request the failure answers: a client's newer
   * start or retry wins. False when that no longer holds; nothing changes then.
   */
  async failRequest(meetingId: string, failure: FailureMetadata, requestedAt: Date | undefined): Promise<boolean> {
    let failed = false;
    await this.transition(meetingId, 'fail', (m) => {
      failed = canTransition(m.transcriptionStatus, 'fail') && m.transcriptionRequestedAt?.getTime() === requestedAt?.getTime();
      return failed ? { set: { transcriptionStatus: 'failed', metadata: { ...m.metadata, transcription: failure } } } : null;
    });
    return failed;
  }

  /** failed → pending for a manual retry; checkpoints are kept so the retry resumes where it stopped. */
  async retry(projectId: string, meetingId: string): Promise<MeetingDocument> {
    await this.get(projectId, meetingId);
    return this.transition(meetingId, 'retry', (m) => {
      if (!canTransition(m.transcriptionStatus, 'retry')) {
        throw new ConflictError(`meeting ${meetingId} is ${m.transcriptionStatus}; only a failed meeting can be retried`);
      }
      const { transcription: _dropped, ...metadata } = m.metadata;
      return { set: { transcriptionStatus: 'pending', transcriptionRequestedAt: this.now(), metadata } };
    });
  }

  /** Live meetings a client asked to transcribe: what the reconciler checks against the queues. */
  async listRequestedLive(limit = 500): Promise<MeetingDocument[]> {
    return this.meetings
      .find({ transcriptionStatus: { $in: ['pending', 'processing'] }, transcriptionRequestedAt: { $exists: true } })
      .sort({ transcriptionRequestedAt: 1 })
      .limit(limit)
      .toArray();
  }

  /**
   * One page of a project's meetings, newest first (createdAt, then id, both
   * descending: a stable order that pages never skip or repeat in, even when
   * meetings are added meanwhile). `after` is the last meeting of the
   * previous page.
   */
  async listByProject(projectId: string, query: MeetingListQuery): Promise<MeetingDocument[]> {
    const filter: Record<string, unknown> = { projectId };
    if (query.statuses?.length) filter.transcriptionStatus = { $in: query.statuses };
    const created: Record<string, Date> = {};
    if (query.createdFrom) created.$gte = query.createdFrom;
    if (query.createdBefore) created.$lt = query.createdBefore;
    if (Object.keys(created).length) filter.createdAt = created;
    if (query.after) {
      filter.$or = [{ createdAt: { $lt: query.after.createdAt } }, { createdAt: query.after.createdAt, _id: { $lt: query.after.id } }];
    }
    return this.meetings.find(filter).sort({ createdAt: -1, _id: -1 }).limit(query.limit).toArray();
  }

  async countByStatus(): Promise<Record<TranscriptionStatus, number>> {
    const counts: Record<TranscriptionStatus, number> = { pending: 0, processing: 0, completed: 0, failed: 0 };
    for (const status of Object.keys(counts) as TranscriptionStatus[]) {
      counts[status] = await this.meetings.countDocuments({ transcriptionStatus: status });
    }
    return counts;
  }

  /**
   * Compare-and-set on `version` (see the class comment). `decide` sees the
   * current document and returns the fields to set, null for "nothing to do",
   * or throws to refuse; it runs again after a lost race.
   */
  private async transition(meetingId: string, action: string, decide: (current: MeetingDocument) => Decision): Promise<MeetingDocument> {
    for (let attempt = 0; attempt < MAX_TRANSITION_TRIES; attempt++) {
      const current = await this.meetings.findOne({ _id: meetingId });
      if (!current) throw new NotFoundError(`meeting ${meetingId} not found`);
      const version = current.version ?? 0;
      const pending = await this.changes.findOne({ _id: changeId(meetingId, version + 1) });
      if (pending) {
        await this.apply(pending);
        continue;
      }
      const decision = decide(current);
      if (!decision) return current;
      const set = { ...decision.set, updatedAt: this.now() };
      const change: MeetingChange = { _id: changeId(meetingId, version + 1), meetingId, version: version + 1, set, unset: decision.unset, action, at: this.now() };
      try {
        await this.changes.insertOne(change);
      } catch (err) {
        if (isDuplicateKey(err)) {
          await delay(attempt);
          continue;
        }
        throw err;
      }
      await this.apply(change);
      return { ...current, ...set, version: version + 1 } as MeetingDocument;
    }
    throw new ConflictError(`meeting ${meetingId} is changing too fast; ${action} gave up after ${MAX_TRANSITION_TRIES} tries`);
  }

  /** Applies a logged change; idempotent, since it sets absolute values and matches only the version before it. */
  private async apply(change: MeetingChange): Promise<void> {
    const update: Record<string, unknown> = { $set: { ...change.set, version: change.version } };
    if (change.unset?.length) update.$unset = Object.fromEntries(change.unset.map((f) => [f, '']));
    await this.meetings.updateOne({ _id: change.meetingId, version: change.version - 1 }, update);
  }
}

function assertOwner(meeting: Pick<MeetingDocument, '_id' | 'epoch' | 'transcriptionStatus'>, epoch: number): void {
  if (meeting.epoch !== epoch) {
    throw new StaleWriteError(`meeting ${meeting._id}: epoch ${epoch} is stale (current ${meeting.epoch}); another worker owns it`);
  }
  if (meeting.transcriptionStatus !== 'processing') {
    throw new ConflictError(`meeting ${meeting._id} is ${meeting.transcriptionStatus}, not processing`);
  }
}

function changeId(meetingId: string, version: number): string {
  return `${meetingId}:${version}`;
}

function delay(attempt: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.min(2 ** attempt, 50) + Math.random() * 5));
}

function clampProgress(value: number): number {
  return Math.min(100, Math.max(0, Math.round(value * 100) / 100));
}

export function isDuplicateKey(err: unknown): boolean {
  return err instanceof MongoServerError && err.code === 11000;
}
