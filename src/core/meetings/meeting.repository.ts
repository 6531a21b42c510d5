import { randomUUID } from 'node:crypto';
import { type Collection, type Db, MongoServerError, type UpdateFilter } from 'mongodb';
import { ConflictError, NotFoundError, StaleWriteError } from '../errors.js';
import { eventForTransition, type MeetingEvent } from './meeting-events.js';
import { storedKeys } from './meeting-key.js';
import { canTransition, isLive, TRANSCRIPTION_STATUSES, type TranscriptionStatus } from './meeting-state.js';

export type QueueKind = 'regular' | 'large';

/** What a client may ask of a transcription at start. */
export interface TranscriptionOptions {
  language?: string;
  task?: 'transcribe' | 'translate';
  /** Vocabulary hint put before every window (see TranscribeOptions.prompt). */
  prompt?: string;
  /** Time every word (segments get `words`); costs one extra decoder pass per chunk. */
  wordTimestamps?: boolean;
  /** A URL that receives this request's end event (webhooks), besides the project's endpoints. */
  callbackUrl?: string;
  /** Label speakers (see DiarizationRecord); off unless the client asks (or gives a speaker count). */
  diarize?: boolean;
  /** Exactly this many speakers; otherwise the count is estimated, within minSpeakers..maxSpeakers when given. */
  numSpeakers?: number;
  minSpeakers?: number;
  maxSpeakers?: number;
}

/**
 * A meeting's speaker diarization, written once after its transcription by
 * the worker that owns it (fenced); a resumed job that finds it completed
 * does not diarize again. A failed diarization leaves the transcript as it is
 * and says why here. Segments and words get their speaker from the turns when
 * read (the speaker who talks most within them).
 */
export interface DiarizationRecord {
  status: 'completed' | 'failed';
  /** Number of speakers found; 0 in silence or on failure. */
  speakers: number;
  /** Seconds, speaker counting from 0, in time order (objects: FerretDB stores no nested arrays). */
  turns: { start: number; end: number; speaker: number }[];
  /** Why it failed (client-safe). */
  error?: string;
  finishedAt: Date;
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
  /** Set when retention removed the stored upload; the transcript stays, the meeting cannot be transcribed again. */
  removedAt?: Date;
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
  /** The meeting's key, `<projectId>.<meetingId>` (see meeting-key.ts); the bare meeting id for meetings registered before that. */
  _id: string;
  /** The client's meeting id, unique within its project. Absent on meetings registered before ids were scoped, whose `_id` is it. */
  meetingId?: string;
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
  /**
   * Tokens of the last changes that a writer other than their own applied
   * (roll-forward), newest last; see MeetingRepository. Absent until the first.
   */
  rolledForward?: string[];
  createdAt: Date;
  updatedAt: Date;
  startedAt?: Date;
  completedAt?: Date;
  /** When the meeting last reached a final status (FINISHED_STATUSES); retention counts from here. */
  finishedAt?: Date;
  /** Set when a delete began; the meeting is invisible from then on and goes once its data is removed. */
  deletingAt?: Date;
  metadata: { transcription?: FailureMetadata };
  /** Speaker diarization, when it was asked for and has run. */
  diarization?: DiarizationRecord;
  /**
   * The outbox of webhook events: written by the transition that ends the
   * meeting (same update), removed by the dispatcher once it has recorded them.
   */
  pendingEvents?: MeetingEvent[];
}

/**
 * What is left of a deleted meeting: its id stays taken for
 * TOMBSTONE_KEEP_MS, so that a worker still running from before the delete
 * can never write into a new meeting of the same id.
 */
export interface MeetingTombstone {
  _id: string;
  projectId: string;
  deletedAt: Date;
}

/** How long a deleted meeting's id stays taken: longer than any attempt can run (the large queue's limit is hours). */
export const TOMBSTONE_KEEP_MS = 7 * 24 * 3600_000;

/** The statuses a meeting ends in; retention considers only these. */
export const FINISHED_STATUSES: readonly TranscriptionStatus[] = ['completed', 'failed', 'canceled'];

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
  /** The document's `_id`: meetingKey(projectId, meetingId) for meetings the API registers. */
  id: string;
  /** The client's meeting id, when it differs from `id`. */
  meetingId?: string;
  projectId: string;
  audio: MeetingAudio;
  /** See MeetingDocument.interactive. */
  interactive?: boolean;
}

