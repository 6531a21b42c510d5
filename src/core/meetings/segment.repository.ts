import { type AnyBulkWriteOperation, type Collection, type Db, MongoBulkWriteError, MongoServerError } from 'mongodb';
import { StaleWriteError } from '../errors.js';

export interface SegmentInput {
  text: string;
  /** Absolute seconds in the meeting. */
  start: number;
  end: number;
  avgLogprob: number;
  noSpeechProb: number;
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
export class SegmentRepository {
  private readonly segments: Collection<SegmentDocument>;

  constructor(db: Db, private readonly now: () => Date = () => new Date()) {
    this.segments = db.collection<SegmentDocument>('segments');
  }

  async ensureIndexes(): Promise<void> {
    await this.segments.createIndex({ meetingId: 1, chunk: 1, index: 1 }, { unique: true, name: 'meeting_chunk_index' });
  }

  /**
   * Saves one chunk's segments idempotently. An upsert only replaces a
   * segment written with the same or a lower epoch; against a higher one the
   * upsert turns into an insert that the unique index refuses, which is how
   * a zombie's late save is rejected (StaleWriteError). Segments left over
   * from an earlier, longer decode of the same chunk are removed.
   */
  async saveChunk(meetingId: string, chunk: number, epoch: number, segments: readonly SegmentInput[]): Promise<void> {
    const savedAt = this.now();
    const ops: AnyBulkWriteOperation<SegmentDocument>[] = segments.map((s, index) => ({
      updateOne: {
        filter: { meetingId, chunk, index, epoch: { $lte: epoch } },
        update: {
          $set: { text: s.text, start: s.start, end: s.end, avgLogprob: s.avgLogprob, noSpeechProb: s.noSpeechProb, epoch, savedAt },
        },
        upsert: true,
      },
    }));
    try {
      if (ops.length > 0) await this.segments.bulkWrite(ops, { ordered: true });
    } catch (err) {
      if (isDuplicateKeyWrite(err)) {
        throw new StaleWriteError(`segments of meeting ${meetingId} chunk ${chunk} were written by a newer epoch than ${epoch}`, { cause: err });
      }
      throw err;
    }
    await this.segments.deleteMany({ meetingId, chunk, index: { $gte: segments.length }, epoch: { $lte: epoch } });
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

function isDuplicateKeyWrite(err: unknown): boolean {
  if (err instanceof MongoBulkWriteError) {
    const errors = Array.isArray(err.writeErrors) ? err.writeErrors : [err.writeErrors];
    return err.code === 11000 || errors.some((e) => e.code === 11000);
  }
  return err instanceof MongoServerError && err.code === 11000;
}
