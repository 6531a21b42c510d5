import { type Collection, type Db, MongoBulkWriteError, MongoServerError } from 'mongodb';
import { StaleWriteError } from '../errors.js';

export interface SegmentInput {
  text: string;
  /** Absolute seconds in the meeting. */
  start: number;
  end: number;
  avgLogprob: number;
  noSpeechProb: number;
  /** The segment's words (absolute seconds), when word timestamps were asked for. */
  words?: readonly WordInput[];
}

export interface WordInput {
  word: string;
  start: number;
  end: number;
  probability: number;
}

export interface SegmentDocument extends SegmentInput {
  meetingId: string;
  chunk: number;
  /** Position within the chunk. */
  index: number;
  /** The epoch of the pickup that wrote it; a lower epoch never overwrites a higher one. */
  epoch: number;
  savedAt: Date;
}

/**
 * Transcript segments, keyed by (meetingId, chunk, index) under a unique
 * index, so saving a chunk again rewrites it and never duplicates it.
 */
/** The highest epoch that saved a chunk, whether or not that save had segments. */
interface ChunkFence {
  meetingId: string;
  chunk: number;
  epoch: number;
}

export class SegmentRepository {
  private readonly segments: Collection<SegmentDocument>;
  private readonly fences: Collection<ChunkFence>;

  constructor(db: Db, private readonly now: () => Date = () => new Date()) {
    this.segments = db.collection<SegmentDocument>('segments');
    this.fences = db.collection<ChunkFence>('segment_fences');
  }

  async ensureIndexes(): Promise<void> {
    await this.segments.createIndex({ meetingId: 1, chunk: 1, index: 1 }, { unique: true, name: 'meeting_chunk_index' });
    await this.fences.createIndex({ meetingId: 1, chunk: 1 }, { unique: true, name: 'meeting_chunk' });
  }

  /**
   * Saves one chunk's segments idempotently, fenced by the epoch. Each save
   * first raises the chunk's fence to its epoch (refused against a higher
   * one), so even a save without segments shuts out older writers. It then
   * removes the chunk's segments of its own or lower epochs and inserts its
   * own as new documents. A zombie that slipped past the fence (it raised it
   * before the new owner did) either meets the owner's segments at the
   * unique index, or finds the higher fence when it checks again after
   * writing; both times it removes what it wrote and stops. Rejections throw
   * StaleWriteError.
   *
   * Segments are never written over in place: FerretDB deletes by reading
   * the matches and then removing them by id, so a zombie removing its own
   * segments could otherwise remove one the owner had just overwritten.
   */
  async saveChunk(meetingId: string, chunk: number, epoch: number, segments: readonly SegmentInput[]): Promise<void> {
    const stale = (cause?: unknown) =>
      new StaleWriteError(`segments of meeting ${meetingId} chunk ${chunk} were written by a newer epoch than ${epoch}`, { cause });
    await this.raiseFence(meetingId, chunk, epoch, stale);
    const savedAt = this.now();
    const documents = () =>
      segments.map((s, index): SegmentDocument => ({
        meetingId,
        chunk,
        index,
        text: s.text,
        start: s.start,
        end: s.end,
        avgLogprob: s.avgLogprob,
        noSpeechProb: s.noSpeechProb,
        ...(s.words ? { words: s.words.map((w) => ({ word: w.word, start: w.start, end: w.end, probability: w.probability })) } : {}),
        epoch,
        savedAt,
      }));
    for (let attempt = 1; ; attempt++) {
      await this.segments.deleteMany({ meetingId, chunk, epoch: { $lte: epoch } });
      if (segments.length === 0) break;
      try {
        await this.segments.insertMany(documents(), { ordered: false });
        break;
      } catch (err) {
        if (!isDuplicateKeyWrite(err)) throw err;
        if ((await this.highestFence(meetingId, chunk)) > epoch || attempt >= MAX_SAVE_TRIES) {
          await this.segments.deleteMany({ meetingId, chunk, epoch });
          throw stale(err);
        }
        // A zombie inserted after the clean-up above (and may have removed it since): clean up and insert again.
      }
    }
    if ((await this.highestFence(meetingId, chunk)) > epoch) {
      await this.segments.deleteMany({ meetingId, chunk, epoch });
      throw stale();
    }
  }