/** A live meeting with a recorded request, as the reconciler lists it. */
export type RequestedMeeting = Pick<MeetingDocument, '_id' | 'transcriptionRequestedAt'>;

/** What a worker gets when it picks a meeting up: the epoch that fences its writes and the checkpoints to skip. */
export interface Claim {
  epoch: number;
  doneChunks: number[];
  progress: number;
  meeting: MeetingDocument;
}

/**
 * A claimed change: the version it creates and the operations that make it
 * from the version before. Only deltas are stored (a checkpoint is one chunk
 * index and one progress value), so a change is small whatever the meeting's size.
 */
interface MeetingChange {
  _id: string;
  meetingId: string;
  version: number;
  /** Random id of this claim: the `_id` can be claimed again once the entry is deleted. */
  token: string;
  set: Partial<MeetingDocument>;
  unset?: string[];
  /** Values added to array fields, once each (`$addToSet`). */
  addToSet?: { doneChunks?: number };
  /** Numeric fields raised, never lowered (`$max`). */
  max?: { transcriptionProgress?: number };
  action: string;
  at: Date;
}

type Decision = Pick<MeetingChange, 'unset' | 'addToSet' | 'max'> & { set?: Partial<MeetingDocument> };

/** The server's answer to a getMore on a cursor it has dropped. */
const CURSOR_NOT_FOUND = 43;

/** How often a transition re-reads and retries after losing a race before it gives up. */
const MAX_TRANSITION_TRIES = 50;

/**
 * How long a writer leaves another writer's claimed change to that writer
 * before applying it itself (its writer died, or stalls). Applying a live
 * writer's change is correct but costs both a check, and on FerretDB two
 * appliers of one change race in its read-then-replace update.
 */
const ROLL_FORWARD_AFTER_MS = 500;

/** How many roll-forward tokens a meeting keeps (MeetingDocument.rolledForward). */
const ROLLED_FORWARD_KEPT = 8;

/** Meetings whose last written version a repository keeps, to write the next change without reading first. */
const RECENT_MEETINGS_KEPT = 256;

/**
 * All reads and writes of the `meetings` collection.
 *
 * Every change after creation is a compare-and-set on the meeting's
 * `version`. The writer claims version v+1 by inserting a `meeting_changes`
 * entry `_id: <meetingId>:<v+1>` that holds the change, then applies it with
 * an update filtered on `version: v`. The unique `_id` lets one writer win each
 * version, also on FerretDB, whose conditional updates are a read followed by
 * a whole-document replace (two racing writers could otherwise both "win" and
 * erase each other's fields). A writer that finds version v+1 claimed but not
 * applied applies it itself once it has waited ROLL_FORWARD_AFTER_MS
 * (roll-forward: the claimer may have died).
 *
 * Entries are deleted once applied: the writer that applied v+1 deletes every
 * entry of the meeting up to v+1, so one left by a writer that died before
 * deleting goes with the next change (FerretDB v1 has no TTL indexes). Between
 * changes a meeting has no entry unless a writer died mid-change, and at most
 * one after its last change.
 *
 * Deleting makes a stale claim possible: a writer that read version v after
 * v+1 was applied and its entry deleted claims v+1 again, successfully. Its
 * update then matches nothing (the meeting is past v, and versions only rise),
 * so no stale change is ever applied. Matching nothing has one other cause:
 * another writer rolled this claim forward. A claim is either the only
 * v+1 ever inserted (then only it can take the meeting past v, so matching
 * nothing means it was applied) or stale (never applied). The roll-forward
 * adds the claim's random token to `rolledForward`, so the writer tells the
 * two apart: its token there is success; otherwise it deletes its entry and
 * decides again on a fresh read. Only if ROLLED_FORWARD_KEPT later
 * roll-forwards pushed its token out while it stalled would a writer decide
 * again on a change already applied. No state is lost then: checkpoints and
 * plans are idempotent and a second claim takes a newer epoch; complete, fail
 * and retry are refused on the second read, an error for a change that did happen.
 *
 * Changes hold deltas (`$addToSet` a chunk, `$max` the progress, `$set` small
 * fields), so a checkpoint writes O(1) bytes however many chunks are done.
 * Each applies once: MongoDB's update is atomic on `version`, and two FerretDB
 * appliers of one change compute the same document from the same version.
 *
 * The document a writer produced is kept while the meeting is processing
 * (the last RECENT_MEETINGS_KEPT meetings), and the next change is claimed on
 * it without a read: a stale copy can only make the claim collide or turn
 * stale, and both are caught as above. A refusal (decide throws or returns
 * null) is only trusted on a fresh read. A change thus costs three round
 * trips (claim, apply, delete), four after a read.
 */
