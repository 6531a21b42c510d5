import { type Db, MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConflictError, NotFoundError, StaleWriteError } from '../../src/core/errors.js';
import { type MeetingAudio, MeetingRepository } from '../../src/core/meetings/meeting.repository.js';
import { type SegmentInput, SegmentRepository } from '../../src/core/meetings/segment.repository.js';
import { connectMongo, type MongoHandle } from '../../src/core/mongo.js';
import { silentLogger, testNamespace } from '../helpers/services.js';

const ns = testNamespace();
let mongo: MongoHandle;
let meetings: MeetingRepository;
let segments: SegmentRepository;
/** A second, independent client: what the repositories wrote must be visible to anyone. */
let observer: MongoClient;
let observed: Db;

const audio: MeetingAudio = { path: '/data/a.wav', source: 'upload', durationSec: 60, sizeBytes: 1000, sha256: 'ab', codec: 'pcm_s16le', formatName: 'wav' };
let seq = 0;
const newId = () => `m-${Date.now()}-${seq++}`;

function seg(i: number, text = `segment ${i}`): SegmentInput {
  return { text, start: i, end: i + 1, avgLogprob: -0.2, noSpeechProb: 0.01 };
}

beforeAll(async () => {
  mongo = await connectMongo({ url: ns.mongoUrl, db: ns.dbName, logger: silentLogger() });
  meetings = new MeetingRepository(mongo.db);
  segments = new SegmentRepository(mongo.db);
  await meetings.ensureIndexes();
  await segments.ensureIndexes();
  observer = await MongoClient.connect(ns.mongoUrl);
  observed = observer.db(ns.dbName);
});

afterAll(async () => {
  await observer?.close();
  await mongo?.close();
  await ns.cleanup();
});

