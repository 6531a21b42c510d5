import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { BSON, type Collection, type Db, MongoClient } from 'mongodb';
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

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * `db` whose `meetings` collection makes its first read (`after-read`: once
 * the document is back) or its first update (`before-apply`) wait for
 * `until`: a writer that stalls at that point while others go on. `stalled`
 * resolves when the wait begins.
 */
function stalling(db: Db, at: 'after-read' | 'before-apply', until: Promise<unknown>): { db: Db; stalled: Promise<void> } {
  let armed = true;
  const began = deferred();
  const wait = async (): Promise<void> => {
    if (!armed) return;
    armed = false;
    began.resolve();
    await until;
  };
  const meetingsCollection = db.collection('meetings');
  const call = (name: 'findOne' | 'updateOne', args: unknown[]): Promise<unknown> =>
    (meetingsCollection[name] as (...a: unknown[]) => Promise<unknown>).apply(meetingsCollection, args);
  const stalled = new Proxy(meetingsCollection, {
    get(target, prop) {
      if (prop === 'findOne' && at === 'after-read') {
        return async (...args: unknown[]) => {
          const doc = await call('findOne', args);
          await wait();
          return doc;
        };
      }
      if (prop === 'updateOne' && at === 'before-apply') {
        return async (...args: unknown[]) => {
          await wait();
          return call('updateOne', args);
        };
      }
      const value: unknown = Reflect.get(target, prop, target);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  const proxied = new Proxy(db, {
    get(target, prop) {
      if (prop === 'collection') return (name: string) => (name === 'meetings' ? (stalled as Collection) : target.collection(name));
      const value: unknown = Reflect.get(target, prop, target);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  return { db: proxied, stalled: began.promise };
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

const changesOf = (meetingId: string) => observed.collection('meeting_changes').find({ meetingId }).toArray();

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

  it('lists live meetings with a recorded request, page by page in id order', async () => {
    const id = newId();
    await meetings.create({ id, projectId: 'p1', audio });
    const listAll = async (pageSize: number): Promise<string[]> => {
      const ids: string[] = [];
      for await (const page of meetings.requestedLivePages(pageSize)) {
        expect(page.length).toBeLessThanOrEqual(pageSize);
        ids.push(...page.map((m) => m._id));
      }
      return ids;
    };
    expect(await listAll(500)).not.toContain(id);
    await meetings.recordTranscriptionRequest(id, 'regular', `transcription-${id}`);
    const completed = newId();
    await meetings.create({ id: completed, projectId: 'p1', audio });
    await meetings.recordTranscriptionRequest(completed, 'regular', `transcription-${completed}`);
    await meetings.complete(completed, (await meetings.claim(completed))!.epoch);
    const all = await listAll(500);
    expect(all).toContain(id);
    expect(all).not.toContain(completed);
    expect(await listAll(1)).toEqual(all);
    expect(all).toEqual([...all].sort());
    for await (const [first] of meetings.requestedLivePages(1)) {
      expect(Object.keys(first).sort()).toEqual(['_id', 'transcriptionRequestedAt']);
      break;
    }
  });
});

describe('MeetingRepository change log (issue 10, item 4)', () => {
  it('leaves no change entry once a meeting has completed', async () => {
    const id = newId();
    await meetings.create({ id, projectId: 'p1', audio });
    await meetings.recordTranscriptionRequest(id, 'regular', `transcription-${id}`);
    const { epoch } = (await meetings.claim(id))!;
    await meetings.recordPlan(id, epoch, { planner: 'fixed', durationSec: 600, chunks: Array.from({ length: 20 }, (_, i) => ({ index: i, start: i * 30, end: i * 30 + 30 })) });
    for (let chunk = 0; chunk < 20; chunk++) await meetings.checkpointChunk(id, epoch, chunk, (chunk + 1) * 5, 'en');
    await meetings.complete(id, epoch);
    const doc = await observed.collection('meetings').findOne({ _id: id as never });
    expect(doc).toMatchObject({ transcriptionStatus: 'completed', transcriptionProgress: 100, version: 24, language: 'en' });
    expect(doc?.doneChunks).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(await changesOf(id)).toEqual([]);
  });

  it('concurrent writers on separate connections lose no update while entries are deleted (real FerretDB)', async () => {
    const clients = await Promise.all([0, 1, 2].map(() => MongoClient.connect(ns.mongoUrl)));
    try {
      const writers = clients.map((c) => new MeetingRepository(c.db(ns.dbName)));
      const ids = [newId(), newId()];
      await Promise.all(
        ids.map(async (id) => {
          await meetings.create({ id, projectId: 'p1', audio });
          const { epoch } = (await writers[0].claim(id))!;
          const plan = { planner: 'fixed' as const, durationSec: 360, chunks: Array.from({ length: 12 }, (_, i) => ({ index: i, start: i * 30, end: i * 30 + 30 })) };
          await Promise.all([
            ...Array.from({ length: 12 }, (_, chunk) => writers[chunk % 3].checkpointChunk(id, epoch, chunk, (chunk + 1) * 5)),
            writers[1].recordPlan(id, epoch, plan),
            writers[2].recordTranscriptionRequest(id, 'regular', `transcription-${id}`),
          ]);
        }),
      );
      for (const id of ids) {
        const doc = await observed.collection('meetings').findOne({ _id: id as never });
        expect([...(doc?.doneChunks ?? [])].sort((a, b) => a - b), id).toEqual(Array.from({ length: 12 }, (_, i) => i));
        expect(doc?.transcriptionProgress, id).toBe(60);
        expect(doc?.plan?.chunks, id).toHaveLength(12);
        expect(doc?.transcriptionRequestedAt, id).toBeInstanceOf(Date);
        // claim + 12 checkpoints + plan + request: each applied exactly once.
        expect(doc?.version, id).toBe(15);
        expect(await changesOf(id), id).toEqual([]);
      }
    } finally {
      await Promise.all(clients.map((c) => c.close()));
    }
  });

  it('a writer that read before a change was applied and its entry deleted claims that version again and retries, never reporting the stale change', async () => {
    const id = newId();
    await meetings.create({ id, projectId: 'p1', audio });
    const other = deferred();
    const staleDb = stalling(mongo.db, 'after-read', other.promise);
    const staleClaim = new MeetingRepository(staleDb.db).claim(id);
    await staleDb.stalled; // it has read version 0
    const first = await new MeetingRepository(mongo.db).claim(id);
    expect(first?.epoch).toBe(1);
    expect(await changesOf(id)).toEqual([]); // version 1's entry is gone: the stale writer's claim of it will succeed
    other.resolve();
    const second = await staleClaim;
    expect(second?.epoch).toBe(2);
    expect(await observed.collection('meetings').findOne({ _id: id as never })).toMatchObject({ epoch: 2, version: 2 });
    expect(await changesOf(id)).toEqual([]);
  });

  it('a writer whose claim another writer rolled forward reports success, and the other decides on the result', async () => {
    const id = newId();
    await meetings.create({ id, projectId: 'p1', audio });
    const helper = new MeetingRepository(mongo.db);
    const { epoch } = (await helper.claim(id))!;
    const failer = deferred();
    const completerDb = stalling(mongo.db, 'before-apply', failer.promise);
    const completing = new MeetingRepository(completerDb.db).complete(id, epoch);
    await completerDb.stalled; // version 2 is claimed, not applied
    const failing = helper.fail(id, { errorMessage: 'boom', attempts: 1, lastAttempt: new Date() }, epoch).finally(failer.resolve);
    // The failer waits for the stalled claim, applies it (roll-forward), then finds the meeting completed.
    await expect(failing).rejects.toBeInstanceOf(ConflictError);
    await expect(completing).resolves.toMatchObject({ transcriptionStatus: 'completed', version: 2 });
    const doc = await observed.collection('meetings').findOne({ _id: id as never });
    expect(doc).toMatchObject({ transcriptionStatus: 'completed', version: 2 });
    expect(doc?.rolledForward).toHaveLength(1);
    expect(await changesOf(id)).toEqual([]);
  });

  it('a writer killed between claim and apply is rolled forward by the next writer; its entry holds only the delta', async () => {
    const id = newId();
    await meetings.create({ id, projectId: 'p1', audio });
    const { epoch } = (await meetings.claim(id))!;
    for (let chunk = 0; chunk < 30; chunk++) await meetings.checkpointChunk(id, epoch, chunk, chunk + 1);
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/helpers/claim-and-die.ts', ns.mongoUrl, ns.dbName, id, String(epoch), '30', '40'], {
      cwd: ROOT,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const [, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
    expect(signal, stderr).toBe('SIGKILL');

    const stranded = await changesOf(id);
    expect(stranded).toHaveLength(1);
    expect(stranded[0]).toMatchObject({ version: 32, action: 'checkpoint', addToSet: { doneChunks: 30 }, max: { transcriptionProgress: 40 } });
    expect(BSON.calculateObjectSize(stranded[0])).toBeLessThan(400);
    const before = await observed.collection('meetings').findOne({ _id: id as never });
    expect(before).toMatchObject({ version: 31, transcriptionProgress: 30 });
    expect(before?.doneChunks).not.toContain(30);

    const next = new MeetingRepository(mongo.db);
    await next.complete(id, epoch);
    const doc = await observed.collection('meetings').findOne({ _id: id as never });
    expect(doc).toMatchObject({ transcriptionStatus: 'completed', transcriptionProgress: 100, version: 33 });
    expect(doc?.doneChunks).toContain(30);
    expect(await changesOf(id)).toEqual([]);
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