export class MeetingRepository {
  private readonly meetings: Collection<MeetingDocument>;
  private readonly changes: Collection<MeetingChange>;
  private readonly tombstones: Collection<MeetingTombstone>;
  /** The document each recent change produced, by meeting id (a private copy). */
  private readonly recent = new Map<string, MeetingDocument>();

  constructor(db: Db, private readonly now: () => Date = () => new Date()) {
    this.meetings = db.collection<MeetingDocument>('meetings');
    this.changes = db.collection<MeetingChange>('meeting_changes');
    this.tombstones = db.collection<MeetingTombstone>('meeting_tombstones');
  }

  async ensureIndexes(): Promise<void> {
    await this.meetings.createIndex({ projectId: 1, createdAt: 1 }, { name: 'project_created' });
    await this.meetings.createIndex({ transcriptionStatus: 1, transcriptionRequestedAt: 1 }, { name: 'status_requested' });
    // Sparse: only meetings with undispatched webhook events are in it, so the dispatcher's poll never scans.
    await this.meetings.createIndex({ pendingEvents: 1 }, { name: 'pending_events', sparse: true });
    await this.changes.createIndex({ meetingId: 1, version: 1 }, { name: 'meeting_version' });
  }

  async create(input: NewMeeting): Promise<MeetingDocument> {
    const now = this.now();
    const doc: MeetingDocument = {
      _id: input.id,
      meetingId: input.meetingId ?? input.id,
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
    const shownId = input.meetingId ?? input.id;
    const tombstone = await this.tombstones.findOne({ _id: { $in: [doc._id, shownId] }, projectId: input.projectId });
    if (tombstone) {
      const reusable = new Date(tombstone.deletedAt.getTime() + TOMBSTONE_KEEP_MS).toISOString();
      throw new ConflictError(`meeting ${shownId} was deleted; its id can be used again from ${reusable}`);
    }
    // The same id registered before ids were scoped (stored under its bare id) is taken too.
    if (doc._id !== shownId && (await this.meetings.findOne({ _id: shownId, projectId: input.projectId }, { projection: { _id: 1 } }))) {
      throw new ConflictError(`meeting ${shownId} already exists`);
    }
    try {
      await this.meetings.insertOne(doc);
    } catch (err) {
      if (isDuplicateKey(err)) throw new ConflictError(`meeting ${shownId} already exists`, { cause: err });
      throw err;
    }
    return doc;
  }

  /** The meeting, only if it belongs to the project; NotFoundError otherwise (no hint that it exists elsewhere). */
  async get(projectId: string, meetingId: string): Promise<MeetingDocument> {
    const doc = await this.find(projectId, meetingId);
    if (!doc || doc.deletingAt) throw new NotFoundError(`meeting ${meetingId} not found in project ${projectId}`);
    return doc;
  }

  /** The project's meeting by the client's id, also while it is being deleted; null if the project has none. */
  async find(projectId: string, meetingId: string): Promise<MeetingDocument | null> {
    return this.meetings.findOne({ _id: { $in: storedKeys(projectId, meetingId) }, projectId });
  }

  /** The meeting by its key (`_id`), whatever its project or state: for workers, the reconciler and other internal users. */
  async findById(meetingId: string): Promise<MeetingDocument | null> {
    return this.meetings.findOne({ _id: meetingId });
  }

  /**
   * Records the client's intent before anything reaches Redis, so that a
   * Redis outage cannot lose it: the reconciler enqueues from here.
   */
  async recordTranscriptionRequest(meetingId: string, queue: QueueKind, jobId: string, options: TranscriptionOptions = {}): Promise<MeetingDocument> {
    return this.transition(meetingId, 'request', (m) => {
      const restart = canTransition(m.transcriptionStatus, 'restart');
      if (!isLive(m.transcriptionStatus) && !restart) throw new ConflictError(`meeting ${meetingId} is ${m.transcriptionStatus}; it cannot be started again`);
      if (m.deletingAt) throw new NotFoundError(`meeting ${meetingId} not found`);
      // A canceled meeting starts again as pending and resumes from its saved chunks.
      const status: Partial<MeetingDocument> = restart ? { transcriptionStatus: 'pending' } : {};
      return { set: { ...status, queue, jobId, transcriptionRequestedAt: this.now(), transcriptionOptions: definedOnly(options) } };
    });
  }

  /**
   * pending|processing → canceled, fenced like a takeover: the epoch moves
   * on, so a worker transcribing the meeting is refused at its next write and
   * stops at that chunk boundary. Saved chunks stay. Canceling a canceled
   * meeting changes nothing; a finished one is refused.
   */
  async cancel(projectId: string, meetingId: string): Promise<MeetingDocument> {
    const { _id } = await this.get(projectId, meetingId);
    return this.transition(_id, 'cancel', (m) => {
      if (m.transcriptionStatus === 'canceled') return null;
      if (m.transcriptionStatus === 'pending' && !m.transcriptionRequestedAt) {
        throw new ConflictError(`meeting ${meetingId} has no transcription to cancel; it was never started`);
      }
      if (!canTransition(m.transcriptionStatus, 'cancel')) {
        throw new ConflictError(`meeting ${meetingId} is ${m.transcriptionStatus}; only a pending or processing transcription can be canceled`);
      }
      return { set: { transcriptionStatus: 'canceled', finishedAt: this.now(), epoch: m.epoch + 1 } };
    });
  }

  /**
   * The first step of a delete: hides the meeting, fences off its worker
   * (a new epoch; a live transcription becomes canceled) and records the
   * tombstone that keeps its id taken. Repeating it changes nothing more.
   */
  async beginDelete(meetingId: string): Promise<MeetingDocument> {
    const doc = await this.transition(meetingId, 'delete', (m) => {
      if (m.deletingAt) return null;
      const status: Partial<MeetingDocument> = isLive(m.transcriptionStatus) ? { transcriptionStatus: 'canceled' } : {};
      return { set: { ...status, deletingAt: this.now(), epoch: m.epoch + 1 } };
    });
    await this.tombstones.updateOne(
      { _id: meetingId },
      { $setOnInsert: { projectId: doc.projectId, deletedAt: doc.deletingAt ?? this.now() } },
      { upsert: true },
    );
    return doc;
  }

  /** The last step of a delete (after its segments and audio are gone): removes the meeting document and its change log. */
  async finishDelete(meetingId: string): Promise<void> {
    this.recent.delete(meetingId);
    await this.meetings.deleteOne({ _id: meetingId, deletingAt: { $exists: true } });
    await this.changes.deleteMany({ meetingId });
  }

  /** The tombstone of a deleted meeting of this project, if any. */
  async findTombstone(projectId: string, meetingId: string): Promise<MeetingTombstone | null> {
    return this.tombstones.findOne({ _id: { $in: storedKeys(projectId, meetingId) }, projectId });
  }

  /** Meetings whose delete began but did not finish (the deleting process died), to finish them. */
  async unfinishedDeletes(limit: number): Promise<MeetingDocument[]> {
    return this.meetings.find({ deletingAt: { $exists: true } }).limit(limit).toArray();
  }

  /** Forgets tombstones older than TOMBSTONE_KEEP_MS, which frees their ids; returns their ids. */
  async dropOldTombstones(): Promise<string[]> {
    const old = await this.tombstones.find({ deletedAt: { $lt: new Date(this.now().getTime() - TOMBSTONE_KEEP_MS) } }).limit(1000).toArray();
    if (old.length) await this.tombstones.deleteMany({ _id: { $in: old.map((t) => t._id) } });
    return old.map((t) => t._id);
  }

  /**
   * Finished meetings (FINISHED_STATUSES) that finished before `before`,
   * oldest first; with `uploadsOnly`, only those whose uploaded audio is still stored.
   */
  async finishedBefore(before: Date, options: { uploadsOnly?: boolean; limit: number }): Promise<MeetingDocument[]> {
    const filter: Record<string, unknown> = {
      transcriptionStatus: { $in: FINISHED_STATUSES },
      finishedAt: { $lt: before },
      deletingAt: { $exists: false },
    };
    if (options.uploadsOnly) Object.assign(filter, { 'audio.source': 'upload', 'audio.removedAt': { $exists: false } });
    return this.meetings.find(filter).sort({ finishedAt: 1 }).limit(options.limit).toArray();
  }

  /** Records that retention removed the meeting's uploaded audio (only while the meeting is finished). */
  async markAudioRemoved(meetingId: string): Promise<MeetingDocument> {
    return this.transition(meetingId, 'remove-audio', (m) => {
      if (m.audio.removedAt) return null;
      if (!FINISHED_STATUSES.includes(m.transcriptionStatus)) throw new ConflictError(`meeting ${meetingId} is ${m.transcriptionStatus}; its audio is in use`);
      return { set: { audio: { ...m.audio, removedAt: this.now() } } };
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
      const raised = clampProgress(progress);
      if (m.doneChunks.includes(chunk) && m.transcriptionProgress >= raised && (!language || m.language === language)) return null;
      return { set: language ? { language } : {}, addToSet: { doneChunks: chunk }, max: { transcriptionProgress: raised } };
    });
  }

  /** Records the meeting's speaker diarization (after its transcription). Fenced. */
  async recordDiarization(meetingId: string, epoch: number, record: DiarizationRecord): Promise<MeetingDocument> {
    return this.transition(meetingId, 'diarization', (m) => {
      assertOwner(m, epoch);
      return { set: { diarization: record } };
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
      return { set: { transcriptionStatus: 'completed', transcriptionProgress: 100, completedAt: this.now(), finishedAt: this.now() } };
    });
  }

  /** processing → failed with the guide's metadata, by the worker that owns the meeting; set only on permanent failure. Fenced. */
  async fail(meetingId: string, failure: FailureMetadata, epoch: number): Promise<MeetingDocument> {
    return this.transition(meetingId, 'fail', (m) => {
      assertOwner(m, epoch);
      return { set: { transcriptionStatus: 'failed', finishedAt: this.now(), metadata: { ...m.metadata, transcription: failure } } };
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
      return failed ? { set: { transcriptionStatus: 'failed', finishedAt: this.now(), metadata: { ...m.metadata, transcription: failure } } } : null;
    });
    return failed;
  }

  /** failed → pending for a manual retry; checkpoints are kept so the retry resumes where it stopped. */
  async retry(projectId: string, meetingId: string): Promise<MeetingDocument> {
    const { _id } = await this.get(projectId, meetingId);
    return this.transition(_id, 'retry', (m) => {
      if (!canTransition(m.transcriptionStatus, 'retry')) {
        throw new ConflictError(`meeting ${meetingId} is ${m.transcriptionStatus}; only a failed meeting can be retried`);
      }
      const { transcription: _dropped, ...metadata } = m.metadata;
      return { set: { transcriptionStatus: 'pending', transcriptionRequestedAt: this.now(), metadata } };
    });
  }

  /**
   * The live meetings a client asked to transcribe (what the reconciler
   * checks against the queues), in pages of `pageSize`, in `_id` order, with
   * only the fields the reconciler needs before it reads a meeting again.
   * One cursor serves every page: FerretDB v1 scans the collection for each
   * query, so a query per page would cost a scan per page. Should the server
   * drop the cursor (a pass slower than its cursor timeout), the next query
   * resumes after the last id served.
   */
  async *requestedLivePages(pageSize = 500): AsyncGenerator<RequestedMeeting[]> {
    let after: string | undefined;
    for (;;) {
      const cursor = this.meetings
        .find(
          {
            transcriptionStatus: { $in: ['pending', 'processing'] },
            transcriptionRequestedAt: { $exists: true },
            ...(after === undefined ? {} : { _id: { $gt: after } }),
          },
          { projection: { _id: 1, transcriptionRequestedAt: 1 } },
        )
        .sort({ _id: 1 })
        .batchSize(pageSize);
      try {
        let page: RequestedMeeting[] = [];
        for await (const doc of cursor) {
          page.push(doc as RequestedMeeting);
          if (page.length < pageSize) continue;
          after = page.at(-1)!._id;
          yield page;
          page = [];
        }
        if (page.length > 0) yield page;
        return;
      } catch (err) {
        if (!(err instanceof MongoServerError && err.code === CURSOR_NOT_FOUND)) throw err;
      } finally {
        await cursor.close();
      }
    }
  }

  /**
   * One page of a project's meetings, newest first (createdAt, then id, both
   * descending: a stable order that pages never skip or repeat in, even when
   * meetings are added meanwhile). `after` is the last meeting of the
   * previous page.
   */
  async listByProject(projectId: string, query: MeetingListQuery): Promise<MeetingDocument[]> {
    const filter: Record<string, unknown> = { projectId, deletingAt: { $exists: false } };
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

  /** Meetings whose outbox holds webhook events (MeetingDocument.pendingEvents), oldest change first. */
  async withPendingEvents(limit: number): Promise<MeetingDocument[]> {
    return this.meetings.find({ pendingEvents: { $exists: true } }).sort({ updatedAt: 1 }).limit(limit).toArray();
  }

  /** Removes these events from the meeting's outbox (the dispatcher has recorded them); the field goes once it is empty. */
  async clearPendingEvents(meetingId: string, eventIds: readonly string[]): Promise<void> {
    await this.transition(meetingId, 'events-dispatched', (m) => {
      const left = (m.pendingEvents ?? []).filter((e) => !eventIds.includes(e.id));
      if (left.length === (m.pendingEvents ?? []).length) return null;
      return left.length ? { set: { pendingEvents: left } } : { unset: ['pendingEvents'] };
    });
  }

  async countByStatus(): Promise<Record<TranscriptionStatus, number>> {
    const counts = Object.fromEntries(TRANSCRIPTION_STATUSES.map((s) => [s, 0])) as Record<TranscriptionStatus, number>;
    for (const status of Object.keys(counts) as TranscriptionStatus[]) {
      counts[status] = await this.meetings.countDocuments({ transcriptionStatus: status });
    }
    return counts;
  }

  /**
   * Compare-and-set on `version` (see the class comment). `decide` sees the
   * current document and returns the change to make, null for "nothing to
   * do", or throws to refuse; it runs again after a lost race.
   */
  private async transition(meetingId: string, action: string, decide: (current: MeetingDocument) => Decision | null): Promise<MeetingDocument> {
    const waiting = new Map<string, number>();
    let known = this.recent.get(meetingId);
    let fresh: MeetingDocument | undefined;
    for (let attempt = 0; attempt < MAX_TRANSITION_TRIES; attempt++) {
      const current = fresh ?? known ?? (await this.read(meetingId));
      const isFresh = current !== known;
      fresh = undefined;
      known = undefined;
      let decision: Decision | null;
      try {
        decision = decide(current);
      } catch (err) {
        if (isFresh) throw err;
        this.recent.delete(meetingId);
        continue;
      }
      if (!decision) {
        if (isFresh) return current;
        this.recent.delete(meetingId);
        continue;
      }
      const version = (current.version ?? 0) + 1;
      const change: MeetingChange = {
        _id: changeId(meetingId, version),
        meetingId,
        version,
        token: randomUUID(),
        set: { ...decision.set, ...withEvent(current, decision.set, this.now()), updatedAt: this.now() },
        ...(decision.unset?.length ? { unset: decision.unset } : {}),
        ...(decision.addToSet ? { addToSet: decision.addToSet } : {}),
        ...(decision.max ? { max: decision.max } : {}),
        action,
        at: this.now(),
      };
      try {
        await this.changes.insertOne(change);
      } catch (err) {
        if (!isDuplicateKey(err)) throw err;
        this.recent.delete(meetingId);
        // A copy that was merely old needs no wait; a live race does.
        if (isFresh) {
          await this.settleClaimed(current, version, waiting);
          await delay(attempt);
        }
        continue;
      }
      const next = applyLocally(current, change);
      if (await this.apply(change)) {
        this.remember(next);
        await this.changes.deleteMany({ meetingId, version: { $lte: version } });
        return next;
      }
      this.recent.delete(meetingId);
      const now = await this.read(meetingId);
      if (now.rolledForward?.includes(change.token)) return next;
      await this.changes.deleteOne({ _id: change._id, token: change.token });
      fresh = now;
    }
    throw new ConflictError(`meeting ${meetingId} is changing too fast; ${action} gave up after ${MAX_TRANSITION_TRIES} tries`);
  }

  private async read(meetingId: string): Promise<MeetingDocument> {
    const doc = await this.meetings.findOne({ _id: meetingId });
    if (!doc) throw new NotFoundError(`meeting ${meetingId} not found`);
    return doc;
  }

  /**
   * Version `version` of the meeting is claimed by another writer and
   * `current` is the version before it. Leaves the change to its writer for
   * ROLL_FORWARD_AFTER_MS (counted from when this call first saw it, on this
   * process's clock), then applies it, marking it rolled forward.
   */
  private async settleClaimed(current: MeetingDocument, version: number, waiting: Map<string, number>): Promise<void> {
    const claimed = await this.changes.findOne({ _id: changeId(current._id, version) });
    if (!claimed) return;
    const key = claimed.token ?? claimed._id;
    const seen = waiting.get(key);
    if (seen === undefined) waiting.set(key, performance.now());
    if (seen === undefined || performance.now() - seen < ROLL_FORWARD_AFTER_MS) return;
    const rolledForward = [...(current.rolledForward ?? []), claimed.token].filter(Boolean).slice(-ROLLED_FORWARD_KEPT);
    if (await this.apply(claimed, { rolledForward })) {
      await this.changes.deleteMany({ meetingId: claimed.meetingId, version: { $lte: claimed.version } });
    }
  }

  /**
   * Applies a claimed change to the version before it; false when the
   * meeting is no longer at that version (the change was applied already, or
   * the claim is stale).
   */
  private async apply(change: MeetingChange, extra: Partial<MeetingDocument> = {}): Promise<boolean> {
    const update: UpdateFilter<MeetingDocument> = { $set: { ...change.set, ...extra, version: change.version } };
    if (change.unset?.length) update.$unset = Object.fromEntries(change.unset.map((f) => [f, '']));
    if (change.addToSet?.doneChunks !== undefined) update.$addToSet = { doneChunks: change.addToSet.doneChunks };
    if (change.max?.transcriptionProgress !== undefined) update.$max = { transcriptionProgress: change.max.transcriptionProgress };
    const res = await this.meetings.updateOne({ _id: change.meetingId, version: change.version - 1 }, update);
    return res.matchedCount === 1;
  }

  /** Keeps a private copy of a processing meeting: the worker that wrote it writes the next change (a checkpoint). */
  private remember(doc: MeetingDocument): void {
    this.recent.delete(doc._id);
    if (doc.transcriptionStatus !== 'processing') return;
    this.recent.set(doc._id, structuredClone(doc));
    if (this.recent.size > RECENT_MEETINGS_KEPT) this.recent.delete(this.recent.keys().next().value!);
  }
}

/** The document a change produces from the version before it, as `apply` makes it in the database. */
function applyLocally(before: MeetingDocument, change: MeetingChange): MeetingDocument {
  const next = { ...before, ...change.set, version: change.version } as MeetingDocument;
  for (const field of change.unset ?? []) delete (next as unknown as Record<string, unknown>)[field];
  const chunk = change.addToSet?.doneChunks;
  if (chunk !== undefined && !before.doneChunks.includes(chunk)) next.doneChunks = [...before.doneChunks, chunk];
  const progress = change.max?.transcriptionProgress;
  if (progress !== undefined) next.transcriptionProgress = Math.max(before.transcriptionProgress, progress);
  return next;
}

/** The outbox with the event this change makes (a meeting entering completed, failed or canceled), if any. */
function withEvent(current: MeetingDocument, set: Partial<MeetingDocument> | undefined, at: Date): Pick<MeetingDocument, 'pendingEvents'> {
  const event = eventForTransition(current, set?.transcriptionStatus, at);
  const pending = current.pendingEvents ?? [];
  if (!event || pending.some((e) => e.id === event.id)) return {};
  return { pendingEvents: [...pending, event] };
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
