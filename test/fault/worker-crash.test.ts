/**
 * Scenario 1 (worker crash) and the zombie case, on real processes: a
 * kill -9 mid-job is recovered by stall detection on the other worker, which
 * resumes from the checkpoints; a SIGSTOPped worker that comes back late has
 * its writes refused.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { longformClip } from '../helpers/fixtures.js';
import { chunksSavedBy, registerMeeting, settledJob, startTranscription, storedSegments, waitForStatus } from '../helpers/meetings.js';
import type { ServiceProcess } from '../helpers/processes.js';
import { type Stack, startStack } from '../helpers/stack.js';

let stack: Stack;
const LOCK_MS = 2000;
const STALLED_MS = 1000;

beforeAll(async () => {
  stack = await startStack({ env: { LOCK_DURATION_MS: String(LOCK_MS), STALLED_INTERVAL_MS: String(STALLED_MS) } });
  await stack.startApi();
}, 60_000);
afterAll(async () => {
  await stack?.dispose();
});

/** Waits until one of the workers has saved `n` chunks of the meeting and returns it. */
async function workerAtChunk(workers: ServiceProcess[], meetingId: string, n: number): Promise<ServiceProcess> {
  return Promise.race(
    workers.map((w) =>
      w.waitForLog(() => chunksSavedBy(w.logs(), meetingId).length >= n, 120_000).then(() => w),
    ),
  );
}

describe('worker crash (kill -9)', () => {
  it('the other worker resumes after stall detection; the meeting completes with no duplicate and at most one batch redone', async () => {
    const a = await stack.startWorker('crash-a');
    const b = await stack.startWorker('crash-b');
    await registerMeeting(stack, 'p', 'crash', longformClip(150));
    await startTranscription(stack, 'p', 'crash');
    // ~30%: the plan of 150 s has about 8 chunks.
    const victim = await workerAtChunk([a, b], 'crash', 3);
    const survivor = victim === a ? b : a;
    const killedAt = Date.now();
    victim.signal('SIGKILL');
    await victim.exited;
    const resumed = await survivor.waitForLog((l) => l.msg === 'job started' && l.meetingId === 'crash', 30_000);
    const recoveryMs = Number(resumed.time) - killedAt;
    console.log(`worker crash: recovery ${recoveryMs} ms (bound ${LOCK_MS + STALLED_MS + 2000} ms)`);
    expect(recoveryMs).toBeLessThan(LOCK_MS + STALLED_MS + 2000);
    expect(Number(resumed.resumedChunks)).toBeGreaterThanOrEqual(3);

    const { final } = await waitForStatus(stack, 'p', 'crash', 'completed', 180_000);
    expect(final.progress).toBe(100);
    const { docs, duplicateKeys, duplicateSpans } = await storedSegments(stack, 'crash');
    expect(docs.length).toBeGreaterThan(0);
    expect(duplicateKeys).toEqual([]);
    expect(duplicateSpans).toEqual([]);
    const redone = chunksSavedBy(survivor.logs(), 'crash').filter((c) => chunksSavedBy(victim.logs(), 'crash').includes(c));
    expect(redone.length).toBeLessThanOrEqual(Number(stack.env.INFERENCE_BATCH_SIZE));
    const job = await settledJob(stack.regular, 'transcription-p.crash', 'completed');
    expect(job.stalledCounter).toBe(1);
    await stack.startWorker('crash-a2'); // keep two workers for the next test
  }, 300_000);
});

describe('zombie worker (SIGSTOP past its lock, then SIGCONT)', () => {
  it('its late writes are refused by the epoch fence; the transcript has one copy of each segment', async () => {
    const workers = stack.processes.filter((p) => p.running() && p.name !== 'api');
    await registerMeeting(stack, 'p', 'zombie', longformClip(150));
    await startTranscription(stack, 'p', 'zombie');
    const zombie = await workerAtChunk(workers, 'zombie', 2);
    zombie.signal('SIGSTOP');
    const owner = workers.find((w) => w !== zombie)!;
    // The owner takes the job once the zombie's lock has expired.
    const takenOver = await owner.waitForLog((l) => l.msg === 'job started' && l.meetingId === 'zombie', 30_000);
    const savedBeforeTakeover = zombie.logs().filter((l) => l.msg === 'chunk saved' && l.meetingId === 'zombie' && Number(l.time) < Number(takenOver.time)).map((l) => Number(l.chunk));
    zombie.signal('SIGCONT');
    // Woken up, the zombie stops: refused by the epoch fence, or cancelled because its lock is gone.
    const stop = await zombie.waitForLog(
      (l) => l.meetingId === 'zombie' && ['another worker took over this meeting; stopping without writing', 'job lock lost; stopped at a chunk boundary without failing the meeting'].includes(String(l.msg)),
      60_000,
    );
    expect(stop).toBeDefined();
    expect(chunksSavedBy(zombie.logs(), 'zombie')).toEqual(savedBeforeTakeover);
    await waitForStatus(stack, 'p', 'zombie', 'completed', 180_000);
    const { duplicateKeys, duplicateSpans } = await storedSegments(stack, 'zombie');
    expect(duplicateKeys).toEqual([]);
    expect(duplicateSpans).toEqual([]);
    const meeting = await stack.db.collection('meetings').findOne({ _id: 'p.zombie' as never });
    expect(meeting?.epoch).toBe(2);
    // Every stored segment was written by the owner, or by the zombie for a chunk it saved before it lost the job.
    const zombieChunks = await stack.db.collection('segments').distinct('chunk', { meetingId: 'p.zombie', epoch: 1 });
    expect(zombieChunks.every((c) => savedBeforeTakeover.includes(Number(c)))).toBe(true);
    expect(await stack.db.collection('segments').countDocuments({ meetingId: 'p.zombie', epoch: { $nin: [1, 2] } })).toBe(0);
  }, 300_000);
});