  /**
   * Sets the chunk's fence to `epoch` unless a higher epoch holds it. An
   * upsert that meets the unique index lost a race with another first save:
   * it is tried again while no higher epoch holds the fence.
   */
  private async raiseFence(meetingId: string, chunk: number, epoch: number, stale: (cause?: unknown) => Error): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.fences.updateOne({ meetingId, chunk, epoch: { $lte: epoch } }, { $set: { epoch } }, { upsert: true });
        return;
      } catch (err) {
        if (!isDuplicateKeyWrite(err)) throw err;
        if ((await this.highestFence(meetingId, chunk)) > epoch || attempt >= 3) throw stale(err);
      }
    }
  }

  /** The chunk's fence epoch (0 when unsaved); the highest, since concurrent first saves may both insert one. */
  private async highestFence(meetingId: string, chunk: number): Promise<number> {
    return (await this.fences.findOne({ meetingId, chunk }, { sort: { epoch: -1 } }))?.epoch ?? 0;
  }

  /**
   * Removes a deleted meeting's segments for good. Every chunk's fence is
   * first raised to SEALED_EPOCH, above any epoch, so a worker still
   * saving a chunk (it passed its ownership check before the delete) is
   * refused, or finds the seal after writing and removes what it wrote
   * (see saveChunk). The seals go when the meeting's tombstone does.
   */
  async deleteMeeting(meetingId: string, chunks: readonly number[]): Promise<number> {
    const known = new Set([...chunks, ...((await this.fences.distinct('chunk', { meetingId })) as number[])]);
    for (const chunk of known) {
      try {
        await this.fences.updateOne({ meetingId, chunk }, { $set: { epoch: SEALED_EPOCH } }, { upsert: true });
      } catch (err) {
        // A worker's first save of the chunk inserted its fence meanwhile: seal that one.
        if (!isDuplicateKeyWrite(err)) throw err;
      }
      await this.fences.updateMany({ meetingId, chunk }, { $set: { epoch: SEALED_EPOCH } });
    }
    return (await this.segments.deleteMany({ meetingId })).deletedCount;
  }

  /** Drops the seals of meetings whose tombstones are gone (their ids can be used again). */
  async dropSeals(meetingIds: readonly string[]): Promise<void> {
    if (meetingIds.length) await this.fences.deleteMany({ meetingId: { $in: [...meetingIds] } });
  }

  /** Segments in transcript order (chunk, then index), optionally from one chunk on. */
  async list(meetingId: string, options: { fromChunk?: number; limit?: number } = {}): Promise<SegmentDocument[]> {
    const filter: Record<string, unknown> = { meetingId };
    if (options.fromChunk !== undefined) filter.chunk = { $gte: options.fromChunk };
    const cursor = this.segments.find(filter, { projection: { _id: 0 } }).sort({ chunk: 1, index: 1 });
    if (options.limit) cursor.limit(options.limit);
    return cursor.toArray();
  }

  async count(meetingId: string): Promise<number> {
    return this.segments.countDocuments({ meetingId });
  }

  /** Chunk indices that have at least one saved segment. */
  async chunksWithSegments(meetingId: string): Promise<number[]> {
    const chunks = await this.segments.distinct('chunk', { meetingId });
    return (chunks as number[]).sort((a, b) => a - b);
  }
}

/** The fence epoch of a deleted meeting's chunks: higher than any pickup's. */
const SEALED_EPOCH = Number.MAX_SAFE_INTEGER;

/** Clean-up-and-insert rounds a save makes while older writers keep getting in between. */
const MAX_SAVE_TRIES = 5;

function isDuplicateKeyWrite(err: unknown): boolean {
  if (err instanceof MongoBulkWriteError) {
    const errors = Array.isArray(err.writeErrors) ? err.writeErrors : [err.writeErrors];
    return err.code === 11000 || errors.some((e) => e.code === 11000);
  }
  return err instanceof MongoServerError && err.code === 11000;
}