describe('MeetingRepository', () => {
  it('creates a pending meeting that an independent client reads back', async () => {
    const id = newId();
    await meetings.create({ id, projectId: 'p1', audio });
    const doc = await observed.collection('meetings').findOne({ _id: id as never });
    expect(doc).toMatchObject({ projectId: 'p1', transcriptionStatus: 'pending', transcriptionProgress: 0, epoch: 0, doneChunks: [] });
  });

  it('refuses a second meeting with the same id', async () => {
    const id = newId();
    await meetings.create({ id, projectId: 'p1', audio });
    await expect(meetings.create({ id, projectId: 'p2', audio })).rejects.toBeInstanceOf(ConflictError);
  });

  it('hides a meeting from other projects', async () => {
    const id = newId();
    await meetings.create({ id, projectId: 'p1', audio });
    await expect(meetings.get('p2', id)).rejects.toBeInstanceOf(NotFoundError);
    await expect(meetings.get('p1', id)).resolves.toMatchObject({ _id: id });
  });

  it('of two concurrent conflicting transitions exactly one wins', async () => {
    const id = newId();
    await meetings.create({ id, projectId: 'p1', audio });
    const claim = await meetings.claim(id);
    expect(claim?.epoch).toBe(1);
    const results = await Promise.allSettled([
      meetings.complete(id, 1),
      meetings.fail(id, { errorMessage: 'boom', attempts: 3, lastAttempt: new Date() }, 1),
    ]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const loser = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    expect(loser.reason).toBeInstanceOf(ConflictError);
    const doc = await observed.collection('meetings').findOne({ _id: id as never });
    expect(['completed', 'failed']).toContain(doc?.transcriptionStatus);
  });

  it('concurrent claims get distinct epochs and concurrent checkpoints lose no chunk', async () => {
    const id = newId();
    await meetings.create({ id, projectId: 'p1', audio });
    const claims = await Promise.all([meetings.claim(id), meetings.claim(id), meetings.claim(id)]);
    expect(new Set(claims.map((c) => c?.epoch)).size).toBe(3);
    const epoch = Math.max(...claims.map((c) => c!.epoch));
    await Promise.all([0, 1, 2, 3, 4, 5].map((chunk) => meetings.checkpointChunk(id, epoch, chunk, (chunk + 1) * 10)));
    const doc = await observed.collection('meetings').findOne({ _id: id as never });
    expect([...(doc?.doneChunks ?? [])].sort()).toEqual([0, 1, 2, 3, 4, 5]);
    expect(doc?.transcriptionProgress).toBe(60);
  });

  it('stays processing across claims and bumps the epoch each time', async () => {
    const id = newId();
    await meetings.create({ id, projectId: 'p1', audio });
    const first = await meetings.claim(id);
    const second = await meetings.claim(id);
    expect([first?.epoch, second?.epoch]).toEqual([1, 2]);
    expect((await meetings.findById(id))?.transcriptionStatus).toBe('processing');
  });

  it('rejects a write with a stale epoch and changes nothing', async () => {
    const id = newId();
    await meetings.create({ id, projectId: 'p1', audio });
    await meetings.claim(id); // epoch 1: the worker that will become a zombie
    await meetings.claim(id); // epoch 2: the worker that took over
    await meetings.checkpointChunk(id, 2, 0, 25);
    const before = await observed.collection('meetings').findOne({ _id: id as never });
    await expect(meetings.checkpointChunk(id, 1, 1, 50)).rejects.toBeInstanceOf(StaleWriteError);
    await expect(meetings.complete(id, 1)).rejects.toBeInstanceOf(StaleWriteError);
    const after = await observed.collection('meetings').findOne({ _id: id as never });
    expect(after).toEqual(before);
  });

  it('checkpoints chunks and never lowers progress', async () => {
    const id = newId();
    await meetings.create({ id, projectId: 'p1', audio });
    const { epoch } = (await meetings.claim(id))!;
    await meetings.checkpointChunk(id, epoch, 1, 40);
    await meetings.checkpointChunk(id, epoch, 0, 20);
    await meetings.checkpointChunk(id, epoch, 1, 40);
    const doc = await meetings.findById(id);
    expect(doc?.transcriptionProgress).toBe(40);
    expect([...(doc?.doneChunks ?? [])].sort()).toEqual([0, 1]);
    const resumed = await meetings.claim(id);
    expect(resumed?.doneChunks).toEqual([0, 1]);
    expect(resumed?.progress).toBe(40);
  });

  it('stores the first chunk plan and never replaces it', async () => {
    const id = newId();
    await meetings.create({ id, projectId: 'p1', audio });
    const { epoch } = (await meetings.claim(id))!;
    const first = { planner: 'vad' as const, durationSec: 60, chunks: [{ index: 0, start: 0.5, end: 29 }, { index: 1, start: 30, end: 58 }] };
    await meetings.recordPlan(id, epoch, first);
    const again = await meetings.claim(id);
    await meetings.recordPlan(id, again!.epoch, { planner: 'fixed', durationSec: 60, chunks: [{ index: 0, start: 0, end: 30 }] });
    const doc = await observed.collection('meetings').findOne({ _id: id as never });
    expect(doc?.plan).toEqual(first);
    expect(again?.meeting.plan).toEqual(first);
  });

  it('records failure metadata only on permanent failure and retries back to pending', async () => {
    const id = newId();
    await meetings.create({ id, projectId: 'p1', audio });
    const { epoch } = (await meetings.claim(id))!;
    const lastAttempt = new Date();
    await meetings.fail(id, { errorMessage: 'decoder exploded', attempts: 3, lastAttempt }, epoch);
    const failed = await observed.collection('meetings').findOne({ _id: id as never });
    expect(failed?.transcriptionStatus).toBe('failed');
    expect(failed?.metadata.transcription).toMatchObject({ errorMessage: 'decoder exploded', attempts: 3 });
    expect(await meetings.claim(id)).toBeNull(); // a failed meeting is not picked up again by itself
    const retried = await meetings.retry('p1', id);
    expect(retried.transcriptionStatus).toBe('pending');
    expect(retried.metadata.transcription).toBeUndefined();
    await expect(meetings.retry('p1', id)).rejects.toBeInstanceOf(ConflictError);
  });

  it('lists live meetings with a recorded request', async () => {
    const id = newId();
    await meetings.create({ id, projectId: 'p1', audio });
    expect((await meetings.listRequestedLive()).map((m) => m._id)).not.toContain(id);
    await meetings.recordTranscriptionRequest(id, 'regular', `transcription-${id}`);
    expect((await meetings.listRequestedLive()).map((m) => m._id)).toContain(id);
  });
});

describe('SegmentRepository', () => {
  it('saving the same chunk twice leaves one copy of each segment', async () => {
    const id = newId();
    await segments.saveChunk(id, 0, 1, [seg(0), seg(1), seg(2)]);
    await segments.saveChunk(id, 0, 1, [seg(0), seg(1), seg(2)]);
    await segments.saveChunk(id, 1, 1, [seg(30)]);
    expect(await observed.collection('segments').countDocuments({ meetingId: id })).toBe(4);
    const list = await segments.list(id);
    expect(list.map((s) => [s.chunk, s.index])).toEqual([[0, 0], [0, 1], [0, 2], [1, 0]]);
  });

  it('a newer epoch rewrites a chunk and drops its leftover tail', async () => {
    const id = newId();
    await segments.saveChunk(id, 0, 1, [seg(0, 'old a'), seg(1, 'old b'), seg(2, 'old c')]);
    await segments.saveChunk(id, 0, 2, [seg(0, 'new a'), seg(1, 'new b')]);
    const list = await segments.list(id);
    expect(list.map((s) => s.text)).toEqual(['new a', 'new b']);
  });

  it('rejects a stale epoch writing over a newer chunk and changes nothing', async () => {
    const id = newId();
    await segments.saveChunk(id, 0, 2, [seg(0, 'owner')]);
    await expect(segments.saveChunk(id, 0, 1, [seg(0, 'zombie'), seg(1, 'zombie tail')])).rejects.toBeInstanceOf(StaleWriteError);
    const docs = await observed.collection('segments').find({ meetingId: id }).toArray();
    expect(docs.map((d) => d.text)).toEqual(['owner']);
  });

  it('a stale epoch cannot add segments to a chunk the owner saved without any (issue 10, item 5)', async () => {
    const id = newId();
    await segments.saveChunk(id, 0, 2, []);
    await expect(segments.saveChunk(id, 0, 1, [seg(0, 'zombie')])).rejects.toBeInstanceOf(StaleWriteError);
    expect(await observed.collection('segments').countDocuments({ meetingId: id })).toBe(0);
  });

  it('an owner saving a chunk empty after a zombie wrote it removes the zombie\'s segments', async () => {
    const id = newId();
    await segments.saveChunk(id, 4, 1, [seg(0, 'zombie a'), seg(1, 'zombie b')]);
    await segments.saveChunk(id, 4, 2, []);
    expect(await segments.count(id)).toBe(0);
  });

  it('whatever the interleaving of an owner and a zombie, no segment of the older epoch survives', async () => {
    const ids = Array.from({ length: 12 }, () => newId());
    await Promise.all(
      ids.map((id, k) =>
        Promise.allSettled([
          segments.saveChunk(id, 0, 1, [seg(0, 'zombie'), seg(1, 'zombie'), seg(2, 'zombie')]),
          segments.saveChunk(id, 0, 2, k % 2 === 0 ? [] : [seg(0, 'owner')]),
        ]),
      ),
    );
    for (const [k, id] of ids.entries()) {
      const docs = await observed.collection('segments').find({ meetingId: id }).toArray();
      expect(docs.map((d) => d.text), id).toEqual(k % 2 === 0 ? [] : ['owner']);
    }
  });

  it('concurrent saves of one chunk never duplicate', async () => {
    const id = newId();
    const batch = Array.from({ length: 20 }, (_, i) => seg(i));
    await Promise.allSettled([segments.saveChunk(id, 3, 1, batch), segments.saveChunk(id, 3, 1, batch), segments.saveChunk(id, 3, 1, batch)]);
    expect(await segments.count(id)).toBe(20);
  });
});
